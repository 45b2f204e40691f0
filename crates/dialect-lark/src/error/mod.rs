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
use switchboard_core::error::Error;

/// Defines [`Op`] and, in [`op`], one uninhabited type per variant, from one list.
macro_rules! operations {
    ($(#[$meta:meta])* $($name:ident),* $(,)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Op {
            $($name),*
        }

        /// One uninhabited type per [`Op`]: `Answer<op::Send>`.
        pub mod op {
            use super::{Op, Operation};
            $(
                #[derive(Debug)]
                pub enum $name {}
                impl Operation for $name {
                    const OP: Op = Op::$name;
                }
            )*
        }
    };
}

operations!(
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
    ListMessages,
    ListChats,
    GetChat,
    UpdateChat,
    DissolveChat,
    ListMembers,
    RemoveMembers,
    AddReaction,
    ListReactions,
    DeleteReaction,
    Pin,
    Unpin,
    ListPins,
    ReadUsers,
);

impl Op {
    pub const ALL: [Op; 26] = [
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
        Op::ListMessages,
        Op::ListChats,
        Op::GetChat,
        Op::UpdateChat,
        Op::DissolveChat,
        Op::ListMembers,
        Op::RemoveMembers,
        Op::AddReaction,
        Op::ListReactions,
        Op::DeleteReaction,
        Op::Pin,
        Op::Unpin,
        Op::ListPins,
        Op::ReadUsers,
    ];

    /// The group APIs (`/im/v1/chats…`) answer in Feishu's 232xxx family. (Chat create,
    /// member add and is_in_chat predate this and keep the 230xxx codes they answer.)
    fn chat_family(self) -> bool {
        matches!(
            self,
            Op::ListChats
                | Op::GetChat
                | Op::UpdateChat
                | Op::DissolveChat
                | Op::ListMembers
                | Op::RemoveMembers
        )
    }
}

/// A type naming an [`Op`], for handlers' return types ([`Answer`]).
pub trait Operation {
    const OP: Op;
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

mod codes;
mod tables;
#[cfg(test)]
mod tests;

pub use codes::*;
pub use tables::{file_table, table};
use tables::{invalid_msg, CHAT_ID_INVALID_MSG};

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

    /// 232001, the group APIs' invalid parameter, with the same `ext=` hint.
    pub fn chat_invalid(ctx: &Ctx, ext: impl std::fmt::Display) -> Self {
        Self::new(
            ctx,
            StatusCode::BAD_REQUEST,
            CHAT_INVALID_PARAM,
            invalid_msg(ext),
        )
    }

    /// 232006: a chat_id that is malformed or names no chat of the caller's tenant.
    pub fn chat_id_invalid(ctx: &Ctx) -> Self {
        Self::code(ctx, CHAT_ID_INVALID, CHAT_ID_INVALID_MSG)
    }

    /// 232015: an unknown `user_id_type`/`member_id_type` on a group API.
    pub fn id_type_unsupported(ctx: &Ctx, which: &str) -> Self {
        Self::code(
            ctx,
            CHAT_ID_TYPE_UNSUPPORTED,
            format!("Your request specifies a {which} which is NOT supported."),
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
