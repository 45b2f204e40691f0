//! The Inspector: one message through each dialect's get-message, side by side, as the
//! chosen app. Each call is a real request through the dialect's own route, with the
//! dialect's own credentials (a token fetched from its token endpoint, KSO-1 and CheckSum
//! signatures computed now), so what the page shows is what a bot would get, refusals
//! included; under each answer, a `curl` that makes the same call from a shell.

use crate::api::{seg, ApiError, ApiResult, Raw};
use crate::model::*;
use crate::names::names;
use crate::page::{html, Flash, Layout};
use crate::pretty;
use crate::session::{self, Signed};
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize, Default)]
pub struct InspectorQuery {
    #[serde(default)]
    id: String,
    app: Option<String>,
}

/// One dialect's pane.
pub struct Pane {
    pub key: &'static str,
    pub heading: &'static str,
    pub request: String,
    pub status: u16,
    pub body: String,
    pub curl: String,
}

#[derive(Template)]
#[template(path = "inspector.html")]
struct Inspector {
    layout: Layout,
    id: String,
    apps: Vec<App>,
    app: i64,
    found: Option<Found>,
    problem: String,
    panes: Vec<Pane>,
}

struct Found {
    tenant: Tenant,
    chat: Chat,
    message: Message,
}

pub async fn page(
    State(c): State<Console>,
    signed: Signed,
    headers: HeaderMap,
    Query(q): Query<InspectorQuery>,
) -> Result<Response, ApiError> {
    let layout = Layout::new(&signed, "inspector", &Flash::default());
    let id = q.id.trim().to_string();
    let mut page = Inspector {
        layout,
        id: id.clone(),
        apps: Vec::new(),
        app: 0,
        found: None,
        problem: String::new(),
        panes: Vec::new(),
    };
    if id.is_empty() {
        return Ok(html(&page));
    }
    let Some(found) = locate(&c, &id).await? else {
        page.problem = format!("No tenant has a message {id:?}.");
        return Ok(html(&page));
    };
    let tenant = found.tenant.id;
    let (_, apps, _) = names(&c, tenant).await?;
    let bot = found
        .chat
        .members
        .iter()
        .find(|m| m.kind == "app")
        .map(|m| m.id);
    let chosen = q
        .app
        .as_deref()
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| apps.iter().any(|x| x.id == *a))
        .or(bot)
        .or_else(|| apps.first().map(|a| a.id));
    page.apps = apps;
    match chosen {
        None => page.problem = "This tenant has no app to ask as.".into(),
        Some(app) => {
            page.app = app;
            let secret: Value = c
                .api
                .get(&format!("/tenants/{tenant}/apps/{app}/secret"))
                .await?;
            let app_id = secret["app_id"].as_str().unwrap_or_default().to_string();
            let secret = secret["app_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let base = base_url(&headers);
            let cred = Cred {
                app_id,
                secret,
                base,
            };
            page.panes = vec![
                wps(&c, &cred, &found).await,
                lark(&c, &cred, &found, Face::Hi).await,
                lark(&c, &cred, &found, Face::Feishu).await,
                yunxin(&c, &cred, &found).await,
            ];
        }
    }
    page.found = Some(found);
    Ok(html(&page))
}

