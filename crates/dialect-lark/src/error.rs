//! The vendor error envelope and the one table from `core::Error` to (HTTP status, code, msg).
//!
//! Feishu errors are `{code, msg, error: {log_id, …}}`; Hi's are its success envelope with
//! `success: false` (`{code, msg, success, traceId, data}`). Every body is JSON: the Python
//! SDK decodes every response unconditionally, and the Go SDK only parses JSON content types.

use crate::face::{Ctx, Face};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use switchboard_core::error::{Conflict, Denied, Entity, Error, Window};
use switchboard_core::model::RemovalKind;

/// The endpoint an error came from: the same domain error reads differently per endpoint
/// (a missing chat is `ext=receive_id not found` for a send, `ext=chat_id not found` for a
/// member add; a refused sender is 230026 for a recall, 230071 for an edit; a passed edit
/// window is 230031 for a card update).
///
/// What is a domain fact travels in the domain error itself (which window passed, whether a
/// recall found the message already removed); the endpoint is the one thing left, and it
/// is stated once per handler, in its return type, never per call:
///
/// ```text
/// pub async fn recall(..) -> Answer<op::Recall> {
///     s.core.recall(cmd).await?;
///     ...
/// }
/// ```
///
/// `?` turns a `core::Error` into a [`LarkError`] that is still a bare domain error (a
/// handler's helpers return those too); [`Refused`]'s `IntoResponse` tags it with its
/// handler's [`Op`] and leaves it in the response's extensions, and
/// [`crate::face::tag_request`], which wraps every route and knows the request's face and
/// log id, renders it through [`table`]. A success never meets any of this: the middleware
/// looks only at answers that are not 2xx. (A route-level layer per endpoint would cost a
/// boxed service call on every request; a per-call tag is what this replaces.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Token,
    Get,
    Send,
    Reply,
    Edit,
    UpdateCard,
    Recall,
    Forward,
    MergeForward,
    CreateChat,
    AddMembers,
    IsInChat,
}

impl Op {
    pub const ALL: [Op; 12] = [
        Op::Token,
        Op::Get,
        Op::Send,
        Op::Reply,
        Op::Edit,
        Op::UpdateCard,
        Op::Recall,
        Op::Forward,
        Op::MergeForward,
        Op::CreateChat,
        Op::AddMembers,
        Op::IsInChat,
    ];
}

/// A type naming an [`Op`], for handlers' return types ([`Answer`]).
pub trait Operation {
    const OP: Op;
}

/// One uninhabited type per [`Op`]: `Answer<op::Send>`.
pub mod op {
    use super::{Op, Operation};
    macro_rules! ops {
        ($($name:ident),*) => {$(
            #[derive(Debug)]
            pub enum $name {}
            impl Operation for $name {
                const OP: Op = Op::$name;
            }
        )*};
    }
    ops!(
        Token,
        Get,
        Send,
        Reply,
        Edit,
        UpdateCard,
        Recall,
        Forward,
        MergeForward,
        CreateChat,
        AddMembers,
        IsInChat
    );
}

/// A handler's answer: its [`Op`] is in the type, so `?` needs no per-call tag.
pub type Answer<O> = Result<Response, Refused<O>>;

/// A handler's failure: a [`LarkError`], rendered for the handler's operation `O`.
pub struct Refused<O>(LarkError, std::marker::PhantomData<O>);

impl<O> std::fmt::Debug for Refused<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<O> From<LarkError> for Refused<O> {
    fn from(e: LarkError) -> Self {
        Refused(e, std::marker::PhantomData)
    }
}

impl<O> From<Error> for Refused<O> {
    fn from(e: Error) -> Self {
        LarkError::from(e).into()
    }
}

impl<O: Operation> IntoResponse for Refused<O> {
    fn into_response(self) -> Response {
        self.0.respond(Some(O::OP))
    }
}

/// A domain refusal on its way to [`crate::face::tag_request`], which renders it with the
/// request's face and log id. Only ever in a failed answer's extensions.
#[derive(Debug, Clone)]
pub struct Pending {
    pub error: Error,
    pub op: Option<Op>,
}

impl Pending {
    /// The refusal, in the envelope of `ctx`'s face.
    pub fn render(self, ctx: &Ctx) -> Response {
        LarkError::core(ctx, self.op, self.error).into_response()
    }
}

