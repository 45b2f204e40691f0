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

    /// For team conversations, the team's chat id.
    pub fn team(&self) -> Option<ChatId> {
        if self.kind == ChatKind::P2p {
            return None;
        }
        parse_team_id(&self.other).ok()
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

/// A team id as written in a conversation id or a request: a positive Long that names a
/// possible chat.
pub fn parse_team_id(s: &str) -> Result<ChatId, String> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("team id {s:?} is not a Long"));
    }
    match s.parse::<i64>() {
        Ok(v) if (1..=switchboard_core::ids::MAX_CHAT_ID).contains(&v) => Ok(ChatId(v)),
        _ => Err(format!("team id {s} is out of range")),
    }
}

/// A `message_server_id` path segment: `Err` when it is not a Long at all, `Ok(None)` when
/// it is a Long that cannot name any message (so: not found).
pub fn parse_message_server_id(s: &str) -> Result<Option<MessageId>, String> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("message_server_id {s:?} is not a Long"));
    }
    Ok(s.parse::<i64>().ok().and_then(MessageId::from_raw))
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
        assert_eq!(parse_team_id("7491025"), Ok(ChatId(7491025)));
        assert!(parse_team_id("-1").is_err());
        assert!(parse_team_id("0").is_err());
        assert!(parse_team_id("1e3").is_err());
        assert!(parse_team_id("99999999999").is_err());
        let m = MessageId::timeline(ChatId(9), 3).unwrap();
        assert_eq!(parse_message_server_id(&m.get().to_string()), Ok(Some(m)));
        assert_eq!(parse_message_server_id("12"), Ok(None));
        assert!(parse_message_server_id("abc").is_err());
        assert!(parse_message_server_id("-5").is_err());
        assert!(parse_message_server_id("99999999999999999999").is_err());
    }
}
