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
    }
}

pub fn outbox_failed(at: Millis) -> Attempt {
    Attempt {
        at,
        status: Some(500),
        latency_ms: 7,
        error: Some(ErrorClass::Status),
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

pub async fn events_every_write_records_its_change(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    let bot = Actor::App(w.bot);
    // create_chat: everyone but the owner joined, by the owner.
    let cs = outbox_changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(
        (cs[0].tenant, cs[0].chat, cs[0].at),
        (w.tenant, w.group.id, 10)
    );
    assert_eq!(
        cs[0].body,
        ChangeBody::MembersAdded {
            by: Some(w.alice),
            members: vec![w.bob, bot]
        }
    );
    outbox_drain(s).await;
    // A chat of its owner alone records nothing.
    let solo = s
        .create_chat(NewChat {
            tenant: w.tenant,
            kind: ChatKind::Group,
            name: "solo".into(),
            owner: w.alice,
            members: vec![(w.alice, Role::Owner)],
            created_at: 11,
        })
        .await
        .unwrap();
    assert!(outbox_changes(s).await.is_empty());

    // The stored message, byte for byte what a get reads (quotes, backslashes, non-ASCII,
    // a NUL in the content), and a time raised to the chat's last one, as the message's is.
    let mut tricky = new_text(
        w.tenant,
        w.group.id,
        w.alice,
        "a \"quoted\" \\ 日本 \u{1F600}",
        20,
    );
    tricky.content.data = serde_json::json!({ "created_at": 0, "nul": "\u{0}" });
    let plain = s.append_message(tricky).await.unwrap().message;
    let earlier = s
        .append_message(new_text(w.tenant, w.group.id, w.bob, "earlier", 5))
        .await
        .unwrap()
        .message;
    assert_eq!(earlier.created_at, 20);
    let cs = outbox_changes(s).await;
    assert_eq!(cs.iter().map(|c| c.at).collect::<Vec<_>>(), vec![20, 20]);
    assert!(cs
        .iter()
        .all(|c| c.tenant == w.tenant && c.chat == w.group.id));
    assert!(cs[0].seq < cs[1].seq);
    for (c, stored) in cs.iter().zip([&plain, &earlier]) {
        assert_eq!(
            c.body,
            ChangeBody::MessageCreated {
                message: stored.clone()
            }
        );
        assert_eq!(
            Some(stored.clone()),
            s.get_message(stored.id).await.unwrap()
        );
    }
    outbox_drain(s).await;

    // append_message, and nothing for its idempotent repeat.
    let mut nm = new_text(w.tenant, w.group.id, w.bob, "hi", 20);
    nm.client_msg_id = Some("once".into());
    let first = s.append_message(nm.clone()).await.unwrap();
    let again = s.append_message(nm).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(
        Some(first.message.clone()),
        s.get_message(first.message.id).await.unwrap()
    );
    let cs = outbox_changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(
        (cs[0].tenant, cs[0].chat, cs[0].at),
        (w.tenant, w.group.id, first.message.created_at)
    );
    assert_eq!(
        bodies(&cs),
        vec![ChangeBody::MessageCreated {
            message: first.message.clone()
        }]
    );
    outbox_drain(s).await;

    // An edit and a removal, each with the message after it.
    let edited = s
        .update_message(
            first.message.id,
            MessageUpdate::Edit {
                kind: MessageType::Text,
                content: first.message.content.clone(),
                mentions: vec![],
                by: w.bob,
                at: 30,
                max_edits: Some(1),
                min_interval_ms: None,
                extra: None,
            },
        )
        .await
        .unwrap();
    let removed = s
        .update_message(
            first.message.id,
            MessageUpdate::Remove(Removal {
                kind: RemovalKind::Recalled,
                by: w.bob,
                at: 40,
            }),
        )
        .await
        .unwrap();
    assert!(removed.removal.is_some());
    let cs = outbox_changes(s).await;
    assert_eq!(cs.iter().map(|c| c.at).collect::<Vec<_>>(), vec![30, 40]);
    assert_eq!(
        bodies(&cs),
        vec![
            ChangeBody::MessageEdited { message: edited },
            ChangeBody::MessageRemoved { message: removed }
        ]
    );
    outbox_drain(s).await;

    // A merge forward: the container only.
    let kids = vec![
        new_text(w.tenant, w.group.id, w.bob, "a", 1),
        new_text(w.tenant, w.group.id, w.bob, "b", 2),
    ];
    let (container, children) = s
        .append_merge_forward(new_text(w.tenant, w.group.id, w.bob, "mf", 50), kids)
        .await
        .unwrap();
    assert_eq!(children.len(), 2);
    assert_eq!(
        Some(container.clone()),
        s.get_message(container.id).await.unwrap()
    );
    assert_eq!(
        bodies(&outbox_changes(s).await),
        vec![ChangeBody::MessageCreated { message: container }]
    );
    outbox_drain(s).await;

    // Members: only those actually added or removed; nothing when none.
    let added = s
        .add_members(
            w.group.id,
            vec![(w.bob, Role::Member), (w.carol, Role::Member)],
            60,
            Some(w.alice),
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
    s.add_members(w.group.id, vec![(w.bob, Role::Member)], 61, Some(w.alice))
        .await
        .unwrap();
    let gone = s
        .remove_members(w.group.id, vec![w.carol, Actor::App(w.other_bot)], 62, None)
        .await
        .unwrap();
    assert_eq!(gone, vec![w.carol]);
    assert!(s
        .remove_members(w.group.id, vec![w.carol], 63, None)
        .await
        .unwrap()
        .is_empty());
    // An unknown chat is refused, and records nothing. (Which error is not the contract's:
    // PostgreSQL's NotFound(Chat) is held by its own tests.)
    assert!(s
        .add_members(ChatId(999_999), vec![(w.carol, Role::Member)], 64, None)
        .await
        .is_err());
    let cs = outbox_changes(s).await;
    assert_eq!(
        cs.iter()
            .map(|c| (c.tenant, c.chat, c.at))
            .collect::<Vec<_>>(),
        vec![(w.tenant, w.group.id, 60), (w.tenant, w.group.id, 62)]
    );
    assert_eq!(
        bodies(&cs),
        vec![
            ChangeBody::MembersAdded {
                by: Some(w.alice),
                members: vec![w.carol]
            },
            ChangeBody::MembersRemoved {
                by: None,
                members: vec![w.carol]
            }
        ]
    );
    outbox_drain(s).await;

    // Imports record nothing, with idempotency keys or without.
    let mut keyed = new_text(w.tenant, solo.id, w.alice, "k", 70);
    keyed.client_msg_id = Some("imp".into());
    s.append_batch(vec![keyed, new_text(w.tenant, solo.id, w.alice, "x", 71)])
        .await
        .unwrap();
    s.append_batch(vec![new_text(w.tenant, solo.id, w.alice, "y", 72)])
        .await
        .unwrap();
    assert!(outbox_changes(s).await.is_empty());

    // Dissolving: once, by whoever did it; members stay.
    let d = s
        .dissolve_chat(w.group.id, 80, Some(w.alice))
        .await
        .unwrap();
    assert_eq!(d.dissolved_at, Some(80));
    let d = s.dissolve_chat(w.group.id, 81, Some(w.bob)).await.unwrap();
    assert_eq!(
        d.dissolved_at,
        Some(80),
        "the first dissolution's time stays"
    );
    let cs = outbox_changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].at, 80);
    assert_eq!(cs[0].body, ChangeBody::ChatDissolved { by: Some(w.alice) });
    assert_eq!(s.list_members(w.group.id).await.unwrap().len(), 3);
    outbox_drain(s).await;

    // Failed writes leave no change.
    assert!(s
        .append_message(new_text(w.tenant, w.group.id, w.bob, "late", 90))
        .await
        .is_err());
    assert!(s
        .update_message(
            first.message.id,
            MessageUpdate::Remove(Removal {
                kind: RemovalKind::Deleted,
                by: w.bob,
                at: 91
            })
        )
        .await
        .is_err());
    assert!(s
        .append_message(new_text(w.tenant, ChatId(999), w.bob, "nowhere", 92))
        .await
        .is_err());
    assert!(outbox_changes(s).await.is_empty());
}

pub async fn events_change_seqs_are_never_reused(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    outbox_drain(&*w.store).await;
    let a = outbox_make_changes(&w, 3).await;
    assert!(a.windows(2).all(|p| p[0] < p[1]));
    outbox_drain(&*w.store).await;
    let b = outbox_make_changes(&w, 1).await;
    assert!(b[0] > a[2], "seq reused after routing");
}

pub async fn events_change_leases_are_one_owners_at_a_time(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    outbox_make_changes(&w, 3).await;
    let one = s.lease_changes("one", 2, 1_000, 2_000).await.unwrap();
    assert_eq!(one.len(), 2);
    assert!(one[0].seq < one[1].seq);
    // Another owner gets nothing while any lease of "one" is live...
    assert!(s
        .lease_changes("two", 10, 1_500, 2_500)
        .await
        .unwrap()
        .is_empty());
    // ...while "one" gets its own leases back, renewed, and more.
    let again = s.lease_changes("one", 10, 1_500, 3_000).await.unwrap();
    assert_eq!(again.len(), 4);
    assert_eq!(&again[..2], &one[..]);
    assert!(s
        .lease_changes("two", 10, 2_999, 4_000)
        .await
        .unwrap()
        .is_empty());
    // Once the lease has passed, "two" takes over, and "one" routes nothing of it.
    let two = s.lease_changes("two", 10, 3_000, 4_000).await.unwrap();
    assert_eq!(two, again);
    let seqs: Vec<i64> = again.iter().map(|c| c.seq).collect();
    let ds: Vec<NewDelivery> = seqs
        .iter()
        .enumerate()
        .map(|(i, seq)| outbox_delivery(&w, i as u64, w.bot, w.group.id, *seq, 3_100))
        .collect();
    s.route_changes("one", &seqs, ds.clone()).await.unwrap();
    assert_eq!(
        s.lease_changes("two", 10, 3_200, 4_000)
            .await
            .unwrap()
            .len(),
        4
    );
    assert!(s
        .get_delivery(w.tenant, &outbox_event_id(0))
        .await
        .unwrap()
        .is_none());
    // The holder routes them: changes gone, deliveries in.
    s.route_changes("two", &seqs[..3], ds).await.unwrap();
    // What is left is "two"'s still: renewing its lease reads the whole outbox.
    let left = s.lease_changes("two", 10, 3_300, 4_000).await.unwrap();
    assert_eq!(
        left.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![seqs[3]]
    );
    for i in 0..3 {
        let d = s
            .get_delivery(w.tenant, &outbox_event_id(i))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(d.delivery.status, DeliveryStatus::Pending);
        assert_eq!(d.delivery.attempts, 0);
        assert_eq!(d.delivery.next_attempt_at, Some(3_100));
        assert_eq!(d.delivery.seq, seqs[i as usize]);
        assert!(d.attempts.is_empty());
    }
    assert!(
        s.get_delivery(w.tenant, &outbox_event_id(3))
            .await
            .unwrap()
            .is_none(),
        "unrouted seq's delivery"
    );
    assert!(s
        .get_delivery(TenantId(w.tenant.0 + 1), &outbox_event_id(0))
        .await
        .unwrap()
        .is_none());
}

pub async fn events_deliveries_round_trip(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    outbox_drain(s).await;
    let seqs = outbox_make_changes(&w, 2).await;
    let mut first = outbox_delivery(&w, 1, w.bot, w.group.id, seqs[0], 500);
    first.message = Some(MessageId(w.group.id.0 << 32 | 1));
    let mut second = outbox_delivery(&w, 2, w.bot, w.group.id, seqs[1], 500);
    second.event_type = "im.chat.member.user.added_v1".into();
    let ds = outbox_route(&w, vec![first.clone(), second]).await;
    assert!(ds[0].id < ds[1].id);
    assert_eq!(ds[0].message, first.message);
    assert_eq!(ds[0].body, first.body);
    assert_eq!(ds[0].mode, Mode::Webhook);

    // Not due before its time; then only the first of the chat's line.
    assert!(s
        .lease_deliveries(outbox_lease("d", 499))
        .await
        .unwrap()
        .is_empty());
    let got = s.lease_deliveries(outbox_lease("d", 500)).await.unwrap();
    assert_eq!(got, vec![ds[0].clone()]);
    // A stranger cannot record on it; the holder can.
    assert!(!s
        .record_attempt(ds[0].id, "x", outbox_failed(510), Next::RetryAt(600))
        .await
        .unwrap());
    assert!(s
        .record_attempt(ds[0].id, "d", outbox_failed(510), Next::RetryAt(600))
        .await
        .unwrap());
    assert!(
        !s.record_attempt(ds[0].id, "d", outbox_ok(511), Next::Delivered)
            .await
            .unwrap(),
        "lease released"
    );
    // The retrying one does not hold back the next.
    let got = s.lease_deliveries(outbox_lease("d", 520)).await.unwrap();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), vec![ds[1].id]);
    assert!(s
        .record_attempt(ds[1].id, "d", outbox_ok(521), Next::Delivered)
        .await
        .unwrap());
    let got = s.lease_deliveries(outbox_lease("d", 600)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].status, got[0].attempts),
        (DeliveryStatus::Retrying, 1)
    );
    assert!(s
        .record_attempt(ds[0].id, "d", outbox_failed(601), Next::Failed)
        .await
        .unwrap());
    assert!(s
        .lease_deliveries(outbox_lease("d", 10_000))
        .await
        .unwrap()
        .is_empty());

    // The log, newest first, attempts oldest first, with filters and pages.
    let q = DeliveryQuery {
        tenant: w.tenant,
        app: w.bot,
        status: None,
        event_type: None,
        before: None,
        limit: 10,
    };
    let all = s.list_deliveries(q.clone()).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.delivery.id).collect::<Vec<_>>(),
        vec![ds[1].id, ds[0].id]
    );
    assert_eq!(
        all[1].attempts,
        vec![outbox_failed(510), outbox_failed(601)]
    );
    assert_eq!(all[1].delivery.status, DeliveryStatus::Failed);
    assert_eq!(all[1].delivery.next_attempt_at, None);
    assert_eq!(all[0].attempts, vec![outbox_ok(521)]);
    let only = |status, event_type: Option<&str>, before, limit| DeliveryQuery {
        status,
        event_type: event_type.map(str::to_string),
        before,
        limit,
        ..q.clone()
    };
    let ids = |rs: Vec<DeliveryRecord>| rs.iter().map(|r| r.delivery.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .list_deliveries(only(Some(DeliveryStatus::Failed), None, None, 10))
            .await
            .unwrap()),
        vec![ds[0].id]
    );
    assert_eq!(
        ids(s
            .list_deliveries(only(None, Some("im.chat.member.user.added_v1"), None, 10))
            .await
            .unwrap()),
        vec![ds[1].id]
    );
    assert_eq!(
        ids(s.list_deliveries(only(None, None, None, 1)).await.unwrap()),
        vec![ds[1].id]
    );
    assert_eq!(
        ids(s
            .list_deliveries(only(None, None, Some(ds[1].id), 10))
            .await
            .unwrap()),
        vec![ds[0].id]
    );
    assert!(s
        .list_deliveries(DeliveryQuery {
            app: w.other_bot,
            ..q.clone()
        })
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .list_deliveries(DeliveryQuery {
            tenant: TenantId(w.tenant.0 + 1),
            ..q.clone()
        })
        .await
        .unwrap()
        .is_empty());

    // Redelivery: due now, same event id and attempts.
    let r = s
        .redeliver(w.tenant, &outbox_event_id(1), 700)
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.attempts, r.next_attempt_at),
        (DeliveryStatus::Retrying, 2, Some(700))
    );
    assert_eq!(r.event_id, outbox_event_id(1));
    assert!(matches!(
        s.redeliver(TenantId(w.tenant.0 + 1), &outbox_event_id(1), 700)
            .await,
        Err(StoreError::NotFound(crate::error::Entity::Delivery))
    ));
    assert!(matches!(
        s.redeliver(w.tenant, &outbox_event_id(99), 700).await,
        Err(StoreError::NotFound(crate::error::Entity::Delivery))
    ));
    let got = s.lease_deliveries(outbox_lease("d", 700)).await.unwrap();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), vec![ds[0].id]);
    // A redelivery takes the lease away from whoever held it.
    s.redeliver(w.tenant, &outbox_event_id(1), 710)
        .await
        .unwrap();
    assert!(!s
        .record_attempt(ds[0].id, "d", outbox_ok(711), Next::Delivered)
        .await
        .unwrap());
    let got = s.lease_deliveries(outbox_lease("e", 710)).await.unwrap();
    assert!(s
        .record_attempt(got[0].id, "e", outbox_ok(712), Next::Delivered)
        .await
        .unwrap());

    // Pruning: finished deliveries older than the cut, with their attempts.
    let seqs = outbox_make_changes(&w, 1).await;
    outbox_route(
        &w,
        vec![outbox_delivery(&w, 3, w.bot, w.group.id, seqs[0], 400)],
    )
    .await;
    assert_eq!(s.prune_deliveries(500).await.unwrap(), 0, "open ones stay");
    assert_eq!(s.prune_deliveries(501).await.unwrap(), 2);
    assert!(s
        .get_delivery(w.tenant, &outbox_event_id(1))
        .await
        .unwrap()
        .is_none());
    let left = s.list_deliveries(q).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].delivery.event_id, outbox_event_id(3));
}

