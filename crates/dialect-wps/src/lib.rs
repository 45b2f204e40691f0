//! The WPS 365 open platform v7 dialect: a bot written against `openapi.wps.cn` runs
//! against Switchboard after a change of base URL.
//!
//! - [`kso`]: KSO-1 request signatures (and [`sign_headers`] for the CLI);
//! - [`auth`]: `/oauth2/token`, the gate (Bearer token, KSO-1, scope, rate limit) and the
//!   [`auth::Caller`] principal;
//! - [`extract`]: JSON/query/path extractors that reject in the WPS envelope;
//! - [`content`]: WPS content <-> canonical content; [`render`]: domain -> wire JSON;
//! - [`user_token`]: user-context credentials (`wps_sid`, `/v7/dev/agent/token`);
//! - `messages`, `batch` (`/v7/messages/batch_create`), `chats`: the handlers; [`error`]:
//!   the one error table;
//! - [`ids`]: how WPS renders Switchboard ids;
//! - [`events`]: event push in WPS's wire ([`events::WpsEvents`], the `"wps"` event dialect).
//!
//! Every route is served at the vendor's path and again under the `/openapi` gateway prefix.
//! The reference is `docs/dialects/wps.md`.

pub mod auth;
mod batch;
mod chats;
pub mod content;
pub mod error;
pub mod events;
pub mod extract;
mod files;
pub mod ids;
pub mod kso;
mod messages;
pub mod render;
pub mod user_token;

use crate::auth::{Gate, RateLimiter, CHAT_SCOPE, MESSAGE_SCOPE};
use crate::content::WireMention;
use crate::error::{code, WResult, WpsError};
use crate::user_token::SidKey;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use switchboard_core::error::Error;
use switchboard_core::ids::{ChatId, MessageId, TenantId};
use switchboard_core::model::{Actor, App, Content, Mention, MentionTarget, MessageType, User};
use switchboard_core::store::UserKey;
use switchboard_core::Core;

/// This dialect's settings (the `[wps]` section of the config file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How far `X-Kso-Date` may be from the server clock, either way, in seconds.
    pub signature_skew_secs: u64,
    /// Lifetime of `/oauth2/token` access tokens, in seconds (`expires_in`).
    pub token_ttl_secs: u64,
    /// Requests per second each app may make, per node (0 disables the limit).
    pub rate_limit_per_sec: u32,
    /// Requests an app may make in a burst before the per-second rate applies.
    pub rate_limit_burst: u32,
    /// How long after sending an app may recall a message, in seconds (0: no limit).
    pub recall_window_secs: u64,
    /// Longest text or rich-text message, in characters.
    pub max_text_chars: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            signature_skew_secs: 900,
            token_ttl_secs: 7200,
            rate_limit_per_sec: 50,
            rate_limit_burst: 100,
            recall_window_secs: 86_400,
            max_text_chars: 5000,
        }
    }
}

pub(crate) const DEFAULT_PAGE_SIZE: u32 = 20;
pub(crate) const MAX_PAGE_SIZE: u32 = 100;

/// A listing's `page_size`: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when absent.
pub(crate) fn page_size(v: Option<&str>) -> WResult<u32> {
    match v.filter(|v| !v.is_empty()) {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                WpsError::invalid(format!(
                    "page_size must be an integer from 1 to {MAX_PAGE_SIZE}"
                ))
            }),
    }
}

/// Shared state of the dialect's routes.
///
/// One reference count to clone: axum clones the state for every request, on two cores
/// at once.
#[derive(Clone)]
pub(crate) struct WpsState(Arc<WpsParts>);

impl std::ops::Deref for WpsState {
    type Target = WpsParts;
    fn deref(&self) -> &WpsParts {
        &self.0
    }
}

pub(crate) struct WpsParts {
    pub core: Core,
    pub config: Arc<Config>,
    pub limiter: Arc<RateLimiter<Actor>>,
    pub sid_key: SidKey,
}

/// `{code: 0, msg: "success", data}`.
pub(crate) fn ok(data: Value) -> Json<Value> {
    Json(json!({ "code": 0, "msg": "success", "data": data }))
}

/// The same envelope around typed `data`, serialised straight to the response body. The
/// keys are in alphabetical order, so the bytes are those [`ok`] would produce.
#[derive(Serialize)]
pub(crate) struct Success<T> {
    code: i32,
    data: T,
    msg: &'static str,
}

