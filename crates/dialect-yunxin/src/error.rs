//! The Yunxin envelope and error table.
//!
//! Yunxin's IM server API answers HTTP 200 whatever happens and puts the result in `code`
//! (200 = success), with `msg` and `data` beside it; on failure `data` is `{}`. Every
//! `switchboard_core::Error` becomes a Yunxin code through [`table`], the one place that
//! decides it, and handlers reach it with `?` (`From<Error> for YunxinError`). The table needs
//! no operation: where Yunxin's answer depends on what was attempted, the domain error says
//! it (`Conflict::WindowPassed(Window::Recall)` is 508, `…(Window::Edit)` 403;
//! `Conflict::AlreadyRemoved`, a repeated recall, is 417).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use switchboard_core::error::{Conflict, Denied, Entity, Error, Window};

/// The Yunxin status codes Switchboard answers with.
pub mod code {
    /// Success.
    pub const OK: i64 = 200;
    /// Illegal operation / no permission (classic table).
    pub const FORBIDDEN: i64 = 403;
    /// Object not found (classic table): accounts and apps.
    pub const NOT_FOUND: i64 = 404;
    /// Parameter error, also every failed CheckSum check.
    pub const PARAM: i64 = 414;
    /// Frequency control: rate limited.
    pub const RATE_LIMITED: i64 = 416;
    /// Repeated operation.
    pub const REPEATED: i64 = 417;
    /// Quantity over limit.
    pub const OVER_LIMIT: i64 = 419;
    /// Timeout.
    pub const TIMEOUT: i64 = 408;
    /// Internal error.
    pub const INTERNAL: i64 = 500;
    /// Server busy.
    pub const BUSY: i64 = 503;
    /// Recall time exceeded.
    pub const RECALL_TOO_LATE: i64 = 508;
    /// No team permission (not the owner or a manager).
    pub const TEAM_NO_PERMISSION: i64 = 802;
    /// The account is not a member of the team.
    pub const NOT_IN_TEAM: i64 = 804;
    /// Team type mismatch (team endpoints' `team_type`).
    pub const TEAM_TYPE_MISMATCH: i64 = 805;
    /// Already a member of the team.
    pub const ALREADY_IN_TEAM: i64 = 809;
    /// The message does not exist.
    pub const MESSAGE_NOT_FOUND: i64 = 107404;
    /// The same message was modified more than once within a second.
    pub const MODIFY_TOO_OFTEN: i64 = 107449;
    /// The team does not exist (or was dissolved).
    pub const TEAM_NOT_FOUND: i64 = 108404;
}

/// A failed request: a Yunxin code and its message. Always answered with HTTP 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YunxinError {
    pub code: i64,
    pub msg: String,
}

impl YunxinError {
    pub fn new(code: i64, msg: impl Into<String>) -> Self {
        YunxinError {
            code,
            msg: msg.into(),
        }
    }
    /// 414, the vendor's "parameter error".
    pub fn param(msg: impl Into<String>) -> Self {
        Self::new(code::PARAM, msg)
    }
    pub fn message_not_found() -> Self {
        Self::new(code::MESSAGE_NOT_FOUND, "message not exist")
    }
    pub fn team_not_found() -> Self {
        Self::new(code::TEAM_NOT_FOUND, "team not exist")
    }
    pub fn account_not_found(account: &str) -> Self {
        Self::new(
            code::NOT_FOUND,
            format!("account {account:?} does not exist"),
        )
    }
}

/// A request that outlived the server's request timeout (answered outside the routes):
/// the vendor's code 408, in the usual HTTP 200 envelope.
pub fn timeout_response() -> Response {
    YunxinError::new(code::TIMEOUT, "timeout").into_response()
}

impl IntoResponse for YunxinError {
    /// `{"code", "msg", "data": {}}`, in the order of the success envelope (a `json!` map
    /// would sort the keys).
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Refusal {
            code: i64,
            msg: String,
            data: Empty,
        }
        #[derive(Serialize)]
        struct Empty {}
        let body = Refusal {
            code: self.code,
            msg: self.msg,
            data: Empty {},
        };
        (StatusCode::OK, Json(body)).into_response()
    }
}

