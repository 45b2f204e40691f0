//! JSON, query and path extractors whose rejections are answered in the vendor envelope
//! (never axum's plain text).

use crate::error::{self, LarkError};
use crate::face::Ctx;
use crate::ids;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use switchboard_core::ids::{ChatId, MessageId};
use switchboard_core::input;

/// A JSON body. The body is parsed whatever its Content-Type (clients differ in what they
/// send); malformed JSON, wrong field types and oversize bodies get the vendor envelope.
pub struct LarkJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for LarkJson<T> {
    type Rejection = LarkError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let ctx = Ctx::from_parts(&parts);
        let token_call = parts.uri.path().contains("/auth/");
        let bad = |what: String| {
            if token_call {
                LarkError::code(&ctx, error::TOKEN_PARAM, format!("invalid param: {what}"))
            } else {
                LarkError::invalid(&ctx, what)
            }
        };
        let bytes = match Bytes::from_request(Request::from_parts(parts.clone(), body), state).await
        {
            Ok(b) => b,
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(LarkError::new(
                    &ctx,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    error::CONTENT_TOO_LONG,
                    "request body too large",
                ))
            }
            Err(r) => return Err(bad(format!("unreadable body: {}", r.body_text()))),
        };
        let slice: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(slice)
            .map(LarkJson)
            .map_err(|e| bad(format!("invalid request body: {e}")))
    }
}

/// A query string, with vendor-shaped rejections.
pub struct LarkQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for LarkQuery<T> {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_parts(parts);
        // Refused as a whole rather than decoded lossily (`%FF` would become U+FFFD).
        if let Some(why) = parts.uri.query().and_then(input::malformed_query) {
            return Err(LarkError::invalid(&ctx, format!("the query string {why}")));
        }
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| LarkQuery(q.0))
            .map_err(|e| LarkError::invalid(&ctx, format!("invalid query: {}", e.body_text())))
    }
}

/// `:message_id` (an `om_` id).
pub struct MsgPath(pub MessageId);

impl<S: Send + Sync> FromRequestParts<S> for MsgPath {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_parts(parts);
        let Path(seg) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| LarkError::invalid(&ctx, "invalid message_id"))?;
        ids::parse_message_id(&seg)
            .map(MsgPath)
            .ok_or_else(|| LarkError::invalid(&ctx, "invalid message_id"))
    }
}

/// `:chat_id` (an `oc_` id).
pub struct ChatPath(pub ChatId);

impl<S: Send + Sync> FromRequestParts<S> for ChatPath {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = Ctx::from_parts(parts);
        let Path(seg) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| LarkError::invalid(&ctx, "invalid chat_id"))?;
        ids::parse_chat_id(&seg)
            .map(ChatPath)
            .ok_or_else(|| LarkError::invalid(&ctx, "invalid chat_id"))
    }
}
