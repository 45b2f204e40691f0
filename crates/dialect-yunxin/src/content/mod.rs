//! Yunxin message content <-> canonical content.
//!
//! Incoming: the request's `message` object becomes canonical `data` per
//! `switchboard_core::content`, and the object itself (with the request's `extension`) is
//! kept verbatim as `original` under the tag [`FORMAT`]. Outgoing: a message whose original is
//! ours echoes it; any other is rendered from canonical data (see [`outgoing()`]).
//!
//! Yunxin has no inline mention syntax: a mention is `@name` in the text plus the account in
//! `push_config.push_forcepush_ids` (or `push_forcepush_all`). Incoming, each force-pushed
//! account's first `@name` (or `@account_id`) becomes `<at id="N">name</at>`; outgoing,
//! every `<at id="N">name</at>` becomes `@name`.
//!
//! - this file: [`FORMAT`] and the `message_type` numbers both ways;
//! - `incoming`: a `message` object validated and converted ([`incoming()`]) into a
//!   [`Draft`], the limits a sent message must keep, and `@name` marked up
//!   ([`mark_mentions`]). [`Draft`] plays the role of Lark's `content::Incoming` (type,
//!   content, mentions); WPS's `content::Incoming` becomes that crate's `Draft` once its
//!   mentions are resolved;
//! - `outgoing`: content as a reader sees it ([`outgoing()`], [`Rendered`]). Yunxin content is
//!   small, so it has no typed serialisers and no separate tree renderer as in WPS.

mod incoming;
mod outgoing;
#[cfg(test)]
mod tests;

pub use incoming::{
    extension_text, incoming, mark_mentions, Draft, MentionRef, WireMessage, CLIENT_TYPE_REST,
    MAX_DESCRIPTION, MAX_EXTENSION, MAX_TEXT,
};
pub use outgoing::{file_url, outgoing, unmark_mentions, Rendered, FILE_URL_PREFIX};

use switchboard_core::model::MessageType;

/// The `original.format` tag of content received through this dialect.
pub const FORMAT: &str = "yunxin";

/// Yunxin's `message_type` number for a canonical type. Types Yunxin lacks become custom
/// (100) messages.
pub fn type_number(kind: MessageType) -> i64 {
    match kind {
        MessageType::Text | MessageType::RichText => 0,
        MessageType::Image | MessageType::Sticker => 1,
        MessageType::Audio => 2,
        MessageType::Video => 3,
        MessageType::Location => 4,
        MessageType::Notification => 5,
        MessageType::File => 6,
        MessageType::Tip => 10,
        MessageType::Robot => 11,
        MessageType::Custom
        | MessageType::Card
        | MessageType::MergeForward
        | MessageType::ShareChat
        | MessageType::ShareUser
        | MessageType::Vote
        | MessageType::Calendar
        | MessageType::Meeting
        | MessageType::System => 100,
    }
}

/// The canonical type of a Yunxin `message_type`.
pub fn kind_of(n: i64) -> Option<MessageType> {
    Some(match n {
        0 => MessageType::Text,
        1 => MessageType::Image,
        2 => MessageType::Audio,
        3 => MessageType::Video,
        4 => MessageType::Location,
        5 => MessageType::Notification,
        6 => MessageType::File,
        10 => MessageType::Tip,
        11 => MessageType::Robot,
        100 => MessageType::Custom,
        _ => return None,
    })
}
