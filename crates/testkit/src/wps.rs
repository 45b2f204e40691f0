//! A WPS 365 v7 client for integration tests: it fetches a token from `/oauth2/token` and
//! signs every request with KSO-1 (`X-Kso-Date`, `X-Kso-Authorization`) beside
//! `Authorization: Bearer`. Requests are built as [`WpsRequest`] values first, so tests can
//! tamper with any part after signing.

use crate::{Reply, Seed, TestApp};
use reqwest::Method;
use serde_json::Value;
use switchboard_core::Core;
use switchboard_dialect_wps::sign_headers;

pub const JSON: &str = "application/json";

/// One request: method, raw request-target, headers and body.
#[derive(Debug, Clone)]
pub struct WpsRequest {
    pub method: String,
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WpsRequest {
    /// Sets (or replaces, case-insensitively) a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces the request-target without re-signing.
    pub fn uri(mut self, uri: &str) -> Self {
        self.uri = uri.to_string();
        self
    }

    /// Replaces the body without re-signing.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    pub async fn send(&self, app: &TestApp) -> Reply {
        let method = Method::from_bytes(self.method.as_bytes()).expect("method");
        let mut req = app.http.request(method, app.url(&self.uri));
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if !self.body.is_empty() {
            req = req.body(self.body.clone());
        }
        Reply::from(req.send().await.expect("request")).await
    }
}

/// A signing WPS client for one app.
#[derive(Clone)]
pub struct WpsClient {
    pub app_id: String,
    pub app_secret: String,
    pub token: String,
    core: Core,
}

