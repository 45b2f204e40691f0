//! Isolation between apps, order within a chat, and tenants.

use crate::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use switchboard_dialect_lark::events::FEISHU_EVENT_TYPES;
use switchboard_testkit::receiver::{max_overlap, Action, Receiver, Route};
use switchboard_testkit::TestApp;

async fn p2p_with(node: &TestApp, tenant: &Value, app: &Value, user: &Value) -> Value {
    node.create_chat(
        tenant,
        "p2p",
        None,
        ("app", &app["id"]),
        &[("user", &user["id"])],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_receiver_delays_only_its_own_app() {
    const CAP: usize = 2;
    let node = spawn_fast(|c| {
        c.events.timeout_ms = 2_000;
        c.events.retry_schedule = "30s".into();
        c.events.per_app_concurrency = CAP;
    })
    .await;
    let s = node.seed().await;
    let b_app = node.create_app(&s.tenant, "Other bot").await;
    let b_chat = p2p_with(&node, &s.tenant, &b_app, &s.alice).await;
    let mut a_chats = vec![(s.p2p.clone(), s.alice.clone())];
    for i in 0..5 {
        let u = node
            .create_user(&s.tenant, &format!("U{i}"), &format!("u{i}"))
            .await;
        a_chats.push((p2p_with(&node, &s.tenant, &s.bot, &u).await, u));
    }
    let recv = Receiver::start().await;
    recv.route("/a", Route::ok().events(Action::sleep_then_ok(10_000)));
    recv.route("/b", Route::ok());
    subscribe(&node, &s.tenant, &s.bot, &recv.url("/a"), "").await;
    subscribe(&node, &s.tenant, &b_app, &recv.url("/b"), "").await;

    // 18 events for A over 6 chats: more chats than A has slots.
    for round in 0..3 {
        for (chat, user) in &a_chats {
            node.admin_send_text(&s.tenant, chat, ("user", &user["id"]), &format!("a{round}"))
                .await;
        }
    }
    // A's receiver holds its CAP slots.
    recv.wait_for(WAIT, "A's slots all taken", |log| {
        let stuck = log
            .iter()
            .filter(|r| r.path == "/a" && r.is_event() && r.finished.is_none())
            .count();
        (stuck >= CAP).then_some(())
    })
    .await;

    let t0 = Instant::now();
    node.admin_send_text(&s.tenant, &b_chat, ("user", &s.alice["id"]), "for B")
        .await;
    let b = recv.wait_events("/b", 1, WAIT).await;
    let took = b[0].started.duration_since(t0);
    assert!(took < Duration::from_secs(1), "B waited {took:?} behind A");
    assert_eq!(b[0].text().as_deref(), Some("for B"));
    assert_eq!(b[0].answered, Some(200));

    let a = recv.events_to("/a");
    assert!(
        a.iter().all(|r| r.finished.is_none()),
        "A's receiver answered nothing yet"
    );
    assert_eq!(
        max_overlap(&a, |_| Some(())),
        CAP,
        "A has at most per_app_concurrency attempts in progress"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chats_events_arrive_one_at_a_time_in_order() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let with_bob = p2p_with(&node, &s.tenant, &s.bot, &s.bob).await;
    let recv = Receiver::start().await;
    // A little work per request, so that overlapping requests would show.
    recv.route(
        "/a",
        Route::ok().events(Action::Delay(5, Box::new(Action::Ok))),
    );
    subscribe(&node, &s.tenant, &s.bot, &recv.url("/a"), "").await;

    const N: usize = 12;
    for i in 0..N {
        node.admin_send_text(
            &s.tenant,
            &s.p2p,
            ("user", &s.alice["id"]),
            &format!("alice {i}"),
        )
        .await;
        node.admin_send_text(
            &s.tenant,
            &with_bob,
            ("user", &s.bob["id"]),
            &format!("bob {i}"),
        )
        .await;
    }
    let evs = recv.wait_events("/a", 2 * N, WAIT).await;
    assert_eq!(distinct_ids(&evs).len(), 2 * N, "each event once: {evs:?}");
    for (chat, who) in [(&s.p2p, "alice"), (&with_bob, "bob")] {
        let texts: Vec<String> = evs
            .iter()
            .filter(|r| r.chat_id() == Some(oc(chat).as_str()))
            .filter_map(|r| r.text())
            .collect();
        let want: Vec<String> = (0..N).map(|i| format!("{who} {i}")).collect();
        assert_eq!(texts, want, "{who}'s chat in send order");
    }
    assert_eq!(
        max_overlap(&evs, |r| r.chat_id().map(str::to_string)),
        1,
        "two requests for one chat at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_hears_only_its_own_tenant() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let other = node.create_tenant("Beta").await;
    let zed = node.create_user(&other, "Zed", "zed").await;
    let b_app = node.create_app(&other, "Beta bot").await;
    let b_chat = p2p_with(&node, &other, &b_app, &zed).await;
    let recv = Receiver::start().await;
    recv.route("/a", Route::ok());
    recv.route("/b", Route::ok());
    for (tenant, app, path) in [(&s.tenant, &s.bot, "/a"), (&other, &b_app, "/b")] {
        node.admin_ok(
            Method::PUT,
            &sub_path(tenant, app, "feishu"),
            Some(sub_body(&recv.url(path), "", "", FEISHU_EVENT_TYPES)),
        )
        .await;
    }

    // Another tenant's app cannot be put in a chat.
    let r = node
        .admin(
            Method::POST,
            &format!("/tenants/{}/chats", s.tenant["id"]),
            Some(json!({
                "type": "group", "name": "Mixed", "owner": {"type": "user", "id": s.alice["id"]},
                "members": [{"type": "app", "id": b_app["id"]}],
            })),
        )
        .await;
    assert!(!r.status.is_success(), "{}", r.text);

    // Tenant A: a p2p message, a group message mentioning its bot, a new group with it.
    let msg_a = node
        .admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), "for A")
        .await;
    node.admin_ok(
        Method::POST,
        &format!(
            "/tenants/{}/chats/{}/messages",
            s.tenant["id"], s.group["id"]
        ),
        Some(json!({
            "sender": {"type": "user", "id": s.bob["id"]}, "type": "text",
            "content": {"text": "@_user_1 hi"},
            "mentions": [{"key": "1", "type": "app", "id": s.bot["id"], "name": "Bot"}],
        })),
    )
    .await;
    node.create_chat(
        &s.tenant,
        "group",
        Some("New"),
        ("user", &s.alice["id"]),
        &[("app", &s.bot["id"])],
    )
    .await;
    // Then tenant B's own event, which B's receiver waits for.
    node.admin_send_text(&other, &b_chat, ("user", &zed["id"]), "for B")
        .await;

    let a = recv
        .wait_for(WAIT, "A's three events", |log| {
            let types: Vec<&str> = log
                .iter()
                .filter(|r| r.path == "/a")
                .filter_map(|r| r.event_type())
                .collect();
            (types.len() >= 3).then_some(types.iter().map(|t| t.to_string()).collect::<Vec<_>>())
        })
        .await;
    assert!(
        a.contains(&"im.chat.member.bot.added_v1".to_string()),
        "{a:?}"
    );
    recv.wait_for(WAIT, "B's event", |log| {
        log.iter()
            .any(|r| r.path == "/b" && r.text().as_deref() == Some("for B"))
            .then_some(())
    })
    .await;
    let b = recv.events_to("/b");
    assert_eq!(b.len(), 1, "B heard only its own message: {b:?}");
    let p = b[0].plain.as_ref().unwrap();
    assert_eq!(p["header"]["tenant_key"], tenant_key(&other));
    assert_eq!(p["header"]["app_id"], b_app["app_id"]);
    for r in recv.events_to("/a") {
        let p = r.plain.as_ref().unwrap();
        assert_eq!(p["header"]["tenant_key"], tenant_key(&s.tenant));
        assert_eq!(p["header"]["app_id"], s.bot["app_id"]);
    }

    // The delivery log and redelivery, seen through the wrong tenant: 404.
    for (tenant, app) in [(&other, &s.bot), (&s.tenant, &b_app)] {
        let r = node
            .admin(
                Method::GET,
                &format!("/tenants/{}/apps/{}/deliveries", tenant["id"], app["id"]),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let id_a = recv
        .events_to("/a")
        .iter()
        .find(|r| r.message_id() == Some(om(&msg_a).as_str()))
        .and_then(|r| r.event_id().map(str::to_string))
        .unwrap();
    let r = node
        .admin(
            Method::POST,
            &format!("/tenants/{}/deliveries/{id_a}/redeliver", other["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = node
        .admin(
            Method::POST,
            &format!("/tenants/{}/deliveries/{id_a}/redeliver", s.tenant["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
