//! Event push in WPS 365 v7's wire (spec `shared/spec/events.md` §2, §5 "WPS 365 v7";
//! `docs/events-wps.md`).
//!
//! [`WpsEvents`] implements core's [`EventDialect`] as `"wps"`. The server builds it from
//! the dialect's `Core` and `Config` ([`WpsEvents::new`]) and hands it to the router and
//! the deliverer.
//!
//! - this file: the topics, who may hear what, the trait;
//! - `envelope`: the decrypted bodies (pure: ids as the get-message API renders them);
//! - `crypto`: AES-256-CBC keyed with the hex MD5 of the app secret, the nonce as IV, and
//!   the base64url HMAC-SHA256 signature.
//!
//! **Decisions** (the vendor is silent or the core has no such change):
//! - *Event types are topics.* A subscription names topics (`event_types:
//!   ["kso.app_chat.message", "kso.xz.app.group_chat.member.robot", …]`, [`EVENT_TYPES`]);
//!   a topic that has two operations (the member topics: `create` and `delete`) is
//!   subscribed as a whole. The operation comes from the change: members added are
//!   `create`, removed are `delete`. `topic.operation` codes (a community SDK's
//!   convention) are not accepted as event types.
//! - *Recall* is topic `kso.app_chat.message.recall` with operation `create` (as a community
//!   client's test sends it; the vendor documents no operation for it).
//! - *`kso.app_chat.create`* (first p2p chat between a user and the bot) is not offered:
//!   core records no change that a p2p chat's creation turns into a hearing (members of
//!   a p2p chat are not announced), so a subscription naming it is refused rather than
//!   accepted and never fired. Edits are not pushed either (WPS documents no edit event).
//! - *Visibility*: Feishu's rules. A message reaches an app in a p2p chat always, in a group
//!   when it mentions the app (or @all), or always when the app holds
//!   [`SCOPE_GROUP_MSG`]; a recall reaches those that heard the message.
//! - *Keys*: APPID is the app's public `app_id`, APPKEY its secret. The subscription's
//!   `encrypt_key` and `verification_token` are not used (WPS has neither). Rotating the
//!   secret changes the key from the next attempt on.
//! - *`event_id`*: every decrypted body carries the delivery's `event_id` (32 hex, the
//!   same on every attempt) beside the vendor's fields; the nonce is fresh per attempt, so
//!   it is not a dedup key.
//! - *From `render` to `webhook`*: `render` returns [`envelope::Rendered::to_bytes`] (a
//!   head line `{"topic","operation","app_id"}` and the body); `webhook` reads the topic
//!   and operation there, and signs with the app the deliverer hands it (read for each
//!   attempt, so a rotated secret applies at once; never in the bytes, never logged).
//! - *No WebSocket mode*: `wss://…/v7/event/ws` is known only from community clients
//!   (spec §2.6, marked secondary); it is not built ([`EventDialect::connections`] is `None`, so a
//!   `long_connection` subscription is refused).

pub mod crypto;
pub mod envelope;
#[cfg(test)]
mod tests;

use crate::Config;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_core::error::Error;
use switchboard_core::events::route::{
    echoes_challenge, EventDialect, EventKind, Hearing, Outgoing,
};
use switchboard_core::events::{Delivery, Subscription};
use switchboard_core::model::{Actor, App, ChatKind, Millis};
use switchboard_core::service::Party;
use switchboard_core::Core;

/// A user (or another app) sent a message the app may hear (operation `create`).
pub const TOPIC_MESSAGE: &str = "kso.app_chat.message";
/// A message the app heard was recalled (operation `create`).
pub const TOPIC_RECALL: &str = "kso.app_chat.message.recall";
/// The app was added to (`create`) or removed from (`delete`) a group.
pub const TOPIC_ROBOT: &str = "kso.xz.app.group_chat.member.robot";
/// Users were added to (`create`) or removed from (`delete`) a group the app is in.
pub const TOPIC_USER: &str = "kso.xz.app.group_chat.member.user";
/// A group the app is in was dissolved (`delete`).
pub const TOPIC_GROUP: &str = "kso.xz.app.group_chat";

pub const OP_CREATE: &str = "create";
pub const OP_DELETE: &str = "delete";

/// The topics, by what they announce.
pub const NAMES: &[(EventKind, &str)] = &[
    (EventKind::MessageReceived, TOPIC_MESSAGE),
    (EventKind::MessageRecalled, TOPIC_RECALL),
    (EventKind::BotAdded, TOPIC_ROBOT),
    (EventKind::BotRemoved, TOPIC_ROBOT),
    (EventKind::UsersAdded, TOPIC_USER),
    (EventKind::UsersRemoved, TOPIC_USER),
    (EventKind::ChatDisbanded, TOPIC_GROUP),
];

/// The event types a subscription may name: the topics.
pub const EVENT_TYPES: &[&str] = &[
    TOPIC_MESSAGE,
    TOPIC_RECALL,
    TOPIC_ROBOT,
    TOPIC_USER,
    TOPIC_GROUP,
];

/// The scope for every message of the groups the app is in. WPS documents the message
/// event only for p2p chats and @-mentions and names no such scope: this one is
/// Switchboard's, named after the API's scopes (`kso.chat_message.readwrite`). Not among
/// the default scopes; grant it with the admin API's `scopes`.
pub const SCOPE_GROUP_MSG: &str = "kso.chat_message.group_msg.read";

/// The `Content-Type` of every event and challenge.
pub const CONTENT_TYPE: &str = "application/json";

/// Event push in WPS's wire, as the `"wps"` dialect.
#[derive(Clone)]
pub struct WpsEvents {
    core: Core,
}

