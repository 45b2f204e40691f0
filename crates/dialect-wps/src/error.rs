//! The WPS error envelope `{"code": <non-zero>, "msg": "..."}` and Switchboard's stable WPS
//! code table (WPS's own status-code page is not public; these codes are ours and are
//! documented in `docs/dialects/wps.md`).
//!
//! Every rejection, from authentication to the domain, leaves through [`WpsError`], so
//! every failure is JSON in the vendor's envelope with a fitting HTTP status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use switchboard_core::error::{Conflict, Denied, Entity, Error};

/// The stable codes. The first three digits are the HTTP status they travel with.
pub mod code {
    pub const INVALID_PARAM: i64 = 400_001;
    pub const INVALID_JSON: i64 = 400_002;
    pub const CONTENT_TOO_LONG: i64 = 400_003;
    pub const UNSUPPORTED_TYPE: i64 = 400_004;
    pub const TOKEN_MISSING: i64 = 401_001;
    pub const TOKEN_INVALID: i64 = 401_002;
    pub const TOKEN_EXPIRED: i64 = 401_003;
    pub const CLIENT_INVALID: i64 = 401_004;
    pub const SIGNATURE_MISSING: i64 = 401_011;
    pub const SIGNATURE_INVALID: i64 = 401_012;
    pub const DATE_INVALID: i64 = 401_013;
    pub const SCOPE_MISSING: i64 = 403_001;
    pub const NOT_IN_CHAT: i64 = 403_002;
    pub const NOT_OWN_P2P: i64 = 403_003;
    pub const NOT_SENDER: i64 = 403_004;
    pub const NOT_CHAT_ADMIN: i64 = 403_005;
    pub const CHAT_NOT_FOUND: i64 = 404_001;
    pub const MESSAGE_NOT_FOUND: i64 = 404_002;
    pub const USER_NOT_FOUND: i64 = 404_003;
    pub const NO_SUCH_ENDPOINT: i64 = 404_004;
    pub const NOT_FOUND: i64 = 404_005;
    pub const METHOD_NOT_ALLOWED: i64 = 405_001;
    pub const CHAT_DISSOLVED: i64 = 409_001;
    pub const ALREADY_EXISTS: i64 = 409_002;
    pub const EDIT_LIMIT: i64 = 409_003;
    pub const WINDOW_PASSED: i64 = 409_004;
    pub const MESSAGE_RECALLED: i64 = 410_001;
    pub const BODY_TOO_LARGE: i64 = 413_001;
    pub const UNSUPPORTED_MEDIA_TYPE: i64 = 415_001;
    pub const TIMEOUT: i64 = 408_001;
    pub const RATE_LIMITED: i64 = 429_001;
    pub const INTERNAL: i64 = 500_001;
    pub const UNAVAILABLE: i64 = 503_001;
}

/// A failure as a WPS client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WpsError {
    pub status: StatusCode,
    pub code: i64,
    pub msg: String,
}

pub type WResult<T> = Result<T, WpsError>;

impl WpsError {
    pub fn new(status: StatusCode, code: i64, msg: impl Into<String>) -> Self {
        WpsError {
            status,
            code,
            msg: msg.into(),
        }
    }
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::INVALID_PARAM, msg)
    }
    pub fn unsupported_type(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code::UNSUPPORTED_TYPE, msg)
    }
    pub fn unauthorized(code: i64, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, msg)
    }
    pub fn message_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::MESSAGE_NOT_FOUND,
            "message not found",
        )
    }
    pub fn chat_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::CHAT_NOT_FOUND,
            "chat not found",
        )
    }
    pub fn recalled() -> Self {
        Self::new(
            StatusCode::GONE,
            code::MESSAGE_RECALLED,
            "message has been recalled",
        )
    }
    pub fn no_such_endpoint() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            code::NO_SUCH_ENDPOINT,
            "no such endpoint",
        )
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "method not allowed on this endpoint",
        )
    }
}

/// A request that outlived the server's request timeout (answered outside the routes).
pub fn timeout_response() -> Response {
    WpsError::new(
        StatusCode::REQUEST_TIMEOUT,
        code::TIMEOUT,
        "request timed out",
    )
    .into_response()
}

impl IntoResponse for WpsError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "msg": self.msg })),
        )
            .into_response()
    }
}

