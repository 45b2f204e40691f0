//! Message handlers, shared by both faces (see `crate::router` for the paths). Each one:
//! extract (bot, path, query, body), convert to a domain command, call one `Core` use case,
//! render back.

use crate::auth::{Caller, ReadMessages, Scoped, WriteMessages};
use crate::content::{self, Incoming};
use crate::error::{self, ok, ok_typed, op, Answer, LarkError};
use crate::extract::{LarkJson, LarkQuery, MsgPath};
use crate::face::{Ctx, Face};
use crate::render::{self, IdType, Reader};
use crate::{ids, LarkState};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::error::Error;
use switchboard_core::ids::{ChatId, MessageId};
use switchboard_core::model::{Actor, MessageType, RemovalKind};
use switchboard_core::service::{self, MessageView, Recipient};
use switchboard_core::store::UserKey;

#[derive(Deserialize)]
pub struct ReadQuery {
    user_id_type: Option<String>,
}

/// The reader for a request's `user_id_type`: an unknown value is 230001; `user_id` needs the
/// configured field scope, and its absence is 230027 (a field-level permission, unlike the
/// API scopes whose absence is 99991672).
pub fn reader<'a>(
    s: &LarkState,
    bot: &'a Caller,
    user_id_type: Option<&str>,
) -> Result<Reader<'a>, LarkError> {
    let id_type = IdType::parse(user_id_type).ok_or_else(|| {
        LarkError::invalid(
            &bot.ctx,
            "invalid user_id_type, expected open_id, union_id or user_id",
        )
    })?;
    if id_type == IdType::UserId && !bot.app.has_scope(&s.config.user_id_scope) {
        return Err(LarkError::code(
            &bot.ctx,
            error::LACKS_PERMISSION,
            format!(
                "Lack of necessary permissions, ext=user_id_type=user_id needs the {} scope.",
                s.config.user_id_scope
            ),
        ));
    }
    Ok(Reader {
        app: &bot.app,
        face: bot.ctx.face,
        id_type,
    })
}

/// A hard-deleted message answers 230110; a recalled one is still shown, as `deleted: true`.
fn refuse_deleted(ctx: &Ctx, v: &MessageView) -> Result<(), LarkError> {
    match v.message.removal.as_ref().map(|r| r.kind) {
        Some(RemovalKind::Deleted) => Err(LarkError::code(
            ctx,
            error::MESSAGE_DELETED,
            "Action unavailable as the message has been deleted.",
        )),
        _ => Ok(()),
    }
}

/// Hi: <https://histatic.zhipin.com/front/bosshi-mp-docs/service/message/get.html>
/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/get>
pub async fn get(
    State(s): State<LarkState>,
    bot: Scoped<ReadMessages>,
    MsgPath(id): MsgPath,
    LarkQuery(q): LarkQuery<ReadQuery>,
) -> Answer<op::Get> {
    let ctx = bot.ctx.clone();
    let r = reader(&s, &bot, q.user_id_type.as_deref())?;
    let tenant = bot.app.tenant;
    let v = s.core.get(tenant, bot.access(), None, id).await?;
    refuse_deleted(&ctx, &v)?;
    match ctx.face {
        Face::Hi => Ok(ok_typed(&ctx, &render::message_out(&r, &v))),
        Face::Feishu => {
            #[derive(serde::Serialize)]
            struct Items {
                items: Vec<render::MessageOut>,
            }
            let mut items = vec![render::message_out(&r, &v)];
            // A merge-forward reads as the container followed by its children.
            if v.message.kind == MessageType::MergeForward {
                let kids = s.core.children(tenant, bot.access(), id).await?;
                items.extend(kids.iter().map(|k| render::message_out(&r, k)));
            }
            Ok(ok_typed(&ctx, &Items { items }))
        }
    }
}

#[derive(Deserialize)]
pub struct SendQuery {
    receive_id_type: Option<String>,
    uuid: Option<String>,
}

#[derive(Deserialize)]
pub struct SendBody {
    receive_id: Option<String>,
    msg_type: Option<String>,
    content: Option<String>,
    uuid: Option<String>,
}

