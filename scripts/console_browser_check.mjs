// The console in a real headless Chromium (Debian's), driven by playwright-core, against a
// running `switchboard demo`: sign-in, acting as a user in a group with a bot, a bot reply
// sent through the Feishu API appearing live, reply, edit, recall, the Inspector's four
// dialects, deliveries with Redeliver, sign-out, keyboard use, and screenshots at 1280 and
// 390 pixels wide. Finds everything by the accessible names the console promises.
//
// Usage: node console_browser_check.mjs BASE_URL ADMIN_TOKEN SCREENSHOT_DIR
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { createServer } from "node:http";

const [base, adminToken, shots] = process.argv.slice(2);
mkdirSync(shots, { recursive: true });
let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message.split("\n").slice(0, 6).join("\n     ")}`);
  }
}

function ensure(cond, what) {
  if (!cond) throw new Error(what);
}

async function admin(method, path, body) {
  const res = await fetch(`${base}/admin/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

// The demo's world: tenant, Alice, the bot and the group it is in.
const tenant = (await admin("GET", "/tenants")).items[0];
const bot = (await admin("GET", `/tenants/${tenant.id}/apps`)).items[0];
const secret = (await admin("GET", `/tenants/${tenant.id}/apps/${bot.id}/secret`)).app_secret;
const group = (await admin("GET", `/tenants/${tenant.id}/chats`)).items.find((c) => c.name === "Demo group");
// The bot hears of messages over Feishu's long connection; no client holds one, so each
// delivery stays open with its attempts: the Deliveries page has rows to show.
await admin("PUT", `/tenants/${tenant.id}/apps/${bot.id}/events/feishu`, {
  mode: "long_connection",
  event_types: ["im.message.receive_v1"],
});

