//! Reactions and pins: members marking messages of their chats.
//!
//! Who may: a member of the message's chat (`Access::Admin`, the operator, may list). What
//! may be marked: a message that is neither recalled nor deleted (`Conflict::MessageRemoved`)
//! nor a system message (`Conflict::WrongMessageType`), in a chat that is not dissolved
//! (`Conflict::ChatDissolved`). Another tenant's message is not found, as for a get. Only
//! whoever added a reaction may delete it (`Denied::NotSender`).
//!
//! None of these writes records an outbox change: reaction and pin events are not
//! delivered (docs/reactions.md).

use super::*;
use crate::error::{Conflict, Denied, Entity, Error, Result};
use crate::ids::{ChatId, MessageId, TenantId};
use crate::model::*;
use crate::store::*;
use std::collections::HashMap;

/// The longest emoji type name accepted (Feishu's longest is 24 characters).
pub const MAX_EMOJI_CHARS: usize = 64;

/// A reaction with its operator as readers see it (`None`: a since-removed party).
#[derive(Debug, Clone)]
pub struct ReactionView {
    pub reaction: Reaction,
    pub operator: Option<Party>,
}

/// A pin with its operator as readers see it.
#[derive(Debug, Clone)]
pub struct PinView {
    pub pin: Pin,
    pub operator: Option<Party>,
}

/// A page of reactions: `next_after` is the cursor of the next page when there is one.
#[derive(Debug, Clone)]
pub struct ReactionPage {
    pub items: Vec<ReactionView>,
    pub next_after: Option<i64>,
}

/// A page of pins: `next_before` is the cursor of the next page when there is one.
#[derive(Debug, Clone)]
pub struct PinPage {
    pub items: Vec<PinView>,
    pub next_before: Option<(Millis, MessageId)>,
}

/// What [`Core::reactions`] lists.
#[derive(Debug, Clone)]
pub struct ReactionQuery {
    pub tenant: TenantId,
    pub access: Access,
    pub message: MessageId,
    pub emoji: Option<String>,
    pub after: i64,
    pub limit: u32,
}

/// What [`Core::pins`] lists.
#[derive(Debug, Clone, Copy)]
pub struct PinQuery {
    pub tenant: TenantId,
    pub access: Access,
    pub chat: ChatId,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    pub before: Option<(Millis, MessageId)>,
    pub limit: u32,
}

fn check_emoji(emoji: &str) -> Result<()> {
    let n = emoji.chars().count();
    if n == 0 || n > MAX_EMOJI_CHARS || emoji.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Error::invalid(
            "reaction_type",
            format!("an emoji type is 1 to {MAX_EMOJI_CHARS} characters without spaces"),
        ));
    }
    Ok(())
}

/// Refuses to mark a message that is removed or a system message, or one in a dissolved
/// chat.
fn markable(chat: &Chat, m: &Message) -> Result<()> {
    if let Some(r) = &m.removal {
        return Err(Error::Conflict(Conflict::MessageRemoved(r.kind)));
    }
    if chat.dissolved_at.is_some() {
        return Err(Error::Conflict(Conflict::ChatDissolved));
    }
    if m.kind == MessageType::System {
        return Err(Error::Conflict(Conflict::WrongMessageType));
    }
    Ok(())
}

impl Core {
    /// The message `id` of `tenant` and its chat, as `access` reaches them: another
    /// tenant's chat is not found, a non-member is refused, then a missing message is not
    /// found (the order a get checks in).
    pub(super) async fn reach(
        &self,
        tenant: TenantId,
        access: Access,
        id: MessageId,
    ) -> Result<(Chat, Message)> {
        let reader = access.actor();
        let found = self.store.lookup_message(id, reader).await?;
        let chat = match found.chat {
            Some(c) if c.tenant == tenant => c,
            _ => return Err(Error::NotFound(Entity::Chat)),
        };
        if reader.is_some() && found.member.is_none() {
            return Err(Error::Forbidden(Denied::not_member(chat.kind)));
        }
        match found.message {
            Some(m) if m.tenant == tenant => Ok((chat, m)),
            _ => Err(Error::NotFound(Entity::Message)),
        }
    }

    /// `actor` reacts to `message` with `emoji`. Reacting twice with one emoji type
    /// returns the first reaction.
    pub async fn add_reaction(
        &self,
        tenant: TenantId,
        actor: Actor,
        message: MessageId,
        emoji: &str,
    ) -> Result<ReactionView> {
        check_emoji(emoji)?;
        let (chat, m) = self.reach(tenant, Access::Member(actor), message).await?;
        markable(&chat, &m)?;
        let reaction = self
            .store
            .add_reaction(NewReaction {
                tenant,
                message,
                actor,
                emoji: emoji.to_string(),
                created_at: self.now_ms(),
            })
            .await?;
        let operator = self.party_opt(tenant, actor).await?;
        Ok(ReactionView { reaction, operator })
    }

