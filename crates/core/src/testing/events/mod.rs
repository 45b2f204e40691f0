//! The event outbox's conformance cases: changes recorded with their writes, routing
//! rules, leases, order, the delivery log. Each runs on both stores.
//!
//! This module holds what the cases share: [`TestDialect`], the helpers over a [`Fixture`],
//! and [`OutboxWorld`] with the `outbox_*` helpers the stores' own tests use too.

mod changes;
mod deliveries;
mod heads;
mod leases;
mod routing;
mod subscriptions;

pub use changes::*;
pub use deliveries::*;
pub use heads::*;
pub use leases::*;
pub use routing::*;
pub use subscriptions::*;

use super::*;
use crate::events::route::{EventDialect, EventKind, Hearing, Outgoing};
use crate::events::*;
use crate::store::DeliveryLease;
use async_trait::async_trait;

/// A dialect for tests: event types are the kinds' names; group messages reach an app
/// that is mentioned or holds the scope `all`.
pub struct TestDialect;

#[async_trait]
impl EventDialect for TestDialect {
    fn name(&self) -> &'static str {
        "test"
    }
    fn event_types(&self) -> &'static [&'static str] {
        &[
            "received",
            "edited",
            "recalled",
            "bot_added",
            "bot_removed",
            "users_added",
            "users_removed",
            "disbanded",
        ]
    }
    fn event_type(&self, app: &App, h: &Hearing) -> Option<&'static str> {
        let message = matches!(
            h.kind,
            EventKind::MessageReceived | EventKind::MessageEdited | EventKind::MessageRecalled
        );
        if message && h.chat_kind != ChatKind::P2p && !h.mentioned && !app.has_scope("all") {
            return None;
        }
        Some(match h.kind {
            EventKind::MessageReceived => "received",
            EventKind::MessageEdited => "edited",
            EventKind::MessageRecalled => "recalled",
            EventKind::BotAdded => "bot_added",
            EventKind::BotRemoved => "bot_removed",
            EventKind::UsersAdded => "users_added",
            EventKind::UsersRemoved => "users_removed",
            EventKind::ChatDisbanded => "disbanded",
        })
    }
    async fn render(&self, _: &Subscription, d: &Delivery) -> Result<Vec<u8>, String> {
        Ok(d.event_id.clone().into_bytes())
    }
    fn webhook(&self, _: &Subscription, _: &App, plain: &[u8], _: Millis) -> Outgoing {
        Outgoing {
            headers: vec![],
            body: plain.to_vec(),
        }
    }
    fn challenge(&self, _: &Subscription, _: &App, c: &str, _: Millis) -> Outgoing {
        Outgoing {
            headers: vec![],
            body: c.as_bytes().to_vec(),
        }
    }
    fn challenge_answered(&self, c: &str, body: &[u8]) -> bool {
        body == c.as_bytes()
    }
}

fn dialects() -> Vec<Arc<dyn EventDialect>> {
    vec![Arc::new(TestDialect)]
}

const ALL_TYPES: &[&str] = &[
    "received",
    "edited",
    "recalled",
    "bot_added",
    "bot_removed",
    "users_added",
    "users_removed",
    "disbanded",
];

