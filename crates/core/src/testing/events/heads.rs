//! Heads of lines: a lease finds every line that has a delivery to go, however many
//! deliveries wait behind a line's first, belong to skipped apps, or sit in a line that is
//! busy; and each write that moves a line on (an attempt's record, a redelivery, dropping
//! a subscription, pruning) leaves exactly its first pending delivery leasable.

use super::*;

/// Routes, for one new change, a delivery to each `(app, chat, at)` in that order (event
/// ids numbered from `first`); returns them as stored.
async fn route_lines(
    w: &OutboxWorld,
    first: u64,
    lines: &[(AppId, ChatId, Millis)],
) -> Vec<Delivery> {
    let seq = outbox_make_changes(w, 1).await[0];
    let ds = lines
        .iter()
        .enumerate()
        .map(|(i, (app, chat, at))| outbox_delivery(w, first + i as u64, *app, *chat, seq, *at))
        .collect();
    outbox_route(w, ds).await
}

fn ids(v: &[Delivery]) -> Vec<i64> {
    v.iter().map(|d| d.id).collect()
}

async fn lease_ids(s: &dyn Store, l: DeliveryLease<'_>) -> Vec<i64> {
    ids(&s.lease_deliveries(l).await.unwrap())
}

async fn record(s: &dyn Store, d: i64, owner: &str, at: Millis, next: Next) {
    assert!(
        s.record_attempt(d, owner, outbox_attempt(at, next == Next::Delivered), next)
            .await
            .unwrap(),
        "{owner} holds {d}"
    );
}

pub async fn events_heads_skipped_apps_and_busy_lines_hide_no_one(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    outbox_drain(s).await;
    // The bot: 30 lines with one due delivery each, and a line of 40, all due first.
    let mut specs: Vec<(AppId, ChatId, Millis)> =
        (0..30).map(|c| (w.bot, ChatId(1_000 + c), 100)).collect();
    specs.extend((0..40).map(|_| (w.bot, ChatId(2_000), 50)));
    let bot = route_lines(&w, 0, &specs).await;
    // The other bot: one delivery, due last.
    let other = route_lines(&w, 100, &[(w.other_bot, ChatId(3_000), 500)]).await;

    // A skipped app's due deliveries do not hide another app's, whatever the limit.
    let skip = [w.bot];
    for (limit, now) in [(1, 600), (2, 2_000)] {
        let l = DeliveryLease {
            limit,
            skip_apps: &skip,
            ..outbox_lease("a", now)
        };
        assert_eq!(lease_ids(s, l).await, vec![other[0].id], "limit {limit}");
    }
    record(s, other[0].id, "a", 2_001, Next::Delivered).await;

    // The long line's head goes first (due first), and only it of its line.
    let only = [w.bot];
    let l = DeliveryLease {
        limit: 1,
        only_apps: Some(&only),
        ..outbox_lease("b", 3_000)
    };
    assert_eq!(lease_ids(s, l).await, vec![bot[30].id]);
    // While it is leased, its 39 followers (due before every other line) hide no line.
    for limit in [1, 2] {
        let got = s
            .lease_deliveries(outbox_lease_up_to("c", 3_100 + limit as Millis, limit))
            .await
            .unwrap();
        assert_eq!(got.len(), limit);
        assert!(got.iter().all(|d| d.chat != ChatId(2_000)), "{got:?}");
        for d in &got {
            record(s, d.id, "c", 3_200, Next::Delivered).await;
        }
    }
    // Every other line's head, then nothing of the busy line.
    let got = s
        .lease_deliveries(outbox_lease_up_to("c", 3_300, 100))
        .await
        .unwrap();
    assert_eq!(got.len(), 27);
    assert!(got.iter().all(|d| d.chat != ChatId(2_000)));
    let mut rest: Vec<i64> = ids(&got);
    rest.sort_unstable();
    assert_eq!(rest, ids(&bot[3..30]));
    for d in &got {
        record(s, d.id, "c", 3_301, Next::Delivered).await;
    }
    assert!(s
        .lease_deliveries(outbox_lease("c", 3_400))
        .await
        .unwrap()
        .is_empty());

    // Many due retrying deliveries of one line do not take another line's place: make
    // ten of the long line's retrying (each attempt fails; the next becomes its head).
    record(s, bot[30].id, "b", 3_500, Next::RetryAt(10_000)).await;
    for (i, d) in bot[31..40].iter().enumerate() {
        let now = 3_600 + i as Millis;
        assert_eq!(
            lease_ids(s, outbox_lease_up_to("b", now, 1)).await,
            vec![d.id],
            "the next pending of the line"
        );
        record(s, d.id, "b", now, Next::RetryAt(10_000)).await;
    }
    let late = route_lines(&w, 200, &[(w.bot, ChatId(4_000), 15_000)]).await;
    let got = s
        .lease_deliveries(outbox_lease_up_to("d", 20_000, 2))
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].chat, ChatId(2_000));
    assert_eq!(got[1].id, late[0].id);
}

