"""Runs the `wps365` Python package (from PyPI, unmodified) against a live Switchboard.

Usage: wps365_check.py BASE_URL ADMIN_TOKEN

The package has its hosts built in (`https://openapi.wps.cn`, no base-URL setting), so this
script puts a small relay in front of the server: an HTTP CONNECT proxy on a local port
(the package's HTTP client honours HTTPS_PROXY) that terminates TLS for openapi.wps.cn with
a certificate from a throwaway local CA (trusted through SSL_CERT_FILE) and pipes the
decrypted HTTP/1.1 bytes to BASE_URL. Nothing of the package is patched.

It provisions a tenant through the admin API, issues a `wps_sid` for a user
(`POST /admin/v1/tenants/{t}/users/{u}/wps_sid`) and then drives the package's calls as
that user: the token exchange (`/v7/dev/agent/token`), send (batch_create, in the
package's own body shape and in the documented one), get, list, reply (no `type`),
recall, the chat list, chat get/create/update/delete, the p2p chat, and members
(list/add/remove with `account_id_list`). A forged sid must be refused. Exits non-zero on
the first failure.
"""

import json
import os
import select
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request

HOSTS = ["openapi.wps.cn", "api.wps.cn"]


def admin(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + "/admin/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=10) as r:
        return json.loads(r.read())


def make_certs(d):
    """A CA and a leaf for HOSTS signed by it; returns (ca, leaf cert, leaf key) paths."""
    ca_key, ca = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    key, csr, cert = (os.path.join(d, n) for n in ("leaf.key", "leaf.csr", "leaf.pem"))
    ext = os.path.join(d, "leaf.ext")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key,
        "-out", ca, "-days", "2", "-subj", "/CN=switchboard wps365 check CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=" + HOSTS[0])
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=" +
                ",".join("DNS:" + h for h in HOSTS) + "\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
        "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


def pipe(a, b):
    """Copies bytes both ways until either side closes."""
    socks = [a, b]
    try:
        while True:
            readable, _, _ = select.select(socks, [], [], 30)
            if not readable:
                return
            for s in readable:
                other = b if s is a else a
                try:
                    data = s.recv(65536)
                    # TLS may hold decrypted bytes that select() cannot see.
                    while isinstance(s, ssl.SSLSocket) and s.pending():
                        data += s.recv(s.pending())
                except ssl.SSLWantReadError:
                    continue
                if not data:
                    return
                other.sendall(data)
    except OSError:
        return
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class Relay:
    """CONNECT proxy: TLS for HOSTS ends here, the plain bytes go to the server."""

    def __init__(self, upstream, cert, key):
        u = urllib.parse.urlsplit(upstream)
        self.upstream = (u.hostname, u.port or 80)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        # HTTP/1.1 only: the bytes are piped to the server as they come.
        self.ctx.set_alpn_protocols(["http/1.1"])
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.tunnels = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        line = head.split(b"\r\n", 1)[0].decode()
        method, target = line.split(" ")[:2]
        host = target.rsplit(":", 1)[0]
        if method != "CONNECT" or host not in HOSTS:
            conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            conn.close()
            return
        self.tunnels.append(host)
        conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print("relay: TLS handshake failed:", e, file=sys.stderr)
            conn.close()
            return
        up = socket.create_connection(self.upstream)
        pipe(tls, up)


CHECKS = []


def check(name, fn):
    try:
        out = fn()
    except Exception as e:  # the package raises Wps365Error with the server's message
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        sys.exit(1)
    CHECKS.append(name)
    print(f"ok   {name}")
    return out


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