async fn subscribe(f: &Fixture, app: AppId, types: &[&str]) -> Subscription {
    f.core
        .subscribe(SubscribeCmd {
            tenant: f.tenant.id,
            app,
            dialect: "test".into(),
            mode: Mode::Webhook,
            url: "http://127.0.0.1:9/hook".into(),
            encrypt_key: String::new(),
            verification_token: "vt".into(),
            event_types: types.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap()
}

/// Drains the outbox as one owner; returns every change it routed, in order.
async fn drain_changes(store: &Arc<dyn Store>, owner: &str) -> Vec<Change> {
    let mut out = Vec::new();
    loop {
        let got = store
            .lease_changes(owner, 1000, 0, i64::MAX / 2)
            .await
            .unwrap();
        if got.is_empty() {
            return out;
        }
        let seqs: Vec<i64> = got.iter().map(|c| c.seq).collect();
        store.route_changes(owner, &seqs, vec![]).await.unwrap();
        out.extend(got);
    }
}

async fn route_all(f: &Fixture) {
    while f
        .core
        .route_changes("router", &dialects(), 100, 30_000)
        .await
        .unwrap()
        > 0
    {}
}

async fn deliveries_of(f: &Fixture, app: AppId) -> Vec<Delivery> {
    let q = DeliveryQuery {
        tenant: f.tenant.id,
        app,
        status: None,
        event_type: None,
        before: None,
        limit: 200,
    };
    let mut v: Vec<Delivery> = f
        .core
        .deliveries(q)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.delivery)
        .collect();
    v.reverse();
    v
}

fn lease<'a>(owner: &'a str, now: Millis, skip: &'a [AppId]) -> DeliveryLease<'a> {
    DeliveryLease {
        owner,
        limit: 100,
        now,
        until: now + 10_000,
        mode: Mode::Webhook,
        only_apps: None,
        skip_apps: skip,
    }
}

fn send(f: &Fixture, chat: ChatId, from: Actor, s: &str) -> crate::service::Send {
    crate::service::Send::new(f.tenant.id, chat, from, MessageType::Text, text(s))
}

// ----- The outbox through the `Store` port alone: each store's own tests used to hold
// these cases twice; the stores' files keep only what is theirs (a reopened SQLite file;
// several PostgreSQL nodes on one database) and build on the helpers below.

/// A tenant with alice, bob and carol, the apps `bot` and `other_bot`, and the group G
/// (created at 10) of alice (owner), bob and the bot, made through the store alone.
pub struct OutboxWorld {
    pub store: Arc<dyn Store>,
    pub tenant: TenantId,
    pub alice: Actor,
    pub bob: Actor,
    pub carol: Actor,
    pub bot: AppId,
    pub other_bot: AppId,
    pub group: Chat,
}

pub async fn outbox_world(store: Arc<dyn Store>) -> OutboxWorld {
    let t = store
        .create_tenant(NewTenant {
            name: "T".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let mut users = Vec::new();
    for n in ["alice", "bob", "carol"] {
        let u = store
            .create_user(NewUser {
                tenant: t.id,
                user_id: n.into(),
                account_id: n.into(),
                name: n.into(),
                created_at: 1,
            })
            .await
            .unwrap();
        users.push(Actor::User(u.id));
    }
    let mut apps = Vec::new();
    for n in ["bot", "other"] {
        let a = store
            .create_app(NewApp {
                tenant: t.id,
                app_id: format!("cli_{n}"),
                app_secret: Secret::new("s".to_string()),
                name: n.into(),
                bot_enabled: true,
                signing_required: false,
                scopes: vec![],
                created_at: 1,
            })
            .await
            .unwrap();
        apps.push(a.id);
    }
    let (alice, bob, carol) = (users[0], users[1], users[2]);
    let group = store
        .create_chat(NewChat {
            tenant: t.id,
            kind: ChatKind::Group,
            name: "G".into(),
            owner: alice,
            members: vec![
                (alice, Role::Owner),
                (bob, Role::Member),
                (Actor::App(apps[0]), Role::Member),
            ],
            created_at: 10,
        })
        .await
        .unwrap();
    OutboxWorld {
        store,
        tenant: t.id,
        alice,
        bob,
        carol,
        bot: apps[0],
        other_bot: apps[1],
        group,
    }
}

/// Every change in the outbox, without holding it: a lease that has already passed when
/// it is taken (`until == now`), so any owner may lease them next.
pub async fn outbox_changes(s: &dyn Store) -> Vec<Change> {
    s.lease_changes("peek", 10_000, 0, 0).await.unwrap()
}

/// Routes every change away (to no deliveries), so the next writes start an empty outbox.
pub async fn outbox_drain(s: &dyn Store) {
    let all = s.lease_changes("drain", 10_000, 0, 1).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|c| c.seq).collect();
    s.route_changes("drain", &seqs, vec![]).await.unwrap();
    assert!(outbox_changes(s).await.is_empty());
}

fn bodies(cs: &[Change]) -> Vec<ChangeBody> {
    cs.iter().map(|c| c.body.clone()).collect()
}

/// The event id of test delivery `n`.
pub fn outbox_event_id(n: u64) -> String {
    format!("{n:032x}")
}

/// Test delivery `n` (a Feishu webhook event) of change `seq` to `app` in `chat`.
pub fn outbox_delivery(
    w: &OutboxWorld,
    n: u64,
    app: AppId,
    chat: ChatId,
    seq: i64,
    at: Millis,
) -> NewDelivery {
    NewDelivery {
        event_id: outbox_event_id(n),
        tenant: w.tenant,
        app,
        dialect: "feishu".into(),
        mode: Mode::Webhook,
        event_type: "im.message.receive_v1".into(),
        chat,
        message: None,
        seq,
        body: ChangeBody::ChatDissolved { by: None },
        created_at: at,
    }
}

/// Routes `ds`, each for the change its `seq` names; returns them as stored.
pub async fn outbox_route(w: &OutboxWorld, ds: Vec<NewDelivery>) -> Vec<Delivery> {
    let seqs: Vec<i64> = ds.iter().map(|d| d.seq).collect();
    let leased = w.store.lease_changes("router", 10_000, 0, 1).await.unwrap();
    for s in &seqs {
        assert!(leased.iter().any(|c| c.seq == *s), "seq {s} not leased");
    }
    let ids: Vec<String> = ds.iter().map(|d| d.event_id.clone()).collect();
    w.store.route_changes("router", &seqs, ds).await.unwrap();
    let mut out = Vec::new();
    for id in ids {
        out.push(
            w.store
                .get_delivery(w.tenant, &id)
                .await
                .unwrap()
                .unwrap()
                .delivery,
        );
    }
    out
}

/// Records `n` changes (carol joining and leaving the group) and returns their seqs.
pub async fn outbox_make_changes(w: &OutboxWorld, n: usize) -> Vec<i64> {
    for i in 0..n {
        let at = 100 + i as i64;
        let member = w.store.get_member(w.group.id, w.carol).await.unwrap();
        if member.is_none() {
            w.store
                .add_members(w.group.id, vec![(w.carol, Role::Member)], at, None)
                .await
                .unwrap();
        } else {
            w.store
                .remove_members(w.group.id, vec![w.carol], at, None)
                .await
                .unwrap();
        }
    }
    let cs = outbox_changes(&*w.store).await;
    cs[cs.len() - n..].iter().map(|c| c.seq).collect()
}

/// A webhook lease of up to 100 deliveries for `owner`, at `now`, for a second.
pub fn outbox_lease(owner: &str, now: Millis) -> DeliveryLease<'_> {
    DeliveryLease {
        owner,
        limit: 100,
        now,
        until: now + 1_000,
        mode: Mode::Webhook,
        only_apps: None,
        skip_apps: &[],
    }
}

pub fn outbox_ok(at: Millis) -> Attempt {
    Attempt {
        at,
        status: Some(200),
        latency_ms: 3,
        error: None,
        wire: None,
    }
}

pub fn outbox_failed(at: Millis) -> Attempt {
    Attempt {
        at,
        status: Some(500),
        latency_ms: 7,
        error: Some(ErrorClass::Status),
        wire: None,
    }
}

/// Delivery `n` of change `c` to `app`, in `dialect` and `mode`, created at 100; its event
/// id is made of the seq, the app and `n`.
pub fn outbox_delivery_for(
    c: &Change,
    app: AppId,
    dialect: &str,
    mode: Mode,
    n: usize,
) -> NewDelivery {
    NewDelivery {
        event_id: format!("{:016x}{:08x}{:08x}", c.seq, app.0, n),
        tenant: c.tenant,
        app,
        dialect: dialect.into(),
        mode,
        event_type: c.body.kind().into(),
        chat: c.chat,
        message: c.body.message().map(|m| m.id),
        seq: c.seq,
        body: c.body.clone(),
        created_at: 100,
    }
}

/// A webhook lease of up to `limit` deliveries for `owner`, at `now`, for a second.
pub fn outbox_lease_up_to(owner: &str, now: Millis, limit: usize) -> DeliveryLease<'_> {
    DeliveryLease {
        limit,
        ..outbox_lease(owner, now)
    }
}

