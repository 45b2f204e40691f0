#!/usr/bin/env bash
# Runs the `wps365` Python package (from PyPI, unmodified) against a real `switchboard serve`
# on a free local port and a fresh data directory (scripts/wps365_check.py: a local relay
# maps https://openapi.wps.cn, which the package has built in, to the server). Needs
# python3 (3.9+), cargo and openssl; installs wps365 into a virtualenv
# (target/wps365-venv, reused across runs; WPS365_VENV overrides). PyPI ships wps365 as
# source for Linux, so the first install compiles it (maturin, a few minutes), with a
# one-line fix where the published source does not compile on Unix (see below).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV="${WPS365_VENV:-target/wps365-venv}"

if [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    if ! "$PY" -m venv "$VENV" 2>/dev/null; then
        # Debian splits venv support out of python3.
        echo "wps365-check: installing python3-venv" >&2
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        rm -rf "$VENV"
        "$PY" -m venv "$VENV"
    fi
fi
if ! "$VENV/bin/python" -c 'import wps365' 2>/dev/null; then
    # Built in its own target directory: the workspace's stays the workspace's.
    WPS365_TARGET="$(pwd)/target/wps365-build"
    # A wheel when PyPI has one for this platform (fails at once when it has none).
    if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        --only-binary :all: wps365 2>/dev/null; then
        # No wheel: build its sdist. wps365 0.5.0 does not compile on Unix as published: its
        # config-file code calls `Permissions::with_mode`, which does not exist. Replace that
        # one line by `Permissions::from_mode` (file permissions of its config file; nothing
        # about its HTTP calls changes; a release without the line builds as it is).
        echo "wps365-check: building wps365 from its sdist with a one-line Unix fix" >&2
        SRC="$(mktemp -d)"
        "$VENV/bin/python" -m pip download -q --disable-pip-version-check --no-deps \
            --no-binary :all: wps365 -d "$SRC"
        tar xzf "$SRC"/wps365-*.tar.gz -C "$SRC"
        sed -i 's/meta\.permissions()\.with_mode(0o600)/std::fs::Permissions::from_mode(0o600)/' \
            "$SRC"/wps365-*/crates/wps365/src/infra/config.rs
        CARGO_TARGET_DIR="$WPS365_TARGET" \
            "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$SRC"/wps365-*/
        rm -rf "$SRC"
    fi
fi

cargo build -q --locked -p switchboard-cli
BIN="${CARGO_TARGET_DIR:-target}/debug/switchboard"

DATA="$(mktemp -d)"
PORT="$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ADMIN_TOKEN="wps365-check-$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')"

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
        echo "wps365-check: the server exited:" >&2
        cat "$DATA/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

if ! "$VENV/bin/python" scripts/wps365_check.py "$BASE" "$ADMIN_TOKEN"; then
    echo "wps365-check: scripts/wps365_check.py failed; server log:" >&2
    tail -n 50 "$DATA/server.log" >&2
    exit 1
fi
