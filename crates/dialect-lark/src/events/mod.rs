//! Event push for both faces: Feishu's v2.0 events and Hi's copy of them
//! (spec `shared/spec/events.md` §1.1–1.12).
//!
//! One type, [`LarkEvents`], implements core's [`EventDialect`] twice: as `"feishu"`
//! ([`LarkEvents::feishu`]) and as `"hi"` ([`LarkEvents::hi`]). The server builds both from
//! the dialect's `Core` and `Config` (or a [`LarkState`]) and hands them to the router and
//! the deliverer.
//!
//! - this file: the event-type names per face, who may hear what, and the trait;
//! - `envelope`: the plaintext v2.0 envelope (pure: ids rendered from looked-up parties);
//! - `crypto`: AES-256-CBC bodies, `X-Lark-Signature`, nonces;
//! - `ws`: Feishu's long connection (discovery, the WebSocket, `pbbp2` frames) and
//!   [`ws::LarkConnections`], the registry the Feishu face hands the deliverer as its
//!   [`switchboard_core::events::route::Connections`].
//!
//! **Hi, where its docs are silent** (decided here; cheap to correct):
//! - event types: only `im.message.receive` is documented; the others are Feishu's names
//!   without the `_v1` suffix, as Hi's one documented name is ([`HI_EVENT_TYPES`]);
//! - transport: Feishu's verbatim (same AES, same signature, same `X-Lark-*` header names,
//!   kept per face in [`WireHeaders`] so a correction touches one constant);
//! - `event.message`: Feishu's event field names with Hi's `msg_type` values and Hi's
//!   content (as Hi's get-message API renders them); `sender_type` keeps Feishu's `user` /
//!   `app` (Hi's event page is Feishu's copy), and mentions list @all with open_id `-1`, as
//!   Hi's get does.
//!
//! Message edits are not pushed: Feishu documents no edit event among its IM events, so
//! neither face names one.

pub mod crypto;
pub mod envelope;
#[cfg(test)]
mod tests;
pub mod ws;

use crate::face::Face;
use crate::{Config, LarkState};
use async_trait::async_trait;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use switchboard_core::error::Error;
use switchboard_core::events::route::{
    echoes_challenge, Connections, EventDialect, EventKind, Hearing, Outgoing,
};
use switchboard_core::events::{ChangeBody, Delivery, Subscription};
use switchboard_core::model::{Actor, App, ChatKind, Millis, Role};
use switchboard_core::service::Party;
use switchboard_core::Core;

/// Feishu's scope for every message of the groups the bot is in ("获取群组中所有消息").
/// Without it, a bot hears a group's messages only when they mention it. Not among the
/// default scopes (`auth::DEFAULT_SCOPES`): Feishu grants it only on request.
pub const SCOPE_GROUP_MSG: &str = "im:message.group_msg";

/// Feishu's event types, by what they announce.
pub const FEISHU_NAMES: &[(EventKind, &str)] = &[
    (EventKind::MessageReceived, "im.message.receive_v1"),
    (EventKind::MessageRecalled, "im.message.recalled_v1"),
    (EventKind::BotAdded, "im.chat.member.bot.added_v1"),
    (EventKind::BotRemoved, "im.chat.member.bot.deleted_v1"),
    (EventKind::UsersAdded, "im.chat.member.user.added_v1"),
    (EventKind::UsersRemoved, "im.chat.member.user.deleted_v1"),
    (EventKind::ChatDisbanded, "im.chat.disbanded_v1"),
];

/// Hi's event types. Only `im.message.receive` is documented (no `_v1`); the others are our
/// decision: Feishu's names without the `_v1` suffix, the way Hi's one documented name is.
pub const HI_NAMES: &[(EventKind, &str)] = &[
    (EventKind::MessageReceived, "im.message.receive"),
    (EventKind::MessageRecalled, "im.message.recalled"),
    (EventKind::BotAdded, "im.chat.member.bot.added"),
    (EventKind::BotRemoved, "im.chat.member.bot.deleted"),
    (EventKind::UsersAdded, "im.chat.member.user.added"),
    (EventKind::UsersRemoved, "im.chat.member.user.deleted"),
    (EventKind::ChatDisbanded, "im.chat.disbanded"),
];