pub async fn events_heads_move_on_with_each_attempt(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    outbox_drain(s).await;
    let line = ChatId(5_000);
    let ds = route_lines(&w, 0, &[(w.bot, line, 100); 5]).await;
    let one = |owner, now| outbox_lease_up_to(owner, now, 10);
    assert_eq!(lease_ids(s, one("a", 100)).await, vec![ds[0].id]);
    // Delivered: the next pending goes.
    record(s, ds[0].id, "a", 101, Next::Delivered).await;
    assert_eq!(lease_ids(s, one("a", 102)).await, vec![ds[1].id]);
    // Due again later: it holds nothing back.
    record(s, ds[1].id, "a", 103, Next::RetryAt(5_000)).await;
    assert_eq!(lease_ids(s, one("a", 104)).await, vec![ds[2].id]);
    // Failed: the next pending goes.
    record(s, ds[2].id, "a", 105, Next::Failed).await;
    assert_eq!(lease_ids(s, one("a", 106)).await, vec![ds[3].id]);
    // A lost lease moves nothing.
    assert!(!s
        .record_attempt(ds[3].id, "z", outbox_ok(107), Next::Delivered)
        .await
        .unwrap());
    assert!(lease_ids(s, one("b", 108)).await.is_empty());
    record(s, ds[3].id, "a", 109, Next::Delivered).await;
    assert_eq!(lease_ids(s, one("a", 110)).await, vec![ds[4].id]);
    record(s, ds[4].id, "a", 111, Next::Delivered).await;
    // Only the retrying one is left; it goes when due, and when its retry fails it goes
    // again (retrying deliveries are never anyone's head).
    assert!(lease_ids(s, one("a", 4_999)).await.is_empty());
    assert_eq!(lease_ids(s, one("a", 5_000)).await, vec![ds[1].id]);
    record(s, ds[1].id, "a", 5_001, Next::RetryAt(6_000)).await;
    // A new delivery of the line is its head at once, beside the retrying one.
    let more = route_lines(&w, 10, &[(w.bot, line, 5_500), (w.bot, line, 5_500)]).await;
    assert_eq!(lease_ids(s, one("a", 5_600)).await, vec![more[0].id]);
    record(s, more[0].id, "a", 5_601, Next::Delivered).await;
    // Both due: one of the line at a time.
    let got = lease_ids(s, one("a", 7_000)).await;
    assert_eq!(got.len(), 1);
    assert!(got[0] == ds[1].id || got[0] == more[1].id);
    record(s, got[0], "a", 7_001, Next::Delivered).await;
    let next = lease_ids(s, one("a", 7_002)).await;
    assert_eq!(next.len(), 1);
    assert!(next[0] != got[0] && (next[0] == ds[1].id || next[0] == more[1].id));
    record(s, next[0], "a", 7_003, Next::Delivered).await;
    assert!(lease_ids(s, one("a", 100_000)).await.is_empty());
}

