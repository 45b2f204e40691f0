//! `/tenants/{tenant}/chats/{chat}/messages`: send, list, get, edit and recall messages.

use super::error::{AResult, AdminError};
use super::extract::{AdminJson, AdminPath, AdminQuery};
use super::render::{actor, app, chat, message_id, message_json, tenant, user, ActorRef, IdRef};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::content;
use switchboard_core::error::Error;
use switchboard_core::model::*;
use switchboard_core::service::{self, Access, MessageView};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MentionBody {
    key: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    id: Option<IdRef>,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessageBody {
    sender: ActorRef,
    #[serde(rename = "type")]
    kind: String,
    content: Value,
    #[serde(default)]
    mentions: Vec<MentionBody>,
    reply_to: Option<IdRef>,
    #[serde(default)]
    reply_in_thread: bool,
    client_msg_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EditBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Value,
    #[serde(default)]
    mentions: Vec<MentionBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListMessagesQuery {
    after_position: Option<i64>,
    /// Pages backwards: the `limit` messages just before this position, still in position
    /// order (a timeline opens at its last page and scrolls back).
    before_position: Option<i64>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecallQuery {
    kind: Option<String>,
}

async fn mentions(s: &AppState, t: &Tenant, body: &[MentionBody]) -> AResult<Vec<Mention>> {
    let mut out = Vec::with_capacity(body.len());
    for (i, m) in body.iter().enumerate() {
        let target = match (m.kind.as_str(), &m.id) {
            ("all", _) => MentionTarget::All,
            ("user", Some(id)) => MentionTarget::User(user(s, t, &id.to_key(), None).await?.id),
            ("app", Some(id)) => MentionTarget::App(app(s, t, &id.to_key()).await?.id),
            ("user" | "app", None) => {
                return Err(AdminError::bad(format!("mentions[{i}]: id is required")))
            }
            (other, _) => {
                return Err(AdminError::bad(format!(
                    "mentions[{i}]: type must be all, user or app, not {other:?}"
                )))
            }
        };
        out.push(Mention {
            key: m.key.clone().unwrap_or_else(|| (i + 1).to_string()),
            target,
            name: m.name.clone(),
        });
    }
    Ok(out)
}

fn message_kind(kind: &str) -> AResult<MessageType> {
    MessageType::parse(kind)
        .ok_or_else(|| AdminError::bad(format!("unknown message type {kind:?}")))
}

pub(super) async fn send_message(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<MessageBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let sender = actor(&s, &t, &b.sender).await?;
    let kind = message_kind(&b.kind)?;
    if kind == MessageType::MergeForward {
        return Err(AdminError::bad(
            "merge_forward messages are created by forwarding, not sent",
        ));
    }
    let content = content::canonical(kind, b.content).map_err(AdminError::bad)?;
    let mut cmd = service::Send::new(t.id, c.id, sender, kind, content);
    cmd.mentions = mentions(&s, &t, &b.mentions).await?;
    cmd.reply_to = match &b.reply_to {
        Some(r) => Some(
            message_id(&r.to_key())
                .ok_or_else(|| AdminError::bad("reply_to is not a message id"))?,
        ),
        None => None,
    };
    cmd.reply_in_thread = b.reply_in_thread;
    cmd.client_msg_id = b.client_msg_id;
    let v = s.core.send(cmd).await?;
    Ok((StatusCode::CREATED, Json(message_json(&v))))
}

async fn find_message(s: &AppState, t: &Tenant, c: &Chat, seg: &str) -> AResult<MessageView> {
    let id = message_id(seg).ok_or_else(|| AdminError::not_found("message", seg))?;
    s.core
        .get(t.id, Access::Admin, Some(c.id), id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => AdminError::not_found("message", seg),
            other => other.into(),
        })
}

/// `GET /tenants/{tenant}/messages/{message}`: one message by any form of its id, whatever
/// its chat (an id names its chat).
pub(super) async fn find_anywhere(
    State(s): State<AppState>,
    AdminPath((t, m)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let id = message_id(&m).ok_or_else(|| AdminError::not_found("message", &m))?;
    let v = s
        .core
        .get(t.id, Access::Admin, None, id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => AdminError::not_found("message", &m),
            other => other.into(),
        })?;
    Ok(Json(message_json(&v)))
}

pub(super) async fn get_message(
    State(s): State<AppState>,
    AdminPath((t, c, m)): AdminPath<(String, String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let v = find_message(&s, &t, &c, &m).await?;
    let mut out = message_json(&v);
    if v.message.kind == MessageType::MergeForward {
        let kids = s.core.children(t.id, Access::Admin, v.message.id).await?;
        out["children"] = kids.iter().map(message_json).collect();
    }
    Ok(Json(out))
}

pub(super) async fn edit_message(
    State(s): State<AppState>,
    AdminPath((t, c, m)): AdminPath<(String, String, String)>,
    AdminJson(b): AdminJson<EditBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let v = find_message(&s, &t, &c, &m).await?;
    let kind = match &b.kind {
        Some(k) => message_kind(k)?,
        None => v.message.kind,
    };
    let content = content::canonical(kind, b.content).map_err(AdminError::bad)?;
    let cmd = service::Edit {
        tenant: t.id,
        actor: v.message.sender,
        id: v.message.id,
        kind,
        content,
        mentions: mentions(&s, &t, &b.mentions).await?,
        editable: &[],
        sender_only: true,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    Ok(Json(message_json(&s.core.edit(cmd).await?)))
}

pub(super) async fn recall_message(
    State(s): State<AppState>,
    AdminPath((t, c, m)): AdminPath<(String, String, String)>,
    AdminQuery(q): AdminQuery<RecallQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let v = find_message(&s, &t, &c, &m).await?;
    let kind = match q.kind.as_deref() {
        None | Some("recalled") => RemovalKind::Recalled,
        Some("recalled_one_way") => RemovalKind::RecalledOneWay,
        Some("deleted") => RemovalKind::Deleted,
        Some(other) => {
            return Err(AdminError::bad(format!(
                "kind must be recalled, recalled_one_way or deleted, not {other:?}"
            )))
        }
    };
    let cmd = service::Recall {
        tenant: t.id,
        actor: v.message.sender,
        id: v.message.id,
        kind,
        window_ms: None,
        admin_window_ms: None,
    };
    Ok(Json(message_json(&s.core.recall(cmd).await?)))
}

pub(super) async fn list_messages(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminQuery(q): AdminQuery<ListMessagesQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=service::MAX_PAGE).contains(&limit) {
        return Err(AdminError::bad(format!(
            "limit must be 1 to {}",
            service::MAX_PAGE
        )));
    }
    let after = q.after_position.unwrap_or(0);
    if after < 0 {
        return Err(AdminError::bad("after_position must not be negative"));
    }
    if let Some(before) = q.before_position {
        if q.after_position.is_some() {
            return Err(AdminError::bad(
                "give after_position or before_position, not both",
            ));
        }
        if before < 1 {
            return Err(AdminError::bad("before_position must be at least 1"));
        }
        let mut views = s
            .core
            .list(service::ListQuery {
                tenant: t.id,
                access: Access::Admin,
                chat: c.id,
                after_position: 0,
                before_position: Some(before),
                since_ms: None,
                until_ms: None,
                limit: limit + 1,
                descending: true,
            })
            .await?;
        let has_more = views.len() > limit as usize;
        views.truncate(limit as usize);
        views.reverse();
        let next = views.first().and_then(|v| v.message.position());
        let items: Vec<Value> = views.iter().map(message_json).collect();
        return Ok(Json(
            json!({ "items": items, "has_more": has_more, "next_before_position": next }),
        ));
    }
    let query = service::ListQuery {
        tenant: t.id,
        access: Access::Admin,
        chat: c.id,
        after_position: after,
        before_position: None,
        since_ms: None,
        until_ms: None,
        limit: limit + 1,
        descending: false,
    };
    let mut views = s.core.list(query).await?;
    let has_more = views.len() > limit as usize;
    views.truncate(limit as usize);
    let next = views.last().and_then(|v| v.message.position());
    let items: Vec<Value> = views.iter().map(message_json).collect();
    Ok(Json(
        json!({ "items": items, "has_more": has_more, "next_after_position": next }),
    ))
}
