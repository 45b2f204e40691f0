"""The official Feishu Python SDK (lark-oapi), unmodified, as the RECEIVER of Switchboard's
events over Feishu's long connection ("使用长连接接收事件").

Usage: lark_ws_check.py BASE_URL ADMIN_TOKEN

Subscribes a bot with `"mode": "long_connection"` through the admin API, makes an event
happen while no client is connected, then starts `lark.ws.Client(app_id, app_secret,
event_handler=…, domain=BASE_URL)` (only its domain points at us) in a thread: it discovers
the WebSocket at /callback/ws/endpoint, connects, and its `EventDispatcherHandler` must
dispatch that event and the ones that follow (a long one too, which a server with a small
`[lark] ws_fragment_bytes` sends in fragments); the SDK's acks must show in the delivery log
as status 200, and a handler that raises (the SDK acks 500) must see the event again with
the same id. Retries are quick when the server runs with a short
SWITCHBOARD_EVENTS__RETRY_SCHEDULE (scripts/lark-sdk-check.sh sets one). Exits non-zero on
the first failed expectation.
"""

import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request

import lark_oapi as lark

BASE, ADMIN_TOKEN = sys.argv[1].rstrip("/"), sys.argv[2]
checks = 0


def check(cond, what, detail=""):
    global checks
    checks += 1
    if not cond:
        print(f"FAIL: {what} {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {what}")


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + "/admin/v1" + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + ADMIN_TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        check(False, f"{method} {path}", f"HTTP {e.code} {e.read()!r}")


def post_json(path, body):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=15) as r:
        return r.status, json.loads(r.read())


# --- provisioning ----------------------------------------------------------------------------

t = admin("POST", "/tenants", {"name": "lark-oapi long connection"})["id"]
alice = admin("POST", f"/tenants/{t}/users", {"name": "Alice", "user_id": "alice"})
bot = admin("POST", f"/tenants/{t}/apps", {"name": "WS bot"})
sub = admin("PUT", f"/tenants/{t}/apps/{bot['id']}/events/feishu", {
    "mode": "long_connection", "event_types": ["im.message.receive_v1"]})
check(sub["mode"] == "long_connection", "long-connection subscription saved", json.dumps(sub))
p2p = admin("POST", f"/tenants/{t}/chats", {
    "type": "p2p", "owner": {"type": "user", "id": alice["id"]},
    "members": [{"type": "app", "id": bot["id"]}]})


def say(text):
    return admin("POST", f"/tenants/{t}/chats/{p2p['id']}/messages", {
        "sender": {"type": "user", "id": alice["id"]}, "type": "text", "content": {"text": text}})


# Discovery refuses a wrong secret with the code the SDK stops on (514, auth failed).
status, refused = post_json("/callback/ws/endpoint", {"AppID": bot["app_id"], "AppSecret": "wrong"})
check(status == 200 and refused["code"] == 514, "discovery refuses a wrong secret with 514", json.dumps(refused))

# --- an event while nobody is connected ------------------------------------------------------

early = say("before the client connects")
time.sleep(0.5)
log = admin("GET", f"/tenants/{t}/apps/{bot['id']}/deliveries")["items"]
check(len(log) == 1 and log[0]["status"] != "delivered" and log[0]["mode"] == "long_connection",
      "an event with no connection open waits", json.dumps(log)[:400])

# --- the SDK's long-connection client --------------------------------------------------------

received = queue.Queue()
fail_once = {"text": "make the handler fail once", "failed": False}


def on_message(data):
    content = json.loads(data.event.message.content)
    if content.get("text") == fail_once["text"] and not fail_once["failed"]:
        fail_once["failed"] = True
        received.put(("raised", data))
        raise RuntimeError("the handler fails the first time (the SDK acks 500)")
    received.put(("handled", data))


handler = (lark.EventDispatcherHandler.builder("", "", lark.LogLevel.WARNING)
           .register_p2_im_message_receive_v1(on_message)
           .build())
client = lark.ws.Client(bot["app_id"], bot["app_secret"], event_handler=handler, domain=BASE,
                        log_level=lark.LogLevel.WARNING)
# `start()` runs the SDK's own event loop until the process ends: a daemon thread.
threading.Thread(target=client.start, daemon=True).start()


def next_event(timeout=15):
    try:
        return received.get(timeout=timeout)
    except queue.Empty:
        check(False, f"an event dispatched within {timeout}s")


def wait_delivered(event_id, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for d in admin("GET", f"/tenants/{t}/apps/{bot['id']}/deliveries?limit=50")["items"]:
            if d["event_id"] == event_id and d["status"] == "delivered":
                return d
        time.sleep(0.05)
    check(False, f"{event_id} delivered within {timeout}s")


how, data = next_event()
check(how == "handled" and data.header.event_type == "im.message.receive_v1",
      "the SDK dispatched im.message.receive_v1 once connected", data.header.event_type)
check(data.event.message.message_id == early["dialect_ids"]["lark"], "it is the event from before",
      data.event.message.message_id)
d = wait_delivered(data.header.event_id)
check(d["attempts"][-1]["status"] == 200 and d["mode"] == "long_connection",
      "the SDK's ack shows as status 200", json.dumps(d))

# --- while connected -------------------------------------------------------------------------

sent = say("hello over the long connection")
how, data = next_event()
msg = data.event.message
check(msg.message_id == sent["dialect_ids"]["lark"], "a message sent while connected", msg.message_id)
check(json.loads(msg.content) == {"text": "hello over the long connection"}, "its content", msg.content)
check(msg.chat_type == "p2p" and data.event.sender.sender_type == "user", "p2p, from a user")
check(data.header.app_id == bot["app_id"] and len(data.header.event_id) == 32, "header app_id and event_id")
d = wait_delivered(data.header.event_id)
check(len(d["attempts"]) == 1 and d["attempts"][0]["status"] == 200, "delivered at the first attempt",
      json.dumps(d))

# A long message: over a small `ws_fragment_bytes` it comes in fragments the SDK joins.
long_text = "long " * 2000
sent = say(long_text)
how, data = next_event()
check(data.event.message.message_id == sent["dialect_ids"]["lark"]
      and json.loads(data.event.message.content)["text"] == long_text,
      "a long event arrives whole", f"{len(data.event.message.content)} bytes")
wait_delivered(data.header.event_id)

# A handler that raises: the SDK acks 500, the event comes again with the same id.
sent = say(fail_once["text"])
how, first = next_event()
check(how == "raised", "the handler raised", how)
how, again = next_event(timeout=20)
check(how == "handled" and again.header.event_id == first.header.event_id,
      "the event came again with the same id", f"{first.header.event_id} / {again.header.event_id}")
d = wait_delivered(first.header.event_id)
check([a["status"] for a in d["attempts"]] == [500, 200], "attempts: 500 (the SDK's nack), then 200",
      json.dumps(d["attempts"]))

time.sleep(0.3)
check(received.empty(), "no event twice after its ack")
print(f"lark-oapi long connection: {checks} passed, 0 failed")
