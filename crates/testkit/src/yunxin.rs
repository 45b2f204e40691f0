//! A NetEase Yunxin server-API client for integration tests.
//!
//! Every request is signed the vendor's way: `AppKey`, a fresh `Nonce`, `CurTime` in
//! seconds from the app's clock (so a `ManualClock` drives it), and
//! `CheckSum = sha1hex(AppSecret + Nonce + CurTime)`, computed here independently of the
//! dialect's own code. [`Signing`] lets a test omit or corrupt any header.

use crate::{Reply, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::sync::atomic::{AtomicU64, Ordering};

/// `lowercase hex(SHA1(AppSecret + Nonce + CurTime))`.
pub fn checksum(app_secret: &str, nonce: &str, cur_time: &str) -> String {
    let mut h = Sha1::new();
    h.update(app_secret.as_bytes());
    h.update(nonce.as_bytes());
    h.update(cur_time.as_bytes());
    hex::encode(h.finalize())
}

/// A `owner|type|other` conversation id with its `|` percent-encoded, for a path.
pub fn conv(owner: &str, conversation_type: u8, other: impl std::fmt::Display) -> String {
    format!("{owner}%7C{conversation_type}%7C{other}")
}

/// The four auth headers of one request; `None` leaves a header out.
#[derive(Debug, Clone, Default)]
pub struct Signing {
    pub app_key: Option<String>,
    pub nonce: Option<String>,
    pub cur_time: Option<String>,
    pub checksum: Option<String>,
}

impl Signing {
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        for (name, v) in [
            ("AppKey", &self.app_key),
            ("Nonce", &self.nonce),
            ("CurTime", &self.cur_time),
            ("CheckSum", &self.checksum),
        ] {
            if let Some(v) = v {
                h.push((name, v.clone()));
            }
        }
        h
    }
}

/// A request body: JSON (sent with `application/json;charset=UTF-8`, as the Go SDK does)
/// or raw bytes with any content type.
#[derive(Debug, Clone)]
pub enum Body {
    Json(Value),
    Raw {
        content_type: Option<String>,
        bytes: Vec<u8>,
    },
}

static NONCES: AtomicU64 = AtomicU64::new(1);

/// A nonce no other request of this process uses.
pub fn fresh_nonce() -> String {
    let n = NONCES.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}{:08x}{n:x}", std::process::id(), t as u32)
}

pub struct YunxinClient<'a> {
    pub app: &'a TestApp,
    pub app_key: String,
    pub app_secret: String,
    /// `/im/v2` or `/im/v2.1`.
    pub prefix: String,
}

impl<'a> YunxinClient<'a> {
    pub fn new(app: &'a TestApp, app_key: &str, app_secret: &str) -> Self {
        YunxinClient {
            app,
            app_key: app_key.into(),
            app_secret: app_secret.into(),
            prefix: "/im/v2".into(),
        }
    }

