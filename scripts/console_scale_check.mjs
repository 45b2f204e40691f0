// The console at scale, in headless Chromium: a user in 1,000 chats and a chat of 100,000
// messages (seeded by scripts/console-browser-check.sh). The chat list pages, the timeline
// opens at its last page and pages back by position, and a new message still arrives
// live; each page's load time is printed.
//
// Usage: node console_scale_check.mjs BASE_URL ADMIN_TOKEN TENANT CHAT SCREENSHOT_DIR
import { chromium } from "playwright-core";

const [base, adminToken, tenant, chat, shots] = process.argv.slice(2);
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

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
page.setDefaultTimeout(10000);

// The time from navigation to the page's load event.
async function timed(url) {
  const t0 = Date.now();
  await page.goto(url);
  return Date.now() - t0;
}
const positions = () => page.locator("#timeline article").evaluateAll((as) => as.map((a) => Number(a.dataset.position)));

await page.goto(`${base}/console/sign-in`);
await page.getByLabel("Admin token").fill(adminToken);
await page.getByRole("button", { name: "Sign in" }).click();
await page.waitForURL(/playground/);

await check("a user in 1,000 chats: the list shows 50 and pages on", async () => {
  const ms = await timed(`${base}/console/playground?tenant=${tenant}&as=1`);
  ensure((await page.locator(".chats li").count()) === 50, `${await page.locator(".chats li").count()} chats listed`);
  await page.getByRole("link", { name: "More chats" }).click();
  ensure((await page.locator(".chats li").count()) === 50, "the second page has 50 more");
  console.log(`     (chat list: ${ms} ms)`);
});

await check("a chat of 100,000 messages opens at its last page", async () => {
  const ms = await timed(`${base}/console/playground?tenant=${tenant}&as=1&chat=${chat}`);
  const p = await positions();
  ensure(p.length === 50 && p[0] === 99951 && p[49] === 100000, `positions ${p[0]}..${p[p.length - 1]} (${p.length})`);
  ensure(ms < 2000, `took ${ms} ms`);
  console.log(`     (last page of 100,000: ${ms} ms)`);
  await page.screenshot({ path: `${shots}/scale-1280.png` });
});

await check("Older messages pages back by position", async () => {
  const t0 = Date.now();
  await page.getByRole("link", { name: "Older messages" }).click();
  await page.waitForURL(/before=99951/);
  const p = await positions();
  ensure(p[0] === 99901 && p[49] === 99950, `positions ${p[0]}..${p[p.length - 1]}`);
  console.log(`     (one page back: ${Date.now() - t0} ms)`);
});

await check("a new message in the big chat arrives live", async () => {
  await page.goto(`${base}/console/playground?tenant=${tenant}&as=1&chat=${chat}`);
  await page.getByLabel("Message", { exact: true }).fill("number 100,001");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.locator('#timeline article[data-position="100001"]').filter({ hasText: "number 100,001" }).waitFor({ timeout: 2000 });
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
