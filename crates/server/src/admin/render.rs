//! Path segments and body ids resolved to resources (each accepts the canonical id and every
//! dialect's rendering of it), and resources rendered as the admin API's JSON.

use super::error::{AResult, AdminError};
use crate::dialect_ids;
use crate::AppState;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::error::{Entity, Error};
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::service::MessageView;
use switchboard_core::store::UserKey;
use switchboard_dialect_lark::ids as lark;
use switchboard_dialect_wps::ids as wps;
use switchboard_dialect_yunxin::ids as yunxin;

// ----- resolution of path segments ------------------------------------------------------

fn canonical_number(seg: &str) -> Option<i64> {
    (!seg.is_empty()
        && seg.len() <= 19
        && seg.bytes().all(|b| b.is_ascii_digit())
        && !seg.starts_with('0'))
    .then(|| seg.parse().ok())
    .flatten()
}

/// A lookup's `NotFound` names the path segment; any other failure (the store being
/// unavailable) keeps its own status.
fn not_found_or(e: Error, what: &str, seg: &str) -> AdminError {
    match e {
        Error::NotFound(_) => AdminError::not_found(what, seg),
        other => other.into(),
    }
}

pub(super) async fn tenant(state: &AppState, seg: &str) -> AResult<Tenant> {
    let id = canonical_number(seg)
        .map(TenantId)
        .or_else(|| lark::parse_tenant_key(seg));
    match id {
        Some(id) => state
            .core
            .tenant(id)
            .await
            .map_err(|e| not_found_or(e, "tenant", seg)),
        None => Err(AdminError::not_found("tenant", seg)),
    }
}