/// The one table from the domain's error catalogue to WPS codes.
///
/// `Forbidden(NotMember)` maps to "app is not in the chat", and `Forbidden(NotInP2p)` (the
/// domain says when the chat is a p2p chat) to [`code::NOT_OWN_P2P`].
pub fn table(e: &Error) -> WpsError {
    use StatusCode as S;
    let (status, c, msg): (StatusCode, i64, String) = match e {
        Error::NotFound(Entity::Chat) => {
            (S::NOT_FOUND, code::CHAT_NOT_FOUND, "chat not found".into())
        }
        Error::NotFound(Entity::Message) => (
            S::NOT_FOUND,
            code::MESSAGE_NOT_FOUND,
            "message not found".into(),
        ),
        Error::NotFound(Entity::User) => {
            (S::NOT_FOUND, code::USER_NOT_FOUND, "user not found".into())
        }
        Error::NotFound(
            other @ (Entity::Tenant
            | Entity::App
            | Entity::Member
            | Entity::Subscription
            | Entity::Delivery),
        ) => (
            S::NOT_FOUND,
            code::NOT_FOUND,
            format!("{} not found", other.as_str()),
        ),
        // The domain's only content refusal is its size limit.
        Error::Invalid {
            field: "content",
            reason,
        } => (
            S::BAD_REQUEST,
            code::CONTENT_TOO_LONG,
            format!("message content {reason}"),
        ),
        Error::Invalid { field, reason } => (
            S::BAD_REQUEST,
            code::INVALID_PARAM,
            format!("invalid {field}: {reason}"),
        ),
        Error::Forbidden(Denied::NotMember) => (
            S::FORBIDDEN,
            code::NOT_IN_CHAT,
            "the app is not a member of this chat".into(),
        ),
        Error::Forbidden(Denied::NotInP2p) => (
            S::FORBIDDEN,
            code::NOT_OWN_P2P,
            "a p2p chat is readable only by its own app".into(),
        ),
        Error::Forbidden(Denied::NotSender) => (
            S::FORBIDDEN,
            code::NOT_SENDER,
            "only the sender may do this".into(),
        ),
        Error::Forbidden(Denied::NotChatAdmin) => (
            S::FORBIDDEN,
            code::NOT_CHAT_ADMIN,
            "only the chat owner or an admin may do this".into(),
        ),
        Error::Conflict(Conflict::Duplicate(what)) => (
            S::CONFLICT,
            code::ALREADY_EXISTS,
            format!("{what} already exists"),
        ),
        Error::Conflict(Conflict::ChatDissolved) => (
            S::CONFLICT,
            code::CHAT_DISSOLVED,
            "the chat has been dissolved".into(),
        ),
        Error::Conflict(Conflict::MessageRemoved(_) | Conflict::AlreadyRemoved(_)) => (
            S::GONE,
            code::MESSAGE_RECALLED,
            "message has been recalled".into(),
        ),
        Error::Conflict(Conflict::EditLimit) => (
            S::CONFLICT,
            code::EDIT_LIMIT,
            "the message cannot be updated again".into(),
        ),
        Error::Conflict(Conflict::WindowPassed(_)) => (
            S::CONFLICT,
            code::WINDOW_PASSED,
            "the time allowed for this has passed".into(),
        ),
        Error::Conflict(Conflict::WrongMessageType) => (
            S::BAD_REQUEST,
            code::UNSUPPORTED_TYPE,
            "this operation does not apply to this message type".into(),
        ),
        Error::Conflict(Conflict::TooFrequent) => (
            S::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            "repeated too soon, retry later".into(),
        ),
        Error::Conflict(Conflict::OwnerStays) => (
            S::BAD_REQUEST,
            code::INVALID_PARAM,
            "the chat owner cannot be removed".into(),
        ),
        Error::Unavailable(cause) => {
            tracing::warn!(error = %cause, "wps request failed: store unavailable");
            (
                S::SERVICE_UNAVAILABLE,
                code::UNAVAILABLE,
                "service unavailable, retry later".into(),
            )
        }
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "wps request failed");
            (
                S::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "internal error".into(),
            )
        }
    };
    WpsError::new(status, c, msg)
}

impl From<Error> for WpsError {
    fn from(e: Error) -> Self {
        table(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use switchboard_core::model::RemovalKind;

    #[test]
    fn every_domain_error_maps_to_a_failure_code() {
        let mut seen = HashSet::new();
        for e in Error::catalogue() {
            let w = table(&e);
            assert_ne!(w.code, 0, "{e:?} maps to success");
            assert!(
                w.status.is_client_error() || w.status.is_server_error(),
                "{e:?} -> {}",
                w.status
            );
            assert_eq!(
                w.code / 1000,
                w.status.as_u16() as i64,
                "{e:?}: code {} travels with {}",
                w.code,
                w.status
            );
            assert!(!w.msg.is_empty());
            // A refinement of a rule keeps its rule's stable name (the admin API's code).
            let refinement = matches!(
                e,
                Error::Conflict(
                    Conflict::AlreadyRemoved(_)
                        | Conflict::MessageRemoved(RemovalKind::Deleted)
                        | Conflict::WindowPassed(switchboard_core::error::Window::Edit)
                ) | Error::Forbidden(Denied::NotInP2p)
            );
            assert!(
                seen.insert(e.code()) != refinement,
                "catalogue names are distinct: {e:?}"
            );
        }
    }

    #[test]
    fn internals_are_not_leaked() {
        let e = Error::Internal(switchboard_core::StoreError::Internal(
            "SELECT secret FROM x".into(),
        ));
        assert_eq!(table(&e).msg, "internal error");
    }
}
