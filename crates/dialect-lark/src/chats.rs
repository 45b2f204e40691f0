//! Chat handlers: create a group, add members, ask whether the bot is in a chat.

use crate::auth::{Caller, ManageChats, ReadChats, Scoped};
use crate::error::{ok, op, Answer, LarkError};
use crate::extract::{ChatPath, LarkJson, LarkQuery};
use crate::face::Ctx;
use crate::messages::reader;
use crate::{ids, LarkState};
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::error::Error;
use switchboard_core::model::{Actor, ChatKind, Role};
use switchboard_core::service::CreateChat;
use switchboard_core::store::UserKey;

/// How one id of a request resolved.
enum Resolved {
    Found(Actor),
    /// Not an id of the requested kind at all.
    Invalid,
    /// Well formed, but nobody of this tenant has it.
    NotExisting,
}

/// Resolves `raw` as a `kind` id (`open_id`, `union_id`, `user_id` or `app_id`) in the bot's tenant.
async fn resolve(
    s: &LarkState,
    bot: &Caller,
    kind: &str,
    raw: &str,
) -> Result<Resolved, LarkError> {
    let tenant = bot.app.tenant;
    let user = match kind {
        "open_id" => ids::parse_open_id(raw, bot.app.id),
        "union_id" => ids::parse_union_id(raw),
        "user_id" => {
            return match s.core.find_user(tenant, UserKey::UserId(raw)).await {
                Ok(u) => Ok(Resolved::Found(Actor::User(u.id))),
                Err(Error::NotFound(_)) => Ok(Resolved::NotExisting),
                Err(e) => Err(e.into()),
            }
        }
        "app_id" => {
            if !raw.starts_with(crate::ids::APP_ID_PREFIX) {
                return Ok(Resolved::Invalid);
            }
            return match s.core.app_by_public_id(raw).await {
                Ok(a) if a.tenant == tenant => Ok(Resolved::Found(Actor::App(a.id))),
                Ok(_) | Err(Error::NotFound(_)) => Ok(Resolved::NotExisting),
                Err(e) => Err(e.into()),
            };
        }
        _ => return Ok(Resolved::Invalid),
    };
    let Some(uid) = user else {
        return Ok(Resolved::Invalid);
    };
    match s.core.user(tenant, uid).await {
        Ok(u) => Ok(Resolved::Found(Actor::User(u.id))),
        Err(Error::NotFound(_)) => Ok(Resolved::NotExisting),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CreateQuery {
    user_id_type: Option<String>,
    /// Makes the calling bot a manager (admin) of the new group when it is not its owner.
    /// Any spelling the SDKs send (`lark-oapi` sends Python's `True`).
    #[serde(default, deserialize_with = "switchboard_core::input::opt_bool")]
    set_bot_manager: Option<bool>,
}

#[derive(Deserialize)]
pub struct CreateBody {
    name: Option<String>,
    description: Option<String>,
    owner_id: Option<String>,
    user_id_list: Option<Vec<String>>,
    bot_id_list: Option<Vec<String>>,
    chat_mode: Option<String>,
    chat_type: Option<String>,
}

fn check_choice(
    ctx: &Ctx,
    field: &str,
    v: &Option<String>,
    allowed: &[&str],
) -> Result<(), LarkError> {
    match v.as_deref() {
        None => Ok(()),
        Some(x) if allowed.contains(&x) => Ok(()),
        Some(x) => Err(LarkError::invalid(
            ctx,
            format!("{field} {x:?} is not one of {allowed:?}"),
        )),
    }
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat/create>
/// The calling bot always joins; it owns the group unless `owner_id` names a user.
pub async fn create(
    State(s): State<LarkState>,
    bot: Scoped<ManageChats>,
    LarkQuery(q): LarkQuery<CreateQuery>,
    LarkJson(b): LarkJson<CreateBody>,
) -> Answer<op::CreateChat> {
    let ctx = bot.ctx.clone();
    let id_type = reader(&s, &bot, q.user_id_type.as_deref())?.id_type;
    check_choice(&ctx, "chat_mode", &b.chat_mode, &["group"])?;
    check_choice(&ctx, "chat_type", &b.chat_type, &["private", "public"])?;
    let users = b.user_id_list.unwrap_or_default();
    let bots = b.bot_id_list.unwrap_or_default();
    if users.len() > 50 {
        return Err(LarkError::invalid(&ctx, "user_id_list holds at most 50 ids").into());
    }
    if bots.len() > 5 {
        return Err(LarkError::invalid(&ctx, "bot_id_list holds at most 5 ids").into());
    }
    let mut members = vec![bot.actor()];
    for (kind, raw) in users
        .iter()
        .map(|u| (id_type.as_str(), u))
        .chain(bots.iter().map(|b| ("app_id", b)))
    {
        match resolve(&s, &bot, kind, raw).await? {
            Resolved::Found(a) => members.push(a),
            _ => {
                return Err(LarkError::invalid(
                    &ctx,
                    format!("invalid {kind} {raw:?} in the member lists"),
                )
                .into())
            }
        }
    }
    let owner = match b.owner_id.as_deref().filter(|o| !o.is_empty()) {
        None => bot.actor(),
        Some(raw) => match resolve(&s, &bot, id_type.as_str(), raw).await? {
            Resolved::Found(a) => a,
            _ => return Err(LarkError::invalid(&ctx, "invalid owner_id").into()),
        },
    };
    let name = b
        .name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Group chat".into());
    let cmd = CreateChat {
        kind: ChatKind::Group,
        name: Some(name),
        owner,
        members,
    };
    let chat = s.core.create_chat(bot.app.tenant, cmd).await?;
    if q.set_bot_manager == Some(true) && owner != bot.actor() {
        s.core
            .set_member_role(bot.app.tenant, chat.id, bot.actor(), Role::Admin)
            .await?;
    }
    let (owner_id, owner_id_type) = match owner {
        Actor::App(_) => (json!(bot.app.app_id), "app_id"),
        Actor::User(u) => {
            let party = s.core.party(bot.app.tenant, owner).await.ok();
            let r = crate::render::Reader {
                app: &bot.app,
                face: ctx.face,
                id_type,
            };
            (json!(r.user_id(u, party.as_ref()).0), id_type.as_str())
        }
    };
    Ok(ok(
        &ctx,
        json!({
            "chat_id": ids::chat_id(chat.id),
            "avatar": "",
            "name": chat.name,
            "description": b.description.unwrap_or_default(),
            "i18n_names": {},
            "owner_id": owner_id,
            "owner_id_type": owner_id_type,
            "add_member_permission": "all_members",
            "share_card_permission": "allowed",
            "at_all_permission": "all_members",
            "edit_permission": "all_members",
            "chat_mode": "group",
            "chat_type": b.chat_type.unwrap_or_else(|| "private".into()),
            "chat_tag": "inner",
            "external": false,
            "tenant_key": ids::tenant_key(chat.tenant),
            "join_message_visibility": "all_members",
            "leave_message_visibility": "all_members",
            "membership_approval": "no_approval_required",
            "moderation_permission": "all_members",
        }),
    ))
}

#[derive(Deserialize)]
pub struct AddQuery {
    member_id_type: Option<String>,
    succeed_type: Option<i64>,
}

#[derive(Deserialize)]
pub struct AddBody {
    id_list: Option<Vec<String>>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat-member/create>
///
/// `succeed_type`: 0 (default) refuses the whole request when any id is unusable; 1 adds
/// the usable ids and lists the others; 2 refuses and lists the unusable ids in `data`.
pub async fn add_members(
    State(s): State<LarkState>,
    bot: Scoped<ManageChats>,
    ChatPath(chat): ChatPath,
    LarkQuery(q): LarkQuery<AddQuery>,
    LarkJson(b): LarkJson<AddBody>,
) -> Answer<op::AddMembers> {
    let ctx = bot.ctx.clone();
    let kind = q.member_id_type.as_deref().unwrap_or("open_id");
    match kind {
        "open_id" | "union_id" | "app_id" => {}
        "user_id" => {
            reader(&s, &bot, Some("user_id"))?;
        }
        other => {
            return Err(
                LarkError::invalid(&ctx, format!("invalid member_id_type {other:?}")).into(),
            )
        }
    }
    let succeed = q.succeed_type.unwrap_or(0);
    if !(0..=2).contains(&succeed) {
        return Err(LarkError::invalid(&ctx, "succeed_type must be 0, 1 or 2").into());
    }
    let list = b.id_list.unwrap_or_default();
    if list.is_empty() || list.len() > 50 {
        return Err(LarkError::invalid(&ctx, "id_list must hold 1 to 50 ids").into());
    }
    s.core
        .visible_chat(bot.app.tenant, bot.access(), chat)
        .await?;
    let (mut found, mut invalid, mut missing) = (vec![], vec![], vec![]);
    for raw in &list {
        match resolve(&s, &bot, kind, raw).await? {
            Resolved::Found(a) => found.push(a),
            Resolved::Invalid => invalid.push(raw.clone()),
            Resolved::NotExisting => missing.push(raw.clone()),
        }
    }
    let lists = json!({ "invalid_id_list": invalid, "not_existed_id_list": missing, "pending_approval_id_list": [] });
    let unusable = !invalid.is_empty() || !missing.is_empty();
    match succeed {
        0 if unusable => return Err(LarkError::invalid(&ctx, "id_list holds unusable ids").into()),
        2 if unusable => {
            return Err(LarkError::invalid(&ctx, "id_list holds unusable ids")
                .with_data(lists)
                .into())
        }
        _ => {}
    }
    if !found.is_empty() {
        s.core.add_members(bot.app.tenant, chat, found).await?;
    }
    Ok(ok(&ctx, lists))
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat-member/is_in_chat>
pub async fn is_in_chat(
    State(s): State<LarkState>,
    bot: Scoped<ReadChats>,
    ChatPath(chat): ChatPath,
) -> Answer<op::IsInChat> {
    let ctx = bot.ctx.clone();
    s.core.chat(bot.app.tenant, chat).await?;
    let member = s.core.is_member(chat, bot.actor()).await?;
    Ok(ok(&ctx, json!({ "is_in_chat": member.is_some() })))
}
