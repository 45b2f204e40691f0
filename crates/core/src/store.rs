//! The Store port: everything the domain needs from persistence, in domain types only.
//!
//! One trait per area, each implemented by a backend in a file of its own:
//! - [`TenantStore`]: tenants, users and apps, and the liveness check (`ping`);
//! - [`ChatStore`]: chats and their members;
//! - [`MessageStore`]: appends, reads, lookups, edits and removals of messages (and the
//!   idempotency keys of sends, which an append honours in its own transaction);
//! - [`NonceStore`]: nonces for replay protection.
//!
//! [`Store`] bundles them and is what the domain holds (`Arc<dyn Store>`); every type that
//! implements the four is a `Store`. A `dyn Store` answers every area's methods as it is;
//! a concrete store needs the area's trait in scope (`use switchboard_core::store::*;`
//! brings them all).
//!
//! Implementations must guarantee:
//! - an `Ok` from a write means the write is durable;
//! - timeline positions are 1-based and strictly consecutive per chat, under any
//!   concurrency, with no gap left by a failed write;
//! - `created_at` never decreases along a chat's positions (so a time filter is a
//!   position range);
//! - `append_message` with a `client_msg_id` seen from the same sender within the window
//!   returns the original message instead of writing a new one.

use crate::error::{Conflict, Entity};
use crate::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use crate::model::*;
use async_trait::async_trait;
use std::collections::HashMap;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("{} not found", .0.as_str())]
    NotFound(Entity),
    #[error("duplicate {0}")]
    Duplicate(&'static str),
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// The backend refused a value it cannot hold (PostgreSQL: a NUL in text, a character
    /// the database encoding lacks). The message names the problem without the backend's
    /// internals: it reaches clients as a parameter error. Every API refuses such input
    /// itself (`crate::input`); this is the defence behind that check.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The backend cannot be reached or is overloaded; the request may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store internal error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub name: String,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub tenant: TenantId,
    pub user_id: String,
    pub account_id: String,
    pub name: String,
    pub created_at: Millis,
}

/// How to look a user up by one of its external names.
#[derive(Debug, Clone, Copy)]
pub enum UserKey<'a> {
    UserId(&'a str),
    AccountId(&'a str),
}

/// A [`UserKey`] that owns its value, as a cache key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserKeyOwned {
    UserId(String),
    AccountId(String),
}

impl UserKeyOwned {
    pub fn value(&self) -> &str {
        match self {
            UserKeyOwned::UserId(v) | UserKeyOwned::AccountId(v) => v,
        }
    }
}

