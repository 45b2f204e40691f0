//! Yunxin's message copy (消息抄送, "CC") as an event dialect: spec `events.md` §3.1–3.4
//! and §5 "Yunxin"; docs/events-yunxin.md for receivers.
//!
//! [`YunxinEvents`] implements core's [`EventDialect`] as `"yunxin"`. The copy is a data
//! sync of the whole app (AppKey), not a bot's view: [`EventDialect::hears_every_chat`] is
//! true, so a subscriber hears every conversation of its tenant, member or not.
//!
//! - this file: the event types, who hears what, the per-message copy switch, the app's
//!   keys, and the trait;
//! - `body`: the copy's fields (all strings) and the signed request (pure).
//!
//! **Event types** (`eventType`, strings):
//! - `"1"` conversation messages: p2p (`convType` `PERSON`), advanced team (`TEAM`) and
//!   super team (`SUPER_TEAM`) (confirmed); team changes (members added or removed, team dismissed)
//!   come as `NOTIFICATION` messages under `"1"` too, as the vendor copies its team
//!   notifications;
//! - `"7"` a p2p message recalled or deleted, `"8"` a team message recalled or deleted
//!   (the vendor's numbers as we read them; the v1 recall API numbers p2p and team recalls
//!   7 and 8 as well) (our inference).
//!
//! Edits are not copied (the vendor documents no modify copy). A message that mentions no
//! one is copied all the same: a copy is everything.
//!
//! **The copy switch.** A v2 send with `route_config.route_enabled=false` (or v1's
//! `route=0`) is not copied, nor is its recall. The send handler records the switch in the
//! message's Yunxin original content (`"route_config":{"route_enabled":false}` beside
//! `message`, [`mark_not_copied`]); [`copies`] reads it, and the router asks
//! ([`EventDialect::announces`]) before such a message (or its recall) becomes a delivery
//! at all. `render` still refuses one, should it be asked.
//!
//! **Keys.** Every copy is signed with the app's AppKey and AppSecret, from the app the
//! deliverer (or the admin API, for the URL check) hands `webhook` and `challenge`: read
//! for each attempt, so a rotated secret applies at once, and never logged.
//!
//! **URL check.** Yunxin documents none for CC. Saving a webhook subscription POSTs a
//! signed probe, `{"challenge":"<32 hex>","eventType":"0"}`; any 2xx answer passes (the
//! body is not read), so a receiver that verifies `CheckSum` and answers 200 to event
//! types it does not know passes unchanged.
//!
//! **Deadline and schedule.** The vendor waits 5 s ([`DEADLINE_MS`]) and retries on a
//! schedule it does not publish. Copies follow the server's `[events]` settings (one
//! schedule for every dialect): by default a 3 s deadline, stricter than Yunxin's, and
//! retries after 15 s, 5 min, 1 h and 6 h ([`RETRY_SCHEDULE`]). Receivers dedupe by
//! `eventType` + `msgidServer`.

pub mod body;
#[cfg(test)]
mod tests;

use crate::content::FORMAT;
use crate::error::YunxinError;
use crate::render;
use crate::resolve::account_of;
use crate::{Config, YunxinState};
use async_trait::async_trait;
use body::{Fields, RecallInfo, TeamNotice, TeamOp};
use serde_json::Value;
use switchboard_core::error::Error;
use switchboard_core::events::route::{EventDialect, EventKind, Hearing, Outgoing};
use switchboard_core::events::{ChangeBody, Delivery, Subscription};
use switchboard_core::ids::TenantId;
use switchboard_core::model::{
    Actor, App, Chat, ChatKind, Content, MentionTarget, Message, Millis,
};
use switchboard_core::service::{MessageView, Party};
use switchboard_core::Core;

/// The dialect's name in subscriptions.
pub const NAME: &str = "yunxin";

/// The event types a subscription may list.
pub const EVENT_TYPES: &[&str] = &[
    body::EVENT_MESSAGE,
    body::EVENT_RECALL_P2P,
    body::EVENT_RECALL_TEAM,
];

/// The vendor's deadline for a copy's answer (spec §3.2), for a per-dialect setting.
pub const DEADLINE_MS: u64 = 5_000;

/// Our retry schedule for copies (the vendor's is undocumented): the server's default.
pub const RETRY_SCHEDULE: &str = "15s,5m,1h,6h";

/// The key under which a message's Yunxin original records a send's copy switch.
pub const ROUTE_KEY: &str = "route_config";

/// The `eventType` `h` is copied as, or `None` (edits).
pub fn event_type(h: &Hearing) -> Option<&'static str> {
    match h.kind {
        EventKind::MessageReceived
        | EventKind::UsersAdded
        | EventKind::UsersRemoved
        | EventKind::BotAdded
        | EventKind::BotRemoved
        | EventKind::ChatDisbanded => Some(body::EVENT_MESSAGE),
        EventKind::MessageRecalled => Some(match h.chat_kind {
            ChatKind::P2p => body::EVENT_RECALL_P2P,
            ChatKind::Group | ChatKind::SuperGroup => body::EVENT_RECALL_TEAM,
        }),
        EventKind::MessageEdited => None,
    }
}