fn required<'a>(ctx: &Ctx, v: &'a Option<String>, name: &str) -> Result<&'a str, LarkError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| LarkError::invalid(ctx, format!("{name} is required")))
}

/// Feishu dedupes by `uuid` (at most 50 characters) for an hour.
fn uuid(ctx: &Ctx, v: Option<String>) -> Result<Option<String>, LarkError> {
    match v.filter(|u| !u.is_empty()) {
        Some(u) if u.chars().count() > 50 => Err(LarkError::invalid(
            ctx,
            "uuid must be at most 50 characters",
        )),
        other => Ok(other),
    }
}

/// The chat a `receive_id` names: a chat, or the bot's p2p chat with a user (created on
/// first use, as Feishu opens a bot's single chat when it first writes to someone).
async fn receive_chat(
    s: &LarkState,
    bot: &Caller,
    id_type: Option<&str>,
    receive_id: &str,
) -> Result<ChatId, LarkError> {
    match receiver(s, bot, id_type, receive_id).await? {
        Recipient::Chat(chat) => Ok(chat),
        Recipient::Direct(peer) => Ok(s
            .core
            .ensure_p2p(bot.app.tenant, bot.actor(), peer)
            .await?
            .id),
    }
}

/// Whom a `receive_id` names: a chat, or a user of the bot's tenant.
async fn receiver(
    s: &LarkState,
    bot: &Caller,
    id_type: Option<&str>,
    receive_id: &str,
) -> Result<Recipient, LarkError> {
    let ctx = &bot.ctx;
    let bad = || LarkError::invalid(ctx, "invalid receive_id");
    let tenant = bot.app.tenant;
    let user = match id_type {
        None | Some("") => return Err(LarkError::invalid(ctx, "receive_id_type is required")),
        Some("chat_id") => {
            return ids::parse_chat_id(receive_id)
                .map(Recipient::Chat)
                .ok_or_else(bad)
        }
        Some("open_id") => ids::parse_open_id(receive_id, bot.app.id).ok_or_else(bad)?,
        Some("union_id") => ids::parse_union_id(receive_id).ok_or_else(bad)?,
        Some("user_id") => match s.core.find_user(tenant, UserKey::UserId(receive_id)).await {
            Ok(u) => u.id,
            Err(Error::NotFound(_)) => return Err(bad()),
            Err(e) => return Err(e.into()),
        },
        Some("email") => {
            return Err(LarkError::invalid(
                ctx,
                "receive_id_type email is not supported: users have no email here",
            ))
        }
        Some(_) => {
            return Err(LarkError::invalid(
                ctx,
                "invalid receive_id_type, expected open_id, union_id, user_id or chat_id",
            ))
        }
    };
    let user = s.core.user(tenant, user).await?;
    Ok(Recipient::Direct(Actor::User(user.id)))
}

fn respond(bot: &Caller, v: &MessageView) -> Response {
    let r = Reader {
        app: &bot.app,
        face: bot.ctx.face,
        id_type: IdType::OpenId,
    };
    ok(&bot.ctx, render::message(&r, v))
}

async fn parse_content(
    s: &LarkState,
    bot: &Caller,
    msg_type: &Option<String>,
    content: &Option<String>,
) -> Result<Incoming, LarkError> {
    let t = required(&bot.ctx, msg_type, "msg_type")?;
    let c = required(&bot.ctx, content, "content")?;
    content::incoming(&s.core, &bot.ctx, &bot.app, t, c).await
}

