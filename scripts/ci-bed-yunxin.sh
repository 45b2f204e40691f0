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

PY="${PYTHON:-python3}"
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
sed "s#http://127.0.0.1:18742/#http://127.0.0.1:$PORT/#" config/worlds/yunxin.toml >"$WORK/world.toml"
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
    echo "ci-bed-yunxin: the server never said it was ready:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
read -r URL TOKEN < <("$PY" -c \
    'import json,sys; d=json.loads(sys.stdin.readline()); print(d["url"], d["admin_token"])' <"$WORK/ready")
export SWITCHBOARD_URL="$URL" SWITCHBOARD_ADMIN_TOKEN="$TOKEN"

# The bot, with the credentials the world declares.
YUNXIN_APP_KEY=cli_yx00000000000001 YUNXIN_APP_SECRET=yunxin-secret-0123456789abcdef \
    YUNXIN_BASE_URL="$URL" PORT="$PORT" "$PY" examples/yunxin-hello-bot/bot.py >"$WORK/bot.log" 2>&1 &
PIDS+=($!)

passed=0
failed=0
if "$BIN" dialog run config/dialogs/yunxin-hello.dialog.toml --junit "$WORK/hello.xml"; then
    if grep -q 'failures="0"' "$WORK/hello.xml"; then
        passed=$((passed + 1))
    else
        echo "ci-bed-yunxin: the JUnit report shows failures" >&2
        failed=$((failed + 1))
    fi
else
    echo "ci-bed-yunxin: the documented dialog failed; bot log:" >&2
    cat "$WORK/bot.log" >&2
    failed=$((failed + 1))
fi

# An answer the bot never gives: exit 1, with the failing step named.
cat >"$WORK/wrong.dialog.toml" <<'DIALOG'
name = "expects what the bot never says"
tenant = "Yunxin CI"
[defaults]
chat = "Yunxin CI"
within = "3s"
[[step]]
say = "hello again"
as = "alice"
[[step]]
expect = "^bye"
from = "Yunxin Bot"
DIALOG
set +e
"$BIN" dialog run "$WORK/wrong.dialog.toml" --junit "$WORK/wrong.xml" >"$WORK/wrong.out" 2>&1
status=$?
set -e
if [ "$status" -eq 1 ] && grep -q "FAIL" "$WORK/wrong.out" && grep -q "hi! you said: hello again" "$WORK/wrong.out" \
    && grep -q "<failure" "$WORK/wrong.xml"; then
    passed=$((passed + 1))
else
    echo "ci-bed-yunxin: a failing dialog should exit 1 and name what arrived (exit $status):" >&2
    cat "$WORK/wrong.out" >&2
    failed=$((failed + 1))
fi

# No loop: the copy never holds the app's own messages, and the bot skips them anyway;
# after both dialogs the team holds exactly two answers, none to an answer.
sleep 1
"$BIN" chat log --tenant "Yunxin CI" --chat "Yunxin CI" --last 50 --format text >"$WORK/log.txt"
if [ "$(grep -c 'Yunxin Bot: hi! you said: ' "$WORK/log.txt")" -eq 2 ] \
    && ! grep -q 'you said: hi! you said' "$WORK/log.txt"; then
    passed=$((passed + 1))
else
    echo "ci-bed-yunxin: the bot should answer each of alice's messages once:" >&2
    cat "$WORK/log.txt" >&2
    failed=$((failed + 1))
fi

echo "ci-bed-yunxin: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