/// An attempt at `at` that succeeded (200) or timed out.
pub fn outbox_attempt(at: Millis, ok: bool) -> Attempt {
    Attempt {
        at,
        status: ok.then_some(200),
        latency_ms: 7,
        error: (!ok).then_some(ErrorClass::Timeout),
        wire: None,
    }
}

fn outbox_sub(w: &OutboxWorld, app: AppId, dialect: &str, at: Millis) -> Subscription {
    Subscription {
        tenant: w.tenant,
        app,
        dialect: dialect.into(),
        mode: Mode::Webhook,
        url: "http://127.0.0.1:9/hook".into(),
        encrypt_key: String::new(),
        verification_token: "vt".into(),
        event_types: vec!["a".into(), "b".into()],
        created_at: at,
        updated_at: at,
    }
}

/// Sends `n` messages to `chat` through `s` and routes each to `app` (dialect "d",
/// webhook); returns the ids of that app's deliveries in `chat`, oldest first.
pub async fn outbox_routed(
    s: &dyn Store,
    w: &OutboxWorld,
    chat: ChatId,
    app: AppId,
    n: usize,
) -> Vec<i64> {
    for i in 0..n {
        s.append_message(new_text(w.tenant, chat, w.alice, &format!("m{i}"), 20))
            .await
            .unwrap();
    }
    let changes = s.lease_changes("r", n, 0, 1_000).await.unwrap();
    assert_eq!(changes.len(), n);
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let ds = changes
        .iter()
        .enumerate()
        .map(|(i, c)| outbox_delivery_for(c, app, "d", Mode::Webhook, i))
        .collect();
    s.route_changes("r", &seqs, ds).await.unwrap();
    let q = DeliveryQuery {
        tenant: w.tenant,
        app,
        status: None,
        event_type: None,
        before: None,
        limit: 1000,
    };
    let mut ids: Vec<i64> = s
        .list_deliveries(q)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.delivery.chat == chat)
        .map(|r| r.delivery.id)
        .collect();
    ids.sort();
    ids
}
