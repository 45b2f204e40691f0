//! A group's members: list them and remove some. (Adding members and `is_in_chat` are in
//! [`crate::chats`], where they began.)

use crate::auth::{ReadMembers, Scoped, WriteMembers};
use crate::chats::{live_chat, resolve, GroupPath, Resolved};
use crate::error::{ok, op, Answer, LarkError};
use crate::extract::{LarkJson, LarkQuery};
use crate::history::{page_size, token};
use crate::render::IdType;
use crate::{ids, LarkState};
use axum::extract::State;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::model::Actor;
use switchboard_core::service::{Access, Core, Party};

#[derive(Deserialize)]
pub struct ListQuery {
    member_id_type: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat-member/get>
///
/// The chat's users (bots are not listed, as documented), by id; `member_total` counts
/// them all. `member_id_type` is `open_id` (default), `union_id` or `user_id`; `page_size`
/// is 1 to 100 (default 20).
pub async fn list(
    State(s): State<LarkState>,
    bot: Scoped<ReadMembers>,
    GroupPath(chat): GroupPath,
    LarkQuery(q): LarkQuery<ListQuery>,
) -> Answer<op::ListMembers> {
    let ctx = bot.ctx.clone();
    let id_type = IdType::parse(q.member_id_type.as_deref())
        .ok_or_else(|| LarkError::id_type_unsupported(&ctx, "member_id_type"))?;
    let r = crate::messages::reader(&s, &bot, Some(id_type.as_str()))?;
    let size = page_size(q.page_size.as_deref(), 20, 100).ok_or_else(|| {
        LarkError::chat_invalid(&ctx, "page_size must be an integer from 1 to 100")
    })?;
    let domain = token::domain(token::MEMBERS, chat.0);
    let after = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(raw) => token::open(domain, raw)
            .and_then(|v| i64::try_from(v).ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| LarkError::chat_invalid(&ctx, "invalid page_token"))?,
    };
    live_chat(&s, &bot, chat).await?;
    let mut users: Vec<_> = s
        .core
        .members(bot.app.tenant, chat)
        .await?
        .into_iter()
        .filter_map(|m| match m.actor {
            Actor::User(u) => Some(u),
            Actor::App(_) => None,
        })
        .collect();
    users.sort_unstable();
    let total = users.len();
    let rest: Vec<_> = users.into_iter().filter(|u| u.0 > after).collect();
    let has_more = rest.len() > size as usize;
    let page = &rest[..rest.len().min(size as usize)];
    let mut items = Vec::with_capacity(page.len());
    for u in page {
        let party = s.core.party(bot.app.tenant, Actor::User(*u)).await.ok();
        let name = match &party {
            Some(Party::User(x)) => x.name.clone(),
            _ => String::new(),
        };
        let (id, id_type) = r.user_id(*u, party.as_ref());
        items.push(json!({
            "member_id_type": id_type,
            "member_id": id,
            "name": name,
            "tenant_key": ids::tenant_key(bot.app.tenant),
        }));
    }
    let page_token = match (has_more, page.last()) {
        (true, Some(u)) => token::seal(domain, u.0 as u64),
        _ => String::new(),
    };
    Ok(ok(
        &ctx,
        json!({ "items": items, "page_token": page_token, "has_more": has_more, "member_total": total }),
    ))
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    member_id_type: Option<String>,
}

#[derive(Deserialize)]
pub struct RemoveBody {
    id_list: Option<Vec<String>>,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/group/chat-member/delete>
///
/// The bot must manage the group (owner or admin: 232014 otherwise). Ids that do not
/// parse, name nobody of the tenant or name no member come back in `invalid_id_list`;
/// naming the owner refuses the whole request (232076).
pub async fn remove(
    State(s): State<LarkState>,
    bot: Scoped<WriteMembers>,
    GroupPath(chat): GroupPath,
    LarkQuery(q): LarkQuery<RemoveQuery>,
    LarkJson(b): LarkJson<RemoveBody>,
) -> Answer<op::RemoveMembers> {
    let ctx = bot.ctx.clone();
    let kind = q.member_id_type.as_deref().unwrap_or("open_id");
    match kind {
        "open_id" | "union_id" | "app_id" => {}
        "user_id" => {
            crate::messages::reader(&s, &bot, Some("user_id"))?;
        }
        _ => return Err(LarkError::id_type_unsupported(&ctx, "member_id_type").into()),
    }
    let list = b.id_list.unwrap_or_default();
    if list.is_empty() || list.len() > 50 {
        return Err(LarkError::chat_invalid(&ctx, "id_list must hold 1 to 50 ids").into());
    }
    let c = live_chat(&s, &bot, chat).await?;
    // The operator first, as Feishu checks it before the ids.
    s.core.check_manager(&c, bot.actor()).await?;
    let (mut gone, mut invalid) = (Vec::new(), Vec::new());
    for raw in &list {
        match resolve(&s, &bot, kind, raw).await? {
            Resolved::Found(a) if s.core.is_member(chat, a).await?.is_some() => {
                Core::check_removable(&c, a)?;
                if !gone.contains(&a) {
                    gone.push(a);
                }
            }
            _ => invalid.push(raw.clone()),
        }
    }
    if !gone.is_empty() {
        s.core
            .remove_members_by(bot.app.tenant, chat, Access::Member(bot.actor()), gone)
            .await?;
    }
    Ok(ok(&ctx, json!({ "invalid_id_list": invalid })))
}
