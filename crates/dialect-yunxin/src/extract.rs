//! Extractors that answer malformed input in the Yunxin envelope (code 414), never with a
//! bare axum rejection.

use crate::error::YunxinError;
use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::{self, DeserializeOwned, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;
use switchboard_core::input;

/// A JSON body. `Content-Type` may be omitted; when present it must name JSON (any letter
/// case, any parameters such as `charset=UTF-8`).
pub struct YxJson<T>(pub T);

pub fn is_json_content_type(ct: &str) -> bool {
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for YxJson<T> {
    type Rejection = YunxinError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or("");
            if !is_json_content_type(ct) {
                return Err(YunxinError::param(format!(
                    "Content-Type must be application/json, not {ct:?}"
                )));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                YunxinError::param("request body too large")
            } else {
                YunxinError::param(format!("cannot read the request body: {}", r.body_text()))
            }
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(YunxinError::param("the request body must be a JSON object"));
        }
        serde_json::from_slice(&bytes)
            .map(YxJson)
            .map_err(|e| YunxinError::param(format!("invalid JSON body: {e}")))
    }
}

/// Query parameters. Unknown parameters are ignored, as the vendor's SDKs send optional
/// ones Switchboard does not use.
pub struct YxQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for YxQuery<T> {
    type Rejection = YunxinError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Refused as a whole rather than decoded lossily (`%FF` would become U+FFFD).
        if let Some(why) = parts.uri.query().and_then(input::malformed_query) {
            return Err(YunxinError::param(format!(
                "invalid query string: it {why}"
            )));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| YxQuery(q.0))
            .map_err(|e| YunxinError::param(format!("invalid query string: {}", e.body_text())))
    }
}

/// Path parameters, percent-decoded (so `%7C` arrives as `|`). A segment that is not UTF-8
/// once decoded, holds a NUL or is overlong is a parameter error (414) before anything is
/// looked up.
pub struct YxPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for YxPath<T> {
    type Rejection = YunxinError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(v) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| YunxinError::param(format!("invalid path: {}", path_rejection(e))))?;
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| YunxinError::param(format!("invalid path: {}", e.body_text())))?;
        for (key, value) in &raw {
            if let Some(why) = input::malformed_segment(value) {
                return Err(YunxinError::param(format!(
                    "invalid path: segment `{key}` {why}"
                )));
            }
        }
        Ok(YxPath(v))
    }
}

/// What was wrong with the path, in words.
fn path_rejection(e: PathRejection) -> String {
    match e {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => {
                format!("segment `{key}` is not valid UTF-8 once percent-decoded")
            }
            _ => e.body_text(),
        },
        other => other.body_text(),
    }
}

/// A Yunxin Long given as a JSON number or as a string of digits (the SDKs differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long(pub i64);

impl<'de> Deserialize<'de> for Long {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Long;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a Long (number or string of digits)")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Long, E> {
                Ok(Long(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Long, E> {
                i64::try_from(v)
                    .map(Long)
                    .map_err(|_| E::custom("Long out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Long, E> {
                parse_long(v).ok_or_else(|| E::custom(format!("{v:?} is not a Long")))
            }
        }
        d.deserialize_any(V)
    }
}

/// Digits only (an optional leading `-`), fitting an i64 (see [`crate::ids::parse_long`]).
pub fn parse_long(s: &str) -> Option<Long> {
    crate::ids::parse_long(s).map(Long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "application/json;charset=UTF-8",
            "Application/JSON; charset=utf-8",
            "application/vnd.x+json",
        ] {
            assert!(is_json_content_type(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "",
            "multipart/form-data",
        ] {
            assert!(!is_json_content_type(bad), "{bad}");
        }
    }

    #[test]
    fn longs() {
        let l: Long = serde_json::from_str("502714177945601").unwrap();
        assert_eq!(l, Long(502714177945601));
        let l: Long = serde_json::from_str("\"7491025\"").unwrap();
        assert_eq!(l, Long(7491025));
        assert!(serde_json::from_str::<Long>("\"12a\"").is_err());
        assert!(serde_json::from_str::<Long>("1.5").is_err());
        assert!(serde_json::from_str::<Long>("18446744073709551615").is_err());
        assert_eq!(parse_long("99999999999999999999"), None);
    }
}
