//! The event outbox on SQLite: changes recorded by the writes that cause them (and only
//! by them), routing, delivery leases, the delivery log, and what survives a restart.

use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use switchboard_core::testing::new_text;
use switchboard_store_sqlite::{SqliteOptions, SqliteStore};

struct World {
    store: SqliteStore,
    tenant: TenantId,
    alice: Actor,
    bob: Actor,
    carol: Actor,
    bot: AppId,
    other_bot: AppId,
    group: Chat,
    _dir: Option<tempfile::TempDir>,
}

async fn world_in(dir: &std::path::Path) -> World {
    let store = SqliteStore::open(SqliteOptions::in_dir(dir)).unwrap();
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
    World {
        store,
        tenant: t.id,
        alice,
        bob,
        carol,
        bot: apps[0],
        other_bot: apps[1],
        group,
        _dir: None,
    }
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut w = world_in(dir.path()).await;
    w._dir = Some(dir);
    w
}

/// Every change in the outbox, read from the file without taking a lease.
async fn changes(s: &SqliteStore) -> Vec<Change> {
    let c = rusqlite::Connection::open(s.path()).unwrap();
    let mut st = c
        .prepare("SELECT seq, tenant_id, chat_id, at, body FROM changes ORDER BY seq")
        .unwrap();
    let rows = st
        .query_map([], |r| {
            Ok(Change {
                seq: r.get(0)?,
                tenant: TenantId(r.get(1)?),
                chat: ChatId(r.get(2)?),
                at: r.get(3)?,
                body: ChangeBody::decode(&r.get::<_, Vec<u8>>(4)?).unwrap(),
            })
        })
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

/// Routes every change away (to no deliveries), so the next writes start an empty outbox.
async fn drain(s: &SqliteStore) {
    let all = s.lease_changes("drain", 10_000, 0, 1).await.unwrap();
    let seqs: Vec<i64> = all.iter().map(|c| c.seq).collect();
    s.route_changes("drain", &seqs, vec![]).await.unwrap();
    assert!(changes(s).await.is_empty());
}

fn bodies(cs: &[Change]) -> Vec<ChangeBody> {
    cs.iter().map(|c| c.body.clone()).collect()
}

fn event_id(n: u64) -> String {
    format!("{n:032x}")
}

fn new_delivery(w: &World, n: u64, app: AppId, chat: ChatId, seq: i64, at: Millis) -> NewDelivery {
    NewDelivery {
        event_id: event_id(n),
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

/// Routes `ds` as if they came from fresh changes (one dissolve-free member change each).
async fn route(w: &World, ds: Vec<NewDelivery>) -> Vec<Delivery> {
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
async fn make_changes(w: &World, n: usize) -> Vec<i64> {
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
    let cs = changes(&w.store).await;
    cs[cs.len() - n..].iter().map(|c| c.seq).collect()
}

fn lease(owner: &str, now: Millis) -> DeliveryLease<'_> {
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

fn ok_attempt(at: Millis) -> Attempt {
    Attempt {
        at,
        status: Some(200),
        latency_ms: 3,
        error: None,
    }
}

fn failed_attempt(at: Millis) -> Attempt {
    Attempt {
        at,
        status: Some(500),
        latency_ms: 7,
        error: Some(ErrorClass::Status),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_kind_records_its_change() {
    let w = world().await;
    let s = &w.store;
    let bot = Actor::App(w.bot);
    // create_chat: everyone but the owner joined, by the owner.
    let cs = changes(s).await;
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
    drain(s).await;
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
    assert!(changes(s).await.is_empty());

    // append_message, and nothing for its idempotent repeat.
    let mut nm = new_text(w.tenant, w.group.id, w.bob, "hi", 20);
    nm.client_msg_id = Some("once".into());
    let first = s.append_message(nm.clone()).await.unwrap();
    let again = s.append_message(nm).await.unwrap();
    assert!(first.created && !again.created);
    let cs = changes(s).await;
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
    drain(s).await;

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
    let cs = changes(s).await;
    assert_eq!(cs.iter().map(|c| c.at).collect::<Vec<_>>(), vec![30, 40]);
    assert_eq!(
        bodies(&cs),
        vec![
            ChangeBody::MessageEdited { message: edited },
            ChangeBody::MessageRemoved { message: removed }
        ]
    );
    drain(s).await;

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
        bodies(&changes(s).await),
        vec![ChangeBody::MessageCreated { message: container }]
    );
    drain(s).await;

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
    s.remove_members(w.group.id, vec![w.carol], 63, None)
        .await
        .unwrap();
    let cs = changes(s).await;
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
    drain(s).await;

    // Imports record nothing, with idempotency keys or without.
    let mut keyed = new_text(w.tenant, solo.id, w.alice, "k", 70);
    keyed.client_msg_id = Some("imp".into());
    s.append_batch(vec![keyed, new_text(w.tenant, solo.id, w.alice, "x", 71)])
        .await
        .unwrap();
    s.append_batch(vec![new_text(w.tenant, solo.id, w.alice, "y", 72)])
        .await
        .unwrap();
    assert!(changes(s).await.is_empty());

    // Dissolving: once, by whoever did it; members stay.
    s.dissolve_chat(w.group.id, 80, Some(w.alice))
        .await
        .unwrap();
    s.dissolve_chat(w.group.id, 81, Some(w.bob)).await.unwrap();
    let cs = changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].at, 80);
    assert_eq!(cs[0].body, ChangeBody::ChatDissolved { by: Some(w.alice) });
    assert_eq!(s.list_members(w.group.id).await.unwrap().len(), 3);
    drain(s).await;

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
    assert!(changes(s).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_seqs_follow_the_writes_and_are_never_reused() {
    let w = world().await;
    drain(&w.store).await;
    let a = make_changes(&w, 3).await;
    assert!(a.windows(2).all(|p| p[0] < p[1]));
    drain(&w.store).await;
    let b = make_changes(&w, 1).await;
    assert!(b[0] > a[2], "seq reused after routing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_leases_are_one_owners_at_a_time() {
    let w = world().await;
    let s = &w.store;
    make_changes(&w, 3).await;
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
        .map(|(i, seq)| new_delivery(&w, i as u64, w.bot, w.group.id, *seq, 3_100))
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
        .get_delivery(w.tenant, &event_id(0))
        .await
        .unwrap()
        .is_none());
    // The holder routes them: changes gone, deliveries in.
    s.route_changes("two", &seqs[..3], ds).await.unwrap();
    let left = changes(s).await;
    assert_eq!(
        left.iter().map(|c| c.seq).collect::<Vec<_>>(),
        vec![seqs[3]]
    );
    for i in 0..3 {
        let d = s
            .get_delivery(w.tenant, &event_id(i))
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
        s.get_delivery(w.tenant, &event_id(3))
            .await
            .unwrap()
            .is_none(),
        "unrouted seq's delivery"
    );
    assert!(s
        .get_delivery(TenantId(w.tenant.0 + 1), &event_id(0))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_round_trip() {
    let w = world().await;
    let s = &w.store;
    drain(s).await;
    let seqs = make_changes(&w, 2).await;
    let mut first = new_delivery(&w, 1, w.bot, w.group.id, seqs[0], 500);
    first.message = Some(MessageId(w.group.id.0 << 32 | 1));
    let mut second = new_delivery(&w, 2, w.bot, w.group.id, seqs[1], 500);
    second.event_type = "im.chat.member.user.added_v1".into();
    let ds = route(&w, vec![first.clone(), second]).await;
    assert!(ds[0].id < ds[1].id);
    assert_eq!(ds[0].message, first.message);
    assert_eq!(ds[0].body, first.body);
    assert_eq!(ds[0].mode, Mode::Webhook);

    // Not due before its time; then only the first of the chat's line.
    assert!(s
        .lease_deliveries(lease("d", 499))
        .await
        .unwrap()
        .is_empty());
    let got = s.lease_deliveries(lease("d", 500)).await.unwrap();
    assert_eq!(got, vec![ds[0].clone()]);
    // A stranger cannot record on it; the holder can.
    assert!(!s
        .record_attempt(ds[0].id, "x", failed_attempt(510), Next::RetryAt(600))
        .await
        .unwrap());
    assert!(s
        .record_attempt(ds[0].id, "d", failed_attempt(510), Next::RetryAt(600))
        .await
        .unwrap());
    assert!(
        !s.record_attempt(ds[0].id, "d", ok_attempt(511), Next::Delivered)
            .await
            .unwrap(),
        "lease released"
    );
    // The retrying one does not hold back the next.
    let got = s.lease_deliveries(lease("d", 520)).await.unwrap();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), vec![ds[1].id]);
    assert!(s
        .record_attempt(ds[1].id, "d", ok_attempt(521), Next::Delivered)
        .await
        .unwrap());
    let got = s.lease_deliveries(lease("d", 600)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].status, got[0].attempts),
        (DeliveryStatus::Retrying, 1)
    );
    assert!(s
        .record_attempt(ds[0].id, "d", failed_attempt(601), Next::Failed)
        .await
        .unwrap());
    assert!(s
        .lease_deliveries(lease("d", 10_000))
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
        vec![failed_attempt(510), failed_attempt(601)]
    );
    assert_eq!(all[1].delivery.status, DeliveryStatus::Failed);
    assert_eq!(all[1].delivery.next_attempt_at, None);
    assert_eq!(all[0].attempts, vec![ok_attempt(521)]);
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
    let r = s.redeliver(w.tenant, &event_id(1), 700).await.unwrap();
    assert_eq!(
        (r.status, r.attempts, r.next_attempt_at),
        (DeliveryStatus::Retrying, 2, Some(700))
    );
    assert_eq!(r.event_id, event_id(1));
    assert!(matches!(
        s.redeliver(TenantId(w.tenant.0 + 1), &event_id(1), 700)
            .await,
        Err(StoreError::NotFound(
            switchboard_core::error::Entity::Delivery
        ))
    ));
    assert!(matches!(
        s.redeliver(w.tenant, &event_id(99), 700).await,
        Err(StoreError::NotFound(
            switchboard_core::error::Entity::Delivery
        ))
    ));
    let got = s.lease_deliveries(lease("d", 700)).await.unwrap();
    assert_eq!(got.iter().map(|d| d.id).collect::<Vec<_>>(), vec![ds[0].id]);
    // A redelivery takes the lease away from whoever held it.
    s.redeliver(w.tenant, &event_id(1), 710).await.unwrap();
    assert!(!s
        .record_attempt(ds[0].id, "d", ok_attempt(711), Next::Delivered)
        .await
        .unwrap());
    let got = s.lease_deliveries(lease("e", 710)).await.unwrap();
    assert!(s
        .record_attempt(got[0].id, "e", ok_attempt(712), Next::Delivered)
        .await
        .unwrap());

    // Pruning: finished deliveries older than the cut, with their attempts.
    let seqs = make_changes(&w, 1).await;
    route(
        &w,
        vec![new_delivery(&w, 3, w.bot, w.group.id, seqs[0], 400)],
    )
    .await;
    assert_eq!(s.prune_deliveries(500).await.unwrap(), 0, "open ones stay");
    assert_eq!(s.prune_deliveries(501).await.unwrap(), 2);
    assert!(s
        .get_delivery(w.tenant, &event_id(1))
        .await
        .unwrap()
        .is_none());
    let left = s.list_deliveries(q).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].delivery.event_id, event_id(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_keep_order_per_app_dialect_and_chat() {
    let w = world().await;
    let s = &w.store;
    drain(s).await;
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
    let seqs = make_changes(&w, 6).await;
    let mut hi = new_delivery(&w, 5, w.bot, w.group.id, seqs[5], 100);
    hi.dialect = "hi".into();
    let ds = route(
        &w,
        vec![
            new_delivery(&w, 0, w.bot, w.group.id, seqs[0], 100),
            new_delivery(&w, 1, w.bot, w.group.id, seqs[1], 100),
            new_delivery(&w, 2, w.other_bot, w.group.id, seqs[2], 100),
            new_delivery(&w, 3, w.bot, other_chat, seqs[3], 100),
            new_delivery(&w, 4, w.bot, w.group.id, seqs[4], 90),
            hi,
        ],
    )
    .await;
    let ids = |v: Vec<Delivery>| v.iter().map(|d| d.id).collect::<Vec<_>>();
    // One per line; the lower pending id goes first even when a later one is due earlier.
    let got = ids(s.lease_deliveries(lease("a", 100)).await.unwrap());
    assert_eq!(got, vec![ds[0].id, ds[2].id, ds[3].id, ds[5].id]);
    // Nothing more while those are leased, not even for another owner.
    assert!(s
        .lease_deliveries(lease("b", 200))
        .await
        .unwrap()
        .is_empty());
    // An expired lease frees the line; the next of it waits for the first.
    let got = ids(s.lease_deliveries(lease("b", 1_100)).await.unwrap());
    assert_eq!(got, vec![ds[0].id, ds[2].id, ds[3].id, ds[5].id]);
    assert!(!s
        .record_attempt(ds[0].id, "a", ok_attempt(1_100), Next::Delivered)
        .await
        .unwrap());
    assert!(s
        .record_attempt(ds[0].id, "b", ok_attempt(1_100), Next::Delivered)
        .await
        .unwrap());
    assert_eq!(
        ids(s.lease_deliveries(lease("b", 1_100)).await.unwrap()),
        vec![ds[1].id]
    );
    assert!(s
        .record_attempt(ds[1].id, "b", ok_attempt(1_101), Next::Delivered)
        .await
        .unwrap());
    assert_eq!(
        ids(s.lease_deliveries(lease("b", 1_101)).await.unwrap()),
        vec![ds[4].id]
    );
    for d in [&ds[2], &ds[3], &ds[4], &ds[5]] {
        assert!(s
            .record_attempt(d.id, "b", ok_attempt(1_102), Next::Delivered)
            .await
            .unwrap());
    }

    // Filters: mode, only_apps, skip_apps, limit.
    let seqs = make_changes(&w, 3).await;
    let mut lc = new_delivery(&w, 10, w.bot, other_chat, seqs[0], 2_000);
    lc.mode = Mode::LongConnection;
    lc.dialect = "lc".into();
    let more = route(
        &w,
        vec![
            lc,
            new_delivery(&w, 11, w.other_bot, other_chat, seqs[1], 2_000),
            new_delivery(&w, 12, w.bot, ChatId(other_chat.0 + 100), seqs[2], 2_000),
        ],
    )
    .await;
    let mut l = lease("c", 5_000);
    l.mode = Mode::LongConnection;
    assert_eq!(ids(s.lease_deliveries(l).await.unwrap()), vec![more[0].id]);
    let mut l = lease("c", 5_000);
    l.only_apps = Some(&[]);
    assert!(s.lease_deliveries(l).await.unwrap().is_empty());
    let skip = [w.bot];
    let mut l = lease("c", 5_000);
    l.skip_apps = &skip;
    assert_eq!(ids(s.lease_deliveries(l).await.unwrap()), vec![more[1].id]);
    let only = [w.bot];
    let mut l = lease("c", 5_000);
    l.only_apps = Some(&only);
    l.limit = 1;
    assert_eq!(ids(s.lease_deliveries(l).await.unwrap()), vec![more[2].id]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_upsert_list_and_delete_with_open_deliveries() {
    let w = world().await;
    let s = &w.store;
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
    drain(s).await;
    let seqs = make_changes(&w, 4).await;
    let mut lark = new_delivery(&w, 3, w.bot, w.group.id, seqs[3], 10);
    lark.dialect = "lark".into();
    let ds = route(
        &w,
        vec![
            new_delivery(&w, 0, w.bot, w.group.id, seqs[0], 10),
            new_delivery(&w, 1, w.bot, w.group.id, seqs[1], 10),
            new_delivery(&w, 2, w.bot, w.group.id, seqs[2], 10),
            lark,
        ],
    )
    .await;
    let got = s.lease_deliveries(lease("d", 10)).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(s
        .record_attempt(ds[0].id, "d", ok_attempt(11), Next::Delivered)
        .await
        .unwrap());
    let got = s.lease_deliveries(lease("d", 11)).await.unwrap();
    assert_eq!(got[0].id, ds[1].id);
    assert!(s
        .record_attempt(ds[1].id, "d", failed_attempt(12), Next::RetryAt(99))
        .await
        .unwrap());
    assert_eq!(s.delete_subscription(w.bot, "feishu").await.unwrap(), 2);
    assert!(matches!(
        s.delete_subscription(w.bot, "feishu").await,
        Err(StoreError::NotFound(
            switchboard_core::error::Entity::Subscription
        ))
    ));
    assert!(
        s.get_delivery(w.tenant, &event_id(0))
            .await
            .unwrap()
            .is_some(),
        "delivered one kept"
    );
    assert!(s
        .get_delivery(w.tenant, &event_id(1))
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_delivery(w.tenant, &event_id(2))
        .await
        .unwrap()
        .is_none());
    assert!(
        s.get_delivery(w.tenant, &event_id(3))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_changes_and_open_deliveries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, before, delivery) = {
        let w = world_in(dir.path()).await;
        drain(&w.store).await;
        let seqs = make_changes(&w, 3).await;
        let ds = route(
            &w,
            vec![new_delivery(&w, 7, w.bot, w.group.id, seqs[0], 10)],
        )
        .await;
        // A lease held when the process dies.
        w.store.lease_changes("dead", 10, 20, 1_000).await.unwrap();
        assert_eq!(
            w.store
                .lease_deliveries(lease("dead", 20))
                .await
                .unwrap()
                .len(),
            1
        );
        let before = w.store.lease_changes("dead", 10, 20, 1_000).await.unwrap();
        assert_eq!(before.len(), 2);
        (w.tenant, before, ds[0].clone())
    };
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    assert!(
        store
            .lease_changes("new", 10, 999, 2_000)
            .await
            .unwrap()
            .is_empty(),
        "lease still live"
    );
    assert_eq!(
        store.lease_changes("new", 10, 1_000, 2_000).await.unwrap(),
        before
    );
    let d = store
        .get_delivery(tenant, &event_id(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.delivery, delivery);
    assert!(store
        .lease_deliveries(lease("new", 500))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.lease_deliveries(lease("new", 1_020)).await.unwrap(),
        vec![delivery]
    );
}
