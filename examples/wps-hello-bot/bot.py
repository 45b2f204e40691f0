"""A minimal WPS 365 webhook bot: it receives WPS event callbacks over HTTP and answers
each text message in its chat with "hi! you said: <text>" through POST
/v7/messages/create. Written against the WPS v7 wire only (the standard library, plus
`cryptography` for AES: WPS encrypts every event); nothing in it knows Switchboard. Pointed
at Switchboard by its base URL it runs unchanged; pointed at https://openapi.wps.cn it is
a WPS bot.

Usage: WPS_APP_ID=cli_… WPS_APP_SECRET=… WPS_BASE_URL=http://127.0.0.1:8080 PORT=9000 python3 bot.py
then subscribe the app's webhook to http://127.0.0.1:9000/wps-events (any path is served).

Switchboard's CI example (docs/ci.md) starts it against `switchboard serve --ephemeral
--world config/worlds/wps.toml` and checks its answers with `switchboard dialog run`.
"""

import base64
import email.utils
import hashlib
import hmac
import json
import os
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

APP_ID = os.environ["WPS_APP_ID"]
APP_SECRET = os.environ["WPS_APP_SECRET"]
BASE = os.environ.get("WPS_BASE_URL", "https://openapi.wps.cn").rstrip("/")
PORT = int(os.environ.get("PORT", "9000"))

# An envelope older (or newer) than this is refused: a replay of a captured callback.
MAX_SKEW_SECS = 300
AT_TAG = re.compile(r'<at id="[^"]*">.*?</at>')


def log(*args):
    print("bot:", *args, file=sys.stderr, flush=True)


# ---- Receiving: verify, then decrypt (docs: "The envelope", "Crypto") ----

def open_event(env):
    """Verifies and decrypts one event envelope; raises ValueError when it is not ours."""
    for key in ("topic", "operation", "time", "nonce", "signature", "encrypted_data"):
        if key not in env:
            raise ValueError(f"no {key}")
    content = f'{APP_ID}:{env["topic"]}:{env["nonce"]}:{env["time"]}:{env["encrypted_data"]}'
    mac = hmac.new(APP_SECRET.encode(), content.encode(), hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    if not hmac.compare_digest(expected, str(env["signature"])):
        raise ValueError("bad signature")
    if not isinstance(env["time"], int) or abs(time.time() - env["time"]) > MAX_SKEW_SECS:
        raise ValueError("stale or malformed time")
    # The AES-256 key is the 32 ASCII characters of the secret's hex MD5; the IV the nonce.
    key = hashlib.md5(APP_SECRET.encode()).hexdigest().encode()
    iv = env["nonce"].encode()
    if len(iv) != 16:
        raise ValueError("nonce is not 16 bytes")
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = dec.update(base64.b64decode(env["encrypted_data"])) + dec.finalize()
    unpad = padding.PKCS7(128).unpadder()
    return json.loads(unpad.update(padded) + unpad.finalize())


# ---- Calling the API: a client_credentials token and KSO-1 ----

_token = {"value": None, "expires": 0.0}
_token_lock = threading.Lock()


def access_token():
    with _token_lock:
        if _token["value"] and time.time() < _token["expires"] - 60:
            return _token["value"]
        form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_id": APP_ID,
                                       "client_secret": APP_SECRET}).encode()
        req = urllib.request.Request(f"{BASE}/oauth2/token", data=form, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            got = json.load(resp)
        _token["value"] = got["access_token"]
        _token["expires"] = time.time() + int(got.get("expires_in", 7200))
        return _token["value"]


def kso1(method, request_uri, content_type, date, body):
    """The KSO-1 signature: HMAC-SHA256 (keyed with the secret) of
    "KSO-1" + method + request-URI + Content-Type + X-Kso-Date + sha256hex(body),
    where an empty body contributes the empty string."""
    body_hash = hashlib.sha256(body).hexdigest() if body else ""
    text = "KSO-1" + method + request_uri + content_type + date + body_hash
    return hmac.new(APP_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()


def call(method, request_uri, payload):
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    content_type = "application/json"
    date = email.utils.formatdate(usegmt=True)
    req = urllib.request.Request(BASE + request_uri, data=body, method=method, headers={
        "Content-Type": content_type,
        "Authorization": f"Bearer {access_token()}",
        "X-Kso-Date": date,
        "X-Kso-Authorization": f"KSO-1 {APP_ID}:{kso1(method, request_uri, content_type, date, body)}",
    })
    with urllib.request.urlopen(req, timeout=10) as resp:
        got = json.load(resp)
    if got.get("code") != 0:
        raise RuntimeError(f"{request_uri}: {got}")
    return got.get("data")


# ---- The bot ----

_seen = set()  # event ids already handled: a retried event arrives with a new nonce
_seen_lock = threading.Lock()


def handle(topic, operation, data):
    with _seen_lock:
        if data.get("event_id") in _seen:
            return
        _seen.add(data.get("event_id"))
    if topic != "kso.app_chat.message" or operation != "create":
        return
    message = data["message"]
    if message.get("type") != "text" or data.get("sender", {}).get("type") != "user":
        return
    text = message.get("content", {}).get("text", {}).get("content", "")
    # A group @-mention reads <at id="1">Bot</at> in the text: answer with what was said.
    said = " ".join(AT_TAG.sub(" ", text).split())
    try:
        call("POST", "/v7/messages/create", {
            "type": "text",
            "receiver": {"type": "chat", "receiver_id": data["chat"]["id"]},
            "content": {"text": {"content": f"hi! you said: {said}"}},
        })
        log("answered in chat", data["chat"]["id"])
    except Exception as err:  # noqa: BLE001 - a bot keeps serving
        log("send failed:", err)


class Events(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            env = json.loads(raw)
            if not isinstance(env, dict):
                raise ValueError("not an object")
        except ValueError:
            return self.answer(400, {"msg": "bad json"})
        if "challenge" in env and "encrypted_data" not in env:
            # URL verification: plaintext, unsigned; echo the challenge.
            return self.answer(200, {"challenge": env["challenge"]})
        try:
            data = open_event(env)
        except (ValueError, KeyError, TypeError) as err:
            log("refused an event:", err)
            return self.answer(401, {"msg": "rejected"})
        # Acknowledge first; answer the message off the request's deadline.
        threading.Thread(target=handle, args=(env["topic"], env["operation"], data),
                         daemon=True).start()
        return self.answer(200, {"msg": "success"})

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Events)
    log(f"listening on 127.0.0.1:{PORT}")
    server.serve_forever()
