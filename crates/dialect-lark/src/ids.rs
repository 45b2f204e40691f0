//! How Hi and Feishu render Switchboard ids (both faces share them).
//!
//! - `message_id`: `om_` + 32 hex; `chat_id`: `oc_` + 32 hex; `thread_id`: `omt_` + 32 hex.
//! - `open_id`: `ou_` + 32 hex, per (user, app): the same user has a different open_id in
//!   every app, and decoding needs the app, so one app's open_id is meaningless to another.
//! - `union_id`: `on_` + 32 hex, per user (stable across the tenant's apps).
//! - `user_id`: the user's tenant-wide `user_id`.
//! - `tenant_key`: 20 hex characters.
//!
//! All are reversible without a lookup table and carry a check, so a mistyped id is
//! rejected as malformed (230001) instead of naming another resource.

use switchboard_core::ids::{
    decode_hex128, mix64, prefixed_hex128, push_hex, unmix64, AppId, ChatId, MessageId, TenantId,
    UserId,
};

const MSG: u32 = 0x4C4B_0001;
const CHAT: u32 = 0x4C4B_0002;
const THREAD: u32 = 0x4C4B_0003;
const OPEN: u32 = 0x4C4B_0004;
const UNION: u32 = 0x4C4B_0005;
const TENANT: u32 = 0x4C4B_0006;

fn open_domain(app: AppId) -> u32 {
    OPEN ^ (app.0 as u32).wrapping_mul(0x9E37_79B1)
}

fn decode(s: &str, prefix: &str, domain: u32) -> Option<i64> {
    s.strip_prefix(prefix)
        .and_then(|h| decode_hex128(h, domain))
        .and_then(|v| i64::try_from(v).ok())
        .filter(|v| *v > 0)
}

/// What every app id starts with, as Feishu's do (`cli_…`): mentions and member lists tell
/// app ids from user ids by it, so the server has the domain generate them so.
pub const APP_ID_PREFIX: &str = "cli_";

pub fn message_id(m: MessageId) -> String {
    prefixed_hex128("om_", m.0 as u64, MSG)
}
pub fn parse_message_id(s: &str) -> Option<MessageId> {
    decode(s, "om_", MSG).and_then(MessageId::from_raw)
}

pub fn chat_id(c: ChatId) -> String {
    prefixed_hex128("oc_", c.0 as u64, CHAT)
}
pub fn parse_chat_id(s: &str) -> Option<ChatId> {
    decode(s, "oc_", CHAT)
        .filter(|v| *v <= switchboard_core::ids::MAX_CHAT_ID)
        .map(ChatId)
}

/// A thread is named after its root message.
pub fn thread_id(root: MessageId) -> String {
    prefixed_hex128("omt_", root.0 as u64, THREAD)
}
pub fn parse_thread_id(s: &str) -> Option<MessageId> {
    decode(s, "omt_", THREAD).and_then(MessageId::from_raw)
}

pub fn open_id(user: UserId, app: AppId) -> String {
    prefixed_hex128("ou_", user.0 as u64, open_domain(app))
}
/// Decodes an open_id as seen by `app`; another app's open_id does not decode.
pub fn parse_open_id(s: &str, app: AppId) -> Option<UserId> {
    decode(s, "ou_", open_domain(app)).map(UserId)
}

pub fn union_id(user: UserId) -> String {
    prefixed_hex128("on_", user.0 as u64, UNION)
}
pub fn parse_union_id(s: &str) -> Option<UserId> {
    decode(s, "on_", UNION).map(UserId)
}

pub fn tenant_key(t: TenantId) -> String {
    let mixed = mix64(t.0 as u64, TENANT);
    let check = switchboard_core::ids::check32(t.0 as u64, TENANT) & 0xFFFF;
    let mut out = String::with_capacity(20);
    push_hex(&mut out, mixed, 16);
    push_hex(&mut out, check as u64, 4);
    out
}
pub fn parse_tenant_key(s: &str) -> Option<TenantId> {
    if s.len() != 20
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let v = unmix64(u64::from_str_radix(&s[..16], 16).ok()?, TENANT);
    let check = u32::from_str_radix(&s[16..], 16).ok()?;
    ((switchboard_core::ids::check32(v, TENANT) & 0xFFFF) == check)
        .then_some(v as i64)
        .filter(|v| *v > 0)
        .map(TenantId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shapes() {
        let m = MessageId::timeline(ChatId(3), 9).unwrap();
        let s = message_id(m);
        assert!(s.starts_with("om_") && s.len() == 35);
        assert_eq!(parse_message_id(&s), Some(m));
        assert_eq!(parse_chat_id(&chat_id(ChatId(3))), Some(ChatId(3)));
        assert_eq!(
            parse_message_id(&chat_id(ChatId(3)).replace("oc_", "om_")),
            None,
            "domains differ"
        );
        assert_eq!(parse_thread_id(&thread_id(m)), Some(m));
        let o = open_id(UserId(5), AppId(1));
        assert_eq!(parse_open_id(&o, AppId(1)), Some(UserId(5)));
        assert_eq!(parse_open_id(&o, AppId(2)), None, "open ids are per app");
        assert_ne!(open_id(UserId(5), AppId(2)), o);
        assert_eq!(parse_union_id(&union_id(UserId(5))), Some(UserId(5)));
        assert_eq!(
            parse_tenant_key(&tenant_key(TenantId(77))),
            Some(TenantId(77))
        );
        assert_eq!(tenant_key(TenantId(77)).len(), 20);
        assert_eq!(
            parse_message_id("om_dc13264520caf2c2b7e8e4bd4e96f8a0"),
            None
        );
    }
}
