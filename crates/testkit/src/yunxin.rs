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

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
pub fn query_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `key=QueryEscape(value)` pairs joined with `&`, as the Go SDK's `buildURL` writes them.
fn go_query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The Go SDK's `QueryMessagesByPageRequestV2` (src/im/v2/message/message_v2_requests.go).
/// `conversation_id` goes into the path as given (the SDK substitutes it unescaped).
#[derive(Debug, Clone, Default)]
pub struct QueryMessagesByPage {
    pub conversation_id: String,
    pub begin_time: i64,
    pub end_time: i64,
    pub limit: i64,
    pub descending: Option<bool>,
    pub message_type: String,
    pub page_token: String,
}

/// The Go SDK's `ListTeamMembersRequestV2` (src/im/v2/team/team_v2_requests.go).
#[derive(Debug, Clone, Default)]
pub struct ListTeamMembers {
    pub team_id: i64,
    pub team_type: i64,
    pub offset: i64,
    pub limit: i64,
    pub next_token: String,
}

/// The Go SDK's `QueryJoinedTeamsRequestV2` (src/im/v2/team_member/team_member_v2_requests.go).
#[derive(Debug, Clone, Default)]
pub struct QueryJoinedTeams {
    pub account_id: String,
    pub team_type: i64,
    pub page_token: String,
    pub limit: i64,
    pub need_return_member_info: Option<i64>,
}

/// The calls of the official Go SDK (netease-im/yunxin-server-sdk-golang at 6aae05a),
/// transcribed: the same method, path and parameters, each sent exactly when the SDK sends
/// it.
impl YunxinClient<'_> {
    /// `MessageV2ServiceImpl.QueryMessagesByPage`: `GET /im/v2.1/conversations/{conversation_id}/messages`
    /// with `begin_time`, `end_time` and `limit` always (0 when unset), `descending` when
    /// set (Go's `%t`), `message_type` and `page_token` when not empty.
    pub async fn query_messages_by_page(&self, req: &QueryMessagesByPage) -> Reply {
        let mut q = vec![
            ("begin_time", req.begin_time.to_string()),
            ("end_time", req.end_time.to_string()),
            ("limit", req.limit.to_string()),
        ];
        if let Some(d) = req.descending {
            q.push(("descending", d.to_string()));
        }
        if !req.message_type.is_empty() {
            q.push(("message_type", req.message_type.clone()));
        }
        if !req.page_token.is_empty() {
            q.push(("page_token", req.page_token.clone()));
        }
        self.get(&format!(
            "/im/v2.1/conversations/{}/messages?{}",
            req.conversation_id,
            go_query(&q)
        ))
        .await
    }

    /// `TeamV2ServiceImpl.ListTeamMembers`: `GET /im/v2.1/teams/{team_id}/actions/list_members`
    /// with `team_type` always, `offset` and `limit` when positive, `next_token` when not
    /// empty.
    pub async fn list_team_members(&self, req: &ListTeamMembers) -> Reply {
        let mut q = vec![("team_type", req.team_type.to_string())];
        if req.offset > 0 {
            q.push(("offset", req.offset.to_string()));
        }
        if req.limit > 0 {
            q.push(("limit", req.limit.to_string()));
        }
        if !req.next_token.is_empty() {
            q.push(("next_token", req.next_token.clone()));
        }
        self.get(&format!(
            "/im/v2.1/teams/{}/actions/list_members?{}",
            req.team_id,
            go_query(&q)
        ))
        .await
    }

    /// `TeamV2ServiceImpl.ListOnlineTeamMembers`: `GET /im/v2/teams/{team_id}/actions/list_online_members?team_type=`.
    pub async fn list_online_team_members(&self, team_id: i64, team_type: i64) -> Reply {
        self.get(&format!(
            "/im/v2/teams/{team_id}/actions/list_online_members?{}",
            go_query(&[("team_type", team_type.to_string())])
        ))
        .await
    }

    /// `TeamMemberV2ServiceImpl.QueryJoinedTeams`: `GET /im/v2.1/team_members/{account_id}/actions/joined_teams`
    /// with `team_type` always, `page_token` when not empty, `limit` and
    /// `need_return_member_info` when positive.
    pub async fn query_joined_teams(&self, req: &QueryJoinedTeams) -> Reply {
        let mut q = vec![("team_type", req.team_type.to_string())];
        if !req.page_token.is_empty() {
            q.push(("page_token", req.page_token.clone()));
        }
        if req.limit > 0 {
            q.push(("limit", req.limit.to_string()));
        }
        if let Some(n) = req.need_return_member_info.filter(|n| *n > 0) {
            q.push(("need_return_member_info", n.to_string()));
        }
        self.get(&format!(
            "/im/v2.1/team_members/{}/actions/joined_teams?{}",
            req.account_id,
            go_query(&q)
        ))
        .await
    }

    /// `TeamV2ServiceImpl.UpdateTeam`: `PATCH /im/v2.1/teams/{team_id}` with the request's
    /// JSON (`operator_id`, `team_type`, and the `omitempty` fields only when not empty).
    pub async fn update_team(
        &self,
        team_id: i64,
        operator_id: &str,
        team_type: i64,
        name: &str,
        intro: &str,
    ) -> Reply {
        let mut body = json!({ "operator_id": operator_id, "team_type": team_type });
        if !name.is_empty() {
            body["name"] = json!(name);
        }
        if !intro.is_empty() {
            body["intro"] = json!(intro);
        }
        self.patch(&format!("/im/v2.1/teams/{team_id}"), body).await
    }

    /// `TeamV2ServiceImpl.TransferOwner`: `PATCH /im/v2/teams/{team_id}/actions/transfer_owner`
    /// with `{team_type, new_owner_account_id, leave}` (`leave`: 1 leave, 2 stay).
    pub async fn transfer_owner(
        &self,
        team_id: i64,
        team_type: i64,
        new_owner: &str,
        leave: i64,
    ) -> Reply {
        let body =
            json!({ "team_type": team_type, "new_owner_account_id": new_owner, "leave": leave });
        self.patch(
            &format!("/im/v2/teams/{team_id}/actions/transfer_owner"),
            body,
        )
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