// The vendor codes this dialect answers with (see docs/dialects/lark.md for the table).
pub const INVALID_PARAM: i64 = 230001;
pub const NOT_IN_CHAT: i64 = 230002;
pub const BOT_DISABLED: i64 = 230006;
pub const RECALL_TOO_OLD: i64 = 230009;
pub const MESSAGE_RECALLED: i64 = 230011;
pub const CONTENT_TOO_LONG: i64 = 230025;
pub const NO_RECALL_PERMISSION: i64 = 230026;
pub const LACKS_PERMISSION: i64 = 230027;
pub const CARD_TOO_OLD: i64 = 230031;
pub const TYPE_UNSUPPORTED: i64 = 230054;
/// IM-level frequency control (e.g. an edit repeated too soon).
pub const IM_RATE_LIMITED: i64 = 230020;
pub const NOT_SENDER: i64 = 230071;
pub const EDIT_LIMIT: i64 = 230072;
pub const EDIT_TOO_OLD: i64 = 230075;
pub const MESSAGE_DELETED: i64 = 230110;
pub const CHAT_DISSOLVED: i64 = 232009;
pub const INTERNAL: i64 = 2200;
pub const TOKEN_PARAM: i64 = 10003;
pub const BAD_SECRET: i64 = 10014;
pub const RATE_LIMITED: i64 = 99991400;
pub const TOKEN_MISSING: i64 = 99991661;
pub const TENANT_TOKEN_INVALID: i64 = 99991663;
pub const APP_TOKEN_INVALID: i64 = 99991664;
pub const TOKEN_FORMAT: i64 = 99991671;
pub const SCOPE_MISSING: i64 = 99991672;

/// A rejection, ready to be rendered in the face's envelope, or a bare domain error that
/// [`crate::face::tag_request`] renders (boxed: it travels in every handler's `Result`).
#[derive(Debug)]
pub struct LarkError(Box<Rejection>);

impl std::ops::Deref for LarkError {
    type Target = Rejection;
    fn deref(&self) -> &Rejection {
        &self.0
    }
}

impl std::ops::DerefMut for LarkError {
    fn deref_mut(&mut self) -> &mut Rejection {
        &mut self.0
    }
}

#[derive(Debug)]
pub struct Rejection {
    pub ctx: Ctx,
    pub status: StatusCode,
    pub code: i64,
    pub msg: String,
    /// Extra `data` (e.g. the unusable ids of a `succeed_type=2` member add).
    pub data: Option<Value>,
    /// Feishu `error.permission_violations` subjects (missing scopes).
    pub missing_scopes: Vec<String>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// A domain error not yet rendered (`ctx` and the fields above are then unused).
    pub domain: Option<Error>,
}

impl LarkError {
    pub fn new(ctx: &Ctx, status: StatusCode, code: i64, msg: impl Into<String>) -> Self {
        LarkError(Box::new(Rejection {
            ctx: ctx.clone(),
            status,
            code,
            msg: msg.into(),
            data: None,
            missing_scopes: vec![],
            headers: vec![],
            domain: None,
        }))
    }

    /// 230001 with Feishu's `ext=` hint naming what was wrong.
    pub fn invalid(ctx: &Ctx, ext: impl std::fmt::Display) -> Self {
        Self::new(
            ctx,
            StatusCode::BAD_REQUEST,
            INVALID_PARAM,
            invalid_msg(ext),
        )
    }

    pub fn code(ctx: &Ctx, code: i64, msg: impl Into<String>) -> Self {
        Self::new(ctx, StatusCode::BAD_REQUEST, code, msg)
    }

    /// A domain error, through the table, for a request whose context is at hand.
    pub fn core(ctx: &Ctx, op: Option<Op>, e: Error) -> Self {
        let (status, code, msg) = table(op, &e);
        if let Error::Internal(cause) | Error::Unavailable(cause) = &e {
            tracing::error!(error = %cause, log_id = %ctx.log_id.0, ?op, "lark request failed");
        }
        Self::new(ctx, status, code, msg)
    }

