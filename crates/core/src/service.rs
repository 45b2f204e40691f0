//! Use cases. `Core` is a cheap-to-clone handle over the store and the clock; every dialect
//! and the admin API go through it, so the rules (membership, visibility, recall and edit
//! limits) live in one place.

use crate::clock::Clock;
use crate::error::{Conflict, Denied, Entity, Error, Result};
use crate::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use crate::input;
use crate::model::*;
use crate::store::*;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;

/// Limits the domain enforces whatever the dialect.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Upper bound on a message's serialised content, in bytes.
    pub max_content_bytes: usize,
    pub max_mentions: usize,
    /// Default idempotency window for client message ids.
    pub idempotency_window_ms: i64,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_content_bytes: 150 * 1024,
            max_mentions: 100,
            idempotency_window_ms: 3_600_000,
        }
    }
}

/// The use cases over one store. Cheap to clone: one reference count, because every
/// request clones it (through each dialect's state) on two cores at once, and each shared
/// count it touches is a cache line the cores pass back and forth.
#[derive(Clone)]
pub struct Core(Arc<CoreParts>);

#[doc(hidden)]
pub struct CoreParts {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: CoreConfig,
}

impl std::ops::Deref for Core {
    type Target = CoreParts;
    fn deref(&self) -> &CoreParts {
        &self.0
    }
}

/// Whose view a read is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The operator: every chat of the tenant.
    Admin,
    /// A user or app: only chats it is a member of (for p2p, one of the two parties).
    Member(Actor),
}

/// A user or an app as a reader sees it (never the app's secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Party {
    User(User),
    App(AppCard),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCard {
    pub id: AppId,
    pub app_id: String,
    pub name: String,
}

impl Party {
    pub fn actor(&self) -> Actor {
        match self {
            Party::User(u) => Actor::User(u.id),
            Party::App(a) => Actor::App(a.id),
        }
    }
}

impl From<&App> for AppCard {
    fn from(a: &App) -> Self {
        AppCard {
            id: a.id,
            app_id: a.app_id.clone(),
            name: a.name.clone(),
        }
    }
}

/// A message with everything a dialect needs to render it.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: Message,
    pub chat: Chat,
    pub sender: Option<Party>,
    /// Parallel to `message.mentions`; `None` for @all or a since-removed party.
    pub mention_parties: Vec<Option<Party>>,
}

