//! Chats: create one, and a chat's page with its members added and removed.

use super::{done, tenant_back};
use crate::api::ApiError;
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
    crate::names::complete(&c, q.tenant, &mut names, parties).await;
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
