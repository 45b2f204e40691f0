//! The event outbox on SQLite, where only a restart is its own: what a reopened file still
//! holds (unrouted changes, open deliveries) and what it lets go (the leases of a process
//! that died). The store contract itself (changes per write, routing, leases, order, the
//! delivery log, subscriptions) is the conformance suite's: crates/core/src/testing/events.rs.

use std::sync::Arc;
use switchboard_core::store::EventStore;
use switchboard_core::testing::*;
use switchboard_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_changes_and_open_deliveries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (tenant, before, delivery) = {
        let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
        let w = outbox_world(Arc::new(store)).await;
        outbox_drain(&*w.store).await;
        let seqs = outbox_make_changes(&w, 3).await;
        let ds = outbox_route(
            &w,
            vec![outbox_delivery(&w, 7, w.bot, w.group.id, seqs[0], 10)],
        )
        .await;
        // A lease held when the process dies.
        w.store.lease_changes("dead", 10, 20, 1_000).await.unwrap();
        assert_eq!(
            w.store
                .lease_deliveries(outbox_lease("dead", 20))
                .await
                .unwrap()
                .len(),
            1
        );
        let before = w.store.lease_changes("dead", 10, 20, 1_000).await.unwrap();
        assert_eq!(before.len(), 2);
        (w.tenant, before, ds[0].clone())
    };
    // The process that held the leases is gone (one process has the file at a time): the
    // reopened store releases them at once.
    let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
    assert_eq!(
        store.lease_changes("new", 10, 21, 2_000).await.unwrap(),
        before
    );
    let d = store
        .get_delivery(tenant, &outbox_event_id(7))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.delivery, delivery);
    assert_eq!(
        store
            .lease_deliveries(outbox_lease("new", 21))
            .await
            .unwrap(),
        vec![delivery]
    );
}
