//! Typed canonical ids, and the reversible mixing primitives dialects use to render them.
//!
//! Every canonical id is a positive 63-bit integer. A [`MessageId`] packs its chat and its
//! position (or merge-forward child sequence), so any store can find the chat — the shard
//! key — from the id alone, and a get needs no scatter-gather:
//!
//! ```text
//!  bit 63      62 ........ 32   31          30 ........ 0
//!  [ 0 ]  [ chat id, 31 bits ] [ child? ] [ position / child seq, 31 bits ]
//! ```
//!
//! Dialects render ids in their vendor's shape (an `om_` hex string, a base62 string, a
//! Long). They do so with [`mix64`]/[`unmix64`] and [`check32`], which need no lookup table
//! and no secret: ids are names, not credentials, exactly as on the vendors' platforms.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! int_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

int_id!(
    /// An organisation: the namespace of its users, apps and chats.
    TenantId
);
int_id!(
    /// A person within one tenant.
    UserId
);
int_id!(
    /// A bot / service principal within one tenant.
    AppId
);

/// The largest chat id a [`MessageId`] can carry.
pub const MAX_CHAT_ID: i64 = (1 << 31) - 1;
/// The largest position (or child sequence) a [`MessageId`] can carry.
pub const MAX_POSITION: i64 = (1 << 31) - 1;

/// A conversation. At most [`MAX_CHAT_ID`], so that it fits inside a [`MessageId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChatId(pub i64);

impl ChatId {
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ChatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A message: its chat and its place in that chat, packed into one positive i64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub i64);

const CHILD_FLAG: i64 = 1 << 31;

impl MessageId {
    /// The id of the message at `position` (1-based) in `chat`.
    pub fn timeline(chat: ChatId, position: i64) -> Option<Self> {
        if !(1..=MAX_CHAT_ID).contains(&chat.0) || !(1..=MAX_POSITION).contains(&position) {
            return None;
        }
        Some(Self((chat.0 << 32) | position))
    }

    /// The id of the `seq`-th merge-forward child copy stored under `chat`.
    pub fn child(chat: ChatId, seq: i64) -> Option<Self> {
        if !(1..=MAX_CHAT_ID).contains(&chat.0) || !(1..=MAX_POSITION).contains(&seq) {
            return None;
        }
        Some(Self((chat.0 << 32) | CHILD_FLAG | seq))
    }

    /// Validates a raw integer received from outside.
    pub fn from_raw(raw: i64) -> Option<Self> {
        let id = Self(raw);
        let low = raw & MAX_POSITION;
        (raw > 0 && id.chat().0 >= 1 && low >= 1).then_some(id)
    }

    pub fn get(self) -> i64 {
        self.0
    }

    /// The chat this message lives in: the shard key.
    pub fn chat(self) -> ChatId {
        ChatId(self.0 >> 32)
    }

    /// The 1-based position in the chat's timeline, or `None` for a merge-forward child copy.
    pub fn position(self) -> Option<i64> {
        (self.0 & CHILD_FLAG == 0).then_some(self.0 & MAX_POSITION)
    }

    pub fn is_child(self) -> bool {
        self.0 & CHILD_FLAG != 0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

// ---------------------------------------------------------------------------------------
// Reversible mixing. A four-round Feistel network over the two 32-bit halves: a bijection
// on u64 by construction, so decoding needs no table. It hides the sequential structure of
// canonical ids from dialects whose vendors use random-looking ids.

const ROUND_KEYS: [u32; 4] = [0x9E37_79B9, 0x7F4A_7C15, 0x85EB_CA6B, 0xC2B2_AE35];

fn round(x: u32, k: u32) -> u32 {
    let mut h = x.wrapping_mul(0x2C1B_3C6D) ^ k;
    h ^= h >> 15;
    h = h.wrapping_mul(0x297A_2D39);
    h ^ (h >> 13)
}

/// Scrambles `v` reversibly; `domain` separates the renderings of different id kinds.
pub fn mix64(v: u64, domain: u32) -> u64 {
    let (mut l, mut r) = ((v >> 32) as u32, v as u32);
    for k in ROUND_KEYS {
        let next = l ^ round(r, k ^ domain);
        l = r;
        r = next;
    }
    ((l as u64) << 32) | r as u64
}

/// Inverse of [`mix64`] for the same `domain`.
pub fn unmix64(v: u64, domain: u32) -> u64 {
    let (mut l, mut r) = ((v >> 32) as u32, v as u32);
    for k in ROUND_KEYS.iter().rev() {
        let prev = r ^ round(l, k ^ domain);
        r = l;
        l = prev;
    }
    ((l as u64) << 32) | r as u64
}

/// A 32-bit check value over `v`, so that mistyped or invented external ids are rejected
/// as malformed rather than silently naming some other resource.
pub fn check32(v: u64, domain: u32) -> u32 {
    let x = mix64(v ^ 0xA5A5_5A5A_DEAD_BEEF, domain ^ 0x5bd1_e995);
    (x >> 32) as u32 ^ x as u32
}

/// Renders `v` as 32 lowercase hex characters: 16 of mixed value, 16 of check.
pub fn encode_hex128(v: u64, domain: u32) -> String {
    prefixed_hex128("", v, domain)
}

/// `prefix` followed by [`encode_hex128`], built in one allocation (ids are rendered on
/// every read; `format!` machinery was a measurable share of a get).
pub fn prefixed_hex128(prefix: &str, v: u64, domain: u32) -> String {
    let check = ((check32(v, domain) as u64) << 32) | check32(v, domain.rotate_left(7)) as u64;
    let mut out = String::with_capacity(prefix.len() + 32);
    out.push_str(prefix);
    push_hex(&mut out, mix64(v, domain), 16);
    push_hex(&mut out, check, 16);
    out
}

/// Appends the low `digits` hex digits of `v` (lower case, zero-padded).
pub fn push_hex(out: &mut String, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xf) as usize] as char);
    }
}