pub async fn events_deliveries_keep_order_per_app_dialect_and_chat(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    outbox_drain(s).await;
    let other_chat = s
        .create_chat(NewChat {
            tenant: w.tenant,
            kind: ChatKind::Group,
            name: "H".into(),
            owner: w.alice,
            members: vec![(w.alice, Role::Owner)],
            created_at: 1,
        })
        .await
        .unwrap()
        .id;
    let seqs = outbox_make_changes(&w, 6).await;
    let mut hi = outbox_delivery(&w, 5, w.bot, w.group.id, seqs[5], 100);
    hi.dialect = "hi".into();
    let ds = outbox_route(
        &w,
        vec![
            outbox_delivery(&w, 0, w.bot, w.group.id, seqs[0], 100),
            outbox_delivery(&w, 1, w.bot, w.group.id, seqs[1], 100),
            outbox_delivery(&w, 2, w.other_bot, w.group.id, seqs[2], 100),
            outbox_delivery(&w, 3, w.bot, other_chat, seqs[3], 100),
            outbox_delivery(&w, 4, w.bot, w.group.id, seqs[4], 90),
            hi,
        ],
    )
    .await;
    let ids = |v: Vec<Delivery>| v.iter().map(|d| d.id).collect::<Vec<_>>();
    // One per line; the lower pending id goes first even when a later one is due earlier.
    let got = ids(s.lease_deliveries(outbox_lease("a", 100)).await.unwrap());
    assert_eq!(got, vec![ds[0].id, ds[2].id, ds[3].id, ds[5].id]);
    // Nothing more while those are leased, not even for another owner.
    assert!(s
        .lease_deliveries(outbox_lease("b", 200))
        .await
        .unwrap()
        .is_empty());
    // An expired lease frees the line; the next of it waits for the first.
    let got = ids(s.lease_deliveries(outbox_lease("b", 1_100)).await.unwrap());
    assert_eq!(got, vec![ds[0].id, ds[2].id, ds[3].id, ds[5].id]);
    assert!(!s
        .record_attempt(ds[0].id, "a", outbox_ok(1_100), Next::Delivered)
        .await
        .unwrap());
    assert!(s
        .record_attempt(ds[0].id, "b", outbox_ok(1_100), Next::Delivered)
        .await
        .unwrap());
    assert_eq!(
        ids(s.lease_deliveries(outbox_lease("b", 1_100)).await.unwrap()),
        vec![ds[1].id]
    );
    assert!(s
        .record_attempt(ds[1].id, "b", outbox_ok(1_101), Next::Delivered)
        .await
        .unwrap());
    assert_eq!(
        ids(s.lease_deliveries(outbox_lease("b", 1_101)).await.unwrap()),
        vec![ds[4].id]
    );
    for d in [&ds[2], &ds[3], &ds[4], &ds[5]] {
        assert!(s
            .record_attempt(d.id, "b", outbox_ok(1_102), Next::Delivered)
            .await
            .unwrap());
    }

    // Filters: mode, only_apps, skip_apps, limit.
    let seqs = outbox_make_changes(&w, 3).await;
    let mut lc = outbox_delivery(&w, 10, w.bot, other_chat, seqs[0], 2_000);
    lc.mode = Mode::LongConnection;
    lc.dialect = "lc".into();
    let more = outbox_route(
        &w,
        vec![
            lc,
            outbox_delivery(&w, 11, w.other_bot, other_chat, seqs[1], 2_000),
            outbox_delivery(&w, 12, w.bot, ChatId(other_chat.0 + 100), seqs[2], 2_000),
        ],
    )
    .await;
    let mut l = outbox_lease("c", 5_000);
    l.mode = Mode::LongConnection;
    assert_eq!(ids(s.lease_deliveries(l).await.unwrap()), vec![more[0].id]);
    let mut l = outbox_lease("c", 5_000);
    l.only_apps = Some(&[]);
    assert!(s.lease_deliveries(l).await.unwrap().is_empty());
    let skip = [w.bot];
    let mut l = outbox_lease("c", 5_000);
    l.skip_apps = &skip;
    assert_eq!(ids(s.lease_deliveries(l).await.unwrap()), vec![more[1].id]);
    let only = [w.bot];
    let mut l = outbox_lease("c", 5_000);
    l.only_apps = Some(&only);
    l.limit = 1;
    assert_eq!(ids(s.lease_deliveries(l).await.unwrap()), vec![more[2].id]);
}

