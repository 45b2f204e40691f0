//! Message reactions (both faces): add, list, delete; and who has read a message.
//!
//! Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message-reaction/create>,
//! `…/list`, `…/delete`; <https://open.feishu.cn/document/server-docs/im-v1/message/read_users>.
//!
//! A reaction reads `{reaction_id, operator: {operator_id, operator_type}, action_time,
//! reaction_type: {emoji_type}}`; an app's `operator_id` is its app_id, a user's is the
//! id `user_id_type` asks for (open_id when the endpoint has no such parameter). Only
//! Feishu's documented emoji types are accepted (231001 otherwise). The 231xxx codes come
//! from the error table (`crate::error`, operations `AddReaction`, `ListReactions` and
//! `DeleteReaction`).

use crate::auth::{Need, Scope, Scoped};
use crate::error::{self, ok_typed, op, Answer, LarkError};
use crate::extract::{LarkJson, LarkQuery, MsgPath};
use crate::face::Ctx;
use crate::history::{page_size, token};
use crate::render::{IdType, Reader};
use crate::{ids, messages, LarkState};
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use switchboard_core::ids::{decode_base62_16, encode_base62_16, MessageId};
use switchboard_core::model::Actor;
use switchboard_core::service::{Party, ReactionQuery, ReactionView};
use switchboard_core::store::ReactionId;

/// Adding and deleting reactions: `im:message` or `im:message.reactions:write_only`.
pub struct WriteReactions;
/// Listing reactions: `im:message`, `im:message:readonly` or `im:message.reactions:read`.
pub struct ReadReactions;
/// Listing a message's readers: `im:message`, `im:message:readonly` or `im:message:basic`.
pub struct ReadReceipts;

impl Scope for WriteReactions {
    const NEED: Need = Need::Reactions;
}
impl Scope for ReadReactions {
    const NEED: Need = Need::ReactionsRead;
}
impl Scope for ReadReceipts {
    const NEED: Need = Need::ReadUsers;
}

/// Every `emoji_type` Feishu documents (its "表情文案说明" page), in its order, separated by
/// spaces; see [`is_emoji_type`].
pub const EMOJI_TYPES: &str = "\
    OK THUMBSUP THANKS MUSCLE FINGERHEART APPLAUSE FISTBUMP JIAYI DONE SMILE BLUSH LAUGH \
    SMIRK LOL FACEPALM LOVE WINK PROUD WITTY SMART SCOWL THINKING SOB CRY ERROR NOSEPICK \
    HAUGHTY SLAP SPITBLOOD TOASTED GLANCE DULL INNOCENTSMILE JOYFUL WOW TRICK YEAH ENOUGH \
    TEARS EMBARRASSED KISS SMOOCH DROOL OBSESSED MONEY TEASE SHOWOFF COMFORT CLAP PRAISE \
    STRIVE XBLUSH SILENT WAVE WHAT FROWN SHY DIZZY LOOKDOWN CHUCKLE WAIL CRAZY WHIMPER HUG \
    BLUBBER WRONGED HUSKY SHHH SMUG ANGRY HAMMER SHOCKED TERROR PETRIFIED SKULL SWEAT \
    SPEECHLESS SLEEP DROWSY YAWN SICK PUKE BETRAYED HEADSET EatingFood MeMeMe Sigh Typing \
    Lemon Get LGTM OnIt OneSecond VRHeadset YouAreTheBest SALUTE SHAKE HIGHFIVE UPPERLEFT \
    ThumbsDown SLIGHT TONGUE EYESCLOSED RoarForYou CALF BEAR BULL RAINBOWPUKE ROSE HEART \
    PARTY LIPS BEER CAKE GIFT CUCUMBER Drumstick Pepper CANDIEDHAWS BubbleTea Coffee Yes \
    No OKR CheckMark CrossMark MinusOne Hundred AWESOMEN Pin Alarm Loudspeaker Trophy Fire \
    BOMB Music XmasTree Snowman XmasHat FIREWORKS 2022 REDPACKET FORTUNE LUCK FIRECRACKER \
    StickyRiceBalls HEARTBROKEN POOP StatusFlashOfInspiration 18X CLEAVER Soccer \
    Basketball GeneralDoNotDisturb Status_PrivateMessage GeneralInMeetingBusy \
    StatusReading StatusInFlight GeneralBusinessTrip GeneralWorkFromHome StatusEnjoyLife \
    GeneralTravellingCar StatusBus GeneralSun GeneralMoonRest MoonRabbit Mooncake \
    JubilantRabbit TV Movie Pumpkin BeamingFace Delighted ColdSweat FullMoonFace Partying \
    GoGoGo ThanksFace SaluteFace Shrug ClownFace HappyDragon";

