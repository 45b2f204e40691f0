//! The event outbox's conformance cases: changes recorded with their writes, routing
//! rules, leases, order, the delivery log. Each runs on both stores.

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
    fn webhook(&self, _: &Subscription, plain: &[u8], _: Millis) -> Outgoing {
        Outgoing {
            headers: vec![],
            body: plain.to_vec(),
        }
    }
    fn challenge(&self, _: &Subscription, c: &str, _: Millis) -> Outgoing {
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

pub async fn events_changes_follow_writes(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let bot = Actor::App(f.bot.id);
    // The fixture's group: its members other than the owner joined with it.
    let created = drain_changes(&store, "a").await;
    assert_eq!(created.len(), 1, "{created:?}");
    match &created[0].body {
        ChangeBody::MembersAdded { by, members } => {
            assert_eq!(*by, Some(alice));
            assert_eq!(members.len(), 2);
            assert!(members.contains(&bot) && members.contains(&Actor::User(f.bob.id)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(created[0].chat, f.group.id);
    assert_eq!(created[0].tenant, f.tenant.id);

    let mut cmd = send(&f, f.group.id, alice, "hello");
    cmd.client_msg_id = Some("k1".into());
    let m = f.core.send(cmd.clone()).await.unwrap().message;
    // The same send again returns the first: no second change.
    f.core.send(cmd).await.unwrap();
    let edit = crate::service::Edit {
        tenant: f.tenant.id,
        actor: alice,
        id: m.id,
        kind: MessageType::Text,
        content: text("hello again"),
        mentions: vec![],
        editable: &[],
        sender_only: true,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    f.core.edit(edit).await.unwrap();
    let recall = crate::service::Recall {
        tenant: f.tenant.id,
        actor: alice,
        id: m.id,
        kind: RemovalKind::Recalled,
        window_ms: None,
        admin_window_ms: None,
    };
    f.core.recall(recall.clone()).await.unwrap();
    // A refused write records nothing.
    assert!(f.core.recall(recall).await.is_err());
    let carol = f
        .core
        .create_user(
            f.tenant.id,
            CreateUser {
                name: "Carol".into(),
                user_id: Some("carol".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();
    let by = Access::Member(alice);
    f.core
        .add_members_by(f.tenant.id, f.group.id, by, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    // Adding a member already present records nothing.
    f.core
        .add_members_by(f.tenant.id, f.group.id, by, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    f.core
        .remove_members_by(f.tenant.id, f.group.id, by, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    // Imported history is not news.
    store
        .append_batch(vec![new_text(f.tenant.id, f.group.id, alice, "old", 5)])
        .await
        .unwrap();
    f.core
        .dissolve_chat(f.tenant.id, f.group.id, Some(alice))
        .await
        .unwrap();

    let got = drain_changes(&store, "a").await;
    let kinds: Vec<&str> = got.iter().map(|c| c.body.kind()).collect();
    assert_eq!(
        kinds,
        [
            "message_created",
            "message_edited",
            "message_removed",
            "members_added",
            "members_removed",
            "chat_dissolved"
        ]
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "seqs increase");
    match &got[0].body {
        ChangeBody::MessageCreated { message } => {
            assert_eq!(message.id, m.id);
            assert_eq!(message.content.text, "hello");
        }
        other => panic!("{other:?}"),
    }
    match &got[1].body {
        ChangeBody::MessageEdited { message } => assert_eq!(message.content.text, "hello again"),
        other => panic!("{other:?}"),
    }
    match &got[2].body {
        ChangeBody::MessageRemoved { message } => {
            assert_eq!(message.removal.as_ref().map(|r| r.by), Some(alice))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        got[3].body,
        ChangeBody::MembersAdded {
            by: Some(alice),
            members: vec![Actor::User(carol.id)]
        }
    );
    assert_eq!(
        got[4].body,
        ChangeBody::MembersRemoved {
            by: Some(alice),
            members: vec![Actor::User(carol.id)]
        }
    );
    assert_eq!(got[5].body, ChangeBody::ChatDissolved { by: Some(alice) });
    // Routed changes are gone.
    assert!(drain_changes(&store, "a").await.is_empty());
}

pub async fn events_routing_rules(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let bot = Actor::App(f.bot.id);
    // A second app in the group with the scope for every group message, and a third in
    // another tenant, subscribed to everything.
    let all = f.core.create_app(f.tenant.id, "All").await.unwrap();
    let patch = AppPatch {
        scopes: Some(vec!["all".into()]),
        ..Default::default()
    };
    let all = f.core.update_app(f.tenant.id, all.id, patch).await.unwrap();
    f.core
        .add_members(f.tenant.id, f.group.id, vec![Actor::App(all.id)])
        .await
        .unwrap();
    let other_tenant = f.core.create_tenant("Other").await.unwrap();
    let stranger = f
        .core
        .create_app(other_tenant.id, "Stranger")
        .await
        .unwrap();
    f.core
        .subscribe(SubscribeCmd {
            tenant: other_tenant.id,
            app: stranger.id,
            dialect: "test".into(),
            mode: Mode::Webhook,
            url: "http://127.0.0.1:9/x".into(),
            encrypt_key: String::new(),
            verification_token: String::new(),
            event_types: ALL_TYPES.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap();
    // Nothing that happened before a subscription is delivered.
    drain_changes(&store, "early").await;
    subscribe(
        &f,
        f.bot.id,
        &[
            "received",
            "recalled",
            "bot_added",
            "bot_removed",
            "users_added",
            "disbanded",
        ],
    )
    .await;
    subscribe(&f, all.id, ALL_TYPES).await;

    let plain = f
        .core
        .send(send(&f, f.group.id, alice, "no mention"))
        .await
        .unwrap()
        .message;
    let mut cmd = send(&f, f.group.id, alice, "hi @bot");
    cmd.mentions = vec![Mention {
        key: "@_user_1".into(),
        target: MentionTarget::App(f.bot.id),
        name: "Bot".into(),
    }];
    let mentioned = f.core.send(cmd).await.unwrap().message;
    let own = f
        .core
        .send(send(&f, f.group.id, bot, "from the bot"))
        .await
        .unwrap()
        .message;
    let p2p = f
        .core
        .send(crate::service::Send::new(
            f.tenant.id,
            Recipient::Direct(bot),
            alice,
            MessageType::Text,
            text("dm"),
        ))
        .await
        .unwrap()
        .message;
    let carol = f
        .core
        .create_user(
            f.tenant.id,
            CreateUser {
                name: "Carol".into(),
                user_id: Some("carol".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();
    f.core
        .add_members(f.tenant.id, f.group.id, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    // Routing reads membership when it runs: route before the bot leaves.
    route_all(&f).await;
    f.core
        .remove_members(f.tenant.id, f.group.id, vec![bot])
        .await
        .unwrap();
    route_all(&f).await;

    let to_bot: Vec<(String, Option<MessageId>)> = deliveries_of(&f, f.bot.id)
        .await
        .into_iter()
        .map(|d| (d.event_type, d.message))
        .collect();
    assert_eq!(
        to_bot,
        vec![
            ("received".to_string(), Some(mentioned.id)),
            ("received".to_string(), Some(p2p.id)),
            ("users_added".to_string(), None),
            ("bot_removed".to_string(), None),
        ],
        "the bot hears mentions and p2p, never its own message nor unmentioned group talk"
    );
    let to_all: Vec<(String, Option<MessageId>)> = deliveries_of(&f, all.id)
        .await
        .into_iter()
        .map(|d| (d.event_type, d.message))
        .collect();
    assert_eq!(
        to_all,
        vec![
            ("received".to_string(), Some(plain.id)),
            ("received".to_string(), Some(mentioned.id)),
            ("received".to_string(), Some(own.id)),
            ("users_added".to_string(), None),
        ],
        "the scoped app hears every group message, not the p2p chat it is not in"
    );
    let q = DeliveryQuery {
        tenant: other_tenant.id,
        app: stranger.id,
        status: None,
        event_type: None,
        before: None,
        limit: 50,
    };
    assert!(
        f.core.deliveries(q).await.unwrap().is_empty(),
        "nothing crosses tenants"
    );
    // Another tenant cannot read an app's deliveries.
    let q = DeliveryQuery {
        tenant: other_tenant.id,
        app: f.bot.id,
        status: None,
        event_type: None,
        before: None,
        limit: 50,
    };
    assert!(f.core.deliveries(q).await.is_err());

    // Event ids: 32 hex, distinct.
    let ds = deliveries_of(&f, all.id).await;
    let mut ids: Vec<&str> = ds.iter().map(|d| d.event_id.as_str()).collect();
    assert!(ids
        .iter()
        .all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), ds.len());
    // Dissolving tells every app still in the group.
    f.core
        .dissolve_chat(f.tenant.id, f.group.id, None)
        .await
        .unwrap();
    route_all(&f).await;
    assert_eq!(
        deliveries_of(&f, all.id).await.last().unwrap().event_type,
        "disbanded"
    );
    assert_eq!(
        deliveries_of(&f, f.bot.id).await.len(),
        4,
        "the removed bot hears no more"
    );
}

pub async fn events_change_leases_are_exclusive(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let a = store.lease_changes("a", 10, 1_000, 5_000).await.unwrap();
    assert_eq!(a.len(), 1);
    // Another owner waits while the lease is live …
    assert!(store
        .lease_changes("b", 10, 2_000, 9_000)
        .await
        .unwrap()
        .is_empty());
    // … and takes over once it has passed; the first owner's routing is then void.
    let b = store.lease_changes("b", 10, 6_000, 20_000).await.unwrap();
    assert_eq!(b.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![a[0].seq]);
    subscribe(&f, f.bot.id, ALL_TYPES).await;
    let stale = NewDelivery {
        event_id: crate::events::route::new_event_id(),
        tenant: f.tenant.id,
        app: f.bot.id,
        dialect: "test".into(),
        mode: Mode::Webhook,
        event_type: "bot_added".into(),
        chat: f.group.id,
        message: None,
        seq: a[0].seq,
        body: a[0].body.clone(),
        created_at: 6_500,
    };
    store
        .route_changes("a", &[a[0].seq], vec![stale.clone()])
        .await
        .unwrap();
    assert!(
        deliveries_of(&f, f.bot.id).await.is_empty(),
        "a lost lease routes nothing"
    );
    store
        .route_changes("b", &[a[0].seq], vec![stale])
        .await
        .unwrap();
    assert_eq!(deliveries_of(&f, f.bot.id).await.len(), 1);
    assert!(store
        .lease_changes("a", 10, 30_000, 40_000)
        .await
        .unwrap()
        .is_empty());
}

pub async fn events_delivery_order_and_log(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    subscribe(&f, f.bot.id, ALL_TYPES).await;
    drain_changes(&store, "x").await;
    let p2p = |s: &str| {
        crate::service::Send::new(
            f.tenant.id,
            Recipient::Direct(Actor::App(f.bot.id)),
            alice,
            MessageType::Text,
            text(s),
        )
    };
    let m1 = f.core.send(p2p("one")).await.unwrap().message;
    let m2 = f.core.send(p2p("two")).await.unwrap().message;
    let mut cmd = send(&f, f.group.id, alice, "group");
    cmd.mentions = vec![Mention {
        key: "@_user_1".into(),
        target: MentionTarget::All,
        name: "all".into(),
    }];
    let m3 = f.core.send(cmd).await.unwrap().message;
    route_all(&f).await;
    let now = f.core.now_ms();
    // One at a time per chat, in position order; another chat's head goes too.
    let got = store.lease_deliveries(lease("n1", now, &[])).await.unwrap();
    let msgs: Vec<Option<MessageId>> = got.iter().map(|d| d.message).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs.contains(&Some(m1.id)) && msgs.contains(&Some(m3.id)));
    assert!(got
        .iter()
        .all(|d| d.status == DeliveryStatus::Pending && d.attempts == 0));
    // Leased ones are not leased again, and the chat's next waits.
    assert!(store
        .lease_deliveries(lease("n2", now, &[]))
        .await
        .unwrap()
        .is_empty());
    let d1 = got
        .iter()
        .find(|d| d.message == Some(m1.id))
        .unwrap()
        .clone();
    let d3 = got
        .iter()
        .find(|d| d.message == Some(m3.id))
        .unwrap()
        .clone();
    let fail = Attempt {
        at: now,
        status: Some(500),
        latency_ms: 3,
        error: Some(ErrorClass::Status),
    };
    // Only the holder records.
    assert!(!store
        .record_attempt(d1.id, "n2", fail.clone(), Next::RetryAt(now + 1_000))
        .await
        .unwrap());
    assert!(store
        .record_attempt(d1.id, "n1", fail.clone(), Next::RetryAt(now + 1_000))
        .await
        .unwrap());
    let ok = Attempt {
        at: now,
        status: Some(200),
        latency_ms: 1,
        error: None,
    };
    assert!(store
        .record_attempt(d3.id, "n1", ok.clone(), Next::Delivered)
        .await
        .unwrap());
    // While m1's delivery is retrying, m2's goes ahead (a retry does not hold the chat).
    let next = store.lease_deliveries(lease("n1", now, &[])).await.unwrap();
    assert_eq!(
        next.iter().map(|d| d.message).collect::<Vec<_>>(),
        vec![Some(m2.id)]
    );
    assert!(store
        .record_attempt(next[0].id, "n1", ok.clone(), Next::Delivered)
        .await
        .unwrap());
    assert!(
        store
            .lease_deliveries(lease("n1", now + 999, &[]))
            .await
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    assert!(
        store
            .lease_deliveries(lease("n1", now + 1_000, &[f.bot.id]))
            .await
            .unwrap()
            .is_empty(),
        "skipped app"
    );
    let again = store
        .lease_deliveries(lease("n1", now + 1_000, &[]))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].id, again[0].status, again[0].attempts),
        (d1.id, DeliveryStatus::Retrying, 1)
    );
    assert!(store
        .record_attempt(d1.id, "n1", fail.clone(), Next::Failed)
        .await
        .unwrap());

    let rec = store
        .get_delivery(f.tenant.id, &d1.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.delivery.status, DeliveryStatus::Failed);
    assert_eq!(rec.attempts.len(), 2);
    assert_eq!(rec.attempts[0], fail);
    // Filters and paging, newest first.
    let q = |status, before| DeliveryQuery {
        tenant: f.tenant.id,
        app: f.bot.id,
        status,
        event_type: None,
        before,
        limit: 2,
    };
    let page = f.core.deliveries(q(None, None)).await.unwrap();
    assert_eq!(page.len(), 2);
    assert!(page[0].delivery.id > page[1].delivery.id);
    let rest = f
        .core
        .deliveries(q(None, Some(page[1].delivery.id)))
        .await
        .unwrap();
    assert!(rest.iter().all(|r| r.delivery.id < page[1].delivery.id));
    let failed = f
        .core
        .deliveries(q(Some(DeliveryStatus::Failed), None))
        .await
        .unwrap();
    assert_eq!(
        failed.iter().map(|r| r.delivery.id).collect::<Vec<_>>(),
        vec![d1.id]
    );
    // Redeliver: due now, same event id, attempts kept; an unknown id is not found.
    let r = f.core.redeliver(f.tenant.id, &d1.event_id).await.unwrap();
    assert_eq!(
        (r.event_id.as_str(), r.status, r.attempts),
        (d1.event_id.as_str(), DeliveryStatus::Retrying, 2)
    );
    assert!(f
        .core
        .redeliver(f.tenant.id, &"0".repeat(32))
        .await
        .is_err());
    let other = f.core.create_tenant("Other").await.unwrap();
    assert!(
        f.core.redeliver(other.id, &d1.event_id).await.is_err(),
        "another tenant's event"
    );
    let back = store
        .lease_deliveries(lease("n1", f.core.now_ms(), &[]))
        .await
        .unwrap();
    assert_eq!(back.iter().map(|d| d.id).collect::<Vec<_>>(), vec![d1.id]);
    assert!(store
        .record_attempt(d1.id, "n1", ok, Next::Delivered)
        .await
        .unwrap());
    // Pruning drops finished deliveries older than the cut, with their attempts.
    assert_eq!(store.prune_deliveries(now + 1).await.unwrap(), 3);
    assert!(store
        .get_delivery(f.tenant.id, &d1.event_id)
        .await
        .unwrap()
        .is_none());
}

pub async fn events_subscriptions_round_trip(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let s = subscribe(&f, f.bot.id, &["received", "received", "bot_added"]).await;
    assert_eq!(
        s.event_types,
        vec!["bot_added".to_string(), "received".to_string()]
    );
    f.clock.advance_ms(5_000);
    let mut cmd = SubscribeCmd {
        tenant: f.tenant.id,
        app: f.bot.id,
        dialect: "test".into(),
        mode: Mode::LongConnection,
        url: String::new(),
        encrypt_key: "k".into(),
        verification_token: "t2".into(),
        event_types: vec!["received".into()],
    };
    let s2 = f.core.subscribe(cmd.clone()).await.unwrap();
    assert_eq!(
        (s2.created_at, s2.updated_at),
        (s.created_at, s.created_at + 5_000)
    );
    assert_eq!(
        f.core.subscriptions(f.tenant.id, f.bot.id).await.unwrap(),
        vec![s2.clone()]
    );
    cmd.dialect = "other".into();
    f.core.subscribe(cmd.clone()).await.unwrap();
    assert_eq!(
        f.core
            .subscriptions(f.tenant.id, f.bot.id)
            .await
            .unwrap()
            .len(),
        2
    );
    // Bad requests write nothing.
    for bad in [
        SubscribeCmd {
            mode: Mode::Webhook,
            url: "ftp://x".into(),
            ..cmd.clone()
        },
        SubscribeCmd {
            event_types: vec![],
            ..cmd.clone()
        },
        SubscribeCmd {
            url: "http://x".into(),
            ..cmd.clone()
        },
    ] {
        assert!(f.core.subscribe(bad).await.is_err());
    }
    let other = f.core.create_tenant("Other").await.unwrap();
    assert!(f
        .core
        .subscribe(SubscribeCmd {
            tenant: other.id,
            ..cmd.clone()
        })
        .await
        .is_err());
    // Deleting drops the open deliveries of that subscription only.
    drain_changes(&store, "x").await;
    let dm = crate::service::Send::new(
        f.tenant.id,
        Recipient::Direct(Actor::App(f.bot.id)),
        alice,
        MessageType::Text,
        text("x"),
    );
    f.core.send(dm).await.unwrap();
    route_all(&f).await;
    assert_eq!(
        deliveries_of(&f, f.bot.id).await.len(),
        1,
        "one for the test dialect"
    );
    assert_eq!(
        f.core
            .unsubscribe(f.tenant.id, f.bot.id, "test")
            .await
            .unwrap(),
        1
    );
    assert!(deliveries_of(&f, f.bot.id).await.is_empty());
    assert!(matches!(
        f.core.unsubscribe(f.tenant.id, f.bot.id, "test").await,
        Err(crate::error::Error::NotFound(
            crate::error::Entity::Subscription
        ))
    ));
    assert_eq!(
        f.core
            .subscriptions(f.tenant.id, f.bot.id)
            .await
            .unwrap()
            .len(),
        1
    );
}
