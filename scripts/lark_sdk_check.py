"""The official Feishu Python SDK (lark-oapi), unmodified, against a running Switchboard.

Usage: lark_sdk_check.py BASE_URL ADMIN_TOKEN

Provisions a tenant, a user, an app and a group through the admin API (plain HTTP), then
uses only the SDK's public API, with its domain pointed at BASE_URL, to get a tenant token,
send a text, get it back, reply, edit, recall and get again; then list the chat's history
in pages, list, get and update chats, and list, add and remove members. Exits non-zero on
the first failed expectation.
"""

import json
import sys
import urllib.request
import uuid

import lark_oapi as lark
from lark_oapi.api.auth.v3 import InternalTenantAccessTokenRequest, InternalTenantAccessTokenRequestBody
from lark_oapi.api.im.v1 import (
    CreateChatMembersRequest,
    CreateChatMembersRequestBody,
    CreateChatRequest,
    CreateChatRequestBody,
    CreateMessageRequest,
    CreateMessageRequestBody,
    DeleteChatMembersRequest,
    DeleteChatMembersRequestBody,
    DeleteMessageRequest,
    GetChatMembersRequest,
    GetChatRequest,
    GetMessageRequest,
    IsInChatChatMembersRequest,
    ListChatRequest,
    ListMessageRequest,
    UpdateChatRequest,
    UpdateChatRequestBody,
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
bob = admin("POST", f"/tenants/{t}/users", {"name": "Bob", "user_id": "bob"})
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

# 9. The chat's history, in pages of two, both orders.
def history(sort, token=None):
    b = ListMessageRequest.builder().container_id_type("chat").container_id(chat_id) \
        .sort_type(sort).page_size(2)
    if token:
        b = b.page_token(token)
    return ok(client.im.v1.message.list(b.build()), f"list messages {sort}").data


seen, token = [], None
while True:
    page = history("ByCreateTimeAsc", token)
    seen += [i.message_id for i in page.items]
    if not page.has_more:
        break
    token = page.page_token
check(seen[0] == mid and sent["dialect_ids"]["lark"] in seen, "history lists the chat's messages", str(seen))
check(reply_id in seen, "a recalled message stays in the history", str(seen))
newest = history("ByCreateTimeDesc").items
check([i.message_id for i in newest] == seen[::-1][:2], "descending starts at the newest")
bad = client.im.v1.message.list(ListMessageRequest.builder().container_id_type("chat")
                                .container_id(chat_id).page_token("forged").build())
check(bad.code == 230001, "a forged page_token answers 230001", f"code={bad.code}")

# 10. Chats: the bot creates one (it owns it), lists, gets and updates it.
made = ok(client.im.v1.chat.create(
    CreateChatRequest.builder().user_id_type("union_id")
    .request_body(CreateChatRequestBody.builder().name("SDK made")
                  .user_id_list([alice["dialect_ids"]["lark"]["union_id"]]).build())
    .build()), "create a chat").data.chat_id
listed = ok(client.im.v1.chat.list(ListChatRequest.builder().page_size(1).build()), "list chats (page 1)").data
check(listed.has_more and len(listed.items) == 1 and listed.items[0].chat_id == chat_id,
      "the first page holds the first chat", str([i.chat_id for i in listed.items]))
rest = ok(client.im.v1.chat.list(ListChatRequest.builder().page_size(1).page_token(listed.page_token).build()),
          "list chats (page 2)").data
check([i.chat_id for i in rest.items] == [made] and not rest.has_more, "the second page holds the new chat")
info = ok(client.im.v1.chat.get(GetChatRequest.builder().chat_id(made).build()), "get a chat").data
check(info.name == "SDK made" and info.owner_id == app_id and info.owner_id_type == "app_id", "the bot owns it")
check(info.user_count == "1" and info.bot_count == "1", "counts", f"{info.user_count} {info.bot_count}")
ok(client.im.v1.chat.update(
    UpdateChatRequest.builder().chat_id(made)
    .request_body(UpdateChatRequestBody.builder().name("SDK renamed").description("by the SDK").build())
    .build()), "update a chat")
info = ok(client.im.v1.chat.get(GetChatRequest.builder().chat_id(made).build()), "get after update").data
check(info.name == "SDK renamed" and info.description == "by the SDK", "the update reads back")
denied = client.im.v1.chat.update(
    UpdateChatRequest.builder().chat_id(chat_id)
    .request_body(UpdateChatRequestBody.builder().name("nope").build()).build())
check(denied.code == 232002, "a plain member may not rename", f"code={denied.code}")

# 11. Members: add bob, list, remove him, ask whether the bot is in.
added = ok(client.im.v1.chat_members.create(
    CreateChatMembersRequest.builder().chat_id(made).member_id_type("union_id").succeed_type(1)
    .request_body(CreateChatMembersRequestBody.builder()
                  .id_list([bob["dialect_ids"]["lark"]["union_id"], "on_nobody"]).build())
    .build()), "add members").data
check(added.invalid_id_list == ["on_nobody"], "an unusable id is reported", str(added.invalid_id_list))
members = ok(client.im.v1.chat_members.get(
    GetChatMembersRequest.builder().chat_id(made).member_id_type("union_id").build()), "list members").data
check(members.member_total == 2 and sorted(m.name for m in members.items) == ["Alice", "Bob"],
      "both users are listed (bots are not)", str([m.name for m in members.items]))
removed = ok(client.im.v1.chat_members.delete(
    DeleteChatMembersRequest.builder().chat_id(made).member_id_type("union_id")
    .request_body(DeleteChatMembersRequestBody.builder()
                  .id_list([bob["dialect_ids"]["lark"]["union_id"], "on_nobody"]).build())
    .build()), "remove members").data
check(removed.invalid_id_list == ["on_nobody"], "remove reports the unusable id", str(removed.invalid_id_list))
members = ok(client.im.v1.chat_members.get(GetChatMembersRequest.builder().chat_id(made).build()),
             "list members after removal").data
check(members.member_total == 1 and members.items[0].name == "Alice", "bob is gone")
inside = ok(client.im.v1.chat_members.is_in_chat(IsInChatChatMembersRequest.builder().chat_id(made).build()),
            "is_in_chat").data
check(inside.is_in_chat is True, "the bot is in its chat")


def reactions_and_pins():
    """Reactions (add, list with a filter and pages, delete), pins (pin, list, unpin) and a
    message's readers after the admin API marks a user's reading, through the SDK."""
    from lark_oapi.api.im.v1 import (
        CreateMessageReactionRequest,
        CreateMessageReactionRequestBody,
        CreatePinRequest,
        CreatePinRequestBody,
        DeleteMessageReactionRequest,
        DeletePinRequest,
        Emoji,
        ListMessageReactionRequest,
        ListPinRequest,
        ReadUsersMessageRequest,
    )
    target = ok(client.im.v1.message.create(
        CreateMessageRequest.builder().receive_id_type("chat_id")
        .request_body(CreateMessageRequestBody.builder().receive_id(chat_id).msg_type("text")
                      .content(json.dumps({"text": "react and pin me"})).build())
        .build()), "send a message to react to").data.message_id

    def react(emoji):
        return client.im.v1.message_reaction.create(
            CreateMessageReactionRequest.builder().message_id(target)
            .request_body(CreateMessageReactionRequestBody.builder()
                          .reaction_type(Emoji.builder().emoji_type(emoji).build()).build())
            .build())

    smile = ok(react("SMILE"), "add a reaction").data
    check(smile.reaction_type.emoji_type == "SMILE" and smile.operator.operator_type == "app"
          and smile.operator.operator_id == app_id, "the reaction names its emoji and the bot")
    check(int(smile.action_time) > 0, "action_time in ms", str(smile.action_time))
    check(ok(react("SMILE"), "add it again").data.reaction_id == smile.reaction_id,
          "the same emoji twice is one reaction")
    thumbs = ok(react("THUMBSUP"), "add another reaction").data
    bad = react("NOT_AN_EMOJI")
    check(bad.code == 231001, "an unknown emoji answers 231001", f"code={bad.code}")

    def listed(**kw):
        b = ListMessageReactionRequest.builder().message_id(target)
        for k, v in kw.items():
            b = getattr(b, k)(v)
        return ok(client.im.v1.message_reaction.list(b.build()), f"list reactions {kw}").data

    first = listed(page_size=1)
    check(first.has_more and [i.reaction_id for i in first.items] == [smile.reaction_id], "page one")
    second = listed(page_size=1, page_token=first.page_token)
    check(not second.has_more and [i.reaction_id for i in second.items] == [thumbs.reaction_id], "page two")
    only = listed(reaction_type="THUMBSUP")
    check([i.reaction_id for i in only.items] == [thumbs.reaction_id], "filtered by reaction_type")
    gone = ok(client.im.v1.message_reaction.delete(
        DeleteMessageReactionRequest.builder().message_id(target).reaction_id(smile.reaction_id).build()),
        "delete a reaction").data
    check(gone.reaction_id == smile.reaction_id, "the deleted reaction is answered")
    check([i.reaction_id for i in listed().items] == [thumbs.reaction_id], "it is gone from the list")

    pinned = ok(client.im.v1.pin.create(
        CreatePinRequest.builder().request_body(CreatePinRequestBody.builder().message_id(target).build())
        .build()), "pin a message").data.pin
    check(pinned.message_id == target and pinned.chat_id == chat_id and pinned.operator_id == app_id
          and pinned.operator_id_type == "app_id", "the pin names the message, chat and bot")
    pins = ok(client.im.v1.pin.list(
        ListPinRequest.builder().chat_id(chat_id).start_time(pinned.create_time)
        .end_time(pinned.create_time).page_size(10).build()), "list pins").data
    check([p.message_id for p in pins.items] == [target] and not pins.has_more, "the pin is listed")
    ok(client.im.v1.pin.delete(DeletePinRequest.builder().message_id(target).build()), "unpin")
    pins = ok(client.im.v1.pin.list(ListPinRequest.builder().chat_id(chat_id).build()), "list pins again").data
    check(not pins.items, "no pins left")

    position = admin("GET", f"/tenants/{t}/chats/{chat['id']}")["last_position"]
    admin("POST", f"/tenants/{t}/chats/{chat['id']}/read", {"user": "alice", "position": position})
    readers = ok(client.im.v1.message.read_users(
        ReadUsersMessageRequest.builder().message_id(target).user_id_type("union_id").build()),
        "read_users").data
    check([r.user_id for r in readers.items] == [alice["dialect_ids"]["lark"]["union_id"]]
          and readers.items[0].user_id_type == "union_id" and int(readers.items[0].timestamp) > 0,
          "alice has read the bot's message", str([r.user_id for r in readers.items]))


reactions_and_pins()


def files_and_images():
    """Uploads an image and a file through the SDK's own multipart forms, downloads each by
    key and through the message that sends it, byte for byte, with the name the SDK reads
    from Content-Disposition; and a refused upload (234010) through the SDK's error path."""
    import io
    from lark_oapi.api.im.v1 import (
        CreateFileRequest,
        CreateFileRequestBody,
        CreateImageRequest,
        CreateImageRequestBody,
        GetFileRequest,
        GetImageRequest,
        GetMessageResourceRequest,
    )

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16
    image_key = ok(client.im.v1.image.create(
        CreateImageRequest.builder().request_body(
            CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(png)).build())
        .build()), "upload an image").data.image_key
    check(image_key.startswith("img_v3_"), "image_key is img_v3_", image_key)
    got = client.im.v1.image.get(GetImageRequest.builder().image_key(image_key).build())
    check(got.success() and got.file.read() == png, "the image downloads byte for byte")
    check(got.file_name.endswith(".png"), "the image is named", str(got.file_name))

    doc = b"%PDF-1.7\n" + bytes(range(256)) * 4500  # over 1 MiB: several SQLite chunks
    name = "季度报告.pdf"
    file_key = ok(client.im.v1.file.create(
        CreateFileRequest.builder().request_body(
            CreateFileRequestBody.builder().file_type("pdf").file_name(name).file(io.BytesIO(doc)).build())
        .build()), "upload a file").data.file_key
    check(file_key.startswith("file_v3_"), "file_key is file_v3_", file_key)
    got = client.im.v1.file.get(GetFileRequest.builder().file_key(file_key).build())
    check(got.success() and got.file.read() == doc, "the file downloads byte for byte")
    check(got.file_name == name, "the SDK reads the file's name", str(got.file_name))

    sent = ok(client.im.v1.message.create(
        CreateMessageRequest.builder().receive_id_type("chat_id")
        .request_body(CreateMessageRequestBody.builder().receive_id(chat_id).msg_type("image")
                      .content(json.dumps({"image_key": image_key})).build())
        .build()), "send the image").data.message_id
    got = client.im.v1.message_resource.get(
        GetMessageResourceRequest.builder().message_id(sent).file_key(image_key).type("image").build())
    check(got.success() and got.file.read() == png, "the message's resource downloads byte for byte")

    empty = client.im.v1.image.create(
        CreateImageRequest.builder().request_body(
            CreateImageRequestBody.builder().image_type("message").image(io.BytesIO(b"")).build())
        .build())
    check(not empty.success() and empty.code == 234010, "an empty image is refused with 234010",
          f"code={empty.code} msg={empty.msg}")


files_and_images()

print(f"lark-oapi: {checks} passed, 0 failed")
