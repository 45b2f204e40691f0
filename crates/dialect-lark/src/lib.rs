//! BOSS Hi and Feishu/Lark v1: one dialect with two faces.
//!
//! Hi clones Feishu's message shapes and differs only in its paths (no version segment),
//! its envelopes (`{code, msg, success, traceId, data}`, token wrapped in `data`, get
//! returning one object instead of `items[]`) and a few spellings (`rich_text`,
//! `compressive_card`, camelCase `sender` keys, `atIdList`). So there is one set of
//! handlers, and [`face::Face`] decides the envelope and spellings per request.
//!
//! - [`face`]: which face a request came through;
//! - [`error`]: the error envelope and the one table mapping `core::Error` to vendor codes;
//! - [`auth`]: the tenant token, rate limit, bot ability and scope → [`auth::Caller`],
//!   through [`auth::Scoped`], the one auth extractor;
//! - [`extract`]: the JSON, query and path extractors that answer malformed input in the
//!   vendor envelope;
//! - [`token`]: tenant/app access tokens (stateless, so every node accepts every node's);
//! - [`content`]: vendor content JSON ↔ canonical content, mentions both ways;
//! - [`render`]: a message as a Hi/Feishu reader sees it (`user_id_type`, ids, sender);
//! - [`messages`], [`chats`]: the handlers;
//! - [`files`]: image and file uploads and downloads (Feishu only);
//! - [`ids`]: how ids are rendered (`om_`, `oc_`, `ou_`, `on_`, `omt_`).
//!
//! Documented in `docs/dialects/lark.md`.

pub mod auth;
pub mod chats;
pub mod content;
pub mod error;
pub mod events;
pub mod extract;
pub mod face;
pub mod files;
pub mod history;
pub mod ids;
pub mod members;
pub mod messages;
pub mod pins;
pub mod reactions;
pub mod render;
pub mod token;

use axum::routing::{any, get, post};
use axum::Router;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchboard_core::ids::MessageId;
use switchboard_core::model::{App, Chat, User};
use switchboard_core::ratelimit::{Quota, RateLimiter};
use switchboard_core::Core;

/// This dialect's settings (the `[lark]` section of the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Lifetime of a tenant/app access token, in seconds.
    pub token_ttl_secs: i64,
    /// A token request returns the current token while at least this many seconds of it
    /// remain, and a new one afterwards (the old one stays valid until it expires).
    pub token_refresh_secs: i64,
    /// How long after sending a bot may recall its own message.
    pub recall_window_secs: i64,
    /// How long after sending a chat owner or admin bot may recall others' messages.
    pub admin_recall_window_secs: i64,
    /// How many times a text/post message may be edited.
    pub max_edits: u32,
    /// How long after sending a card may be updated.
    pub card_update_window_secs: i64,
    /// How long a send's `uuid` keeps returning the message it first created.
    pub idempotency_window_secs: i64,
    /// Requests per app per second on this node (0: unlimited).
    pub rate_limit_per_second: u32,
    /// Requests per app per minute on this node (0: unlimited).
    pub rate_limit_per_minute: u32,
    /// The field scope needed for `user_id_type=user_id`.
    pub user_id_scope: String,
    /// Feishu long connections (events over WebSocket) one app may hold on this node; more
    /// are refused with 1000040350.
    pub ws_max_connections_per_app: usize,
    /// The `PingInterval` long-connection clients are told, in seconds; a connection that
    /// sends nothing for three of them is closed.
    pub ws_ping_interval_secs: u64,
    /// The largest WebSocket message a long-connection client may send, in bytes.
    pub ws_max_frame_bytes: usize,
    /// Events larger than this many bytes are sent in fragments of this size (lark-oapi's
    /// WebSocket library refuses messages over 1 MiB).
    pub ws_fragment_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            token_ttl_secs: 7200,
            token_refresh_secs: 1800,
            recall_window_secs: 24 * 3600,
            admin_recall_window_secs: 365 * 24 * 3600,
            max_edits: 20,
            card_update_window_secs: 14 * 24 * 3600,
            idempotency_window_secs: 3600,
            rate_limit_per_second: 50,
            rate_limit_per_minute: 1000,
            user_id_scope: "contact:user.employee_id:readonly".into(),
            ws_max_connections_per_app: 50,
            ws_ping_interval_secs: 120,
            ws_max_frame_bytes: 1 << 20,
            ws_fragment_bytes: 512 << 10,
        }
    }
}

