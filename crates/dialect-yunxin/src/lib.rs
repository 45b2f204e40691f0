//! The NetEase Yunxin (网易云信) IM server API v2 dialect, at `open.yunxinapi.com`'s paths.
//!
//! - [`auth`]: AppKey / Nonce / CurTime / CheckSum verification, the [`auth::Caller`] extractor;
//! - [`extract`]: body, query and path extractors answering in the Yunxin envelope;
//! - [`error`]: the envelope and the one error table;
//! - [`resolve`]: account ids and `owner|type|other` conversation ids -> parties and chats;
//! - [`content`]: Yunxin message content <-> canonical content;
//! - [`render`]: a message as the query endpoint returns it;
//! - [`messages`], [`history`], [`accounts`], [`teams`], [`members`]: the handlers;
//! - [`ids`]: how Yunxin renders Switchboard ids;
//! - [`events`]: the message copy (消息抄送) as an event dialect.
//!
//! Every route is served under both `/im/v2` and `/im/v2.1`. The HTTP status is always 200;
//! the outcome is in the body's `code`. An AppKey acts for its whole tenant, as on the
//! vendor's server API: there are no scopes, and requests name the acting account in the
//! conversation id or an `operator` field. See `docs/dialects/yunxin.md`.

pub mod accounts;
pub mod auth;
pub mod content;
pub mod error;
pub mod events;
pub mod extract;
pub mod history;
pub mod ids;
pub mod members;
pub mod messages;
pub mod render;
pub mod resolve;
pub mod teams;

use axum::http::{Method, Uri};
use axum::routing::{any, delete, get, patch, post, MethodRouter};
use axum::Router;
use error::{code, YunxinError};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use switchboard_core::ids::MessageId;
use switchboard_core::model::{App, Chat, ChatKind, User};
use switchboard_core::ratelimit::{Quota, RateLimiter};
use switchboard_core::Core;

/// The longest two-way recall window the vendor allows: 7 days.
pub const MAX_TWO_WAY_RECALL_SECS: u64 = 7 * 86_400;

/// This dialect's settings (the `[yunxin]` section of the config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// How far a request's `CurTime` may lie from the server clock, in seconds (either way).
    pub cur_time_skew_secs: u64,
    /// The window of a two-way recall (`type=2`), in seconds; at most 7 days (604800).
    pub two_way_recall_window_secs: u64,
    /// Requests per second per AppKey, counted on each node; 0 disables the limit.
    pub rate_limit_per_second: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cur_time_skew_secs: 300,
            two_way_recall_window_secs: 120,
            rate_limit_per_second: 100,
        }
    }
}

impl Config {
    /// Checks the settings, with a message that says how to fix them.
    pub fn validate(&self) -> Result<(), String> {
        if self.two_way_recall_window_secs > MAX_TWO_WAY_RECALL_SECS {
            return Err(format!("yunxin.two_way_recall_window_secs must be at most {MAX_TWO_WAY_RECALL_SECS} (7 days)"));
        }
        Ok(())
    }
}

/// The dialect's shared state.
///
/// One reference count to clone: axum clones the state for every request, on two cores
/// at once.
#[derive(Clone)]
pub struct YunxinState(Arc<YunxinParts>);

impl std::ops::Deref for YunxinState {
    type Target = YunxinParts;
    fn deref(&self) -> &YunxinParts {
        &self.0
    }
}

pub struct YunxinParts {
    pub core: Core,
    pub config: Arc<Config>,
    pub limiter: Arc<RateLimiter>,
}

impl YunxinState {
    pub fn new(core: Core, mut config: Config) -> Self {
        if let Err(e) = config.validate() {
            tracing::warn!("{e}; using {MAX_TWO_WAY_RECALL_SECS}");
            config.two_way_recall_window_secs = MAX_TWO_WAY_RECALL_SECS;
        }
        let limiter = Arc::new(RateLimiter::new([Quota::per_second(
            config.rate_limit_per_second,
        )]));
        YunxinState(Arc::new(YunxinParts {
            core,
            config: Arc::new(config),
            limiter,
        }))
    }

    pub fn two_way_window_ms(&self) -> i64 {
        self.config.two_way_recall_window_secs as i64 * 1000
    }
}

