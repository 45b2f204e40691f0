"""The official Feishu Python SDK (lark-oapi), unmodified, as the RECEIVER of Switchboard's
events over webhooks.

Usage: lark_events_check.py BASE_URL ADMIN_TOKEN

Runs an HTTP receiver on a free 127.0.0.1 port whose handlers are lark-oapi's own
`EventDispatcherHandler`s (one app in plaintext, one with an encrypt key), fed the raw
request (headers exactly as they came over the wire, so their casing counts). Subscribes
both apps through the admin API (Switchboard verifies each URL with the challenge, which
the SDK answers), then makes things happen through the admin API and waits for the SDK to
dispatch each event; a bot then reads the message the event names with the SDK's client,
as a real bot does. Exits non-zero on the first failed expectation.
"""

import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import lark_oapi as lark
from lark_oapi.api.im.v1 import GetMessageRequest

BASE, ADMIN_TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
checks = 0


def check(cond, what, detail=""):
    global checks
    checks += 1
    if not cond:
        print(f"FAIL: {what} {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def admin(method, path, body=None, expect_error=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + "/admin/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + ADMIN_TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            out = json.loads(r.read())
            if expect_error:
                check(False, f"{method} {path} should have failed", json.dumps(out))
            return out
    except urllib.error.HTTPError as e:
        body = json.loads(e.read() or b"{}")
        if not expect_error:
            check(False, f"{method} {path}", f"HTTP {e.code} {body}")
        return {"status": e.code, **body}


# --- the receiver: lark-oapi's dispatchers behind a plain HTTP server ------------------------

events = {"plain": queue.Queue(), "enc": queue.Queue(), "hi": queue.Queue()}


def record(app, kind):
    def handler(data):
        events[app].put((kind, data))
    return handler


def dispatcher(app, encrypt_key, token):
    b = lark.EventDispatcherHandler.builder(encrypt_key, token, lark.LogLevel.WARNING)
    return (b.register_p2_im_message_receive_v1(record(app, "receive"))
            .register_p2_im_message_recalled_v1(record(app, "recalled"))
            .register_p2_im_chat_member_bot_added_v1(record(app, "bot_added"))
            .register_p2_im_chat_member_user_added_v1(record(app, "user_added"))
            .register_p2_im_chat_disbanded_v1(record(app, "disbanded"))
            .build())


handlers = {
    "/plain": dispatcher("plain", "", "vt-plain"),
    "/enc": dispatcher("enc", "ek-0123456789", "vt-enc"),
    # BOSS Hi: its own event type name, received as a customised event.
    "/hi": lark.EventDispatcherHandler.builder("hi-key", "vt-hi", lark.LogLevel.WARNING)
    .register_p2_customized_event("im.message.receive", record("hi", "receive"))
    .build(),
}
seen_headers = []


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/broken":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"challenge":"not it"}')
            return
        req = lark.RawRequest()
        req.uri = self.path
        # Exactly as received: lark-oapi looks X-Lark-* up case-sensitively.
        req.headers = {k: v for k, v in self.headers.items()}
        req.body = body
        seen_headers.append(list(req.headers.keys()))
        resp = handlers[self.path].do(req)
        self.send_response(resp.status_code)
        for k, v in (resp.headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(resp.content or b"")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
HOOK = f"http://127.0.0.1:{server.server_address[1]}"


def next_event(app, kind, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            got_kind, data = events[app].get(timeout=max(0.01, deadline - time.time()))
        except queue.Empty:
            break
        check(got_kind == kind, f"{app}: the next event is {kind}", f"got {got_kind}")
        return data
    check(False, f"{app}: {kind} arrived within {timeout}s")


# --- provisioning ----------------------------------------------------------------------------

t = admin("POST", "/tenants", {"name": "lark-oapi events"})["id"]
alice = admin("POST", f"/tenants/{t}/users", {"name": "Alice", "user_id": "alice"})
carol = admin("POST", f"/tenants/{t}/users", {"name": "Carol", "user_id": "carol"})
plain_bot = admin("POST", f"/tenants/{t}/apps", {"name": "Plain bot"})
enc_bot = admin("POST", f"/tenants/{t}/apps", {"name": "Encrypted bot"})
hi_bot = admin("POST", f"/tenants/{t}/apps", {"name": "Hi bot"})

all_types = ["im.message.receive_v1", "im.message.recalled_v1", "im.chat.member.bot.added_v1",
             "im.chat.member.user.added_v1", "im.chat.disbanded_v1"]
sub = admin("PUT", f"/tenants/{t}/apps/{plain_bot['id']}/events/feishu", {
    "mode": "webhook", "url": HOOK + "/plain", "verification_token": "vt-plain",
    "event_types": all_types})
check(sub["url"] == HOOK + "/plain" and sub["mode"] == "webhook", "plain subscription saved", json.dumps(sub))
admin("PUT", f"/tenants/{t}/apps/{enc_bot['id']}/events/feishu", {
    "mode": "webhook", "url": HOOK + "/enc", "encrypt_key": "ek-0123456789",
    "verification_token": "vt-enc", "event_types": ["im.message.receive_v1", "im.chat.member.bot.added_v1"]})
check(True, "encrypted subscription saved (the SDK decrypted and answered the challenge)")
admin("PUT", f"/tenants/{t}/apps/{hi_bot['id']}/events/hi", {
    "mode": "webhook", "url": HOOK + "/hi", "encrypt_key": "hi-key", "verification_token": "vt-hi",
    "event_types": ["im.message.receive"]})
check(True, "Hi subscription saved")
bad = admin("PUT", f"/tenants/{t}/apps/{enc_bot['id']}/events/hi", {
    "mode": "webhook", "url": HOOK + "/broken", "event_types": ["im.message.receive"]}, expect_error=True)
check(bad["status"] == 400 and bad["code"] == "challenge_failed", "a URL that does not echo is refused", json.dumps(bad))
listed = admin("GET", f"/tenants/{t}/apps/{enc_bot['id']}/events")["items"]
check([s["dialect"] for s in listed] == ["feishu"], "the refused subscription was not saved", json.dumps(listed))

group = admin("POST", f"/tenants/{t}/chats", {
    "type": "group", "name": "Events room", "owner": {"type": "user", "id": alice["id"]},
    "members": [{"type": "app", "id": plain_bot["id"]}, {"type": "app", "id": enc_bot["id"]}]})
lark_chat = group["dialect_ids"]["lark"]
for app in ("plain", "enc"):
    data = next_event(app, "bot_added")
    check(data.event.chat_id == lark_chat, f"{app}: bot added to the group", data.event.chat_id)
    check(data.header.event_type == "im.chat.member.bot.added_v1", f"{app}: header event_type")

# --- a message that mentions the plain bot: it hears it, the other bot does not ------------

sent = admin("POST", f"/tenants/{t}/chats/{group['id']}/messages", {
    "sender": {"type": "user", "id": alice["id"]}, "type": "text",
    "content": {"text": "@_user_1 hello"},
    "mentions": [{"key": "@_user_1", "type": "app", "id": plain_bot["id"], "name": "Plain bot"}]})
data = next_event("plain", "receive")
msg = data.event.message
check(msg.message_id == sent["dialect_ids"]["lark"], "the event names the message", msg.message_id)
check(msg.chat_id == lark_chat and msg.chat_type == "group", "chat id and type")
check(json.loads(msg.content) == {"text": "@_user_1 hello"}, "content is the text", msg.content)
check(data.event.sender.sender_type == "user", "sent by a user")
check(data.event.sender.sender_id.union_id == alice["dialect_ids"]["lark"]["union_id"], "sender's union_id")
check(data.header.token == "vt-plain" and data.header.app_id == plain_bot["app_id"], "header token and app_id")
check(len(data.header.event_id) == 32, "32-hex event id", data.header.event_id)
check(all("X-Lark-Signature" in h for h in seen_headers), "X-Lark-* headers in their exact casing", str(seen_headers[-1]))

# The bot does what a bot does next: reads the message by id.
client = lark.Client.builder().app_id(plain_bot["app_id"]).app_secret(plain_bot["app_secret"]) \
    .domain(BASE).log_level(lark.LogLevel.WARNING).build()
resp = client.im.v1.message.get(GetMessageRequest.builder().message_id(msg.message_id).build())
check(resp.success() and json.loads(resp.data.items[0].body.content) == {"text": "@_user_1 hello"},
      "the bot reads the event's message with the SDK", f"code={resp.code}")

# --- p2p to the encrypted bot ----------------------------------------------------------------

p2p = admin("POST", f"/tenants/{t}/chats", {
    "type": "p2p", "owner": {"type": "user", "id": alice["id"]},
    "members": [{"type": "app", "id": enc_bot["id"]}]})
dm = admin("POST", f"/tenants/{t}/chats/{p2p['id']}/messages", {
    "sender": {"type": "user", "id": alice["id"]}, "type": "text", "content": {"text": "just us"}})
data = next_event("enc", "receive")
check(data.event.message.message_id == dm["dialect_ids"]["lark"] and data.event.message.chat_type == "p2p",
      "the encrypted bot hears its p2p message")

# --- Hi: its own event type, its own message shape ------------------------------------------

hi_p2p = admin("POST", f"/tenants/{t}/chats", {
    "type": "p2p", "owner": {"type": "user", "id": alice["id"]},
    "members": [{"type": "app", "id": hi_bot["id"]}]})
hi_dm = admin("POST", f"/tenants/{t}/chats/{hi_p2p['id']}/messages", {
    "sender": {"type": "user", "id": alice["id"]}, "type": "text", "content": {"text": "hi there"}})
data = next_event("hi", "receive")
check(data.header.event_type == "im.message.receive", "Hi's event type has no _v1", data.header.event_type)
check(data.event["message"]["message_id"] == hi_dm["dialect_ids"]["lark"], "Hi's event names the message",
      json.dumps(data.event))
check(json.loads(data.event["message"]["content"]) == {"text": "hi there"}, "Hi's content")

# --- recall, a user joining, dissolving ------------------------------------------------------

admin("DELETE", f"/tenants/{t}/chats/{group['id']}/messages/{sent['id']}")
data = next_event("plain", "recalled")
check(data.event.message_id == msg.message_id, "the recall names the message")
admin("POST", f"/tenants/{t}/chats/{group['id']}/members", {"members": [{"type": "user", "id": carol["id"]}]})
data = next_event("plain", "user_added")
check([u.user_id.union_id for u in data.event.users] == [carol["dialect_ids"]["lark"]["union_id"]],
      "the user who joined")
admin("DELETE", f"/tenants/{t}/chats/{group['id']}")
data = next_event("plain", "disbanded")
check(data.event.chat_id == lark_chat, "the disbanded chat")

# --- the delivery log ------------------------------------------------------------------------

time.sleep(0.3)
log = admin("GET", f"/tenants/{t}/apps/{plain_bot['id']}/deliveries?limit=50")["items"]
check(len(log) == 5, "five deliveries to the plain bot", json.dumps(log)[:400])
check(all(d["status"] == "delivered" and d["attempts"][0]["status"] == 200 for d in log),
      "each delivered at the first attempt")
check(log[0]["event_type"] == "im.chat.disbanded_v1", "newest first")
for app in ("plain", "enc", "hi"):
    check(events[app].empty(), f"{app}: no event it should not have heard")

server.shutdown()
print(f"lark-oapi events: {checks} passed, 0 failed")
