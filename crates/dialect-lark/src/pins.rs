//! Pinned messages (both faces): pin, unpin, list a chat's pins.
//!
//! Feishu: <https://open.feishu.cn/document/server-docs/im-v1/pin/create>, `…/delete`,
//! `…/list`.
//!
//! A pin reads `{message_id, chat_id, operator_id, operator_id_type, create_time}`: an
//! app's `operator_id` is its app_id (`operator_id_type: "app_id"`), a user's its open_id.
//! Pinning a pinned message answers its pin; unpinning one that is not pinned succeeds.
//! A chat's pins list newest first, within `start_time..=end_time` (milliseconds).

use crate::auth::{Caller, Need, Scope, Scoped};
use crate::error::{ok, ok_typed, op, Answer, LarkError};
use crate::extract::{LarkJson, LarkQuery, MsgPath};
use crate::face::Ctx;
use crate::history::{page_size, token};
use crate::render::{IdType, Reader};
use crate::{ids, LarkState};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use switchboard_core::ids::MessageId;
use switchboard_core::model::Millis;
use switchboard_core::service::{PinQuery, PinView};

/// Pinning and unpinning: `im:message`, `im:message.pins:write_only` or
/// `im:message:send_as_bot`.
pub struct WritePins;
/// Listing pins: `im:message`, `im:message:readonly` or `im:message.pins:read`.
pub struct ReadPins;

impl Scope for WritePins {
    const NEED: Need = Need::Pins;
}
impl Scope for ReadPins {
    const NEED: Need = Need::PinsRead;
}

const PIN_PAGES: u32 = 0x4C52_0003;
const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 50;

/// A pin as both faces show it.
#[derive(Serialize)]
pub struct PinOut {
    chat_id: String,
    create_time: String,
    message_id: String,
    operator_id: String,
    operator_id_type: &'static str,
}

fn pin_out(bot: &Caller, v: &PinView) -> PinOut {
    let r = Reader {
        app: &bot.app,
        face: bot.ctx.face,
        id_type: IdType::OpenId,
    };
    let (operator_id, operator_id_type) = r.actor_id(v.pin.by, v.operator.as_ref());
    PinOut {
        chat_id: ids::chat_id(v.pin.chat()),
        create_time: v.pin.created_at.to_string(),
        message_id: ids::message_id(v.pin.message),
        operator_id,
        operator_id_type,
    }
}

#[derive(Deserialize)]
pub struct PinBody {
    message_id: Option<String>,
}

#[derive(Serialize)]
struct Pinned {
    pin: PinOut,
}

/// `POST /open-apis/im/v1/pins`, body `{message_id}`.
pub async fn create(
    State(s): State<LarkState>,
    bot: Scoped<WritePins>,
    LarkJson(b): LarkJson<PinBody>,
) -> Answer<op::Pin> {
    let ctx = &bot.ctx;
    let raw = b
        .message_id
        .filter(|m| !m.is_empty())
        .ok_or_else(|| LarkError::invalid(ctx, "message_id is required"))?;
    let id =
        ids::parse_message_id(&raw).ok_or_else(|| LarkError::invalid(ctx, "invalid message_id"))?;
    let v = s.core.pin(bot.app.tenant, bot.actor(), id).await?;
    Ok(ok_typed(
        ctx,
        &Pinned {
            pin: pin_out(&bot, &v),
        },
    ))
}

/// `DELETE /open-apis/im/v1/pins/:message_id`: `data: {}`.
pub async fn delete(
    State(s): State<LarkState>,
    bot: Scoped<WritePins>,
    MsgPath(id): MsgPath,
) -> Answer<op::Unpin> {
    s.core.unpin(bot.app.tenant, bot.actor(), id).await?;
    Ok(ok(&bot.ctx, json!({})))
}

#[derive(Deserialize)]
pub struct ListQuery {
    chat_id: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

#[derive(Serialize)]
struct Page {
    has_more: bool,
    items: Vec<PinOut>,
    page_token: String,
}

fn millis(ctx: &Ctx, name: &str, v: Option<&str>) -> Result<Option<Millis>, LarkError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<Millis>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                LarkError::invalid(ctx, format!("{name} must be a millisecond timestamp"))
            }),
    }
}

/// The cursor of a page of pins: the last pin's time and message, sealed for the chat.
fn seal(chat: i64, (at, m): (Millis, MessageId)) -> String {
    let d = token::domain(PIN_PAGES, chat);
    format!(
        "{}{}",
        token::seal(d, at as u64),
        token::seal(d ^ 1, m.0 as u64)
    )
}

fn open(chat: i64, t: &str) -> Option<(Millis, MessageId)> {
    let d = token::domain(PIN_PAGES, chat);
    let (a, m) = (t.get(..32)?, t.get(32..)?);
    let at = i64::try_from(token::open(d, a)?).ok()?;
    let m = MessageId::from_raw(i64::try_from(token::open(d ^ 1, m)?).ok()?)?;
    Some((at, m))
}

/// `GET /open-apis/im/v1/pins?chat_id=&start_time=&end_time=&page_size=&page_token=`: the
/// chat's pins, newest first, 20 a page by default, at most 50.
pub async fn list(
    State(s): State<LarkState>,
    bot: Scoped<ReadPins>,
    LarkQuery(q): LarkQuery<ListQuery>,
) -> Answer<op::ListPins> {
    let ctx = bot.ctx.clone();
    let raw = q
        .chat_id
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| LarkError::invalid(&ctx, "chat_id is required"))?;
    let chat =
        ids::parse_chat_id(raw).ok_or_else(|| LarkError::invalid(&ctx, "invalid chat_id"))?;
    let since = millis(&ctx, "start_time", q.start_time.as_deref())?;
    let until = millis(&ctx, "end_time", q.end_time.as_deref())?;
    if let (Some(a), Some(b)) = (since, until) {
        if a > b {
            return Err(LarkError::invalid(&ctx, "start_time must not be after end_time").into());
        }
    }
    let size = page_size(q.page_size.as_deref(), DEFAULT_PAGE, MAX_PAGE)
        .ok_or_else(|| LarkError::invalid(&ctx, "page_size must be an integer from 1 to 50"))?;
    let before = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => {
            Some(open(chat.0, t).ok_or_else(|| LarkError::invalid(&ctx, "invalid page_token"))?)
        }
    };
    let page = s
        .core
        .pins(PinQuery {
            tenant: bot.app.tenant,
            access: bot.access(),
            chat,
            since,
            until,
            before,
            limit: size,
        })
        .await?;
    Ok(ok_typed(
        &ctx,
        &Page {
            has_more: page.next_before.is_some(),
            items: page.items.iter().map(|v| pin_out(&bot, v)).collect(),
            page_token: page
                .next_before
                .map(|c| seal(chat.0, c))
                .unwrap_or_default(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_per_chat() {
        let m = MessageId::timeline(switchboard_core::ids::ChatId(7), 3).unwrap();
        let t = seal(7, (1_700_000_000_123, m));
        assert_eq!(open(7, &t), Some((1_700_000_000_123, m)));
        assert_eq!(open(8, &t), None, "another chat's token");
        assert_eq!(open(7, &t[..40]), None);
        assert_eq!(open(7, "x"), None);
    }
}