    /// The same credentials under another path prefix.
    pub fn with_prefix(&self, prefix: &str) -> YunxinClient<'a> {
        YunxinClient {
            app: self.app,
            app_key: self.app_key.clone(),
            app_secret: self.app_secret.clone(),
            prefix: prefix.into(),
        }
    }

    /// The server's clock in seconds (a `ManualClock` when the app has one).
    pub fn now_secs(&self) -> i64 {
        self.app.core.clock().now_secs()
    }

    /// Valid headers for `nonce` and `cur_time`.
    pub fn signing(&self, nonce: &str, cur_time: &str) -> Signing {
        Signing {
            app_key: Some(self.app_key.clone()),
            nonce: Some(nonce.into()),
            cur_time: Some(cur_time.into()),
            checksum: Some(checksum(&self.app_secret, nonce, cur_time)),
        }
    }

    /// Fresh valid headers.
    pub fn sign(&self) -> Signing {
        self.signing(&fresh_nonce(), &self.now_secs().to_string())
    }

    /// `prefix + path`, unless `path` is already absolute under `/im/`.
    pub fn path(&self, path: &str) -> String {
        if path.starts_with("/im/") {
            path.to_string()
        } else {
            format!("{}{path}", self.prefix)
        }
    }

    /// A request with explicit headers (or none) and body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        signing: Option<&Signing>,
        body: Option<Body>,
    ) -> Reply {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(&self.path(path)));
        if let Some(s) = signing {
            for (k, v) in s.headers() {
                req = req.header(k, v);
            }
        }
        match body {
            Some(Body::Json(v)) => {
                req = req
                    .header("Content-Type", "application/json;charset=UTF-8")
                    .body(serde_json::to_vec(&v).unwrap());
            }
            Some(Body::Raw {
                content_type,
                bytes,
            }) => {
                if let Some(ct) = content_type {
                    req = req.header("Content-Type", ct);
                }
                req = req.body(bytes);
            }
            None => {}
        }
        Reply::from(req.send().await.expect("request")).await
    }

    /// A freshly signed request.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let s = self.sign();
        self.request(method, path, Some(&s), body.map(Body::Json))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Query one message; `params` is a query string without `?` (may be empty).
    pub async fn query(
        &self,
        conversation: &str,
        id: impl std::fmt::Display,
        params: &str,
    ) -> Reply {
        let q = if params.is_empty() {
            String::new()
        } else {
            format!("?{params}")
        };
        self.get(&format!("/conversations/{conversation}/messages/{id}{q}"))
            .await
    }

    pub async fn send(&self, conversation: &str, body: Value) -> Reply {
        self.post(&format!("/conversations/{conversation}/messages"), body)
            .await
    }

    pub async fn send_text(&self, conversation: &str, text: &str) -> Reply {
        self.send(
            conversation,
            json!({ "message": { "message_type": 0, "text": text } }),
        )
        .await
    }

    /// Recall (`kind` 1 or 2) or delete (3); `params` extra query parameters.
    pub async fn withdraw(
        &self,
        conversation: &str,
        id: impl std::fmt::Display,
        kind: u8,
        params: &str,
    ) -> Reply {
        let extra = if params.is_empty() {
            String::new()
        } else {
            format!("&{params}")
        };
        self.delete(&format!(
            "/conversations/{conversation}/messages/{id}?type={kind}{extra}"
        ))
        .await
    }

    pub async fn modify(&self, body: Value) -> Reply {
        self.post("/messages/actions/modifyMsg", body).await
    }

    pub async fn create_account(&self, account_id: &str, name: &str) -> Reply {
        self.post(
            "/accounts",
            json!({ "account_id": account_id, "user_information": { "name": name } }),
        )
        .await
    }

    /// `team_type` 1 (advanced) or 2 (super).
    pub async fn create_team(
        &self,
        owner: &str,
        team_type: u8,
        name: &str,
        invite: &[&str],
    ) -> Reply {
        let body = json!({ "owner_account_id": owner, "team_type": team_type, "name": name, "invite_account_ids": invite });
        self.post("/im/v2.1/teams", body).await
    }

    pub async fn invite(
        &self,
        operator: &str,
        team_id: i64,
        team_type: u8,
        accounts: &[&str],
    ) -> Reply {
        let body = json!({ "operator_id": operator, "team_id": team_id, "team_type": team_type, "invite_account_ids": accounts });
        self.post("/team_members", body).await
    }

    pub async fn kick(
        &self,
        operator: &str,
        team_id: i64,
        team_type: u8,
        accounts: &[&str],
    ) -> Reply {
        let list = accounts.join(",");
        self.delete(&format!("/team_members/actions/kick_member?operator_id={operator}&team_id={team_id}&team_type={team_type}&kick_account_ids={list}"))
            .await
    }
}

/// Asserts a Yunxin success envelope and returns its `data`.
pub fn ok(r: &Reply) -> &Value {
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["code"], 200, "{}", r.text);
    assert_eq!(r.body["msg"], "success", "{}", r.text);
    &r.body["data"]
}

/// Asserts a Yunxin failure envelope with `code`: HTTP 200, JSON, `data: {}`.
pub fn fails(r: &Reply, code: i64) {
    assert_eq!(r.status, reqwest::StatusCode::OK, "{}", r.text);
    let ct = r
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "content-type {ct:?}: {}",
        r.text
    );
    assert_eq!(r.body["code"], code, "{}", r.text);
    assert!(
        r.body["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text
    );
    assert_eq!(r.body["data"], json!({}), "{}", r.text);
}
