//! Chat handlers: create, list, get, update and dissolve groups, add members, ask
//! whether the bot is in a chat. (Listing and removing members: [`crate::members`].)

use crate::auth::{Caller, DeleteChats, ManageChats, ReadChatInfo, ReadChats, Scoped, UpdateChats};
use crate::error::{ok, op, Answer, LarkError};
use crate::extract::{ChatPath, LarkJson, LarkQuery};
use crate::face::Ctx;
use crate::history::{page_size, token};
use crate::messages::reader;
use crate::render::Reader;
use crate::{ids, LarkState};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::error::{Conflict, Error};
use switchboard_core::ids::ChatId;
use switchboard_core::model::{Actor, Chat, ChatKind, Role};
use switchboard_core::service::{ChatPatch, CreateChat};
use switchboard_core::store::{Page, UserKey};

/// How one id of a request resolved.
pub(crate) enum Resolved {
    Found(Actor),
    /// Not an id of the requested kind at all.
    Invalid,
    /// Well formed, but nobody of this tenant has it.
    NotExisting,
}

/// Resolves `raw` as a `kind` id (`open_id`, `union_id`, `user_id` or `app_id`) in the bot's tenant.
pub(crate) async fn resolve(
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

/// `:chat_id` on the group APIs, which answer a malformed one as they answer an unknown
/// one: 232006.
pub struct GroupPath(pub ChatId);

impl<S: Send + Sync> FromRequestParts<S> for GroupPath {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_parts(parts);
        let Path(seg) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| LarkError::chat_id_invalid(&ctx))?;
        ids::parse_chat_id(&seg)
            .map(GroupPath)
            .ok_or_else(|| LarkError::chat_id_invalid(&ctx))
    }
}

/// The reader for a group API's `user_id_type`: an unknown value is 232015 there.
fn group_reader<'a>(
    s: &LarkState,
    bot: &'a Caller,
    user_id_type: Option<&str>,
) -> Result<Reader<'a>, LarkError> {
    if crate::render::IdType::parse(user_id_type).is_none() {
        return Err(LarkError::id_type_unsupported(&bot.ctx, "user_id_type"));
    }
    reader(s, bot, user_id_type)
}

/// A chat the bot is in and that is not dissolved (232006, 232011, 232009 otherwise).
pub(crate) async fn live_chat(s: &LarkState, bot: &Caller, id: ChatId) -> Result<Chat, LarkError> {
    let chat = s
        .core
        .visible_chat(bot.app.tenant, bot.access(), id)
        .await?;
    if chat.dissolved_at.is_some() {
        return Err(Error::Conflict(Conflict::ChatDissolved).into());
    }
    Ok(chat)
}

/// `owner_id` and `owner_id_type` as `r` names the owner (an app by its app_id).
async fn owner_of(s: &LarkState, r: &Reader<'_>, chat: &Chat) -> (String, &'static str) {
    let party = s.core.party(chat.tenant, chat.owner).await.ok();
    r.actor_id(chat.owner, party.as_ref())
}

fn chat_mode(chat: &Chat) -> &'static str {
    match chat.kind {
        ChatKind::P2p => "p2p",
        _ => "group",
    }
}

#[derive(Deserialize)]
pub struct ListChatsQuery {
    user_id_type: Option<String>,
    sort_type: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// Chats read per call while filling a page (p2p chats are skipped).
const CHATS_BATCH: u32 = 100;

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat/list>
///
/// The groups the bot is in (never p2p chats, as documented), by creation. `page_size` is
/// 1 to 100 (default 20); the page token names the last chat looked at, for this app only.
pub async fn list(
    State(s): State<LarkState>,
    bot: Scoped<ReadChatInfo>,
    LarkQuery(q): LarkQuery<ListChatsQuery>,
) -> Answer<op::ListChats> {
    let ctx = bot.ctx.clone();
    let r = group_reader(&s, &bot, q.user_id_type.as_deref())?;
    match q.sort_type.as_deref() {
        None | Some("") | Some("ByCreateTimeAsc") | Some("ByActiveTimeDesc") => {}
        Some(_) => {
            return Err(LarkError::chat_invalid(
                &ctx,
                "invalid sort_type, expected ByCreateTimeAsc or ByActiveTimeDesc",
            )
            .into())
        }
    }
    let size = page_size(q.page_size.as_deref(), 20, 100).ok_or_else(|| {
        LarkError::chat_invalid(&ctx, "page_size must be an integer from 1 to 100")
    })?;
    let domain = token::domain(token::CHATS, bot.app.id.0);
    let mut after = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(raw) => token::open(domain, raw)
            .and_then(|v| i64::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| LarkError::chat_invalid(&ctx, "invalid page_token"))?,
    };
    let mut items = Vec::new();
    let mut has_more = false;
    'fill: loop {
        let page = Page {
            after,
            limit: CHATS_BATCH,
        };
        let batch = s.core.chats_of(bot.app.tenant, bot.actor(), page).await?;
        let exhausted = batch.len() < CHATS_BATCH as usize;
        for chat in batch {
            if items.len() == size as usize {
                has_more = true;
                break 'fill;
            }
            after = chat.id.0;
            if chat.kind == ChatKind::P2p {
                continue;
            }
            let (owner_id, owner_id_type) = owner_of(&s, &r, &chat).await;
            items.push(json!({
                "chat_id": ids::chat_id(chat.id),
                "avatar": "",
                "name": chat.name,
                "description": chat.description,
                "owner_id": owner_id,
                "owner_id_type": owner_id_type,
                "external": false,
                "tenant_key": ids::tenant_key(chat.tenant),
                "chat_status": "normal",
            }));
        }
        if exhausted {
            break;
        }
    }
    let page_token = if has_more {
        token::seal(domain, after as u64)
    } else {
        String::new()
    };
    Ok(ok(
        &ctx,
        json!({ "items": items, "page_token": page_token, "has_more": has_more }),
    ))
}

