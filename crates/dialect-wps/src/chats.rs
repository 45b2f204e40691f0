//! Chat and member endpoints (scope `kso.chat.readwrite`). The vendor does not publish
//! their request bodies; the shapes here are ours and are documented in `docs/dialects/wps.md`.
//! Endpoint list: <https://open.wps.cn/documents/app-integration-dev/server/im/chat/get-p2p-chat.html>
//! and the WPS 365 server-API overview.

use crate::auth::Caller;
use crate::error::{code, WResult, WpsError};
use crate::extract::{WpsJson, WpsPath, WpsQuery};
use crate::{ids, ok, ok_empty, render, WpsState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::error::Error;
use switchboard_core::ids::TenantId;
use switchboard_core::model::{Actor, ChatKind, Role};
use switchboard_core::service::CreateChat;
use switchboard_core::store::{ChatPatch, Page};

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
    /// More users, by user_id, as the `wps365` client names them.
    #[serde(default)]
    account_id_list: Vec<AccountRef>,
}

/// Members to add or remove: `{members: [{type, id}]}`, or `{account_id_list:
/// [{account_id}]}` as the `wps365` client sends (each `account_id` a user's user_id).
#[derive(Deserialize)]
pub(crate) struct MembersBody {
    #[serde(default)]
    members: Option<Vec<MemberRef>>,
    #[serde(default)]
    account_id_list: Option<Vec<AccountRef>>,
}

#[derive(Deserialize)]
pub(crate) struct AccountRef {
    account_id: String,
}

impl AccountRef {
    fn user(self) -> MemberRef {
        MemberRef {
            kind: "user".into(),
            id: self.account_id,
        }
    }
}

impl MembersBody {
    fn refs(self) -> WResult<Vec<MemberRef>> {
        match (self.members, self.account_id_list) {
            (Some(m), None) => Ok(m),
            (None, Some(a)) => Ok(a.into_iter().map(AccountRef::user).collect()),
            (Some(_), Some(_)) => Err(WpsError::invalid(
                "give members or account_id_list, not both",
            )),
            (None, None) => Err(WpsError::invalid("members or account_id_list is required")),
        }
    }
}

/// A chat update: any of the fields; `owner_id` is the user_id of a member.
#[derive(Deserialize)]
pub(crate) struct UpdateBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    owner_id: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    page_size: Option<String>,
    page_token: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct UserQuery {
    user_id: Option<String>,
}

