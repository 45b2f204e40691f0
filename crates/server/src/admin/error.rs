//! The admin API's one error type: status, stable code, message; and its table from
//! `core::Error`. Every admin answer that is not a success is one of these.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use switchboard_core::error::{Conflict, Denied, Error};

/// An admin API error: status, stable code, message.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError {
            status,
            code,
            message: message.into(),
        }
    }
    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
    pub(super) fn not_found(what: &str, seg: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} {seg:?} not found"),
        )
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({ "code": self.code, "message": self.message })),
        )
            .into_response()
    }
}

impl From<Error> for AdminError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid { .. } => StatusCode::BAD_REQUEST,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::Conflict(Conflict::Duplicate(_)) => StatusCode::CONFLICT,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &e {
            Error::Forbidden(Denied::NotMember | Denied::NotInP2p) => {
                "the sender is not a member of this chat".to_string()
            }
            Error::Conflict(Conflict::Duplicate(what)) => format!("{what} already exists"),
            Error::Conflict(Conflict::OwnerStays) => {
                "the chat's owner cannot be removed".to_string()
            }
            // Worded as before the domain named the window and told a repeated removal
            // apart: the admin API's messages do not change with the domain's detail.
            Error::Conflict(Conflict::WindowPassed(_)) => "conflict: WindowPassed".to_string(),
            Error::Conflict(Conflict::AlreadyRemoved(_)) => "conflict: MessageRemoved".to_string(),
            Error::Unavailable(_) => "storage unavailable, retry later".to_string(),
            Error::Internal(cause) => {
                tracing::error!(error = %cause, "admin request failed");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        AdminError::new(status, e.code(), message)
    }
}

pub(super) type AResult<T> = Result<T, AdminError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_error_has_a_status_code_and_message() {
        for e in Error::catalogue() {
            let name = e.code();
            let a = AdminError::from(e);
            assert!(a.status.is_client_error() || a.status.is_server_error());
            assert_eq!(a.code, name);
            assert!(!a.message.is_empty());
        }
    }

    #[test]
    fn removal_and_window_conflicts_read_as_before() {
        use switchboard_core::error::Window;
        let again = AdminError::from(Error::Conflict(Conflict::AlreadyRemoved(
            switchboard_core::model::RemovalKind::Recalled,
        )));
        assert_eq!(
            (again.status, again.code, again.message.as_str()),
            (
                StatusCode::CONFLICT,
                "message_removed",
                "conflict: MessageRemoved"
            )
        );
        for w in [Window::Recall, Window::Edit] {
            let late = AdminError::from(Error::Conflict(Conflict::WindowPassed(w)));
            assert_eq!(
                (late.status, late.code, late.message.as_str()),
                (
                    StatusCode::CONFLICT,
                    "window_passed",
                    "conflict: WindowPassed"
                )
            );
        }
    }
}
