// The official Feishu Node SDK (@larksuiteoapi/node-sdk), unmodified, against a running
// Switchboard: as a client (`lark.Client`) and as the receiver of its events (`WSClient`,
// Feishu's long connection).
//
// Usage: node lark_node_check.mjs BASE_URL ADMIN_TOKEN
// (with the SDK resolvable: NODE_PATH=<dir>/node_modules, as scripts/lark-node-check.sh sets.)
//
// Provisions tenants, users, apps and chats through the admin API (plain fetch), then uses
// only the SDK's public API with `domain: BASE_URL`; nothing in the SDK is patched. The
// calls never carry a token from the script: the SDK fetches one on the first call and
// caches it (one step also asks for one explicitly and uses it with `withTenantToken`).
// Each step is one SDK call and the assertions on its answer; a failing step
// prints `FAIL: <step>` with what was expected and what came back, and the run goes on.
// The last line is `N passed, N failed`; the exit status is non-zero when any step failed.
//
// How the SDK reads answers (this shapes the checks): JSON calls resolve to the whole
// envelope `{code, msg, data}` when the HTTP status is 2xx and throw axios' error when it
// is not (the envelope is then `err.response.data`); `image.create` / `file.create` resolve
// to the envelope's `data` alone; downloads resolve to `{getReadableStream, writeFile,
// headers}` over the raw body.

import { createRequire } from "node:module";
import { randomUUID } from "node:crypto";

import {
  admin,
  check,
  contentOf,
  counts,
  logger,
  makePng,
  okData,
  readAll,
  refused,
  safeJson,
  step,
  text,
} from "./node/harness.mjs";
import { receiver } from "./node/receiver.mjs";

const require = createRequire(import.meta.url);
const lark = require("@larksuiteoapi/node-sdk");

const BASE = (process.argv[2] || "").replace(/\/+$/, "");
const ADMIN_TOKEN = process.argv[3] || "";
if (!BASE || !ADMIN_TOKEN) {
  console.error("usage: lark_node_check.mjs BASE_URL ADMIN_TOKEN");
  process.exit(2);
}

// --- the world, through the admin API --------------------------------------------------------

const tenant = await admin("POST", "/tenants", { name: "node-sdk check" });
const t = tenant.id;
const alice = await admin("POST", `/tenants/${t}/users`, { name: "Alice", user_id: "alice" });
const bob = await admin("POST", `/tenants/${t}/users`, { name: "Bob", user_id: "bob" });
const bot = await admin("POST", `/tenants/${t}/apps`, { name: "Node SDK bot" });
const group = await admin("POST", `/tenants/${t}/chats`, {
  type: "group",
  name: "Node SDK room",
  owner: { type: "user", id: alice.id },
  members: [{ type: "app", id: bot.id }],
});
const chatId = group.dialect_ids.lark;
const appId = bot.app_id;
const aliceUnion = alice.dialect_ids.lark.union_id;
const bobUnion = bob.dialect_ids.lark.union_id;

const client = new lark.Client({
  appId,
  appSecret: bot.app_secret,
  appType: lark.AppType.SelfBuild,
  domain: BASE,
  loggerLevel: lark.LoggerLevel.trace,
  logger,
});
const im = client.im;

// --- messages --------------------------------------------------------------------------------

const sendUuid = randomUUID();
const sendText = () =>
  im.message.create({
    params: { receive_id_type: "chat_id" },
    data: { receive_id: chatId, msg_type: "text", content: text("hello from the node sdk"), uuid: sendUuid },
  });

const first = await step("send a text (the SDK fetches the tenant token first)", async () => {
  const d = okData(await sendText());
  check(/^om_/.test(d.message_id), "message_id is om_", d.message_id);
  check(d.chat_id === chatId, "sent into the chat", d.chat_id);
  check(d.msg_type === "text", "msg_type text", d.msg_type);
  check(d.sender && d.sender.sender_type === "app" && d.sender.id === appId, "sent by the app", safeJson(d.sender));
  check(safeJson(JSON.parse(d.body.content)) === text("hello from the node sdk"), "content", d.body.content);
  return d;
});
const mid = first && first.message_id;

await step("send the same uuid again: the same message", async () => {
  const d = okData(await sendText());
  check(d.message_id === mid, "deduplicated by uuid", `${d.message_id} vs ${mid}`);
});

