//! Reactions, pins and read positions: what members do to messages besides sending them.
//!
//! - A [`Reaction`] is one actor's emoji on one message. The emoji is an opaque type name
//!   (Feishu's `SMILE`, `THUMBSUP` …): which names exist is a dialect's business. An actor
//!   has at most one reaction of each type on a message.
//! - A [`Pin`] marks a message of a chat as pinned, by whom and when; a message is pinned at
//!   most once.
//! - A [`ReadMark`] is how far one member of a chat has read: every message at or before
//!   its position. A message's readers are the chat's members, other than its sender,
//!   whose mark is at or past the message's position.
//!
//! None of these writes records a change in the event outbox (see `docs/reactions.md`).

use super::StoreResult;
use crate::ids::{ChatId, MessageId, TenantId};
use crate::model::{Actor, Millis};
use async_trait::async_trait;

/// A reaction's id: unique across the store, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReactionId(pub i64);

/// One actor's emoji on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub id: ReactionId,
    pub tenant: TenantId,
    pub message: MessageId,
    pub actor: Actor,
    /// The emoji type name, as the dialect that added it named it.
    pub emoji: String,
    pub created_at: Millis,
}

/// What [`ReactionStore::add_reaction`] writes.
#[derive(Debug, Clone)]
pub struct NewReaction {
    pub tenant: TenantId,
    pub message: MessageId,
    pub actor: Actor,
    pub emoji: String,
    pub created_at: Millis,
}

/// Which reactions of a message [`ReactionStore::list_reactions`] returns: ascending by
/// id, ids above `after`, at most `limit`, of one emoji type when `emoji` is given.
#[derive(Debug, Clone)]
pub struct ReactionRange {
    pub message: MessageId,
    pub emoji: Option<String>,
    pub after: i64,
    pub limit: u32,
}

/// A pinned message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub tenant: TenantId,
    pub message: MessageId,
    pub by: Actor,
    pub created_at: Millis,
}

impl Pin {
    pub fn chat(&self) -> ChatId {
        self.message.chat()
    }
}

/// Which pins of a chat [`ReactionStore::list_pins`] returns: newest first (by
/// `created_at`, then by message id), pinned within `since..=until`, strictly after the
/// cursor `before` in that order, at most `limit`.
#[derive(Debug, Clone, Copy)]
pub struct PinRange {
    pub chat: ChatId,
    pub since: Option<Millis>,
    pub until: Option<Millis>,
    /// The last pin of the previous page: `(created_at, message)`.
    pub before: Option<(Millis, MessageId)>,
    pub limit: u32,
}

/// How far one member of a chat has read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMark {
    pub chat: ChatId,
    pub actor: Actor,
    /// Every message at or before this position has been read.
    pub position: i64,
    /// When the mark last moved forward.
    pub at: Millis,
}

/// Reactions, pins and read marks.
#[async_trait]
pub trait ReactionStore: Send + Sync + 'static {
    /// Adds a reaction; when `actor` already has one of this emoji type on the message,
    /// returns that one unchanged instead.
    async fn add_reaction(&self, new: NewReaction) -> StoreResult<Reaction>;
    async fn get_reaction(&self, id: ReactionId) -> StoreResult<Option<Reaction>>;
    /// Deletes a reaction; false when it was already gone.
    async fn delete_reaction(&self, id: ReactionId) -> StoreResult<bool>;
    async fn list_reactions(&self, range: ReactionRange) -> StoreResult<Vec<Reaction>>;

    /// Pins a message; when it is already pinned, returns the existing pin unchanged.
    async fn pin_message(&self, pin: Pin) -> StoreResult<Pin>;
    /// Unpins a message; false when it was not pinned.
    async fn unpin_message(&self, message: MessageId) -> StoreResult<bool>;
    async fn get_pin(&self, message: MessageId) -> StoreResult<Option<Pin>>;
    async fn list_pins(&self, range: PinRange) -> StoreResult<Vec<Pin>>;

    /// Moves `actor`'s mark in `chat` to `position` if that is further than it was (a mark
    /// never moves back; `at` is recorded only when it moves). Returns the mark as it is.
    async fn mark_read(
        &self,
        chat: ChatId,
        actor: Actor,
        position: i64,
        at: Millis,
    ) -> StoreResult<ReadMark>;
    /// Every mark in `chat`, in no particular order.
    async fn read_marks(&self, chat: ChatId) -> StoreResult<Vec<ReadMark>>;
}