async fn unsupported_method(method: Method, uri: Uri) -> YunxinError {
    YunxinError::param(format!(
        "method {method} is not supported on {}",
        uri.path()
    ))
}

async fn no_such_api(uri: Uri) -> YunxinError {
    YunxinError::new(code::NOT_FOUND, format!("no such API: {}", uri.path()))
}

fn route(m: MethodRouter<YunxinState>) -> MethodRouter<YunxinState> {
    m.fallback(unsupported_method)
}

/// The dialect's routes, at the vendor's absolute paths, with their state applied.
pub fn router(core: Core, config: Config) -> Router {
    let state = YunxinState::new(core, config);
    let mut r = Router::new();
    for p in ["/im/v2", "/im/v2.1"] {
        r = r
            .route(
                &format!("{p}/conversations/{{conversation_id}}/messages/{{message_server_id}}"),
                route(get(messages::query).delete(messages::withdraw)),
            )
            .route(
                &format!("{p}/conversations/{{conversation_id}}/messages"),
                route(post(messages::send).get(history::list)),
            )
            .route(
                &format!("{p}/conversations/messages"),
                route(post(messages::batch_send)),
            )
            .route(
                &format!("{p}/messages/actions/modifyMsg"),
                route(post(messages::modify)),
            )
            .route(&format!("{p}/accounts"), route(post(accounts::create)))
            .route(
                &format!("{p}/accounts/{{account_id}}"),
                route(get(accounts::get).patch(accounts::update)),
            )
            .route(&format!("{p}/teams"), route(post(teams::create)))
            .route(
                &format!("{p}/teams/{{team_id}}"),
                route(get(teams::get).delete(teams::disband).patch(teams::update)),
            )
            .route(
                &format!("{p}/teams/{{team_id}}/actions/transfer_owner"),
                route(patch(teams::transfer_owner)),
            )
            .route(
                &format!("{p}/teams/{{team_id}}/actions/list_members"),
                route(get(members::list_members)),
            )
            .route(
                &format!("{p}/teams/{{team_id}}/actions/list_online_members"),
                route(get(members::list_online_members)),
            )
            .route(&format!("{p}/team_members"), route(post(teams::invite)))
            .route(
                &format!("{p}/team_members/{{account_id}}/actions/joined_teams"),
                route(get(members::joined_teams)),
            )
            .route(
                &format!("{p}/team_members/actions/kick_member"),
                route(delete(teams::kick)),
            );
    }
    r.route("/im", any(no_such_api))
        .route("/im/", any(no_such_api))
        .route("/im/{*rest}", any(no_such_api))
        .with_state(state)
}

/// The four signing headers of one request, for `switchboard sign yunxin` and for curl.
pub fn sign_headers(
    app_key: &str,
    app_secret: &str,
    nonce: &str,
    cur_time: i64,
) -> Vec<(String, String)> {
    let cur = cur_time.to_string();
    let sum = auth::checksum(app_secret, nonce, &cur);
    vec![
        ("AppKey".into(), app_key.to_string()),
        ("Nonce".into(), nonce.to_string()),
        ("CurTime".into(), cur),
        ("CheckSum".into(), sum),
    ]
}

/// The conversation id `user` has with `chat`, percent-encoded for a path.
fn conversation_path(app: &App, chat: &Chat, user: &User) -> String {
    let other = match chat.kind {
        ChatKind::P2p => app.app_id.clone(),
        ChatKind::Group | ChatKind::SuperGroup => ids::team_id(chat.id).to_string(),
    };
    format!(
        "{}%7C{}%7C{}",
        user.account_id,
        ids::conversation_type(chat.kind),
        other
    )
}

