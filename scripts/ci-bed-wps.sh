#!/usr/bin/env bash
# The CI test bed with a WPS webhook bot, as docs/ci.md ("A WPS webhook bot") tells a bot
# team to use it: an ephemeral server from config/worlds/wps.toml (its webhook URL moved
# to a free port), the bot of examples/wps-hello-bot listening there, and `switchboard
# dialog run`: the documented dialog passes (exit 0, JUnit without failures), and a dialog
# expecting an answer the bot never gives fails (exit 1, naming what arrived).
# The bot needs the `cryptography` package (WPS encrypts every event): it runs in the
# virtualenv scripts/lark-sdk-check.sh makes (target/lark-venv), which gets it here.
set -euo pipefail
cd "$(dirname "$0")/.."

NAME=ci-bed-wps
VENV="${LARK_VENV:-target/lark-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "$NAME: no virtualenv at $VENV; run scripts/lark-sdk-check.sh first" >&2
    exit 1
fi
PY="${PYTHON:-$VENV/bin/python}"
if ! "$PY" -c 'import cryptography' 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check cryptography
fi
. scripts/ci-bed-lib.sh

# A free port for the bot, written into a copy of the world.
PORT=$(bed_free_port)
sed "s#http://127.0.0.1:18741/#http://127.0.0.1:$PORT/#" config/worlds/wps.toml >"$WORK/world.toml"
grep -q "127.0.0.1:$PORT/" "$WORK/world.toml"
bed_start_server "$WORK/world.toml"
# The bot, with the credentials the world declares.
WPS_APP_ID=cli_wps0000000000001 WPS_APP_SECRET=wps-secret-0123456789abcdef \
    WPS_BASE_URL="$SWITCHBOARD_URL" PORT="$PORT" "$PY" examples/wps-hello-bot/bot.py >"$WORK/bot.log" 2>&1 &
PIDS+=($!)

bed_dialog_passes config/dialogs/wps-hello.dialog.toml
bed_dialog_fails "WPS CI" "WPS CI" alice "hello again @cli_wps0000000000001" "WPS Bot" \
    "hi! you said: hello again"
bed_finish
