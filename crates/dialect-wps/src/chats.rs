//! Chat and member endpoints (scope `kso.chat.readwrite`). The vendor does not publish
//! their request bodies; the shapes here are ours and are documented in `docs/dialects/wps.md`.
//! Endpoint list: <https://open.wps.cn/documents/app-integration-dev/server/im/chat/get-p2p-chat.html>
//! and the WPS 365 server-API overview.

use crate::auth::Caller;
use crate::error::{code, WResult, WpsError};
use crate::extract::{WpsJson, WpsPath, WpsQuery};
use crate::{ids, ok, render, WpsState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::error::Error;
use switchboard_core::model::{Actor, App, ChatKind};
use switchboard_core::service::{Access, CreateChat};

/// A chat member in a request: `{type: user|sp, id}` (a user_id, or an app's spid).
#[derive(Deserialize)]
pub(crate) struct MemberRef {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize)]
pub(crate) struct CreateChatBody {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    name: Option<String>,
    #[serde(default)]
    members: Vec<MemberRef>,
}

#[derive(Deserialize)]
pub(crate) struct MembersBody {
    members: Vec<MemberRef>,
}

#[derive(Deserialize)]
pub(crate) struct UserQuery {
    user_id: Option<String>,
}

impl WpsState {
    async fn actor(&self, app: &App, r: &MemberRef) -> WResult<Actor> {
        match r.kind.as_str() {
            "user" => Ok(Actor::User(self.user(app, &r.id).await?.id)),
            "sp" => {
                let not_found = || {
                    WpsError::new(
                        StatusCode::NOT_FOUND,
                        code::NOT_FOUND,
                        format!("app {:?} not found", r.id),
                    )
                };
                let id = ids::parse_spid(&r.id).ok_or_else(not_found)?;
                match self.core.app(app.tenant, id).await {
                    Ok(a) => Ok(Actor::App(a.id)),
                    Err(Error::NotFound(_)) => Err(not_found()),
                    Err(e) => Err(e.into()),
                }
            }
            other => Err(WpsError::invalid(format!(
                "member type must be user or sp, not {other:?}"
            ))),
        }
    }

    async fn actors(&self, app: &App, refs: &[MemberRef]) -> WResult<Vec<Actor>> {
        if refs.is_empty() || refs.len() > 500 {
            return Err(WpsError::invalid("members must hold 1 to 500 entries"));
        }
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            out.push(self.actor(app, r).await?);
        }
        Ok(out)
    }

    /// The name WPS shows for an actor: a user's user_id, an app's spid.
    async fn display_id(&self, app: &App, a: Actor) -> WResult<String> {
        Ok(match a {
            Actor::User(u) => match self.core.user(app.tenant, u).await {
                Ok(u) => u.user_id,
                Err(Error::NotFound(_)) => String::new(),
                Err(e) => return Err(e.into()),
            },
            Actor::App(a) => ids::spid(a),
        })
    }

    /// A group the app is a member of.
    async fn own_group(&self, app: &App, chat: &str) -> WResult<switchboard_core::model::Chat> {
        let id = self.chat_id(chat)?;
        let c = self
            .core
            .visible_chat(app.tenant, Access::Member(Actor::App(app.id)), id)
            .await?;
        if c.kind == ChatKind::P2p {
            return Err(WpsError::invalid("p2p chat membership cannot change"));
        }
        Ok(c)
    }
}

/// Create a group (owned by the app) or get-or-create the app's p2p chat with one user.
pub(crate) async fn create(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsJson(b): WpsJson<CreateChatBody>,
) -> WResult<Json<Value>> {
    let chat = match b.kind.as_deref().unwrap_or("group") {
        "group" => {
            let mut members = Vec::with_capacity(b.members.len());
            for m in &b.members {
                members.push(s.actor(&app, m).await?);
            }
            let cmd = CreateChat {
                kind: ChatKind::Group,
                name: b.name,
                owner: Actor::App(app.id),
                members,
            };
            s.core.create_chat(app.tenant, cmd).await?
        }
        "p2p" => {
            let user = match b.members.as_slice() {
                [m] if m.kind == "user" => s.user(&app, &m.id).await?,
                _ => {
                    return Err(WpsError::invalid(
                        "a p2p chat takes exactly one member, a user",
                    ))
                }
            };
            s.core
                .ensure_p2p(app.tenant, Actor::App(app.id), Actor::User(user.id))
                .await?
        }
        other => {
            return Err(WpsError::invalid(format!(
                "type must be group or p2p, not {other:?}"
            )))
        }
    };
    Ok(ok(render::chat(&chat)))
}

