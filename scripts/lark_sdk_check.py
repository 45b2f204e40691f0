"""The official Feishu Python SDK (lark-oapi), unmodified, against a running Switchboard.

Usage: lark_sdk_check.py BASE_URL ADMIN_TOKEN

Provisions a tenant, a user, an app and a group through the admin API (plain HTTP), then
uses only the SDK's public API, with its domain pointed at BASE_URL, to get a tenant token,
send a text, get it back, reply, edit, recall and get again. Exits non-zero on the first
failed expectation.
"""

import json
import sys
import urllib.request
import uuid

import lark_oapi as lark
from lark_oapi.api.auth.v3 import InternalTenantAccessTokenRequest, InternalTenantAccessTokenRequestBody
from lark_oapi.api.im.v1 import (
    CreateMessageRequest,
    CreateMessageRequestBody,
    DeleteMessageRequest,
    GetMessageRequest,
    ReplyMessageRequest,
    ReplyMessageRequestBody,
    UpdateMessageRequest,
    UpdateMessageRequestBody,
)

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
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def ok(resp, what):
    check(resp.success(), what, f"code={resp.code} msg={resp.msg} log_id={resp.get_log_id()}")
    return resp


def text_of(item):
    return json.loads(item.body.content)


tenant = admin("POST", "/tenants", {"name": "lark-oapi check"})
t = tenant["id"]
alice = admin("POST", f"/tenants/{t}/users", {"name": "Alice", "user_id": "alice"})
bot = admin("POST", f"/tenants/{t}/apps", {"name": "SDK bot"})
chat = admin("POST", f"/tenants/{t}/chats", {
    "type": "group", "name": "SDK room",
    "owner": {"type": "user", "id": alice["id"]},
    "members": [{"type": "app", "id": bot["id"]}],
})
chat_id = chat["dialect_ids"]["lark"]
app_id, app_secret = bot["app_id"], bot["app_secret"]

client = lark.Client.builder() \
    .app_id(app_id).app_secret(app_secret) \
    .domain(BASE) \
    .log_level(lark.LogLevel.WARNING) \
    .build()

# 1. A tenant token, explicitly (the SDK also fetches and caches one by itself below).
resp = client.auth.v3.tenant_access_token.internal(
    InternalTenantAccessTokenRequest.builder()
    .request_body(InternalTenantAccessTokenRequestBody.builder().app_id(app_id).app_secret(app_secret).build())
    .build())
ok(resp, "tenant_access_token/internal")
token = json.loads(resp.raw.content)
check(token["tenant_access_token"].startswith("t-"), "token looks like a tenant token")
check(token["expire"] > 600, "expire leaves the SDK's 10-minute margin", str(token["expire"]))

# 2. Send a text.
resp = ok(client.im.v1.message.create(
    CreateMessageRequest.builder().receive_id_type("chat_id")
    .request_body(CreateMessageRequestBody.builder()
                  .receive_id(chat_id).msg_type("text")
                  .content(json.dumps({"text": "hello from lark-oapi"}))
                  .uuid(str(uuid.uuid4())).build())
    .build()), "send a text")
mid = resp.data.message_id
check(mid.startswith("om_"), "message_id is om_", mid)
check(resp.data.chat_id == chat_id, "sent into the chat")
check(resp.data.sender.sender_type == "app" and resp.data.sender.id == app_id, "sent by the app")

# 3. Get it back.
resp = ok(client.im.v1.message.get(GetMessageRequest.builder().message_id(mid).build()), "get the message")
items = resp.data.items
check(len(items) == 1, "one item")
check(text_of(items[0]) == {"text": "hello from lark-oapi"}, "content round-trips", items[0].body.content)
check(items[0].msg_type == "text" and items[0].deleted is False and items[0].updated is False, "type and flags")
check(int(items[0].create_time) > 0, "create_time in ms")
# The SDK looks `X-Tt-Logid` and `Content-Type` up with this exact casing.
check(bool(resp.get_log_id()), "the SDK reads the log id from X-Tt-Logid")
bad = client.im.v1.message.get(GetMessageRequest.builder().message_id("om_" + "0" * 32).build())
check(not bad.success() and bad.code not in (None, 0) and bool(bad.msg),
      "an error answer's JSON body is parsed", f"code={bad.code} msg={bad.msg}")
check(bool(bad.get_log_id()), "an error answer carries its log id")

# 4. Reply.
resp = ok(client.im.v1.message.reply(
    ReplyMessageRequest.builder().message_id(mid)
    .request_body(ReplyMessageRequestBody.builder()
                  .content(json.dumps({"text": "a reply"})).msg_type("text").build())
    .build()), "reply")
reply_id = resp.data.message_id
check(resp.data.root_id == mid and resp.data.parent_id == mid, "reply points at its parent")

# 5. Edit.
resp = ok(client.im.v1.message.update(
    UpdateMessageRequest.builder().message_id(mid)
    .request_body(UpdateMessageRequestBody.builder()
                  .msg_type("text").content(json.dumps({"text": "edited"})).build())
    .build()), "edit")
check(resp.data.updated is True, "edit response says updated")
item = ok(client.im.v1.message.get(GetMessageRequest.builder().message_id(mid).build()), "get after edit").data.items[0]
check(text_of(item) == {"text": "edited"} and item.updated is True, "the edit reads back", item.body.content)

# 6. Recall the reply, and get again.
ok(client.im.v1.message.delete(DeleteMessageRequest.builder().message_id(reply_id).build()), "recall")
item = ok(client.im.v1.message.get(GetMessageRequest.builder().message_id(reply_id).build()), "get after recall").data.items[0]
check(item.deleted is True, "recalled message reads as deleted")

# 7. A user's message, sent through the admin API, is readable by the bot.
sent = admin("POST", f"/tenants/{t}/chats/{chat['id']}/messages",
             {"sender": {"type": "user", "id": alice["id"]}, "type": "text", "content": {"text": "hi bot"}})
item = ok(client.im.v1.message.get(
    GetMessageRequest.builder().message_id(sent["dialect_ids"]["lark"]).user_id_type("union_id").build()),
    "get a user's message").data.items[0]
check(item.sender.sender_type == "user" and item.sender.id_type == "union_id", "sender is the user, by union_id")
check(item.sender.id == alice["dialect_ids"]["lark"]["union_id"], "union_id matches the admin API's")

# 8. Errors come back as SDK error responses, not exceptions.
resp = client.im.v1.message.get(GetMessageRequest.builder().message_id("om_nope").build())
check(resp.code == 230001 and not resp.success(), "bad id answers 230001", f"code={resp.code}")

print(f"lark-oapi: {checks} passed, 0 failed")
