"""A minimal Feishu bot, written only against the official Feishu Python SDK (lark-oapi):
it hears messages over Feishu's long connection and answers each one in its chat with
"hi! you said: <text>". Nothing in it knows Switchboard: pointed at Switchboard by its
base URL, it runs unchanged; pointed at https://open.feishu.cn, it is a Feishu bot.

Usage: FEISHU_APP_ID=cli_… FEISHU_APP_SECRET=… FEISHU_BASE_URL=http://127.0.0.1:8080 python bot.py

Switchboard's CI example (docs/ci.md) starts it against `switchboard serve --ephemeral
--world` and checks its answers with `switchboard dialog run`.
"""

import json
import os
import sys

import lark_oapi as lark
from lark_oapi.api.im.v1 import ReplyMessageRequest, ReplyMessageRequestBody

APP_ID = os.environ["FEISHU_APP_ID"]
APP_SECRET = os.environ["FEISHU_APP_SECRET"]
BASE = os.environ.get("FEISHU_BASE_URL", lark.FEISHU_DOMAIN)

client = (lark.Client.builder().app_id(APP_ID).app_secret(APP_SECRET).domain(BASE)
          .log_level(lark.LogLevel.WARNING).build())


def on_message(data):
    message = data.event.message
    if message.message_type != "text":
        return
    text = json.loads(message.content).get("text", "")
    # Mentions arrive as @_user_N placeholders: answer with what was said around them.
    said = " ".join(w for w in text.split() if not w.startswith("@_user_"))
    resp = client.im.v1.message.reply(
        ReplyMessageRequest.builder().message_id(message.message_id)
        .request_body(ReplyMessageRequestBody.builder().msg_type("text")
                      .content(json.dumps({"text": f"hi! you said: {said}"})).build())
        .build())
    if not resp.success():
        print(f"reply failed: {resp.code} {resp.msg}", file=sys.stderr, flush=True)


handler = (lark.EventDispatcherHandler.builder("", "", lark.LogLevel.WARNING)
           .register_p2_im_message_receive_v1(on_message).build())
print("bot: connecting", flush=True)
lark.ws.Client(APP_ID, APP_SECRET, event_handler=handler, domain=BASE,
               log_level=lark.LogLevel.WARNING).start()
