//! How Yunxin renders Switchboard ids.
//!
//! - `message_server_id`: the canonical message id itself (a Long).
//! - `team_id`: the canonical chat id of a group (advanced team) or super group (super team).
//! - accounts: the user's `account_id`; an app appears under its `app_id`.
//! - conversation ids: `owner|1|other` (p2p), `owner|2|team_id`, `owner|3|team_id`.
//! - page tokens (`page_token` / `next_token`): base62, opaque and tamper-evident (a check
//!   value), each valid only for the conversation, team or account it was minted for and,
//!   where the list has an order, for that order.

use switchboard_core::ids::{decode_base62_16, encode_base62_16, AppId, ChatId, MessageId, UserId};
use switchboard_core::model::{Actor, ChatKind};

const HISTORY_DOMAIN: u32 = 0x5958_4801;
const MEMBER_TIME_DOMAIN: u32 = 0x5958_4d01;
const MEMBER_ACTOR_DOMAIN: u32 = 0x5958_4d02;
const JOINED_DOMAIN: u32 = 0x5958_4a01;
/// Bit 31 of a history token's low word: the token was minted for a descending list.
const DESC_BIT: u64 = 1 << 31;

pub fn message_server_id(m: MessageId) -> i64 {
    m.0
}

pub fn team_id(c: ChatId) -> i64 {
    c.0
}

/// Yunxin's conversation type number for a chat kind.
pub fn conversation_type(kind: ChatKind) -> i64 {
    match kind {
        ChatKind::P2p => 1,
        ChatKind::Group => 2,
        ChatKind::SuperGroup => 3,
    }
}

/// A parsed `owner|type|other` conversation id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationId {
    pub owner: String,
    pub kind: ChatKind,
    /// The peer's account (p2p) or the team id (groups), as written.
    pub other: String,
}

impl ConversationId {
    pub fn render(&self) -> String {
        format!(
            "{}|{}|{}",
            self.owner,
            conversation_type(self.kind),
            self.other
        )
    }

    /// Parses a conversation id whose `|` separators are already decoded.
    pub fn parse(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('|').collect();
        let [owner, kind, other] = parts.as_slice() else {
            return Err(format!(
                "conversation_id must be owner|type|other, got {} part(s)",
                parts.len()
            ));
        };
        if owner.is_empty() || other.is_empty() {
            return Err("conversation_id has an empty owner or target".into());
        }
        let kind = match *kind {
            "1" => ChatKind::P2p,
            "2" => ChatKind::Group,
            "3" => ChatKind::SuperGroup,
            other => return Err(format!("conversation type {other:?} is not 1, 2 or 3")),
        };
        Ok(ConversationId {
            owner: owner.to_string(),
            kind,
            other: other.to_string(),
        })
    }

    /// For team conversations, the team's chat id; `None` for p2p, for a team id that is
    /// not a Long, and for a Long that names no possible chat.
    pub fn team(&self) -> Option<ChatId> {
        if self.kind == ChatKind::P2p {
            return None;
        }
        parse_team_id(&self.other).ok().flatten()
    }
}

/// Yunxin's name for a conversation type, for error messages.
pub fn conversation_type_name(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::P2p => "p2p",
        ChatKind::Group => "advanced team",
        ChatKind::SuperGroup => "super team",
    }
}

/// A Java `Long` as written: digits with an optional leading `-`, within
/// -2^63..=2^63-1. The vendor's ids are Longs, so every Long is a well-formed id; whether it
/// names anything is a separate question (not found, never a parameter error).
pub fn parse_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The chat a team id (a Long) names, if it can name one: team ids are canonical chat ids,
/// positive and at most `MAX_CHAT_ID`, so any other Long is a team that does not exist.
pub fn team_of_long(v: i64) -> Option<ChatId> {
    (1..=switchboard_core::ids::MAX_CHAT_ID)
        .contains(&v)
        .then_some(ChatId(v))
}

/// A team id as written in a conversation id or a request: `Err` when it is not a Long,
/// `Ok(None)` when it is a Long that names no possible team (so: the team does not exist).
pub fn parse_team_id(s: &str) -> Result<Option<ChatId>, String> {
    parse_long(s)
        .map(team_of_long)
        .ok_or_else(|| format!("team id {s:?} is not a Long"))
}

