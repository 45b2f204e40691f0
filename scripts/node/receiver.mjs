// The receiver half of scripts/lark_node_check.mjs: the Node SDK's `WSClient` with an
// `EventDispatcher` for `im.message.receive_v1`, against Switchboard's long connection.
//
// A second bot subscribes with `"mode": "long_connection"`; `WSClient` discovers the
// WebSocket at `${domain}/callback/ws/endpoint`, connects, and hands each event frame
// (joined from its fragments) to the `EventDispatcher`, acking 200, or 500 when the handler
// throws. scripts/lark-node-check.sh runs the server with small fragments and quick retries.

import { admin, check, logger, safeJson, sdkLog, sleep, step } from "./harness.mjs";

/** The long-connection steps, for a tenant `t` holding `alice`. */
export async function receiver({ lark, BASE, t, alice, aliceUnion }) {
  const wsBot = await admin("POST", `/tenants/${t}/apps`, { name: "Node WS bot" });
  const sub = await admin("PUT", `/tenants/${t}/apps/${wsBot.id}/events/feishu`, {
    mode: "long_connection",
    event_types: ["im.message.receive_v1"],
  });
  const p2p = await admin("POST", `/tenants/${t}/chats`, {
    type: "p2p",
    owner: { type: "user", id: alice.id },
    members: [{ type: "app", id: wsBot.id }],
  });
  const say = (s) =>
    admin("POST", `/tenants/${t}/chats/${p2p.id}/messages`, {
      sender: { type: "user", id: alice.id },
      type: "text",
      content: { text: s },
    });

  const received = [];
  let failOnce = "make the handler fail once";
  const dispatcher = new lark.EventDispatcher({ logger, loggerLevel: lark.LoggerLevel.trace }).register({
    "im.message.receive_v1": async (data) => {
      const said = JSON.parse(data.message.content).text;
      if (said === failOnce) {
        failOnce = null;
        received.push({ how: "raised", data });
        throw new Error("the handler fails the first time (the SDK acks 500)");
      }
      received.push({ how: "handled", data });
    },
  });

  async function nextEvent(ms = 15000) {
    for (let waited = 0; received.length === 0 && waited < ms; waited += 50) await sleep(50);
    check(received.length > 0, `an event reached the handler within ${ms / 1000}s`);
    return received.shift();
  }

  async function delivered(eventId) {
    for (let i = 0; i < 100; i++) {
      const log = await admin("GET", `/tenants/${t}/apps/${wsBot.id}/deliveries?limit=50`);
      const d = log.items.find((x) => x.event_id === eventId && x.status === "delivered");
      if (d) return d;
      await sleep(100);
    }
    check(false, `${eventId} delivered within 10s`);
  }

  await step("WSClient: a wrong secret stops with onError (discovery answers 514)", async () => {
    let error;
    const bad = new lark.WSClient({
      appId: wsBot.app_id,
      appSecret: "wrong",
      domain: BASE,
      logger,
      loggerLevel: lark.LoggerLevel.trace,
      onError: (e) => {
        error = e;
      },
    });
    try {
      await bad.start({ eventDispatcher: dispatcher });
      for (let i = 0; i < 100 && !error; i++) await sleep(50);
      const said = sdkLog.filter((l) => l.includes("[ws]")).slice(-4).join(" | ");
      check(error && /code=514/.test(error.message), "onError names code 514",
        error ? error.message : `no onError within 5s; the SDK said: ${said}`);
    } finally {
      bad.close({ force: true });
    }
  });

  let early;
  await step("an event while no client is connected waits", async () => {
    check(sub.mode === "long_connection", "subscribed", safeJson(sub));
    early = await say("before the client connects");
    await sleep(300);
    const log = (await admin("GET", `/tenants/${t}/apps/${wsBot.id}/deliveries`)).items;
    check(log.length === 1 && log[0].status !== "delivered", "pending", safeJson(log));
  });

  let ready = false;
  const ws = new lark.WSClient({
    appId: wsBot.app_id,
    appSecret: wsBot.app_secret,
    domain: BASE,
    logger,
    loggerLevel: lark.LoggerLevel.trace,
    autoReconnect: false,
    onReady: () => {
      ready = true;
    },
  });

  try {
    await step("WSClient connects (discovery, then the WebSocket)", async () => {
      await ws.start({ eventDispatcher: dispatcher });
      for (let i = 0; i < 200 && !ready; i++) await sleep(50);
      check(ready, "onReady within 10s", sdkLog.slice(-4).join(" | "));
    });

    await step("the event from before is dispatched once connected", async () => {
      const { how, data } = await nextEvent();
      check(how === "handled" && data.message.message_id === early.dialect_ids.lark, "that message",
        safeJson(data.message));
      const d = await delivered(data.event_id);
      check(d.mode === "long_connection" && d.attempts.at(-1).status === 200, "the SDK's ack shows as 200",
        safeJson(d));
    });

    await step("im.message.receive_v1 reaches the handler", async () => {
      const sent = await say("hello over the node long connection");
      const { data: e } = await nextEvent();
      // The SDK hands the handler the header's fields and the event's side by side.
      check(e.event_type === "im.message.receive_v1" && e.app_id === wsBot.app_id, "header fields", safeJson(e));
      check(typeof e.event_id === "string" && e.event_id.length === 32, "event_id", e.event_id);
      check(e.message.message_id === sent.dialect_ids.lark, "the message sent", e.message.message_id);
      check(JSON.parse(e.message.content).text === "hello over the node long connection", "its content",
        e.message.content);
      check(e.message.chat_type === "p2p" && e.message.chat_id === p2p.dialect_ids.lark, "in the p2p chat",
        safeJson(e.message));
      check(e.sender.sender_type === "user" && e.sender.sender_id.union_id === aliceUnion, "from alice",
        safeJson(e.sender));
      const d = await delivered(e.event_id);
      check(d.attempts.length === 1 && d.attempts[0].status === 200, "acked 200 at the first attempt", safeJson(d));
    });

    await step("a long event comes in fragments and reaches the handler whole", async () => {
      const long = "long ".repeat(2000);
      const sent = await say(long);
      const { data: e } = await nextEvent();
      check(e.message.message_id === sent.dialect_ids.lark && JSON.parse(e.message.content).text === long,
        "whole", `${e.message.content.length} bytes`);
      await delivered(e.event_id);
    });

    await step("a handler that throws: the SDK acks 500 and the event comes again", async () => {
      await say(failOnce);
      const first = await nextEvent();
      check(first.how === "raised", "the handler raised", first.how);
      const again = await nextEvent(20000);
      check(again.how === "handled" && again.data.event_id === first.data.event_id, "the same event_id again",
        `${first.data.event_id} / ${again.data.event_id}`);
      const d = await delivered(first.data.event_id);
      check(safeJson(d.attempts.map((a) => a.status)) === safeJson([500, 200]), "attempts 500 then 200",
        safeJson(d.attempts));
      await sleep(300);
      check(received.length === 0, "nothing twice after the ack", safeJson(received.map((r) => r.data.event_id)));
    });
  } finally {
    ws.close({ force: true });
  }
}
