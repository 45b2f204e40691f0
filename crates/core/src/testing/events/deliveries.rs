//! Deliveries: routed in order, attempted and recorded, the log and its pages, redelivery
//! and pruning.

use super::*;

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
        // Kept as given, non-ASCII included.
        wire: Some(r#"{"request":{"url":"http://127.0.0.1:9/e","body":"{\"text\":\"héllo\"}"},"response":{"status":500,"body":"no"}}"#.into()),
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
        wire: None,
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