pub async fn events_subscriptions_upsert_list_and_delete_with_open_deliveries(
    store: Arc<dyn Store>,
) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    let sub = |app: AppId, dialect: &str, at: Millis| Subscription {
        tenant: w.tenant,
        app,
        dialect: dialect.into(),
        mode: Mode::Webhook,
        url: "https://example.com/hook".into(),
        encrypt_key: String::new(),
        verification_token: "v".into(),
        event_types: vec!["im.message.receive_v1".into()],
        created_at: at,
        updated_at: at,
    };
    s.put_subscription(sub(w.other_bot, "feishu", 1))
        .await
        .unwrap();
    s.put_subscription(sub(w.bot, "lark", 2)).await.unwrap();
    s.put_subscription(sub(w.bot, "feishu", 3)).await.unwrap();
    let mut changed = sub(w.bot, "feishu", 9);
    changed.mode = Mode::LongConnection;
    changed.url = String::new();
    changed.event_types = vec!["a".into(), "b".into()];
    let put = s.put_subscription(changed.clone()).await.unwrap();
    assert_eq!(
        put,
        Subscription {
            created_at: 3,
            ..changed.clone()
        }
    );
    let all = s.list_subscriptions(w.tenant, None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|x| (x.app, x.dialect.as_str()))
            .collect::<Vec<_>>(),
        vec![(w.bot, "feishu"), (w.bot, "lark"), (w.other_bot, "feishu")]
    );
    assert_eq!(all[0], put);
    assert_eq!(
        s.list_subscriptions(w.tenant, Some(w.other_bot))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .list_subscriptions(TenantId(w.tenant.0 + 1), None)
        .await
        .unwrap()
        .is_empty());

    // Deleting drops the subscription's open deliveries only.
    outbox_drain(s).await;
    let seqs = outbox_make_changes(&w, 4).await;
    let mut lark = outbox_delivery(&w, 3, w.bot, w.group.id, seqs[3], 10);
    lark.dialect = "lark".into();
    let ds = outbox_route(
        &w,
        vec![
            outbox_delivery(&w, 0, w.bot, w.group.id, seqs[0], 10),
            outbox_delivery(&w, 1, w.bot, w.group.id, seqs[1], 10),
            outbox_delivery(&w, 2, w.bot, w.group.id, seqs[2], 10),
            lark,
        ],
    )
    .await;
    let got = s.lease_deliveries(outbox_lease("d", 10)).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(s
        .record_attempt(ds[0].id, "d", outbox_ok(11), Next::Delivered)
        .await
        .unwrap());
    let got = s.lease_deliveries(outbox_lease("d", 11)).await.unwrap();
    assert_eq!(got[0].id, ds[1].id);
    assert!(s
        .record_attempt(ds[1].id, "d", outbox_failed(12), Next::RetryAt(99))
        .await
        .unwrap());
    assert_eq!(s.delete_subscription(w.bot, "feishu").await.unwrap(), 2);
    assert!(matches!(
        s.delete_subscription(w.bot, "feishu").await,
        Err(StoreError::NotFound(crate::error::Entity::Subscription))
    ));
    assert!(
        s.get_delivery(w.tenant, &outbox_event_id(0))
            .await
            .unwrap()
            .is_some(),
        "delivered one kept"
    );
    assert!(s
        .get_delivery(w.tenant, &outbox_event_id(1))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_delivery(w.tenant, &outbox_event_id(2))
        .await
        .unwrap()
        .is_none());
    assert!(
        s.get_delivery(w.tenant, &outbox_event_id(3))
            .await
            .unwrap()
            .is_some(),
        "other dialect kept"
    );
    assert_eq!(
        s.list_subscriptions(w.tenant, Some(w.bot))
            .await
            .unwrap()
            .iter()
            .map(|x| x.dialect.clone())
            .collect::<Vec<_>>(),
        vec!["lark".to_string()]
    );
}

