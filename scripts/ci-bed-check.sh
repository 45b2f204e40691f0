#!/usr/bin/env bash
# The CI test bed end to end, as docs/ci.md tells a bot team to use it: an ephemeral server
# from the example world (config/world.example.toml), a real bot written with the official
# Feishu Python SDK (examples/feishu-hello-bot) over the long connection, and
# `switchboard dialog run`: the documented dialog passes (exit 0, JUnit without failures),
# and a dialog expecting an answer the bot never gives fails (exit 1, the step named).
# Needs what scripts/lark-sdk-check.sh needs (it installs lark-oapi into target/lark-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=ci-bed
VENV="${LARK_VENV:-target/lark-venv}"
PY="$VENV/bin/python"
if ! "$PY" -c 'import lark_oapi' 2>/dev/null; then
    echo "$NAME: lark-oapi is not in $VENV; run scripts/lark-sdk-check.sh first" >&2
    exit 1
fi
. scripts/ci-bed-lib.sh

bed_start_server config/world.example.toml
# The bot, with the credentials the world declares.
FEISHU_APP_ID=cli_ci0000000000001 FEISHU_APP_SECRET=ci-secret-0123456789abcdef \
    FEISHU_BASE_URL="$SWITCHBOARD_URL" "$PY" examples/feishu-hello-bot/bot.py >"$WORK/bot.log" 2>&1 &
PIDS+=($!)

bed_dialog_passes config/dialogs/feishu-hello.dialog.toml
bed_dialog_fails "Acme CI" "CI" alice "hello again @cli_ci0000000000001" "CI Bot" \
    "hi! you said: hello again"
bed_finish
