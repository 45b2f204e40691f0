//! Admin: tenants, users, apps and chats. Lists page; every change is one admin-API call,
//! and its refusal is shown as the admin API words it.

use crate::api::{seg, ApiError, ApiResult};
use crate::model::*;
use crate::page::{back_with, html, CsrfForm, Flash, Layout};
use crate::playground::names;
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

const PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    after: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin_tenants.html")]
struct TenantsPage {
    layout: Layout,
    tenants: Vec<Tenant>,
    more: Option<i64>,
}

pub async fn tenants(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<ListQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let after = q.after.unwrap_or(0);
    let page: Items<Tenant> = c
        .api
        .get(&format!("/tenants?after={after}&limit={PAGE}"))
        .await?;
    let more = (page.items.len() == PAGE as usize)
        .then(|| page.items.last().map(|t| t.id))
        .flatten();
    Ok(html(&TenantsPage {
        layout: Layout::new(&signed, "admin", &flash),
        tenants: page.items,
        more,
    }))
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

fn done(back: &str, r: ApiResult<Value>, what: &str) -> Response {
    match r {
        Ok(_) => back_with(back, "notice", what),
        Err(e) => back_with(back, "error", &e.message),
    }
}

pub async fn create_tenant(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<NameForm>,
) -> Response {
    let r = c
        .api
        .admin(Method::POST, "/tenants", Some(&json!({ "name": f.name })))
        .await;
    match r {
        Ok(t) => back_with(
            &format!("/console/admin/tenant?tenant={}", t["id"]),
            "notice",
            "Tenant created.",
        ),
        Err(e) => back_with("/console/admin", "error", &e.message),
    }
}

#[derive(Deserialize)]
pub struct TenantQuery {
    tenant: i64,
    chats_after: Option<i64>,
}

pub struct ChatRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub dissolved: bool,
    pub last_position: i64,
}

#[derive(Template)]
#[template(path = "admin_tenant.html")]
struct TenantPage {
    layout: Layout,
    tenant: Tenant,
    users: Vec<User>,
    apps: Vec<App>,
    chats: Vec<ChatRow>,
    more_chats: Option<i64>,
}

pub async fn tenant(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<TenantQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let t: Tenant = c.api.get(&format!("/tenants/{}", q.tenant)).await?;
    let (users, apps, _) = names(&c, t.id).await?;
    let after = q.chats_after.unwrap_or(0);
    let chats: Items<Chat> = c
        .api
        .get(&format!(
            "/tenants/{}/chats?after={after}&limit={PAGE}",
            t.id
        ))
        .await?;
    let more_chats = (chats.items.len() == PAGE as usize)
        .then(|| chats.items.last().map(|c| c.id))
        .flatten();
    let chats = chats
        .items
        .into_iter()
        .map(|ch| ChatRow {
            id: ch.id,
            name: if ch.name.is_empty() {
                format!("{} chat {}", ch.kind, ch.id)
            } else {
                ch.name
            },
            kind: ch.kind,
            dissolved: ch.dissolved,
            last_position: ch.last_position,
        })
        .collect();
    Ok(html(&TenantPage {
        layout: Layout::new(&signed, "admin", &flash),
        tenant: t,
        users,
        apps,
        chats,
        more_chats,
    }))
}

fn tenant_back(t: i64) -> String {
    format!("/console/admin/tenant?tenant={t}")
}

#[derive(Deserialize)]
pub struct UserForm {
    tenant: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    user_id: String,
}

pub async fn create_user(State(c): State<Console>, CsrfForm(f, _): CsrfForm<UserForm>) -> Response {
    let mut body = json!({ "name": f.name });
    if !f.user_id.trim().is_empty() {
        body["user_id"] = json!(f.user_id.trim());
    }
    let r = c
        .api
        .admin(
            Method::POST,
            &format!("/tenants/{}/users", f.tenant),
            Some(&body),
        )
        .await;
    done(&tenant_back(f.tenant), r, "User created.")
}

#[derive(Deserialize)]
pub struct AppForm {
    tenant: i64,
    #[serde(default)]
    name: String,
}

pub async fn create_app(State(c): State<Console>, CsrfForm(f, _): CsrfForm<AppForm>) -> Response {
    let r = c
        .api
        .admin(
            Method::POST,
            &format!("/tenants/{}/apps", f.tenant),
            Some(&json!({ "name": f.name })),
        )
        .await;
    match r {
        Ok(a) => back_with(
            &format!("/console/admin/app?tenant={}&app={}", f.tenant, a["id"]),
            "notice",
            "App created. Reveal its secret below when you need it.",
        ),
        Err(e) => back_with(&tenant_back(f.tenant), "error", &e.message),
    }
}