    /// The answer; a bare domain error goes out as a [`Pending`] for
    /// [`crate::face::tag_request`] to render for operation `op`.
    fn respond(self, op: Option<Op>) -> Response {
        let mut this = self;
        match this.domain.take() {
            None => this.render(),
            Some(error) => {
                let mut res = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                res.extensions_mut().insert(Pending { error, op });
                res
            }
        }
    }

    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// A bare domain error: rendered by [`crate::face::tag_request`], for the handler's
/// operation (see [`Op`]).
impl From<Error> for LarkError {
    fn from(e: Error) -> Self {
        LarkError(Box::new(Rejection {
            ctx: Ctx {
                face: Face::Feishu,
                log_id: crate::face::LogId(String::new()),
            },
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: INTERNAL,
            msg: String::new(),
            data: None,
            missing_scopes: vec![],
            headers: vec![],
            domain: Some(e),
        }))
    }
}

fn invalid_msg(ext: impl std::fmt::Display) -> String {
    format!("Your request contains an invalid request parameter, ext={ext}.")
}

/// The one mapping from domain errors to (HTTP status, vendor code, vendor message).
///
/// `op` is the endpoint, where the wording depends on it; `None` (an answer made outside
/// any endpoint's handler) reads as the generic wording.
pub fn table(op: Option<Op>, e: &Error) -> (StatusCode, i64, String) {
    let bad = StatusCode::BAD_REQUEST;
    match e {
        Error::NotFound(what) => {
            let ext = match (what, op) {
                (Entity::Chat | Entity::User, Some(Op::Send | Op::Forward | Op::MergeForward)) => {
                    "receive_id not found"
                }
                (Entity::Chat, Some(Op::CreateChat | Op::AddMembers | Op::IsInChat)) => {
                    "chat_id not found"
                }
                (Entity::User | Entity::App, Some(Op::CreateChat | Op::AddMembers)) => {
                    "member id not found"
                }
                (Entity::Chat | Entity::Message, _) => "message_id not found",
                (Entity::User, _) => "user not found",
                (Entity::App, _) => "app not found",
                (Entity::Tenant, _) => "tenant not found",
                (Entity::Member, _) => "member not found",
                (Entity::Subscription, _) => "subscription not found",
                (Entity::Delivery, _) => "event not found",
            };
            (bad, INVALID_PARAM, invalid_msg(ext))
        }
        Error::Invalid { field, reason } => (
            bad,
            INVALID_PARAM,
            invalid_msg(format!("{field}: {reason}")),
        ),
        Error::Forbidden(Denied::NotMember | Denied::NotInP2p) => (
            bad,
            NOT_IN_CHAT,
            "Bot/User can NOT be out of the chat.".into(),
        ),
        Error::Forbidden(Denied::NotSender) => match op {
            Some(Op::Recall) => (
                bad,
                NO_RECALL_PERMISSION,
                "No permission to recall this message.".into(),
            ),
            Some(Op::Edit | Op::UpdateCard) => (
                bad,
                NOT_SENDER,
                "The operator is not the sender of the message.".into(),
            ),
            _ => (
                bad,
                LACKS_PERMISSION,
                "Lack of necessary permissions, ext=only the sender may do this.".into(),
            ),
        },
        Error::Forbidden(Denied::NotChatAdmin) => match op {
            Some(Op::Recall) => (
                bad,
                NO_RECALL_PERMISSION,
                "No permission to recall this message.".into(),
            ),
            _ => (
                bad,
                LACKS_PERMISSION,
                "Lack of necessary permissions, ext=only a chat owner or admin may do this.".into(),
            ),
        },
        Error::Conflict(Conflict::Duplicate(what)) => (
            bad,
            INVALID_PARAM,
            invalid_msg(format!("{what} already exists")),
        ),
        Error::Conflict(Conflict::ChatDissolved) => {
            (bad, CHAT_DISSOLVED, "The chat has been dissolved.".into())
        }
        Error::Conflict(
            Conflict::MessageRemoved(RemovalKind::Deleted)
            | Conflict::AlreadyRemoved(RemovalKind::Deleted),
        ) => (
            bad,
            MESSAGE_DELETED,
            "Action unavailable as the message has been deleted.".into(),
        ),
        Error::Conflict(Conflict::MessageRemoved(_) | Conflict::AlreadyRemoved(_)) => {
            (bad, MESSAGE_RECALLED, "The message is recalled.".into())
        }
        Error::Conflict(Conflict::EditLimit) => (
            bad,
            EDIT_LIMIT,
            "The message has reached the maximum number of edits.".into(),
        ),
        // Which window passed is the domain's to say; an edit window is a card's on the
        // card update endpoints.
        Error::Conflict(Conflict::WindowPassed(Window::Edit)) => match op {
            Some(Op::UpdateCard) => (
                bad,
                CARD_TOO_OLD,
                "The card was sent too long ago to be updated.".into(),
            ),
            _ => (
                bad,
                EDIT_TOO_OLD,
                "The message was sent too long ago to be edited.".into(),
            ),
        },
        Error::Conflict(Conflict::WindowPassed(Window::Recall)) => (
            bad,
            RECALL_TOO_OLD,
            "The message was sent too long ago to be recalled.".into(),
        ),
        Error::Conflict(Conflict::WrongMessageType) => (
            bad,
            TYPE_UNSUPPORTED,
            "This message type does not support this operation.".into(),
        ),
        // IM-level frequency control: HTTP 400, unlike the gateway's 99991400 (as documented).
        Error::Conflict(Conflict::TooFrequent) => (
            bad,
            IM_RATE_LIMITED,
            "Request trigger frequency limit, please retry later.".into(),
        ),
        Error::Conflict(Conflict::OwnerStays) => (
            bad,
            INVALID_PARAM,
            invalid_msg("the chat owner cannot be removed"),
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            INTERNAL,
            "Service temporarily unavailable, please retry.".into(),
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL,
            "Internal error.".into(),
        ),
    }
}

/// A success in the face's envelope, serialised straight from `data` (no `Value` tree) into
/// a buffer sized for a message. Same bytes as [`ok`] with `data` as a tree.
pub fn ok_typed<T: serde::Serialize>(ctx: &Ctx, data: &T) -> Response {
    // Fields in the byte order of their names, as `ok`'s `Map` writes them.
    #[derive(serde::Serialize)]
    struct Hi<'a, T> {
        code: i64,
        data: &'a T,
        msg: &'static str,
        success: bool,
        #[serde(rename = "traceId")]
        trace_id: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Feishu<'a, T> {
        code: i64,
        data: &'a T,
        msg: &'static str,
    }
    let mut body = Vec::with_capacity(1024);
    let written = match ctx.face {
        Face::Hi => serde_json::to_writer(
            &mut body,
            &Hi {
                code: 0,
                data,
                msg: "操作成功",
                success: true,
                trace_id: &ctx.log_id.0,
            },
        ),
        Face::Feishu => serde_json::to_writer(
            &mut body,
            &Feishu {
                code: 0,
                data,
                msg: "success",
            },
        ),
    };
    match written {
        Ok(()) => (
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(e) => LarkError::core(
            ctx,
            None,
            Error::Internal(switchboard_core::store::StoreError::Internal(format!(
                "response did not serialise: {e}"
            ))),
        )
        .into_response(),
    }
}

/// A success in the face's envelope.
pub fn ok(ctx: &Ctx, data: Value) -> Response {
    let body = match ctx.face {
        Face::Hi => {
            json!({ "code": 0, "msg": "操作成功", "success": true, "traceId": ctx.log_id.0, "data": data })
        }
        Face::Feishu => json!({ "code": 0, "msg": "success", "data": data }),
    };
    Json(body).into_response()
}

impl IntoResponse for LarkError {
    fn into_response(self) -> Response {
        self.respond(None)
    }
}

impl LarkError {
    fn render(self) -> Response {
        let this = *self.0;
        let mut body = Map::new();
        body.insert("code".into(), json!(this.code));
        body.insert("msg".into(), json!(this.msg));
        match this.ctx.face {
            Face::Hi => {
                body.insert("success".into(), json!(false));
                body.insert("traceId".into(), json!(this.ctx.log_id.0));
                body.insert("data".into(), this.data.unwrap_or(Value::Null));
            }
            Face::Feishu => {
                let mut error = json!({ "log_id": this.ctx.log_id.0 });
                if !this.missing_scopes.is_empty() {
                    error["permission_violations"] = this
                        .missing_scopes
                        .iter()
                        .map(|s| json!({ "type": "action_privilege_required", "subject": s, "description": s }))
                        .collect();
                }
                body.insert("error".into(), error);
                if let Some(d) = this.data {
                    body.insert("data".into(), d);
                }
            }
        }
        let mut res = (this.status, Json(Value::Object(body))).into_response();
        for (k, v) in this.headers {
            res.headers_mut().insert(k, v);
        }
        res
    }
}

/// A request that outlived the server's request timeout, answered outside the routes (so
/// without [`crate::face::tag_request`]): the HTTP status doubles as the code, as for
/// unknown paths, and the log id is derived from the request id as usual.
pub fn timeout_response(path: &str, request_id: Option<&str>) -> Response {
    let ctx = Ctx::for_request(path, request_id);
    let log_id = HeaderValue::from_str(&ctx.log_id.0).ok();
    let mut res =
        LarkError::new(&ctx, StatusCode::REQUEST_TIMEOUT, 408, "request timed out").into_response();
    if let Some(v) = log_id {
        res.headers_mut().insert("x-tt-logid", v);
    }
    res
}

/// Unknown paths under `/open-apis`: the HTTP status doubles as the code.
pub async fn not_found(ctx: Ctx) -> LarkError {
    LarkError::new(&ctx, StatusCode::NOT_FOUND, 404, "no such endpoint")
}

pub async fn method_not_allowed(ctx: Ctx) -> LarkError {
    LarkError::new(
        &ctx,
        StatusCode::METHOD_NOT_ALLOWED,
        405,
        "method not allowed on this endpoint",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::LogId;

    #[test]
    fn every_domain_error_maps_to_a_failure_code_for_every_operation() {
        for op in Op::ALL.map(Some).into_iter().chain([None]) {
            for e in Error::catalogue() {
                let (status, code, msg) = table(op, &e);
                assert_ne!(code, 0, "{op:?} {e:?}");
                assert!(
                    status.is_client_error() || status.is_server_error(),
                    "{op:?} {e:?} -> {status}"
                );
                assert!(!msg.is_empty());
                let server_side = matches!(e, Error::Unavailable(_) | Error::Internal(_));
                assert_eq!(
                    status.is_server_error(),
                    server_side,
                    "only store failures are 5xx: {op:?} {e:?}"
                );
            }
        }
    }

    #[test]
    fn operation_specific_codes() {
        let late = |w| Error::Conflict(Conflict::WindowPassed(w));
        assert_eq!(
            table(Some(Op::Recall), &late(Window::Recall)).1,
            RECALL_TOO_OLD
        );
        assert_eq!(
            table(Some(Op::UpdateCard), &late(Window::Edit)).1,
            CARD_TOO_OLD
        );
        assert_eq!(table(Some(Op::Edit), &late(Window::Edit)).1, EDIT_TOO_OLD);
        assert_eq!(
            table(Some(Op::Edit), &Error::Forbidden(Denied::NotSender)).1,
            NOT_SENDER
        );
        assert_eq!(
            table(Some(Op::Recall), &Error::Forbidden(Denied::NotChatAdmin)).1,
            NO_RECALL_PERMISSION
        );
        let gone = Error::NotFound(Entity::Chat);
        assert!(table(Some(Op::Send), &gone)
            .2
            .contains("ext=receive_id not found"));
        assert!(table(Some(Op::AddMembers), &gone)
            .2
            .contains("ext=chat_id not found"));
        let (_, code, msg) = table(Some(Op::Get), &Error::invalid("user_id_type", "bad"));
        assert_eq!(code, INVALID_PARAM);
        assert!(msg.contains("ext=user_id_type"), "{msg}");
    }

    #[test]
    fn a_handlers_operation_reaches_its_domain_refusal() {
        // `?` in an `Answer<op::AddMembers>` leaves the refusal for `tag_request`, tagged.
        let res = Refused::<op::AddMembers>::from(Error::NotFound(Entity::Chat)).into_response();
        assert!(!res.status().is_success());
        let pending = res.extensions().get::<Pending>().cloned().expect("pending");
        assert_eq!(pending.op, Some(Op::AddMembers));
        let ctx = Ctx {
            face: Face::Feishu,
            log_id: LogId("abc".into()),
        };
        let e = LarkError::core(&ctx, pending.op, pending.error);
        assert_eq!(e.code, INVALID_PARAM);
        assert!(e.msg.contains("ext=chat_id not found"), "{}", e.msg);
        // A ready rejection goes out as it is.
        let ready = Refused::<op::Get>::from(LarkError::invalid(&ctx, "x")).into_response();
        assert_eq!(ready.status(), StatusCode::BAD_REQUEST);
        assert!(ready.extensions().get::<Pending>().is_none());
    }

    #[test]
    fn envelopes_per_face() {
        let hi = Ctx {
            face: Face::Hi,
            log_id: LogId("abc".into()),
        };
        let e = LarkError::invalid(&hi, "x");
        assert_eq!(e.code, INVALID_PARAM);
        assert!(e.msg.contains("ext=x"));
    }
}