/// The success envelope around `data`, as a response: like `Json`, but serialised into a
/// buffer sized for a message at once rather than grown from 128 bytes.
pub(crate) fn ok_typed<T: Serialize>(data: T) -> axum::response::Response {
    use axum::http::header::CONTENT_TYPE;
    use axum::http::HeaderValue;
    use axum::response::IntoResponse;
    let mut body = Vec::with_capacity(1024);
    let envelope = Success {
        code: 0,
        data,
        msg: "success",
    };
    match serde_json::to_writer(&mut body, &envelope) {
        Ok(()) => (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "wps response did not serialise");
            WpsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "internal error",
            )
            .into_response()
        }
    }
}

/// `{code: 0, msg: "success"}` for calls that document no data.
pub(crate) fn ok_empty() -> Json<Value> {
    Json(json!({ "code": 0, "msg": "success" }))
}

/// Validated content and mentions of a message to send.
pub(crate) struct Draft {
    pub content: Content,
    pub mentions: Vec<Mention>,
}

impl WpsState {
    /// A chat id: not a decimal string is malformed (400001); a decimal naming no possible
    /// chat (beyond the chat id range) is a chat that does not exist (404001).
    pub(crate) fn chat_id(&self, s: &str) -> WResult<ChatId> {
        match ids::parse_chat_id(s) {
            Some(c) => Ok(c),
            None if ids::is_decimal(s) => Err(WpsError::chat_not_found()),
            None => Err(WpsError::invalid(format!("chat_id {s:?} is malformed"))),
        }
    }

    /// A timeline message id (merge-forward child copies are not addressable through WPS).
    pub(crate) fn message_id(&self, s: &str) -> WResult<MessageId> {
        let id = ids::parse_message_id(s)
            .ok_or_else(|| WpsError::invalid(format!("message_id {s:?} is malformed")))?;
        if id.is_child() {
            return Err(WpsError::message_not_found());
        }
        Ok(id)
    }

    /// A message named under a chat path: a message of another chat is not found there.
    pub(crate) fn message_in_chat(&self, chat: &str, msg: &str) -> WResult<(ChatId, MessageId)> {
        let chat = self.chat_id(chat)?;
        let id = self.message_id(msg)?;
        if id.chat() != chat {
            return Err(WpsError::message_not_found());
        }
        Ok((chat, id))
    }

