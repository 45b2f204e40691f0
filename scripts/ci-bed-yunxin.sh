#!/usr/bin/env bash
# The CI test bed with a Yunxin message-copy bot, as docs/ci.md ("A Yunxin message-copy
# bot") tells a bot team to use it: an ephemeral server from config/worlds/yunxin.toml (its
# copy URL moved to a free port), the bot of examples/yunxin-hello-bot listening there, and
# `switchboard dialog run`: the documented dialog passes (exit 0, JUnit without failures)
# with the bot answering once (its own answer is copied to it too and must not loop), and a
# dialog expecting an answer the bot never gives fails (exit 1, naming what arrived).
# Needs python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=ci-bed-yunxin
PY="${PYTHON:-python3}"
. scripts/ci-bed-lib.sh

# A free port for the bot, written into a copy of the world.
PORT=$(bed_free_port)
sed "s#http://127.0.0.1:18742/#http://127.0.0.1:$PORT/#" config/worlds/yunxin.toml >"$WORK/world.toml"
grep -q "127.0.0.1:$PORT/" "$WORK/world.toml"
bed_start_server "$WORK/world.toml"
# The bot, with the credentials the world declares.
YUNXIN_APP_KEY=cli_yx00000000000001 YUNXIN_APP_SECRET=yunxin-secret-0123456789abcdef \
    YUNXIN_BASE_URL="$SWITCHBOARD_URL" PORT="$PORT" "$PY" examples/yunxin-hello-bot/bot.py >"$WORK/bot.log" 2>&1 &
PIDS+=($!)

bed_dialog_passes config/dialogs/yunxin-hello.dialog.toml
bed_dialog_fails "Yunxin CI" "Yunxin CI" alice "hello again" "Yunxin Bot" "hi! you said: hello again"

# No loop: the copy never holds the app's own messages, and the bot skips them anyway;
# after both dialogs the team holds exactly two answers, none to an answer.
sleep 1
"$BIN" chat log --tenant "Yunxin CI" --chat "Yunxin CI" --last 50 --format text >"$WORK/log.txt"
if [ "$(grep -c 'Yunxin Bot: hi! you said: ' "$WORK/log.txt")" -eq 2 ] \
    && ! grep -q 'you said: hi! you said' "$WORK/log.txt"; then
    bed_pass
else
    bed_fail "the bot should answer each of alice's messages once:" "$WORK/log.txt"
fi
bed_finish