// The bot's Hi webhook: echoes the URL-verification challenge, answers 200 to events.
const received = [];
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", () => {
    received.push({ headers: req.headers, body });
    let challenge;
    try { challenge = JSON.parse(body).challenge; } catch (_) { challenge = undefined; }
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(challenge ? { challenge } : { ok: true }));
  });
});
await new Promise((r) => receiver.listen(0, "127.0.0.1", r));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hi-events`;

async function botSays(text) {
  const t = await fetch(`${base}/open-apis/auth/v3/tenant_access_token/internal`, {
    method: "POST",
    headers: { "Content-Type": "application/json; charset=utf-8" },
    body: JSON.stringify({ app_id: bot.app_id, app_secret: secret }),
  }).then((r) => r.json());
  const res = await fetch(`${base}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${t.tenant_access_token}`,
      "Content-Type": "application/json; charset=utf-8",
    },
    body: JSON.stringify({ receive_id: group.dialect_ids.lark, msg_type: "text", content: JSON.stringify({ text }) }),
  }).then((r) => r.json());
  ensure(res.code === 0, `the Feishu send failed: ${JSON.stringify(res)}`);
  return res.data.message_id;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(5000);
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(e.message));

async function shoot(name) {
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: width === 390 ? 844 : 900 });
    await page.screenshot({ path: `${shots}/${name}-${width}.png`, fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

const timeline = () => page.locator("#timeline");
const article = (text) => timeline().getByRole("article").filter({ hasText: text });

await check("no session: the console sends the browser to sign-in", async () => {
  await page.goto(`${base}/console/playground`);
  ensure(page.url().includes("/console/sign-in"), `landed on ${page.url()}`);
  await page.getByLabel("Admin token").waitFor();
  await shoot("sign-in");
});

await check("a wrong admin token is refused", async () => {
  await page.getByLabel("Admin token").fill("not-the-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not the admin token" }).waitFor();
});

await check("sign in with the admin token", async () => {
  await page.getByLabel("Admin token").fill(adminToken);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/console\/playground/);
  for (const name of ["Playground", "Admin", "Deliveries", "Inspector"]) {
    await page.getByRole("link", { name, exact: true }).waitFor();
  }
  await page.getByRole("button", { name: "Sign out" }).waitFor();
});

await check("Admin: subscribe the bot's Hi webhook; saving verifies the URL", async () => {
  await page.goto(`${base}/console/admin/app?tenant=${tenant.id}&app=${bot.id}`);
  await page.getByLabel("Dialect").selectOption("hi");
  await page.getByLabel("Mode").selectOption("webhook");
  await page.getByLabel("Request URL (webhook)").fill(hookUrl);
  await page.getByLabel(/Event types/).fill("im.message.receive");
  await page.getByRole("button", { name: "Verify URL and save" }).click();
  await page.getByRole("status").filter({ hasText: "answered the challenge" }).waitFor();
  ensure(received.some((r) => r.body.includes("url_verification")), "the receiver saw the challenge");
  await page.getByRole("cell", { name: hookUrl }).waitFor();
  await page.goto(`${base}/console/playground`);
});

await check("pick the tenant and act as Alice; the change applies at once", async () => {
  await page.getByLabel("Tenant").selectOption({ label: tenant.name });
  await page.getByLabel("Acting as").selectOption({ label: "Bob (bob)" });
  await page.waitForURL(/as=2/);
  await page.getByLabel("Acting as").selectOption({ label: "Alice (alice)" });
  await page.waitForURL(/as=1/);
  await page.getByRole("link", { name: "Demo group", exact: true }).click();
  await page.waitForURL(/chat=/);
  await page.getByRole("heading", { name: /Demo group/ }).waitFor();
  ensure((await page.locator(".chats").textContent()).includes("bots: Demo Bot"), "the chat list names the bot");
});

const stamp = Date.now().toString(36);
const hello = `hello bot ${stamp}`;
await check("send a message into the group, with a mention", async () => {
  await page.getByLabel("Message", { exact: true }).fill(`${hello} @`);
  await page.getByLabel("Message", { exact: true }).fill(hello + " ");
  await page.getByLabel("Mention").selectOption({ label: "Demo Bot" });
  ensure((await page.getByLabel("Message", { exact: true }).inputValue()).endsWith("@Demo Bot "), "the mention went into the text");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await article(hello).waitFor();
  ensure((await article(hello).textContent()).includes("@Demo Bot"), "the mention is shown");
  const stored = await admin("GET", `/tenants/${tenant.id}/chats/${group.id}/messages?before_position=1000000&limit=1`);
  ensure(stored.items[0].mentions.length === 1 && stored.items[0].mentions[0].type === "app", `stored mentions: ${JSON.stringify(stored.items[0].mentions)}`);
});

let botMessage;
let eventPage = "/console/deliveries";
const pong = `pong from the bot ${stamp}`;
await check("a bot reply sent through the Feishu API appears without a reload, within a second", async () => {
  await page.evaluate(() => { window.__noReload = true; });
  const sent = Date.now();
  botMessage = await botSays(pong);
  await article(pong).waitFor({ timeout: 1000 });
  const took = Date.now() - sent;
  ensure(await page.evaluate(() => window.__noReload === true), "the page was reloaded");
  ensure((await article(pong).textContent()).includes("Demo Bot"), "the bot is named as the sender");
  console.log(`     (shown ${took} ms after the send)`);
  await shoot("playground");
});

const answer = `thanks bot ${stamp}`;
await check("reply to the bot's message, quoting it", async () => {
  await article(pong).getByRole("button", { name: "Reply" }).click();
  await page.locator("#replying").getByText(pong).waitFor();
  await page.getByLabel("Message", { exact: true }).fill(answer);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await article(answer).waitFor();
  await article(answer).locator("blockquote").filter({ hasText: pong }).waitFor();
  ensure(await page.locator("#replying").isHidden(), "the composer left reply mode");
});

const edited = `hello bot, edited ${stamp}`;
await check("edit a message", async () => {
  await article(hello).getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Edit message").fill(edited);
  await page.getByRole("button", { name: "Save" }).click();
  await article(edited).waitFor();
  await article(edited).getByText("edited", { exact: true }).waitFor();
});

await check("recall a message", async () => {
  const id = await article(answer).getAttribute("data-id");
  await article(answer).getByRole("button", { name: "Recall" }).click();
  await timeline().locator(`article[data-id="${id}"]`).filter({ hasText: "This message was recalled." }).waitFor();
  ensure((await article(answer).count()) === 0, "the recalled text is gone");
  const bots = article(pong).filter({ hasNot: page.locator("blockquote") });
  ensure((await bots.getByRole("button", { name: "Recall" }).count()) === 0, "no Recall on the bot's message");
  await bots.getByRole("button", { name: "Inspect" }).waitFor();
});

await check("the keyboard alone sends a message (Tab to the box, Enter to send)", async () => {
  const typed = `typed ${stamp}`;
  await page.getByLabel("Message", { exact: true }).focus();
  await page.keyboard.type(typed);
  await page.keyboard.press("Enter");
  await article(typed).waitFor();
});

await check("Inspect shows the events delivered to the bot for a message", async () => {
  await article(edited).getByRole("button", { name: "Inspect" }).click();
  await page.waitForURL(/\/console\/messages/);
  await page.getByRole("cell", { name: "im.message.receive_v1" }).first().waitFor();
  await page.getByRole("link", { name: "Open in the Inspector" }).waitFor();
});

await check("the Inspector shows one message in all four dialects, each with a curl", async () => {
  await page.getByRole("link", { name: "Inspector", exact: true }).click();
  await page.getByLabel("Message id").fill(botMessage);
  ensure((await page.getByLabel("As app").inputValue()) !== null, "As app is there");
  await page.getByRole("button", { name: "Show" }).click();
  await page.waitForURL(/inspector\?id=/);
  ensure((await page.getByLabel("As app").locator("option:checked").textContent()).startsWith("Demo Bot"), "As app defaults to the chat's bot");
  for (const heading of ["WPS 365 v7", "BOSS Hi", "Feishu v1", "Yunxin v2"]) {
    const region = page.getByRole("region", { name: heading, exact: true });
    const text = await region.textContent();
    ensure(text.includes("HTTP 200"), `${heading}: ${text.slice(0, 300)}`);
    ensure(text.includes(pong), `${heading} shows the message's text`);
    ensure(text.includes("curl -s"), `${heading} has a curl`);
  }
  const feishu = await page.getByRole("region", { name: "Feishu v1" }).locator("pre.json").textContent();
  ensure(feishu.includes(`"message_id": "${botMessage}"`), "the Feishu pane is the Feishu answer");
  await shoot("inspector");
});