/// The tenant, chat and message an id names, in any dialect's form. An id names its chat,
/// so at most one tenant holds it.
async fn locate(c: &Console, id: &str) -> ApiResult<Option<Found>> {
    let tenants: Items<Tenant> = c.api.get("/tenants?limit=1000").await?;
    for t in tenants.items {
        match c
            .api
            .get::<Message>(&format!("/tenants/{}/messages/{}", t.id, seg(id)))
            .await
        {
            Ok(message) => {
                let chat: Chat = c
                    .api
                    .get(&format!("/tenants/{}/chats/{}", t.id, message.chat_id))
                    .await?;
                return Ok(Some(Found {
                    tenant: t,
                    chat,
                    message,
                }));
            }
            Err(e) if e.status == StatusCode::NOT_FOUND => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

struct Cred {
    app_id: String,
    secret: String,
    base: String,
}

/// Where the browser reached this server: what a `curl` on its machine should call.
fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080");
    let scheme = if session::is_https(headers) {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn pane(
    key: &'static str,
    heading: &'static str,
    request: String,
    raw: &Raw,
    curl: String,
) -> Pane {
    let text = String::from_utf8_lossy(&raw.body);
    Pane {
        key,
        heading,
        request,
        status: raw.status.as_u16(),
        body: if text.trim_start().starts_with(['{', '[']) {
            pretty::json(&text)
        } else {
            text.into_owned()
        },
        curl,
    }
}

fn token_failed(key: &'static str, heading: &'static str, what: &str, raw: &Raw) -> Pane {
    pane(
        key,
        heading,
        format!("{what} (the token request failed)"),
        raw,
        String::new(),
    )
}

fn now_secs(c: &Console) -> i64 {
    c.core.now_ms().div_euclid(1000)
}

async fn wps(c: &Console, cred: &Cred, f: &Found) -> Pane {
    const KEY: &str = "wps";
    const HEADING: &str = "WPS 365 v7";
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        seg(&cred.app_id),
        seg(&cred.secret)
    );
    let token = c
        .api
        .raw(
            Method::POST,
            "/oauth2/token",
            &[(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            form.into_bytes(),
        )
        .await;
    let Some(access) = token.json()["access_token"].as_str().map(str::to_string) else {
        return token_failed(KEY, HEADING, "POST /oauth2/token", &token);
    };
    let uri = format!(
        "/v7/chats/{}/messages/{}",
        f.chat.dialect_ids["wps"].as_i64().unwrap_or(f.chat.id),
        f.message.dialect_ids["wps"].as_str().unwrap_or_default()
    );
    let date = switchboard_dialect_wps::kso_date(now_secs(c));
    let mut headers = switchboard_dialect_wps::sign_headers(
        "GET",
        &uri,
        "application/json",
        b"",
        &cred.app_id,
        &cred.secret,
        &date,
    );
    headers.push(("Content-Type".into(), "application/json".into()));
    headers.push(("Authorization".into(), format!("Bearer {access}")));
    let raw = c.api.raw(Method::GET, &uri, &headers, Vec::new()).await;
    let mut curl = format!(
        "# The token (valid 2 hours):\ncurl -s -X POST {} \\\n  -H 'Content-Type: application/x-www-form-urlencoded' \\\n  --data-urlencode grant_type=client_credentials \\\n  --data-urlencode client_id={} --data-urlencode client_secret={}\n# The message, signed with KSO-1 at {date} (valid within the signature skew, 15 minutes by default):\ncurl -s {}",
        q(&format!("{}/oauth2/token", cred.base)),
        q(&cred.app_id),
        q(&cred.secret),
        q(&format!("{}{uri}", cred.base)),
    );
    for (k, v) in &headers {
        curl.push_str(&format!(" \\\n  -H {}", q(&format!("{k}: {v}"))));
    }
    pane(KEY, HEADING, format!("GET {uri}"), &raw, curl)
}

#[derive(Clone, Copy, PartialEq)]
enum Face {
    Hi,
    Feishu,
}

async fn lark(c: &Console, cred: &Cred, f: &Found, face: Face) -> Pane {
    let (key, heading, auth, get) = match face {
        Face::Hi => (
            "hi",
            "BOSS Hi",
            "/open-apis/auth/tenant_access_token/internal",
            "/open-apis/im/messages/",
        ),
        Face::Feishu => (
            "feishu",
            "Feishu v1",
            "/open-apis/auth/v3/tenant_access_token/internal",
            "/open-apis/im/v1/messages/",
        ),
    };
    let body = json!({ "app_id": cred.app_id, "app_secret": cred.secret }).to_string();
    let token = c
        .api
        .raw(
            Method::POST,
            auth,
            &[(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body.clone().into_bytes(),
        )
        .await;
    let Some(access) = token.json()["tenant_access_token"]
        .as_str()
        .map(str::to_string)
    else {
        return token_failed(key, heading, &format!("POST {auth}"), &token);
    };
    let uri = format!(
        "{get}{}",
        f.message.dialect_ids["lark"].as_str().unwrap_or_default()
    );
    let headers = vec![("Authorization".to_string(), format!("Bearer {access}"))];
    let raw = c.api.raw(Method::GET, &uri, &headers, Vec::new()).await;
    let curl = format!(
        "# The tenant access token (valid 2 hours):\ncurl -s -X POST {} \\\n  -H 'Content-Type: application/json; charset=utf-8' \\\n  -d {}\n# The message:\ncurl -s {} \\\n  -H {}",
        q(&format!("{}{auth}", cred.base)),
        q(&body),
        q(&format!("{}{uri}", cred.base)),
        q(&format!("Authorization: Bearer {access}")),
    );
    pane(key, heading, format!("GET {uri}"), &raw, curl)
}

async fn yunxin(c: &Console, cred: &Cred, f: &Found) -> Pane {
    const KEY: &str = "yunxin";
    const HEADING: &str = "Yunxin v2";
    // A team conversation is read from the app's own side; a p2p one from its first user's.
    let conversation = match f.chat.kind.as_str() {
        "p2p" => f.chat.dialect_ids["yunxin"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        _ => format!(
            "{}|2|{}",
            cred.app_id,
            f.chat.dialect_ids["yunxin"].as_i64().unwrap_or(f.chat.id)
        ),
    };
    let uri = format!(
        "/im/v2/conversations/{}/messages/{}",
        conversation.replace('|', "%7C"),
        f.message.dialect_ids["yunxin"]
            .as_i64()
            .unwrap_or(f.message.id)
    );
    let now = now_secs(c);
    let headers = switchboard_dialect_yunxin::sign_headers(
        &cred.app_id,
        &cred.secret,
        &crate::session::random_token()[..32],
        now,
    );
    let raw = c.api.raw(Method::GET, &uri, &headers, Vec::new()).await;
    // The curl gets a nonce of its own: each nonce is accepted once.
    let for_curl = switchboard_dialect_yunxin::sign_headers(
        &cred.app_id,
        &cred.secret,
        &crate::session::random_token()[..32],
        now,
    );
    let mut curl = format!(
        "# Signed now with a fresh Nonce: it works once, within 5 minutes.\ncurl -s {}",
        q(&format!("{}{uri}", cred.base))
    );
    for (k, v) in &for_curl {
        curl.push_str(&format!(" \\\n  -H {}", q(&format!("{k}: {v}"))));
    }
    pane(KEY, HEADING, format!("GET {uri}"), &raw, curl)
}
