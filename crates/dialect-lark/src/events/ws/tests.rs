//! The registry on its own: pushes, acks, the cap, and connections that go away.

use super::frame::{self, Frame};
use super::*;
use std::time::Duration;

fn registry(max_per_app: usize, fragment_bytes: usize) -> LarkConnections {
    LarkConnections::with_settings(WsSettings {
        max_per_app,
        ping_interval_secs: 120,
        max_frame_bytes: 1 << 20,
        fragment_bytes,
    })
}

const APP: AppId = AppId(7);
const SECOND: Duration = Duration::from_secs(1);

fn decode(frames: Vec<Bytes>) -> Vec<Frame> {
    frames.iter().map(|b| Frame::decode(b).unwrap()).collect()
}

#[tokio::test]
async fn an_app_without_connections_gets_no_connection() {
    let r = registry(2, 1024);
    assert_eq!(
        r.push(APP, "e1", b"{}".to_vec(), SECOND).await,
        Pushed::NoConnection
    );
    assert!(r.apps().is_empty());
}

#[tokio::test]
async fn a_push_is_acked_by_message_id() {
    let r = registry(2, 1024);
    let (guard, mut rx) = r.reserve(APP).unwrap().open(42);
    assert_eq!(r.apps(), vec![APP]);
    let push = tokio::spawn({
        let r = r.clone();
        async move { r.push(APP, "e1", br#"{"x":1}"#.to_vec(), 5 * SECOND).await }
    });
    let frames = decode(rx.recv().await.unwrap());
    assert_eq!(frames.len(), 1);
    let f = &frames[0];
    assert_eq!(f.service, 42);
    assert_eq!(f.method, frame::METHOD_DATA);
    assert_eq!(f.header("message_id"), Some("e1"));
    assert_eq!(f.payload.as_deref(), Some(&br#"{"x":1}"#[..]));
    // An ack of another event wakes nobody.
    r.acked(APP, "other", 200);
    r.acked(APP, "e1", 200);
    assert_eq!(push.await.unwrap(), Pushed::Acked(200));
    assert!(r.inner().waiting.is_empty());
    drop(guard);
    assert!(r.apps().is_empty());
}

#[tokio::test]
async fn a_failed_handler_is_acked_with_its_code() {
    let r = registry(2, 1024);
    let (_guard, mut rx) = r.reserve(APP).unwrap().open(1);
    let push = tokio::spawn({
        let r = r.clone();
        async move { r.push(APP, "e1", b"{}".to_vec(), 5 * SECOND).await }
    });
    rx.recv().await.unwrap();
    r.acked(APP, "e1", 500);
    assert_eq!(push.await.unwrap(), Pushed::Acked(500));
}

#[tokio::test(start_paused = true)]
async fn no_ack_within_the_deadline_is_no_ack() {
    let r = registry(2, 1024);
    let (_guard, mut rx) = r.reserve(APP).unwrap().open(1);
    let push = tokio::spawn({
        let r = r.clone();
        async move { r.push(APP, "e1", b"{}".to_vec(), 3 * SECOND).await }
    });
    rx.recv().await.unwrap();
    assert_eq!(push.await.unwrap(), Pushed::NoAck);
    // The waiter is gone: a late ack finds nothing.
    assert!(r.inner().waiting.is_empty());
    r.acked(APP, "e1", 200);
}

#[tokio::test]
async fn a_connection_that_closes_before_the_ack_is_no_connection() {
    let r = registry(2, 1024);
    let (guard, mut rx) = r.reserve(APP).unwrap().open(1);
    let push = tokio::spawn({
        let r = r.clone();
        async move { r.push(APP, "e1", b"{}".to_vec(), 5 * SECOND).await }
    });
    rx.recv().await.unwrap();
    drop(guard);
    assert_eq!(push.await.unwrap(), Pushed::NoConnection);
}

#[tokio::test]
async fn a_dead_connection_is_skipped_for_a_live_one() {
    let r = registry(2, 1024);
    let (_dead, dead_rx) = r.reserve(APP).unwrap().open(1);
    let (_live, mut rx) = r.reserve(APP).unwrap().open(2);
    // The dead one's socket task is gone (its queue's reader dropped) but not yet
    // unregistered: a push that picks it moves on to the other.
    drop(dead_rx);
    for n in 0..8 {
        let id = format!("e{n}");
        let push = tokio::spawn({
            let (r, id) = (r.clone(), id.clone());
            async move { r.push(APP, &id, b"{}".to_vec(), 5 * SECOND).await }
        });
        let f = decode(rx.recv().await.unwrap());
        assert_eq!(f[0].service, 2);
        r.acked(APP, &id, 200);
        assert_eq!(push.await.unwrap(), Pushed::Acked(200));
    }
}

#[tokio::test]
async fn events_spread_over_an_apps_connections() {
    let r = registry(3, 1024);
    let mut queues = Vec::new();
    let mut guards = Vec::new();
    for service in 0..3 {
        let (g, rx) = r.reserve(APP).unwrap().open(service);
        guards.push(g);
        queues.push(rx);
    }
    let mut seen = [0usize; 3];
    for n in 0..60 {
        let id = format!("e{n}");
        let pushed = r.clone();
        let (ev, pid) = (id.clone(), id.clone());
        let push =
            tokio::spawn(async move { pushed.push(APP, &pid, b"{}".to_vec(), 5 * SECOND).await });
        tokio::task::yield_now().await;
        loop {
            let got = queues
                .iter_mut()
                .enumerate()
                .find_map(|(i, q)| q.try_recv().ok().map(|_| i));
            if let Some(i) = got {
                seen[i] += 1;
                break;
            }
            tokio::task::yield_now().await;
        }
        r.acked(APP, &ev, 200);
        assert_eq!(push.await.unwrap(), Pushed::Acked(200));
    }
    // Each of three connections, chosen at random 60 times, is all but certain to get one.
    assert!(seen.iter().all(|n| *n > 0), "{seen:?}");
}

#[tokio::test]
async fn large_events_go_out_in_fragments() {
    let r = registry(1, 10);
    let (_g, mut rx) = r.reserve(APP).unwrap().open(1);
    let body: Vec<u8> = (b'a'..=b'z').collect();
    let push = tokio::spawn({
        let (r, body) = (r.clone(), body.clone());
        async move { r.push(APP, "big", body, 5 * SECOND).await }
    });
    let frames = decode(rx.recv().await.unwrap());
    assert_eq!(frames.len(), 3);
    let joined: Vec<u8> = frames
        .iter()
        .flat_map(|f| f.payload.clone().unwrap())
        .collect();
    assert_eq!(joined, body);
    assert!(frames.iter().all(|f| f.header("sum") == Some("3")));
    r.acked(APP, "big", 200);
    assert_eq!(push.await.unwrap(), Pushed::Acked(200));
}

#[tokio::test]
async fn the_cap_counts_open_and_opening_connections() {
    let r = registry(2, 1024);
    let a = r.reserve(APP).unwrap();
    let (_b, _rx) = r.reserve(APP).unwrap().open(1);
    assert_eq!(r.count(APP), 2);
    assert!(r.reserve(APP).is_none());
    // Another app has its own cap.
    assert!(r.reserve(AppId(8)).is_some());
    // A handshake that never completes gives its place back.
    drop(a);
    assert_eq!(r.count(APP), 1);
    assert!(r.reserve(APP).is_some());
}

#[tokio::test]
async fn opening_a_connection_wakes_the_deliverer() {
    let r = registry(2, 1024);
    let waiting = tokio::spawn({
        let r = r.clone();
        async move { r.opened().await }
    });
    tokio::task::yield_now().await;
    let (_g, _rx) = r.reserve(APP).unwrap().open(1);
    tokio::time::timeout(SECOND, waiting)
        .await
        .unwrap()
        .unwrap();
    // A deliverer that was busy when it opened still hears of it.
    tokio::time::timeout(SECOND, r.opened()).await.unwrap();
}