/// Whether `e` is one of [`EMOJI_TYPES`] (exactly, case included).
pub fn is_emoji_type(e: &str) -> bool {
    EMOJI_TYPES.split_ascii_whitespace().any(|x| x == e)
}

const REACTION: u32 = 0x4C4B_0010;
/// Page tokens of a message's reactions and of its readers.
const REACTION_PAGES: u32 = 0x4C52_0001;
const READER_PAGES: u32 = 0x4C52_0002;
const DEFAULT_PAGE: u32 = 20;
const MAX_REACTION_PAGE: u32 = 50;
const MAX_READER_PAGE: u32 = 100;
/// Feishu answers read receipts for 7 days after a message is sent (230033 after).
pub const READ_USERS_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;

/// A reaction id as Feishu shows it: 16 opaque characters with a check.
pub fn reaction_id(id: ReactionId) -> String {
    encode_base62_16(id.0 as u64, REACTION)
}
pub fn parse_reaction_id(s: &str) -> Option<ReactionId> {
    decode_base62_16(s, REACTION)
        .and_then(|v| i64::try_from(v).ok())
        .filter(|v| *v > 0)
        .map(ReactionId)
}

fn emoji_type(ctx: &Ctx, raw: Option<&str>) -> Result<String, LarkError> {
    match raw {
        Some(e) if is_emoji_type(e) => Ok(e.to_string()),
        _ => Err(LarkError::code(
            ctx,
            error::REACTION_TYPE_INVALID,
            "reaction type is invalid.",
        )),
    }
}

#[derive(Serialize)]
struct Operator {
    operator_id: String,
    operator_type: &'static str,
}

#[derive(Serialize)]
struct Emoji {
    emoji_type: String,
}

/// A reaction as both faces show it.
#[derive(Serialize)]
pub struct ReactionOut {
    action_time: String,
    operator: Operator,
    reaction_id: String,
    reaction_type: Emoji,
}

fn reaction_out(r: &Reader, v: &ReactionView) -> ReactionOut {
    let (operator_id, _) = r.actor_id(v.reaction.actor, v.operator.as_ref());
    ReactionOut {
        action_time: v.reaction.created_at.to_string(),
        operator: Operator {
            operator_id,
            operator_type: match v.reaction.actor {
                Actor::App(_) => "app",
                Actor::User(_) => "user",
            },
        },
        reaction_id: reaction_id(v.reaction.id),
        reaction_type: Emoji {
            emoji_type: v.reaction.emoji.clone(),
        },
    }
}

fn open_id_reader(bot: &crate::auth::Caller) -> Reader<'_> {
    Reader {
        app: &bot.app,
        face: bot.ctx.face,
        id_type: IdType::OpenId,
    }
}

#[derive(Deserialize)]
pub struct AddBody {
    reaction_type: Option<EmojiIn>,
}

#[derive(Deserialize)]
pub struct EmojiIn {
    emoji_type: Option<String>,
}

/// `POST /open-apis/im/v1/messages/:message_id/reactions`, body `{reaction_type: {emoji_type}}`.
pub async fn add(
    State(s): State<LarkState>,
    bot: Scoped<WriteReactions>,
    MsgPath(id): MsgPath,
    LarkJson(b): LarkJson<AddBody>,
) -> Answer<op::AddReaction> {
    let emoji = b.reaction_type.and_then(|r| r.emoji_type);
    let emoji = emoji_type(&bot.ctx, emoji.as_deref())?;
    let v = s
        .core
        .add_reaction(bot.app.tenant, bot.actor(), id, &emoji)
        .await?;
    Ok(ok_typed(&bot.ctx, &reaction_out(&open_id_reader(&bot), &v)))
}

/// `:message_id/reactions/:reaction_id`.
pub struct ReactionPath(pub MessageId, pub ReactionId);

impl<S: Send + Sync> FromRequestParts<S> for ReactionPath {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_parts(parts);
        let Path((m, r)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| LarkError::invalid(&ctx, "invalid message_id"))?;
        let m = ids::parse_message_id(&m)
            .ok_or_else(|| LarkError::invalid(&ctx, "invalid message_id"))?;
        let r = parse_reaction_id(&r).ok_or_else(|| {
            LarkError::code(
                &ctx,
                error::REACTION_ID_INVALID,
                "The request has an invalid reaction_id.",
            )
        })?;
        Ok(ReactionPath(m, r))
    }
}

