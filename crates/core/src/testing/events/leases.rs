//! Leases: a change is one owner's at a time until its lease runs out; deliveries are leased
//! one per app, dialect and chat, in order, with the filters the deliverers use.

use super::*;

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
