# What the CI test bed checks (scripts/ci-bed-*.sh) share, sourced after each sets NAME
# (for messages) and PY (a python3 for small JSON and socket chores): an ephemeral server
# from a world, a bot beside it, the documented dialog that must pass, a dialog expecting
# what the bot never says that must fail naming what arrived, and the closing tally.

cargo build -q --locked -p switchboard-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"
WORK="$(mktemp -d)"
PIDS=()
passed=0
failed=0
bed_cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap bed_cleanup EXIT

bed_pass() { passed=$((passed + 1)); }
bed_fail() {
    echo "$NAME: $1" >&2
    [ -n "${2:-}" ] && cat "$2" >&2
    failed=$((failed + 1))
}

# A free local port.
bed_free_port() {
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# `serve --ephemeral --world WORLD` with quick retries (a bot may start after its first
# event); waits for its JSON line and exports SWITCHBOARD_URL and SWITCHBOARD_ADMIN_TOKEN.
bed_start_server() {
    SWITCHBOARD_EVENTS__RETRY_SCHEDULE="200ms,500ms,1s" \
        "$BIN" serve --ephemeral --world "$1" >"$WORK/ready" 2>"$WORK/server.log" &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        [ -s "$WORK/ready" ] && break
        sleep 0.05
    done
    if [ ! -s "$WORK/ready" ]; then
        echo "$NAME: the server never said it was ready:" >&2
        cat "$WORK/server.log" >&2
        exit 1
    fi
    read -r SWITCHBOARD_URL SWITCHBOARD_ADMIN_TOKEN < <("$PY" -c \
        'import json,sys; d=json.loads(sys.stdin.readline()); print(d["url"], d["admin_token"])' <"$WORK/ready")
    export SWITCHBOARD_URL SWITCHBOARD_ADMIN_TOKEN
}

# The documented dialog FILE passes: exit 0 and a JUnit report without failures.
bed_dialog_passes() {
    if ! "$BIN" dialog run "$1" --junit "$WORK/hello.xml"; then
        bed_fail "the documented dialog failed; bot log:" "$WORK/bot.log"
    elif ! grep -q 'failures="0"' "$WORK/hello.xml"; then
        bed_fail "the JUnit report shows failures"
    else
        bed_pass
    fi
}

# A dialog in TENANT's CHAT where AS says SAY and FROM is expected to answer "bye", which
# the bot never does: exit 1, the step failed, what arrived (ARRIVED) named, a JUnit failure.
bed_dialog_fails() {
    local tenant="$1" chat="$2" as="$3" say="$4" from="$5" arrived="$6"
    cat >"$WORK/wrong.dialog.toml" <<DIALOG
name = "expects what the bot never says"
tenant = "$tenant"
[defaults]
chat = "$chat"
within = "3s"
[[step]]
say = "$say"
as = "$as"
[[step]]
expect = "^bye"
from = "$from"
DIALOG
    local status=0
    "$BIN" dialog run "$WORK/wrong.dialog.toml" --junit "$WORK/wrong.xml" >"$WORK/wrong.out" 2>&1 || status=$?
    if [ "$status" -eq 1 ] && grep -q "FAIL" "$WORK/wrong.out" && grep -q "$arrived" "$WORK/wrong.out" \
        && grep -q "<failure" "$WORK/wrong.xml"; then
        bed_pass
    else
        bed_fail "a failing dialog should exit 1 and name what arrived (exit $status):" "$WORK/wrong.out"
    fi
}

# The closing line; the exit status says whether every check passed.
bed_finish() {
    echo "$NAME: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