// The last `curl -s 'URL'` of a pane's curl text, with the `-H` lines under it.
async function curlOf(heading) {
  const text = await page.getByRole("region", { name: heading, exact: true }).locator("pre.curl").textContent();
  const lines = text.split("\n");
  let at = -1;
  lines.forEach((l, i) => { if (/^curl -s '[^']+'/.test(l)) at = i; });
  ensure(at >= 0, `${heading}: no curl in ${text}`);
  const url = lines[at].match(/^curl -s '([^']+)'/)[1];
  const headers = {};
  for (const l of lines.slice(at + 1)) {
    const h = l.match(/^\s+-H '([^:]+): ([^']*)'/);
    if (!h) break;
    headers[h[1]] = h[2];
  }
  return { url, headers };
}

await check("each dialect's curl from the Inspector works from outside", async () => {
  const feishu = await curlOf("Feishu v1");
  const f = await fetch(feishu.url, { headers: feishu.headers }).then((r) => r.json());
  ensure(f.code === 0 && f.data.items[0].message_id === botMessage, JSON.stringify(f).slice(0, 200));
  const hi = await curlOf("BOSS Hi");
  const h = await fetch(hi.url, { headers: hi.headers }).then((r) => r.json());
  ensure(h.code === 0 && JSON.stringify(h).includes(botMessage), JSON.stringify(h).slice(0, 200));
  // KSO-1 signed for the current minute: still inside the signature's skew.
  const wps = await curlOf("WPS 365 v7");
  const w = await fetch(wps.url, { headers: wps.headers }).then((r) => r.json());
  ensure(w.code === 0 && JSON.stringify(w).includes(pong), JSON.stringify(w).slice(0, 200));
  // A Yunxin nonce works once: the curl's own, unused by the page.
  const yx = await curlOf("Yunxin v2");
  const y = await fetch(yx.url, { headers: yx.headers }).then((r) => r.json());
  ensure(y.code === 200 && y.data.text === pong, JSON.stringify(y).slice(0, 200));
  const again = await fetch(yx.url, { headers: yx.headers }).then((r) => r.json());
  ensure(again.code !== 200, `a replayed nonce is refused: ${JSON.stringify(again).slice(0, 200)}`);
});

await check("Deliveries lists the events, each row with Redeliver", async () => {
  await page.getByRole("link", { name: "Deliveries", exact: true }).click();
  const rows = page.locator("#deliveries tbody tr");
  await rows.first().waitFor();
  // A group message is an event for a bot it mentions (without im:message.group_msg).
  ensure((await rows.count()) >= 1, `rows: ${await rows.count()}`);
  await page.getByRole("cell", { name: "im.message.receive_v1" }).first().waitFor();
  ensure((await rows.first().getByRole("button", { name: "Redeliver" }).count()) === 1, "Redeliver on the row");
  await shoot("deliveries");
  await rows.first().getByRole("button", { name: "Redeliver" }).click();
  await page.getByRole("status").filter({ hasText: "queued again" }).waitFor();
});

await check("the deliveries tail shows a new event live", async () => {
  const before = await page.locator("#deliveries tbody tr").count();
  await admin("POST", `/tenants/${tenant.id}/chats/${group.id}/messages`, {
    sender: { type: "user", id: "carol" }, type: "text",
    content: { text: `<at id="1">Demo Bot</at> from carol ${stamp}` },
    mentions: [{ key: "1", type: "app", id: bot.id, name: "Demo Bot" }],
  });
  await page.waitForFunction((n) => document.querySelectorAll("#deliveries tbody tr").length > n, before, { timeout: 4000 });
});

