"""A minimal NetEase Yunxin bot on message copy (消息抄送): an HTTP server receiving Yunxin's
copy callbacks, which answers each team text message with "hi! you said: <text>" through
the IM server API v2 send call. Standard library only; nothing in it knows Switchboard.
Pointed at Switchboard by its base URL it runs unchanged; pointed at
https://open.yunxinapi.com (with the copy URL set in Yunxin's console) it is a Yunxin bot.

Usage: YUNXIN_APP_KEY=… YUNXIN_APP_SECRET=… YUNXIN_BASE_URL=http://127.0.0.1:8080 PORT=9000 python3 bot.py
then point the app's message copy at http://127.0.0.1:9000/receiveMsg.action (any path).

The bot sends as its AppKey's own account (Switchboard names an app by its app_id where no
user has that account id; on Yunxin, create an account with the AppKey's name or set
YUNXIN_BOT_ACCOUNT). The copy holds every message of the app, the bot's own answers
included: those are skipped, or the bot would answer itself forever.

Switchboard's CI example (docs/ci.md) starts it against `switchboard serve --ephemeral
--world config/worlds/yunxin.toml` and checks its answers with `switchboard dialog run`.
"""

import hashlib
import hmac
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APP_KEY = os.environ["YUNXIN_APP_KEY"]
APP_SECRET = os.environ["YUNXIN_APP_SECRET"]
BASE = os.environ.get("YUNXIN_BASE_URL", "https://open.yunxinapi.com").rstrip("/")
PORT = int(os.environ.get("PORT", "9000"))
BOT_ACCOUNT = os.environ.get("YUNXIN_BOT_ACCOUNT", APP_KEY)

# Conversation types of the v2 conversation id (owner|type|other) for team copies.
TEAM_TYPES = {"TEAM": "2", "SUPER_TEAM": "3"}


def log(*args):
    print("bot:", *args, file=sys.stderr, flush=True)


def checksum(*parts):
    return hashlib.sha1("".join(parts).encode()).hexdigest()


# ---- Receiving: MD5 of the raw body, CheckSum = SHA1(AppSecret + MD5 + CurTime) ----

def verified(headers, raw):
    md5 = hashlib.md5(raw).hexdigest()
    want = checksum(APP_SECRET, md5, headers.get("CurTime", ""))
    return (hmac.compare_digest(md5, headers.get("MD5", "").lower())
            and hmac.compare_digest(want, headers.get("CheckSum", "").lower()))


# ---- Calling the API: AppKey, Nonce, CurTime (seconds), CheckSum ----

def call(method, path, payload):
    body = json.dumps(payload, ensure_ascii=False).encode()
    nonce = uuid.uuid4().hex
    cur_time = str(int(time.time()))
    req = urllib.request.Request(BASE + path, data=body, method=method, headers={
        "Content-Type": "application/json;charset=utf-8",
        "AppKey": APP_KEY,
        "Nonce": nonce,
        "CurTime": cur_time,
        "CheckSum": checksum(APP_SECRET, nonce, cur_time),
    })
    with urllib.request.urlopen(req, timeout=10) as resp:
        got = json.load(resp)
    if got.get("code") != 200:
        raise RuntimeError(f"{path}: {got}")
    return got.get("data")


# ---- The bot ----

_seen = set()  # (eventType, msgidServer): a copy may arrive twice
_seen_lock = threading.Lock()


def handle(copy):
    with _seen_lock:
        key = (copy.get("eventType"), copy.get("msgidServer"))
        if key in _seen:
            return
        _seen.add(key)
    if copy.get("eventType") != "1" or copy.get("msgType") != "TEXT":
        return
    if copy.get("fromAccount") == BOT_ACCOUNT:
        return  # our own answer, copied back to us
    team_type = TEAM_TYPES.get(copy.get("convType"))
    if team_type is None:
        return  # p2p chats between users are copied too; this bot answers teams only
    conversation = f"{BOT_ACCOUNT}|{team_type}|{copy['to']}"
    try:
        call("POST", f"/im/v2/conversations/{urllib.parse.quote(conversation, safe='')}/messages",
             {"message": {"message_type": 0, "text": f"hi! you said: {copy.get('body', '')}"}})
        log("answered in team", copy["to"])
    except Exception as err:  # noqa: BLE001 - a bot keeps serving
        log("send failed:", err)


class Copies(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not verified(self.headers, raw):
            log("refused a copy: bad MD5 or CheckSum")
            return self.answer(403)
        try:
            copy = json.loads(raw)
        except ValueError:
            return self.answer(400)
        # Acknowledge every verified copy (the "0" URL probe included) at once; answer
        # off the 5 s deadline.
        if isinstance(copy, dict):
            threading.Thread(target=handle, args=(copy,), daemon=True).start()
        return self.answer(200)

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Copies)
    log(f"listening on 127.0.0.1:{PORT}")
    server.serve_forever()
