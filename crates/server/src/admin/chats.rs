//! `/tenants/{tenant}/chats` and their `/members`: create, list, get and dissolve chats; list,
//! add and remove members and set their role.

use super::error::{AResult, AdminError};
use super::extract::{AdminJson, AdminPath, AdminQuery, PageQuery};
use super::render::{
    actor, actor_json, chat, chat_json, items_json, member_json, tenant, ActorRef,
};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::model::*;
use switchboard_core::service::CreateChat;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChatBody {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    owner: ActorRef,
    #[serde(default)]
    members: Vec<ActorRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MembersBody {
    members: Vec<ActorRef>,
}

pub(super) async fn create_chat(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminJson(b): AdminJson<ChatBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let kind = ChatKind::parse(&b.kind).ok_or_else(|| {
        AdminError::bad(format!(
            "type must be p2p, group or super_group, not {:?}",
            b.kind
        ))
    })?;
    let owner = actor(&s, &t, &b.owner).await?;
    let mut members = Vec::with_capacity(b.members.len());
    for m in &b.members {
        members.push(actor(&s, &t, m).await?);
    }
    if kind == ChatKind::P2p {
        let peers: Vec<Actor> = members.iter().copied().filter(|m| *m != owner).collect();
        if peers.len() == 1 && s.core.find_p2p(t.id, owner, peers[0]).await?.is_some() {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                "already_exists",
                "a p2p chat between these two already exists",
            ));
        }
    }
    let c = s
        .core
        .create_chat(
            t.id,
            CreateChat {
                kind,
                name: b.name,
                owner,
                members,
            },
        )
        .await?;
    let ms = s.core.members(t.id, c.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(chat_json(&s, &c, Some(&ms)).await?),
    ))
}

pub(super) async fn list_chats(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let mut items = Vec::new();
    for c in s.core.list_chats(t.id, q.page()?).await? {
        items.push(chat_json(&s, &c, None).await?);
    }
    Ok(Json(json!({ "items": items })))
}

/// `GET /tenants/{tenant}/users/{user}/chats`: the chats a user is a member of (not
/// dissolved), by ascending id, each with its members.
pub(super) async fn list_user_chats(
    State(s): State<AppState>,
    AdminPath((t, u)): AdminPath<(String, String)>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let u = super::render::user(&s, &t, &u, None).await?;
    let mut items = Vec::new();
    for c in s
        .core
        .chats_of(t.id, switchboard_core::model::Actor::User(u.id), q.page()?)
        .await?
    {
        let ms = s.core.members(t.id, c.id).await?;
        items.push(chat_json(&s, &c, Some(&ms)).await?);
    }
    Ok(Json(json!({ "items": items })))
}

pub(super) async fn get_chat(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let ms = s.core.members(t.id, c.id).await?;
    Ok(Json(chat_json(&s, &c, Some(&ms)).await?))
}

pub(super) async fn dissolve_chat(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let c = s.core.dissolve_chat(t.id, c.id, None).await?;
    Ok(Json(chat_json(&s, &c, None).await?))
}

pub(super) async fn list_members(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    Ok(items_json(&s.core.members(t.id, c.id).await?, member_json))
}

async fn resolve_members(s: &AppState, t: &Tenant, refs: &[ActorRef]) -> AResult<Vec<Actor>> {
    if refs.is_empty() {
        return Err(AdminError::bad("members must not be empty"));
    }
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        out.push(actor(s, t, r).await?);
    }
    Ok(out)
}

pub(super) async fn add_members(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<MembersBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let actors = resolve_members(&s, &t, &b.members).await?;
    let added: Vec<Value> = s
        .core
        .add_members(t.id, c.id, actors)
        .await?
        .iter()
        .map(member_json)
        .collect();
    Ok(Json(json!({ "added": added })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RoleBody {
    members: Vec<ActorRef>,
    role: String,
}

pub(super) async fn set_role(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<RoleBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let role = match b.role.as_str() {
        "admin" => Role::Admin,
        "member" => Role::Member,
        other => {
            return Err(AdminError::bad(format!(
                "role must be admin or member, not {other:?}"
            )))
        }
    };
    let actors = resolve_members(&s, &t, &b.members).await?;
    let mut items = Vec::with_capacity(actors.len());
    for a in actors {
        items.push(member_json(
            &s.core.set_member_role(t.id, c.id, a, role).await?,
        ));
    }
    Ok(Json(json!({ "items": items })))
}

pub(super) async fn remove_members(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<MembersBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let actors = resolve_members(&s, &t, &b.members).await?;
    let removed: Vec<Value> = s
        .core
        .remove_members(t.id, c.id, actors)
        .await?
        .into_iter()
        .map(actor_json)
        .collect();
    Ok(Json(json!({ "removed": removed })))
}
