//! Message endpoints: get, history, create, reply, recall (both paths), card update.
//! Each handler: extract, convert, one `Core` call, convert back.

use crate::auth::Caller;
use crate::content::{self, WireMention, REPLYABLE};
use crate::error::{WResult, WpsError};
use crate::extract::{WpsJson, WpsPath, WpsQuery};
use crate::{ids, ok, ok_empty, ok_typed, render, WpsState};
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::ids::{ChatId, MessageId};
use switchboard_core::model::{Actor, MessageType, RemovalKind};
use switchboard_core::service::{Edit, ListQuery, MessageView, Recall, Recipient, Send};

#[derive(Deserialize)]
pub(crate) struct CreateBody {
    #[serde(rename = "type")]
    kind: String,
    receiver: Receiver,
    #[serde(default)]
    mentions: Vec<WireMention>,
    content: Value,
}

#[derive(Deserialize)]
pub(crate) struct Receiver {
    receiver_id: String,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
pub(crate) struct ReplyBody {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    mentions: Vec<WireMention>,
    content: Value,
}

#[derive(Deserialize)]
pub(crate) struct UpdateBody {
    #[serde(rename = "type")]
    kind: String,
    content: Value,
}

#[derive(Deserialize)]
pub(crate) struct HistoryQuery {
    start_time: Option<String>,
    end_time: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// The reply API's response shape, used for create as well (plus `chat_id`, so that a bot
/// that wrote to a user learns the p2p chat).
fn sent(v: &MessageView) -> Value {
    let m = render::message(v);
    json!({ "message_id": m["id"], "chat_id": m["chat_id"], "type": m["type"], "content": m["content"], "mentions": m["mentions"] })
}

/// Get one message.
/// <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/get-message.html>
pub(crate) async fn get(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath((chat, msg)): WpsPath<(String, String)>,
) -> WResult<Response> {
    let chat = s.chat_id(&chat)?;
    let id = s.message_id(&msg)?;
    let v = s.core.get(c.tenant, c.access(), Some(chat), id).await;
    let v = v?;
    if v.message.removal.is_some() {
        return Err(WpsError::recalled());
    }
    Ok(ok_typed(render::message_out(&v)))
}

/// Chat history, oldest first, paged by position.
/// <https://open.wps.cn/documents/app-integration-dev/server/im/message/get-chat-message.html>
pub(crate) async fn history(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(chat): WpsPath<String>,
    WpsQuery(q): WpsQuery<HistoryQuery>,
) -> WResult<Json<Value>> {
    let chat = s.chat_id(&chat)?;
    let (query, size) = q.into_query(&c, chat)?;
    let mut views = s.core.list(query).await?;
    let more = views.len() > size;
    views.truncate(size);
    let next = match views.last().and_then(|v| v.message.position()) {
        Some(p) if more => ids::page_token(chat, p),
        _ => String::new(),
    };
    let items: Vec<Value> = views
        .iter()
        .map(|v| {
            if v.message.removal.is_some() {
                render::tombstone(v)
            } else {
                render::message(v)
            }
        })
        .collect();
    Ok(ok(json!({ "items": items, "next_page_token": next })))
}

impl HistoryQuery {
    /// The domain query (one more than the page, to tell whether another page follows) and
    /// the page size.
    fn into_query(self, c: &Caller, chat: ChatId) -> WResult<(ListQuery, usize)> {
        let size = crate::page_size(self.page_size.as_deref())?;
        let after = match self.page_token.as_deref().filter(|v| !v.is_empty()) {
            None => 0,
            Some(t) => ids::parse_page_token(t, chat)
                .ok_or_else(|| WpsError::invalid("page_token is invalid for this chat"))?,
        };
        let (start, end) = (
            seconds("start_time", &self.start_time)?,
            seconds("end_time", &self.end_time)?,
        );
        if let (Some(a), Some(b)) = (start, end) {
            if a > b {
                return Err(WpsError::invalid("start_time must not be after end_time"));
            }
        }
        let query = ListQuery {
            tenant: c.tenant,
            access: c.access(),
            chat,
            after_position: after,
            before_position: None,
            since_ms: start.map(|v| v * 1000),
            until_ms: end.map(|v| v * 1000 + 999),
            limit: size + 1,
            descending: false,
        };
        Ok((query, size as usize))
    }
}

/// A Unix timestamp in seconds (the history API's unit), if given.
fn seconds(name: &str, v: &Option<String>) -> WResult<Option<i64>> {
    match v.as_deref().filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=i64::MAX / 1000 - 1).contains(n))
            .map(Some)
            .ok_or_else(|| {
                WpsError::invalid(format!("{name} must be a Unix timestamp in seconds"))
            }),
    }
}