/// A boolean as the SDKs spell it: `true`/`false`, `1`/`0`, or those as strings.
fn flag(v: &Value, what: &str) -> Result<Option<bool>, YunxinError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(Some(false)),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(Some(true)),
        Value::String(s) => match s.trim() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            _ => Err(YunxinError::param(format!("{what} must be a boolean"))),
        },
        _ => Err(YunxinError::param(format!("{what} must be a boolean"))),
    }
}

/// Whether a send turns its copy off: v2 `route_config.route_enabled` false, or v1
/// `route` 0. Both default to on.
pub fn route_disabled(
    route_config: Option<&Value>,
    route: Option<&Value>,
) -> Result<bool, YunxinError> {
    let v2 = match route_config {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => match o.get("route_enabled") {
            Some(v) => flag(v, "route_config.route_enabled")?,
            None => None,
        },
        Some(_) => return Err(YunxinError::param("route_config must be a JSON object")),
    };
    let v1 = match route {
        Some(v) => flag(v, "route")?,
        None => None,
    };
    Ok(v2 == Some(false) || v1 == Some(false))
}

/// Records in `content`'s Yunxin original that its message is not copied.
pub fn mark_not_copied(content: &mut Content) {
    if let Some(original) = content.original.as_mut().filter(|o| o.format == FORMAT) {
        if let Value::Object(mut o) = original.value.to_value() {
            o.insert(
                ROUTE_KEY.into(),
                serde_json::json!({ "route_enabled": false }),
            );
            original.value = Value::Object(o).into();
        }
    }
}

/// Whether `m` is copied: not when it was sent with the copy switch off.
pub fn copies(m: &Message) -> bool {
    // Only the switch is read from the stored original; its other fields are skipped.
    #[derive(serde::Deserialize)]
    struct Route {
        #[serde(default)]
        route_config: Option<Value>,
    }
    !m.content.original.as_ref().is_some_and(|o| {
        o.format == FORMAT
            && o.value
                .parse::<Route>()
                .ok()
                .and_then(|r| r.route_config)
                .and_then(|c| c.get("route_enabled").cloned())
                == Some(Value::Bool(false))
    })
}

/// Whether a change is copied at all (for a router hook: see the module docs).
pub fn copies_change(body: &ChangeBody) -> bool {
    body.message().is_none_or(copies)
}

/// The message copy.
#[derive(Clone)]
pub struct YunxinEvents {
    core: Core,
}

fn read_error(what: &str, e: impl std::fmt::Display) -> String {
    format!("reading the {what} failed: {e}")
}

fn yx_error(e: YunxinError) -> String {
    format!("rendering the copy failed: {} ({})", e.msg, e.code)
}

impl YunxinEvents {
    pub fn new(core: Core, _config: &Config) -> YunxinEvents {
        YunxinEvents { core }
    }

    pub fn from_state(state: &YunxinState) -> YunxinEvents {
        YunxinEvents::new(state.core.clone(), &state.config)
    }

    /// A request for `body` signed with `app`'s AppKey and AppSecret.
    fn signed(&self, app: &App, body: Vec<u8>, now: Millis) -> Outgoing {
        body::request(&app.app_id, app.app_secret.expose(), body, now)
    }

