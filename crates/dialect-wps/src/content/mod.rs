//! WPS message content <-> canonical content (`switchboard_core::content`).
//!
//! Incoming content is validated against the WPS schema of its type, converted to the
//! canonical `data`, and kept verbatim in `original` (format [`FORMAT`]) so that WPS clients
//! read back exactly what they sent. Content sent through another face is rendered from
//! the canonical `data`.
//!
//! Schemas: <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/message-content-description.html>
//!
//! - `incoming`: a request's `content` validated and converted ([`incoming()`], [`Incoming`]),
//!   the sendable types and the mentions a request names;
//! - `outgoing`: content as a reader sees it ([`outgoing()`]), written by the typed
//!   serialisers of [`ContentOut`] for the types most read;
//! - `tree`: the `Value`-tree renderer for every other type, and the form the typed
//!   serialisers are held to byte for byte (`tests`).

mod incoming;
mod outgoing;
#[cfg(test)]
mod tests;
mod tree;

pub use incoming::{
    at_tags, incoming, sendable_type, Incoming, WireIdentity, WireMention, REPLYABLE, SENDABLE,
};
pub use outgoing::{outgoing, rekey_at_tags, ContentOut, MentionLook};

use serde_json::{json, Map, Value};

/// The `original.format` tag of content received through this dialect.
pub const FORMAT: &str = "wps";

// Map helpers shared by `incoming` (canonical `extra`) and `tree` (the WPS maps): an empty
// string or an absent number leaves its key out.

fn put_str(extra: &mut Map<String, Value>, key: &str, v: String) {
    if !v.is_empty() {
        extra.insert(key.into(), Value::String(v));
    }
}

fn put_int(extra: &mut Map<String, Value>, key: &str, v: Option<i64>) {
    if let Some(n) = v {
        extra.insert(key.into(), json!(n));
    }
}