/// A user by canonical id, open_id (needs `?app=`), union_id, user_id or account_id.
pub(super) async fn user(
    state: &AppState,
    t: &Tenant,
    seg: &str,
    app: Option<&App>,
) -> AResult<User> {
    let core = &state.core;
    if let Some(n) = canonical_number(seg) {
        match core.user(t.id, UserId(n)).await {
            Ok(u) => return Ok(u),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if seg.starts_with("ou_") {
        let app = app.ok_or_else(|| {
            AdminError::bad("an open_id names a user only together with ?app=<app_id>")
        })?;
        let id =
            lark::parse_open_id(seg, app.id).ok_or_else(|| AdminError::not_found("user", seg))?;
        return core
            .user(t.id, id)
            .await
            .map_err(|e| not_found_or(e, "user", seg));
    }
    if let Some(id) = lark::parse_union_id(seg) {
        return core
            .user(t.id, id)
            .await
            .map_err(|e| not_found_or(e, "user", seg));
    }
    for key in [UserKey::UserId(seg), UserKey::AccountId(seg)] {
        match core.find_user(t.id, key).await {
            Ok(u) => return Ok(u),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AdminError::not_found("user", seg))
}

pub(super) async fn app(state: &AppState, t: &Tenant, seg: &str) -> AResult<App> {
    let found = match canonical_number(seg) {
        Some(n) => state.core.app(t.id, AppId(n)).await,
        None => state.core.app_by_public_id(seg).await.and_then(|a| {
            if a.tenant == t.id {
                Ok(a)
            } else {
                Err(Error::NotFound(Entity::App))
            }
        }),
    };
    found.map_err(|e| match e {
        Error::NotFound(_) => AdminError::not_found("app", seg),
        other => other.into(),
    })
}

/// An actor given as `{type: user|app, id}`; the id may be any of the resource's names.
pub(super) async fn actor(state: &AppState, t: &Tenant, r: &ActorRef) -> AResult<Actor> {
    match r.kind.as_str() {
        "user" => Ok(Actor::User(user(state, t, &r.id.to_key(), None).await?.id)),
        "app" => Ok(Actor::App(app(state, t, &r.id.to_key()).await?.id)),
        other => Err(AdminError::bad(format!(
            "actor type must be \"user\" or \"app\", not {other:?}"
        ))),
    }
}

/// A chat by canonical id (= WPS chat_id = Yunxin team_id), `oc_…`, or a Yunxin conversation id.
pub(super) async fn chat(state: &AppState, t: &Tenant, seg: &str) -> AResult<Chat> {
    let id = if let Some(n) = canonical_number(seg) {
        Some(ChatId(n))
    } else if seg.starts_with("oc_") {
        lark::parse_chat_id(seg)
    } else if seg.contains('|') {
        let conv = yunxin::ConversationId::parse(seg).map_err(AdminError::bad)?;
        match conv.kind {
            // A team id naming no possible chat (a Long beyond the chat id range) is not found.
            ChatKind::Group | ChatKind::SuperGroup => conv.team(),
            ChatKind::P2p => {
                let owner = user(state, t, &conv.owner, None).await?;
                let peer = match user(state, t, &conv.other, None).await {
                    Ok(u) => Actor::User(u.id),
                    Err(_) => Actor::App(app(state, t, &conv.other).await?.id),
                };
                state
                    .core
                    .find_p2p(t.id, Actor::User(owner.id), peer)
                    .await?
                    .map(|c| c.id)
            }
        }
    } else {
        None
    };
    match id {
        Some(id) if id.0 <= MAX_CHAT_ID => state
            .core
            .chat(t.id, id)
            .await
            .map_err(|e| not_found_or(e, "chat", seg)),
        _ => Err(AdminError::not_found("chat", seg)),
    }
}

pub(super) fn message_id(seg: &str) -> Option<MessageId> {
    canonical_number(seg)
        .and_then(MessageId::from_raw)
        .or_else(|| lark::parse_message_id(seg))
        .or_else(|| wps::parse_message_id(seg))
}

// ----- ids in request bodies ------------------------------------------------------------

/// An id in a body: a canonical number or any string name.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum IdRef {
    Num(i64),
    Str(String),
}

impl IdRef {
    pub(super) fn to_key(&self) -> String {
        match self {
            IdRef::Num(n) => n.to_string(),
            IdRef::Str(s) => s.clone(),
        }
    }
}

/// An actor in a body, `{type: user|app, id}`; resolved by [`actor`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActorRef {
    #[serde(rename = "type")]
    kind: String,
    id: IdRef,
}

// ----- rendering ------------------------------------------------------------------------

/// A list's answer, `{"items": [...]}`: each row rendered by `render`, in order.
pub(super) fn items_json<T>(rows: &[T], render: impl Fn(&T) -> Value) -> Json<Value> {
    let items: Vec<Value> = rows.iter().map(render).collect();
    Json(json!({ "items": items }))
}

pub(super) fn tenant_json(t: &Tenant) -> Value {
    json!({
        "id": t.id, "name": t.name, "created_at": t.created_at,
        "dialect_ids": dialect_ids::tenant(t.id),
    })
}

pub(super) fn user_json(u: &User, app: Option<&App>) -> Value {
    json!({
        "id": u.id, "tenant_id": u.tenant, "user_id": u.user_id, "account_id": u.account_id,
        "name": u.name, "created_at": u.created_at,
        "dialect_ids": dialect_ids::user(u, app.map(|a| a.id)),
    })
}

pub(super) fn app_json(a: &App, with_secret: bool) -> Value {
    let mut v = json!({
        "id": a.id, "tenant_id": a.tenant, "app_id": a.app_id, "name": a.name,
        "spid": wps::spid(a.id), "bot_enabled": a.bot_enabled, "signing_required": a.signing_required,
        "scopes": a.scopes, "created_at": a.created_at,
        "dialect_ids": dialect_ids::app(a),
    });
    if with_secret {
        v["app_secret"] = json!(a.app_secret.expose());
    }
    v
}

pub(super) fn actor_json(a: Actor) -> Value {
    json!({ "type": a.kind(), "id": a.raw_id() })
}

pub(super) fn member_json(m: &Member) -> Value {
    json!({ "type": m.actor.kind(), "id": m.actor.raw_id(), "role": m.role.as_str(), "joined_at": m.joined_at })
}

pub(super) async fn chat_json(
    state: &AppState,
    c: &Chat,
    members: Option<&[Member]>,
) -> AResult<Value> {
    let mut v = json!({
        "id": c.id, "tenant_id": c.tenant, "type": c.kind.as_str(), "name": c.name,
        "owner": actor_json(c.owner), "created_at": c.created_at,
        "dissolved": c.dissolved_at.is_some(), "dissolved_at": c.dissolved_at,
        "last_position": c.last_position,
        "dialect_ids": dialect_ids::chat(&state.core, c).await?,
    });
    if let Some(ms) = members {
        v["members"] = ms.iter().map(member_json).collect();
    }
    Ok(v)
}

pub(super) fn message_json(v: &MessageView) -> Value {
    let m = &v.message;
    let mentions: Vec<Value> = m
        .mentions
        .iter()
        .map(|mn| {
            let (kind, id) = match mn.target {
                MentionTarget::All => ("all", Value::Null),
                MentionTarget::User(u) => ("user", json!(u)),
                MentionTarget::App(a) => ("app", json!(a)),
            };
            json!({ "key": mn.key, "type": kind, "id": id, "name": mn.name })
        })
        .collect();
    json!({
        "id": m.id, "chat_id": m.chat, "position": m.position(),
        "sender": actor_json(m.sender),
        "type": m.kind.as_str(), "content": m.content.data, "text": m.content.text,
        "mentions": mentions,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "updated": m.edit.is_some(), "edit_count": m.edit.as_ref().map_or(0, |e| e.count),
        "removed": m.removal.as_ref().map(|r| json!({ "kind": r.kind.as_str(), "by": actor_json(r.by), "at": r.at })),
        "reply_to": m.parent, "root_id": m.root, "thread_id": m.thread,
        "upper_id": m.upper, "client_msg_id": m.client_msg_id,
        "dialect_ids": dialect_ids::message(m.id),
    })
}