await step("the tenant token is cached by the SDK", async () => {
  // The SDK keeps it in its module cache under the app id; a call resolving it again
  // must not need the network (the same string comes back).
  const a = await client.tokenManager.getTenantAccessToken();
  const b = await client.tokenManager.getTenantAccessToken();
  check(typeof a === "string" && a.startsWith("t-") && a === b, "a t- token, cached", `${a} ${b}`);
});

await step("tenant_access_token/internal, asked for explicitly", async () => {
  const r = await client.auth.tenantAccessToken.internal({ data: { app_id: appId, app_secret: bot.app_secret } });
  check(r.code === 0 && /^t-/.test(r.tenant_access_token), "a t- token at the top level", safeJson(r));
  // The SDK caches it for `expire` seconds less three minutes.
  check(Number.isInteger(r.expire) && r.expire > 180, "expire leaves the SDK's margin", r.expire);
  // ...and a call made with it (`withTenantToken`) goes through.
  const d = okData(await im.message.get({ path: { message_id: mid } }, lark.withTenantToken(r.tenant_access_token)));
  check(d.items[0].message_id === mid, "a call with withTenantToken", safeJson(d));
});

await step("a wrong app secret: the SDK's own token fetch fails with the server's code", async () => {
  const other = await admin("POST", `/tenants/${t}/apps`, { name: "Node SDK wrong secret" });
  const wrong = new lark.Client({ appId: other.app_id, appSecret: "not-the-secret", domain: BASE, logger });
  let err;
  try {
    await wrong.im.message.get({ path: { message_id: mid } });
  } catch (e) {
    err = e;
  }
  check(err, "the call throws");
  // A 2xx refusal reaches the SDK's own check ("failed to get tenant_access_token, code:
  // …"); a 4xx one comes as axios' error with the envelope.
  const code = err.response ? err.response.data && err.response.data.code : (/code: (\d+)/.exec(err.message) || [])[1];
  check(Number(code) === 10014, "code 10014 (app secret invalid)",
    err.response ? `HTTP ${err.response.status} ${safeJson(err.response.data)}` : err.message);
});

const post = await step("send a post", async () => {
  const body = {
    zh_cn: {
      title: "Node SDK post",
      content: [[{ tag: "text", text: "rich " }, { tag: "a", text: "link", href: "https://example.com/" }]],
    },
  };
  const d = okData(
    await im.message.create({
      params: { receive_id_type: "chat_id" },
      data: { receive_id: chatId, msg_type: "post", content: JSON.stringify(body) },
    }),
  );
  check(d.msg_type === "post", "msg_type post", d.msg_type);
  const c = JSON.parse(d.body.content);
  const b = c.zh_cn || c;
  check(b.title === "Node SDK post", "the title round-trips", d.body.content);
  const flat = JSON.stringify(b.content);
  check(flat.includes("rich") && flat.includes("https://example.com/"), "the nodes round-trip", d.body.content);
  return d;
});

const png = makePng();
const imageKey = await step("upload an image (im.image.create, a PNG made in memory)", async () => {
  const d = await im.image.create({ data: { image_type: "message", image: png } });
  check(d && /^img_/.test(d.image_key), "the SDK hands back data.image_key", safeJson(d));
  return d.image_key;
});

await step("download the image (im.image.get)", async () => {
  const r = await im.image.get({ path: { image_key: imageKey } });
  const got = await readAll(r.getReadableStream());
  check(got.equals(png), "byte for byte", `${got.length} bytes vs ${png.length}`);
  check(/^image\/png/.test(r.headers["content-type"] || ""), "content-type image/png", r.headers["content-type"]);
});

const image = await step("send the image", async () => {
  const d = okData(
    await im.message.create({
      params: { receive_id_type: "chat_id" },
      data: { receive_id: chatId, msg_type: "image", content: JSON.stringify({ image_key: imageKey }) },
    }),
  );
  check(d.msg_type === "image" && JSON.parse(d.body.content).image_key === imageKey, "image content", d.body.content);
  return d;
});

await step("get the text", async () => {
  const d = okData(await im.message.get({ path: { message_id: mid } }));
  check(Array.isArray(d.items) && d.items.length === 1, "one item", safeJson(d));
  const it = d.items[0];
  check(it.message_id === mid && it.chat_id === chatId, "ids");
  check(contentOf(it).text === "hello from the node sdk", "content", it.body.content);
  check(it.msg_type === "text" && it.deleted === false && it.updated === false, "type and flags", safeJson(it));
  check(Number(it.create_time) > 1e12, "create_time in ms", it.create_time);
});

