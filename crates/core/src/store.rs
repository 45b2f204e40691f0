//! The Store port: everything the domain needs from persistence, in domain types only.
//!
//! One trait per area, each implemented by a backend in a file of its own:
//! - [`TenantStore`]: tenants, users and apps, and the liveness check (`ping`);
//! - [`ChatStore`]: chats and their members;
//! - [`MessageStore`]: appends, reads, lookups, edits and removals of messages (and the
//!   idempotency keys of sends, which an append honours in its own transaction);
//! - [`NonceStore`]: nonces for replay protection;
//! - [`FileStore`]: stored files and images, metadata and bytes;
//! - [`ReactionStore`]: reactions, pins and members' read marks;
//! - [`EventStore`]: the event outbox: changes, subscriptions, deliveries and their log.
//!
//! [`Store`] bundles them and is what the domain holds (`Arc<dyn Store>`); every type that
//! implements all seven is a `Store`. A `dyn Store` answers every area's methods as it is;
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
//!   returns the original message instead of writing a new one;
//! - every write that changes a timeline or a membership records its [`Change`] in the
//!   same transaction (see [`EventStore`] for which), so no change is lost or invented.

use crate::error::{Conflict, Entity};
use crate::events::*;
use crate::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use crate::model::*;
use async_trait::async_trait;
use std::collections::HashMap;

pub mod form;

mod reactions;
pub use reactions::*;

mod files;
pub use files::FileStore;

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

/// What [`ChatStore::update_chat`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: Option<Actor>,
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
    /// Dissolves the chat (members stay, so that they can be told); `by` is who did it.
    async fn dissolve_chat(&self, id: ChatId, at: Millis, by: Option<Actor>) -> StoreResult<Chat>;
    /// Changes a chat's name, description and owner in one write; a new owner takes the
    /// owner role and the old one becomes a plain member. `NotFound(Member)` when the new
    /// owner is not a member, `NotFound(Chat)` when the chat is absent.
    async fn update_chat(&self, id: ChatId, patch: ChatPatch) -> StoreResult<Chat>;
    /// The chats of `tenant` that `actor` is a member of and that are not dissolved,
    /// ascending by id, ids above `page.after`.
    async fn list_member_chats(
        &self,
        tenant: TenantId,
        actor: Actor,
        page: Page,
    ) -> StoreResult<Vec<Chat>>;

    /// Adds members; those already present keep their role. Returns the newly added.
    async fn add_members(
        &self,
        chat: ChatId,
        members: Vec<(Actor, Role)>,
        at: Millis,
        by: Option<Actor>,
    ) -> StoreResult<Vec<Member>>;
    /// Removes members; returns those that were present.
    async fn remove_members(
        &self,
        chat: ChatId,
        members: Vec<Actor>,
        at: Millis,
        by: Option<Actor>,
    ) -> StoreResult<Vec<Actor>>;
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
    /// Each chat with its members (as [`ChatStore::list_members`] orders them), `None` for
    /// an absent chat, in the order given. A store with a round trip per query answers
    /// them all with a query or two (routing reads the chats of a batch of changes).
    async fn chats_with_members(
        &self,
        ids: &[ChatId],
    ) -> StoreResult<Vec<Option<(Chat, Vec<Member>)>>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(match self.get_chat(*id).await? {
                Some(chat) => Some((chat, self.list_members(*id).await?)),
                None => None,
            });
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
    /// Rewrites in the current stored form ([`form`]) the messages after `after` (in id
    /// order, every chat's) that an older version stored otherwise, looking at up to
    /// `limit` rows. The messages read the same before and after, and no change is
    /// recorded: nothing about them changed. A message written meanwhile is left as it is.
    async fn upgrade_documents(
        &self,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<DocumentUpgrade>;
}

/// One step of [`MessageStore::upgrade_documents`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DocumentUpgrade {
    /// Rows looked at.
    pub scanned: u64,
    /// Of those, rows rewritten.
    pub rewritten: u64,
    /// Where the next step starts; `None` once every row has been looked at.
    pub next: Option<MessageId>,
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