/// Inverse of [`encode_hex128`]; `None` when malformed or the check fails.
pub fn decode_hex128(s: &str, domain: u32) -> Option<u64> {
    if s.len() != 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mixed = u64::from_str_radix(&s[..16], 16).ok()?;
    let check = u64::from_str_radix(&s[16..], 16).ok()?;
    let v = unmix64(mixed, domain);
    let expect = ((check32(v, domain) as u64) << 32) | check32(v, domain.rotate_left(7)) as u64;
    (expect == check).then_some(v)
}

const B62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Renders `v` as 16 base62 characters (64 bits mixed + 30 bits of check), like the
/// opaque ids some vendors use.
pub fn encode_base62_16(v: u64, domain: u32) -> String {
    let mut n: u128 =
        ((mix64(v, domain) as u128) << 30) | (check32(v, domain) as u128 & 0x3FFF_FFFF);
    let mut out = [b'0'; 16];
    for slot in out.iter_mut().rev() {
        *slot = B62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
}

/// Inverse of [`encode_base62_16`].
pub fn decode_base62_16(s: &str, domain: u32) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    let mut n: u128 = 0;
    for b in s.bytes() {
        let d = B62.iter().position(|&c| c == b)? as u128;
        n = n * 62 + d;
    }
    if n >> 94 != 0 {
        return None;
    }
    let v = unmix64((n >> 30) as u64, domain);
    ((check32(v, domain) as u128 & 0x3FFF_FFFF) == (n & 0x3FFF_FFFF)).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_packs_chat_and_position() {
        let id = MessageId::timeline(ChatId(7), 22).unwrap();
        assert_eq!(id.chat(), ChatId(7));
        assert_eq!(id.position(), Some(22));
        assert!(!id.is_child());
        let child = MessageId::child(ChatId(7), 3).unwrap();
        assert_eq!(child.chat(), ChatId(7));
        assert_eq!(child.position(), None);
        assert!(child.is_child());
        assert_ne!(id, child);
        assert_eq!(MessageId::from_raw(id.get()), Some(id));
        assert_eq!(MessageId::from_raw(0), None);
        assert_eq!(MessageId::from_raw(-5), None);
        assert_eq!(MessageId::from_raw(12), None, "chat 0 is never allocated");
        assert!(MessageId::timeline(ChatId(MAX_CHAT_ID + 1), 1).is_none());
        assert!(MessageId::timeline(ChatId(1), 0).is_none());
        let max = MessageId::timeline(ChatId(MAX_CHAT_ID), MAX_POSITION).unwrap();
        assert!(max.get() > 0);
    }

    #[test]
    fn mixing_round_trips_and_differs_by_domain() {
        for v in [
            0u64,
            1,
            2,
            42,
            u32::MAX as u64,
            u64::MAX,
            0x1234_5678_9abc_def0,
        ] {
            assert_eq!(unmix64(mix64(v, 3), 3), v);
            assert_eq!(decode_hex128(&encode_hex128(v, 9), 9), Some(v));
            assert_eq!(decode_base62_16(&encode_base62_16(v, 9), 9), Some(v));
        }
        assert_ne!(mix64(1, 1), mix64(1, 2));
        assert_ne!(encode_hex128(1, 1), encode_hex128(2, 1));
    }

    #[test]
    fn hex_ids_are_the_zero_padded_mix_and_check() {
        for (v, d) in [
            (0u64, 0u32),
            (1, 5),
            (77, 0x4C4B_0001),
            (u64::MAX >> 1, u32::MAX),
        ] {
            let check = ((check32(v, d) as u64) << 32) | check32(v, d.rotate_left(7)) as u64;
            let expected = format!("{:016x}{check:016x}", mix64(v, d));
            assert_eq!(encode_hex128(v, d), expected);
            assert_eq!(prefixed_hex128("om_", v, d), format!("om_{expected}"));
            assert_eq!(decode_hex128(&expected, d), Some(v));
        }
        let mut s = String::new();
        push_hex(&mut s, 0xabc, 4);
        push_hex(&mut s, u64::MAX, 16);
        assert_eq!(s, "0abcffffffffffffffff");
    }

    #[test]
    fn decoders_reject_tampering() {
        let s = encode_hex128(77, 5);
        let mut t = s.clone().into_bytes();
        t[3] = if t[3] == b'a' { b'b' } else { b'a' };
        assert_eq!(decode_hex128(std::str::from_utf8(&t).unwrap(), 5), None);
        assert_eq!(decode_hex128(&s, 6), None, "wrong domain");
        assert_eq!(decode_hex128("xyz", 5), None);
        assert_eq!(decode_hex128(&s.to_uppercase(), 5), None);
        let b = encode_base62_16(77, 5);
        assert_eq!(decode_base62_16(&b[..15], 5), None);
        assert_eq!(decode_base62_16("zzzzzzzzzzzzzzzz", 5), None);
        assert_eq!(decode_base62_16(&b, 4), None);
    }
}