await step("get an unknown message: 230001", async () => {
  await refused(im.message.get({ path: { message_id: "om_nope" } }), 230001);
});

const reply = await step("reply", async () => {
  const d = okData(
    await im.message.reply({ path: { message_id: mid }, data: { msg_type: "text", content: text("a reply") } }),
  );
  check(d.root_id === mid && d.parent_id === mid, "points at its parent", `${d.root_id} ${d.parent_id}`);
  check(contentOf(d).text === "a reply", "content", d.body.content);
  return d;
});

await step("edit (im.message.update)", async () => {
  const d = okData(
    await im.message.update({ path: { message_id: mid }, data: { msg_type: "text", content: text("edited") } }),
  );
  check(d.message_id === mid, "the same message", d.message_id);
  const it = okData(await im.message.get({ path: { message_id: mid } })).items[0];
  check(contentOf(it).text === "edited" && it.updated === true, "the edit reads back", safeJson(it));
});

await step("recall the reply (im.message.delete)", async () => {
  okData(await im.message.delete({ path: { message_id: reply.message_id } }));
  const it = okData(await im.message.get({ path: { message_id: reply.message_id } })).items[0];
  check(it.deleted === true, "reads as deleted", safeJson(it));
});

const forwarded = await step("forward", async () => {
  const d = okData(
    await im.message.forward({
      path: { message_id: mid },
      params: { receive_id_type: "chat_id" },
      data: { receive_id: chatId },
    }),
  );
  check(/^om_/.test(d.message_id) && d.message_id !== mid, "a new message", d.message_id);
  check(d.chat_id === chatId && d.msg_type === "text", "text in the chat", safeJson(d));
  check(contentOf(d).text === "edited", "the content forwarded", d.body.content);
  return d;
});

await step("merge forward", async () => {
  const d = okData(
    await im.message.mergeForward({
      params: { receive_id_type: "chat_id", uuid: randomUUID() },
      data: { receive_id: chatId, message_id_list: [mid, post.message_id, "om_nope"] },
    }),
  );
  check(d.message && d.message.msg_type === "merge_forward", "a merge_forward message", safeJson(d));
  check(safeJson(d.invalid_message_id_list) === safeJson(["om_nope"]), "the bad id is listed", safeJson(d));
  const got = okData(await im.message.get({ path: { message_id: d.message.message_id } })).items;
  check(got[0].message_id === d.message.message_id, "the container first", safeJson(got[0]));
  const subs = got.slice(1);
  check(subs.length === 2 && subs.every((s) => s.upper_message_id === d.message.message_id),
    "its two messages follow, under it", safeJson(subs.map((s) => [s.msg_type, s.upper_message_id])));
});

await step("send a card and patch it (im.message.patch)", async () => {
  const card = (s) => JSON.stringify({
    config: { wide_screen_mode: true },
    elements: [{ tag: "div", text: { tag: "plain_text", content: s } }],
  });
  const sent = okData(
    await im.message.create({
      params: { receive_id_type: "chat_id" },
      data: { receive_id: chatId, msg_type: "interactive", content: card("card v1") },
    }),
  );
  check(sent.msg_type === "interactive", "msg_type interactive", sent.msg_type);
  okData(await im.message.patch({ path: { message_id: sent.message_id }, data: { content: card("card v2") } }));
  const it = okData(await im.message.get({ path: { message_id: sent.message_id } })).items[0];
  check(it.body.content.includes("card v2") && !it.body.content.includes("card v1"), "the patch reads back",
    it.body.content);
});

let userMsg;
await step("a user's message (sent through the admin API) reads by union_id", async () => {
  userMsg = await admin("POST", `/tenants/${t}/chats/${group.id}/messages`, {
    sender: { type: "user", id: alice.id },
    type: "text",
    content: { text: "hi bot" },
  });
  const it = okData(
    await im.message.get({ path: { message_id: userMsg.dialect_ids.lark }, params: { user_id_type: "union_id" } }),
  ).items[0];
  check(it.sender.sender_type === "user" && it.sender.id_type === "union_id" && it.sender.id === aliceUnion,
    "the sender is alice by union_id", safeJson(it.sender));
});

// --- history ---------------------------------------------------------------------------------

const history = (sort, page_token) =>
  im.message.list({
    params: { container_id_type: "chat", container_id: chatId, sort_type: sort, page_size: 2, page_token },
  });
