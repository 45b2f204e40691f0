#!/usr/bin/env bash
# Runs the official Feishu Node SDK (@larksuiteoapi/node-sdk, from npm, unmodified, at the
# version pinned in scripts/node/package-lock.json) against a real `switchboard serve` on a
# free local port and a fresh data directory: a bot's whole lifecycle through `lark.Client`
# and the receiver side through `WSClient` (scripts/lark_node_check.mjs). Needs node 18+
# with npm (installed with apt-get when node is absent) and cargo. The SDK goes into
# target/lark-node (reused while the lock file is unchanged; LARK_NODE_DIR overrides).
# Prints one closing line, `N passed, N failed`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_DIR="${LARK_NODE_DIR:-target/lark-node}"

# Every way out prints the closing line.
fail() {
    echo "lark-node-check: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "lark-node-check: installing nodejs and npm" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null \
        || fail "could not install nodejs and npm"
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
    fail "node $(node --version) is too old (18 or newer: fetch, the SDK's axios)"
fi

# `npm ci` from the committed lock, only when the lock changed since the last install.
mkdir -p "$NODE_DIR"
if ! cmp -s scripts/node/package-lock.json "$NODE_DIR/package-lock.json" \
    || [ ! -d "$NODE_DIR/node_modules/@larksuiteoapi/node-sdk" ]; then
    cp scripts/node/package.json scripts/node/package-lock.json "$NODE_DIR/"
    (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
        || fail "npm ci failed"
fi

cargo build -q --locked -p switchboard-cli || fail "the server does not build"
BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"

DATA="$(mktemp -d)"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
ADMIN_TOKEN="lark-node-check-$(node -p 'require("crypto").randomBytes(16).toString("hex")')"

# Quick retries (a handler that throws sees its event again soon), and events over 2 KiB
# sent in fragments, so that the SDK's reassembly is exercised. The check makes about a
# hundred calls as fast as the SDK goes: over Feishu's 50-a-second burst (the default).
SWITCHBOARD_EVENTS__RETRY_SCHEDULE="200ms,500ms,1s" SWITCHBOARD_LARK__WS_FRAGMENT_BYTES=2048 \
SWITCHBOARD_LARK__RATE_LIMIT_PER_SECOND=1000 \
SWITCHBOARD_ADMIN_TOKEN="$ADMIN_TOKEN" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$DATA/server.log" 2>&1 &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

BASE="http://127.0.0.1:$PORT"
up=""
for _ in $(seq 1 100); do
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$BASE/healthz" 2>/dev/null; then
        up=1
        break
    fi
    if ! kill -0 "$PID" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
if [ -z "$up" ]; then
    cat "$DATA/server.log" >&2
    fail "the server did not come up"
fi

status=0
NODE_PATH="$(cd "$NODE_DIR" && pwd)/node_modules" node scripts/lark_node_check.mjs "$BASE" "$ADMIN_TOKEN" \
    >"$DATA/check.log" 2>&1 || status=$?
# Everything but the closing line, then (on failure) the server's last words, then the
# closing line last.
sed '$d' "$DATA/check.log"
summary="$(tail -n 1 "$DATA/check.log")"
if [ "$status" -ne 0 ]; then
    echo "lark-node-check: failed; server log:" >&2
    tail -n 30 "$DATA/server.log" >&2
    case "$summary" in
        *" passed, "*" failed") ;;
        *) echo "$summary"; summary="0 passed, 1 failed" ;;
    esac
fi
echo "$summary"
exit "$status"
