//! How WPS renders Switchboard ids.
//!
//! - `company_id`: the tenant's canonical id, as a decimal string.
//! - `chat_id`: the chat's canonical id, as a decimal string (the documented example is numeric).
//! - message `id`: 16 base62 characters, like the documented example's `Q3iOi5TYS6tBSgS1`, reversible.
//! - user `id`: the user's tenant-wide `user_id`.
//! - `spid` (an app's service principal id): a decimal string distinct from `app_id`.
//! - history `page_token`: 16 base62 characters naming a chat and the last position served,
//!   so a token is opaque, tamper-evident and only valid for the chat it came from.

use switchboard_core::ids::{
    decode_base62_16, encode_base62_16, AppId, ChatId, MessageId, TenantId,
};

const MSG_DOMAIN: u32 = 0x5750_5301;
const SPID_BASE: i64 = 100_000_000_000;
const PAGE_DOMAIN: u32 = 0x5750_5302;
const CHATS_PAGE_DOMAIN: u32 = 0x5750_5303;

pub fn company_id(t: TenantId) -> String {
    t.0.to_string()
}

pub fn parse_company_id(s: &str) -> Option<TenantId> {
    parse_decimal(s).map(TenantId)
}

pub fn chat_id(c: ChatId) -> String {
    c.0.to_string()
}

pub fn parse_chat_id(s: &str) -> Option<ChatId> {
    parse_decimal(s)
        .filter(|v| *v <= switchboard_core::ids::MAX_CHAT_ID)
        .map(ChatId)
}

pub fn message_id(m: MessageId) -> String {
    encode_base62_16(m.0 as u64, MSG_DOMAIN)
}

pub fn parse_message_id(s: &str) -> Option<MessageId> {
    decode_base62_16(s, MSG_DOMAIN)
        .and_then(|v| i64::try_from(v).ok())
        .and_then(MessageId::from_raw)
}

pub fn spid(a: AppId) -> String {
    (SPID_BASE + a.0).to_string()
}

pub fn parse_spid(s: &str) -> Option<AppId> {
    parse_decimal(s)
        .and_then(|v| v.checked_sub(SPID_BASE))
        .filter(|v| *v > 0)
        .map(AppId)
}

/// The history cursor after `position` in `chat`.
pub fn page_token(chat: ChatId, position: i64) -> String {
    encode_base62_16(
        ((chat.0 as u64) << 32) | (position as u64 & 0xFFFF_FFFF),
        PAGE_DOMAIN,
    )
}

/// The position a [`page_token`] continues after; `None` if malformed or minted for another chat.
pub fn parse_page_token(s: &str, chat: ChatId) -> Option<i64> {
    let v = decode_base62_16(s, PAGE_DOMAIN)?;
    ((v >> 32) as i64 == chat.0).then_some((v & 0xFFFF_FFFF) as i64)
}

/// The chat-list cursor after `chat` (opaque, and never a valid history cursor).
pub fn chats_page_token(chat: ChatId) -> String {
    encode_base62_16(chat.0 as u64, CHATS_PAGE_DOMAIN)
}

/// The chat id a [`chats_page_token`] continues after.
pub fn parse_chats_page_token(s: &str) -> Option<ChatId> {
    decode_base62_16(s, CHATS_PAGE_DOMAIN)
        .and_then(|v| i64::try_from(v).ok())
        .filter(|v| (1..=switchboard_core::ids::MAX_CHAT_ID).contains(v))
        .map(ChatId)
}

/// Whether `s` is a decimal string as WPS ids are written (digits, no sign, no leading
/// zero), of any length: such an id is well formed even when it names nothing.
pub fn is_decimal(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0')
}

/// A positive decimal without sign, leading zeros or padding.
fn parse_decimal(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 18 || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0')
    {
        return None;
    }
    s.parse().ok().filter(|v: &i64| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let m = MessageId::timeline(ChatId(8417257), 22).unwrap();
        let s = message_id(m);
        assert_eq!(s.len(), 16);
        assert_eq!(parse_message_id(&s), Some(m));
        assert_eq!(
            parse_message_id("Q3iOi5TYS6tBSgS1"),
            None,
            "the seed's id is not one of ours"
        );
        assert_eq!(
            parse_chat_id(&chat_id(ChatId(8417257))),
            Some(ChatId(8417257))
        );
        assert_eq!(parse_chat_id("007"), None);
        assert_eq!(parse_chat_id("-1"), None);
        assert_eq!(
            parse_chat_id("99999999999"),
            None,
            "beyond the chat id range"
        );
        assert!(is_decimal("99999999999999999999999"));
        assert!(!is_decimal("007") && !is_decimal("-1") && !is_decimal("") && !is_decimal("1a"));
        assert_eq!(parse_spid(&spid(AppId(3))), Some(AppId(3)));
        assert_eq!(parse_spid("5"), None);
        assert_eq!(parse_company_id("648112656"), Some(TenantId(648112656)));
        let t = page_token(ChatId(9), 40);
        assert_eq!(parse_page_token(&t, ChatId(9)), Some(40));
        assert_eq!(
            parse_page_token(&t, ChatId(10)),
            None,
            "another chat's cursor"
        );
        assert_eq!(parse_page_token("garbage", ChatId(9)), None);
        let c = chats_page_token(ChatId(9));
        assert_eq!(parse_chats_page_token(&c), Some(ChatId(9)));
        assert_eq!(parse_chats_page_token(&t), None, "a history cursor");
        assert_eq!(parse_page_token(&c, ChatId(0)), None);
        assert_ne!(
            t,
            message_id(MessageId::timeline(ChatId(9), 40).unwrap()),
            "cursors are not message ids"
        );
    }
}