/// A `message_server_id` path segment: `Err` when it is not a Long at all, `Ok(None)` when
/// it is a Long that cannot name any message (so: not found).
pub fn parse_message_server_id(s: &str) -> Result<Option<MessageId>, String> {
    parse_long(s)
        .map(MessageId::from_raw)
        .ok_or_else(|| format!("message_server_id {s:?} is not a Long"))
}

/// The history cursor after (ascending) or before (descending) timeline `position` of
/// `chat`: 16 base62 characters.
pub fn history_token(chat: ChatId, position: i64, descending: bool) -> String {
    let dir = if descending { DESC_BIT } else { 0 };
    encode_base62_16(
        ((chat.0 as u64) << 32) | dir | (position as u64 & 0x7FFF_FFFF),
        HISTORY_DOMAIN,
    )
}

/// The position a [`history_token`] continues from; `None` when malformed, minted for
/// another chat or for the other order.
pub fn parse_history_token(s: &str, chat: ChatId, descending: bool) -> Option<i64> {
    let v = decode_base62_16(s, HISTORY_DOMAIN)?;
    let dir = if descending { DESC_BIT } else { 0 };
    ((v >> 32) as i64 == chat.0 && v & DESC_BIT == dir).then_some((v & 0x7FFF_FFFF) as i64)
}

/// Where a team's member list stops: the last member served, by join time and party.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberCursor {
    pub joined_at: i64,
    pub actor: Actor,
}

fn actor_bits(a: Actor) -> u64 {
    match a {
        Actor::User(u) => u.0 as u64,
        Actor::App(x) => (1 << 63) | x.0 as u64,
    }
}

fn actor_of_bits(v: u64) -> Option<Actor> {
    let id = (v & !(3 << 62)) as i64;
    if id <= 0 {
        return None;
    }
    Some(if v >> 63 == 1 {
        Actor::App(AppId(id))
    } else {
        Actor::User(UserId(id))
    })
}

/// A member list's cursor for `team`: 32 base62 characters, two checked halves bound to
/// the team and the order.
pub fn member_token(team: ChatId, c: MemberCursor, descending: bool) -> String {
    let d = team.0 as u32;
    let dir = if descending { 1 << 62 } else { 0 };
    let mut s = encode_base62_16(c.joined_at as u64, MEMBER_TIME_DOMAIN ^ d);
    s.push_str(&encode_base62_16(
        actor_bits(c.actor) | dir,
        MEMBER_ACTOR_DOMAIN ^ d,
    ));
    s
}

/// Inverse of [`member_token`]; `None` when malformed or minted for another team or order.
pub fn parse_member_token(s: &str, team: ChatId, descending: bool) -> Option<MemberCursor> {
    if s.len() != 32 || !s.is_ascii() {
        return None;
    }
    let d = team.0 as u32;
    let joined_at = decode_base62_16(&s[..16], MEMBER_TIME_DOMAIN ^ d)?;
    let bits = decode_base62_16(&s[16..], MEMBER_ACTOR_DOMAIN ^ d)?;
    if (bits >> 62) & 1 != u64::from(descending) {
        return None;
    }
    Some(MemberCursor {
        joined_at: i64::try_from(joined_at).ok()?,
        actor: actor_of_bits(bits)?,
    })
}

fn joined_domain(account: Actor) -> u32 {
    let b = actor_bits(account);
    JOINED_DOMAIN ^ (b as u32) ^ ((b >> 32) as u32)
}

/// The cursor of an account's team list after team `last`: 16 base62 characters bound to
/// the account.
pub fn joined_token(account: Actor, last: ChatId) -> String {
    encode_base62_16(last.0 as u64, joined_domain(account))
}

