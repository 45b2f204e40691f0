//! Subscriptions: upsert, list and delete, and what they route to the delivery log.

use super::*;

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