    async fn party(&self, tenant: TenantId, a: Actor) -> Result<Option<Party>, String> {
        match self.core.party(tenant, a).await {
            Ok(p) => Ok(Some(p)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(read_error("party", e)),
        }
    }

    async fn nick(&self, tenant: TenantId, a: Actor) -> Result<String, String> {
        Ok(match self.party(tenant, a).await? {
            Some(Party::User(u)) => u.name,
            Some(Party::App(a)) => a.name,
            None => String::new(),
        })
    }

    async fn account(&self, tenant: TenantId, a: Actor) -> Result<String, String> {
        account_of(&self.core, tenant, a).await.map_err(yx_error)
    }

    async fn chat(&self, d: &Delivery) -> Result<Chat, String> {
        self.core
            .chat(d.tenant, d.chat)
            .await
            .map_err(|e| read_error("chat", e))
    }

    /// The view the query API would render `m` from.
    async fn view(&self, m: &Message, chat: Chat) -> Result<MessageView, String> {
        let mut mention_parties = Vec::with_capacity(m.mentions.len());
        for x in &m.mentions {
            mention_parties.push(match x.target {
                MentionTarget::All => None,
                MentionTarget::User(u) => self.party(m.tenant, Actor::User(u)).await?,
                MentionTarget::App(a) => self.party(m.tenant, Actor::App(a)).await?,
            });
        }
        Ok(MessageView {
            message: m.clone(),
            sender: self.party(m.tenant, m.sender).await?,
            chat,
            mention_parties,
        })
    }

    /// The copy of `d`, as fields.
    pub async fn fields(&self, d: &Delivery) -> Result<Fields, String> {
        let not_copied = || {
            format!(
                "message {} was sent with route_config.route_enabled=false: not copied",
                d.message.map_or(0, |m| m.0)
            )
        };
        match (d.event_type.as_str(), &d.body) {
            (body::EVENT_MESSAGE, ChangeBody::MessageCreated { message }) => {
                if !copies(message) {
                    return Err(not_copied());
                }
                let chat = self.chat(d).await?;
                let kind = chat.kind;
                let v = self.view(message, chat).await?;
                let nick = match &v.sender {
                    Some(Party::User(u)) => u.name.clone(),
                    Some(Party::App(a)) => a.name.clone(),
                    None => String::new(),
                };
                let data = render::message(&self.core, &v).await.map_err(yx_error)?;
                Ok(body::message_copy(&data, kind, &nick))
            }
            (
                body::EVENT_RECALL_P2P | body::EVENT_RECALL_TEAM,
                ChangeBody::MessageRemoved { message },
            ) => {
                if !copies(message) {
                    return Err(not_copied());
                }
                let removal = message
                    .removal
                    .as_ref()
                    .ok_or("a removed message without its removal")?;
                let chat = self.chat(d).await?;
                let kind = chat.kind;
                // `to` as the query API names it; the thread and edit play no part.
                let mut bare = message.clone();
                (bare.parent, bare.root, bare.edit) = (None, None, None);
                let v = self.view(&bare, chat).await?;
                let data = render::message(&self.core, &v).await.map_err(yx_error)?;
                let operator = self.account(d.tenant, removal.by).await?;
                let operator_nick = self.nick(d.tenant, removal.by).await?;
                Ok(body::recall_copy(&RecallInfo {
                    kind,
                    to: body::to_of(&data),
                    operator: &operator,
                    operator_nick: &operator_nick,
                    msgid_server: data.message_server_id,
                    msgid_client: message.client_msg_id.as_deref(),
                    sent_at: message.created_at,
                    removal: removal.kind,
                    removed_at: removal.at,
                }))
            }
            (body::EVENT_MESSAGE, ChangeBody::MembersAdded { by, members }) => {
                self.notice(d, TeamOp::Invite, *by, members).await
            }
            (body::EVENT_MESSAGE, ChangeBody::MembersRemoved { by, members }) => {
                let op = match by {
                    Some(b) if members.as_slice() == [*b] => TeamOp::Leave,
                    _ => TeamOp::Kick,
                };
                self.notice(d, op, *by, members).await
            }
            (body::EVENT_MESSAGE, ChangeBody::ChatDissolved { by }) => {
                self.notice(d, TeamOp::Dismiss, *by, &[]).await
            }
            _ => Err(format!(
                "a {} change cannot be rendered as eventType {}",
                d.body.kind(),
                d.event_type
            )),
        }
    }

    async fn notice(
        &self,
        d: &Delivery,
        op: TeamOp,
        by: Option<Actor>,
        members: &[Actor],
    ) -> Result<Fields, String> {
        let chat = self.chat(d).await?;
        if chat.kind == ChatKind::P2p {
            return Err("a p2p conversation has no team notifications".into());
        }
        // The tenant's operator acts as the team's owner.
        let who = by.unwrap_or(chat.owner);
        let operator = self.account(d.tenant, who).await?;
        let operator_nick = self.nick(d.tenant, who).await?;
        let mut accounts = Vec::with_capacity(members.len());
        for m in members {
            accounts.push(self.account(d.tenant, *m).await?);
        }
        Ok(body::team_notice(&TeamNotice {
            kind: chat.kind,
            team_id: crate::ids::team_id(chat.id),
            op,
            operator: &operator,
            operator_nick: &operator_nick,
            accounts,
            msgid_server: d.seq,
            at: d.created_at,
        }))
    }
}

#[async_trait]
impl EventDialect for YunxinEvents {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> &'static [&'static str] {
        EVENT_TYPES
    }

    fn hears_every_chat(&self) -> bool {
        true
    }

    fn event_type(&self, _app: &App, h: &Hearing) -> Option<&'static str> {
        event_type(h)
    }

    async fn render(&self, _sub: &Subscription, d: &Delivery) -> Result<Vec<u8>, String> {
        // An app that is gone has nobody to copy to.
        self.core
            .app(d.tenant, d.app)
            .await
            .map_err(|e| read_error("app", e))?;
        Ok(body::encode(&self.fields(d).await?))
    }

    fn webhook(&self, _: &Subscription, app: &App, plain: &[u8], now: Millis) -> Outgoing {
        self.signed(app, plain.to_vec(), now)
    }

    fn challenge(&self, _: &Subscription, app: &App, challenge: &str, now: Millis) -> Outgoing {
        self.signed(app, body::probe(challenge), now)
    }

    fn announces(&self, change: &ChangeBody) -> bool {
        copies_change(change)
    }

    fn challenge_answered(&self, _challenge: &str, _body: &[u8]) -> bool {
        true
    }
}
