//! Attempts, retries on the schedule, error classes, the delivery log and redelivery.

use crate::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_testkit::receiver::{Action, Received, Receiver, Route, Script};
use switchboard_testkit::{Seed, TestApp};

/// A fast node, its seed, a receiver with `route` at `/a`, and the bot subscribed there.
async fn world(route: Route, key: &str) -> (TestApp, Seed, Receiver) {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route("/a", route);
    subscribe(&node, &s.tenant, &s.bot, &recv.url("/a"), key).await;
    (node, s, recv)
}

async fn send(node: &TestApp, s: &Seed, text: &str) -> Value {
    node.admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), text)
        .await
}

/// `(status, error)` of each attempt of a delivery.
fn attempts(d: &Value) -> Vec<(Value, Value)> {
    d["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| (a["status"].clone(), a["error"].clone()))
        .collect()
}

/// Each request started at least `gap` after the one before it had been answered.
fn assert_spaced(evs: &[Received], gaps_ms: &[u64]) {
    for (i, gap) in gaps_ms.iter().enumerate() {
        let prev_end = evs[i].finished.expect("answered");
        let waited = evs[i + 1].started.duration_since(prev_end);
        // The server counts in whole milliseconds: allow it 2 ms of rounding.
        assert!(
            waited + Duration::from_millis(2) >= Duration::from_millis(*gap),
            "attempt {} came {waited:?} after attempt {}; the schedule says {gap} ms",
            i + 2,
            i + 1
        );
    }
}

fn assert_one_event_id(evs: &[Received]) -> String {
    let ids = distinct_ids(evs);
    assert_eq!(ids.len(), 1, "every attempt reuses the event id: {ids:?}");
    let id = ids[0].clone();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    id
}

/// The delivery log keeps, for each attempt, the request exactly as the receiver got it
/// (headers in their casing, the sealed body, the plaintext inside) and what it answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_attempt_records_the_request_as_received_and_the_answer() {
    let (node, s, recv) = world(
        Route::ok()
            .key("ek")
            .events(Action::Body(503, r#"{"busy":true}"#.into())),
        "ek",
    )
    .await;
    send(&node, &s, "wire me").await;
    let evs = recv.wait_events("/a", 3, WAIT).await;
    let id = assert_one_event_id(&evs);
    wait_delivery(&node, &s.tenant, &s.bot, &id, "failed").await;
    let d = node
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/deliveries/{id}", s.tenant["id"]),
            None,
        )
        .await;
    assert_eq!(d["app"], s.bot["id"]);
    let recorded = d["attempts"].as_array().unwrap();
    assert_eq!(recorded.len(), 3, "{d}");
    for (got, a) in evs.iter().zip(recorded) {
        let w = &a["wire"];
        assert_eq!(w["request"]["url"], recv.url("/a"));
        let headers: Vec<(String, String)> =
            serde_json::from_value(w["request"]["headers"].clone()).unwrap();
        for (name, value) in &headers {
            assert_eq!(got.header(name), Some(value.as_str()), "{name} as sent");
        }
        assert!(
            headers.iter().any(|(k, _)| k == "X-Lark-Signature"),
            "{headers:?}"
        );
        assert_eq!(
            w["request"]["body"].as_str().unwrap().as_bytes(),
            got.body.as_slice()
        );
        let plain: Value = serde_json::from_str(w["request"]["plain"].as_str().unwrap()).unwrap();
        assert_eq!(Some(&plain), got.plain.as_ref(), "the plaintext inside");
        assert_eq!(
            w["response"],
            json!({ "status": 503, "body": r#"{"busy":true}"# })
        );
    }
    // The list stays light: no wire there.
    let listed = deliveries(&node, &s.tenant, &s.bot).await;
    assert!(
        listed[0]["attempts"][0].get("wire").is_none(),
        "{}",
        listed[0]
    );
    let missing = node
        .admin(
            Method::GET,
            &format!("/tenants/{}/deliveries/{}", s.tenant["id"], "0".repeat(32)),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_500_is_retried_on_the_schedule_then_failed_then_redelivered() {
    let (node, s, recv) = world(Route::ok().key("ek").events(Action::Status(500)), "ek").await;
    let msg = send(&node, &s, "hello").await;

    let evs = recv.wait_events("/a", 3, WAIT).await;
    let id = assert_one_event_id(&evs);
    assert_spaced(&evs, &[100, 200]);
    for e in &evs {
        // Sealed, signed with the key, in the vendor's casing; the envelope inside.
        let raw: Value = serde_json::from_slice(&e.body).unwrap();
        assert!(
            raw["encrypt"].is_string() && raw.as_object().unwrap().len() == 1,
            "{raw}"
        );
        assert!(e.signature_ok("ek"), "{:?}", e.headers);
        assert_eq!(
            e.header("Content-Type"),
            Some("application/json; charset=utf-8")
        );
        let p = e.plain.as_ref().expect("decrypts");
        assert_eq!(p["schema"], "2.0");
        assert_eq!(p["header"]["event_type"], "im.message.receive_v1");
        assert_eq!(p["header"]["token"], "vt");
        assert_eq!(p["header"]["app_id"], s.bot["app_id"]);
        assert_eq!(p["header"]["tenant_key"], tenant_key(&s.tenant));
        assert_eq!(e.message_id(), Some(om(&msg).as_str()));
        assert_eq!(e.chat_id(), Some(oc(&s.p2p).as_str()));
        assert_eq!(e.text().as_deref(), Some("hello"));
    }

    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "failed").await;
    assert_eq!(attempts(&d), vec![(json!(500), json!("status")); 3], "{d}");
    assert_eq!(d["event_type"], "im.message.receive_v1");
    assert_eq!(d["dialect"], "feishu");
    assert_eq!(d["mode"], "webhook");
    assert_eq!(d["chat"], s.p2p["id"]);
    assert_eq!(d["message"], msg["id"]);
    assert_eq!(d["next_attempt_at"], Value::Null);
    let ats: Vec<i64> = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["at"].as_i64().unwrap())
        .collect();
    assert!(ats.windows(2).all(|w| w[1] >= w[0] + 100), "{ats:?}");
    // Failed means no more attempts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(recv.events_to("/a").len(), 3);

    // Redelivery: one more attempt, same event id; the receiver now takes it.
    recv.set_events("/a", Action::Ok);
    let r = node
        .admin(
            Method::POST,
            &format!("/tenants/{}/deliveries/{id}/redeliver", s.tenant["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["event_id"], id.as_str());
    let evs = recv.wait_events("/a", 4, WAIT).await;
    assert_eq!(evs[3].event_id(), Some(id.as_str()));
    assert_eq!(evs[3].answered, Some(200));
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "delivered").await;
    let mut want = vec![(json!(500), json!("status")); 3];
    want.push((json!(200), Value::Null));
    assert_eq!(attempts(&d), want, "{d}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(recv.events_to("/a").len(), 4, "delivered: nothing more");

    // Unknown event ids, and malformed ones, are 404.
    for bad in ["0123456789abcdef0123456789abcdef", "nope"] {
        let r = node
            .admin(
                Method::POST,
                &format!("/tenants/{}/deliveries/{bad}/redeliver", s.tenant["id"]),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}: {}", r.text);
    }
}

/// Sends one message to a receiver that always answers `action`; waits for the failed
/// delivery; checks every attempt failed as `(status, error)`; returns the requests.
async fn fails_as(action: Action, status: Value, error: &str) -> (Receiver, Vec<Received>) {
    let (node, s, recv) = world(Route::ok().events(action), "").await;
    send(&node, &s, "x").await;
    let evs = recv.wait_events("/a", 3, WAIT).await;
    let id = assert_one_event_id(&evs);
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "failed").await;
    assert_eq!(attempts(&d), vec![(status, json!(error)); 3], "{d}");
    assert_eq!(recv.events_to("/a").len(), 3, "1 + 2 retries, no more");
    (recv, evs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_after_timeout_ms_is_a_timeout() {
    let (_recv, evs) = fails_as(Action::sleep_then_ok(700), Value::Null, "timeout").await;
    // The sender gave up after timeout_ms, then waited the schedule: the next request
    // started within timeout + interval of the previous one's arrival, long before the
    // receiver would have answered.
    let gap = evs[1].started.duration_since(evs[0].started);
    assert!(gap >= Duration::from_millis(398), "{gap:?}");
    assert!(gap < Duration::from_millis(700), "{gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_connection_is_connect() {
    fails_as(Action::Close, Value::Null, "connect").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_not_followed() {
    let (node, s, recv) = world(Route::ok(), "").await;
    recv.route("/target", Route::ok());
    recv.set_events("/a", Action::Redirect(recv.url("/target")));
    send(&node, &s, "x").await;
    let evs = recv.wait_events("/a", 3, WAIT).await;
    let id = assert_one_event_id(&evs);
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "failed").await;
    assert_eq!(
        attempts(&d),
        vec![(json!(302), json!("redirect")); 3],
        "{d}"
    );
    assert!(
        recv.requests_to("/target").is_empty(),
        "the redirect was followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_once_then_succeeding_is_delivered_on_the_second_attempt() {
    let (node, s, recv) = world(
        Route::ok().events(Script::seq([Action::Status(500)], Action::Ok)),
        "",
    )
    .await;
    send(&node, &s, "x").await;
    let evs = recv.wait_events("/a", 2, WAIT).await;
    let id = assert_one_event_id(&evs);
    assert_spaced(&evs, &[100]);
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "delivered").await;
    assert_eq!(
        attempts(&d),
        vec![(json!(500), json!("status")), (json!(200), Value::Null)],
        "{d}"
    );
    assert_eq!(d["next_attempt_at"], Value::Null);
    // Plaintext: the body is the envelope itself, signed with "" as the key.
    assert_eq!(
        serde_json::from_slice::<Value>(&evs[1].body).unwrap(),
        evs[1].plain.clone().unwrap()
    );
    assert!(evs[1].signature_ok(""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_twice_differently_then_succeeding_uses_the_whole_schedule() {
    let (node, s, recv) = world(
        Route::ok().events(Script::seq(
            [Action::Close, Action::Status(503)],
            Action::Ok,
        )),
        "",
    )
    .await;
    send(&node, &s, "x").await;
    let evs = recv.wait_events("/a", 3, WAIT).await;
    let id = assert_one_event_id(&evs);
    assert_spaced(&evs, &[100, 200]);
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "delivered").await;
    assert_eq!(
        attempts(&d),
        vec![
            (Value::Null, json!("connect")),
            (json!(503), json!("status")),
            (json!(200), Value::Null)
        ],
        "{d}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_log_pages_newest_first_and_filters() {
    let (node, s, recv) = world(Route::ok(), "").await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(send(&node, &s, &format!("m{i}")).await);
    }
    let evs = recv.wait_events("/a", 5, WAIT).await;
    for id in distinct_ids(&evs) {
        wait_delivery(&node, &s.tenant, &s.bot, &id, "delivered").await;
    }
    let base = format!(
        "/tenants/{}/apps/{}/deliveries",
        s.tenant["id"], s.bot["id"]
    );
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for want in [2, 2, 1] {
        let q = match &after {
            None => format!("{base}?limit=2"),
            Some(a) => format!("{base}?limit=2&after={a}"),
        };
        let page = node.admin_ok(Method::GET, &q, None).await;
        let items = page["items"].as_array().unwrap();
        assert_eq!(items.len(), want, "{page}");
        seen.extend(items.iter().map(|d| d["message"].clone()));
        after = page["next"].as_str().map(str::to_string);
        if want == 1 {
            assert_eq!(page["next"], Value::Null, "{page}");
        } else {
            assert!(after.is_some(), "{page}");
        }
    }
    let newest_first: Vec<Value> = sent.iter().rev().map(|m| m["id"].clone()).collect();
    assert_eq!(seen, newest_first);

    for (q, n) in [
        ("status=delivered", 5),
        ("status=failed", 0),
        ("event_type=im.message.receive_v1", 5),
        ("event_type=im.message.recalled_v1", 0),
    ] {
        let page = node
            .admin_ok(Method::GET, &format!("{base}?{q}"), None)
            .await;
        assert_eq!(page["items"].as_array().unwrap().len(), n, "{q}: {page}");
    }
    for q in [
        "status=done",
        "limit=0",
        "limit=201",
        "after=abc",
        "after=-1",
    ] {
        let r = node.admin(Method::GET, &format!("{base}?{q}"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text);
        assert_eq!(r.body["code"], "invalid_argument", "{q}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retrying_event_does_not_hold_back_the_chat() {
    let node = spawn_fast(|c| c.events.retry_schedule = "300ms".into()).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route(
        "/a",
        Route::ok().events(Script::seq([Action::Status(500)], Action::Ok)),
    );
    subscribe(&node, &s.tenant, &s.bot, &recv.url("/a"), "").await;
    send(&node, &s, "first").await;
    send(&node, &s, "second").await;
    let evs = recv.wait_events("/a", 3, WAIT).await;
    let got: Vec<(String, Option<u16>)> = evs
        .iter()
        .map(|r| (r.text().unwrap(), r.answered))
        .collect();
    assert_eq!(
        got,
        vec![
            ("first".to_string(), Some(500)),
            ("second".to_string(), Some(200)),
            ("first".to_string(), Some(200)),
        ],
        "the second event goes ahead while the first waits for its retry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hi_subscribers_get_hi_event_types() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route("/h", Route::ok().key("hk"));
    node.admin_ok(
        Method::PUT,
        &sub_path(&s.tenant, &s.bot, "hi"),
        Some(sub_body(
            &recv.url("/h"),
            "hk",
            "ht",
            &["im.message.receive"],
        )),
    )
    .await;
    let msg = send(&node, &s, "hi there").await;
    let evs = recv.wait_events("/h", 1, WAIT).await;
    let e = &evs[0];
    assert_eq!(e.event_type(), Some("im.message.receive"));
    assert_eq!(e.plain.as_ref().unwrap()["header"]["token"], "ht");
    assert!(e.signature_ok("hk"));
    let id = e.event_id().unwrap();
    let d = wait_delivery(&node, &s.tenant, &s.bot, id, "delivered").await;
    assert_eq!(d["dialect"], "hi");
    assert_eq!(d["message"], msg["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivering_a_retrying_event_attempts_it_now() {
    let node = spawn_fast(|c| c.events.retry_schedule = "30s".into()).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route(
        "/a",
        Route::ok().events(Script::seq([Action::Status(500)], Action::Ok)),
    );
    subscribe(&node, &s.tenant, &s.bot, &recv.url("/a"), "").await;
    send(&node, &s, "x").await;
    let evs = recv.wait_events("/a", 1, WAIT).await;
    let id = evs[0].event_id().unwrap().to_string();
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "retrying").await;
    assert!(d["next_attempt_at"].as_i64().is_some(), "{d}");
    let t0 = std::time::Instant::now();
    node.admin_ok(
        Method::POST,
        &format!("/tenants/{}/deliveries/{id}/redeliver", s.tenant["id"]),
        None,
    )
    .await;
    let evs = recv.wait_events("/a", 2, WAIT).await;
    assert_eq!(evs[1].event_id(), Some(id.as_str()));
    assert!(
        evs[1].started.duration_since(t0) < Duration::from_secs(2),
        "not the 30 s retry"
    );
    let d = wait_delivery(&node, &s.tenant, &s.bot, &id, "delivered").await;
    assert_eq!(
        attempts(&d),
        vec![(json!(500), json!("status")), (json!(200), Value::Null)],
        "{d}"
    );
}
