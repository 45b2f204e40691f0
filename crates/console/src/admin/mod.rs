//! Admin: tenants, users, apps and chats. Lists page; every change is one admin-API call,
//! and its refusal is shown as the admin API words it. Tenants and users here; an app's
//! page in `apps`, a chat's in `chats`.

use crate::api::{ApiError, ApiResult};
use crate::model::*;
use crate::names::names;
use crate::page::{back_with, html, CsrfForm, Flash, Layout};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};

mod apps;
mod chats;

pub use apps::{app, reveal, rotate, subscribe, unsubscribe, update_app};
pub use chats::{chat, create_chat, members};

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

pub(super) fn done(back: &str, r: ApiResult<Value>, what: &str) -> Response {
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

pub(super) fn tenant_back(t: i64) -> String {
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
