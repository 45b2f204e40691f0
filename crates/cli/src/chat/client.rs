//! The admin-API client `chat` and `dialog` share: where the server is, its token, and
//! JSON calls whose error answers become errors naming the call.

use anyhow::Context;
use clap::Args;
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// Where the server is and how to authenticate to its admin API.
#[derive(Args, Clone)]
pub struct Conn {
    /// Base URL of the server.
    #[arg(
        long,
        env = "SWITCHBOARD_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Admin token (printed by the server at its first start, stored in DATA_DIR/admin-token).
    #[arg(
        long,
        env = "SWITCHBOARD_ADMIN_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub admin_token: Option<String>,
}

pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    pub fn new(conn: &Conn) -> anyhow::Result<Admin> {
        let token = conn
            .admin_token
            .clone()
            .context("no admin token: pass --admin-token or set SWITCHBOARD_ADMIN_TOKEN")?;
        Ok(Admin {
            http: reqwest::Client::builder().no_proxy().build()?,
            base: conn.url.trim_end_matches('/').to_string(),
            token,
        })
    }

    /// The server's base URL, as the state file keys it.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, None).await
    }

    /// A GET whose 404 is an answer, not an error (name resolution tries ids first).
    pub async fn get_opt(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.raw(Method::GET, path, None).await? {
            (StatusCode::NOT_FOUND, _) => Ok(None),
            (s, v) => ok_or_bail(s, v, path).map(Some),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, v) = self.raw(method, path, body).await?;
        ok_or_bail(status, v, path)
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let url = format!("{}/admin/v1{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.with_context(|| format!("calling {url}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading {url}"))?;
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, v))
    }
}

fn ok_or_bail(status: StatusCode, v: Value, path: &str) -> anyhow::Result<Value> {
    if status.is_success() {
        return Ok(v);
    }
    let why = match (v["code"].as_str(), v["message"].as_str()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => v.to_string(),
    };
    anyhow::bail!("the server answered {status} to {path}: {why}")
}

/// A path segment, percent-encoded as the admin API expects.
pub fn enc(s: &str) -> String {
    crate::admin::enc(s)
}

/// Every item of a paged list (`?after=<last id>&limit=`), for tenants, users, apps, chats.
pub async fn list_all(admin: &Admin, path: &str) -> anyhow::Result<Vec<Value>> {
    const PAGE: usize = 100;
    let mut out = Vec::new();
    let mut after = 0i64;
    loop {
        let page = admin
            .get(&format!("{path}?after={after}&limit={PAGE}"))
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let n = items.len();
        match items.last().and_then(|i| i["id"].as_i64()) {
            Some(last) => after = last,
            None => return Ok(out),
        }
        out.extend(items);
        if n < PAGE {
            return Ok(out);
        }
    }
}