impl WpsEvents {
    /// The `"wps"` events. `config` is the dialect's (nothing in it concerns events yet).
    pub fn new(core: Core, _config: &Config) -> WpsEvents {
        WpsEvents { core }
    }
}

/// What `topic` announces (the member topics announce two kinds).
pub fn kinds_of(topic: &str) -> Vec<EventKind> {
    NAMES
        .iter()
        .filter(|(_, n)| *n == topic)
        .map(|(k, _)| *k)
        .collect()
}

/// Whether `app` may hear `h`: a message in a group only when it mentions the app (or
/// everyone), unless the app holds [`SCOPE_GROUP_MSG`].
pub fn may_hear(app: &App, h: &Hearing) -> bool {
    let about_message = matches!(
        h.kind,
        EventKind::MessageReceived | EventKind::MessageRecalled | EventKind::MessageEdited
    );
    !about_message || h.chat_kind == ChatKind::P2p || h.mentioned || app.has_scope(SCOPE_GROUP_MSG)
}

/// The topic `app` receives for `h`, if it may hear it at all.
pub fn event_type(app: &App, h: &Hearing) -> Option<&'static str> {
    if !may_hear(app, h) {
        return None;
    }
    NAMES.iter().find(|(k, _)| *k == h.kind).map(|(_, n)| *n)
}

/// The envelope, keys in the vendor's order:
/// `{topic, operation, time, nonce, signature, encrypted_data}`.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    pub topic: String,
    pub operation: String,
    /// Unix seconds.
    pub time: i64,
    pub nonce: String,
    pub signature: String,
    pub encrypted_data: String,
}

/// The request for one attempt: the body `data` encrypted under `app_secret` with a fresh
/// nonce, signed for `app_id`, at `now` (ms; the envelope says seconds).
pub fn request(
    app_id: &str,
    app_secret: &str,
    topic: &str,
    operation: &str,
    data: &[u8],
    now: Millis,
) -> Outgoing {
    request_with_nonce(
        app_id,
        app_secret,
        topic,
        operation,
        data,
        now,
        &crypto::nonce(),
    )
}

/// [`request`] with a given nonce (for tests and reproducible vectors).
pub fn request_with_nonce(
    app_id: &str,
    app_secret: &str,
    topic: &str,
    operation: &str,
    data: &[u8],
    now: Millis,
    nonce: &str,
) -> Outgoing {
    let time = now.div_euclid(1000);
    let encrypted_data = crypto::encrypt(app_secret, nonce, data);
    let signature = crypto::signature(app_secret, app_id, topic, nonce, time, &encrypted_data);
    let body = serde_json::to_vec(&Envelope {
        topic: topic.to_string(),
        operation: operation.to_string(),
        time,
        nonce: nonce.to_string(),
        signature,
        encrypted_data,
    })
    .expect("strings and numbers always serialise");
    Outgoing {
        headers: vec![("Content-Type".to_string(), CONTENT_TYPE.to_string())],
        body,
    }
}

/// The URL-verification body: `{"challenge":"…"}`, in plaintext (spec §2.2: no token, no
/// signature, no encryption documented).
pub fn challenge_body(challenge: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Challenge<'a> {
        challenge: &'a str,
    }
    serde_json::to_vec(&Challenge { challenge }).expect("strings always serialise")
}

fn read_error(what: &str, e: Error) -> String {
    format!("reading the {what} failed: {e}")
}

#[async_trait]
impl EventDialect for WpsEvents {
    fn name(&self) -> &'static str {
        "wps"
    }

    fn event_types(&self) -> &'static [&'static str] {
        EVENT_TYPES
    }

    fn event_type(&self, app: &App, h: &Hearing) -> Option<&'static str> {
        event_type(app, h)
    }

    async fn render(&self, _sub: &Subscription, d: &Delivery) -> Result<Vec<u8>, String> {
        if kinds_of(&d.event_type).is_empty() {
            return Err(format!("{} is not a wps event type", d.event_type));
        }
        let core = &self.core;
        let app = core
            .app(d.tenant, d.app)
            .await
            .map_err(|e| read_error("app", e))?;
        let chat = match core.chat(d.tenant, d.chat).await {
            Ok(c) => Some(c),
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(read_error("chat", e)),
        };
        let mut parties: HashMap<Actor, Option<Party>> = HashMap::new();
        for a in d.body.actors() {
            let p = match core.party(d.tenant, a).await {
                Ok(p) => Some(p),
                Err(Error::NotFound(_)) => None,
                Err(e) => return Err(read_error("party", e)),
            };
            parties.insert(a, p);
        }
        let seen = envelope::Seen {
            app: &app,
            chat: chat.as_ref(),
            parties: &parties,
        };
        let rendered = envelope::build(&seen, d)?;
        Ok(rendered.to_bytes())
    }

    fn webhook(&self, sub: &Subscription, app: &App, plain: &[u8], now: Millis) -> Outgoing {
        let (topic, operation, _, data) = match envelope::unframe(plain) {
            Ok(parts) => parts,
            Err(e) => {
                // Not from `render`: nothing sensible to sign. An empty envelope fails at
                // the receiver and the delivery is retried (rendered afresh).
                tracing::error!(app = sub.app.0, error = %e, "a wps event without its frame");
                return request("", "", "", "", plain, now);
            }
        };
        request(
            &app.app_id,
            app.app_secret.expose(),
            &topic,
            &operation,
            data,
            now,
        )
    }

    fn challenge(&self, _: &Subscription, _: &App, challenge: &str, _: Millis) -> Outgoing {
        Outgoing {
            headers: vec![("Content-Type".to_string(), CONTENT_TYPE.to_string())],
            body: challenge_body(challenge),
        }
    }

    fn challenge_answered(&self, challenge: &str, body: &[u8]) -> bool {
        echoes_challenge(challenge, body)
    }
}
