//! Extractors that answer malformed input in the admin error shape: JSON bodies, queries
//! and path segments, and the paging query the `list` endpoints share.

use super::error::{AResult, AdminError};
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request};
use axum::http::{request::Parts, StatusCode};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use switchboard_core::input;
use switchboard_core::service;
use switchboard_core::store::Page;

/// JSON body extractor that answers malformed input in the admin error shape.
pub struct AdminJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;
    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(AdminJson(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(AdminError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Content-Type must be application/json",
            )),
            Err(JsonRejection::BytesRejection(r))
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(AdminError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "request body too large",
                ))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => Err(AdminError::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                e.body_text(),
            )),
            Err(JsonRejection::JsonDataError(e)) => Err(AdminError::bad(e.body_text())),
            Err(e) => Err(AdminError::bad(e.body_text())),
        }
    }
}

/// Query extractor with admin-shaped rejections. A query whose percent-decoded bytes are not
/// UTF-8 or hold a NUL is refused as a whole (rather than decoded lossily).
pub struct AdminQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AdminQuery<T> {
    type Rejection = AdminError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(why) = parts.uri.query().and_then(input::malformed_query) {
            return Err(AdminError::bad(format!("the query string {why}")));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| AdminQuery(q.0))
            .map_err(|e: QueryRejection| AdminError::bad(e.body_text()))
    }
}

/// Path extractor with admin-shaped rejections: a segment that is not UTF-8 once
/// percent-decoded, holds a NUL or is overlong is malformed (400 `invalid_argument`), before
/// anything is looked up.
pub struct AdminPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for AdminPath<T> {
    type Rejection = AdminError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(v) = Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| AdminError::bad(path_rejection(e)))?;
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| AdminError::bad(e.body_text()))?;
        for (key, value) in &raw {
            if let Some(why) = input::malformed_segment(value) {
                return Err(AdminError::bad(format!("path segment `{key}` {why}")));
            }
        }
        Ok(AdminPath(v))
    }
}

/// What was wrong with the path, in words (axum's text names the segment too).
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

impl PageQuery {
    pub(super) fn page(&self) -> AResult<Page> {
        let limit = self.limit.unwrap_or(100);
        if !(1..=service::MAX_PAGE).contains(&limit) {
            return Err(AdminError::bad(format!(
                "limit must be 1 to {}",
                service::MAX_PAGE
            )));
        }
        Ok(Page {
            after: self.after.unwrap_or(0).max(0),
            limit,
        })
    }
}