impl WpsClient {
    /// Posts a form to `/oauth2/token`.
    pub async fn fetch_token(app: &TestApp, form: &[(&str, &str)]) -> Reply {
        Reply::from(
            app.http
                .post(app.url("/oauth2/token"))
                .form(form)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Fetches a token with the client_credentials grant; panics unless it succeeds.
    pub async fn connect(app: &TestApp, app_id: &str, app_secret: &str) -> WpsClient {
        let r = Self::fetch_token(
            app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", app_id),
                ("client_secret", app_secret),
            ],
        )
        .await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        let token = r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        WpsClient {
            app_id: app_id.into(),
            app_secret: app_secret.into(),
            token,
            core: app.core.clone(),
        }
    }

    /// The client of the seeded bot.
    pub async fn for_seed(app: &TestApp, seed: &Seed) -> WpsClient {
        Self::connect(app, seed.app_id(), seed.app_secret()).await
    }

    /// The same credentials with another token.
    pub fn with_token(&self, token: &str) -> WpsClient {
        WpsClient {
            token: token.to_string(),
            ..self.clone()
        }
    }

    /// `X-Kso-Date` for the server's clock (a test's ManualClock when there is one).
    pub fn date(&self) -> String {
        switchboard_dialect_wps::kso_date(self.core.now_ms().div_euclid(1000))
    }

    /// A fully signed request (`content_type` empty: no Content-Type header).
    pub fn build(&self, method: &str, uri: &str, content_type: &str, body: Vec<u8>) -> WpsRequest {
        self.build_at(method, uri, content_type, body, &self.date())
    }

    pub fn build_at(
        &self,
        method: &str,
        uri: &str,
        content_type: &str,
        body: Vec<u8>,
        date: &str,
    ) -> WpsRequest {
        let mut headers = sign_headers(
            method,
            uri,
            content_type,
            &body,
            &self.app_id,
            &self.app_secret,
            date,
        );
        headers.push(("Authorization".into(), format!("Bearer {}", self.token)));
        if !content_type.is_empty() {
            headers.push(("Content-Type".into(), content_type.into()));
        }
        WpsRequest {
            method: method.into(),
            uri: uri.into(),
            headers,
            body,
        }
    }

    /// A signed GET with `Content-Type: application/json`, as the seed shows.
    pub fn get_req(&self, uri: &str) -> WpsRequest {
        self.build("GET", uri, JSON, vec![])
    }

    pub fn post_req(&self, uri: &str, body: &Value) -> WpsRequest {
        self.build("POST", uri, JSON, serde_json::to_vec(body).unwrap())
    }

    pub async fn get(&self, app: &TestApp, uri: &str) -> Reply {
        self.get_req(uri).send(app).await
    }

    pub async fn post(&self, app: &TestApp, uri: &str, body: &Value) -> Reply {
        self.post_req(uri, body).send(app).await
    }

    pub async fn get_message(&self, app: &TestApp, chat_id: &str, message_id: &str) -> Reply {
        self.get(app, &format!("/v7/chats/{chat_id}/messages/{message_id}"))
            .await
    }

    /// `POST /v7/messages/create` with any type and content.
    pub async fn send(
        &self,
        app: &TestApp,
        receiver: (&str, &str),
        kind: &str,
        content: Value,
        mentions: Value,
    ) -> Reply {
        let body = serde_json::json!({
            "type": kind,
            "receiver": { "type": receiver.0, "receiver_id": receiver.1 },
            "content": content,
            "mentions": mentions,
        });
        self.post(app, "/v7/messages/create", &body).await
    }

    /// Sends plain text; panics unless it succeeds; returns the message id.
    pub async fn send_text(&self, app: &TestApp, receiver: (&str, &str), text: &str) -> String {
        let r = self
            .send(
                app,
                receiver,
                "text",
                serde_json::json!({ "text": { "content": text, "type": "plain" } }),
                serde_json::json!([]),
            )
            .await;
        assert_eq!(r.body["code"], 0, "send: {}", r.text);
        r.body["data"]["message_id"]
            .as_str()
            .expect("message_id")
            .to_string()
    }

    pub async fn history(&self, app: &TestApp, chat_id: &str, query: &str) -> Reply {
        let q = if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        self.get(app, &format!("/v7/chats/{chat_id}/messages{q}"))
            .await
    }
}

/// A seeded resource's WPS id (`dialect_ids.wps` in admin API answers).
pub fn wps_id(v: &Value) -> String {
    match &v["dialect_ids"]["wps"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A WPS client acting as a user: a `wps_sid` issued through the admin API, exchanged at
/// `/v7/dev/agent/token` for a user token, sent Bearer-only (no KSO-1), as the `wps365`
/// client does.
#[derive(Clone)]
pub struct WpsUser {
    pub sid: String,
    pub token: String,
}

impl WpsUser {
    /// `POST /admin/v1/tenants/{tenant}/users/{user}/wps_sid` with `body` (None: no body).
    pub async fn issue_sid(
        app: &TestApp,
        tenant: &Value,
        user: &str,
        body: Option<Value>,
    ) -> Reply {
        let path = format!("/tenants/{}/users/{user}/wps_sid", tenant["id"]);
        app.admin(Method::POST, &path, body).await
    }

    /// `POST /v7/dev/agent/token` with `Cookie: wps_sid=…`, no body, no signature.
    pub async fn agent_token(app: &TestApp, sid: &str) -> Reply {
        let mut req = app.http.post(app.url("/v7/dev/agent/token"));
        if !sid.is_empty() {
            req = req.header("Cookie", format!("wps_sid={sid}"));
        }
        Reply::from(req.send().await.expect("request")).await
    }

    /// Issues a sid for `user` (a user_id) and exchanges it; panics unless both succeed.
    pub async fn connect(app: &TestApp, tenant: &Value, user: &str) -> WpsUser {
        let r = Self::issue_sid(app, tenant, user, None).await;
        assert_eq!(r.status, 200, "wps_sid: {}", r.text);
        let sid = r.body["wps_sid"].as_str().expect("wps_sid").to_string();
        let t = Self::agent_token(app, &sid).await;
        assert_eq!(t.status, 200, "agent token: {}", t.text);
        let token = t.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string();
        WpsUser { sid, token }
    }

    /// A Bearer-only request (JSON body when `body` is given).
    pub async fn call(
        &self,
        app: &TestApp,
        method: &str,
        uri: &str,
        body: Option<&Value>,
    ) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = app
            .http
            .request(method, app.url(uri))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    pub async fn get(&self, app: &TestApp, uri: &str) -> Reply {
        self.call(app, "GET", uri, None).await
    }

    pub async fn post(&self, app: &TestApp, uri: &str, body: &Value) -> Reply {
        self.call(app, "POST", uri, Some(body)).await
    }
}