pub async fn events_heads_survive_redelivery_unsubscribing_and_pruning(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    outbox_drain(s).await;
    let (line, side) = (ChatId(6_000), ChatId(6_001));
    let ds = route_lines(&w, 0, &[(w.bot, line, 100); 4]).await;
    let one = |owner, now| outbox_lease_up_to(owner, now, 10);
    assert_eq!(lease_ids(s, one("a", 100)).await, vec![ds[0].id]);
    record(s, ds[0].id, "a", 101, Next::Delivered).await;

    // Redelivering a never-attempted follower leaves it behind the head.
    let r = s
        .redeliver(w.tenant, &outbox_event_id(2), 200)
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Pending);
    // Redelivering the leased head frees it, still first (another owner takes it now).
    assert_eq!(lease_ids(s, one("a", 200)).await, vec![ds[1].id]);
    s.redeliver(w.tenant, &outbox_event_id(1), 201)
        .await
        .unwrap();
    assert_eq!(lease_ids(s, one("b", 202)).await, vec![ds[1].id]);
    // Redelivering a delivered one makes it retrying: it goes, one of the line at a time,
    // and ds[2] still waits for ds[1].
    let r = s
        .redeliver(w.tenant, &outbox_event_id(0), 203)
        .await
        .unwrap();
    assert_eq!(r.status, DeliveryStatus::Retrying);
    assert!(
        lease_ids(s, one("c", 204)).await.is_empty(),
        "ds[1] is leased"
    );
    record(s, ds[1].id, "b", 205, Next::Delivered).await;
    // Then ds[0] (retrying), ds[2] and ds[3] (pending, in order), one at a time.
    let mut seen = Vec::new();
    for i in 0..3 {
        let got = lease_ids(s, one("c", 206 + i)).await;
        assert_eq!(got.len(), 1, "{got:?}");
        record(s, got[0], "c", 206 + i, Next::Delivered).await;
        seen.push(got[0]);
    }
    assert!(lease_ids(s, one("c", 300)).await.is_empty());
    let at = |id: i64| seen.iter().position(|x| *x == id).unwrap();
    assert!(at(ds[2].id) < at(ds[3].id), "{seen:?}");
    assert!(seen.contains(&ds[0].id));

    // Pruning finished deliveries leaves the line's head in place.
    let ps = route_lines(&w, 40, &[(w.bot, line, 1_000); 4]).await;
    assert_eq!(lease_ids(s, one("d", 1_000)).await, vec![ps[0].id]);
    record(s, ps[0].id, "d", 1_001, Next::Delivered).await;
    assert_eq!(lease_ids(s, one("d", 1_002)).await, vec![ps[1].id]);
    record(s, ps[1].id, "d", 1_003, Next::Failed).await;
    assert_eq!(s.prune_deliveries(1_500).await.unwrap(), 6);
    assert_eq!(lease_ids(s, one("d", 1_600)).await, vec![ps[2].id]);
    record(s, ps[2].id, "d", 1_601, Next::RetryAt(50_000)).await;
    assert_eq!(lease_ids(s, one("d", 1_602)).await, vec![ps[3].id]);
    record(s, ps[3].id, "d", 1_603, Next::Delivered).await;

    // Unsubscribing drops the app's open deliveries, heads with them, and leaves other
    // dialects' lines alone; a new delivery of a dropped line is its head again.
    s.put_subscription(outbox_sub(&w, w.bot, "feishu", 1))
        .await
        .unwrap();
    let more = route_lines(&w, 10, &[(w.bot, line, 2_000), (w.bot, side, 2_000)]).await;
    let mut hi = outbox_delivery(
        &w,
        20,
        w.bot,
        line,
        outbox_make_changes(&w, 1).await[0],
        2_000,
    );
    hi.dialect = "hi".into();
    let hi = outbox_route(&w, vec![hi]).await;
    assert_eq!(
        s.delete_subscription(w.bot, "feishu").await.unwrap(),
        3,
        "ps[2], more[0], more[1]"
    );
    for d in &more {
        assert!(s
            .get_delivery(w.tenant, &d.event_id)
            .await
            .unwrap()
            .is_none());
    }
    assert_eq!(lease_ids(s, one("e", 3_000)).await, vec![hi[0].id]);
    record(s, hi[0].id, "e", 3_001, Next::Delivered).await;
    let again = route_lines(&w, 30, &[(w.bot, line, 3_000), (w.bot, line, 3_000)]).await;
    assert_eq!(lease_ids(s, one("e", 4_000)).await, vec![again[0].id]);
    record(s, again[0].id, "e", 4_001, Next::Delivered).await;
    assert_eq!(lease_ids(s, one("e", 4_002)).await, vec![again[1].id]);
}
