//! Vendor content JSON ↔ canonical content.
//!
//! Incoming: `msg_type` + the `content` JSON string become a canonical
//! [`Content`](switchboard_core::model::Content) whose `data` follows
//! `switchboard_core::content`, whose `original` keeps the vendor JSON as received (tag
//! `"lark"`), and the message's [`Mention`](switchboard_core::model::Mention)s.
//!
//! Outgoing: a message whose original is ours is echoed from that original (with `at`
//! nodes rewritten, see below); anything else is rendered from canonical `data`/`text`.
//! Mentions read the way Feishu shows them: `@_user_N` placeholders in text and `at` nodes,
//! with the ids in `mentions[]` (open_ids are per app, so the ids a sender wrote are
//! meaningless to another reader). The Hi face writes `@name` in the text and lists the ids
//! in `atIdList` (`"-1"` for @all), as in its documented example.
//!
//! - this file: [`FORMAT`], the `msg_type` names both ways, and the `<at …>` scanner both
//!   directions use;
//! - `incoming`: a request's `msg_type` and `content` parsed, its mentions resolved
//!   ([`incoming()`], [`Incoming`]);
//! - `outgoing`: `body.content` as a reader sees it ([`outgoing()`], [`ReadMentions`]);
//!   posts from canonical rich text are written by a typed serialiser (`post_string`),
//!   held byte for byte to the `Value`-tree form it replaces (`tests`). The other types
//!   are small trees, so there is no separate tree renderer as in WPS.

mod incoming;
mod outgoing;
#[cfg(test)]
mod tests;

pub use incoming::{incoming, Incoming};
pub use outgoing::{outgoing, recalled, ReadMentions, MERGE_FORWARD_BODY, RECALLED_TEXT};

use crate::face::Face;
use switchboard_core::model::MessageType;

/// The tag this dialect's originals carry.
pub const FORMAT: &str = "lark";

/// A vendor `msg_type` as the canonical type (both faces' spellings are accepted).
pub fn parse_msg_type(s: &str) -> Option<MessageType> {
    Some(match s {
        "text" => MessageType::Text,
        "post" | "rich_text" => MessageType::RichText,
        "image" => MessageType::Image,
        "file" => MessageType::File,
        "audio" => MessageType::Audio,
        "media" => MessageType::Video,
        "sticker" => MessageType::Sticker,
        "interactive" | "compressive_card" | "system_card" => MessageType::Card,
        "share_chat" => MessageType::ShareChat,
        "share_user" => MessageType::ShareUser,
        _ => return None,
    })
}

/// The `msg_type` a face shows for a canonical type. Types Feishu has no name for are shown
/// as `text` with their plain rendition.
pub fn msg_type(face: Face, kind: MessageType) -> &'static str {
    match (face, kind) {
        (Face::Hi, MessageType::RichText) => "rich_text",
        (Face::Feishu, MessageType::RichText) => "post",
        (Face::Hi, MessageType::Card) => "compressive_card",
        (Face::Feishu, MessageType::Card) => "interactive",
        (_, MessageType::Text) => "text",
        (_, MessageType::Image) => "image",
        (_, MessageType::File) => "file",
        (_, MessageType::Audio) => "audio",
        (_, MessageType::Video) => "media",
        (_, MessageType::Sticker) => "sticker",
        (_, MessageType::MergeForward) => "merge_forward",
        (_, MessageType::ShareChat) => "share_chat",
        (_, MessageType::ShareUser) => "share_user",
        (_, MessageType::Location) => "location",
        (_, MessageType::System) => "system",
        (_, _) => "text",
    }
}

/// One piece of text around `<at …>name</at>` markup.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(String),
    At { id: String, name: String },
}

/// Splits text on `<at ATTR="ID">name</at>` tags, ATTR being `user_id`, `id`, `open_id`,
/// `union_id` (Feishu's spelling and our canonical one). Malformed tags stay literal.
pub fn scan_at(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<at ") {
        lit.push_str(&rest[..start]);
        let tail = &rest[start..];
        let parsed = tail.find('>').and_then(|gt| {
            let attrs = &tail[4..gt];
            let after = &tail[gt + 1..];
            let end = after.find("</at>")?;
            let id = attr(attrs, &["user_id", "id", "open_id", "union_id"])?;
            Some((id, after[..end].to_string(), gt + 1 + end + 5))
        });
        match parsed {
            Some((id, name, used)) => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::At { id, name });
                rest = &tail[used..];
            }
            None => {
                lit.push_str("<at ");
                rest = &tail[4..];
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

fn attr(attrs: &str, names: &[&str]) -> Option<String> {
    let mut s = attrs.trim();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        let v = s[eq + 1..].trim_start();
        let q = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let close = v[1..].find(q)?;
        let value = &v[1..1 + close];
        if names.contains(&key) {
            return Some(value.to_string());
        }
        s = v[close + 2..].trim_start();
    }
    None
}