def main():
    base, admin_token = sys.argv[1].rstrip("/"), sys.argv[2]
    work = tempfile.mkdtemp(prefix="wps365-check-")
    ca, cert, key = make_certs(work)
    relay = Relay(base, cert, key)
    # The package reads these when it builds its HTTP client; its config file goes to a
    # throwaway directory.
    os.environ["HTTPS_PROXY"] = f"http://127.0.0.1:{relay.port}"
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    os.environ["SSL_CERT_FILE"] = ca
    os.environ["XDG_CONFIG_HOME"] = os.path.join(work, "config")
    os.environ["HOME"] = work
    for k in ("WPS_SID", "wps_sid", "COOKIE"):
        os.environ.pop(k, None)

    a = lambda m, p, b=None: admin(base, admin_token, m, p, b)
    t = a("POST", "/tenants", {"name": "wps365 check"})["id"]
    for uid, name in (("alice", "Alice"), ("bob", "Bob"), ("carol", "Carol")):
        a("POST", f"/tenants/{t}/users", {"name": name, "user_id": uid})
    alice = a("GET", f"/tenants/{t}/users/alice")["id"]
    bob = a("GET", f"/tenants/{t}/users/bob")["id"]
    group = a("POST", f"/tenants/{t}/chats", {
        "type": "group", "name": "General", "owner": {"type": "user", "id": alice},
        "members": [{"type": "user", "id": bob}],
    })["dialect_ids"]["wps"]
    other = a("POST", f"/tenants/{t}/chats", {
        "type": "group", "name": "Not bob's", "owner": {"type": "user", "id": alice},
        "members": [],
    })["dialect_ids"]["wps"]
    sid = a("POST", f"/tenants/{t}/users/bob/wps_sid", {"ttl_secs": 3600})["wps_sid"]

    # The package reads the sid from WPS_SID (its `Client(sid=…)` argument does not reach
    # its HTTP client) and caches one token per process: the forged sid is tried in a
    # process of its own, through the same relay.
    forged = sid[:-1] + ("0" if sid[-1] != "0" else "1")

    def refused():
        env = dict(os.environ, WPS_SID=forged)
        r = subprocess.run([sys.executable, __file__, "--forged"], env=env,
                           capture_output=True, text=True, timeout=60)
        expect(r.returncode == 0, r.stdout + r.stderr)

    check("forged wps_sid refused (/v7/dev/agent/token)", refused)

    os.environ["WPS_SID"] = sid
    import wps365

    c = check("client with wps_sid", lambda: wps365.Client())

    def send_text():
        d = c.im_send_text(["alice"], "hello from wps365")
        expect(d["message_id"] and d["invalid_receivers"] == [], d)
        return d

    check("im_send_text (batch_create, the package's shape)", send_text)

    def send_documented():
        d = c.im_send({
            "type": "text",
            "receivers": [{"type": "chat", "receiver_ids": [group, other]},
                          {"type": "user", "receiver_ids": ["nobody"]}],
            "content": {"text": {"content": "hi group", "type": "plain"}},
        })
        expect(d["invalid_receivers"] == [
            {"type": "chat", "receiver_ids": [other]},
            {"type": "user", "receiver_ids": ["nobody"]},
        ], d)
        return d["message_id"]

    mid = check("im_send (batch_create, partial failure)", send_documented)

    def get():
        m = c.im_message_get(group, mid)
        expect(m["content"]["text"]["content"] == "hi group", m)
        expect(m["sender"]["type"] == "user" and m["sender"]["id"] == "bob", m)

    check("im_message_get", get)

    def history():
        d = c.im_message_list(group, 50)
        expect([i["id"] for i in d["items"]] == [mid], d)

    check("im_message_list", history)

    def reply():
        d = c.im_reply(group, mid, "a reply")
        expect(d["type"] == "text" and d["message_id"], d)
        return d["message_id"]

    rid = check("im_reply (no type)", reply)

    def recall():
        c.im_recall(rid)
        items = c.im_message_list(group, 50)["items"]
        expect(items[-1]["id"] == rid and items[-1].get("recalled") is True, items)

    check("im_recall", recall)

    def chat_list():
        d = c.im_chat_list(50)
        ids = [i["id"] for i in d["items"]]
        expect(group in ids and other not in ids, d)
        expect(d["next_page_token"] == "", d)

    check("im_chat_list (bob's chats only)", chat_list)
    check("im_chat_get", lambda: expect(c.im_chat_get(group)["name"] == "General", "name"))

    def p2p():
        d = c.im_p2p_chat("alice")
        expect(d["type"] == "p2p", d)

    check("im_p2p_chat", p2p)

    def denied():
        try:
            c.im_chat_get(other)
        except wps365.Wps365Error as e:
            expect("403002" in str(e) or "not a member" in str(e), str(e))
            return
        raise AssertionError("bob read a chat he is not in")

    check("a chat bob is not in is refused", denied)

    room = check("im_chat_create", lambda: c.im_chat_create(
        {"type": "group", "name": "wps365 room", "members": [{"type": "user", "id": "alice"}]})["id"])

    def members():
        c.im_member_add(room, ["carol"])
        ids = sorted(m["id"] for m in c.im_member_list(room, 50)["items"])
        expect(ids == ["alice", "bob", "carol"], ids)
        c.im_member_remove(room, ["carol"])
        ids = sorted(m["id"] for m in c.im_member_list(room, 50)["items"])
        expect(ids == ["alice", "bob"], ids)

    check("im_member_add / im_member_list / im_member_remove (account_id_list)", members)

    def update():
        c.im_chat_update(room, {"name": "renamed"})
        expect(c.im_chat_get(room)["name"] == "renamed", "renamed")

    check("im_chat_update", update)

    def delete():
        c.im_chat_delete(room)
        expect(c.im_chat_get(room)["status"] == "dismissed", "dismissed")

    check("im_chat_delete", delete)
    expect(relay.tunnels and set(relay.tunnels) <= {"openapi.wps.cn"}, relay.tunnels)
    print(f"wps365-check: {len(CHECKS)} checks passed through {len(relay.tunnels)} tunnels")


def forged_only():
    """In its own process: a client whose WPS_SID is forged must fail its first call."""
    import wps365

    try:
        wps365.Client().im_chat_list(50)
    except wps365.Wps365Error as e:
        # "token 响应缺少 access_token": the server answered, without a token (a connection
        # failure would read "换取 access_token 失败").
        if "\u7f3a\u5c11 access_token" not in str(e):
            print("unexpected error:", e)
            sys.exit(1)
        return
    print("a forged wps_sid was accepted")
    sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1:] == ["--forged"]:
        forged_only()
    else:
        main()