impl WpsState {
    async fn actor(&self, tenant: TenantId, r: &MemberRef) -> WResult<Actor> {
        match r.kind.as_str() {
            "user" => Ok(Actor::User(self.user(tenant, &r.id).await?.id)),
            "sp" => {
                let not_found = || {
                    WpsError::new(
                        StatusCode::NOT_FOUND,
                        code::NOT_FOUND,
                        format!("app {:?} not found", r.id),
                    )
                };
                let id = ids::parse_spid(&r.id).ok_or_else(not_found)?;
                match self.core.app(tenant, id).await {
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

    async fn actors(&self, tenant: TenantId, refs: &[MemberRef]) -> WResult<Vec<Actor>> {
        if refs.is_empty() || refs.len() > 500 {
            return Err(WpsError::invalid("members must hold 1 to 500 entries"));
        }
        let mut out = Vec::with_capacity(refs.len());
        for r in refs {
            out.push(self.actor(tenant, r).await?);
        }
        Ok(out)
    }

    /// The name WPS shows for an actor: a user's user_id, an app's spid.
    async fn display_id(&self, tenant: TenantId, a: Actor) -> WResult<String> {
        Ok(match a {
            Actor::User(u) => match self.core.user(tenant, u).await {
                Ok(u) => u.user_id,
                Err(Error::NotFound(_)) => String::new(),
                Err(e) => return Err(e.into()),
            },
            Actor::App(a) => ids::spid(a),
        })
    }

    /// A group the caller is a member of.
    async fn own_group(&self, by: &Caller, chat: &str) -> WResult<switchboard_core::model::Chat> {
        let id = self.chat_id(chat)?;
        let c = self.core.visible_chat(by.tenant, by.access(), id).await?;
        if c.kind == ChatKind::P2p {
            return Err(WpsError::invalid("p2p chat membership cannot change"));
        }
        Ok(c)
    }
}

/// Create a group (owned by the caller) or get-or-create the caller's p2p chat with one
/// user. Members come from `members` and `account_id_list` alike.
pub(crate) async fn create(
    State(s): State<WpsState>,
    c: Caller,
    WpsJson(mut b): WpsJson<CreateChatBody>,
) -> WResult<Json<Value>> {
    b.members
        .extend(b.account_id_list.drain(..).map(AccountRef::user));
    let chat = match b.kind.as_deref().unwrap_or("group") {
        "group" => {
            let mut members = Vec::with_capacity(b.members.len());
            for m in &b.members {
                members.push(s.actor(c.tenant, m).await?);
            }
            let cmd = CreateChat {
                kind: ChatKind::Group,
                name: b.name,
                owner: c.actor,
                members,
            };
            s.core.create_chat(c.tenant, cmd).await?
        }
        "p2p" => {
            let user = match b.members.as_slice() {
                [m] if m.kind == "user" => s.user(c.tenant, &m.id).await?,
                _ => {
                    return Err(WpsError::invalid(
                        "a p2p chat takes exactly one member, a user",
                    ))
                }
            };
            s.core
                .ensure_p2p(c.tenant, c.actor, Actor::User(user.id))
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
    c: Caller,
    WpsPath(chat): WpsPath<String>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    let chat = s.core.visible_chat(c.tenant, c.access(), id).await?;
    Ok(ok(render::chat(&chat)))
}

/// Chat members.
pub(crate) async fn members(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    s.core.visible_chat(c.tenant, c.access(), id).await?;
    let mut items = Vec::new();
    for m in s.core.members(c.tenant, id).await? {
        items.push(render::member(&s.display_id(c.tenant, m.actor).await?, &m));
    }
    Ok(ok(json!({ "items": items })))
}

/// Add members to a group the caller is in.
pub(crate) async fn batch_create(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
    WpsJson(b): WpsJson<MembersBody>,
) -> WResult<Json<Value>> {
    let group = s.own_group(&c, &chat).await?;
    let actors = s.actors(c.tenant, &b.refs()?).await?;
    let mut items = Vec::new();
    for m in s.core.add_members(c.tenant, group.id, actors).await? {
        items.push(render::member(&s.display_id(c.tenant, m.actor).await?, &m));
    }
    Ok(ok(json!({ "items": items })))
}

/// Remove members from a group the caller is in.
pub(crate) async fn batch_delete(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
    WpsJson(b): WpsJson<MembersBody>,
) -> WResult<Json<Value>> {
    let group = s.own_group(&c, &chat).await?;
    let actors = s.actors(c.tenant, &b.refs()?).await?;
    let mut items = Vec::new();
    for a in s.core.remove_members(c.tenant, group.id, actors).await? {
        let kind = if matches!(a, Actor::App(_)) {
            "sp"
        } else {
            "user"
        };
        items.push(json!({ "type": kind, "id": s.display_id(c.tenant, a).await? }));
    }
    Ok(ok(json!({ "items": items })))
}

/// Whether the caller (no `user_id`) or a user is in the chat. Asking about a user requires
/// the caller to be in the chat itself.
pub(crate) async fn is_in_chat(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
    WpsQuery(q): WpsQuery<UserQuery>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    let who = match q.user_id.as_deref().filter(|u| !u.is_empty()) {
        None => {
            s.core.chat(c.tenant, id).await?;
            c.actor
        }
        Some(u) => {
            s.core.visible_chat(c.tenant, c.access(), id).await?;
            Actor::User(s.user(c.tenant, u).await?.id)
        }
    };
    let member = s.core.is_member(id, who).await?.is_some();
    Ok(ok(json!({ "is_in_chat": member })))
}

/// The caller's own p2p chat with a user.
/// <https://open.wps.cn/documents/app-integration-dev/server/im/chat/get-p2p-chat.html>
pub(crate) async fn get_p2p_chat(
    State(s): State<WpsState>,
    c: Caller,
    WpsQuery(q): WpsQuery<UserQuery>,
) -> WResult<Json<Value>> {
    let uid = q
        .user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| WpsError::invalid("user_id is required"))?;
    let user = s.user(c.tenant, &uid).await?;
    let chat = s
        .core
        .find_p2p(c.tenant, c.actor, Actor::User(user.id))
        .await?
        .ok_or_else(WpsError::chat_not_found)?;
    Ok(ok(render::chat(&chat)))
}

/// The chats the caller is a member of (groups and p2p, not dissolved), by ascending id,
/// paged as history is: `page_size` 1–100 (default 20), an opaque `page_token`.
pub(crate) async fn list(
    State(s): State<WpsState>,
    c: Caller,
    WpsQuery(q): WpsQuery<PageQuery>,
) -> WResult<Json<Value>> {
    let size = crate::page_size(q.page_size.as_deref())?;
    let after = match q.page_token.as_deref().filter(|v| !v.is_empty()) {
        None => 0,
        Some(t) => {
            ids::parse_chats_page_token(t)
                .ok_or_else(|| WpsError::invalid("page_token is invalid"))?
                .0
        }
    };
    let page = Page {
        after,
        limit: size + 1,
    };
    let mut chats = s.core.chats_of(c.tenant, c.actor, page).await?;
    let more = chats.len() > size as usize;
    chats.truncate(size as usize);
    let next = match chats.last() {
        Some(last) if more => ids::chats_page_token(last.id),
        _ => String::new(),
    };
    let items: Vec<Value> = chats.iter().map(render::chat).collect();
    Ok(ok(json!({ "items": items, "next_page_token": next })))
}

/// Rename a group, change its description, or hand it to another member (`owner_id`).
/// The rules are the domain's: a manager renames, only the owner hands ownership on.
pub(crate) async fn update(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
    WpsJson(b): WpsJson<UpdateBody>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    let owner = match b.owner_id.as_deref() {
        None => None,
        Some(u) => Some(Actor::User(s.user(c.tenant, u).await?.id)),
    };
    let patch = ChatPatch {
        name: b.name,
        description: b.description,
        owner,
    };
    if patch == ChatPatch::default() {
        return Err(WpsError::invalid(
            "nothing to update: give name, description or owner_id",
        ));
    }
    s.core.update_chat(c.tenant, id, c.access(), patch).await?;
    Ok(ok_empty())
}

/// Dissolve a group: only its owner may.
pub(crate) async fn dissolve(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
) -> WResult<Json<Value>> {
    let id = s.chat_id(&chat)?;
    let group = s.core.chat(c.tenant, id).await?;
    if group.kind == ChatKind::P2p {
        return Err(WpsError::invalid("a p2p chat cannot be dissolved"));
    }
    if group.dissolved_at.is_some() {
        return Err(Error::Conflict(switchboard_core::error::Conflict::ChatDissolved).into());
    }
    if s.core.check_manager(&group, c.actor).await?.role != Role::Owner {
        return Err(Error::Forbidden(switchboard_core::error::Denied::NotChatAdmin).into());
    }
    s.core.dissolve_chat(c.tenant, id, Some(c.actor)).await?;
    Ok(ok_empty())
}
