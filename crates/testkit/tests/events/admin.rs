//! The subscription API: PUT (with URL verification), GET, DELETE, and its errors.

use crate::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use switchboard_testkit::receiver::{Action, Receiver, Route, Script};
use switchboard_testkit::{Reply, TestApp};

async fn put(node: &TestApp, path: &str, body: Value) -> Reply {
    node.admin(Method::PUT, path, Some(body)).await
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

fn assert_error(r: &Reply, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.body["code"], code, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_get_delete_follow_the_contract() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route("/a", Route::ok());
    recv.route("/h", Route::ok());
    let path = sub_path(&s.tenant, &s.bot, "feishu");

    let r = put(
        &node,
        &path,
        sub_body(&recv.url("/a"), "", "vt", &["im.message.receive_v1"]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let first = r.body;
    let expected: BTreeSet<String> = [
        "app_id",
        "dialect",
        "mode",
        "url",
        "encrypt_key",
        "verification_token",
        "event_types",
        "created_at",
        "updated_at",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    assert_eq!(keys(&first), expected, "{first}");
    assert_eq!(first["app_id"], s.bot["app_id"]);
    assert_eq!(first["dialect"], "feishu");
    assert_eq!(first["mode"], "webhook");
    assert_eq!(first["url"], recv.url("/a"));
    assert_eq!(first["encrypt_key"], "");
    assert_eq!(first["verification_token"], "vt");
    assert_eq!(first["event_types"], json!(["im.message.receive_v1"]));
    assert!(first["created_at"].as_i64().unwrap() > 0);
    assert_eq!(first["created_at"], first["updated_at"]);

    // The challenge, as it arrived: plaintext, signed, in the vendor's header casing.
    let got = recv.requests_to("/a");
    assert_eq!(got.len(), 1, "one challenge: {got:?}");
    let ch = &got[0];
    assert_eq!(ch.method, "POST");
    assert!(ch.is_challenge(), "{:?}", ch.plain);
    let plain = ch.plain.clone().unwrap();
    assert_eq!(
        keys(&plain),
        keys(&json!({"challenge": 1, "token": 1, "type": 1}))
    );
    assert_eq!(plain["token"], "vt");
    assert!(!plain["challenge"].as_str().unwrap().is_empty());
    assert_eq!(
        ch.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    for h in [
        "X-Lark-Request-Timestamp",
        "X-Lark-Request-Nonce",
        "X-Lark-Signature",
    ] {
        assert!(
            ch.header(h).is_some(),
            "{h} missing (exact casing): {:?}",
            ch.headers
        );
    }
    assert!(ch.signature_ok(""), "bad signature: {:?}", ch.headers);

    // PUT again replaces it: same creation time, new fields, a new challenge.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let types = ["im.message.receive_v1", "im.message.recalled_v1"];
    let second = node
        .admin_ok(
            Method::PUT,
            &path,
            Some(sub_body(&recv.url("/a"), "", "vt2", &types)),
        )
        .await;
    assert_eq!(second["created_at"], first["created_at"]);
    assert!(second["updated_at"].as_i64() >= first["updated_at"].as_i64());
    assert_eq!(second["verification_token"], "vt2");
    // A set: the order it is listed in is the server's.
    let mut listed: Vec<&str> = second["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    listed.sort();
    let mut want = types.to_vec();
    want.sort();
    assert_eq!(listed, want, "{second}");
    assert_eq!(recv.requests_to("/a").len(), 2);

    // Hi's subscription sits beside it.
    let hi = node
        .admin_ok(
            Method::PUT,
            &sub_path(&s.tenant, &s.bot, "hi"),
            Some(sub_body(&recv.url("/h"), "", "", &["im.message.receive"])),
        )
        .await;
    assert_eq!(hi["dialect"], "hi");
    assert_eq!(hi["verification_token"], "");

    let list_path = format!("/tenants/{}/apps/{}/events", s.tenant["id"], s.bot["id"]);
    let list = node.admin_ok(Method::GET, &list_path, None).await;
    assert_eq!(keys(&list), keys(&json!({"items": 1})));
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let feishu = items.iter().find(|i| i["dialect"] == "feishu").unwrap();
    assert_eq!(feishu, &second);
    assert_eq!(items.iter().find(|i| i["dialect"] == "hi").unwrap(), &hi);

    let del = node.admin_ok(Method::DELETE, &path, None).await;
    assert_eq!(del, json!({"dialect": "feishu", "dropped_deliveries": 0}));
    let list = node.admin_ok(Method::GET, &list_path, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["items"][0]["dialect"], "hi");
    let again = node.admin(Method::DELETE, &path, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_drops_pending_deliveries() {
    // A retry far away keeps the deliveries open.
    let node = spawn_fast(|c| c.events.retry_schedule = "30s".into()).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route("/a", Route::ok().events(Action::Status(500)));
    subscribe(&node, &s.tenant, &s.bot, &recv.url("/a"), "").await;
    for text in ["one", "two"] {
        node.admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), text)
            .await;
    }
    // Both are attempted once (one chat: one after the other) and wait for their retry.
    let ids = recv
        .wait_for(WAIT, "two distinct events", |log| {
            let evs: Vec<_> = log.iter().filter(|r| r.is_event()).cloned().collect();
            let ids = distinct_ids(&evs);
            (ids.len() == 2).then_some(ids)
        })
        .await;
    for id in &ids {
        wait_delivery(&node, &s.tenant, &s.bot, id, "retrying").await;
    }
    let del = node
        .admin_ok(Method::DELETE, &sub_path(&s.tenant, &s.bot, "feishu"), None)
        .await;
    assert_eq!(del, json!({"dialect": "feishu", "dropped_deliveries": 2}));
    let open: Vec<Value> = deliveries(&node, &s.tenant, &s.bot)
        .await
        .into_iter()
        .filter(|d| d["status"] == "pending" || d["status"] == "retrying")
        .collect();
    assert!(open.is_empty(), "still open: {open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_refuses_what_it_cannot_save() {
    let node = spawn_fast(|c| c.events.challenge_timeout_ms = 200).await;
    let s = node.seed().await;
    let recv = Receiver::start().await;
    recv.route("/ok", Route::ok());
    recv.route(
        "/noecho",
        Route::ok().challenge(Action::Body(200, r#"{"msg":"success"}"#.into())),
    );
    recv.route(
        "/wrong",
        Route::ok().challenge(Action::Body(200, r#"{"challenge":"nope"}"#.into())),
    );
    recv.route("/500", Route::ok().challenge(Action::Status(500)));
    recv.route("/slow", Route::ok().challenge(Action::sleep_then_ok(1_500)));
    recv.route("/enc", Route::ok().key("k3y"));
    // Knows no key: it cannot read the challenge and answers like an event.
    recv.route("/enc-nokey", Route::ok());
    let path = sub_path(&s.tenant, &s.bot, "feishu");
    let types = ["im.message.receive_v1"];
    let ok_url = recv.url("/ok");

    // 404: a dialect that has no events.
    let r = put(
        &node,
        &sub_path(&s.tenant, &s.bot, "matrix"),
        sub_body(&ok_url, "", "", &types),
    )
    .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");

    // 400 invalid_argument: Hi's name on Feishu, an unknown name, no name.
    for bad in [
        json!(["im.message.receive"]),
        json!(["im.message.receive_v9"]),
        json!([]),
    ] {
        let mut b = sub_body(&ok_url, "", "", &types);
        b["event_types"] = bad.clone();
        let r = put(&node, &path, b).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_argument");
    }

    // 400 invalid_argument: a mode that does not exist.
    let mut b = sub_body(&ok_url, "", "", &types);
    b["mode"] = json!("carrier_pigeon");
    let r = put(&node, &path, b).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_argument");

    // 400 invalid_argument: URLs that are not http(s).
    for url in [
        "ftp://127.0.0.1/events",
        "127.0.0.1:9/events",
        "",
        "http://a b/",
    ] {
        let r = put(&node, &path, sub_body(url, "", "", &types)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_argument");
    }
    assert!(
        recv.requests_to("/ok").is_empty(),
        "no challenge before the body is valid"
    );

    // 400 challenge_failed: an answer without the echo, a wrong echo, a 500.
    for (p, why) in [
        ("/noecho", "did not echo"),
        ("/wrong", "did not echo"),
        ("/500", "HTTP 500"),
        ("/enc-nokey", "did not echo"),
    ] {
        let key = if p == "/enc-nokey" { "k3y" } else { "" };
        let r = put(&node, &path, sub_body(&recv.url(p), key, "", &types)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "challenge_failed");
        let msg = r.body["message"].as_str().unwrap();
        assert!(msg.starts_with("URL verification failed"), "{msg}");
        assert!(msg.contains(why), "{p}: {msg}");
        assert_eq!(recv.requests_to(p).len(), 1, "{p}: one challenge");
    }

    // 400 challenge_failed: no answer within challenge_timeout_ms, and PUT does not wait
    // for the receiver.
    let t0 = std::time::Instant::now();
    let r = put(&node, &path, sub_body(&recv.url("/slow"), "", "", &types)).await;
    let took = t0.elapsed();
    assert_error(&r, StatusCode::BAD_REQUEST, "challenge_failed");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap()
            .contains("within 200 ms"),
        "{}",
        r.text
    );
    assert!(took < Duration::from_millis(1_200), "PUT took {took:?}");

    // Nothing was saved by any of them.
    let list_path = format!("/tenants/{}/apps/{}/events", s.tenant["id"], s.bot["id"]);
    let list = node.admin_ok(Method::GET, &list_path, None).await;
    assert_eq!(list, json!({"items": []}));

    // An encrypted challenge, answered by a receiver that decrypts it.
    let sub = node
        .admin_ok(
            Method::PUT,
            &path,
            Some(sub_body(&recv.url("/enc"), "k3y", "tok", &types)),
        )
        .await;
    assert_eq!(sub["encrypt_key"], "k3y");
    let got = recv.requests_to("/enc");
    assert_eq!(got.len(), 1);
    let raw: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(
        keys(&raw),
        keys(&json!({"encrypt": 1})),
        "sealed body: {raw}"
    );
    assert!(
        got[0].is_challenge(),
        "decrypts to a challenge: {:?}",
        got[0].plain
    );
    assert_eq!(got[0].plain.as_ref().unwrap()["token"], "tok");
    assert!(got[0].signature_ok("k3y"), "signed with the key");
    let list = node.admin_ok(Method::GET, &list_path, None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // A failed PUT leaves an existing subscription as it was.
    let r = put(&node, &path, sub_body(&recv.url("/500"), "", "", &types)).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "challenge_failed");
    let list = node.admin_ok(Method::GET, &list_path, None).await;
    assert_eq!(list["items"][0]["url"], recv.url("/enc"), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_needs_the_admin_token_and_the_right_tenant() {
    let node = spawn_fast(|_| {}).await;
    let s = node.seed().await;
    let other = node.create_tenant("Other").await;
    let recv = Receiver::start().await;
    recv.route("/ok", Route::ok().events(Script::always(Action::Ok)));
    let body = sub_body(&recv.url("/ok"), "", "", &["im.message.receive_v1"]);
    let path = sub_path(&s.tenant, &s.bot, "feishu");

    for token in [None, Some("wrong-token-0123456789")] {
        let mut req = node
            .http
            .put(node.url(&format!("/admin/v1{path}")))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = Reply::from(req.send().await.unwrap()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        let r = Reply::from(
            node.http
                .get(node.url(&format!(
                    "/admin/v1/tenants/{}/apps/{}/events",
                    s.tenant["id"], s.bot["id"]
                )))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    assert!(recv.requests().is_empty(), "no challenge without auth");

    // The app seen through another tenant, an unknown tenant, an unknown app: 404.
    for p in [
        sub_path(&other, &s.bot, "feishu"),
        sub_path(&json!({"id": 987_654_321}), &s.bot, "feishu"),
        sub_path(&s.tenant, &json!({"id": 987_654_321}), "feishu"),
    ] {
        let r = put(&node, &p, body.clone()).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}: {}", r.text);
        let r = node.admin(Method::DELETE, &p, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}: {}", r.text);
    }
    let r = node
        .admin(
            Method::GET,
            &format!("/tenants/{}/apps/{}/events", other["id"], s.bot["id"]),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(recv.requests().is_empty(), "no challenge for a 404");
}
