//! The event outbox on PostgreSQL: the changes each write records (in its own statement or
//! transaction), the delivery log's round trips, and what only a database shared by
//! several nodes must prove: one router at a time, and the per-(app, dialect, chat) order
//! of deliveries under concurrent leasing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_core::error::Entity;
use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use switchboard_core::testing::{new_text, text};
use switchboard_store_postgres::testing::{self, TestDatabase};
use switchboard_store_postgres::{PostgresOptions, PostgresStore};

async fn node(db: &TestDatabase) -> Arc<PostgresStore> {
    let opts = PostgresOptions {
        pool_size: 4,
        cache: false,
        ..PostgresOptions::new(db.url())
    };
    Arc::new(PostgresStore::connect(opts).await.unwrap())
}

struct World {
    tenant: TenantId,
    owner: Actor,
    bob: Actor,
    bot: AppId,
    other_bot: AppId,
    chat: ChatId,
}

async fn world(s: &PostgresStore) -> World {
    let t = s
        .create_tenant(NewTenant {
            name: "T".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let mut users = Vec::new();
    for name in ["alice", "bob"] {
        let u = s
            .create_user(NewUser {
                tenant: t.id,
                user_id: name.into(),
                account_id: name.into(),
                name: name.into(),
                created_at: 1,
            })
            .await
            .unwrap();
        users.push(Actor::User(u.id));
    }
    let mut apps = Vec::new();
    for name in ["bot", "other"] {
        let a = s
            .create_app(NewApp {
                tenant: t.id,
                app_id: format!("cli_{name}"),
                app_secret: Secret::new("s".to_string()),
                name: name.into(),
                bot_enabled: true,
                signing_required: false,
                scopes: vec![],
                created_at: 1,
            })
            .await
            .unwrap();
        apps.push(a.id);
    }
    let chat = s
        .create_chat(NewChat {
            tenant: t.id,
            kind: ChatKind::Group,
            name: "G".into(),
            owner: users[0],
            members: vec![
                (users[0], Role::Owner),
                (users[1], Role::Member),
                (Actor::App(apps[0]), Role::Member),
            ],
            created_at: 10,
        })
        .await
        .unwrap();
    World {
        tenant: t.id,
        owner: users[0],
        bob: users[1],
        bot: apps[0],
        other_bot: apps[1],
        chat: chat.id,
    }
}

/// Leases and routes (to nothing) every change there is, as `owner`.
async fn drain(s: &PostgresStore) -> Vec<Change> {
    let mut out = Vec::new();
    loop {
        let got = s.lease_changes("drain", 3, 0, i64::MAX / 2).await.unwrap();
        if got.is_empty() {
            return out;
        }
        let seqs: Vec<i64> = got.iter().map(|c| c.seq).collect();
        s.route_changes("drain", &seqs, vec![]).await.unwrap();
        out.extend(got);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_write_records_its_change_and_imports_record_none() {
    let db = testing::fresh_database().await;
    let s = node(&db).await;
    let w = world(&s).await;
    let created = drain(&s).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].body,
        ChangeBody::MembersAdded {
            by: Some(w.owner),
            members: vec![w.bob, Actor::App(w.bot)],
        }
    );
    assert_eq!(
        (created[0].tenant, created[0].chat, created[0].at),
        (w.tenant, w.chat, 10)
    );

    // A chat whose owner is alone records nothing.
    s.create_chat(NewChat {
        tenant: w.tenant,
        kind: ChatKind::Group,
        name: "alone".into(),
        owner: w.owner,
        members: vec![(w.owner, Role::Owner)],
        created_at: 11,
    })
    .await
    .unwrap();
    assert!(drain(&s).await.is_empty());

    // The one-statement send: the stored message, byte for byte what a get reads. Its
    // time is raised to the chat's last one, as the message's is.
    let mut tricky = new_text(
        w.tenant,
        w.chat,
        w.owner,
        "a \"quoted\" \\ 日本 \u{1F600}",
        20,
    );
    tricky.content.data = serde_json::json!({ "created_at": 0, "nul": "\u{0}" });
    let plain = s.append_message(tricky).await.unwrap().message;
    let earlier = s
        .append_message(new_text(w.tenant, w.chat, w.bob, "earlier", 5))
        .await
        .unwrap()
        .message;
    assert_eq!(earlier.created_at, 20);
    // The keyed send, then its repeat (no change), then the merge-forward container.
    let mut keyed = new_text(w.tenant, w.chat, w.bob, "keyed", 30);
    keyed.client_msg_id = Some("k1".into());
    let first = s.append_message(keyed.clone()).await.unwrap();
    let again = s.append_message(keyed).await.unwrap();
    assert!(first.created && !again.created);
    let child = new_text(w.tenant, w.chat, w.bob, "child", 31);
    let (container, kids) = s
        .append_merge_forward(
            new_text(w.tenant, w.chat, w.owner, "box", 31),
            vec![child.clone(), child],
        )
        .await
        .unwrap();
    assert_eq!(kids.len(), 2);
    let got = drain(&s).await;
    let messages: Vec<&Message> = got
        .iter()
        .map(|c| match &c.body {
            ChangeBody::MessageCreated { message } => message,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(messages.len(), 4, "{got:?}");
    for (m, stored) in messages
        .iter()
        .zip([&plain, &earlier, &first.message, &container])
    {
        assert_eq!(*m, stored);
        assert_eq!(Some((*m).clone()), s.get_message(m.id).await.unwrap());
    }
    assert_eq!(got[1].at, 20);
    assert!(got.iter().all(|c| c.tenant == w.tenant && c.chat == w.chat));
    assert!(got.windows(2).all(|p| p[0].seq < p[1].seq));

    // Edits and removals: the message after the update, at the update's time.
    let edit = MessageUpdate::Edit {
        kind: MessageType::Text,
        content: text("edited"),
        mentions: vec![],
        by: w.owner,
        at: 40,
        max_edits: None,
        min_interval_ms: None,
        extra: None,
    };
    let edited = s.update_message(plain.id, edit).await.unwrap();
    let removal = Removal {
        kind: RemovalKind::Recalled,
        by: w.owner,
        at: 41,
    };
    let removed = s
        .update_message(plain.id, MessageUpdate::Remove(removal.clone()))
        .await
        .unwrap();
    // A refused update records nothing.
    assert!(s
        .update_message(plain.id, MessageUpdate::Remove(removal))
        .await
        .is_err());
    let got = drain(&s).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, ChangeBody::MessageEdited { message: edited });
    assert_eq!(got[0].at, 40);
    assert_eq!(got[1].body, ChangeBody::MessageRemoved { message: removed });
    assert_eq!(got[1].at, 41);

    // Members: only those actually added or removed, none when there are none.
    let other = Actor::App(w.other_bot);
    let added = s
        .add_members(
            w.chat,
            vec![(w.bob, Role::Member), (other, Role::Member)],
            50,
            Some(w.bob),
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
    s.add_members(w.chat, vec![(other, Role::Member)], 51, None)
        .await
        .unwrap();
    let gone = s
        .remove_members(
            w.chat,
            vec![other, Actor::App(AppId(9999))],
            52,
            Some(w.owner),
        )
        .await
        .unwrap();
    assert_eq!(gone, vec![other]);
    assert!(s
        .remove_members(w.chat, vec![other], 53, None)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.add_members(ChatId(999_999), vec![(other, Role::Member)], 54, None)
            .await
            .unwrap_err()
            .to_string(),
        StoreError::NotFound(Entity::Chat).to_string()
    );
    let got = drain(&s).await;
    let bodies: Vec<ChangeBody> = got.iter().map(|c| c.body.clone()).collect();
    assert_eq!(
        bodies,
        vec![
            ChangeBody::MembersAdded {
                by: Some(w.bob),
                members: vec![other]
            },
            ChangeBody::MembersRemoved {
                by: Some(w.owner),
                members: vec![other]
            },
        ]
    );
    assert_eq!((got[0].at, got[1].at), (50, 52));

    // Imports record nothing, with or without idempotency keys.
    let mut with_key = new_text(w.tenant, w.chat, w.bob, "imported", 60);
    with_key.client_msg_id = Some("import-1".into());
    s.append_batch(vec![new_text(w.tenant, w.chat, w.bob, "imported", 60)])
        .await
        .unwrap();
    s.append_batch(vec![with_key]).await.unwrap();
    assert!(drain(&s).await.is_empty());

    // Dissolving records once; dissolving again records nothing and keeps the first time.
    let d = s.dissolve_chat(w.chat, 70, Some(w.owner)).await.unwrap();
    assert_eq!(d.dissolved_at, Some(70));
    let d = s.dissolve_chat(w.chat, 71, None).await.unwrap();
    assert_eq!(d.dissolved_at, Some(70));
    let got = drain(&s).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, ChangeBody::ChatDissolved { by: Some(w.owner) });
    assert_eq!(got[0].at, 70);
    // A failed send (dissolved chat) records nothing either.
    assert!(s
        .append_message(new_text(w.tenant, w.chat, w.bob, "late", 80))
        .await
        .is_err());
    assert!(drain(&s).await.is_empty());
}

fn delivery_for(c: &Change, app: AppId, dialect: &str, mode: Mode, n: usize) -> NewDelivery {
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

fn lease<'a>(owner: &'a str, now: Millis, limit: usize) -> DeliveryLease<'a> {
    DeliveryLease {
        owner,
        limit,
        now,
        until: now + 1_000,
        mode: Mode::Webhook,
        only_apps: None,
        skip_apps: &[],
    }
}

fn attempt(at: Millis, ok: bool) -> Attempt {
    Attempt {
        at,
        status: ok.then_some(200),
        latency_ms: 7,
        error: (!ok).then_some(ErrorClass::Timeout),
    }
}

fn sub(w: &World, app: AppId, dialect: &str, at: Millis) -> Subscription {
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

/// Sends `n` messages to `chat` and routes each to `app` (dialect "d", webhook).
async fn routed(s: &PostgresStore, w: &World, chat: ChatId, app: AppId, n: usize) -> Vec<i64> {
    for i in 0..n {
        s.append_message(new_text(w.tenant, chat, w.owner, &format!("m{i}"), 20))
            .await
            .unwrap();
    }
    let changes = s.lease_changes("r", n, 0, 1_000).await.unwrap();
    assert_eq!(changes.len(), n);
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let ds = changes
        .iter()
        .enumerate()
        .map(|(i, c)| delivery_for(c, app, "d", Mode::Webhook, i))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_routing_and_the_delivery_log_round_trip() {
    let db = testing::fresh_database().await;
    let s = node(&db).await;
    let w = world(&s).await;
    drain(&s).await;

    // Subscriptions: created, replaced (keeping created_at), listed, deleted.
    let a = s.put_subscription(sub(&w, w.bot, "hi", 1)).await.unwrap();
    assert_eq!(a, sub(&w, w.bot, "hi", 1));
    let mut changed = sub(&w, w.bot, "hi", 5);
    changed.mode = Mode::LongConnection;
    changed.url = String::new();
    let b = s.put_subscription(changed.clone()).await.unwrap();
    assert_eq!(
        (b.created_at, b.updated_at, b.mode),
        (1, 5, Mode::LongConnection)
    );
    s.put_subscription(sub(&w, w.bot, "feishu", 2))
        .await
        .unwrap();
    s.put_subscription(sub(&w, w.other_bot, "feishu", 3))
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
        s.append_message(new_text(w.tenant, w.chat, w.owner, &format!("m{i}"), 20))
            .await
            .unwrap();
    }
    let changes = s.lease_changes("r", 10, 0, 1_000).await.unwrap();
    assert_eq!(changes.len(), 3);
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    let mut ds = vec![
        delivery_for(&changes[0], w.bot, "feishu", Mode::Webhook, 0),
        delivery_for(&changes[0], w.other_bot, "feishu", Mode::Webhook, 0),
        delivery_for(&changes[1], w.bot, "feishu", Mode::Webhook, 0),
        delivery_for(&changes[2], w.bot, "feishu", Mode::Webhook, 0),
    ];
    // A delivery for a change that is not among the seqs routed is skipped.
    ds.push(NewDelivery {
        seq: 987_654,
        ..delivery_for(&changes[2], w.bot, "feishu", Mode::Webhook, 9)
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
    let got = s.lease_deliveries(lease("n1", 100, 10)).await.unwrap();
    let ids: Vec<i64> = got.iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 2, "one per app in the chat: {got:?}");
    assert!(ids.contains(&oldest.id));
    // Another owner may not record on it; its owner fails it with a retry.
    assert!(!s
        .record_attempt(oldest.id, "n2", attempt(101, false), Next::Failed)
        .await
        .unwrap());
    assert!(s
        .record_attempt(oldest.id, "n1", attempt(101, false), Next::RetryAt(5_000))
        .await
        .unwrap());
    assert!(!s
        .record_attempt(oldest.id, "n1", attempt(102, true), Next::Delivered)
        .await
        .unwrap());
    let rec = s
        .get_delivery(w.tenant, &oldest.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.delivery.status, DeliveryStatus::Retrying);
    assert_eq!(rec.delivery.next_attempt_at, Some(5_000));
    assert_eq!(rec.attempts, vec![attempt(101, false)]);
    assert!(s
        .get_delivery(TenantId(999), &oldest.event_id)
        .await
        .unwrap()
        .is_none());
    // A retrying delivery does not hold back the pending ones after it.
    let next = s.lease_deliveries(lease("n1", 200, 10)).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].id, listed[1].delivery.id);
    assert!(s
        .record_attempt(next[0].id, "n1", attempt(201, true), Next::Delivered)
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
        Err(StoreError::NotFound(Entity::Delivery))
    ));
    // Redelivering a leased one takes the lease away from its holder.
    let held = s.lease_deliveries(lease("n1", 300, 10)).await.unwrap();
    assert!(!held.is_empty());
    s.redeliver(w.tenant, &held[0].event_id, 300).await.unwrap();
    assert!(!s
        .record_attempt(held[0].id, "n1", attempt(301, true), Next::Delivered)
        .await
        .unwrap());
    for d in &held[1..] {
        s.record_attempt(d.id, "n1", attempt(301, true), Next::Delivered)
            .await
            .unwrap();
    }

    // Prune: finished ones created before the cut, with their attempts.
    for _ in 0..10 {
        let got = s.lease_deliveries(lease("n1", 6_000, 10)).await.unwrap();
        if got.is_empty() {
            break;
        }
        for d in got {
            s.record_attempt(d.id, "n1", attempt(6_001, true), Next::Delivered)
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
    let open = routed(&s, &w, w.chat, w.bot, 2).await;
    let first = s.lease_deliveries(lease("n1", 7_000, 10)).await.unwrap();
    assert_eq!(first.len(), 1);
    s.record_attempt(first[0].id, "n1", attempt(7_001, true), Next::Delivered)
        .await
        .unwrap();
    s.put_subscription(sub(&w, w.bot, "d", 1)).await.unwrap();
    assert_eq!(s.delete_subscription(w.bot, "d").await.unwrap(), 1);
    assert!(matches!(
        s.delete_subscription(w.bot, "d").await,
        Err(StoreError::NotFound(Entity::Subscription))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_is_one_nodes_at_a_time() {
    let db = testing::fresh_database().await;
    let (a, b) = (node(&db).await, node(&db).await);
    let w = world(&a).await;
    drain(&a).await;
    for i in 0..5 {
        a.append_message(new_text(w.tenant, w.chat, w.owner, &format!("m{i}"), 20))
            .await
            .unwrap();
    }
    let held = a.lease_changes("A", 2, 1_000, 2_000).await.unwrap();
    assert_eq!(held.len(), 2);
    // While A's lease is live, B gets nothing, not even the changes A does not hold.
    assert!(b
        .lease_changes("B", 10, 1_999, 5_000)
        .await
        .unwrap()
        .is_empty());
    // A renews its own and takes more.
    let renewed = a.lease_changes("A", 3, 1_500, 3_000).await.unwrap();
    assert_eq!(renewed.len(), 3);
    assert_eq!(renewed[..2], held[..]);
    // Once A's lease has passed, B takes over; A's late routing then changes nothing.
    let taken = b.lease_changes("B", 10, 3_000, 6_000).await.unwrap();
    assert_eq!(taken.len(), 5);
    let seqs: Vec<i64> = renewed.iter().map(|c| c.seq).collect();
    let late: Vec<NewDelivery> = renewed
        .iter()
        .map(|c| delivery_for(c, w.bot, "d", Mode::Webhook, 0))
        .collect();
    a.route_changes("A", &seqs, late).await.unwrap();
    assert!(a
        .get_delivery(
            w.tenant,
            &delivery_for(&renewed[0], w.bot, "d", Mode::Webhook, 0).event_id
        )
        .await
        .unwrap()
        .is_none());
    let seqs: Vec<i64> = taken.iter().map(|c| c.seq).collect();
    b.route_changes("B", &seqs, vec![]).await.unwrap();
    assert!(b
        .lease_changes("B", 10, 3_000, 6_000)
        .await
        .unwrap()
        .is_empty());

    // Racing routers: at any instant only one owner holds leases.
    for i in 0..40 {
        a.append_message(new_text(w.tenant, w.chat, w.owner, &format!("r{i}"), 20))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for (k, store) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        tasks.push(tokio::spawn(async move {
            let owner = format!("node{k}");
            let got = store
                .lease_changes(&owner, 100, 10_000, 20_000)
                .await
                .unwrap();
            (owner, got.len())
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        let (owner, n) = t.await.unwrap();
        if n > 0 {
            winners.push((owner, n));
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    assert_eq!(winners[0].1, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_of_one_chat_go_one_at_a_time_in_order_across_nodes() {
    let db = testing::fresh_database().await;
    let (a, b) = (node(&db).await, node(&db).await);
    let w = world(&a).await;
    drain(&a).await;
    // Five chats, eight deliveries each, to one app; and one to another app (not blocked).
    let mut chats = vec![w.chat];
    for i in 0..4 {
        let c = a
            .create_chat(NewChat {
                tenant: w.tenant,
                kind: ChatKind::Group,
                name: format!("c{i}"),
                owner: w.owner,
                members: vec![(w.owner, Role::Owner)],
                created_at: 1,
            })
            .await
            .unwrap();
        chats.push(c.id);
    }
    let mut expected: HashMap<ChatId, Vec<i64>> = HashMap::new();
    for c in &chats {
        expected.insert(*c, routed(&a, &w, *c, w.bot, 8).await);
    }
    routed(&a, &w, w.chat, w.other_bot, 1).await;
    // Filters: the other app alone, then skipped; long connections only (none).
    let only = [w.other_bot];
    let got = b
        .lease_deliveries(DeliveryLease {
            only_apps: Some(&only),
            ..lease("x", 100, 10)
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].app, w.other_bot);
    let got = b
        .lease_deliveries(DeliveryLease {
            mode: Mode::LongConnection,
            ..lease("x", 100, 10)
        })
        .await
        .unwrap();
    assert!(got.is_empty());
    let skip = [w.bot];
    assert!(b
        .lease_deliveries(DeliveryLease {
            skip_apps: &skip,
            ..lease("x", 100, 10)
        })
        .await
        .unwrap()
        .is_empty());

    // Four workers on two nodes lease and deliver until everything is delivered; the
    // workers check that no chat ever has two deliveries in hand, and log the order.
    let in_hand: Arc<Mutex<HashMap<ChatId, i64>>> = Arc::default();
    let order: Arc<Mutex<HashMap<ChatId, Vec<i64>>>> = Arc::default();
    let mut tasks = Vec::new();
    for k in 0..4 {
        let store = if k % 2 == 0 { a.clone() } else { b.clone() };
        let (in_hand, order) = (in_hand.clone(), order.clone());
        let bot = w.bot;
        tasks.push(tokio::spawn(async move {
            let owner = format!("w{k}");
            let mut idle = 0;
            while idle < 20 {
                let got = store
                    .lease_deliveries(DeliveryLease {
                        only_apps: Some(&[bot]),
                        ..lease(&owner, 1_000, 3)
                    })
                    .await
                    .unwrap();
                if got.is_empty() {
                    idle += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    continue;
                }
                idle = 0;
                for d in &got {
                    let prev = in_hand.lock().unwrap().insert(d.chat, d.id);
                    assert!(
                        prev.is_none(),
                        "two of chat {} in hand: {prev:?} and {}",
                        d.chat,
                        d.id
                    );
                    order.lock().unwrap().entry(d.chat).or_default().push(d.id);
                }
                tokio::task::yield_now().await;
                for d in &got {
                    in_hand.lock().unwrap().remove(&d.chat);
                    assert!(store
                        .record_attempt(d.id, &owner, attempt(1_001, true), Next::Delivered)
                        .await
                        .unwrap());
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap();
    for c in &chats {
        assert_eq!(order.get(c), expected.get(c), "chat {c}");
    }
}