#[derive(Deserialize)]
pub struct UserIdTypeQuery {
    user_id_type: Option<String>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat/get-2>
///
/// The bot must be in the chat. Counts are strings, as documented; `bot_count` counts apps.
pub async fn get(
    State(s): State<LarkState>,
    bot: Scoped<ReadChatInfo>,
    GroupPath(id): GroupPath,
    LarkQuery(q): LarkQuery<UserIdTypeQuery>,
) -> Answer<op::GetChat> {
    let ctx = bot.ctx.clone();
    let r = group_reader(&s, &bot, q.user_id_type.as_deref())?;
    let chat = live_chat(&s, &bot, id).await?;
    let members = s.core.members(bot.app.tenant, id).await?;
    let (mut users, mut bots) = (0usize, 0usize);
    let (mut user_managers, mut bot_managers) = (Vec::<Value>::new(), Vec::<Value>::new());
    for m in &members {
        let manager = m.role == Role::Admin;
        match m.actor {
            Actor::User(u) => {
                users += 1;
                if manager {
                    let party = s.core.party(chat.tenant, m.actor).await.ok();
                    user_managers.push(json!(r.user_id(u, party.as_ref()).0));
                }
            }
            Actor::App(_) => {
                bots += 1;
                if manager {
                    let party = s.core.party(chat.tenant, m.actor).await.ok();
                    bot_managers.push(json!(r.actor_id(m.actor, party.as_ref()).0));
                }
            }
        }
    }
    let (owner_id, owner_id_type) = owner_of(&s, &r, &chat).await;
    Ok(ok(
        &ctx,
        json!({
            "avatar": "",
            "name": chat.name,
            "description": chat.description,
            "i18n_names": {},
            "add_member_permission": "all_members",
            "share_card_permission": "allowed",
            "at_all_permission": "all_members",
            "edit_permission": "all_members",
            "owner_id_type": owner_id_type,
            "owner_id": owner_id,
            "user_manager_id_list": user_managers,
            "bot_manager_id_list": bot_managers,
            "chat_mode": chat_mode(&chat),
            "chat_type": "private",
            "chat_tag": "inner",
            "join_message_visibility": "all_members",
            "leave_message_visibility": "all_members",
            "membership_approval": "no_approval_required",
            "moderation_permission": "all_members",
            "external": false,
            "tenant_key": ids::tenant_key(chat.tenant),
            "user_count": users.to_string(),
            "bot_count": bots.to_string(),
            "chat_status": "normal",
        }),
    ))
}

#[derive(Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    description: Option<String>,
    owner_id: Option<String>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat/update-2>
///
/// Name and description (by an owner or admin), owner (by the owner; the new owner must be
/// in the chat, and the old one stays as a plain member). Fields not given are unchanged;
/// the other settings Feishu documents are accepted and ignored.
pub async fn update(
    State(s): State<LarkState>,
    bot: Scoped<UpdateChats>,
    GroupPath(id): GroupPath,
    LarkQuery(q): LarkQuery<UserIdTypeQuery>,
    LarkJson(b): LarkJson<UpdateBody>,
) -> Answer<op::UpdateChat> {
    let ctx = bot.ctx.clone();
    let id_type = group_reader(&s, &bot, q.user_id_type.as_deref())?.id_type;
    // Membership first, as Feishu checks the operator before the fields.
    live_chat(&s, &bot, id).await?;
    let owner = match b
        .owner_id
        .as_deref()
        .map(str::trim)
        .filter(|o| !o.is_empty())
    {
        None => None,
        Some(raw) => match resolve(&s, &bot, id_type.as_str(), raw).await? {
            Resolved::Found(a) => Some(a),
            _ => {
                return Err(LarkError::code(
                    &ctx,
                    crate::error::CHAT_USER_ID_INVALID,
                    "Your request specifies a user_id which is invalid.",
                )
                .into())
            }
        },
    };
    let patch = ChatPatch {
        name: b.name,
        description: b.description,
        owner,
    };
    s.core
        .update_chat(bot.app.tenant, id, bot.access(), patch)
        .await?;
    Ok(ok(&ctx, json!({})))
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat/delete>
///
/// Only the chat's owner may dissolve it (232017); a dissolved chat answers 232009.
pub async fn dissolve(
    State(s): State<LarkState>,
    bot: Scoped<DeleteChats>,
    GroupPath(id): GroupPath,
) -> Answer<op::DissolveChat> {
    let ctx = bot.ctx.clone();
    let chat = live_chat(&s, &bot, id).await?;
    if chat.kind == ChatKind::P2p {
        return Err(Error::invalid("chat", "a p2p chat cannot be dissolved").into());
    }
    if chat.owner != bot.actor() {
        return Err(Error::Forbidden(switchboard_core::error::Denied::NotChatAdmin).into());
    }
    s.core
        .dissolve_chat(bot.app.tenant, id, Some(bot.actor()))
        .await?;
    Ok(ok(&ctx, json!({})))
}