#[derive(Deserialize)]
pub struct AppQuery {
    tenant: i64,
    app: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub dialect: String,
    pub mode: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub event_types: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_app.html")]
struct AppPage {
    layout: Layout,
    tenant: Tenant,
    app: App,
    secret: String,
    scopes: String,
    subscriptions: Vec<Subscription>,
}

impl AppPage {
    fn events_of(&self, s: &Subscription) -> String {
        s.event_types.join(", ")
    }
}

async fn app_page(
    c: &Console,
    signed: &Signed,
    tenant: i64,
    app: i64,
    flash: &Flash,
    secret: String,
) -> Result<Response, ApiError> {
    let t: Tenant = c.api.get(&format!("/tenants/{tenant}")).await?;
    let a: App = c.api.get(&format!("/tenants/{tenant}/apps/{app}")).await?;
    let subs: Items<Subscription> = c
        .api
        .get(&format!("/tenants/{tenant}/apps/{app}/events"))
        .await?;
    let scopes = a.scopes.join("\n");
    let page = AppPage {
        layout: Layout::new(signed, "admin", flash),
        tenant: t,
        app: a,
        secret,
        scopes,
        subscriptions: subs.items,
    };
    // A revealed secret must not stay in a cache.
    Ok(([(header::CACHE_CONTROL, "no-store")], html(&page)).into_response())
}

pub async fn app(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<AppQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    app_page(&c, &signed, q.tenant, q.app, &flash, String::new()).await
}

#[derive(Deserialize)]
pub struct AppTarget {
    tenant: i64,
    app: i64,
}

/// Shows the secret in the answer to this POST only: never in a URL, never cached.
pub async fn reveal(
    State(c): State<Console>,
    signed: Signed,
    CsrfForm(f, _): CsrfForm<AppTarget>,
) -> Result<Response, ApiError> {
    let s: Value = c
        .api
        .get(&format!("/tenants/{}/apps/{}/secret", f.tenant, f.app))
        .await?;
    let secret = s["app_secret"].as_str().unwrap_or_default().to_string();
    app_page(&c, &signed, f.tenant, f.app, &Flash::default(), secret).await
}

pub async fn rotate(
    State(c): State<Console>,
    signed: Signed,
    CsrfForm(f, _): CsrfForm<AppTarget>,
) -> Result<Response, ApiError> {
    let a = c
        .api
        .admin(
            Method::POST,
            &format!("/tenants/{}/apps/{}/rotate_secret", f.tenant, f.app),
            None,
        )
        .await?;
    let secret = a["app_secret"].as_str().unwrap_or_default().to_string();
    let flash = Flash {
        notice: Some("Secret rotated: tokens minted with the old one no longer work.".into()),
        error: None,
    };
    app_page(&c, &signed, f.tenant, f.app, &flash, secret).await
}

#[derive(Deserialize)]
pub struct AppUpdateForm {
    tenant: i64,
    app: i64,
    #[serde(default)]
    name: String,
    bot_enabled: Option<String>,
    signing_required: Option<String>,
    #[serde(default)]
    scopes: String,
}

pub async fn update_app(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<AppUpdateForm>,
) -> Response {
    let scopes: Vec<&str> = f
        .scopes
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    let mut body = json!({
        "bot_enabled": f.bot_enabled.is_some(),
        "signing_required": f.signing_required.is_some(),
        "scopes": scopes,
    });
    if !f.name.trim().is_empty() {
        body["name"] = json!(f.name.trim());
    }
    let r = c
        .api
        .admin(
            Method::PATCH,
            &format!("/tenants/{}/apps/{}", f.tenant, f.app),
            Some(&body),
        )
        .await;
    done(
        &format!("/console/admin/app?tenant={}&app={}", f.tenant, f.app),
        r,
        "Saved: the next request sees it.",
    )
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    tenant: i64,
    app: i64,
    dialect: String,
    mode: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    encrypt_key: String,
    #[serde(default)]
    verification_token: String,
    #[serde(default)]
    event_types: String,
}

/// Saves a subscription; for a webhook the admin API first sends the dialect's
/// URL-verification challenge, so saving is "Verify URL".
pub async fn subscribe(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<SubscribeForm>,
) -> Response {
    let types: Vec<&str> = f
        .event_types
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    let body = json!({
        "mode": f.mode, "url": f.url.trim(), "encrypt_key": f.encrypt_key,
        "verification_token": f.verification_token, "event_types": types,
    });
    let r = c
        .api
        .admin(
            Method::PUT,
            &format!(
                "/tenants/{}/apps/{}/events/{}",
                f.tenant,
                f.app,
                seg(&f.dialect)
            ),
            Some(&body),
        )
        .await;
    let what = if f.mode == "webhook" {
        "The URL answered the challenge; the subscription is saved."
    } else {
        "Subscription saved."
    };
    done(
        &format!("/console/admin/app?tenant={}&app={}", f.tenant, f.app),
        r,
        what,
    )
}

#[derive(Deserialize)]
pub struct UnsubscribeForm {
    tenant: i64,
    app: i64,
    dialect: String,
}

pub async fn unsubscribe(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<UnsubscribeForm>,
) -> Response {
    let r = c
        .api
        .admin(
            Method::DELETE,
            &format!(
                "/tenants/{}/apps/{}/events/{}",
                f.tenant,
                f.app,
                seg(&f.dialect)
            ),
            None,
        )
        .await;
    done(
        &format!("/console/admin/app?tenant={}&app={}", f.tenant, f.app),
        r,
        "Subscription removed.",
    )
}

#[derive(Deserialize)]
pub struct ChatForm {
    tenant: i64,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: String,
    owner: String,
}

/// `user:12` or `app:3` as the admin API's actor.
fn actor(s: &str) -> Option<Value> {
    let (kind, id) = s.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    matches!(kind, "user" | "app").then(|| json!({ "type": kind, "id": id }))
}

/// `members` repeats (a multiple select), which the typed form cannot hold.
pub async fn create_chat(
    State(c): State<Console>,
    CsrfForm(f, fields): CsrfForm<ChatForm>,
) -> Response {
    let back = tenant_back(f.tenant);
    let Some(owner) = actor(&f.owner) else {
        return back_with(&back, "error", "choose an owner");
    };
    let members: Vec<Value> = fields
        .iter()
        .filter(|(k, _)| k == "members")
        .filter_map(|(_, v)| actor(v))
        .collect();
    let mut body = json!({ "type": f.kind, "owner": owner, "members": members });
    if !f.name.trim().is_empty() {
        body["name"] = json!(f.name.trim());
    }
    let r = c
        .api
        .admin(
            Method::POST,
            &format!("/tenants/{}/chats", f.tenant),
            Some(&body),
        )
        .await;
    match r {
        Ok(ch) => back_with(
            &format!("/console/admin/chat?tenant={}&chat={}", f.tenant, ch["id"]),
            "notice",
            "Chat created.",
        ),
        Err(e) => back_with(&back, "error", &e.message),
    }
}

#[derive(Deserialize)]
pub struct ChatQuery {
    tenant: i64,
    chat: i64,
}

pub struct MemberRow {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "admin_chat.html")]
struct ChatPage {
    layout: Layout,
    tenant: Tenant,
    chat: Chat,
    members: Vec<MemberRow>,
    candidates: Vec<(String, String)>,
}

