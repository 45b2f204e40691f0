//! Extractors that answer malformed input in the WPS envelope instead of axum's plain text.

use crate::error::{code, WpsError};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use switchboard_core::input;

/// A JSON body. Content-Type must be `application/json` (parameters such as charset allowed).
pub struct WpsJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for WpsJson<T> {
    type Rejection = WpsError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/json") {
            return Err(WpsError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type must be application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                WpsError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    code::BODY_TOO_LARGE,
                    "request body too large",
                )
            } else {
                WpsError::invalid(r.body_text())
            }
        })?;
        parse_json(&bytes).map(WpsJson)
    }
}

/// Parses a body, telling malformed JSON (400002) from well-formed JSON of the wrong shape (400001).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WpsError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => WpsError::invalid(format!("invalid parameter: {e}")),
        _ => WpsError::new(
            StatusCode::BAD_REQUEST,
            code::INVALID_JSON,
            format!("request body is not valid JSON: {e}"),
        ),
    })
}

/// Query parameters.
pub struct WpsQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for WpsQuery<T> {
    type Rejection = WpsError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Refused as a whole rather than decoded lossily (`%FF` would become U+FFFD).
        if let Some(why) = parts.uri.query().and_then(input::malformed_query) {
            return Err(WpsError::invalid(format!("the query string {why}")));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| WpsQuery(q.0))
            .map_err(|e| WpsError::invalid(e.body_text()))
    }
}

/// Path parameters (raw strings; handlers parse ids with `crate::ids`). A segment that is
/// not UTF-8 once percent-decoded, holds a NUL or is overlong is 400001 before anything is
/// looked up.
pub struct WpsPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for WpsPath<T> {
    type Rejection = WpsError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(v) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| WpsError::invalid(path_rejection(e)))?;
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| WpsError::invalid(e.body_text()))?;
        for (key, value) in &raw {
            if let Some(why) = input::malformed_segment(value) {
                return Err(WpsError::invalid(format!("path segment `{key}` {why}")));
            }
        }
        Ok(WpsPath(v))
    }
}

/// What was wrong with the path, in words.
fn path_rejection(e: PathRejection) -> String {
    match e {
        PathRejection::FailedToDeserializePathParams(e) => match e.kind() {
            ErrorKind::InvalidUtf8InPathParam { key } => {
                format!("path segment `{key}` is not valid UTF-8 once percent-decoded")
            }
            _ => e.body_text(),
        },
        other => other.body_text(),
    }
}