/// Send a message to a chat or a user (the app-user p2p chat, created on first use).
/// <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/single-create-msg.html>
pub(crate) async fn create(
    State(s): State<WpsState>,
    c: Caller,
    WpsJson(b): WpsJson<CreateBody>,
) -> WResult<Json<Value>> {
    let kind = content::sendable_type(&b.kind)?;
    let draft = s.draft(c.tenant, kind, &b.content, &b.mentions).await?;
    let to = match b.receiver.kind.as_str() {
        "chat" => Recipient::Chat(s.chat_id(&b.receiver.receiver_id)?),
        "user" => {
            let user = s.user(c.tenant, &b.receiver.receiver_id).await?;
            Recipient::Direct(Actor::User(user.id))
        }
        "enterprise_partner_user" => {
            return Err(WpsError::invalid(
                "enterprise partner receivers are not supported",
            ))
        }
        other => {
            return Err(WpsError::invalid(format!(
                "receiver.type must be user or chat, not {other:?}"
            )))
        }
    };
    let mut cmd = Send::new(c.tenant, to, c.actor, kind, draft.content);
    cmd.mentions = draft.mentions;
    let v = s.core.send(cmd).await?;
    Ok(ok(sent(&v)))
}

/// Reply to a message; the reply's `quote_msg_id` is the replied-to message.
/// <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/reply-msg.html>
pub(crate) async fn reply(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath((chat, msg)): WpsPath<(String, String)>,
    WpsJson(b): WpsJson<ReplyBody>,
) -> WResult<Json<Value>> {
    let (chat, parent) = s.message_in_chat(&chat, &msg)?;
    // A reply without `type` is text (the `wps365` client sends none).
    let kind = content::sendable_type(b.kind.as_deref().unwrap_or("text"))?;
    if !REPLYABLE.contains(&kind) {
        return Err(WpsError::unsupported_type(
            "a reply must be text, rich_text or image",
        ));
    }
    let draft = s.draft(c.tenant, kind, &b.content, &b.mentions).await?;
    let mut cmd = Send::new(c.tenant, chat, c.actor, kind, draft.content);
    cmd.mentions = draft.mentions;
    cmd.reply_to = Some(parent);
    let v = s.core.send(cmd).await?;
    Ok(ok(sent(&v)))
}

/// Recall, by message id alone: the path the listing generated from the vendor's schema
/// gives (no public page documents recall; see `docs/dialects/wps.md`).
pub(crate) async fn recall(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(msg): WpsPath<String>,
) -> WResult<Json<Value>> {
    let id = s.message_id(&msg)?;
    do_recall(&s, &c, id).await
}

/// Recall, under its chat (the path some clients use); the message must be in that chat.
pub(crate) async fn recall_in_chat(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath((chat, msg)): WpsPath<(String, String)>,
) -> WResult<Json<Value>> {
    let (_, id) = s.message_in_chat(&chat, &msg)?;
    do_recall(&s, &c, id).await
}

async fn do_recall(s: &WpsState, c: &Caller, id: MessageId) -> WResult<Json<Value>> {
    let window =
        (s.config.recall_window_secs > 0).then(|| s.config.recall_window_secs as i64 * 1000);
    let cmd = Recall {
        tenant: c.tenant,
        actor: c.actor,
        id,
        kind: RemovalKind::Recalled,
        window_ms: window,
        // An app that owns or administers the group may recall others' messages, within the same window.
        admin_window_ms: Some(window),
    };
    s.core.recall(cmd).await?;
    Ok(ok_empty())
}

/// Update a card message (only cards, only the app's own).
/// <https://bgpt.qhzwfw.gov.cn/developer/document/app/wps365/server/chat-session/message/update-msg.html>
pub(crate) async fn update(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath(msg): WpsPath<String>,
    WpsJson(b): WpsJson<UpdateBody>,
) -> WResult<Json<Value>> {
    let id = s.message_id(&msg)?;
    if b.kind != "card" {
        return Err(WpsError::unsupported_type(
            "only card messages can be updated; type must be card",
        ));
    }
    let inc = content::incoming(MessageType::Card, &b.content, &[], s.config.max_text_chars)?;
    let cmd = Edit {
        tenant: c.tenant,
        actor: c.actor,
        id,
        kind: MessageType::Card,
        content: inc.content,
        mentions: vec![],
        editable: &[MessageType::Card],
        sender_only: true,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    s.core.edit(cmd).await?;
    Ok(ok_empty())
}
