#!/usr/bin/env bash
# The CI test bed end to end, as docs/ci.md tells a bot team to use it: an ephemeral server
# from the example world (config/world.example.toml), a real bot written with the official
# Feishu Python SDK (examples/feishu-hello-bot) over the long connection, and
# `switchboard dialog run`: the documented dialog passes (exit 0, JUnit without failures),
# and a dialog expecting an answer the bot never gives fails (exit 1, the step named).
# Needs what scripts/lark-sdk-check.sh needs (it installs lark-oapi into target/lark-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${LARK_VENV:-target/lark-venv}"
if ! "$VENV/bin/python" -c 'import lark_oapi' 2>/dev/null; then
    echo "ci-bed-check: lark-oapi is not in $VENV; run scripts/lark-sdk-check.sh first" >&2
    exit 1
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

# The server: one JSON line on stdout once it serves.
SWITCHBOARD_EVENTS__RETRY_SCHEDULE="200ms,500ms,1s" \
    "$BIN" serve --ephemeral --world config/world.example.toml >"$WORK/ready" 2>"$WORK/server.log" &
PIDS+=($!)
for _ in $(seq 1 100); do
    [ -s "$WORK/ready" ] && break
    sleep 0.05
done
if [ ! -s "$WORK/ready" ]; then
    echo "ci-bed-check: the server never said it was ready:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
read -r URL TOKEN < <("$VENV/bin/python" -c \
    'import json,sys; d=json.loads(sys.stdin.readline()); print(d["url"], d["admin_token"])' <"$WORK/ready")
export SWITCHBOARD_URL="$URL" SWITCHBOARD_ADMIN_TOKEN="$TOKEN"

# The bot, with the credentials the world declares.
FEISHU_APP_ID=cli_ci0000000000001 FEISHU_APP_SECRET=ci-secret-0123456789abcdef \
    FEISHU_BASE_URL="$URL" "$VENV/bin/python" examples/feishu-hello-bot/bot.py >"$WORK/bot.log" 2>&1 &
PIDS+=($!)

passed=0
failed=0
if "$BIN" dialog run config/dialogs/feishu-hello.dialog.toml --junit "$WORK/hello.xml"; then
    if grep -q 'failures="0"' "$WORK/hello.xml"; then
        passed=$((passed + 1))
    else
        echo "ci-bed-check: the JUnit report shows failures" >&2
        failed=$((failed + 1))
    fi
else
    echo "ci-bed-check: the documented dialog failed; bot log:" >&2
    cat "$WORK/bot.log" >&2
    failed=$((failed + 1))
fi

# An answer the bot never gives: exit 1, with the failing step named.
cat >"$WORK/wrong.dialog.toml" <<'DIALOG'
name = "expects what the bot never says"
tenant = "Acme CI"
[defaults]
chat = "CI"
within = "2s"
[[step]]
say = "hello again @cli_ci0000000000001"
as = "alice"
[[step]]
expect = "^bye"
from = "CI Bot"
DIALOG
set +e
"$BIN" dialog run "$WORK/wrong.dialog.toml" --junit "$WORK/wrong.xml" >"$WORK/wrong.out" 2>&1
status=$?
set -e
if [ "$status" -eq 1 ] && grep -q "FAIL" "$WORK/wrong.out" && grep -q "hi! you said: hello again" "$WORK/wrong.out" \
    && grep -q "<failure" "$WORK/wrong.xml"; then
    passed=$((passed + 1))
else
    echo "ci-bed-check: a failing dialog should exit 1 and name what arrived (exit $status):" >&2
    cat "$WORK/wrong.out" >&2
    failed=$((failed + 1))
fi

echo "ci-bed: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
