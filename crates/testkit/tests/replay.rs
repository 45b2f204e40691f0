//! A signed Yunxin request is accepted once, ever: a graceful restart does not reopen the
//! replay window (the process being killed is covered by the command-line tests).

use reqwest::Method;
use serde_json::json;
use switchboard_testkit::spawn_app;
use switchboard_testkit::yunxin::{conv, fails, fresh_nonce, ok, Body, YunxinClient};

#[tokio::test]
async fn a_signed_send_replayed_after_a_restart_is_refused_and_stores_nothing() {
    let app = spawn_app().await;
    let seed = app.seed().await;
    let (key, secret) = (seed.app_id().to_string(), seed.app_secret().to_string());
    let chat = seed.group["id"].as_i64().unwrap();
    let path = format!("/conversations/{}/messages", conv("alice", 2, chat));
    let body = json!({ "message": { "message_type": 0, "text": "only once" } });

    let yx = YunxinClient::new(&app, &key, &secret);
    let signing = yx.signing(&fresh_nonce(), &yx.now_secs().to_string());
    let send = async |yx: &YunxinClient<'_>| {
        let body = Some(Body::Json(body.clone()));
        yx.request(Method::POST, &path, Some(&signing), body).await
    };
    ok(&send(&yx).await);
    fails(&send(&yx).await, 414);
    drop(yx);

    let app = app.restart().await;
    let yx = YunxinClient::new(&app, &key, &secret);
    let replayed = send(&yx).await;
    fails(&replayed, 414);
    assert!(replayed.text.contains("replayed"), "{}", replayed.text);

    // A fresh signature still works, and the chat holds exactly the one message.
    ok(&yx.send_text(&conv("alice", 2, chat), "fresh").await);
    let history = app
        .admin_ok(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{chat}/messages",
                seed.tenant["id"].as_i64().unwrap()
            ),
            None,
        )
        .await;
    let texts: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"]["text"].as_str())
        .collect();
    assert_eq!(
        texts.iter().filter(|t| **t == "only once").count(),
        1,
        "{texts:?}"
    );
}