fn send_cmd(
    s: &LarkState,
    bot: &Caller,
    to: Recipient,
    m: Incoming,
    uuid: Option<String>,
) -> service::Send {
    let mut cmd = service::Send::new(bot.app.tenant, to, bot.actor(), m.kind, m.content);
    cmd.mentions = m.mentions;
    cmd.client_msg_id = uuid;
    cmd.idempotency_window_ms = Some(s.config.idempotency_window_secs.saturating_mul(1000));
    cmd
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/create>
pub async fn send(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    LarkQuery(q): LarkQuery<SendQuery>,
    LarkJson(b): LarkJson<SendBody>,
) -> Answer<op::Send> {
    let ctx = bot.ctx.clone();
    let receive_id = required(&ctx, &b.receive_id, "receive_id")?;
    let uuid = uuid(&ctx, b.uuid.or(q.uuid))?;
    let m = parse_content(&s, &bot, &b.msg_type, &b.content).await?;
    let to = receiver(&s, &bot, q.receive_id_type.as_deref(), receive_id).await?;
    let v = s.core.send(send_cmd(&s, &bot, to, m, uuid)).await?;
    Ok(respond(&bot, &v))
}

#[derive(Deserialize)]
pub struct ReplyBody {
    msg_type: Option<String>,
    content: Option<String>,
    #[serde(default)]
    reply_in_thread: bool,
    uuid: Option<String>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/reply>
/// (root_id/parent_id follow the reply tree; `reply_in_thread` opens a thread on the root).
pub async fn reply(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    MsgPath(parent): MsgPath,
    LarkJson(b): LarkJson<ReplyBody>,
) -> Answer<op::Reply> {
    let ctx = bot.ctx.clone();
    let uuid = uuid(&ctx, b.uuid)?;
    let m = parse_content(&s, &bot, &b.msg_type, &b.content).await?;
    let mut cmd = send_cmd(&s, &bot, Recipient::Chat(parent.chat()), m, uuid);
    cmd.reply_to = Some(parent);
    cmd.reply_in_thread = b.reply_in_thread;
    let v = s.core.send(cmd).await?;
    Ok(respond(&bot, &v))
}

#[derive(Deserialize)]
pub struct EditBody {
    msg_type: Option<String>,
    content: Option<String>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/update>
/// Text and post only, by their sender, at most `max_edits` times.
pub async fn edit(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    MsgPath(id): MsgPath,
    LarkJson(b): LarkJson<EditBody>,
) -> Answer<op::Edit> {
    let ctx = bot.ctx.clone();
    if !matches!(b.msg_type.as_deref(), Some("text" | "post" | "rich_text")) {
        return Err(LarkError::invalid(&ctx, "msg_type must be text or post").into());
    }
    let m = parse_content(&s, &bot, &b.msg_type, &b.content).await?;
    let cmd = service::Edit {
        tenant: bot.app.tenant,
        actor: bot.actor(),
        id,
        kind: m.kind,
        content: m.content,
        mentions: m.mentions,
        editable: &[MessageType::Text, MessageType::RichText],
        sender_only: true,
        max_edits: Some(s.config.max_edits),
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    let v = s.core.edit(cmd).await?;
    Ok(respond(&bot, &v))
}

#[derive(Deserialize)]
pub struct CardBody {
    content: Option<String>,
    msg_type: Option<String>,
}

async fn update_card(
    s: LarkState,
    bot: Scoped<WriteMessages>,
    id: MessageId,
    b: CardBody,
) -> Answer<op::UpdateCard> {
    let ctx = bot.ctx.clone();
    if let Some(t) = b.msg_type.as_deref().filter(|t| !t.is_empty()) {
        if !matches!(t, "interactive" | "compressive_card" | "system_card") {
            return Err(LarkError::invalid(&ctx, "msg_type must be a card type").into());
        }
    }
    let m = parse_content(&s, &bot, &Some("interactive".into()), &b.content).await?;
    let cmd = service::Edit {
        tenant: bot.app.tenant,
        actor: bot.actor(),
        id,
        kind: MessageType::Card,
        content: m.content,
        mentions: m.mentions,
        editable: &[MessageType::Card],
        sender_only: true,
        max_edits: None,
        window_ms: Some(s.config.card_update_window_secs.saturating_mul(1000)),
        min_interval_ms: None,
        extra: None,
    };
    s.core.edit(cmd).await?;
    Ok(ok(&ctx, json!({})))
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message-card/patch>
pub async fn patch_card(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    MsgPath(id): MsgPath,
    LarkJson(b): LarkJson<CardBody>,
) -> Answer<op::UpdateCard> {
    update_card(s, bot, id, b).await
}

/// Hi: <https://histatic.zhipin.com/front/bosshi-mp-docs/service/message/update.html>
pub async fn update_card_hi(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    MsgPath(id): MsgPath,
    LarkJson(b): LarkJson<CardBody>,
) -> Answer<op::UpdateCard> {
    update_card(s, bot, id, b).await
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/delete>
/// A bot recalls its own messages within `recall_window_secs`; as a chat owner or admin it
/// may recall others' within `admin_recall_window_secs`.
pub async fn recall(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    MsgPath(id): MsgPath,
) -> Answer<op::Recall> {
    let ctx = bot.ctx.clone();
    let cmd = service::Recall {
        tenant: bot.app.tenant,
        actor: bot.actor(),
        id,
        kind: RemovalKind::Recalled,
        window_ms: Some(s.config.recall_window_secs.saturating_mul(1000)),
        admin_window_ms: Some(Some(s.config.admin_recall_window_secs.saturating_mul(1000))),
    };
    s.core.recall(cmd).await?;
    Ok(ok(&ctx, json!({})))
}

#[derive(Deserialize)]
pub struct ForwardBody {
    receive_id: Option<String>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/forward>
pub async fn forward(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    MsgPath(id): MsgPath,
    LarkQuery(q): LarkQuery<SendQuery>,
    LarkJson(b): LarkJson<ForwardBody>,
) -> Answer<op::Forward> {
    let ctx = bot.ctx.clone();
    let receive_id = required(&ctx, &b.receive_id, "receive_id")?;
    let uuid = uuid(&ctx, q.uuid)?;
    let target = receive_chat(&s, &bot, q.receive_id_type.as_deref(), receive_id).await?;
    let v = s
        .core
        .forward(bot.app.tenant, bot.actor(), id, target, uuid)
        .await?;
    Ok(respond(&bot, &v))
}

#[derive(Deserialize)]
pub struct MergeForwardBody {
    receive_id: Option<String>,
    message_id_list: Option<Vec<String>>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/merge_forward>
/// Ids that do not parse, or name messages the bot cannot forward, come back in
/// `invalid_message_id_list`.
pub async fn merge_forward(
    State(s): State<LarkState>,
    bot: Scoped<WriteMessages>,
    LarkQuery(q): LarkQuery<SendQuery>,
    LarkJson(b): LarkJson<MergeForwardBody>,
) -> Answer<op::MergeForward> {
    let ctx = bot.ctx.clone();
    let receive_id = required(&ctx, &b.receive_id, "receive_id")?;
    let list = b.message_id_list.unwrap_or_default();
    if list.is_empty() || list.len() > 100 {
        return Err(
            LarkError::invalid(&ctx, "message_id_list must hold 1 to 100 message ids").into(),
        );
    }
    let uuid = uuid(&ctx, q.uuid)?;
    let target = receive_chat(&s, &bot, q.receive_id_type.as_deref(), receive_id).await?;
    let (good, mut invalid): (Vec<_>, Vec<_>) = list
        .into_iter()
        .partition(|m| ids::parse_message_id(m).is_some());
    let cmd = service::MergeForward {
        tenant: bot.app.tenant,
        actor: bot.actor(),
        target,
        ids: good
            .iter()
            .filter_map(|m| ids::parse_message_id(m))
            .collect(),
        title: None,
        client_msg_id: uuid,
    };
    if cmd.ids.is_empty() {
        return Err(LarkError::invalid(&ctx, "message_id_list holds no valid message id").into());
    }
    let done = s.core.merge_forward(cmd).await?;
    invalid.extend(done.invalid.into_iter().map(ids::message_id));
    let r = Reader {
        app: &bot.app,
        face: ctx.face,
        id_type: IdType::OpenId,
    };
    Ok(ok(
        &ctx,
        json!({ "message": render::message(&r, &done.container), "invalid_message_id_list": invalid }),
    ))
}