pub async fn chat(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<ChatQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let t: Tenant = c.api.get(&format!("/tenants/{}", q.tenant)).await?;
    let ch: Chat = c
        .api
        .get(&format!("/tenants/{}/chats/{}", q.tenant, q.chat))
        .await?;
    let (users, apps, mut names) = names(&c, q.tenant).await?;
    let parties = ch
        .members
        .iter()
        .map(|m| (m.kind.clone(), m.id))
        .collect::<Vec<_>>();
    crate::playground::complete(&c, q.tenant, &mut names, parties).await;
    let members: Vec<MemberRow> = ch
        .members
        .iter()
        .map(|m| MemberRow {
            key: format!("{}:{}", m.kind, m.id),
            name: names.of(&m.kind, m.id),
            kind: m.kind.clone(),
            role: m.role.clone(),
        })
        .collect();
    let candidates = users
        .iter()
        .map(|u| (format!("user:{}", u.id), format!("{} (user)", u.name)))
        .chain(
            apps.iter()
                .map(|a| (format!("app:{}", a.id), format!("{} (app)", a.name))),
        )
        .filter(|(k, _)| !members.iter().any(|m| &m.key == k))
        .collect();
    Ok(html(&ChatPage {
        layout: Layout::new(&signed, "admin", &flash),
        tenant: t,
        chat: ch,
        members,
        candidates,
    }))
}

#[derive(Deserialize)]
pub struct MembersForm {
    tenant: i64,
    chat: i64,
    action: String,
    member: String,
}

pub async fn members(State(c): State<Console>, CsrfForm(f, _): CsrfForm<MembersForm>) -> Response {
    let back = format!("/console/admin/chat?tenant={}&chat={}", f.tenant, f.chat);
    let Some(who) = actor(&f.member) else {
        return back_with(&back, "error", "choose a member");
    };
    let method = match f.action.as_str() {
        "add" => Method::POST,
        "remove" => Method::DELETE,
        _ => return back_with(&back, "error", "unknown action"),
    };
    let r = c
        .api
        .admin(
            method,
            &format!("/tenants/{}/chats/{}/members", f.tenant, f.chat),
            Some(&json!({ "members": [who] })),
        )
        .await;
    let what = if f.action == "add" {
        "Member added."
    } else {
        "Member removed."
    };
    done(&back, r, what)
}
