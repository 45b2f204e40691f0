// The harness of scripts/lark_node_check.mjs: steps that count and report, the checks
// that read the SDK's answers, the admin API, and a PNG made in memory.

import zlib from "node:zlib";

const BASE = (process.argv[2] || "").replace(/\/+$/, "");
const ADMIN_TOKEN = process.argv[3] || "";

export const counts = { passed: 0, failed: 0 };

// Outside a step (provisioning through the admin API), a throw ends the run, still with
// the closing line.
process.on("uncaughtException", (e) => {
  console.log(`FAIL: outside a step: ${describe(e)}`);
  console.log(`${counts.passed} passed, ${counts.failed + 1} failed`);
  process.exit(1);
});

// The SDK logs every failed call (expected refusals too): keep its lines and show the
// recent ones only under a failing step.
export const sdkLog = [];
const keep = (level) => (...args) => {
  const line = `[sdk ${level}] ` + args.map((a) => (typeof a === "string" ? a : safeJson(a))).join(" ");
  sdkLog.push(line.slice(0, 600));
  if (sdkLog.length > 12) sdkLog.shift();
  if (process.env.LARK_NODE_DEBUG) console.error(line);
};
export const logger = {
  error: keep("error"),
  warn: keep("warn"),
  info: keep("info"),
  debug: keep("debug"),
  trace: keep("trace"),
};

export function safeJson(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export class Failure extends Error {}

export function check(cond, what, detail) {
  if (!cond) throw new Failure(detail === undefined ? what : `${what}: ${detail}`);
}

/** An axios error (non-2xx) or any other throw, as one line. */
function describe(e) {
  if (e instanceof Failure) return e.message;
  if (e && e.response) {
    const body = e.response.data;
    const text = body && typeof body.pipe === "function" ? "<stream>" : safeJson(body);
    return `HTTP ${e.response.status} ${e.config ? e.config.method.toUpperCase() + " " + e.config.url : ""} -> ${text}`;
  }
  // A bug or a missing value from an earlier failed step: the error and where it was.
  const at = e && e.stack ? (e.stack.split("\n").find((l) => l.includes(".mjs:")) || "").trim() : "";
  return `${String(e)}${at ? " " + at : ""}`;
}

export async function step(name, fn) {
  sdkLog.length = 0;
  try {
    const out = await fn();
    counts.passed += 1;
    console.log(`ok: ${name}`);
    return out;
  } catch (e) {
    // A refused download's body is still a stream: read it, so that the envelope shows.
    if (e && e.response && e.response.data && typeof e.response.data.pipe === "function") {
      try {
        const raw = (await readAll(e.response.data)).toString("utf8");
        try {
          e.response.data = JSON.parse(raw);
        } catch {
          e.response.data = raw;
        }
      } catch {
        // keep the stream marker
      }
    }
    counts.failed += 1;
    console.log(`FAIL: ${name}: ${describe(e)}`);
    if (sdkLog.length && !(e instanceof Failure)) console.log("  " + sdkLog.slice(-4).join("\n  "));
    return undefined;
  }
}

/** A successful envelope's `data` (code 0), or a Failure naming the answer. */
export function okData(resp) {
  check(resp && resp.code === 0, "code 0", safeJson(resp));
  return resp.data;
}

/** A refused call: the SDK either throws (non-2xx) or resolves with the envelope. */
export async function refused(promise, code) {
  let body;
  let status = "2xx";
  try {
    body = await promise;
  } catch (e) {
    if (!e || !e.response) throw e;
    status = e.response.status;
    body = e.response.data;
  }
  check(body && body.code === code, `answers code ${code}`, `HTTP ${status} ${safeJson(body)}`);
  check(typeof body.msg === "string" && body.msg.length > 0, "the refusal has a msg", safeJson(body));
  return { status, body };
}

export async function admin(method, path, body) {
  const r = await fetch(`${BASE}/admin/v1${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`admin ${method} ${path}: HTTP ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function readAll(stream) {
  const parts = [];
  for await (const chunk of stream) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A real 4x4 RGB PNG, made here: signature, IHDR, one zlib IDAT, IEND. */
export function makePng() {
  const table = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const crc32 = (buf) => {
    let c = -1;
    for (const b of buf) c = table[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ -1) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const w = 4;
  const h = 4;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, no filter, no interlace
  const rows = [];
  for (let y = 0; y < h; y++) {
    rows.push(0); // filter: none
    for (let x = 0; x < w; x++) rows.push(x * 60, y * 60, 200);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", zlib.deflateSync(Buffer.from(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

export const text = (s) => JSON.stringify({ text: s });
export const contentOf = (item) => JSON.parse(item.body.content);