/// `DELETE /open-apis/im/v1/messages/:message_id/reactions/:reaction_id`: only the bot's
/// own reactions; answers the deleted reaction.
pub async fn delete(
    State(s): State<LarkState>,
    bot: Scoped<WriteReactions>,
    ReactionPath(id, reaction): ReactionPath,
) -> Answer<op::DeleteReaction> {
    let v = s
        .core
        .remove_reaction(bot.app.tenant, bot.actor(), id, reaction)
        .await?;
    Ok(ok_typed(&bot.ctx, &reaction_out(&open_id_reader(&bot), &v)))
}

#[derive(Deserialize)]
pub struct ListQuery {
    reaction_type: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
    user_id_type: Option<String>,
}

#[derive(Serialize)]
struct Page<T> {
    has_more: bool,
    items: Vec<T>,
    page_token: String,
}

/// `GET /open-apis/im/v1/messages/:message_id/reactions?reaction_type=&page_size=&page_token=&user_id_type=`:
/// oldest first, 20 a page by default, at most 50.
pub async fn list(
    State(s): State<LarkState>,
    bot: Scoped<ReadReactions>,
    MsgPath(id): MsgPath,
    LarkQuery(q): LarkQuery<ListQuery>,
) -> Answer<op::ListReactions> {
    let ctx = bot.ctx.clone();
    if IdType::parse(q.user_id_type.as_deref()).is_none() {
        return Err(LarkError::code(
            &ctx,
            error::REACTION_USER_ID_TYPE_INVALID,
            "user_id_type is invalid.",
        )
        .into());
    }
    let r = messages::reader(&s, &bot, q.user_id_type.as_deref())?;
    let emoji = match q.reaction_type.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(emoji_type(&ctx, Some(e))?),
        None => None,
    };
    let size = page_size(q.page_size.as_deref(), DEFAULT_PAGE, MAX_REACTION_PAGE)
        .ok_or_else(|| LarkError::invalid(&ctx, "page_size must be an integer from 1 to 50"))?;
    let domain = token::domain(REACTION_PAGES, id.0);
    let after = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => token::open(domain, t)
            .and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| {
                LarkError::code(
                    &ctx,
                    error::REACTION_PAGE_TOKEN_INVALID,
                    "The request has an invalid pageToken.",
                )
            })?,
    };
    let page = s
        .core
        .reactions(ReactionQuery {
            tenant: bot.app.tenant,
            access: bot.access(),
            message: id,
            emoji,
            after,
            limit: size,
        })
        .await?;
    let items = page.items.iter().map(|v| reaction_out(&r, v)).collect();
    Ok(ok_typed(
        &ctx,
        &Page {
            has_more: page.next_after.is_some(),
            items,
            page_token: page
                .next_after
                .map(|a| token::seal(domain, a as u64))
                .unwrap_or_default(),
        },
    ))
}

