//! How Yunxin renders Switchboard ids.
//!
//! - `message_server_id`: the canonical message id itself (a Long).
//! - `team_id`: the canonical chat id of a group (advanced team) or super group (super team).
//! - accounts: the user's `account_id`; an app appears under its `app_id`.
//! - conversation ids: `owner|1|other` (p2p), `owner|2|team_id`, `owner|3|team_id`.

use switchboard_core::ids::{ChatId, MessageId};
use switchboard_core::model::ChatKind;

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

#[cfg(test)]
mod tests {
    use super::*;

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