impl From<UserKey<'_>> for UserKeyOwned {
    fn from(k: UserKey<'_>) -> Self {
        match k {
            UserKey::UserId(v) => UserKeyOwned::UserId(v.to_string()),
            UserKey::AccountId(v) => UserKeyOwned::AccountId(v.to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewApp {
    pub tenant: TenantId,
    pub app_id: String,
    pub app_secret: Secret,
    pub name: String,
    pub bot_enabled: bool,
    pub signing_required: bool,
    pub scopes: Vec<String>,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub app_secret: Option<Secret>,
    pub bot_enabled: Option<bool>,
    pub signing_required: Option<bool>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct NewChat {
    pub tenant: TenantId,
    pub kind: ChatKind,
    pub name: String,
    pub owner: Actor,
    /// Every member, the owner included, with their roles.
    pub members: Vec<(Actor, Role)>,
    pub created_at: Millis,
}

/// A page of a tenant-scoped listing, ordered by id.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub after: i64,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub tenant: TenantId,
    pub chat: ChatId,
    pub sender: Actor,
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
    /// A floor: the store may raise it to keep `created_at` monotone along positions.
    pub created_at: Millis,
    pub parent: Option<MessageId>,
    pub root: Option<MessageId>,
    pub thread: Option<MessageId>,
    pub copied_from: Option<MessageId>,
    pub client_msg_id: Option<String>,
    /// How long a `client_msg_id` stays bound to the message it created.
    pub idempotency_window_ms: i64,
    pub extra: MessageExtra,
}

/// Places a bulk append on the timeline: each message takes the next position of its chat
/// and a time no earlier than the one before it, as appending them one by one in order
/// would. `cursor` holds each chat's last position and last time before the batch (every
/// chat of the batch must be in it) and is left at the batch's last ones. Contents move
/// out of `batch` into the messages.
pub fn place_batch(
    batch: &mut [NewMessage],
    cursor: &mut HashMap<ChatId, (i64, Millis)>,
) -> StoreResult<Vec<Message>> {
    let mut out = Vec::with_capacity(batch.len());
    for m in batch.iter_mut() {
        let cur = cursor
            .get_mut(&m.chat)
            .ok_or_else(|| StoreError::Internal(format!("chat {} was not reserved", m.chat)))?;
        cur.0 += 1;
        cur.1 = cur.1.max(m.created_at);
        let id = MessageId::timeline(m.chat, cur.0)
            .ok_or_else(|| StoreError::Internal(format!("chat {} is full", m.chat)))?;
        let content = std::mem::take(&mut m.content);
        let mut msg = m.to_message(id, cur.1, None);
        msg.content = content;
        out.push(msg);
    }
    Ok(out)
}

impl NewMessage {
    /// The stored message this becomes once the store has assigned its id and time.
    pub fn to_message(
        &self,
        id: MessageId,
        created_at: Millis,
        upper: Option<MessageId>,
    ) -> Message {
        Message {
            id,
            tenant: self.tenant,
            chat: self.chat,
            sender: self.sender,
            kind: self.kind,
            content: self.content.clone(),
            mentions: self.mentions.clone(),
            created_at,
            updated_at: created_at,
            edit: None,
            removal: None,
            parent: self.parent,
            root: self.root,
            thread: self.thread,
            upper,
            copied_from: self.copied_from,
            client_msg_id: self.client_msg_id.clone(),
            extra: self.extra.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Appended {
    pub message: Message,
    /// False when an earlier send with the same client message id was returned instead.
    pub created: bool,
}

/// A position range query over one chat's timeline.
#[derive(Debug, Clone, Copy)]
pub struct MessageRange {
    pub chat: ChatId,
    /// Exclusive lower bound on position.
    pub after_position: i64,
    /// Exclusive upper bound on position.
    pub before_position: Option<i64>,
    /// Inclusive lower bound on `created_at`.
    pub since_ms: Option<Millis>,
    /// Inclusive upper bound on `created_at`.
    pub until_ms: Option<Millis>,
    pub limit: u32,
    /// Newest first when true.
    pub descending: bool,
}

/// A change to a stored message, applied atomically with its preconditions checked by the
/// store (so that two racing edits cannot both pass a limit).
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "built once per edit and consumed at once; never stored in bulk"
)]
pub enum MessageUpdate {
    Edit {
        kind: MessageType,
        content: Content,
        mentions: Vec<Mention>,
        by: Actor,
        at: Millis,
        /// Refuse with `Conflict::EditLimit` once this many edits exist.
        max_edits: Option<u32>,
        /// Refuse with `Conflict::TooFrequent` when the previous edit is more recent than this.
        min_interval_ms: Option<i64>,
        /// Replaces the dialect-specific fields when given.
        extra: Option<MessageExtra>,
    },
    Remove(Removal),
}

impl MessageUpdate {
    /// Checks the update's preconditions against `m` and applies it. Stores call this
    /// inside the transaction that rewrites the message, so check and write are atomic.
    pub fn apply(self, m: &mut Message) -> StoreResult<()> {
        if let Some(r) = &m.removal {
            return Err(StoreError::Conflict(match self {
                MessageUpdate::Edit { .. } => Conflict::MessageRemoved(r.kind),
                MessageUpdate::Remove(_) => Conflict::AlreadyRemoved(r.kind),
            }));
        }
        match self {
            MessageUpdate::Edit {
                kind,
                content,
                mentions,
                by,
                at,
                max_edits,
                min_interval_ms,
                extra,
            } => {
                let count = m.edit.as_ref().map_or(0, |e| e.count);
                if max_edits.is_some_and(|max| count >= max) {
                    return Err(StoreError::Conflict(Conflict::EditLimit));
                }
                if let (Some(min), Some(last)) = (min_interval_ms, &m.edit) {
                    if at - last.at < min {
                        return Err(StoreError::Conflict(Conflict::TooFrequent));
                    }
                }
                m.kind = kind;
                m.content = content;
                m.mentions = mentions;
                if let Some(x) = extra {
                    m.extra = x;
                }
                m.updated_at = at.max(m.updated_at);
                m.edit = Some(EditInfo {
                    by,
                    at,
                    count: count + 1,
                });
            }
            MessageUpdate::Remove(removal) => {
                m.updated_at = removal.at.max(m.updated_at);
                m.removal = Some(removal);
            }
        }
        Ok(())
    }
}

/// The answer of [`MessageStore::lookup_message`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageLookup {
    pub chat: Option<Chat>,
    pub member: Option<Member>,
    pub message: Option<Message>,
    /// The message's sender, when the store read it in the same query.
    pub sender: SenderLookup,
}

/// What [`MessageStore::lookup_message`] found of the message's sender.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SenderLookup {
    /// Not read: the caller looks the sender up itself.
    #[default]
    NotRead,
    /// Read, and absent (a since-removed party).
    Missing,
    User(User),
    App(App),
}

/// Tenants, their users and apps: the accounts every request is made on behalf of; and
/// the store's liveness check.
#[async_trait]
pub trait TenantStore: Send + Sync + 'static {
    /// Cheap liveness check for readiness probes.
    async fn ping(&self) -> StoreResult<()>;

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant>;
    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>>;
    async fn list_tenants(&self, page: Page) -> StoreResult<Vec<Tenant>>;

    async fn create_user(&self, new: NewUser) -> StoreResult<User>;
    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>>;
    async fn find_user(&self, tenant: TenantId, key: UserKey<'_>) -> StoreResult<Option<User>>;
    /// Renames a user (user_id and account_id are immutable).
    async fn rename_user(&self, id: UserId, name: String) -> StoreResult<User>;
    async fn list_users(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<User>>;

    async fn create_app(&self, new: NewApp) -> StoreResult<App>;
    async fn get_app(&self, id: AppId) -> StoreResult<Option<App>>;
    /// By public credential id, across all tenants (app ids are globally unique).
    async fn find_app(&self, app_id: &str) -> StoreResult<Option<App>>;
    async fn list_apps(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<App>>;
    async fn update_app(&self, id: AppId, patch: AppPatch) -> StoreResult<App>;
}

/// Chats and their members.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// Creates a chat with its members. A p2p chat between the same two parties of a
    /// tenant exists at most once (`Duplicate("p2p")`).
    async fn create_chat(&self, new: NewChat) -> StoreResult<Chat>;
    async fn get_chat(&self, id: ChatId) -> StoreResult<Option<Chat>>;
    async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> StoreResult<Option<Chat>>;
    async fn list_chats(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<Chat>>;
    async fn dissolve_chat(&self, id: ChatId, at: Millis) -> StoreResult<Chat>;

    /// Adds members; those already present keep their role. Returns the newly added.
    async fn add_members(
        &self,
        chat: ChatId,
        members: Vec<(Actor, Role)>,
        at: Millis,
    ) -> StoreResult<Vec<Member>>;
    /// Removes members; returns those that were present.
    async fn remove_members(&self, chat: ChatId, members: Vec<Actor>) -> StoreResult<Vec<Actor>>;
    /// Changes a member's role (`NotFound(Member)` when not a member).
    async fn set_member_role(&self, chat: ChatId, actor: Actor, role: Role) -> StoreResult<Member>;
    async fn get_member(&self, chat: ChatId, actor: Actor) -> StoreResult<Option<Member>>;
    async fn list_members(&self, chat: ChatId) -> StoreResult<Vec<Member>>;

    /// A chat and `actor`'s membership of it (`None` when the chat is absent), as a send or
    /// any member's access reads them. A store with a round trip per query answers it with
    /// one query.
    async fn chat_and_member(
        &self,
        chat: ChatId,
        actor: Actor,
    ) -> StoreResult<(Option<Chat>, Option<Member>)> {
        let Some(c) = self.get_chat(chat).await? else {
            return Ok((None, None));
        };
        Ok((Some(c), self.get_member(chat, actor).await?))
    }
    /// [`ChatStore::chat_and_member`] for each pair, answered in the same order. A store
    /// with a round trip per query answers them all with one query (an import checks every
    /// sender of a batch).
    async fn chats_and_members(
        &self,
        pairs: &[(ChatId, Actor)],
    ) -> StoreResult<Vec<(Option<Chat>, Option<Member>)>> {
        let mut out = Vec::with_capacity(pairs.len());
        for (chat, actor) in pairs {
            out.push(self.chat_and_member(*chat, *actor).await?);
        }
        Ok(out)
    }
}

/// Messages: appends to a chat's timeline, reads and lookups, edits and removals. A
/// [`ChatStore`] too, because a get by id reads the message's chat and membership with it
/// ([`MessageStore::lookup_message`]).
#[async_trait]
pub trait MessageStore: ChatStore {
    /// Appends to the chat's timeline, assigning the next position.
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended>;
    /// Appends many messages (to any chats) atomically, in order: the bulk-import path.
    /// Either every message is stored or none is. The default appends one by one; stores
    /// override it with one transaction.
    async fn append_batch(&self, batch: Vec<NewMessage>) -> StoreResult<Vec<Message>> {
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            out.push(self.append_message(m).await?.message);
        }
        Ok(out)
    }
    /// Appends a merge-forward container to the timeline and stores `children` as copies
    /// under it (off the timeline, each with `upper` = the container), atomically.
    async fn append_merge_forward(
        &self,
        container: NewMessage,
        children: Vec<NewMessage>,
    ) -> StoreResult<(Message, Vec<Message>)>;
    async fn get_message(&self, id: MessageId) -> StoreResult<Option<Message>>;
    /// What a get by id reads: the message's chat, `reader`'s membership of it (when a
    /// reader is given) and the message. Each part is `None` when absent; the message is
    /// looked up only when its chat exists. A store with a round trip per query answers
    /// it with one query, and may read the message's sender in it too.
    async fn lookup_message(
        &self,
        id: MessageId,
        reader: Option<Actor>,
    ) -> StoreResult<MessageLookup> {
        let Some(chat) = self.get_chat(id.chat()).await? else {
            return Ok(MessageLookup::default());
        };
        let member = match reader {
            Some(a) => self.get_member(chat.id, a).await?,
            None => None,
        };
        let message = self.get_message(id).await?;
        Ok(MessageLookup {
            chat: Some(chat),
            member,
            message,
            sender: SenderLookup::NotRead,
        })
    }
    async fn list_messages(&self, range: MessageRange) -> StoreResult<Vec<Message>>;
    async fn list_children(&self, container: MessageId) -> StoreResult<Vec<Message>>;
    async fn update_message(&self, id: MessageId, update: MessageUpdate) -> StoreResult<Message>;
}

/// Replay protection for signed requests. (A send's idempotency key is no separate call:
/// [`MessageStore::append_message`] honours it in the append's own transaction.)
#[async_trait]
pub trait NonceStore: Send + Sync + 'static {
    /// Records `nonce` under `scope` until `expires_at`; false if it was already recorded
    /// and has not expired (a replay).
    async fn remember_nonce(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool>;
}

/// The whole port: every area, as the domain holds it (`Arc<dyn Store>`). Implemented for
/// every type that implements the four area traits; a backend implements those.
pub trait Store: TenantStore + ChatStore + MessageStore + NonceStore + Send + Sync {}

impl<T> Store for T where T: TenantStore + ChatStore + MessageStore + NonceStore {}