/// The event outbox.
///
/// Changes are recorded by the other areas' writes, in their own transactions:
/// - `append_message` (when it writes; not when it returns an earlier send) and the
///   container of `append_merge_forward`: [`ChangeBody::MessageCreated`];
/// - `update_message`: [`ChangeBody::MessageEdited`] or [`ChangeBody::MessageRemoved`];
/// - `create_chat`: [`ChangeBody::MembersAdded`] by the owner, of every other member (none
///   when the owner is alone); `add_members` and `remove_members`: the members actually
///   added or removed (none recorded when there are none);
/// - `dissolve_chat`: [`ChangeBody::ChatDissolved`].
///
/// `append_batch` (the import path) records none: imported history is not news.
///
/// Leases make each change and each attempt one node's at a time: a lease is taken by
/// `owner` until a time, and another owner may take the record once that time has passed
/// (the node that held it died).
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Creates or replaces the app's subscription for `sub.dialect` (keeping its
    /// `created_at` when it exists).
    async fn put_subscription(&self, sub: Subscription) -> StoreResult<Subscription>;
    /// A tenant's subscriptions, or one app's, ordered by app then dialect.
    async fn list_subscriptions(
        &self,
        tenant: TenantId,
        app: Option<AppId>,
    ) -> StoreResult<Vec<Subscription>>;
    /// Deletes the subscription and, in the same transaction, its open deliveries; returns
    /// how many deliveries were dropped. `NotFound(Entity::Subscription)` when absent.
    async fn delete_subscription(&self, app: AppId, dialect: &str) -> StoreResult<u64>;

    /// Leases up to `limit` changes, lowest `seq` first, to `owner` until `until`. Routing
    /// is one owner's at a time, so that deliveries are created in change order: while
    /// another owner holds a lease that has not passed `now` on any change, this returns
    /// nothing. An owner's own live leases are renewed and returned again.
    async fn lease_changes(
        &self,
        owner: &str,
        limit: usize,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Vec<Change>>;
    /// In one transaction: deletes the changes `seqs` still leased by `owner` and inserts
    /// `deliveries` for them. A change whose lease `owner` lost is left alone, and so are
    /// its deliveries (the new holder routes it).
    async fn route_changes(
        &self,
        owner: &str,
        seqs: &[i64],
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<()>;

    /// Leases due deliveries (see [`DeliveryLease`]), oldest due first. A delivery is due
    /// when it is open, its `next_attempt_at` is at or before `now` and no lease on it is
    /// live; and, for order, when no other delivery of the same (app, dialect, chat) is
    /// leased and none of them that is still `Pending` has a lower id.
    async fn lease_deliveries(&self, lease: DeliveryLease<'_>) -> StoreResult<Vec<Delivery>>;
    /// Records an attempt on a delivery `owner` holds and moves it on (`next`): delivered,
    /// due again, or failed. Releases the lease. Returns false (and records nothing) when
    /// `owner` no longer holds it.
    async fn record_attempt(
        &self,
        delivery: i64,
        owner: &str,
        attempt: Attempt,
        next: Next,
    ) -> StoreResult<bool>;
    /// An app's deliveries with their attempts, newest first.
    async fn list_deliveries(&self, q: DeliveryQuery) -> StoreResult<Vec<DeliveryRecord>>;
    /// The tenant's delivery with this event id.
    async fn get_delivery(
        &self,
        tenant: TenantId,
        event_id: &str,
    ) -> StoreResult<Option<DeliveryRecord>>;
    /// Makes the delivery due at `now` again (status `Retrying` if it had been attempted,
    /// else `Pending`), whatever its state, keeping its event id and attempts.
    async fn redeliver(
        &self,
        tenant: TenantId,
        event_id: &str,
        now: Millis,
    ) -> StoreResult<Delivery>;
    /// Deletes delivered and failed deliveries (and their attempts) created before
    /// `before`; returns how many.
    async fn prune_deliveries(&self, before: Millis) -> StoreResult<u64>;
    /// What the outbox holds now, for monitoring: the open deliveries per dialect and the
    /// changes not yet routed. Reads only.
    async fn outbox_stats(&self) -> StoreResult<OutboxStats>;
}

/// What [`EventStore::outbox_stats`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Per dialect: open (pending or retrying) deliveries, and when the oldest was routed.
    pub open: Vec<(String, u64, Millis)>,
    /// Recorded changes the router has not turned into deliveries yet.
    pub unrouted: u64,
}

/// What [`EventStore::lease_deliveries`] takes.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryLease<'a> {
    pub owner: &'a str,
    pub limit: usize,
    pub now: Millis,
    pub until: Millis,
    /// Only deliveries of this mode.
    pub mode: Mode,
    /// Only these apps' deliveries, when given (a node leases long-connection deliveries
    /// for the apps whose connections it holds).
    pub only_apps: Option<&'a [AppId]>,
    /// Not these apps' deliveries (those the node already has enough of in hand).
    pub skip_apps: &'a [AppId],
}

/// The whole port: every area, as the domain holds it (`Arc<dyn Store>`). Implemented for
/// every type that implements the seven area traits; a backend implements those.
pub trait Store:
    TenantStore
    + ChatStore
    + MessageStore
    + NonceStore
    + EventStore
    + ReactionStore
    + FileStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: TenantStore + ChatStore + MessageStore + NonceStore + EventStore + ReactionStore + FileStore
{
}
