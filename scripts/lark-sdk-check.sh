#!/usr/bin/env bash
# Runs the official Feishu Python SDK (lark-oapi, from PyPI, unmodified) against a real
# `switchboard serve` on a free local port and a fresh data directory, as a client
# (scripts/lark_sdk_check.py) and as the receiver of its events
# (scripts/lark_events_check.py, by webhook; scripts/lark_ws_check.py, over its long
# connection). Needs python3 (3.8+) and cargo; installs
# lark-oapi into a virtualenv (target/lark-venv, reused across runs; LARK_VENV overrides).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV="${LARK_VENV:-target/lark-venv}"

if [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        # Debian splits venv support out of python3.
        echo "lark-sdk-check: installing python3-venv" >&2
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"
        "$PY" -m venv "$VENV"
    fi
fi
if ! "$VENV/bin/python" -c 'import lark_oapi' 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check lark-oapi
fi

cargo build -q --locked -p switchboard-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"

DATA="$(mktemp -d)"
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ADMIN_TOKEN="lark-sdk-check-$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')"

# Quick retries (the long-connection check waits for one), and events over 2 KiB sent in
# fragments, so that the SDK's reassembly is exercised.
SWITCHBOARD_EVENTS__RETRY_SCHEDULE="200ms,500ms,1s" SWITCHBOARD_LARK__WS_FRAGMENT_BYTES=2048 \
SWITCHBOARD_ADMIN_TOKEN="$ADMIN_TOKEN" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA/server.log" 2>&1 &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

BASE="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$BASE/healthz" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "lark-sdk-check: the server exited:" >&2
        cat "$DATA/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

for check in scripts/lark_sdk_check.py scripts/lark_events_check.py scripts/lark_ws_check.py; do
    if ! "$VENV/bin/python" "$check" "$BASE" "$ADMIN_TOKEN"; then
        echo "lark-sdk-check: $check failed; server log:" >&2
        tail -n 50 "$DATA/server.log" >&2
        exit 1
    fi
done