/// [`FEISHU_NAMES`]' names, as a subscription may list them.
pub const FEISHU_EVENT_TYPES: &[&str] = &[
    "im.message.receive_v1",
    "im.message.recalled_v1",
    "im.chat.member.bot.added_v1",
    "im.chat.member.bot.deleted_v1",
    "im.chat.member.user.added_v1",
    "im.chat.member.user.deleted_v1",
    "im.chat.disbanded_v1",
];

/// [`HI_NAMES`]' names, as a subscription may list them.
pub const HI_EVENT_TYPES: &[&str] = &[
    "im.message.receive",
    "im.message.recalled",
    "im.chat.member.bot.added",
    "im.chat.member.bot.deleted",
    "im.chat.member.user.added",
    "im.chat.member.user.deleted",
    "im.chat.disbanded",
];

/// The request headers an event carries, named in the exact casing to send (lark-oapi
/// looks them up case-sensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireHeaders {
    pub content_type: &'static str,
    pub timestamp: &'static str,
    pub nonce: &'static str,
    pub signature: &'static str,
}

/// The `Content-Type` of every event and challenge.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Feishu's header names (spec §1.8).
pub const FEISHU_HEADERS: WireHeaders = WireHeaders {
    content_type: "Content-Type",
    timestamp: "X-Lark-Request-Timestamp",
    nonce: "X-Lark-Request-Nonce",
    signature: "X-Lark-Signature",
};

/// Hi's header names: undocumented, so Feishu's (spec §1.12's recommendation).
pub const HI_HEADERS: WireHeaders = FEISHU_HEADERS;

/// Event push for one face of the dialect.
#[derive(Clone)]
pub struct LarkEvents {
    face: Face,
    core: Core,
    /// The field scope the get API needs for `user_id_type=user_id`: an event shows users'
    /// `user_id` to the apps holding it.
    user_id_scope: Arc<str>,
    /// The node's long connections (Feishu only: Hi documents none).
    conns: Option<Arc<dyn Connections>>,
}

impl LarkEvents {
    pub fn new(face: Face, core: Core, config: &Config) -> LarkEvents {
        LarkEvents {
            face,
            core,
            user_id_scope: config.user_id_scope.as_str().into(),
            conns: None,
        }
    }

    /// The same events, pushed also down the long connections `conns` holds (give the
    /// Feishu face the registry its router serves).
    pub fn with_connections(mut self, conns: ws::LarkConnections) -> LarkEvents {
        self.conns = Some(Arc::new(conns));
        self
    }

    /// The `"feishu"` events.
    pub fn feishu(core: Core, config: &Config) -> LarkEvents {
        LarkEvents::new(Face::Feishu, core, config)
    }

    /// The `"hi"` events.
    pub fn hi(core: Core, config: &Config) -> LarkEvents {
        LarkEvents::new(Face::Hi, core, config)
    }

    pub fn from_state(face: Face, state: &LarkState) -> LarkEvents {
        LarkEvents::new(face, state.core.clone(), &state.config)
    }

    /// Both faces, ready for the router and the deliverer: `[feishu, hi]`. `conns` is the
    /// registry the dialect's router serves long connections with (one instance for both).
    pub fn both(
        core: Core,
        config: &Config,
        conns: ws::LarkConnections,
    ) -> [Arc<dyn EventDialect>; 2] {
        [
            Arc::new(LarkEvents::feishu(core.clone(), config).with_connections(conns)),
            Arc::new(LarkEvents::hi(core, config)),
        ]
    }

    pub fn face(&self) -> Face {
        self.face
    }

    pub fn headers(&self) -> WireHeaders {
        headers(self.face)
    }
}

/// A face's event-type names.
pub fn names(face: Face) -> &'static [(EventKind, &'static str)] {
    match face {
        Face::Feishu => FEISHU_NAMES,
        Face::Hi => HI_NAMES,
    }
}

/// A face's header names.
pub fn headers(face: Face) -> WireHeaders {
    match face {
        Face::Feishu => FEISHU_HEADERS,
        Face::Hi => HI_HEADERS,
    }
}

/// What `event_type` announces on `face`.
pub fn kind_of(face: Face, event_type: &str) -> Option<EventKind> {
    names(face)
        .iter()
        .find(|(_, n)| *n == event_type)
        .map(|(k, _)| *k)
}