pub async fn events_subscriptions_routing_and_the_delivery_log_round_trip(store: Arc<dyn Store>) {
    let w = outbox_world(store.clone()).await;
    let s = &*store;
    outbox_drain(s).await;

    // Subscriptions: created, replaced (keeping created_at), listed, deleted.
    let a = s
        .put_subscription(outbox_sub(&w, w.bot, "hi", 1))
        .await
        .unwrap();
    assert_eq!(a, outbox_sub(&w, w.bot, "hi", 1));
    let mut changed = outbox_sub(&w, w.bot, "hi", 5);
    changed.mode = Mode::LongConnection;
    changed.url = String::new();
    let b = s.put_subscription(changed.clone()).await.unwrap();
    assert_eq!(
        (b.created_at, b.updated_at, b.mode),
        (1, 5, Mode::LongConnection)
    );
    s.put_subscription(outbox_sub(&w, w.bot, "feishu", 2))
        .await
        .unwrap();
    s.put_subscription(outbox_sub(&w, w.other_bot, "feishu", 3))
        .await
        .unwrap();
    let all = s.list_subscriptions(w.tenant, None).await.unwrap();
    let keys: Vec<(AppId, &str)> = all.iter().map(|x| (x.app, x.dialect.as_str())).collect();
    assert_eq!(
        keys,
        vec![(w.bot, "feishu"), (w.bot, "hi"), (w.other_bot, "feishu")]
    );
    assert_eq!(
        s.list_subscriptions(w.tenant, Some(w.other_bot))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .list_subscriptions(TenantId(999), None)
        .await
        .unwrap()
        .is_empty());

    // Routing: deliveries only for the changes the owner still holds, ids in the order given.
    for i in 0..3 {
        s.append_message(new_text(
            w.tenant,
            w.group.id,
            w.alice,
            &format!("m{i}"),
            20,
        ))
        .await
        .unwrap();
    }
    let changes = s.lease_changes("r", 10, 0, 1_000).await.unwrap();
    assert_eq!(changes.len(), 3);
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let mut ds = vec![
        outbox_delivery_for(&changes[0], w.bot, "feishu", Mode::Webhook, 0),
        outbox_delivery_for(&changes[0], w.other_bot, "feishu", Mode::Webhook, 0),
        outbox_delivery_for(&changes[1], w.bot, "feishu", Mode::Webhook, 0),
        outbox_delivery_for(&changes[2], w.bot, "feishu", Mode::Webhook, 0),
    ];
    // A delivery for a change that is not among the seqs routed is skipped.
    ds.push(NewDelivery {
        seq: 987_654,
        ..outbox_delivery_for(&changes[2], w.bot, "feishu", Mode::Webhook, 9)
    });
    s.route_changes("r", &seqs, ds.clone()).await.unwrap();
    assert!(s.lease_changes("r", 10, 0, 1_000).await.unwrap().is_empty());
    let q = |status| DeliveryQuery {
        tenant: w.tenant,
        app: w.bot,
        status,
        event_type: None,
        before: None,
        limit: 10,
    };
    let listed = s.list_deliveries(q(None)).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed
        .windows(2)
        .all(|p| p[0].delivery.id > p[1].delivery.id));
    let oldest = &listed[2].delivery;
    assert_eq!(oldest.event_id, ds[0].event_id);
    assert_eq!(oldest.body, changes[0].body);
    assert_eq!(oldest.message, changes[0].body.message().map(|m| m.id));
    assert_eq!(
        (oldest.status, oldest.attempts, oldest.next_attempt_at),
        (DeliveryStatus::Pending, 0, Some(100))
    );
    assert!(listed.iter().all(|r| r.attempts.is_empty()));
    let page = DeliveryQuery {
        before: Some(listed[0].delivery.id),
        limit: 1,
        ..q(None)
    };
    assert_eq!(s.list_deliveries(page).await.unwrap()[0], listed[1]);

    // One lease per chat: the oldest; the rest wait for it.
    let got = s
        .lease_deliveries(outbox_lease_up_to("n1", 100, 10))
        .await
        .unwrap();
    let ids: Vec<i64> = got.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 2, "one per app in the chat: {got:?}");
    assert!(ids.contains(&oldest.id));
    // Another owner may not record on it; its owner fails it with a retry.
    assert!(!s
        .record_attempt(oldest.id, "n2", outbox_attempt(101, false), Next::Failed)
        .await
        .unwrap());
    assert!(s
        .record_attempt(
            oldest.id,
            "n1",
            outbox_attempt(101, false),
            Next::RetryAt(5_000)
        )
        .await
        .unwrap());
    assert!(!s
        .record_attempt(oldest.id, "n1", outbox_attempt(102, true), Next::Delivered)
        .await
        .unwrap());
    let rec = s
        .get_delivery(w.tenant, &oldest.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.delivery.status, DeliveryStatus::Retrying);
    assert_eq!(rec.delivery.next_attempt_at, Some(5_000));
    assert_eq!(rec.attempts, vec![outbox_attempt(101, false)]);
    assert!(s
        .get_delivery(TenantId(999), &oldest.event_id)
        .await
        .unwrap()
        .is_none());
    // A retrying delivery does not hold back the pending ones after it.
    let next = s
        .lease_deliveries(outbox_lease_up_to("n1", 200, 10))
        .await
        .unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, listed[1].delivery.id);
    assert!(s
        .record_attempt(next[0].id, "n1", outbox_attempt(201, true), Next::Delivered)
        .await
        .unwrap());
    let mut filtered = q(Some(DeliveryStatus::Delivered));
    assert_eq!(s.list_deliveries(filtered.clone()).await.unwrap().len(), 1);
    filtered.event_type = Some("nope".into());
    assert!(s.list_deliveries(filtered).await.unwrap().is_empty());

    // Redeliver: due now again, attempts kept; Pending when never attempted.
    let again = s.redeliver(w.tenant, &next[0].event_id, 300).await.unwrap();
    assert_eq!(
        (again.status, again.attempts, again.next_attempt_at),
        (DeliveryStatus::Retrying, 1, Some(300))
    );
    let never = s
        .redeliver(w.tenant, &listed[0].delivery.event_id, 300)
        .await
        .unwrap();
    assert_eq!(never.status, DeliveryStatus::Pending);
    assert!(matches!(
        s.redeliver(TenantId(999), &never.event_id, 300).await,
        Err(StoreError::NotFound(crate::error::Entity::Delivery))
    ));
    // Redelivering a leased one takes the lease away from its holder.
    let held = s
        .lease_deliveries(outbox_lease_up_to("n1", 300, 10))
        .await
        .unwrap();
    assert!(!held.is_empty());
    s.redeliver(w.tenant, &held[0].event_id, 300).await.unwrap();
    assert!(!s
        .record_attempt(held[0].id, "n1", outbox_attempt(301, true), Next::Delivered)
        .await
        .unwrap());
    for d in &held[1..] {
        s.record_attempt(d.id, "n1", outbox_attempt(301, true), Next::Delivered)
            .await
            .unwrap();
    }

    // Prune: finished ones created before the cut, with their attempts.
    for _ in 0..10 {
        let got = s
            .lease_deliveries(outbox_lease_up_to("n1", 6_000, 10))
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        for d in got {
            s.record_attempt(d.id, "n1", outbox_attempt(6_001, true), Next::Delivered)
                .await
                .unwrap();
        }
    }
    assert_eq!(
        s.list_deliveries(q(Some(DeliveryStatus::Delivered)))
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        s.prune_deliveries(100).await.unwrap(),
        0,
        "created at 100, not before"
    );
    assert_eq!(s.prune_deliveries(101).await.unwrap(), 4);
    assert!(s.list_deliveries(q(None)).await.unwrap().is_empty());

    // Deleting a subscription drops its open deliveries only.
    let open = outbox_routed(s, &w, w.group.id, w.bot, 2).await;
    let first = s
        .lease_deliveries(outbox_lease_up_to("n1", 7_000, 10))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    s.record_attempt(
        first[0].id,
        "n1",
        outbox_attempt(7_001, true),
        Next::Delivered,
    )
    .await
    .unwrap();
    s.put_subscription(outbox_sub(&w, w.bot, "d", 1))
        .await
        .unwrap();
    assert_eq!(s.delete_subscription(w.bot, "d").await.unwrap(), 1);
    assert!(matches!(
        s.delete_subscription(w.bot, "d").await,
        Err(StoreError::NotFound(crate::error::Entity::Subscription))
    ));
    let left = s.list_deliveries(q(None)).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].delivery.id, open[0]);
    assert_eq!(left[0].attempts.len(), 1);
    assert_eq!(
        s.list_subscriptions(w.tenant, Some(w.bot))
            .await
            .unwrap()
            .len(),
        2
    );
}