#[derive(Debug, Clone)]
pub struct CreateUser {
    pub name: String,
    pub user_id: Option<String>,
    pub account_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CreateChat {
    pub kind: ChatKind,
    pub name: Option<String>,
    pub owner: Actor,
    pub members: Vec<Actor>,
}

#[derive(Debug, Clone)]
pub struct Send {
    pub tenant: TenantId,
    pub chat: ChatId,
    pub sender: Actor,
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
    pub reply_to: Option<MessageId>,
    pub reply_in_thread: bool,
    pub client_msg_id: Option<String>,
    /// Overrides the configured idempotency window.
    pub idempotency_window_ms: Option<i64>,
    pub extra: MessageExtra,
}

impl Send {
    /// A plain send with no reply, mentions or idempotency key.
    pub fn new(
        tenant: TenantId,
        chat: ChatId,
        sender: Actor,
        kind: MessageType,
        content: Content,
    ) -> Self {
        Send {
            tenant,
            chat,
            sender,
            kind,
            content,
            mentions: vec![],
            reply_to: None,
            reply_in_thread: false,
            client_msg_id: None,
            idempotency_window_ms: None,
            extra: MessageExtra::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Edit {
    pub tenant: TenantId,
    pub actor: Actor,
    pub id: MessageId,
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
    /// Message types this edit may apply to (the dialect's rule); empty means any.
    pub editable: &'static [MessageType],
    /// Only the sender may edit.
    pub sender_only: bool,
    pub max_edits: Option<u32>,
    /// Only messages younger than this may be edited.
    pub window_ms: Option<i64>,
    /// A second edit must wait this long after the previous one (checked atomically).
    pub min_interval_ms: Option<i64>,
    /// Replaces the message's dialect-specific fields (Yunxin sub_type, extension) when given.
    pub extra: Option<MessageExtra>,
}

#[derive(Debug, Clone)]
pub struct Recall {
    pub tenant: TenantId,
    pub actor: Actor,
    pub id: MessageId,
    pub kind: RemovalKind,
    /// A sender may remove its own message only within this window.
    pub window_ms: Option<i64>,
    /// A chat owner or admin may remove others' messages (within this window, if any).
    pub admin_window_ms: Option<Option<i64>>,
}

#[derive(Debug, Clone)]
pub struct MergeForward {
    pub tenant: TenantId,
    pub actor: Actor,
    pub target: ChatId,
    pub ids: Vec<MessageId>,
    pub title: Option<String>,
    pub client_msg_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MergeForwarded {
    pub container: MessageView,
    pub children: Vec<Message>,
    /// Requested ids that could not be forwarded (missing, removed or unreadable).
    pub invalid: Vec<MessageId>,
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

pub const MAX_PAGE: u32 = 1000;

fn valid_name(field: &'static str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(t.to_string())
}

/// External user and account ids: 1–64 (user) / 1–32 (account) of `A-Z a-z 0-9 _ . @ -`.
/// `|` is excluded because Yunxin conversation ids use it as a separator.
fn valid_ident(field: &'static str, s: &str, max: usize) -> Result<String> {
    if s.is_empty() || s.len() > max {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
    {
        return Err(Error::invalid(
            field,
            "may contain only letters, digits, '_', '.', '@' and '-'",
        ));
    }
    Ok(s.to_string())
}

/// An idempotency key: 1 to 128 bytes, no NUL (the stores keep it in a text column).
fn check_client_msg_id(c: Option<&str>) -> Result<()> {
    if let Some(c) = c {
        if c.is_empty() || c.len() > 128 {
            return Err(Error::invalid(
                "client_msg_id",
                "must be 1 to 128 characters",
            ));
        }
        input::check_text("client_msg_id", c)?;
    }
    Ok(())
}

fn random_digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(n);
    s.push(char::from(b'1' + rng.gen_range(0..9u8)));
    for _ in 1..n {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s
}

fn random_token(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

impl Core {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig) -> Self {
        Core(Arc::new(CoreParts {
            store,
            clock,
            config,
        }))
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    pub fn config(&self) -> &CoreConfig {
        &self.config
    }
    pub fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }

    // ----- tenants -------------------------------------------------------------------

    pub async fn create_tenant(&self, name: &str) -> Result<Tenant> {
        let name = valid_name("name", name, 128)?;
        Ok(self
            .store
            .create_tenant(NewTenant {
                name,
                created_at: self.now_ms(),
            })
            .await?)
    }

    pub async fn tenant(&self, id: TenantId) -> Result<Tenant> {
        self.store
            .get_tenant(id)
            .await?
            .ok_or(Error::NotFound(Entity::Tenant))
    }

    pub async fn list_tenants(&self, page: Page) -> Result<Vec<Tenant>> {
        Ok(self.store.list_tenants(clamp(page)).await?)
    }

    // ----- users ---------------------------------------------------------------------

    pub async fn create_user(&self, tenant: TenantId, cmd: CreateUser) -> Result<User> {
        self.tenant(tenant).await?;
        let name = valid_name("name", &cmd.name, 128)?;
        let user_id = match cmd.user_id {
            Some(u) => valid_ident("user_id", &u, 64)?,
            None => random_digits(12),
        };
        let account_id = match cmd.account_id {
            Some(a) => valid_ident("account_id", &a, 32)?,
            // Derived from user_id; Yunxin account ids are at most 32 characters.
            None if user_id.len() <= 32 => user_id.to_ascii_lowercase(),
            None => {
                return Err(Error::invalid(
                    "account_id",
                    "required when user_id is longer than 32 characters",
                ))
            }
        };
        let new = NewUser {
            tenant,
            user_id,
            account_id,
            name,
            created_at: self.now_ms(),
        };
        Ok(self.store.create_user(new).await?)
    }

    /// A user of `tenant` (another tenant's user is not found).
    pub async fn user(&self, tenant: TenantId, id: UserId) -> Result<User> {
        match self.store.get_user(id).await? {
            Some(u) if u.tenant == tenant => Ok(u),
            _ => Err(Error::NotFound(Entity::User)),
        }
    }

    pub async fn rename_user(&self, tenant: TenantId, id: UserId, name: &str) -> Result<User> {
        self.user(tenant, id).await?;
        let name = valid_name("name", name, 128)?;
        Ok(self.store.rename_user(id, name).await?)
    }

    /// A user of `tenant` by one of its external names. A name holding a NUL is malformed
    /// (`Error::Invalid`), never looked up.
    pub async fn find_user(&self, tenant: TenantId, key: UserKey<'_>) -> Result<User> {
        match key {
            UserKey::UserId(s) => input::check_text("user_id", s)?,
            UserKey::AccountId(s) => input::check_text("account_id", s)?,
        }
        self.store
            .find_user(tenant, key)
            .await?
            .ok_or(Error::NotFound(Entity::User))
    }

    pub async fn list_users(&self, tenant: TenantId, page: Page) -> Result<Vec<User>> {
        self.tenant(tenant).await?;
        Ok(self.store.list_users(tenant, clamp(page)).await?)
    }

    // ----- apps ----------------------------------------------------------------------

    pub async fn create_app(&self, tenant: TenantId, name: &str) -> Result<App> {
        self.tenant(tenant).await?;
        let name = valid_name("name", name, 128)?;
        let new = NewApp {
            tenant,
            app_id: format!("cli_{}", random_token(b"0123456789abcdef", 16)),
            app_secret: Secret::new(random_token(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                32,
            )),
            name,
            bot_enabled: true,
            signing_required: true,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            created_at: self.now_ms(),
        };
        Ok(self.store.create_app(new).await?)
    }

    pub async fn app(&self, tenant: TenantId, id: AppId) -> Result<App> {
        match self.store.get_app(id).await? {
            Some(a) if a.tenant == tenant => Ok(a),
            _ => Err(Error::NotFound(Entity::App)),
        }
    }

    /// Looks an app up by its public id, for authentication.
    pub async fn app_by_public_id(&self, app_id: &str) -> Result<App> {
        input::check_text("app_id", app_id)?;
        self.store
            .find_app(app_id)
            .await?
            .ok_or(Error::NotFound(Entity::App))
    }

    pub async fn app_by_id(&self, id: AppId) -> Result<App> {
        self.store
            .get_app(id)
            .await?
            .ok_or(Error::NotFound(Entity::App))
    }

    pub async fn list_apps(&self, tenant: TenantId, page: Page) -> Result<Vec<App>> {
        self.tenant(tenant).await?;
        Ok(self.store.list_apps(tenant, clamp(page)).await?)
    }

    pub async fn update_app(
        &self,
        tenant: TenantId,
        id: AppId,
        mut patch: AppPatch,
    ) -> Result<App> {
        self.app(tenant, id).await?;
        if let Some(n) = &patch.name {
            patch.name = Some(valid_name("name", n, 128)?);
        }
        if let Some(scopes) = &mut patch.scopes {
            for s in scopes.iter() {
                if s.is_empty()
                    || s.len() > 128
                    || s.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(Error::invalid("scopes", format!("invalid scope {s:?}")));
                }
            }
            scopes.sort();
            scopes.dedup();
        }
        Ok(self.store.update_app(id, patch).await?)
    }

    /// Issues a new secret for the app (revoking every token minted with the old one).
    pub async fn rotate_app_secret(&self, tenant: TenantId, id: AppId) -> Result<App> {
        let secret = Secret::new(random_token(
            b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            32,
        ));
        self.update_app(
            tenant,
            id,
            AppPatch {
                app_secret: Some(secret),
                ..AppPatch::default()
            },
        )
        .await
    }

    // ----- parties and chats ---------------------------------------------------------

    /// Checks that `actor` exists in `tenant`.
    pub async fn party(&self, tenant: TenantId, actor: Actor) -> Result<Party> {
        match actor {
            Actor::User(u) => Ok(Party::User(self.user(tenant, u).await?)),
            Actor::App(a) => Ok(Party::App(AppCard::from(&self.app(tenant, a).await?))),
        }
    }

    pub async fn create_chat(&self, tenant: TenantId, cmd: CreateChat) -> Result<Chat> {
        self.tenant(tenant).await?;
        self.party(tenant, cmd.owner).await?;
        let mut members: Vec<(Actor, Role)> = vec![(cmd.owner, Role::Owner)];
        for m in cmd.members {
            if !members.iter().any(|(a, _)| *a == m) {
                self.party(tenant, m).await?;
                members.push((m, Role::Member));
            }
        }
        let name = match &cmd.name {
            Some(n) => valid_name("name", n, 256)?,
            None if cmd.kind == ChatKind::P2p => String::new(),
            None => return Err(Error::invalid("name", "a group needs a name")),
        };
        if cmd.kind == ChatKind::P2p {
            if members.len() != 2 {
                return Err(Error::invalid(
                    "members",
                    "a p2p chat has exactly two distinct participants",
                ));
            }
            if matches!((members[0].0, members[1].0), (Actor::App(_), Actor::App(_))) {
                return Err(Error::invalid(
                    "members",
                    "a p2p chat needs at least one user",
                ));
            }
            // A p2p chat has no owner role: both parties are equal members.
            for m in &mut members {
                m.1 = Role::Member;
            }
        }
        if members.len() > 10_000 {
            return Err(Error::invalid("members", "at most 10000 members"));
        }
        let new = NewChat {
            tenant,
            kind: cmd.kind,
            name,
            owner: cmd.owner,
            members,
            created_at: self.now_ms(),
        };
        Ok(self.store.create_chat(new).await?)
    }

    /// The p2p chat between `a` and `b`, created on first use.
    pub async fn ensure_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> Result<Chat> {
        if let Some(c) = self.store.find_p2p(tenant, a, b).await? {
            return Ok(c);
        }
        let cmd = CreateChat {
            kind: ChatKind::P2p,
            name: None,
            owner: a,
            members: vec![b],
        };
        match self.create_chat(tenant, cmd).await {
            // Lost a race with a concurrent creator: theirs is the one.
            Err(Error::Conflict(Conflict::Duplicate(_))) => self
                .store
                .find_p2p(tenant, a, b)
                .await?
                .ok_or(Error::NotFound(Entity::Chat)),
            other => other,
        }
    }

    pub async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> Result<Option<Chat>> {
        Ok(self.store.find_p2p(tenant, a, b).await?)
    }

    /// A chat of `tenant`; another tenant's chat is not found.
    pub async fn chat(&self, tenant: TenantId, id: ChatId) -> Result<Chat> {
        match self.store.get_chat(id).await? {
            Some(c) if c.tenant == tenant => Ok(c),
            _ => Err(Error::NotFound(Entity::Chat)),
        }
    }

    /// A chat `access` may see: the chat and, for a member's access, the membership read
    /// together (one round trip on a remote store), refused as [`Core::chat`] and
    /// [`Core::check_access`] refuse, in that order.
    pub async fn visible_chat(&self, tenant: TenantId, access: Access, id: ChatId) -> Result<Chat> {
        let Access::Member(actor) = access else {
            return self.chat(tenant, id).await;
        };
        match self.store.chat_and_member(id, actor).await? {
            (Some(c), _) if c.tenant != tenant => Err(Error::NotFound(Entity::Chat)),
            (Some(c), Some(_)) => Ok(c),
            (Some(_), None) => Err(Error::Forbidden(Denied::NotMember)),
            (None, _) => Err(Error::NotFound(Entity::Chat)),
        }
    }

    pub async fn list_chats(&self, tenant: TenantId, page: Page) -> Result<Vec<Chat>> {
        self.tenant(tenant).await?;
        Ok(self.store.list_chats(tenant, clamp(page)).await?)
    }

    pub async fn dissolve_chat(&self, tenant: TenantId, id: ChatId) -> Result<Chat> {
        let chat = self.chat(tenant, id).await?;
        if chat.dissolved_at.is_some() {
            return Ok(chat);
        }
        Ok(self.store.dissolve_chat(id, self.now_ms()).await?)
    }

    async fn check_access(&self, chat: &Chat, access: Access) -> Result<Option<Member>> {
        match access {
            Access::Admin => Ok(None),
            Access::Member(actor) => match self.store.get_member(chat.id, actor).await? {
                Some(m) => Ok(Some(m)),
                None => Err(Error::Forbidden(Denied::NotMember)),
            },
        }
    }

    pub async fn is_member(&self, chat: ChatId, actor: Actor) -> Result<Option<Member>> {
        Ok(self.store.get_member(chat, actor).await?)
    }

    pub async fn members(&self, tenant: TenantId, chat: ChatId) -> Result<Vec<Member>> {
        self.chat(tenant, chat).await?;
        Ok(self.store.list_members(chat).await?)
    }

    /// Adds members (users or apps of the same tenant). Returns the newly added ones.
    pub async fn add_members(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actors: Vec<Actor>,
    ) -> Result<Vec<Member>> {
        let c = self.chat(tenant, chat).await?;
        if c.dissolved_at.is_some() {
            return Err(Error::Conflict(Conflict::ChatDissolved));
        }
        if c.kind == ChatKind::P2p {
            return Err(Error::invalid("chat", "p2p chat membership cannot change"));
        }
        if actors.is_empty() {
            return Err(Error::invalid("members", "must not be empty"));
        }
        for a in &actors {
            self.party(tenant, *a).await?;
        }
        let with_roles = actors.into_iter().map(|a| (a, Role::Member)).collect();
        Ok(self
            .store
            .add_members(chat, with_roles, self.now_ms())
            .await?)
    }

    /// Makes a member an admin or a plain member. Ownership is not transferred this way,
    /// and p2p chats have no roles.
    pub async fn set_member_role(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actor: Actor,
        role: Role,
    ) -> Result<Member> {
        let c = self.chat(tenant, chat).await?;
        if c.kind == ChatKind::P2p {
            return Err(Error::invalid("chat", "p2p chats have no roles"));
        }
        if role == Role::Owner {
            return Err(Error::invalid("role", "must be admin or member"));
        }
        if c.owner == actor {
            return Err(Error::invalid("member", "the owner's role cannot change"));
        }
        Ok(self.store.set_member_role(chat, actor, role).await?)
    }

    pub async fn remove_members(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actors: Vec<Actor>,
    ) -> Result<Vec<Actor>> {
        let c = self.chat(tenant, chat).await?;
        if c.kind == ChatKind::P2p {
            return Err(Error::invalid("chat", "p2p chat membership cannot change"));
        }
        if actors.is_empty() {
            return Err(Error::invalid("members", "must not be empty"));
        }
        Ok(self.store.remove_members(chat, actors).await?)
    }

    // ----- messages ------------------------------------------------------------------

    fn check_content(&self, content: &Content, mentions: &[Mention]) -> Result<()> {
        let max = self.config.max_content_bytes;
        let values =
            || std::iter::once(&content.data).chain(content.original.as_ref().map(|o| &o.value));
        // A quick upper bound settles almost every message; only a content that might be
        // over the limit is measured exactly.
        let bound = content.text.len() + values().map(json_len_bound).sum::<usize>();
        let size = if bound <= max {
            bound
        } else {
            content.text.len() + values().map(json_len).sum::<usize>()
        };
        if size > max {
            return Err(Error::invalid(
                "content",
                format!("larger than {} bytes", self.config.max_content_bytes),
            ));
        }
        if mentions.len() > self.config.max_mentions {
            return Err(Error::invalid(
                "mentions",
                format!("at most {} mentions", self.config.max_mentions),
            ));
        }
        for (i, m) in mentions.iter().enumerate() {
            if m.key.is_empty() || m.key.len() > 64 {
                return Err(Error::invalid(
                    "mentions",
                    "mention key must be 1 to 64 characters",
                ));
            }
            if mentions[..i].iter().any(|o| o.key == m.key) {
                return Err(Error::invalid(
                    "mentions",
                    format!("duplicate mention key {:?}", m.key),
                ));
            }
        }
        Ok(())
    }

    async fn check_mentions(&self, tenant: TenantId, mentions: &[Mention]) -> Result<()> {
        for m in mentions {
            let target = match m.target {
                MentionTarget::All => continue,
                MentionTarget::User(u) => Actor::User(u),
                MentionTarget::App(a) => Actor::App(a),
            };
            if self.party(tenant, target).await.is_err() {
                return Err(Error::invalid(
                    "mentions",
                    format!("mentioned {} {} does not exist", target.kind(), m.key),
                ));
            }
        }
        Ok(())
    }

    /// Sends a message as a member of the chat (user or app).
    pub async fn send(&self, cmd: Send) -> Result<MessageView> {
        // The chat and the membership in one read.
        let found = self.store.chat_and_member(cmd.chat, cmd.sender).await?;
        let chat = open_to_sender(cmd.tenant, found)?;
        self.check_content(&cmd.content, &cmd.mentions)?;
        self.check_mentions(cmd.tenant, &cmd.mentions).await?;
        check_client_msg_id(cmd.client_msg_id.as_deref())?;
        let (parent, root, thread) = match cmd.reply_to {
            None => (None, None, None),
            Some(pid) => {
                let p = self.message_in(cmd.tenant, pid).await?;
                if p.chat != chat.id {
                    return Err(Error::NotFound(Entity::Message));
                }
                if p.removal.is_some() {
                    return Err(Error::Conflict(Conflict::MessageRemoved));
                }
                let root = p.root.unwrap_or(p.id);
                match p.thread {
                    // Inside a thread every reply answers the thread's root.
                    Some(t) => (Some(t), Some(t), Some(t)),
                    None if cmd.reply_in_thread => (Some(root), Some(root), Some(root)),
                    None => (Some(p.id), Some(root), None),
                }
            }
        };
        let new = NewMessage {
            tenant: cmd.tenant,
            chat: chat.id,
            sender: cmd.sender,
            kind: cmd.kind,
            content: cmd.content,
            mentions: cmd.mentions,
            created_at: self.now_ms(),
            parent,
            root,
            thread,
            copied_from: None,
            client_msg_id: cmd.client_msg_id,
            idempotency_window_ms: cmd
                .idempotency_window_ms
                .unwrap_or(self.config.idempotency_window_ms),
            extra: cmd.extra,
        };
        let appended = self.store.append_message(new).await?;
        self.view(appended.message, chat).await
    }

    /// Imports history: appends `items` in order, as their senders, in one batch. Each
    /// item's `created_at` (the original send time) is kept where it does not go backwards
    /// within its chat. Senders must be members and chats open; content is validated as in
    /// [`Core::send`]. Replies, mentions and idempotency keys are not supported here.
    pub async fn import(
        &self,
        tenant: TenantId,
        items: Vec<(Send, Option<Millis>)>,
    ) -> Result<Vec<Message>> {
        // Every (chat, sender) pair of the batch read at once (one round trip on a remote
        // store), then checked item by item, so the first bad item is the one reported.
        let mut pairs = Vec::new();
        let mut seen = HashMap::new();
        for (cmd, _) in &items {
            seen.entry((cmd.chat, cmd.sender)).or_insert_with(|| {
                pairs.push((cmd.chat, cmd.sender));
                pairs.len() - 1
            });
        }
        let found = self.store.chats_and_members(&pairs).await?;
        let mut batch = Vec::with_capacity(items.len());
        let now = self.now_ms();
        for (cmd, created_at) in items {
            if cmd.tenant != tenant || cmd.reply_to.is_some() || !cmd.mentions.is_empty() {
                return Err(Error::invalid(
                    "items",
                    "imported messages carry no reply, mention or other tenant",
                ));
            }
            // Refused as a send is refused.
            let (chat, member) = &found[seen[&(cmd.chat, cmd.sender)]];
            open_to_sender(tenant, (chat.as_ref(), member.as_ref()))?;
            self.check_content(&cmd.content, &cmd.mentions)?;
            batch.push(NewMessage {
                tenant,
                chat: cmd.chat,
                sender: cmd.sender,
                kind: cmd.kind,
                content: cmd.content,
                mentions: vec![],
                created_at: created_at.unwrap_or(now),
                parent: None,
                root: None,
                thread: None,
                copied_from: None,
                client_msg_id: None,
                idempotency_window_ms: 0,
                extra: cmd.extra,
            });
        }
        Ok(self.store.append_batch(batch).await?)
    }

    /// A message of `tenant`, whatever its state (no access check).
    async fn message_in(&self, tenant: TenantId, id: MessageId) -> Result<Message> {
        match self.store.get_message(id).await? {
            Some(m) if m.tenant == tenant => Ok(m),
            _ => Err(Error::NotFound(Entity::Message)),
        }
    }

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
            return Err(Error::Forbidden(Denied::NotMember));
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

    pub async fn edit(&self, cmd: Edit) -> Result<MessageView> {
        let msg = self.message_in(cmd.tenant, cmd.id).await?;
        let chat = self.chat(cmd.tenant, msg.chat).await?;
        self.check_access(&chat, Access::Member(cmd.actor)).await?;
        if msg.removal.is_some() {
            return Err(Error::Conflict(Conflict::MessageRemoved));
        }
        if cmd.sender_only && msg.sender != cmd.actor {
            return Err(Error::Forbidden(Denied::NotSender));
        }
        if !cmd.editable.is_empty() && !cmd.editable.contains(&msg.kind) {
            return Err(Error::Conflict(Conflict::WrongMessageType));
        }
        let now = self.now_ms();
        if cmd.window_ms.is_some_and(|w| now - msg.created_at > w) {
            return Err(Error::Conflict(Conflict::WindowPassed));
        }
        self.check_content(&cmd.content, &cmd.mentions)?;
        self.check_mentions(cmd.tenant, &cmd.mentions).await?;
        let update = MessageUpdate::Edit {
            kind: cmd.kind,
            content: cmd.content,
            mentions: cmd.mentions,
            by: cmd.actor,
            at: now,
            max_edits: cmd.max_edits,
            min_interval_ms: cmd.min_interval_ms,
            extra: cmd.extra,
        };
        let updated = self.store.update_message(cmd.id, update).await?;
        self.view(updated, chat).await
    }

    pub async fn recall(&self, cmd: Recall) -> Result<MessageView> {
        let msg = self.message_in(cmd.tenant, cmd.id).await?;
        let chat = self.chat(cmd.tenant, msg.chat).await?;
        let member = self.check_access(&chat, Access::Member(cmd.actor)).await?;
        if msg.removal.is_some() {
            return Err(Error::Conflict(Conflict::MessageRemoved));
        }
        let age = self.now_ms() - msg.created_at;
        if msg.sender == cmd.actor {
            if cmd.window_ms.is_some_and(|w| age > w) {
                return Err(Error::Conflict(Conflict::WindowPassed));
            }
        } else {
            let privileged = member.is_some_and(|m| matches!(m.role, Role::Owner | Role::Admin));
            match cmd.admin_window_ms {
                None => return Err(Error::Forbidden(Denied::NotSender)),
                Some(_) if !privileged => return Err(Error::Forbidden(Denied::NotChatAdmin)),
                Some(Some(w)) if age > w => return Err(Error::Conflict(Conflict::WindowPassed)),
                Some(_) => {}
            }
        }
        let removal = Removal {
            kind: cmd.kind,
            by: cmd.actor,
            at: self.now_ms(),
        };
        let updated = self
            .store
            .update_message(cmd.id, MessageUpdate::Remove(removal))
            .await?;
        self.view(updated, chat).await
    }

    /// Forwards a copy of one message into `target` as `actor`.
    pub async fn forward(
        &self,
        tenant: TenantId,
        actor: Actor,
        id: MessageId,
        target: ChatId,
        client_msg_id: Option<String>,
    ) -> Result<MessageView> {
        let src = self.get(tenant, Access::Member(actor), None, id).await?;
        if src.message.removal.is_some() {
            return Err(Error::Conflict(Conflict::MessageRemoved));
        }
        let m = src.message;
        let mut cmd = Send::new(tenant, target, actor, m.kind, m.content);
        cmd.mentions = m.mentions;
        cmd.client_msg_id = client_msg_id;
        cmd.extra = m.extra;
        self.send(cmd).await
    }

    /// Sends a merge-forward container into `target`, holding copies of `ids`.
    pub async fn merge_forward(&self, cmd: MergeForward) -> Result<MergeForwarded> {
        if cmd.ids.is_empty() || cmd.ids.len() > 100 {
            return Err(Error::invalid(
                "message_id_list",
                "must hold 1 to 100 message ids",
            ));
        }
        check_client_msg_id(cmd.client_msg_id.as_deref())?;
        let target = self.chat(cmd.tenant, cmd.target).await?;
        if target.dissolved_at.is_some() {
            return Err(Error::Conflict(Conflict::ChatDissolved));
        }
        self.check_access(&target, Access::Member(cmd.actor))
            .await?;
        let mut sources = Vec::new();
        let mut invalid = Vec::new();
        for id in cmd.ids {
            match self
                .get(cmd.tenant, Access::Member(cmd.actor), None, id)
                .await
            {
                Ok(v)
                    if v.message.removal.is_none()
                        && !sources.iter().any(|s: &Message| s.id == id) =>
                {
                    sources.push(v.message)
                }
                Ok(_) | Err(Error::NotFound(_)) | Err(Error::Forbidden(_)) => invalid.push(id),
                Err(e) => return Err(e),
            }
        }
        if sources.is_empty() {
            return Err(Error::invalid("message_id_list", "no forwardable message"));
        }
        let now = self.now_ms();
        let title = match cmd.title {
            Some(t) => valid_name("title", &t, 256)?,
            None => "Chat history".to_string(),
        };
        let container = NewMessage {
            tenant: cmd.tenant,
            chat: target.id,
            sender: cmd.actor,
            kind: MessageType::MergeForward,
            content: Content {
                text: title.clone(),
                data: serde_json::json!({ "title": title, "source_ids": sources.iter().map(|s| s.id.get()).collect::<Vec<_>>() }),
                original: None,
            },
            mentions: vec![],
            created_at: now,
            parent: None,
            root: None,
            thread: None,
            copied_from: None,
            client_msg_id: cmd.client_msg_id,
            idempotency_window_ms: self.config.idempotency_window_ms,
            extra: MessageExtra::default(),
        };
        let children = sources
            .into_iter()
            .map(|s| NewMessage {
                tenant: cmd.tenant,
                chat: target.id,
                sender: s.sender,
                kind: s.kind,
                content: s.content,
                mentions: s.mentions,
                created_at: s.created_at,
                parent: None,
                root: None,
                thread: None,
                copied_from: Some(s.id),
                client_msg_id: None,
                idempotency_window_ms: 0,
                extra: s.extra,
            })
            .collect();
        let (c, kids) = self.store.append_merge_forward(container, children).await?;
        Ok(MergeForwarded {
            container: self.view(c, target).await?,
            children: kids,
            invalid,
        })
    }

    // ----- rendering support -----------------------------------------------------------

    async fn view(&self, message: Message, chat: Chat) -> Result<MessageView> {
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

    async fn view_memo(
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

    async fn party_memo(
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
    async fn party_opt(&self, tenant: TenantId, actor: Actor) -> Result<Option<Party>> {
        match self.party(tenant, actor).await {
            Ok(p) => Ok(Some(p)),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// At least the length of `v` serialised as compact JSON (every string character counted
/// as its longest escape), computed without serialising.
fn json_len_bound(v: &serde_json::Value) -> usize {
    use serde_json::Value;
    match v {
        Value::Null | Value::Bool(_) => 5,
        Value::Number(_) => 24,
        Value::String(s) => 6 * s.len() + 2,
        Value::Array(a) => 2 + a.iter().map(|x| json_len_bound(x) + 1).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, x)| 6 * k.len() + 4 + json_len_bound(x))
                .sum::<usize>()
        }
    }
}

/// The length of `v` serialised as compact JSON, counted without building the string.
fn json_len(v: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0);
    match serde_json::to_writer(&mut c, v) {
        Ok(()) => c.0,
        Err(_) => 0,
    }
}

fn clamp(page: Page) -> Page {
    Page {
        after: page.after.max(0),
        limit: page.limit.clamp(1, MAX_PAGE),
    }
}

/// The chat a sender may post to, from the chat and the sender's membership read together;
/// refused in this order: unknown chat (or another tenant's), dissolved chat, not a member.
fn open_to_sender<C: std::borrow::Borrow<Chat>, M>(
    tenant: TenantId,
    (chat, member): (Option<C>, Option<M>),
) -> Result<C> {
    let chat = match chat {
        Some(c) if c.borrow().tenant == tenant => c,
        _ => return Err(Error::NotFound(Entity::Chat)),
    };
    if chat.borrow().dissolved_at.is_some() {
        return Err(Error::Conflict(Conflict::ChatDissolved));
    }
    if member.is_none() {
        return Err(Error::Forbidden(Denied::NotMember));
    }
    Ok(chat)
}
#[cfg(test)]
mod tests {
    #[test]
    fn json_len_is_the_serialised_length_and_the_bound_is_above_it() {
        for v in [
            serde_json::json!(null),
            serde_json::json!({ "text": "hé \"q\"\n\u{1}", "n": [1, 2.5, true, -1e300, u64::MAX] }),
            serde_json::json!([[], {}, "", { "": null }]),
        ] {
            let len = serde_json::to_vec(&v).unwrap().len();
            assert_eq!(super::json_len(&v), len);
            assert!(super::json_len_bound(&v) >= len, "{v}");
        }
    }
}