/// The success envelope `{code: 200, msg: "success", data}`, in the documented example's order,
/// serialised straight from `data` (no intermediate `Value` tree) into a buffer sized for a
/// message.
pub fn ok<T: Serialize>(data: T) -> Response {
    #[derive(Serialize)]
    struct Envelope<T> {
        code: i64,
        msg: &'static str,
        data: T,
    }
    let mut body = Vec::with_capacity(1024);
    let envelope = Envelope {
        code: code::OK,
        msg: "success",
        data,
    };
    match serde_json::to_writer(&mut body, &envelope) {
        Ok(()) => (
            StatusCode::OK,
            [(
                axum::http::header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "yunxin response did not serialise");
            table(&Error::Internal(
                switchboard_core::store::StoreError::Internal("response did not serialise".into()),
            ))
            .into_response()
        }
    }
}

/// The empty success `data: {}` of recall, modify and disband.
pub fn ok_empty() -> Response {
    ok(Value::Object(Default::default()))
}

/// The error table: every domain error as a Yunxin code and message.
pub fn table(e: &Error) -> YunxinError {
    use code::*;
    let (code, msg): (i64, String) = match e {
        Error::NotFound(Entity::Message) => (MESSAGE_NOT_FOUND, "message not exist".into()),
        Error::NotFound(Entity::Chat) => (TEAM_NOT_FOUND, "team not exist".into()),
        Error::NotFound(Entity::Member) => (
            NOT_IN_TEAM,
            "the account is not a member of the team".into(),
        ),
        Error::NotFound(Entity::User) => (NOT_FOUND, "account does not exist".into()),
        Error::NotFound(Entity::App) => (NOT_FOUND, "app does not exist".into()),
        Error::NotFound(Entity::Tenant) => (NOT_FOUND, "the AppKey's tenant does not exist".into()),
        Error::NotFound(what @ (Entity::Subscription | Entity::Delivery)) => {
            (NOT_FOUND, format!("{} does not exist", what.as_str()))
        }
        // The domain's only content refusal is its size limit.
        Error::Invalid {
            field: "content",
            reason,
        } => (PARAM, format!("the message is {reason}")),
        Error::Invalid { field, reason } => (PARAM, format!("parameter error: {field} {reason}")),
        Error::Forbidden(Denied::NotMember | Denied::NotInP2p) => (
            NOT_IN_TEAM,
            "the account is not a member of the team".into(),
        ),
        Error::Forbidden(Denied::NotSender) => {
            (FORBIDDEN, "only the message's sender may do this".into())
        }
        Error::Forbidden(Denied::NotChatAdmin) => (
            TEAM_NO_PERMISSION,
            "only the team owner or a manager may do this".into(),
        ),
        Error::Conflict(Conflict::Duplicate(what)) => (PARAM, format!("{what} already exists")),
        Error::Conflict(Conflict::ChatDissolved) => (
            TEAM_NOT_FOUND,
            "team not exist: it has been dissolved".into(),
        ),
        Error::Conflict(Conflict::AlreadyRemoved(_)) => (
            REPEATED,
            "the message has already been recalled or deleted".into(),
        ),
        Error::Conflict(Conflict::MessageRemoved(_)) => (
            MESSAGE_NOT_FOUND,
            "message not exist: it has been recalled or deleted".into(),
        ),
        Error::Conflict(Conflict::EditLimit) => (
            OVER_LIMIT,
            "the message has been modified too many times".into(),
        ),
        Error::Conflict(Conflict::WindowPassed(Window::Edit)) => (
            FORBIDDEN,
            "only messages of the last 7 days can be modified".into(),
        ),
        Error::Conflict(Conflict::WindowPassed(Window::Recall)) => {
            (RECALL_TOO_LATE, "message recall time exceeded".into())
        }
        Error::Conflict(Conflict::WrongMessageType) => (
            PARAM,
            "the operation does not apply to this message type".into(),
        ),
        Error::Conflict(Conflict::TooFrequent) => (
            MODIFY_TOO_OFTEN,
            "the same message cannot be modified more than once per second".into(),
        ),
        Error::Conflict(Conflict::OwnerStays) => {
            (TEAM_NO_PERMISSION, "the team owner cannot be kicked".into())
        }
        Error::Unavailable(cause) => {
            tracing::warn!(error = %cause, "yunxin request: store unavailable");
            (BUSY, "server busy, retry later".into())
        }
        Error::Internal(cause) => {
            tracing::error!(error = %cause, "yunxin request failed");
            (INTERNAL, "internal server error".into())
        }
    };
    YunxinError { code, msg }
}

impl From<Error> for YunxinError {
    fn from(e: Error) -> Self {
        table(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::model::RemovalKind;

    #[test]
    fn every_domain_error_maps_to_a_failure_code() {
        for e in Error::catalogue() {
            let y = table(&e);
            assert_ne!(y.code, code::OK, "{e:?}");
            assert!(!y.msg.is_empty(), "{e:?}");
        }
        let late = |w| table(&Error::Conflict(Conflict::WindowPassed(w))).code;
        assert_eq!(late(Window::Recall), 508);
        assert_eq!(late(Window::Edit), 403);
        assert_eq!(
            table(&Error::Conflict(Conflict::AlreadyRemoved(
                RemovalKind::Recalled
            )))
            .code,
            417
        );
        assert_eq!(
            table(&Error::Conflict(Conflict::MessageRemoved(
                RemovalKind::Deleted
            )))
            .code,
            107404
        );
        assert_eq!(table(&Error::NotFound(Entity::Message)).code, 107404);
        assert_eq!(table(&Error::Forbidden(Denied::NotMember)).code, 804);
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let e = Error::Internal(switchboard_core::StoreError::Internal(
            "SELECT secret FROM x".into(),
        ));
        assert_eq!(table(&e).msg, "internal server error");
    }
}