await check("an event's page shows the exact request sent and the receiver's answer", async () => {
  const row = page.locator("#deliveries tbody tr").filter({ has: page.getByRole("cell", { name: "hi", exact: true }) }).first();
  await row.locator("summary").click();
  await row.getByRole("link", { name: "Requests and answers" }).click();
  await page.waitForURL(/deliveries\/event/);
  eventPage = new URL(page.url()).pathname + new URL(page.url()).search;
  const first = page.getByRole("region", { name: /^Attempt 1: 200/ });
  await first.waitFor();
  await first.getByText(`POST ${hookUrl}`).waitFor();
  const headers = await first.locator("tbody").textContent();
  for (const h of ["X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"]) {
    ensure(headers.includes(h), `header ${h} is listed: ${headers.slice(0, 300)}`);
  }
  const events = received.filter((r) => r.body.includes("im.message.receive"));
  ensure(events.length > 0, "the receiver got events");
  ensure(events.some((r) => headers.includes(r.headers["x-lark-signature"])), "the signature shown is one the receiver got");
  ensure((await first.textContent()).includes("Body as sent"), "the body is shown");
  await shoot("delivery");
});

await check("Admin: tenants, a tenant's users, apps and chats, an app's secret revealed on demand", async () => {
  await page.getByRole("link", { name: "Admin", exact: true }).click();
  await page.getByRole("link", { name: tenant.name }).click();
  await page.getByRole("heading", { name: "Users" }).waitFor();
  await shoot("admin-tenant");
  await page.getByRole("link", { name: "Demo Bot" }).click();
  ensure(!(await page.content()).includes(secret), "the secret is hidden until revealed");
  await page.getByRole("button", { name: "Reveal secret" }).click();
  await page.locator("#secret").filter({ hasText: secret }).waitFor();
  await shoot("admin-app");
});

await check("Admin: a scope revoked takes effect at once", async () => {
  await page.goto(`${base}/console/admin/app?tenant=${tenant.id}&app=${bot.id}`);
  const scopes = await page.getByLabel(/Scopes granted/).inputValue();
  await page.getByLabel(/Scopes granted/).fill(scopes.split("\n").filter((s) => s !== "im:message").join("\n"));
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  let refused = false;
  try { await botSays("should be refused"); } catch (e) { refused = /99991672|scope|permission|code/.test(e.message); }
  ensure(refused, "the send without im:message was not refused");
  await page.getByLabel(/Scopes granted/).fill(scopes);
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  await botSays("allowed again");
});

await check("Admin: add and remove a chat member", async () => {
  await admin("POST", `/tenants/${tenant.id}/users`, { name: `Dave ${stamp}` });
  await page.goto(`${base}/console/admin/chat?tenant=${tenant.id}&chat=${group.id}`);
  const before = await page.locator("tbody tr").count();
  await page.getByLabel("Add member").selectOption({ label: `Dave ${stamp} (user)` });
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByRole("status").filter({ hasText: "Member added" }).waitFor();
  ensure((await page.locator("tbody tr").count()) === before + 1, "one more member");
  await page.getByRole("row").filter({ hasText: `Dave ${stamp}` }).getByRole("button", { name: /Remove/ }).click();
  await page.getByRole("status").filter({ hasText: "Member removed" }).waitFor();
  ensure((await page.locator("tbody tr").count()) === before, "back to the members before");
});

await check("the pages fit a 390-pixel screen without sideways scrolling", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const pages = [
    `/console/playground?tenant=${tenant.id}&as=1&chat=${group.id}`,
    `/console/inspector?id=${botMessage}`,
    "/console/admin",
    `/console/admin/tenant?tenant=${tenant.id}`,
    `/console/admin/app?tenant=${tenant.id}&app=${bot.id}`,
    `/console/deliveries?tenant=${tenant.id}&app=${bot.id}`,
    eventPage,
  ];
  for (const path of pages) {
    await page.goto(base + path);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    ensure(wide <= 390, `${path} is ${wide} px wide`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
});

await check("sign out ends the session", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/sign-in/);
  await page.goto(`${base}/console/playground`);
  ensure(page.url().includes("/console/sign-in"), `after sign-out: ${page.url()}`);
});

await check("no script error on any page", async () => {
  ensure(consoleErrors.length === 0, consoleErrors.join("; "));
});

await browser.close();
receiver.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
