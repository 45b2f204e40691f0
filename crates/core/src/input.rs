//! Untrusted input, checked and parsed the same way by every API (the admin API and each
//! dialect): text that may not reach a store, malformed query strings, and the boolean
//! spellings that the vendors' SDKs send.
//!
//! Nothing here knows HTTP: the functions take the strings an edge extracted (a decoded
//! path segment, the raw query string, a field of a body).

use crate::error::Error;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;

/// Whether `s` holds a NUL character. PostgreSQL's `text` refuses it and SQLite keeps it,
/// so an id, name or key holding one would behave differently per store: every API refuses
/// such text as malformed before a store sees it. (Message content is kept in a JSON
/// document, where a NUL is the escape `\u0000`, and is not refused.)
pub fn has_nul(s: &str) -> bool {
    s.as_bytes().contains(&0)
}

/// Refuses text with a NUL character as malformed ([`Error::Invalid`] naming `field`).
pub fn check_text(field: &'static str, s: &str) -> Result<(), Error> {
    if has_nul(s) {
        return Err(Error::invalid(field, "must not contain a NUL character"));
    }
    Ok(())
}

/// The longest path segment any API accepts, in bytes once percent-decoded. The longest
/// name a segment carries is a conversation id made of two 32-character account ids and a
/// type; nothing legitimate comes near this.
pub const MAX_SEGMENT_BYTES: usize = 256;

/// Why a decoded path segment is malformed (it holds a NUL, or is longer than
/// [`MAX_SEGMENT_BYTES`]), or `None` when it is usable. Segments that are not valid UTF-8
/// (an invalid or overlong encoding such as `%C0%80`) never get this far: the router
/// refuses to decode them, and each API answers that in its own envelope.
pub fn malformed_segment(s: &str) -> Option<&'static str> {
    if has_nul(s) {
        Some("contains a NUL character")
    } else if s.len() > MAX_SEGMENT_BYTES {
        Some("is longer than 256 bytes")
    } else {
        None
    }
}

/// Why a raw query string (as sent, before percent-decoding) is malformed, or `None`.
///
/// A query is decoded as `application/x-www-form-urlencoded`; a decoder that replaces
/// invalid UTF-8 with U+FFFD would turn `%FF` into a lookup of `"\u{FFFD}"`, so a query
/// whose decoded bytes are not UTF-8, or hold a NUL, is refused as a whole instead.
pub fn malformed_query(raw: &str) -> Option<&'static str> {
    // Most queries hold no escape at all: nothing to decode.
    if !raw.as_bytes().contains(&b'%') {
        return None;
    }
    // A `%` not followed by two hex digits stays literal, as form decoding leaves it.
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(raw).collect();
    if decoded.contains(&0) {
        return Some("contains a NUL character");
    }
    // `&` and `=` separate pairs; each name and value must be UTF-8, and since both are
    // ASCII a whole-string check is the same check.
    if std::str::from_utf8(&decoded).is_err() {
        return Some("is not valid UTF-8 once percent-decoded");
    }
    None
}

/// A boolean as the vendors' SDKs spell it: `true`/`false` in any letter case (Python's
/// `str(True)` is `True`), or `1`/`0`; surrounding spaces are ignored. Anything else is
/// `None`.
pub fn parse_bool(s: &str) -> Option<bool> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("true") || t == "1" {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") || t == "0" {
        Some(false)
    } else {
        None
    }
}

/// The spellings [`parse_bool`] accepts, for error messages.
pub const BOOL_SPELLINGS: &str = "true, false (any letter case), 1 or 0";

struct LenientBool;

impl Visitor<'_> for LenientBool {
    type Value = Option<bool>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a boolean: {BOOL_SPELLINGS}")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        match v {
            0 => Ok(Some(false)),
            1 => Ok(Some(true)),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // An empty value (`?flag=`) is the same as an absent one.
        if v.trim().is_empty() {
            return Ok(None);
        }
        parse_bool(v)
            .map(Some)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// `#[serde(default, deserialize_with = "switchboard_core::input::opt_bool")]` on an
/// `Option<bool>` field: a boolean query parameter (or body field) accepted in every
/// spelling [`parse_bool`] knows, a JSON boolean, or the numbers 0 and 1. An empty value
/// counts as absent.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(LenientBool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    struct Q {
        #[serde(default, deserialize_with = "opt_bool")]
        flag: Option<bool>,
    }

    #[test]
    fn bool_spellings() {
        for t in ["true", "True", "TRUE", "tRuE", "1", " true "] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "False", "FALSE", "0"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for bad in ["", "yes", "no", "2", "t", "truee", "01"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }

    #[test]
    fn opt_bool_from_json_and_strings() {
        let q: Q = serde_json::from_str(r#"{"flag": "True"}"#).unwrap();
        assert_eq!(q.flag, Some(true));
        let q: Q = serde_json::from_str(r#"{"flag": false}"#).unwrap();
        assert_eq!(q.flag, Some(false));
        let q: Q = serde_json::from_str(r#"{"flag": 1}"#).unwrap();
        assert_eq!(q.flag, Some(true));
        let q: Q = serde_json::from_str(r#"{"flag": ""}"#).unwrap();
        assert_eq!(q.flag, None);
        let q: Q = serde_json::from_str(r#"{"flag": null}"#).unwrap();
        assert_eq!(q.flag, None);
        let q: Q = serde_json::from_str("{}").unwrap();
        assert_eq!(q.flag, None);
        assert!(serde_json::from_str::<Q>(r#"{"flag": "maybe"}"#).is_err());
        assert!(serde_json::from_str::<Q>(r#"{"flag": 2}"#).is_err());
    }

    #[test]
    fn nul_text() {
        assert!(has_nul("a\0b"));
        assert!(!has_nul("ab"));
        assert!(check_text("user_id", "a\0").is_err());
        assert!(check_text("user_id", "alice").is_ok());
        assert_eq!(malformed_segment("1\0"), Some("contains a NUL character"));
        assert_eq!(malformed_segment("1"), None);
        assert_eq!(malformed_segment(&"x".repeat(MAX_SEGMENT_BYTES)), None);
        assert_eq!(
            malformed_segment(&"x".repeat(MAX_SEGMENT_BYTES + 1)),
            Some("is longer than 256 bytes")
        );
    }

    #[test]
    fn raw_queries() {
        assert_eq!(malformed_query(""), None);
        assert_eq!(malformed_query("a=1&b=true"), None);
        assert_eq!(malformed_query("name=%E4%BD%A0%E5%A5%BD"), None);
        assert_eq!(malformed_query("a=%zz&b=%"), None, "stray % is literal");
        assert_eq!(malformed_query("a=%7C"), None);
        assert!(malformed_query("a=%00").is_some());
        assert!(malformed_query("a=1%00").is_some());
        assert!(malformed_query("a=%FF").is_some());
        assert!(malformed_query("a=%C0%80").is_some(), "overlong NUL");
        assert!(malformed_query("%FE=1").is_some());
        assert!(malformed_query("a=%E4%BD").is_some(), "truncated sequence");
    }
}