    /// A user of the caller's tenant by its tenant-wide user_id.
    pub(crate) async fn user(&self, tenant: TenantId, user_id: &str) -> WResult<User> {
        match self.core.find_user(tenant, UserKey::UserId(user_id)).await {
            Ok(u) => Ok(u),
            Err(Error::NotFound(_)) => Err(WpsError::new(
                StatusCode::NOT_FOUND,
                code::USER_NOT_FOUND,
                format!("user {user_id:?} not found"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Converts a message's content and resolves its mentions; the domain checks the limits
    /// (`Core::send` validates before it creates a p2p chat).
    pub(crate) async fn draft(
        &self,
        tenant: TenantId,
        kind: MessageType,
        content: &Value,
        wire: &[WireMention],
    ) -> WResult<Draft> {
        let taken: Vec<String> = wire.iter().map(|m| m.id.clone()).collect();
        let inc = content::incoming(kind, content, &taken, self.config.max_text_chars)?;
        // Before the lookups below: the domain's limit, so that a long list costs no reads.
        self.core
            .check_mention_count(wire.len() + inc.inline_mentions.len())?;
        let names = content::at_tags(&inc.content.text);
        let company = ids::company_id(tenant);
        let mut mentions = Vec::new();
        for (i, w) in wire.iter().chain(&inc.inline_mentions).enumerate() {
            let named = names
                .iter()
                .find(|(k, _)| *k == w.id)
                .map(|(_, n)| n.clone());
            let (target, name) = match w.kind.as_str() {
                "all" => (MentionTarget::All, named.unwrap_or_default()),
                "user" => {
                    let who = w.identity.clone().unwrap_or_default();
                    if who.id.is_empty() {
                        return Err(WpsError::invalid(format!(
                            "mentions[{i}].identity.id is required for a user mention"
                        )));
                    }
                    if !who.company_id.is_empty() && who.company_id != company {
                        return Err(WpsError::invalid(format!(
                            "mentions[{i}]: user of another company"
                        )));
                    }
                    let missing =
                        || WpsError::invalid(format!("mentions[{i}]: {:?} not found", who.id));
                    match who.kind.as_str() {
                        "" | "user" => {
                            let u = self.user(tenant, &who.id).await.map_err(|e| {
                                if e.code == code::USER_NOT_FOUND {
                                    missing()
                                } else {
                                    e
                                }
                            })?;
                            (MentionTarget::User(u.id), named.unwrap_or(u.name))
                        }
                        "sp" => {
                            let id = ids::parse_spid(&who.id).ok_or_else(missing)?;
                            let a = self.core.app(tenant, id).await.map_err(|e| {
                                if matches!(e, Error::NotFound(_)) {
                                    missing()
                                } else {
                                    e.into()
                                }
                            })?;
                            (MentionTarget::App(a.id), named.unwrap_or(a.name))
                        }
                        other => {
                            return Err(WpsError::invalid(format!(
                                "mentions[{i}].identity.type must be user or sp, not {other:?}"
                            )))
                        }
                    }
                }
                other => {
                    return Err(WpsError::invalid(format!(
                        "mentions[{i}].type must be all or user, not {other:?}"
                    )))
                }
            };
            mentions.push(Mention {
                key: w.id.clone(),
                target,
                name,
            });
        }
        Ok(Draft {
            content: inc.content,
            mentions,
        })
    }
}

/// The dialect's routes, at the vendor's absolute paths (and under `/openapi`), with their
/// state applied. `sid_key` signs and checks user credentials ([`user_token`]).
pub fn router(core: Core, config: Config, sid_key: SidKey) -> Router {
    let limiter = Arc::new(auth::rate_limiter(&config));
    let state = WpsState(Arc::new(WpsParts {
        core,
        config: Arc::new(config),
        limiter,
        sid_key,
    }));
    let gate = |scope| {
        from_fn_with_state(
            Gate {
                state: state.clone(),
                scope,
            },
            auth::authenticate,
        )
    };
    let messages = Router::new()
        .route(
            "/v7/chats/{chat_id}/messages/{message_id}",
            get(messages::get),
        )
        .route("/v7/chats/{chat_id}/messages", get(messages::history))
        .route(
            "/v7/chats/{chat_id}/messages/{message_id}/resources/{storage_key}/download",
            get(files::download),
        )
        .route("/v7/messages/create", post(messages::create))
        .route("/v7/messages/batch_create", post(batch::batch_create))
        .route(
            "/v7/chats/{chat_id}/messages/{message_id}/reply",
            post(messages::reply),
        )
        .route("/v7/messages/{message_id}/recall", post(messages::recall))
        .route(
            "/v7/chats/{chat_id}/messages/{message_id}/recall",
            post(messages::recall_in_chat),
        )
        .route("/v7/messages/{message_id}/update", post(messages::update))
        .route_layer(gate(MESSAGE_SCOPE));
    let chats = Router::new()
        .route("/v7/chats", get(chats::list))
        .route("/v7/chats/create", post(chats::create))
        .route("/v7/chats/{chat_id}/update", post(chats::update))
        .route("/v7/chats/{chat_id}/delete", post(chats::dissolve))
        .route("/v7/chats/get_p2p_chat", get(chats::get_p2p_chat))
        .route("/v7/chats/{chat_id}", get(chats::get))
        .route("/v7/chats/{chat_id}/members", get(chats::members))
        .route(
            "/v7/chats/{chat_id}/members/batch_create",
            post(chats::batch_create),
        )
        .route(
            "/v7/chats/{chat_id}/members/batch_delete",
            post(chats::batch_delete),
        )
        .route(
            "/v7/chats/{chat_id}/members/is_in_chat",
            get(chats::is_in_chat),
        )
        .route_layer(gate(CHAT_SCOPE));
    let api = Router::new()
        .route("/oauth2/token", post(auth::token))
        .route("/v7/dev/agent/token", post(user_token::agent_token))
        .merge(messages)
        .merge(chats)
        // Unknown /v7 endpoints answer in the WPS envelope rather than the server's.
        .route("/v7", any(no_such_endpoint))
        .route("/v7/", any(no_such_endpoint))
        .route("/v7/{*rest}", any(no_such_endpoint))
        .method_not_allowed_fallback(|| async { WpsError::method_not_allowed() })
        .with_state(state);
    // `/openapi` is WPS's gateway prefix: anything unknown under it is WPS's too.
    Router::new()
        .merge(api.clone())
        .nest("/openapi", api.fallback(no_such_endpoint))
        .route("/openapi/", any(no_such_endpoint))
}

async fn no_such_endpoint() -> WpsError {
    WpsError::no_such_endpoint()
}

/// The KSO-1 headers (`X-Kso-Date`, `X-Kso-Authorization`) for one request, for
/// `switchboard sign wps`. `request_uri` is the path and query exactly as sent.
pub fn sign_headers(
    method: &str,
    request_uri: &str,
    content_type: &str,
    body: &[u8],
    app_id: &str,
    app_secret: &str,
    date_rfc1123: &str,
) -> Vec<(String, String)> {
    let sig = kso::signature(
        app_secret,
        method,
        kso::signed_uri(request_uri),
        content_type,
        date_rfc1123,
        body,
    );
    vec![
        ("X-Kso-Date".into(), date_rfc1123.into()),
        (
            "X-Kso-Authorization".into(),
            kso::authorization(app_id, &sig),
        ),
    ]
}

/// An RFC 1123 date for `X-Kso-Date` from Unix seconds.
pub fn kso_date(unix_secs: i64) -> String {
    kso::format_date(unix_secs)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Ready-to-paste shell commands (curl + openssl) that fetch a token, read `message` from
/// `group`, and send a text to `user`, each request signed with KSO-1.
pub fn demo_commands(
    base_url: &str,
    app: &App,
    group: &switchboard_core::model::Chat,
    message: MessageId,
    user: &User,
) -> String {
    let base = base_url.trim_end_matches('/');
    let get_uri = format!(
        "/v7/chats/{}/messages/{}",
        ids::chat_id(group.id),
        ids::message_id(message)
    );
    let body = json!({ "type": "text", "receiver": { "type": "user", "receiver_id": user.user_id }, "content": { "text": { "content": "Hello from the WPS dialect", "type": "plain" } } })
        .to_string();
    format!(
        r#"# WPS 365 v7 (KSO-1 signed; `switchboard sign wps` prints the same headers)
BASE={base}
APP_ID={app_id}
APP_SECRET={secret}
TOKEN=$(curl -s -X POST "$BASE/oauth2/token" -H 'Content-Type: application/x-www-form-urlencoded' \
  --data-urlencode grant_type=client_credentials --data-urlencode "client_id=$APP_ID" --data-urlencode "client_secret=$APP_SECRET" \
  | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
kso_sign() {{ # method uri content-type date body
  local h=""; [ -n "$5" ] && h=$(printf '%s' "$5" | openssl dgst -sha256 | sed 's/^.* //')
  printf '%s' "KSO-1$1$2$3$4$h" | openssl dgst -sha256 -hmac "$APP_SECRET" | sed 's/^.* //'
}}
# get one message
URI={get_uri}
DATE=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
curl -s "$BASE$URI" -H 'Content-Type: application/json' -H "X-Kso-Date: $DATE" \
  -H "X-Kso-Authorization: KSO-1 $APP_ID:$(kso_sign GET "$URI" application/json "$DATE" '')" -H "Authorization: Bearer $TOKEN"; echo
# send a text to {user_name}
URI=/v7/messages/create
BODY={body}
DATE=$(LC_ALL=C date -u '+%a, %d %b %Y %H:%M:%S GMT')
curl -s -X POST "$BASE$URI" -H 'Content-Type: application/json' -H "X-Kso-Date: $DATE" \
  -H "X-Kso-Authorization: KSO-1 $APP_ID:$(kso_sign POST "$URI" application/json "$DATE" "$BODY")" -H "Authorization: Bearer $TOKEN" \
  --data-binary "$BODY"; echo
"#,
        app_id = shell_quote(&app.app_id),
        secret = shell_quote(app.app_secret.expose()),
        get_uri = shell_quote(&get_uri),
        user_name = user.name.replace('\n', " "),
        body = shell_quote(&body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_headers_match_the_official_vector() {
        let h = sign_headers(
            "GET",
            "/v7/test?key=value",
            "application/json",
            b"",
            "AK123456",
            "sk098765",
            "Mon, 02 Jan 2006 15:04:05 GMT",
        );
        assert_eq!(
            h[0],
            (
                "X-Kso-Date".to_string(),
                "Mon, 02 Jan 2006 15:04:05 GMT".to_string()
            )
        );
        assert_eq!(
            h[1].1,
            "KSO-1 AK123456:ce8df66877175e5198c8ea1362ffddf82e4941c6f25a4ca205a1ad09d0faaf03"
        );
        let prefixed = sign_headers(
            "GET",
            "/openapi/v7/test?key=value",
            "application/json",
            b"",
            "AK123456",
            "sk098765",
            "Mon, 02 Jan 2006 15:04:05 GMT",
        );
        assert_eq!(prefixed, h, "the gateway prefix is not signed");
    }

    #[test]
    fn config_defaults_and_strictness() {
        let c: Config = serde_json::from_value(json!({})).unwrap();
        assert_eq!(c.signature_skew_secs, 900);
        assert_eq!(c.token_ttl_secs, 7200);
        assert!(serde_json::from_value::<Config>(json!({ "signature_skew": 1 })).is_err());
    }
}