/// Inverse of [`joined_token`]; `None` when malformed or minted for another account.
pub fn parse_joined_token(s: &str, account: Actor) -> Option<ChatId> {
    let v = decode_base62_16(s, joined_domain(account))?;
    i64::try_from(v).ok().and_then(team_of_long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_bound_to_what_they_page() {
        let t = history_token(ChatId(9), 40, false);
        assert_eq!(t.len(), 16);
        assert_eq!(parse_history_token(&t, ChatId(9), false), Some(40));
        assert_eq!(parse_history_token(&t, ChatId(10), false), None);
        assert_eq!(parse_history_token(&t, ChatId(9), true), None);
        let d = history_token(ChatId(9), 40, true);
        assert_eq!(parse_history_token(&d, ChatId(9), true), Some(40));
        assert_eq!(parse_history_token("garbage", ChatId(9), false), None);
        assert_eq!(parse_history_token("", ChatId(9), false), None);
        let mut bent = t.clone().into_bytes();
        bent[3] = if bent[3] == b'a' { b'b' } else { b'a' };
        let bent = String::from_utf8(bent).unwrap();
        assert_eq!(parse_history_token(&bent, ChatId(9), false), None);

        let c = MemberCursor {
            joined_at: 1_698_752_272_248,
            actor: Actor::App(AppId(77)),
        };
        let m = member_token(ChatId(5), c, false);
        assert_eq!(m.len(), 32);
        assert_eq!(parse_member_token(&m, ChatId(5), false), Some(c));
        assert_eq!(parse_member_token(&m, ChatId(6), false), None);
        assert_eq!(parse_member_token(&m, ChatId(5), true), None);
        let u = MemberCursor {
            joined_at: 3,
            actor: Actor::User(UserId(12)),
        };
        assert_eq!(
            parse_member_token(&member_token(ChatId(5), u, true), ChatId(5), true),
            Some(u)
        );
        assert_eq!(
            parse_member_token("é".repeat(16).as_str(), ChatId(5), false),
            None
        );
        assert_eq!(parse_member_token(&t, ChatId(9), false), None);

        let alice = Actor::User(UserId(3));
        let j = joined_token(alice, ChatId(41));
        assert_eq!(parse_joined_token(&j, alice), Some(ChatId(41)));
        assert_eq!(parse_joined_token(&j, Actor::User(UserId(4))), None);
        assert_eq!(parse_joined_token(&j, Actor::App(AppId(3))), None);
        assert_eq!(parse_joined_token(&t, alice), None);
    }

    #[test]
    fn conversation_ids() {
        let c = ConversationId::parse("Accid1|1|Accid2").unwrap();
        assert_eq!((c.kind, c.other.as_str()), (ChatKind::P2p, "Accid2"));
        assert_eq!(c.render(), "Accid1|1|Accid2");
        assert_eq!(
            ConversationId::parse("a|3|7491025").unwrap().team(),
            Some(ChatId(7491025))
        );
        assert!(ConversationId::parse("a|4|b").is_err());
        assert!(ConversationId::parse("a|1").is_err());
        assert!(ConversationId::parse("|1|b").is_err());
        assert_eq!(ConversationId::parse("a|2|x").unwrap().team(), None);
        assert_eq!(ConversationId::parse("a|2|0").unwrap().team(), None);
        assert!(ConversationId::parse("a|1|b|c").is_err());
        assert!(ConversationId::parse("a|02|b").is_err());
    }

    #[test]
    fn team_and_message_ids() {
        assert_eq!(parse_team_id("7491025"), Ok(Some(ChatId(7491025))));
        // Every Java Long is a well-formed team id; those beyond the chat id range (or not
        // positive) name no team.
        for nothing in [
            "7000825398",
            "4294967296",
            "9223372036854775807",
            "-9223372036854775808",
            "-1",
            "0",
        ] {
            assert_eq!(parse_team_id(nothing), Ok(None), "{nothing}");
        }
        assert!(parse_team_id("1e3").is_err());
        assert!(parse_team_id("9223372036854775808").is_err());
        assert!(parse_team_id("").is_err());
        assert!(parse_team_id("-").is_err());
        assert!(parse_team_id("+1").is_err());
        let m = MessageId::timeline(ChatId(9), 3).unwrap();
        assert_eq!(parse_message_server_id(&m.get().to_string()), Ok(Some(m)));
        assert_eq!(parse_message_server_id("12"), Ok(None));
        assert_eq!(parse_message_server_id("-5"), Ok(None));
        assert_eq!(parse_message_server_id("-9223372036854775808"), Ok(None));
        assert!(parse_message_server_id("9223372036854775807").is_ok());
        assert!(parse_message_server_id("abc").is_err());
        assert!(parse_message_server_id("99999999999999999999").is_err());
        assert_eq!(
            ConversationId::parse("a|2|7000825398").unwrap().team(),
            None
        );
    }
}