let asc = [];
await step("history ByCreateTimeAsc in pages of 2 (page_token)", async () => {
  let token;
  for (let pages = 0; pages < 50; pages++) {
    const d = okData(await history("ByCreateTimeAsc", token));
    check(d.items.length <= 2, "at most page_size items", d.items.length);
    asc.push(...d.items.map((i) => i.message_id));
    if (!d.has_more) break;
    check(typeof d.page_token === "string" && d.page_token, "has_more brings a page_token", safeJson(d));
    token = d.page_token;
  }
  const want = [mid, post.message_id, image.message_id, reply.message_id, forwarded.message_id];
  want.push(userMsg.dialect_ids.lark);
  check(asc[0] === mid, "starts at the first message", safeJson(asc));
  check(want.every((m) => asc.includes(m)), "every message is listed (a recalled one too)", safeJson(asc));
  check(new Set(asc).size === asc.length, "no message twice", safeJson(asc));
});

await step("history ByCreateTimeDesc starts at the newest", async () => {
  const d = okData(await history("ByCreateTimeDesc"));
  const ids = d.items.map((i) => i.message_id);
  check(safeJson(ids) === safeJson(asc.slice().reverse().slice(0, 2)), "the newest two, newest first", safeJson(ids));
  check(d.has_more === true, "more to come", safeJson(d.has_more));
});

await step("history through the SDK's listWithIterator", async () => {
  const seen = [];
  const it = await im.message.listWithIterator({
    params: { container_id_type: "chat", container_id: chatId, sort_type: "ByCreateTimeAsc", page_size: 2 },
  });
  for await (const page of it) {
    check(page && Array.isArray(page.items), "each page has items", safeJson(page));
    seen.push(...page.items.map((i) => i.message_id));
  }
  check(safeJson(seen) === safeJson(asc), "the same list as by hand", `${safeJson(seen)} vs ${safeJson(asc)}`);
});

await step("history with a forged page_token: 230001", async () => {
  await refused(history("ByCreateTimeAsc", "forged"), 230001);
});

// --- chats and members -----------------------------------------------------------------------

const made = await step("create a chat (the bot owns it)", async () => {
  const d = okData(
    await im.chat.create({
      params: { user_id_type: "union_id" },
      data: { name: "Node made", user_id_list: [aliceUnion] },
    }),
  );
  check(/^oc_/.test(d.chat_id), "chat_id is oc_", d.chat_id);
  return d.chat_id;
});

await step("list chats in pages of 1", async () => {
  const p1 = okData(await im.chat.list({ params: { page_size: 1 } }));
  check(p1.has_more === true && p1.items.length === 1 && p1.items[0].chat_id === chatId, "page one: the first chat",
    safeJson(p1));
  const p2 = okData(await im.chat.list({ params: { page_size: 1, page_token: p1.page_token } }));
  check(p2.items.length === 1 && p2.items[0].chat_id === made && p2.has_more === false, "page two: the new chat",
    safeJson(p2));
});

await step("list chats through the SDK's listWithIterator (page_size 1)", async () => {
  const seen = [];
  for await (const page of await im.chat.listWithIterator({ params: { page_size: 1 } })) {
    check(page && Array.isArray(page.items), "each page has items", safeJson(page));
    seen.push(...page.items.map((c) => c.chat_id));
  }
  check(safeJson(seen) === safeJson([chatId, made]), "both chats, in order", safeJson(seen));
});

await step("get a chat", async () => {
  const d = okData(await im.chat.get({ path: { chat_id: made } }));
  check(d.name === "Node made" && d.owner_id === appId && d.owner_id_type === "app_id", "name and owner", safeJson(d));
  check(d.user_count === "1" && d.bot_count === "1", "counts as strings", `${d.user_count} ${d.bot_count}`);
});

await step("update a chat", async () => {
  okData(await im.chat.update({ path: { chat_id: made }, data: { name: "Node renamed", description: "by node" } }));
  const d = okData(await im.chat.get({ path: { chat_id: made } }));
  check(d.name === "Node renamed" && d.description === "by node", "the update reads back", safeJson(d));
});

await step("a plain member may not rename: 232002", async () => {
  await refused(im.chat.update({ path: { chat_id: chatId }, data: { name: "nope" } }), 232002);
});