/// Ready-to-paste shell commands (bash or zsh, with curl and sha1sum) that query `message`
/// in `group` as `user` and send one message there, signing each request afresh.
pub fn demo_commands(
    base_url: &str,
    app: &App,
    group: &Chat,
    message: MessageId,
    user: &User,
) -> String {
    let conv = conversation_path(app, group, user);
    let mut s = String::new();
    s.push_str("\n# NetEase Yunxin IM server API v2: no token; every request is signed with AppKey, Nonce, CurTime and\n");
    s.push_str("# CheckSum = sha1hex(AppSecret + Nonce + CurTime). The yx function below signs each call afresh.\n");
    s.push_str(&format!(
        "export YX_BASE='{base_url}' YX_APPKEY='{}' YX_SECRET='{}'\n",
        app.app_id,
        app.app_secret.expose()
    ));
    s.push_str(
        "yx() { local n t s; n=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'); t=$(date +%s); \
s=$(printf '%s%s%s' \"$YX_SECRET\" \"$n\" \"$t\" | sha1sum | cut -d' ' -f1); \
curl -sS -H \"AppKey: $YX_APPKEY\" -H \"Nonce: $n\" -H \"CurTime: $t\" -H \"CheckSum: $s\" \"$@\"; echo; }\n",
    );
    s.push_str(&format!(
        "# Query one message of \"{}\" as {} (also under /im/v2.1)\n",
        group.name, user.account_id
    ));
    s.push_str(&format!(
        "yx \"$YX_BASE/im/v2/conversations/{conv}/messages/{}\"\n",
        ids::message_server_id(message)
    ));
    s.push_str(&format!("# Send a text message as {}\n", user.account_id));
    s.push_str(&format!(
        "yx -X POST -H 'Content-Type: application/json' -d '{{\"message\":{{\"message_type\":0,\"text\":\"hello from Yunxin\"}}}}' \"$YX_BASE/im/v2/conversations/{conv}/messages\"\n"
    ));
    s.push_str("# Headers for one request by hand: switchboard sign yunxin (AppKey, AppSecret)\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ids::{AppId, ChatId, TenantId, UserId};
    use switchboard_core::model::Secret;

    #[test]
    fn sign_headers_match_the_spec_vector() {
        let h = sign_headers("key", "secret123", "nonce456", 1_700_000_000);
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["AppKey", "Nonce", "CurTime", "CheckSum"]);
        assert_eq!(h[2].1, "1700000000");
        assert_eq!(h[3].1, "8c46b15be7317ce65c66bf019d1ea2bbcf445e54");
    }

    #[test]
    fn config_defaults_and_validation() {
        let c = Config::default();
        assert_eq!(
            (
                c.cur_time_skew_secs,
                c.two_way_recall_window_secs,
                c.rate_limit_per_second
            ),
            (300, 120, 100)
        );
        assert!(c.validate().is_ok());
        assert!(Config {
            two_way_recall_window_secs: MAX_TWO_WAY_RECALL_SECS + 1,
            ..c.clone()
        }
        .validate()
        .is_err());
        let parsed: Config = serde_json::from_str("{\"rate_limit_per_second\": 5}").unwrap();
        assert_eq!(
            parsed,
            Config {
                rate_limit_per_second: 5,
                ..Config::default()
            }
        );
        assert!(serde_json::from_str::<Config>("{\"bogus\": 1}").is_err());
    }

    #[test]
    fn demo_commands_name_the_conversation() {
        let app = App {
            id: AppId(1),
            tenant: TenantId(1),
            app_id: "cli_abc".into(),
            app_secret: Secret::new("s3cret"),
            name: "Bot".into(),
            bot_enabled: true,
            signing_required: true,
            scopes: vec![],
            created_at: 0,
        };
        let group = Chat {
            id: ChatId(7),
            tenant: TenantId(1),
            kind: ChatKind::Group,
            name: "G".into(),
            description: String::new(),
            owner: switchboard_core::model::Actor::App(AppId(1)),
            created_at: 0,
            dissolved_at: None,
            last_position: 1,
        };
        let user = User {
            id: UserId(1),
            tenant: TenantId(1),
            user_id: "alice".into(),
            account_id: "alice".into(),
            name: "Alice".into(),
            created_at: 0,
        };
        let m = MessageId::timeline(ChatId(7), 1).unwrap();
        let out = demo_commands("http://127.0.0.1:8080", &app, &group, m, &user);
        assert!(
            out.contains(&format!(
                "/im/v2/conversations/alice%7C2%7C7/messages/{}",
                m.get()
            )),
            "{out}"
        );
        assert!(out.contains("YX_APPKEY='cli_abc'") && out.contains("YX_SECRET='s3cret'"));
        assert!(out.contains("-X POST"));
    }
}
