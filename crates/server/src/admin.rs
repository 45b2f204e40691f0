//! The admin API (`/admin/v1`): provisioning tenants, users, apps, chats and members, and
//! injecting messages as any user or app. Documented in `docs/admin-api.md`.
//!
//! Every error is `{"code": "...", "message": "..."}` with a 4xx status (503 when the store
//! is unavailable); every path segment naming a resource accepts the canonical id and each
//! dialect's rendering of it.

use crate::dialect_ids;
use crate::AppState;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::content;
use switchboard_core::error::{Conflict, Denied, Entity, Error};
use switchboard_core::ids::*;
use switchboard_core::input;
use switchboard_core::model::*;
use switchboard_core::service::{self, Access, CreateChat, CreateUser, MessageView};
use switchboard_core::store::{AppPatch, Page, UserKey};
use switchboard_dialect_lark::ids as lark;
use switchboard_dialect_wps::ids as wps;
use switchboard_dialect_yunxin::ids as yunxin;

/// An admin API error: status, stable code, message.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl AdminError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError {
            status,
            code,
            message: message.into(),
        }
    }
    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
    fn not_found(what: &str, seg: &str) -> Self {
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
            Error::Forbidden(Denied::NotMember) => {
                "the sender is not a member of this chat".to_string()
            }
            Error::Conflict(Conflict::Duplicate(what)) => format!("{what} already exists"),
            Error::Conflict(Conflict::OwnerStays) => {
                "the chat's owner cannot be removed".to_string()
            }
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

type AResult<T> = Result<T, AdminError>;

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

async fn require_admin(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(t) if state.admin_token.matches(t) => next.run(req).await,
        Some(_) => AdminError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "invalid admin token",
        )
        .into_response(),
        None => AdminError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing Authorization: Bearer <admin token>",
        )
        .into_response(),
    }
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route("/tenants/{tenant}", get(get_tenant))
        .route("/tenants/{tenant}/users", post(create_user).get(list_users))
        .route("/tenants/{tenant}/users/{user}", get(get_user))
        .route("/tenants/{tenant}/apps", post(create_app).get(list_apps))
        .route(
            "/tenants/{tenant}/apps/{app}",
            get(get_app).put(update_app).patch(update_app),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/rotate_secret",
            post(rotate_secret),
        )
        .route("/tenants/{tenant}/chats", post(create_chat).get(list_chats))
        .route(
            "/tenants/{tenant}/chats/{chat}",
            get(get_chat).delete(dissolve_chat),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/members",
            get(list_members)
                .post(add_members)
                .patch(set_role)
                .delete(remove_members),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/messages",
            post(send_message).get(list_messages),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/messages/{message}",
            get(get_message).put(edit_message).delete(recall_message),
        )
        .fallback(|| async { no_such_endpoint() })
        .method_not_allowed_fallback(|| async {
            AdminError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .with_state(state);
    // Everything else under `/admin` (other versions, `/admin/v1/`) is the admin API's too.
    let nowhere = || async { no_such_endpoint() };
    Router::new()
        .nest("/admin/v1", api)
        .route("/admin", any(nowhere))
        .route("/admin/", any(nowhere))
        .route("/admin/v1/", any(nowhere))
        .route("/admin/{*rest}", any(nowhere))
}

fn no_such_endpoint() -> AdminError {
    AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint")
}

// ----- resolution of path segments ------------------------------------------------------

fn canonical_number(seg: &str) -> Option<i64> {
    (!seg.is_empty()
        && seg.len() <= 19
        && seg.bytes().all(|b| b.is_ascii_digit())
        && !seg.starts_with('0'))
    .then(|| seg.parse().ok())
    .flatten()
}

/// A lookup's `NotFound` names the path segment; any other failure (the store being
/// unavailable) keeps its own status.
fn not_found_or(e: Error, what: &str, seg: &str) -> AdminError {
    match e {
        Error::NotFound(_) => AdminError::not_found(what, seg),
        other => other.into(),
    }
}

async fn tenant(state: &AppState, seg: &str) -> AResult<Tenant> {
    let id = canonical_number(seg)
        .map(TenantId)
        .or_else(|| lark::parse_tenant_key(seg));
    match id {
        Some(id) => state
            .core
            .tenant(id)
            .await
            .map_err(|e| not_found_or(e, "tenant", seg)),
        None => Err(AdminError::not_found("tenant", seg)),
    }
}

/// A user by canonical id, open_id (needs `?app=`), union_id, user_id or account_id.
async fn user(state: &AppState, t: &Tenant, seg: &str, app: Option<&App>) -> AResult<User> {
    let core = &state.core;
    if let Some(n) = canonical_number(seg) {
        match core.user(t.id, UserId(n)).await {
            Ok(u) => return Ok(u),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if seg.starts_with("ou_") {
        let app = app.ok_or_else(|| {
            AdminError::bad("an open_id names a user only together with ?app=<app_id>")
        })?;
        let id =
            lark::parse_open_id(seg, app.id).ok_or_else(|| AdminError::not_found("user", seg))?;
        return core
            .user(t.id, id)
            .await
            .map_err(|e| not_found_or(e, "user", seg));
    }
    if let Some(id) = lark::parse_union_id(seg) {
        return core
            .user(t.id, id)
            .await
            .map_err(|e| not_found_or(e, "user", seg));
    }
    for key in [UserKey::UserId(seg), UserKey::AccountId(seg)] {
        match core.find_user(t.id, key).await {
            Ok(u) => return Ok(u),
            Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(AdminError::not_found("user", seg))
}

async fn app(state: &AppState, t: &Tenant, seg: &str) -> AResult<App> {
    let found = match canonical_number(seg) {
        Some(n) => state.core.app(t.id, AppId(n)).await,
        None => state.core.app_by_public_id(seg).await.and_then(|a| {
            if a.tenant == t.id {
                Ok(a)
            } else {
                Err(Error::NotFound(Entity::App))
            }
        }),
    };
    found.map_err(|e| match e {
        Error::NotFound(_) => AdminError::not_found("app", seg),
        other => other.into(),
    })
}

/// An actor given as `{type: user|app, id}`; the id may be any of the resource's names.
async fn actor(state: &AppState, t: &Tenant, r: &ActorRef) -> AResult<Actor> {
    match r.kind.as_str() {
        "user" => Ok(Actor::User(user(state, t, &r.id.to_key(), None).await?.id)),
        "app" => Ok(Actor::App(app(state, t, &r.id.to_key()).await?.id)),
        other => Err(AdminError::bad(format!(
            "actor type must be \"user\" or \"app\", not {other:?}"
        ))),
    }
}

/// A chat by canonical id (= WPS chat_id = Yunxin team_id), `oc_…`, or a Yunxin conversation id.
async fn chat(state: &AppState, t: &Tenant, seg: &str) -> AResult<Chat> {
    let id = if let Some(n) = canonical_number(seg) {
        Some(ChatId(n))
    } else if seg.starts_with("oc_") {
        lark::parse_chat_id(seg)
    } else if seg.contains('|') {
        let conv = yunxin::ConversationId::parse(seg).map_err(AdminError::bad)?;
        match conv.kind {
            // A team id naming no possible chat (a Long beyond the chat id range) is not found.
            ChatKind::Group | ChatKind::SuperGroup => conv.team(),
            ChatKind::P2p => {
                let owner = user(state, t, &conv.owner, None).await?;
                let peer = match user(state, t, &conv.other, None).await {
                    Ok(u) => Actor::User(u.id),
                    Err(_) => Actor::App(app(state, t, &conv.other).await?.id),
                };
                state
                    .core
                    .find_p2p(t.id, Actor::User(owner.id), peer)
                    .await?
                    .map(|c| c.id)
            }
        }
    } else {
        None
    };
    match id {
        Some(id) if id.0 <= MAX_CHAT_ID => state
            .core
            .chat(t.id, id)
            .await
            .map_err(|e| not_found_or(e, "chat", seg)),
        _ => Err(AdminError::not_found("chat", seg)),
    }
}

fn message_id(seg: &str) -> Option<MessageId> {
    canonical_number(seg)
        .and_then(MessageId::from_raw)
        .or_else(|| lark::parse_message_id(seg))
        .or_else(|| wps::parse_message_id(seg))
}

// ----- rendering ------------------------------------------------------------------------

fn tenant_json(t: &Tenant) -> Value {
    json!({
        "id": t.id, "name": t.name, "created_at": t.created_at,
        "dialect_ids": dialect_ids::tenant(t.id),
    })
}

fn user_json(u: &User, app: Option<&App>) -> Value {
    json!({
        "id": u.id, "tenant_id": u.tenant, "user_id": u.user_id, "account_id": u.account_id,
        "name": u.name, "created_at": u.created_at,
        "dialect_ids": dialect_ids::user(u, app.map(|a| a.id)),
    })
}

fn app_json(a: &App, with_secret: bool) -> Value {
    let mut v = json!({
        "id": a.id, "tenant_id": a.tenant, "app_id": a.app_id, "name": a.name,
        "spid": wps::spid(a.id), "bot_enabled": a.bot_enabled, "signing_required": a.signing_required,
        "scopes": a.scopes, "created_at": a.created_at,
        "dialect_ids": dialect_ids::app(a),
    });
    if with_secret {
        v["app_secret"] = json!(a.app_secret.expose());
    }
    v
}

fn actor_json(a: Actor) -> Value {
    json!({ "type": a.kind(), "id": a.raw_id() })
}

fn member_json(m: &Member) -> Value {
    json!({ "type": m.actor.kind(), "id": m.actor.raw_id(), "role": m.role.as_str(), "joined_at": m.joined_at })
}

async fn chat_json(state: &AppState, c: &Chat, members: Option<&[Member]>) -> AResult<Value> {
    let mut v = json!({
        "id": c.id, "tenant_id": c.tenant, "type": c.kind.as_str(), "name": c.name,
        "owner": actor_json(c.owner), "created_at": c.created_at,
        "dissolved": c.dissolved_at.is_some(), "dissolved_at": c.dissolved_at,
        "last_position": c.last_position,
        "dialect_ids": dialect_ids::chat(&state.core, c).await?,
    });
    if let Some(ms) = members {
        v["members"] = ms.iter().map(member_json).collect();
    }
    Ok(v)
}

fn message_json(v: &MessageView) -> Value {
    let m = &v.message;
    let mentions: Vec<Value> = m
        .mentions
        .iter()
        .map(|mn| {
            let (kind, id) = match mn.target {
                MentionTarget::All => ("all", Value::Null),
                MentionTarget::User(u) => ("user", json!(u)),
                MentionTarget::App(a) => ("app", json!(a)),
            };
            json!({ "key": mn.key, "type": kind, "id": id, "name": mn.name })
        })
        .collect();
    json!({
        "id": m.id, "chat_id": m.chat, "position": m.position(),
        "sender": actor_json(m.sender),
        "type": m.kind.as_str(), "content": m.content.data, "text": m.content.text,
        "mentions": mentions,
        "created_at": m.created_at, "updated_at": m.updated_at,
        "updated": m.edit.is_some(), "edit_count": m.edit.as_ref().map_or(0, |e| e.count),
        "removed": m.removal.as_ref().map(|r| json!({ "kind": r.kind.as_str(), "by": actor_json(r.by), "at": r.at })),
        "reply_to": m.parent, "root_id": m.root, "thread_id": m.thread,
        "upper_id": m.upper, "client_msg_id": m.client_msg_id,
        "dialect_ids": dialect_ids::message(m.id),
    })
}

// ----- request bodies -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    name: String,
    user_id: Option<String>,
    account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppUpdateBody {
    name: Option<String>,
    bot_enabled: Option<bool>,
    signing_required: Option<bool>,
    scopes: Option<Vec<String>>,
}

/// An id in a body: a canonical number or any string name.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdRef {
    Num(i64),
    Str(String),
}

impl IdRef {
    fn to_key(&self) -> String {
        match self {
            IdRef::Num(n) => n.to_string(),
            IdRef::Str(s) => s.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorRef {
    #[serde(rename = "type")]
    kind: String,
    id: IdRef,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    owner: ActorRef,
    #[serde(default)]
    members: Vec<ActorRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MembersBody {
    members: Vec<ActorRef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MentionBody {
    key: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    id: Option<IdRef>,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    sender: ActorRef,
    #[serde(rename = "type")]
    kind: String,
    content: Value,
    #[serde(default)]
    mentions: Vec<MentionBody>,
    reply_to: Option<IdRef>,
    #[serde(default)]
    reply_in_thread: bool,
    client_msg_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    content: Value,
    #[serde(default)]
    mentions: Vec<MentionBody>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

impl PageQuery {
    fn page(&self) -> AResult<Page> {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppQuery {
    app: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListMessagesQuery {
    after_position: Option<i64>,
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecallQuery {
    kind: Option<String>,
}

// ----- handlers -------------------------------------------------------------------------

async fn create_tenant(
    State(s): State<AppState>,
    AdminJson(b): AdminJson<NameBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = s.core.create_tenant(&b.name).await?;
    Ok((StatusCode::CREATED, Json(tenant_json(&t))))
}

async fn list_tenants(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let items: Vec<Value> = s
        .core
        .list_tenants(q.page()?)
        .await?
        .iter()
        .map(tenant_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn get_tenant(
    State(s): State<AppState>,
    AdminPath(seg): AdminPath<String>,
) -> AResult<Json<Value>> {
    Ok(Json(tenant_json(&tenant(&s, &seg).await?)))
}

async fn create_user(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminJson(b): AdminJson<UserBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let u = s
        .core
        .create_user(
            t.id,
            CreateUser {
                name: b.name,
                user_id: b.user_id,
                account_id: b.account_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_json(&u, None))))
}

async fn list_users(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let items: Vec<Value> = s
        .core
        .list_users(t.id, q.page()?)
        .await?
        .iter()
        .map(|u| user_json(u, None))
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn get_user(
    State(s): State<AppState>,
    AdminPath((t, u)): AdminPath<(String, String)>,
    AdminQuery(q): AdminQuery<AppQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = match &q.app {
        Some(seg) => Some(app(&s, &t, seg).await?),
        None => None,
    };
    let u = user(&s, &t, &u, a.as_ref()).await?;
    Ok(Json(user_json(&u, a.as_ref())))
}

async fn create_app(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminJson(b): AdminJson<NameBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let a = s.core.create_app(t.id, &b.name).await?;
    Ok((StatusCode::CREATED, Json(app_json(&a, true))))
}

async fn list_apps(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let items: Vec<Value> = s
        .core
        .list_apps(t.id, q.page()?)
        .await?
        .iter()
        .map(|a| app_json(a, false))
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn get_app(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    Ok(Json(app_json(&app(&s, &t, &a).await?, false)))
}

async fn update_app(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<AppUpdateBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    let patch = AppPatch {
        name: b.name,
        app_secret: None,
        bot_enabled: b.bot_enabled,
        signing_required: b.signing_required,
        scopes: b.scopes,
    };
    Ok(Json(app_json(
        &s.core.update_app(t.id, a.id, patch).await?,
        false,
    )))
}

async fn rotate_secret(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    Ok(Json(app_json(
        &s.core.rotate_app_secret(t.id, a.id).await?,
        true,
    )))
}

async fn create_chat(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminJson(b): AdminJson<ChatBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let kind = ChatKind::parse(&b.kind).ok_or_else(|| {
        AdminError::bad(format!(
            "type must be p2p, group or super_group, not {:?}",
            b.kind
        ))
    })?;
    let owner = actor(&s, &t, &b.owner).await?;
    let mut members = Vec::with_capacity(b.members.len());
    for m in &b.members {
        members.push(actor(&s, &t, m).await?);
    }
    if kind == ChatKind::P2p {
        let peers: Vec<Actor> = members.iter().copied().filter(|m| *m != owner).collect();
        if peers.len() == 1 && s.core.find_p2p(t.id, owner, peers[0]).await?.is_some() {
            return Err(AdminError::new(
                StatusCode::CONFLICT,
                "already_exists",
                "a p2p chat between these two already exists",
            ));
        }
    }
    let c = s
        .core
        .create_chat(
            t.id,
            CreateChat {
                kind,
                name: b.name,
                owner,
                members,
            },
        )
        .await?;
    let ms = s.core.members(t.id, c.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(chat_json(&s, &c, Some(&ms)).await?),
    ))
}

async fn list_chats(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let mut items = Vec::new();
    for c in s.core.list_chats(t.id, q.page()?).await? {
        items.push(chat_json(&s, &c, None).await?);
    }
    Ok(Json(json!({ "items": items })))
}

async fn get_chat(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let ms = s.core.members(t.id, c.id).await?;
    Ok(Json(chat_json(&s, &c, Some(&ms)).await?))
}

async fn dissolve_chat(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let c = s.core.dissolve_chat(t.id, c.id).await?;
    Ok(Json(chat_json(&s, &c, None).await?))
}

async fn list_members(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let items: Vec<Value> = s
        .core
        .members(t.id, c.id)
        .await?
        .iter()
        .map(member_json)
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn resolve_members(s: &AppState, t: &Tenant, refs: &[ActorRef]) -> AResult<Vec<Actor>> {
    if refs.is_empty() {
        return Err(AdminError::bad("members must not be empty"));
    }
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        out.push(actor(s, t, r).await?);
    }
    Ok(out)
}

async fn add_members(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<MembersBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let actors = resolve_members(&s, &t, &b.members).await?;
    let added: Vec<Value> = s
        .core
        .add_members(t.id, c.id, actors)
        .await?
        .iter()
        .map(member_json)
        .collect();
    Ok(Json(json!({ "added": added })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    members: Vec<ActorRef>,
    role: String,
}

async fn set_role(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<RoleBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let role = match b.role.as_str() {
        "admin" => Role::Admin,
        "member" => Role::Member,
        other => {
            return Err(AdminError::bad(format!(
                "role must be admin or member, not {other:?}"
            )))
        }
    };
    let actors = resolve_members(&s, &t, &b.members).await?;
    let mut items = Vec::with_capacity(actors.len());
    for a in actors {
        items.push(member_json(
            &s.core.set_member_role(t.id, c.id, a, role).await?,
        ));
    }
    Ok(Json(json!({ "items": items })))
}

async fn remove_members(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<MembersBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let actors = resolve_members(&s, &t, &b.members).await?;
    let removed: Vec<Value> = s
        .core
        .remove_members(t.id, c.id, actors)
        .await?
        .into_iter()
        .map(actor_json)
        .collect();
    Ok(Json(json!({ "removed": removed })))
}

async fn mentions(s: &AppState, t: &Tenant, body: &[MentionBody]) -> AResult<Vec<Mention>> {
    let mut out = Vec::with_capacity(body.len());
    for (i, m) in body.iter().enumerate() {
        let target = match (m.kind.as_str(), &m.id) {
            ("all", _) => MentionTarget::All,
            ("user", Some(id)) => MentionTarget::User(user(s, t, &id.to_key(), None).await?.id),
            ("app", Some(id)) => MentionTarget::App(app(s, t, &id.to_key()).await?.id),
            ("user" | "app", None) => {
                return Err(AdminError::bad(format!("mentions[{i}]: id is required")))
            }
            (other, _) => {
                return Err(AdminError::bad(format!(
                    "mentions[{i}]: type must be all, user or app, not {other:?}"
                )))
            }
        };
        out.push(Mention {
            key: m.key.clone().unwrap_or_else(|| (i + 1).to_string()),
            target,
            name: m.name.clone(),
        });
    }
    Ok(out)
}

fn message_kind(kind: &str) -> AResult<MessageType> {
    MessageType::parse(kind)
        .ok_or_else(|| AdminError::bad(format!("unknown message type {kind:?}")))
}

async fn send_message(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<MessageBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let sender = actor(&s, &t, &b.sender).await?;
    let kind = message_kind(&b.kind)?;
    if kind == MessageType::MergeForward {
        return Err(AdminError::bad(
            "merge_forward messages are created by forwarding, not sent",
        ));
    }
    let content = content::canonical(kind, b.content).map_err(AdminError::bad)?;
    let mut cmd = service::Send::new(t.id, c.id, sender, kind, content);
    cmd.mentions = mentions(&s, &t, &b.mentions).await?;
    cmd.reply_to = match &b.reply_to {
        Some(r) => Some(
            message_id(&r.to_key())
                .ok_or_else(|| AdminError::bad("reply_to is not a message id"))?,
        ),
        None => None,
    };
    cmd.reply_in_thread = b.reply_in_thread;
    cmd.client_msg_id = b.client_msg_id;
    let v = s.core.send(cmd).await?;
    Ok((StatusCode::CREATED, Json(message_json(&v))))
}

async fn find_message(s: &AppState, t: &Tenant, c: &Chat, seg: &str) -> AResult<MessageView> {
    let id = message_id(seg).ok_or_else(|| AdminError::not_found("message", seg))?;
    s.core
        .get(t.id, Access::Admin, Some(c.id), id)
        .await
        .map_err(|e| match e {
            Error::NotFound(_) => AdminError::not_found("message", seg),
            other => other.into(),
        })
}

async fn get_message(
    State(s): State<AppState>,
    AdminPath((t, c, m)): AdminPath<(String, String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let v = find_message(&s, &t, &c, &m).await?;
    let mut out = message_json(&v);
    if v.message.kind == MessageType::MergeForward {
        let kids = s.core.children(t.id, Access::Admin, v.message.id).await?;
        out["children"] = kids.iter().map(message_json).collect();
    }
    Ok(Json(out))
}

async fn edit_message(
    State(s): State<AppState>,
    AdminPath((t, c, m)): AdminPath<(String, String, String)>,
    AdminJson(b): AdminJson<EditBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let v = find_message(&s, &t, &c, &m).await?;
    let kind = match &b.kind {
        Some(k) => message_kind(k)?,
        None => v.message.kind,
    };
    let content = content::canonical(kind, b.content).map_err(AdminError::bad)?;
    let cmd = service::Edit {
        tenant: t.id,
        actor: v.message.sender,
        id: v.message.id,
        kind,
        content,
        mentions: mentions(&s, &t, &b.mentions).await?,
        editable: &[],
        sender_only: true,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    Ok(Json(message_json(&s.core.edit(cmd).await?)))
}

async fn recall_message(
    State(s): State<AppState>,
    AdminPath((t, c, m)): AdminPath<(String, String, String)>,
    AdminQuery(q): AdminQuery<RecallQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let v = find_message(&s, &t, &c, &m).await?;
    let kind = match q.kind.as_deref() {
        None | Some("recalled") => RemovalKind::Recalled,
        Some("recalled_one_way") => RemovalKind::RecalledOneWay,
        Some("deleted") => RemovalKind::Deleted,
        Some(other) => {
            return Err(AdminError::bad(format!(
                "kind must be recalled, recalled_one_way or deleted, not {other:?}"
            )))
        }
    };
    let cmd = service::Recall {
        tenant: t.id,
        actor: v.message.sender,
        id: v.message.id,
        kind,
        window_ms: None,
        admin_window_ms: None,
    };
    Ok(Json(message_json(&s.core.recall(cmd).await?)))
}

async fn list_messages(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminQuery(q): AdminQuery<ListMessagesQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=service::MAX_PAGE).contains(&limit) {
        return Err(AdminError::bad(format!(
            "limit must be 1 to {}",
            service::MAX_PAGE
        )));
    }
    let after = q.after_position.unwrap_or(0);
    if after < 0 {
        return Err(AdminError::bad("after_position must not be negative"));
    }
    let query = service::ListQuery {
        tenant: t.id,
        access: Access::Admin,
        chat: c.id,
        after_position: after,
        before_position: None,
        since_ms: None,
        until_ms: None,
        limit: limit + 1,
        descending: false,
    };
    let mut views = s.core.list(query).await?;
    let has_more = views.len() > limit as usize;
    views.truncate(limit as usize);
    let next = views.last().and_then(|v| v.message.position());
    let items: Vec<Value> = views.iter().map(message_json).collect();
    Ok(Json(
        json!({ "items": items, "has_more": has_more, "next_after_position": next }),
    ))
}