await step("add members (one unusable id)", async () => {
  const d = okData(
    await im.chatMembers.create({
      path: { chat_id: made },
      params: { member_id_type: "union_id", succeed_type: 1 },
      data: { id_list: [bobUnion, "on_nobody"] },
    }),
  );
  check(safeJson(d.invalid_id_list) === safeJson(["on_nobody"]), "the unusable id is reported", safeJson(d));
});

await step("list members", async () => {
  const d = okData(await im.chatMembers.get({ path: { chat_id: made }, params: { member_id_type: "union_id" } }));
  check(d.member_total === 2, "two members", safeJson(d));
  check(safeJson(d.items.map((m) => m.name).sort()) === safeJson(["Alice", "Bob"]), "alice and bob", safeJson(d.items));
  check(d.items.every((m) => m.member_id_type === "union_id" && /^on_/.test(m.member_id)), "by union_id",
    safeJson(d.items));
});

await step("remove members", async () => {
  const d = okData(
    await im.chatMembers.delete({
      path: { chat_id: made },
      params: { member_id_type: "union_id" },
      data: { id_list: [bobUnion, "on_nobody"] },
    }),
  );
  check(safeJson(d.invalid_id_list) === safeJson(["on_nobody"]), "the unusable id is reported", safeJson(d));
  const left = okData(await im.chatMembers.get({ path: { chat_id: made } }));
  check(left.member_total === 1 && left.items[0].name === "Alice", "bob is gone", safeJson(left));
});

await step("is_in_chat", async () => {
  const d = okData(await im.chatMembers.isInChat({ path: { chat_id: made } }));
  check(d.is_in_chat === true, "the bot is in its chat", safeJson(d));
});

// --- reactions, pins, readers ----------------------------------------------------------------

const target = await step("send a message to react to and pin", async () => {
  return okData(
    await im.message.create({
      params: { receive_id_type: "chat_id" },
      data: { receive_id: chatId, msg_type: "text", content: text("react and pin me") },
    }),
  ).message_id;
});
const react = (emoji) =>
  im.messageReaction.create({ path: { message_id: target }, data: { reaction_type: { emoji_type: emoji } } });

const smile = await step("add a reaction", async () => {
  const d = okData(await react("SMILE"));
  check(d.reaction_type.emoji_type === "SMILE", "the emoji", safeJson(d));
  check(d.operator.operator_type === "app" && d.operator.operator_id === appId, "by the bot", safeJson(d.operator));
  check(Number(d.action_time) > 1e12, "action_time in ms", d.action_time);
  check(okData(await react("SMILE")).reaction_id === d.reaction_id, "the same emoji twice is one reaction");
  return d;
});
const thumbs = await step("add another reaction", async () => okData(await react("THUMBSUP")));

await step("an unknown emoji: 231001", async () => {
  await refused(react("NOT_AN_EMOJI"), 231001);
});

await step("list reactions in pages of 1, and filtered", async () => {
  const p1 = okData(await im.messageReaction.list({ path: { message_id: target }, params: { page_size: 1 } }));
  check(p1.has_more === true && safeJson(p1.items.map((i) => i.reaction_id)) === safeJson([smile.reaction_id]),
    "page one", safeJson(p1));
  const p2 = okData(
    await im.messageReaction.list({
      path: { message_id: target },
      params: { page_size: 1, page_token: p1.page_token },
    }),
  );
  check(p2.has_more === false && safeJson(p2.items.map((i) => i.reaction_id)) === safeJson([thumbs.reaction_id]),
    "page two", safeJson(p2));
  const only = okData(
    await im.messageReaction.list({ path: { message_id: target }, params: { reaction_type: "THUMBSUP" } }),
  );
  check(safeJson(only.items.map((i) => i.reaction_id)) === safeJson([thumbs.reaction_id]), "by reaction_type",
    safeJson(only));
});

await step("delete a reaction", async () => {
  const d = okData(
    await im.messageReaction.delete({ path: { message_id: target, reaction_id: smile.reaction_id } }),
  );
  check(d.reaction_id === smile.reaction_id, "the deleted reaction is answered", safeJson(d));
  const left = okData(await im.messageReaction.list({ path: { message_id: target } }));
  check(safeJson(left.items.map((i) => i.reaction_id)) === safeJson([thumbs.reaction_id]), "it is gone",
    safeJson(left));
});

const pin = await step("pin a message", async () => {
  const d = okData(await im.pin.create({ data: { message_id: target } }));
  const p = d.pin;
  check(p.message_id === target && p.chat_id === chatId, "the message and chat", safeJson(p));
  check(p.operator_id === appId && p.operator_id_type === "app_id", "by the bot", safeJson(p));
  return p;
});

