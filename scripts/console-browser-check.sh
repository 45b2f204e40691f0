#!/usr/bin/env bash
# The web console in a real headless Chromium: Debian's `chromium` (installed with apt-get
# when absent), driven by playwright-core (npm, version pinned in scripts/console/
# package-lock.json; it downloads no browser) through scripts/console_browser_check.mjs,
# against `switchboard demo --ephemeral`. Screenshots of every page at 1280 and 390 pixels
# wide go to target/console-screenshots/ (CONSOLE_SHOTS overrides). Needs node 20+.
# Prints one closing line, `N passed, N failed`; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_DIR="${CONSOLE_NODE_DIR:-target/console-node}"
SHOTS="${CONSOLE_SHOTS:-target/console-screenshots}"

fail() {
    echo "console-browser-check: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# A CJK font, so that the vendors' Chinese field values show in the screenshots.
if [ ! -x /usr/bin/chromium ] || ! command -v node >/dev/null 2>&1 \
    || [ ! -d /usr/share/fonts/truetype/wqy ]; then
    echo "console-browser-check: installing chromium and a CJK font (and nodejs, npm when absent)" >&2
    $SUDO apt-get update -qq || fail "apt-get update failed"
    PKGS="chromium chromium-driver fonts-wqy-microhei"
    command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $PKGS >/dev/null \
        || fail "could not install $PKGS"
fi
if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    fail "node $(node --version) is too old (playwright-core needs 20 or newer)"
fi

mkdir -p "$NODE_DIR"
if ! cmp -s scripts/console/package-lock.json "$NODE_DIR/package-lock.json" \
    || [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
    cp scripts/console/package.json scripts/console/package-lock.json "$NODE_DIR/"
    (cd "$NODE_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null) \
        || fail "npm ci failed"
fi
cp scripts/console_browser_check.mjs scripts/console_scale_check.mjs "$NODE_DIR/"

cargo build -q --locked -p switchboard-cli || fail "the server does not build"
BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"

WORK="$(mktemp -d)"
"$BIN" demo --ephemeral >"$WORK/ready" 2>"$WORK/server.log" &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 200); do
    [ -s "$WORK/ready" ] && break
    sleep 0.05
done
[ -s "$WORK/ready" ] || { cat "$WORK/server.log" >&2; fail "the demo never said it was ready"; }
URL="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]).url)' "$WORK/ready")"
TOKEN="$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").split("\n")[0]).admin_token)' "$WORK/ready")"

rm -rf "$SHOTS"
if ! node "$NODE_DIR/console_browser_check.mjs" "$URL" "$TOKEN" "$(realpath -m "$SHOTS")"; then
    echo "console-browser-check: server log:" >&2
    tail -n 40 "$WORK/server.log" >&2
    exit 1
fi
kill "$PID" && wait "$PID" 2>/dev/null || true

# At scale: a user in 1,000 chats and a chat of 100,000 messages, imported in bulk while no
# server runs (switchboard import), then served.
BIG="$WORK/big"
BIG_TOKEN="console-scale-$(node -p 'require("crypto").randomBytes(16).toString("hex")')"
PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
start_big() {
    SWITCHBOARD_ADMIN_TOKEN="$BIG_TOKEN" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$BIG" >>"$WORK/big.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 200); do
        node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
            "http://127.0.0.1:$PORT/readyz" && return 0
        sleep 0.05
    done
    cat "$WORK/big.log" >&2
    fail "the scale server never became ready"
}
start_big
node - "http://127.0.0.1:$PORT" "$BIG_TOKEN" <<'JS' || fail "provisioning the scale world failed"
const [base, token] = process.argv.slice(2);
const h = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
const call = async (path, body) => {
  const r = await fetch(`${base}/admin/v1${path}`, { method: "POST", headers: h, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
};
const t = await call("/tenants", { name: "Scale" });
await call(`/tenants/${t.id}/users`, { name: "Alice", user_id: "alice" });
await call(`/tenants/${t.id}/apps`, { name: "Scale Bot" });
const members = [{ type: "user", id: "alice" }];
for (let i = 0; i < 1000; i += 20) {
  await Promise.all(Array.from({ length: 20 }, (_, j) =>
    call(`/tenants/${t.id}/chats`, { type: "group", name: `Chat ${String(i + j + 1).padStart(4, "0")}`, owner: { type: "user", id: "alice" }, members })));
}
JS
kill "$PID" && wait "$PID" 2>/dev/null || true
node -e 'const out=[];for(let i=1;i<=100000;i++)out.push(JSON.stringify({chat:1,sender:{type:"user",id:"alice"},type:"text",content:{text:`message ${i}`}}));require("fs").writeFileSync(process.argv[1],out.join("\n")+"\n")' "$WORK/big.jsonl"
"$BIN" import --data-dir "$BIG" --tenant 1 --quiet "$WORK/big.jsonl" >/dev/null || fail "the bulk import failed"
start_big
if ! node "$NODE_DIR/console_scale_check.mjs" "http://127.0.0.1:$PORT" "$BIG_TOKEN" 1 1 "$(realpath -m "$SHOTS")"; then
    echo "console-browser-check: server log:" >&2
    tail -n 40 "$WORK/big.log" >&2
    exit 1
fi
