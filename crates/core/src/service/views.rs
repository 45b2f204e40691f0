//! Reads and the assembly of the views dialects render.

use super::*;
use crate::error::{Denied, Entity, Error, Result};
use crate::ids::{ChatId, MessageId, TenantId};
use crate::model::*;
use crate::store::*;
use std::collections::HashMap;

/// A message with everything a dialect needs to render it.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: Message,
    pub chat: Chat,
    pub sender: Option<Party>,
    /// Parallel to `message.mentions`; `None` for @all or a since-removed party.
    pub mention_parties: Vec<Option<Party>>,
}

impl MessageView {
    /// The view of `message` in `chat` with its parties already at hand (`party`: `None`
    /// for one since removed), as an event renders a message without a read per party.
    /// The chat may be gone: [`Chat::gone`] stands in for it.
    pub fn assemble(message: Message, chat: Chat, party: impl Fn(Actor) -> Option<Party>) -> Self {
        let mention_parties = message
            .mentions
            .iter()
            .map(|x| match x.target {
                MentionTarget::All => None,
                MentionTarget::User(u) => party(Actor::User(u)),
                MentionTarget::App(a) => party(Actor::App(a)),
            })
            .collect();
        MessageView {
            sender: party(message.sender),
            message,
            chat,
            mention_parties,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ListQuery {
    pub tenant: TenantId,
    pub access: Access,
    pub chat: ChatId,
    pub after_position: i64,
    pub before_position: Option<i64>,
    pub since_ms: Option<Millis>,
    pub until_ms: Option<Millis>,
    pub limit: u32,
    pub descending: bool,
}

impl Core {
    /// Gets one message as `access` sees it. When `chat` is given, the message must be in
    /// that chat. Removed messages are returned with their `removal` set: each dialect
    /// decides how to show them.
    pub async fn get(
        &self,
        tenant: TenantId,
        access: Access,
        chat: Option<ChatId>,
        id: MessageId,
    ) -> Result<MessageView> {
        if chat.is_some_and(|c| c != id.chat()) {
            return Err(Error::NotFound(Entity::Message));
        }
        let reader = match access {
            Access::Admin => None,
            Access::Member(a) => Some(a),
        };
        // One read for chat, membership and message; checked in the order `chat` and
        // `check_access` would (another tenant's chat is not found, a non-member is refused).
        let found = self.store.lookup_message(id, reader).await?;
        let chat = match found.chat {
            Some(c) if c.tenant == tenant => c,
            _ => return Err(Error::NotFound(Entity::Chat)),
        };
        if reader.is_some() && found.member.is_none() {
            return Err(Error::Forbidden(Denied::not_member(chat.kind)));
        }
        let msg = found.message.ok_or(Error::NotFound(Entity::Message))?;
        // A sender read with the message is taken as `party_opt` would find it: only a
        // party of the message's own tenant.
        let sender = match found.sender {
            SenderLookup::NotRead => return self.view(msg, chat).await,
            SenderLookup::Missing => None,
            SenderLookup::User(u) => (u.tenant == msg.tenant).then_some(Party::User(u)),
            SenderLookup::App(a) => (a.tenant == msg.tenant).then(|| Party::App(AppCard::from(&a))),
        };
        if msg.sender != sender.as_ref().map_or(msg.sender, Party::actor) {
            return self.view(msg, chat).await;
        }
        if msg.mentions.is_empty() {
            return Ok(MessageView {
                message: msg,
                chat,
                sender,
                mention_parties: Vec::new(),
            });
        }
        let mut memo = HashMap::from([(msg.sender, sender)]);
        self.view_memo(msg, chat, &mut memo).await
    }

    /// The merge-forward child copies under `container`, as `access` sees them.
    pub async fn children(
        &self,
        tenant: TenantId,
        access: Access,
        container: MessageId,
    ) -> Result<Vec<MessageView>> {
        let chat = self.chat(tenant, container.chat()).await?;
        self.check_access(&chat, access).await?;
        let kids = self.store.list_children(container).await?;
        let mut out = Vec::with_capacity(kids.len());
        let mut memo = HashMap::new();
        for k in kids {
            out.push(self.view_memo(k, chat.clone(), &mut memo).await?);
        }
        Ok(out)
    }

    pub async fn list(&self, q: ListQuery) -> Result<Vec<MessageView>> {
        let chat = self.chat(q.tenant, q.chat).await?;
        self.check_access(&chat, q.access).await?;
        let range = MessageRange {
            chat: q.chat,
            after_position: q.after_position.max(0),
            before_position: q.before_position,
            since_ms: q.since_ms,
            until_ms: q.until_ms,
            // One row past the page size lets a caller tell whether another page follows.
            limit: q.limit.clamp(1, MAX_PAGE + 1),
            descending: q.descending,
        };
        let msgs = self.store.list_messages(range).await?;
        let mut out = Vec::with_capacity(msgs.len());
        let mut memo = HashMap::new();
        for m in msgs {
            out.push(self.view_memo(m, chat.clone(), &mut memo).await?);
        }
        Ok(out)
    }

    // ----- rendering support -----------------------------------------------------------

    pub(super) async fn view(&self, message: Message, chat: Chat) -> Result<MessageView> {
        if message.mentions.is_empty() {
            // The common case needs no memo.
            let sender = self.party_opt(message.tenant, message.sender).await?;
            return Ok(MessageView {
                message,
                chat,
                sender,
                mention_parties: Vec::new(),
            });
        }
        self.view_memo(message, chat, &mut HashMap::new()).await
    }

    pub(super) async fn view_memo(
        &self,
        message: Message,
        chat: Chat,
        memo: &mut HashMap<Actor, Option<Party>>,
    ) -> Result<MessageView> {
        let sender = self
            .party_memo(message.tenant, message.sender, memo)
            .await?;
        let mut mention_parties = Vec::with_capacity(message.mentions.len());
        for m in &message.mentions {
            let p = match m.target {
                MentionTarget::All => None,
                MentionTarget::User(u) => {
                    self.party_memo(message.tenant, Actor::User(u), memo)
                        .await?
                }
                MentionTarget::App(a) => {
                    self.party_memo(message.tenant, Actor::App(a), memo).await?
                }
            };
            mention_parties.push(p);
        }
        Ok(MessageView {
            message,
            chat,
            sender,
            mention_parties,
        })
    }

    pub(super) async fn party_memo(
        &self,
        tenant: TenantId,
        actor: Actor,
        memo: &mut HashMap<Actor, Option<Party>>,
    ) -> Result<Option<Party>> {
        if let Some(p) = memo.get(&actor) {
            return Ok(p.clone());
        }
        let p = self.party_opt(tenant, actor).await?;
        memo.insert(actor, p.clone());
        Ok(p)
    }

    /// The party, or `None` when it no longer exists.
    pub(super) async fn party_opt(&self, tenant: TenantId, actor: Actor) -> Result<Option<Party>> {
        match self.party(tenant, actor).await {
            Ok(p) => Ok(Some(p)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