await step("list pins", async () => {
  const d = okData(
    await im.pin.list({
      params: { chat_id: chatId, start_time: pin.create_time, end_time: pin.create_time, page_size: 10 },
    }),
  );
  check(safeJson(d.items.map((p) => p.message_id)) === safeJson([target]) && d.has_more === false, "the pin",
    safeJson(d));
});

await step("unpin", async () => {
  okData(await im.pin.delete({ path: { message_id: target } }));
  const d = okData(await im.pin.list({ params: { chat_id: chatId } }));
  check(!d.items || d.items.length === 0, "no pins left", safeJson(d));
});

await step("read users (after alice reads, through the admin API)", async () => {
  const pos = (await admin("GET", `/tenants/${t}/chats/${group.id}`)).last_position;
  await admin("POST", `/tenants/${t}/chats/${group.id}/read`, { user: "alice", position: pos });
  const d = okData(
    await im.message.readUsers({ path: { message_id: target }, params: { user_id_type: "union_id" } }),
  );
  check(safeJson(d.items.map((r) => r.user_id)) === safeJson([aliceUnion]), "alice", safeJson(d));
  check(d.items[0].user_id_type === "union_id" && Number(d.items[0].timestamp) > 0, "id type and time",
    safeJson(d.items[0]));
});

// --- files -----------------------------------------------------------------------------------

const doc = Buffer.concat([Buffer.from("%PDF-1.7\n"), Buffer.alloc(300 * 1024, 7), Buffer.from([0, 255, 128])]);
const docName = "季度报告.pdf";
const fileKey = await step("upload a file (im.file.create)", async () => {
  const d = await im.file.create({ data: { file_type: "pdf", file_name: docName, file: doc } });
  check(d && /^file_/.test(d.file_key), "the SDK hands back data.file_key", safeJson(d));
  return d.file_key;
});

await step("download the file (im.file.get)", async () => {
  const r = await im.file.get({ path: { file_key: fileKey } });
  const got = await readAll(r.getReadableStream());
  check(got.equals(doc), "byte for byte", `${got.length} bytes vs ${doc.length}`);
  // The SDK hands the headers over as they are and does not read the name. Feishu puts
  // the name's UTF-8 bytes inside `filename="…"`, and Node's HTTP parser reads header
  // bytes as Latin-1: turn them back into UTF-8 (an RFC 5987 `filename*` would do too).
  const cd = r.headers["content-disposition"] || "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  const plain = /filename="((?:[^"\\]|\\.)*)"/.exec(cd);
  const name = star
    ? decodeURIComponent(star[1])
    : plain && Buffer.from(plain[1].replace(/\\(.)/g, "$1"), "latin1").toString("utf8");
  check(name === docName, "the name in Content-Disposition", JSON.stringify(cd));
});

const fileMsg = await step("send the file", async () => {
  const d = okData(
    await im.message.create({
      params: { receive_id_type: "chat_id" },
      data: { receive_id: chatId, msg_type: "file", content: JSON.stringify({ file_key: fileKey }) },
    }),
  );
  check(d.msg_type === "file" && JSON.parse(d.body.content).file_key === fileKey, "file content", d.body.content);
  return d;
});

await step("message resource: the image (im.messageResource.get)", async () => {
  const r = await im.messageResource.get({
    path: { message_id: image.message_id, file_key: imageKey },
    params: { type: "image" },
  });
  const got = await readAll(r.getReadableStream());
  check(got.equals(png), "byte for byte", `${got.length} bytes`);
});

await step("message resource: the file", async () => {
  const r = await im.messageResource.get({
    path: { message_id: fileMsg.message_id, file_key: fileKey },
    params: { type: "file" },
  });
  const got = await readAll(r.getReadableStream());
  check(got.equals(doc), "byte for byte", `${got.length} bytes`);
});

await step("an empty image is refused: 234010", async () => {
  await refused(im.image.create({ data: { image_type: "message", image: Buffer.alloc(0) } }), 234010);
});

// --- the receiver: WSClient + EventDispatcher (scripts/node/receiver.mjs) ------------------

await receiver({ lark, BASE, t, alice, aliceUnion });

console.log(`${counts.passed} passed, ${counts.failed} failed`);
process.exit(counts.failed === 0 ? 0 : 1);
