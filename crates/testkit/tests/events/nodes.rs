//! Two nodes on one PostgreSQL database deliver each event, once at a time.

use crate::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use switchboard_testkit::receiver::{max_overlap, Receiver, Route};
use switchboard_testkit::store_kind;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_deliver_every_event_one_node_at_a_time() {
    if store_kind() != "postgres" {
        eprintln!("skipped: two nodes need SWITCHBOARD_TEST_STORE=postgres");
        return;
    }
    let first = spawn_fast(|_| {}).await;
    let second = first.second_node().await;
    let s = first.seed().await;
    let mut chats = vec![(s.p2p.clone(), s.alice.clone())];
    for i in 0..3 {
        let u = first
            .create_user(&s.tenant, &format!("U{i}"), &format!("u{i}"))
            .await;
        let chat = first
            .create_chat(
                &s.tenant,
                "p2p",
                None,
                ("app", &s.bot["id"]),
                &[("user", &u["id"])],
            )
            .await;
        chats.push((chat, u));
    }
    let recv = Receiver::start().await;
    recv.route("/a", Route::ok());
    subscribe(&first, &s.tenant, &s.bot, &recv.url("/a"), "").await;

    // A burst through both nodes: every (node, chat) pair sends 5 messages, all at once.
    const EACH: usize = 5;
    let nodes = [Arc::new(first), Arc::new(second)];
    let mut tasks = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for (chat, user) in &chats {
            let (node, chat, user, tenant) =
                (node.clone(), chat.clone(), user.clone(), s.tenant.clone());
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                for i in 0..EACH {
                    let text = format!("node{n} {i}");
                    sent.push(
                        node.admin_send_text(&tenant, &chat, ("user", &user["id"]), &text)
                            .await,
                    );
                }
                sent
            }));
        }
    }
    let mut sent: Vec<Value> = Vec::new();
    for t in tasks {
        sent.extend(t.await.unwrap());
    }
    let by_om: HashMap<String, i64> = sent.iter().map(|m| (om(m), num(m))).collect();
    assert_eq!(by_om.len(), 2 * chats.len() * EACH);

    let evs = recv
        .wait_for(WAIT, "every message's event", |log| {
            let got: HashSet<&str> = log.iter().filter_map(|r| r.message_id()).collect();
            by_om.keys().all(|k| got.contains(k.as_str())).then(|| {
                log.iter()
                    .filter(|r| r.is_event())
                    .cloned()
                    .collect::<Vec<_>>()
            })
        })
        .await;

    // One event id per message, and no other event.
    let mut ids_of: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in &evs {
        let m = r.message_id().expect("a message event");
        assert!(
            by_om.contains_key(m),
            "an event for a message never sent: {m}"
        );
        ids_of.entry(m).or_default().insert(r.event_id().unwrap());
    }
    for (m, ids) in &ids_of {
        assert_eq!(ids.len(), 1, "message {m} has event ids {ids:?}");
    }
    let all: HashSet<&str> = ids_of.values().flatten().copied().collect();
    assert_eq!(all.len(), by_om.len(), "event ids are distinct");

    // Never the same event, nor the same chat, in two requests at once.
    assert_eq!(
        max_overlap(&evs, |r| r.event_id().map(str::to_string)),
        1,
        "one event attempted by two nodes at once"
    );
    assert_eq!(
        max_overlap(&evs, |r| r.chat_id().map(str::to_string)),
        1,
        "one chat's events in flight twice at once"
    );
    // Per chat, in the order of the messages' positions.
    for (chat, _) in &chats {
        let mut seen = HashSet::new();
        let order: Vec<i64> = evs
            .iter()
            .filter(|r| r.chat_id() == Some(oc(chat).as_str()))
            .filter(|r| seen.insert(r.event_id().unwrap().to_string()))
            .map(|r| by_om[r.message_id().unwrap()])
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "chat {}: out of order", oc(chat));
    }
    let dups = evs.len() - all.len();
    assert_eq!(dups, 0, "a fast receiver gets no duplicates");
}