#[derive(Deserialize)]
pub struct ReadUsersQuery {
    user_id_type: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

#[derive(Serialize)]
struct ReadUserOut {
    tenant_key: String,
    timestamp: String,
    user_id: String,
    user_id_type: &'static str,
}

/// `GET /open-apis/im/v1/messages/:message_id/read_users?user_id_type=&page_size=&page_token=`:
/// the users who have read the bot's own message (230012 for another's), for 7 days
/// after it was sent (230033 after). `user_id_type` is required, as Feishu documents.
pub async fn read_users(
    State(s): State<LarkState>,
    bot: Scoped<ReadReceipts>,
    MsgPath(id): MsgPath,
    LarkQuery(q): LarkQuery<ReadUsersQuery>,
) -> Answer<op::ReadUsers> {
    let ctx = bot.ctx.clone();
    if q.user_id_type.as_deref().is_none_or(str::is_empty) {
        return Err(LarkError::invalid(&ctx, "user_id_type is required").into());
    }
    let r = messages::reader(&s, &bot, q.user_id_type.as_deref())?;
    let size = page_size(q.page_size.as_deref(), DEFAULT_PAGE, MAX_READER_PAGE)
        .ok_or_else(|| LarkError::invalid(&ctx, "page_size must be an integer from 1 to 100"))?;
    let domain = token::domain(READER_PAGES, id.0);
    let after = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => token::open(domain, t)
            .and_then(|v| i64::try_from(v).ok())
            .ok_or_else(|| LarkError::invalid(&ctx, "invalid page_token"))?,
    };
    let page = s
        .core
        .read_users(bot.app.tenant, bot.access(), id, after, size)
        .await?;
    if s.core.now_ms() - page.message.created_at > READ_USERS_WINDOW_MS {
        return Err(LarkError::code(
            &ctx,
            error::READ_WINDOW_PASSED,
            "Get the reading status must be done within 7 days after the message is sent.",
        )
        .into());
    }
    let tenant_key = ids::tenant_key(bot.app.tenant);
    let items: Vec<ReadUserOut> = page
        .items
        .iter()
        .map(|x| {
            let party = x.party.as_ref();
            let (user_id, user_id_type) = r.actor_id(x.mark.actor, party);
            ReadUserOut {
                tenant_key: match party {
                    Some(Party::User(u)) => ids::tenant_key(u.tenant),
                    _ => tenant_key.clone(),
                },
                timestamp: x.mark.at.to_string(),
                user_id,
                user_id_type,
            }
        })
        .collect();
    Ok(ok_typed(
        &ctx,
        &Page {
            has_more: page.next_after.is_some(),
            items,
            page_token: page
                .next_after
                .map(|a| token::seal(domain, a as u64))
                .unwrap_or_default(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reaction_ids_round_trip_and_reject_typos() {
        let id = ReactionId(42);
        let s = reaction_id(id);
        assert_eq!(s.len(), 16);
        assert_eq!(parse_reaction_id(&s), Some(id));
        let mut typo = s.clone().into_bytes();
        typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
        assert_eq!(parse_reaction_id(std::str::from_utf8(&typo).unwrap()), None);
        assert_eq!(parse_reaction_id("SMILE"), None);
    }

    #[test]
    fn reaction_pin_and_receipt_refusals_read_as_feishu_answers_them() {
        use crate::error::{table, Op};
        use switchboard_core::error::{Conflict, Denied, Entity, Error};
        use switchboard_core::model::RemovalKind;
        let code = |op, e: Error| table(Some(op), &e).1;
        let outsider = || Error::Forbidden(Denied::NotMember);
        let recalled = || Error::Conflict(Conflict::MessageRemoved(RemovalKind::Recalled));
        assert_eq!(code(Op::AddReaction, outsider()), 231002);
        assert_eq!(code(Op::DeleteReaction, outsider()), 231002);
        assert_eq!(code(Op::ListReactions, outsider()), 231008);
        assert_eq!(code(Op::AddReaction, recalled()), 231003);
        assert_eq!(code(Op::AddReaction, Error::NotFound(Entity::Chat)), 231003);
        assert_eq!(
            code(Op::AddReaction, Error::Conflict(Conflict::ChatDissolved)),
            231004
        );
        assert_eq!(
            code(Op::AddReaction, Error::Conflict(Conflict::WrongMessageType)),
            231002
        );
        assert_eq!(
            code(Op::DeleteReaction, Error::Forbidden(Denied::NotSender)),
            231007
        );
        assert_eq!(
            code(Op::DeleteReaction, Error::invalid("message_id", "x")),
            231010
        );
        assert_eq!(
            code(Op::DeleteReaction, Error::invalid("reaction_id", "x")),
            231011
        );
        assert_eq!(
            code(Op::AddReaction, Error::invalid("reaction_type", "x")),
            231001
        );
        // Pins answer as the message endpoints do, but for a gone chat.
        assert_eq!(code(Op::Pin, outsider()), 230002);
        assert_eq!(code(Op::Pin, recalled()), 230011);
        assert_eq!(code(Op::Pin, Error::NotFound(Entity::Chat)), 230001);
        assert_eq!(code(Op::ListPins, Error::NotFound(Entity::Chat)), 230045);
        assert_eq!(
            code(Op::Unpin, Error::Conflict(Conflict::ChatDissolved)),
            230045
        );
        assert_eq!(
            code(Op::ReadUsers, Error::Forbidden(Denied::NotSender)),
            230012
        );
        assert_eq!(code(Op::ReadUsers, outsider()), 230002);
    }

    #[test]
    fn the_emoji_list_is_feishus() {
        let all: Vec<&str> = EMOJI_TYPES.split_ascii_whitespace().collect();
        assert_eq!(all.len(), 182);
        for e in [
            "SMILE",
            "THUMBSUP",
            "OK",
            "2022",
            "HappyDragon",
            "EatingFood",
        ] {
            assert!(is_emoji_type(e), "{e}");
        }
        for e in ["smile", "SMILE THUMBSUP", "", "SMIL"] {
            assert!(!is_emoji_type(e), "{e:?}");
        }
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "no duplicates");
    }
}