    /// `actor` takes back its reaction `id` on `message`. An unknown reaction (or another
    /// tenant's) is `Invalid(reaction_id)`; one on another message is `Invalid(message_id)`;
    /// another actor's is `Forbidden(NotSender)`.
    pub async fn remove_reaction(
        &self,
        tenant: TenantId,
        actor: Actor,
        message: MessageId,
        id: ReactionId,
    ) -> Result<ReactionView> {
        let (chat, m) = self.reach(tenant, Access::Member(actor), message).await?;
        markable(&chat, &m)?;
        let reaction = match self.store.get_reaction(id).await? {
            Some(r) if r.tenant == tenant => r,
            _ => return Err(Error::invalid("reaction_id", "no such reaction")),
        };
        if reaction.message != message {
            return Err(Error::invalid(
                "message_id",
                "the reaction does not belong to this message",
            ));
        }
        if reaction.actor != actor {
            return Err(Error::Forbidden(Denied::NotSender));
        }
        if !self.store.delete_reaction(id).await? {
            // Taken back concurrently: the reaction is gone either way, as asked.
            tracing::debug!(reaction = id.0, "reaction already deleted");
        }
        let operator = self.party_opt(tenant, actor).await?;
        Ok(ReactionView { reaction, operator })
    }

    /// A page of a message's reactions, oldest first, as `q.access` sees them.
    pub async fn reactions(&self, q: ReactionQuery) -> Result<ReactionPage> {
        if let Some(e) = &q.emoji {
            check_emoji(e)?;
        }
        let (_, m) = self.reach(q.tenant, q.access, q.message).await?;
        if let Some(r) = &m.removal {
            return Err(Error::Conflict(Conflict::MessageRemoved(r.kind)));
        }
        let limit = q.limit.clamp(1, MAX_PAGE);
        let mut rows = self
            .store
            .list_reactions(ReactionRange {
                message: q.message,
                emoji: q.emoji,
                after: q.after.max(0),
                limit: limit + 1,
            })
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_after = more.then(|| rows.last().map(|r| r.id.0)).flatten();
        let mut memo = HashMap::new();
        let mut items = Vec::with_capacity(rows.len());
        for reaction in rows {
            let operator = self.party_memo(q.tenant, reaction.actor, &mut memo).await?;
            items.push(ReactionView { reaction, operator });
        }
        Ok(ReactionPage { items, next_after })
    }

    /// `actor` pins `message` in its chat; pinning a pinned message returns its pin.
    pub async fn pin(&self, tenant: TenantId, actor: Actor, message: MessageId) -> Result<PinView> {
        let (chat, m) = self.reach(tenant, Access::Member(actor), message).await?;
        markable(&chat, &m)?;
        let pin = self
            .store
            .pin_message(Pin {
                tenant,
                message,
                by: actor,
                created_at: self.now_ms(),
            })
            .await?;
        let operator = self.party_opt(tenant, pin.by).await?;
        Ok(PinView { pin, operator })
    }

    /// `actor` unpins `message`; unpinning a message that is not pinned succeeds (true when
    /// a pin was removed). A removed message may still be unpinned.
    pub async fn unpin(&self, tenant: TenantId, actor: Actor, message: MessageId) -> Result<bool> {
        let (chat, _) = self.reach(tenant, Access::Member(actor), message).await?;
        if chat.dissolved_at.is_some() {
            return Err(Error::Conflict(Conflict::ChatDissolved));
        }
        Ok(self.store.unpin_message(message).await?)
    }

    /// A page of a chat's pins, newest first, as `q.access` sees them.
    pub async fn pins(&self, q: PinQuery) -> Result<PinPage> {
        let chat = self.chat(q.tenant, q.chat).await?;
        self.check_access(&chat, q.access).await?;
        let limit = q.limit.clamp(1, MAX_PAGE);
        let mut rows = self
            .store
            .list_pins(PinRange {
                chat: q.chat,
                since: q.since,
                until: q.until,
                before: q.before,
                limit: limit + 1,
            })
            .await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_before = more
            .then(|| rows.last().map(|p| (p.created_at, p.message)))
            .flatten();
        let mut memo = HashMap::new();
        let mut items = Vec::with_capacity(rows.len());
        for pin in rows {
            let operator = self.party_memo(q.tenant, pin.by, &mut memo).await?;
            items.push(PinView { pin, operator });
        }
        Ok(PinPage { items, next_before })
    }
}
