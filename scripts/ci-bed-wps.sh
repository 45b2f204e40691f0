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

VENV="${LARK_VENV:-target/lark-venv}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "ci-bed-wps: no virtualenv at $VENV; run scripts/lark-sdk-check.sh first" >&2
    exit 1
fi
PY="${PYTHON:-$VENV/bin/python}"
if ! "$PY" -c 'import cryptography' 2>/dev/null; then
    "$PY" -m pip install -q --disable-pip-version-check cryptography
fi
cargo build -q --locked -p switchboard-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# A free port for the bot, written into a copy of the world.
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed "s#http://127.0.0.1:18741/#http://127.0.0.1:$PORT/#" config/worlds/wps.toml >"$WORK/world.toml"
grep -q "127.0.0.1:$PORT/" "$WORK/world.toml"

# The server: one JSON line on stdout once it serves.
SWITCHBOARD_EVENTS__RETRY_SCHEDULE="200ms,500ms,1s" \
    "$BIN" serve --ephemeral --world "$WORK/world.toml" >"$WORK/ready" 2>"$WORK/server.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    [ -s "$WORK/ready" ] && break
    sleep 0.05
done
if [ ! -s "$WORK/ready" ]; then
    echo "ci-bed-wps: the server never said it was ready:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
read -r URL TOKEN < <("$PY" -c \
    'import json,sys; d=json.loads(sys.stdin.readline()); print(d["url"], d["admin_token"])' <"$WORK/ready")
export SWITCHBOARD_URL="$URL" SWITCHBOARD_ADMIN_TOKEN="$TOKEN"

# The bot, with the credentials the world declares.
WPS_APP_ID=cli_wps0000000000001 WPS_APP_SECRET=wps-secret-0123456789abcdef \
    WPS_BASE_URL="$URL" PORT="$PORT" "$PY" examples/wps-hello-bot/bot.py >"$WORK/bot.log" 2>&1 &
PIDS+=($!)

passed=0
failed=0
if "$BIN" dialog run config/dialogs/wps-hello.dialog.toml --junit "$WORK/hello.xml"; then
    if grep -q 'failures="0"' "$WORK/hello.xml"; then
        passed=$((passed + 1))
    else
        echo "ci-bed-wps: the JUnit report shows failures" >&2
        failed=$((failed + 1))
    fi
else
    echo "ci-bed-wps: the documented dialog failed; bot log:" >&2
    cat "$WORK/bot.log" >&2
    failed=$((failed + 1))
fi

# An answer the bot never gives: exit 1, with the failing step named.
cat >"$WORK/wrong.dialog.toml" <<'DIALOG'
name = "expects what the bot never says"
tenant = "WPS CI"
[defaults]
chat = "WPS CI"
within = "3s"
[[step]]
say = "hello again @cli_wps0000000000001"
as = "alice"
[[step]]
expect = "^bye"
from = "WPS Bot"
DIALOG
set +e
"$BIN" dialog run "$WORK/wrong.dialog.toml" --junit "$WORK/wrong.xml" >"$WORK/wrong.out" 2>&1
status=$?
set -e
if [ "$status" -eq 1 ] && grep -q "FAIL" "$WORK/wrong.out" && grep -q "hi! you said: hello again" "$WORK/wrong.out" \
    && grep -q "<failure" "$WORK/wrong.xml"; then
    passed=$((passed + 1))
else
    echo "ci-bed-wps: a failing dialog should exit 1 and name what arrived (exit $status):" >&2
    cat "$WORK/wrong.out" >&2
    failed=$((failed + 1))
fi

echo "ci-bed-wps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