/// What every handler shares.
///
/// One reference count to clone: axum clones the state for every request, on two cores
/// at once.
#[derive(Clone)]
pub struct LarkState(Arc<LarkParts>);

impl std::ops::Deref for LarkState {
    type Target = LarkParts;
    fn deref(&self) -> &LarkParts {
        &self.0
    }
}

pub struct LarkParts {
    pub core: Core,
    pub config: Arc<Config>,
    pub limiter: Arc<RateLimiter>,
}

/// The dialect's routes, at the vendor's absolute paths, with their state applied.
///
/// Everything sits under `/open-apis`, nested so that unknown paths and methods there are
/// answered in the vendor envelope too, except Feishu's long connection (discovery and
/// the WebSocket, at the root as the clients expect), served over `conns`: the same
/// registry the Feishu [`events::LarkEvents`] pushes through.
pub fn router(core: Core, config: Config, conns: events::ws::LarkConnections) -> Router {
    let long_connection = events::ws::routes(core.clone(), conns);
    // Feishu's tier: so many at once, refilled evenly over the second and the minute.
    let limiter = Arc::new(RateLimiter::new([
        Quota::per_second(config.rate_limit_per_second),
        Quota::per_minute(config.rate_limit_per_minute),
    ]));
    let state = LarkState(Arc::new(LarkParts {
        core,
        config: Arc::new(config),
        limiter,
    }));
    let mut api = Router::new();
    // Feishu paths carry a version segment (`/im/v1`, `/auth/v3`); Hi's do not.
    for (im, auth) in [("/im/v1", "/auth/v3"), ("/im", "/auth")] {
        api = api
            .route(
                &format!("{auth}/tenant_access_token/internal"),
                post(token::tenant_access_token),
            )
            .route(
                &format!("{auth}/app_access_token/internal"),
                post(token::app_access_token),
            )
            .route(
                &format!("{im}/messages"),
                post(messages::send).get(history::list),
            )
            .route(
                &format!("{im}/messages/merge_forward"),
                post(messages::merge_forward),
            )
            .route(
                &format!("{im}/messages/{{message_id}}"),
                get(messages::get)
                    .put(messages::edit)
                    .patch(messages::patch_card)
                    .delete(messages::recall),
            )
            .route(
                &format!("{im}/messages/{{message_id}}/reply"),
                post(messages::reply),
            )
            .route(
                &format!("{im}/messages/{{message_id}}/forward"),
                post(messages::forward),
            )
            .route(
                &format!("{im}/messages/{{message_id}}/reactions"),
                post(reactions::add).get(reactions::list),
            )
            .route(
                &format!("{im}/messages/{{message_id}}/reactions/{{reaction_id}}"),
                axum::routing::delete(reactions::delete),
            )
            .route(
                &format!("{im}/messages/{{message_id}}/read_users"),
                get(reactions::read_users),
            )
            .route(&format!("{im}/pins"), post(pins::create).get(pins::list))
            .route(
                &format!("{im}/pins/{{message_id}}"),
                axum::routing::delete(pins::delete),
            )
            .route(&format!("{im}/chats"), post(chats::create).get(chats::list))
            .route(
                &format!("{im}/chats/{{chat_id}}"),
                get(chats::get).put(chats::update).delete(chats::dissolve),
            )
            .route(
                &format!("{im}/chats/{{chat_id}}/members"),
                post(chats::add_members)
                    .get(members::list)
                    .delete(members::remove),
            )
            .route(
                &format!("{im}/chats/{{chat_id}}/members/is_in_chat"),
                get(chats::is_in_chat),
            );
    }
    // Hi documents its card update as a POST beside the message.
    api = api.route(
        "/im/messages/{message_id}/update",
        post(messages::update_card_hi),
    );
    // Images and files, Feishu only; the uploads with room for the largest file.
    let upload_body = axum::extract::DefaultBodyLimit::max(
        state.core.file_limits().max_any() + files::FORM_SLACK_BYTES,
    );
    api = api
        .route(
            "/im/v1/images",
            post(files::upload_image).layer(upload_body),
        )
        .route("/im/v1/images/{image_key}", get(files::get_image))
        .route("/im/v1/files", post(files::upload_file).layer(upload_body))
        .route("/im/v1/files/{file_key}", get(files::get_file))
        .route(
            "/im/v1/messages/{message_id}/resources/{file_key}",
            get(files::get_resource),
        );
    let api = api
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn(face::tag_request))
        .with_state(state);
    // `/open-apis/` (empty rest) is not routed into the nest: answer it the same way.
    Router::new()
        .nest("/open-apis", api)
        .route(
            "/open-apis/",
            any(error::not_found).layer(axum::middleware::from_fn(face::tag_request)),
        )
        .merge(long_connection)
}