/// Whether `app` may hear `h` on Feishu's rules: a message in a group only when it
/// mentions the app (or everyone), unless the app holds [`SCOPE_GROUP_MSG`].
pub fn may_hear(app: &App, h: &Hearing) -> bool {
    let about_message = matches!(
        h.kind,
        EventKind::MessageReceived | EventKind::MessageRecalled | EventKind::MessageEdited
    );
    !about_message || h.chat_kind == ChatKind::P2p || h.mentioned || app.has_scope(SCOPE_GROUP_MSG)
}

/// The event type `app` receives for `h` on `face`, if it may hear it at all.
pub fn event_type(face: Face, app: &App, h: &Hearing) -> Option<&'static str> {
    if !may_hear(app, h) {
        return None;
    }
    names(face)
        .iter()
        .find(|(k, _)| *k == h.kind)
        .map(|(_, n)| *n)
}

/// The request for `plain` as sent: sealed when `encrypt_key` is set, always signed.
pub fn request(face: Face, encrypt_key: &str, plain: &[u8], now: Millis) -> Outgoing {
    let body = crypto::seal(encrypt_key, plain);
    let timestamp = now.div_euclid(1000).to_string();
    let nonce = crypto::nonce();
    let signature = crypto::signature(&timestamp, &nonce, encrypt_key, &body);
    let h = headers(face);
    Outgoing {
        headers: vec![
            (h.content_type.to_string(), CONTENT_TYPE.to_string()),
            (h.timestamp.to_string(), timestamp),
            (h.nonce.to_string(), nonce),
            (h.signature.to_string(), signature),
        ],
        body,
    }
}

/// The URL-verification body (plaintext), keys in Feishu's order.
pub fn challenge_body(challenge: &str, token: &str) -> Vec<u8> {
    #[derive(Serialize)]
    struct Challenge<'a> {
        challenge: &'a str,
        token: &'a str,
        #[serde(rename = "type")]
        kind: &'static str,
    }
    serde_json::to_vec(&Challenge {
        challenge,
        token,
        kind: "url_verification",
    })
    .expect("strings always serialise")
}

fn read_error(what: &str, e: Error) -> String {
    format!("reading the {what} failed: {e}")
}

#[async_trait]
impl EventDialect for LarkEvents {
    fn name(&self) -> &'static str {
        match self.face {
            Face::Feishu => "feishu",
            Face::Hi => "hi",
        }
    }

    fn event_types(&self) -> &'static [&'static str] {
        match self.face {
            Face::Feishu => FEISHU_EVENT_TYPES,
            Face::Hi => HI_EVENT_TYPES,
        }
    }

    fn connections(&self) -> Option<Arc<dyn Connections>> {
        match self.face {
            Face::Feishu => self.conns.clone(),
            Face::Hi => None,
        }
    }

    fn event_type(&self, app: &App, h: &Hearing) -> Option<&'static str> {
        event_type(self.face, app, h)
    }

    async fn render(&self, sub: &Subscription, d: &Delivery) -> Result<Vec<u8>, String> {
        let kind = kind_of(self.face, &d.event_type)
            .ok_or_else(|| format!("{} is not a {} event type", d.event_type, self.name()))?;
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
        let mut remover_role: Option<Role> = None;
        if let ChangeBody::MessageRemoved { message } = &d.body {
            if let Some(r) = message.removal.as_ref().filter(|r| r.by != message.sender) {
                remover_role = core
                    .is_member(d.chat, r.by)
                    .await
                    .map_err(|e| read_error("membership", e))?
                    .map(|m| m.role);
            }
        }
        let seen = envelope::Seen {
            face: self.face,
            app: &app,
            user_id_visible: app.has_scope(&self.user_id_scope),
            token: &sub.verification_token,
            chat: chat.as_ref(),
            parties: &parties,
            remover_role,
        };
        envelope::build(&seen, kind, d)
    }

    fn webhook(&self, sub: &Subscription, _app: &App, plain: &[u8], now: Millis) -> Outgoing {
        request(self.face, &sub.encrypt_key, plain, now)
    }

    fn challenge(&self, sub: &Subscription, _app: &App, challenge: &str, now: Millis) -> Outgoing {
        let plain = challenge_body(challenge, &sub.verification_token);
        request(self.face, &sub.encrypt_key, &plain, now)
    }

    fn challenge_answered(&self, challenge: &str, body: &[u8]) -> bool {
        echoes_challenge(challenge, body)
    }
}