/// Chat info.
pub(crate) async fn get(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsPath(chat): WpsPath<String>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    let c = s
        .core
        .visible_chat(app.tenant, Access::Member(Actor::App(app.id)), id)
        .await?;
    Ok(ok(render::chat(&c)))
}

/// Chat members.
pub(crate) async fn members(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsPath(chat): WpsPath<String>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    s.core
        .visible_chat(app.tenant, Access::Member(Actor::App(app.id)), id)
        .await?;
    let mut items = Vec::new();
    for m in s.core.members(app.tenant, id).await? {
        items.push(render::member(&s.display_id(&app, m.actor).await?, &m));
    }
    Ok(ok(json!({ "items": items })))
}

/// Add members to a group the app is in.
pub(crate) async fn batch_create(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsPath(chat): WpsPath<String>,
    WpsJson(b): WpsJson<MembersBody>,
) -> WResult<Json<Value>> {
    let c = s.own_group(&app, &chat).await?;
    let actors = s.actors(&app, &b.members).await?;
    let mut items = Vec::new();
    for m in s.core.add_members(app.tenant, c.id, actors).await? {
        items.push(render::member(&s.display_id(&app, m.actor).await?, &m));
    }
    Ok(ok(json!({ "items": items })))
}

/// Remove members from a group the app is in.
pub(crate) async fn batch_delete(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsPath(chat): WpsPath<String>,
    WpsJson(b): WpsJson<MembersBody>,
) -> WResult<Json<Value>> {
    let c = s.own_group(&app, &chat).await?;
    let actors = s.actors(&app, &b.members).await?;
    let mut items = Vec::new();
    for a in s.core.remove_members(app.tenant, c.id, actors).await? {
        let kind = if matches!(a, Actor::App(_)) {
            "sp"
        } else {
            "user"
        };
        items.push(json!({ "type": kind, "id": s.display_id(&app, a).await? }));
    }
    Ok(ok(json!({ "items": items })))
}

/// Whether the app (no `user_id`) or a user is in the chat. Asking about a user requires
/// the app to be in the chat itself.
pub(crate) async fn is_in_chat(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsPath(chat): WpsPath<String>,
    WpsQuery(q): WpsQuery<UserQuery>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    let who = match q.user_id.as_deref().filter(|u| !u.is_empty()) {
        None => {
            s.core.chat(app.tenant, id).await?;
            Actor::App(app.id)
        }
        Some(u) => {
            s.core
                .visible_chat(app.tenant, Access::Member(Actor::App(app.id)), id)
                .await?;
            Actor::User(s.user(&app, u).await?.id)
        }
    };
    let member = s.core.is_member(id, who).await?.is_some();
    Ok(ok(json!({ "is_in_chat": member })))
}

/// The app's own p2p chat with a user.
/// <https://open.wps.cn/documents/app-integration-dev/server/im/chat/get-p2p-chat.html>
pub(crate) async fn get_p2p_chat(
    State(s): State<WpsState>,
    Caller(app): Caller,
    WpsQuery(q): WpsQuery<UserQuery>,
) -> WResult<Json<Value>> {
    let uid = q
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| WpsError::invalid("user_id is required"))?;
    let user = s.user(&app, &uid).await?;
    let c = s
        .core
        .find_p2p(app.tenant, Actor::App(app.id), Actor::User(user.id))
        .await?
        .ok_or_else(WpsError::chat_not_found)?;
    Ok(ok(render::chat(&c)))
}