/// Ready-to-paste shell commands exercising both faces against a running demo: fetch a
/// tenant token, get `message`, send a text to `group` (and to `user`'s p2p chat).
pub fn demo_commands(
    base_url: &str,
    app: &App,
    group: &Chat,
    message: MessageId,
    user: &User,
) -> String {
    let base = base_url.trim_end_matches('/');
    let cred = format!(
        r#"{{"app_id":"{}","app_secret":"{}"}}"#,
        app.app_id,
        app.app_secret.expose()
    );
    let msg = ids::message_id(message);
    let chat = ids::chat_id(group.id);
    let open_id = ids::open_id(user.id, app.id);
    let text = r#"{\"text\":\"hello from curl\"}"#;
    format!(
        r#"# --- Feishu/Lark v1 face ---
TOKEN=$(curl -s -X POST '{base}/open-apis/auth/v3/tenant_access_token/internal' \
  -H 'Content-Type: application/json; charset=utf-8' \
  -d '{cred}' | sed -E 's/.*"tenant_access_token":"([^"]+)".*/\1/')
curl -s '{base}/open-apis/im/v1/messages/{msg}?user_id_type=open_id' -H "Authorization: Bearer $TOKEN"; echo
curl -s -X POST '{base}/open-apis/im/v1/messages?receive_id_type=chat_id' \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json; charset=utf-8' \
  -d '{{"receive_id":"{chat}","msg_type":"text","content":"{text}"}}'; echo
curl -s -X POST '{base}/open-apis/im/v1/messages?receive_id_type=open_id' \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json; charset=utf-8' \
  -d '{{"receive_id":"{open_id}","msg_type":"text","content":"{text}"}}'; echo

# --- BOSS Hi face (no version segment; token inside "data") ---
HI_TOKEN=$(curl -s -X POST '{base}/open-apis/auth/tenant_access_token/internal' \
  -H 'Content-Type: application/json; charset=utf-8' \
  -d '{cred}' | sed -E 's/.*"tenant_access_token":"([^"]+)".*/\1/')
curl -s '{base}/open-apis/im/messages/{msg}' -H "Authorization: Bearer $HI_TOKEN"; echo
curl -s -X POST '{base}/open-apis/im/messages?receive_id_type=chat_id' \
  -H "Authorization: Bearer $HI_TOKEN" -H 'Content-Type: application/json; charset=utf-8' \
  -d '{{"receive_id":"{chat}","msg_type":"text","content":"{text}"}}'; echo
"#
    )
}
