//! The event outbox on PostgreSQL, where only a database shared by several nodes is its
//! own: one router at a time across store instances (racing lessees included), the
//! per-(app, dialect, chat) order of deliveries leased concurrently from two instances,
//! and the NotFound(Chat) it answers for members of an unknown chat (SQLite answers an
//! internal error; the conformance suite asks only for an error).
//! The store contract itself (changes per write, routing, leases, order, the delivery log,
//! subscriptions) is the conformance suite's: crates/core/src/testing/events.rs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_core::error::Entity;
use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use switchboard_core::testing::{
    new_text, outbox_attempt, outbox_delivery_for, outbox_drain, outbox_lease_up_to, outbox_routed,
    outbox_world,
};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_members_to_an_unknown_chat_is_not_found() {
    let db = testing::fresh_database().await;
    let s = node(&db).await;
    let w = outbox_world(s.clone()).await;
    outbox_drain(&*s).await;
    assert_eq!(
        s.add_members(ChatId(999_999), vec![(w.carol, Role::Member)], 54, None)
            .await
            .unwrap_err()
            .to_string(),
        StoreError::NotFound(Entity::Chat).to_string()
    );
    assert!(s.lease_changes("r", 10, 0, 1).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_is_one_nodes_at_a_time() {
    let db = testing::fresh_database().await;
    let (a, b) = (node(&db).await, node(&db).await);
    let w = outbox_world(a.clone()).await;
    outbox_drain(&*a).await;
    for i in 0..5 {
        a.append_message(new_text(
            w.tenant,
            w.group.id,
            w.alice,
            &format!("m{i}"),
            20,
        ))
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
        .map(|c| outbox_delivery_for(c, w.bot, "d", Mode::Webhook, 0))
        .collect();
    a.route_changes("A", &seqs, late).await.unwrap();
    assert!(a
        .get_delivery(
            w.tenant,
            &outbox_delivery_for(&renewed[0], w.bot, "d", Mode::Webhook, 0).event_id
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
        a.append_message(new_text(
            w.tenant,
            w.group.id,
            w.alice,
            &format!("r{i}"),
            20,
        ))
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
    let w = outbox_world(a.clone()).await;
    outbox_drain(&*a).await;
    // Five chats, eight deliveries each, to one app; and one to another app (not blocked).
    let mut chats = vec![w.group.id];
    for i in 0..4 {
        let c = a
            .create_chat(NewChat {
                tenant: w.tenant,
                kind: ChatKind::Group,
                name: format!("c{i}"),
                owner: w.alice,
                members: vec![(w.alice, Role::Owner)],
                created_at: 1,
            })
            .await
            .unwrap();
        chats.push(c.id);
    }
    let mut expected: HashMap<ChatId, Vec<i64>> = HashMap::new();
    for c in &chats {
        expected.insert(*c, outbox_routed(&*a, &w, *c, w.bot, 8).await);
    }
    outbox_routed(&*a, &w, w.group.id, w.other_bot, 1).await;
    // Filters: the other app alone, then skipped; long connections only (none).
    let only = [w.other_bot];
    let got = b
        .lease_deliveries(DeliveryLease {
            only_apps: Some(&only),
            ..outbox_lease_up_to("x", 100, 10)
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].app, w.other_bot);
    let got = b
        .lease_deliveries(DeliveryLease {
            mode: Mode::LongConnection,
            ..outbox_lease_up_to("x", 100, 10)
        })
        .await
        .unwrap();
    assert!(got.is_empty());
    let skip = [w.bot];
    assert!(b
        .lease_deliveries(DeliveryLease {
            skip_apps: &skip,
            ..outbox_lease_up_to("x", 100, 10)
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
                        ..outbox_lease_up_to(&owner, 1_000, 3)
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
                        .record_attempt(d.id, &owner, outbox_attempt(1_001, true), Next::Delivered)
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
