//! Use cases. `Core` is a cheap-to-clone handle over the store and the clock; every dialect
//! and the admin API go through it, so the rules (membership, visibility, recall and edit
//! limits) live in one place.
//!
//! One file per area: `tenants` (tenants, users, apps), `chats` (chats and members),
//! `messages` (send, reply, edit, recall, forward, import), `events` (subscriptions, the
//! outbox's routing, delivery bookkeeping), `views` (reads and view
//! assembly), `validate` (the checks the commands share).

mod chats;
mod events;
mod files;
mod messages;
mod reactions;
mod reads;
mod tenants;
mod validate;
mod views;

pub use crate::store::ChatPatch;
pub use chats::CreateChat;
pub use events::SubscribeCmd;
pub use messages::{Edit, MergeForward, MergeForwarded, Recall, Recipient, Send};
pub use reactions::{
    PinPage, PinQuery, PinView, ReactionPage, ReactionQuery, ReactionView, MAX_EMOJI_CHARS,
};
pub use reads::{ReaderView, ReadersPage};
pub use tenants::{CreateAppWith, CreateUser};
pub use views::{ListQuery, MessageView};

use crate::clock::Clock;
use crate::ids::AppId;
use crate::model::*;
use crate::store::*;
use std::sync::Arc;

/// Limits the domain enforces whatever the dialect.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Upper bound on a message's serialised content, in bytes.
    pub max_content_bytes: usize,
    pub max_mentions: usize,
    /// Default idempotency window for client message ids.
    pub idempotency_window_ms: i64,
    /// Scopes a new app is granted unless the admin says otherwise: the scope names the
    /// APIs in front check, opaque to the domain (the server collects them from the APIs).
    pub default_scopes: Vec<String>,
    /// What every generated app id starts with (an API may tell app ids from other ids by
    /// it; the server sets the one its APIs expect).
    pub app_id_prefix: String,
    /// Upload limits (`[files]` in the server's configuration).
    pub files: crate::files::FileLimits,
}

impl Default for CoreConfig {
    fn default() -> Self {
        Self {
            max_content_bytes: 150 * 1024,
            max_mentions: 100,
            idempotency_window_ms: 3_600_000,
            default_scopes: Vec::new(),
            app_id_prefix: "app_".into(),
            files: crate::files::FileLimits::default(),
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
    /// Told after every write that records a change (the deliverer's wake-up).
    on_change: std::sync::OnceLock<Box<dyn Fn() + std::marker::Send + Sync>>,
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

impl Access {
    /// The member acting, if it is one (what a change records as its operator).
    pub fn actor(self) -> Option<Actor> {
        match self {
            Access::Admin => None,
            Access::Member(a) => Some(a),
        }
    }
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

/// The largest page a list returns.
pub const MAX_PAGE: u32 = 1000;

impl Core {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: CoreConfig) -> Self {
        Core(Arc::new(CoreParts {
            store,
            clock,
            config,
            on_change: std::sync::OnceLock::new(),
        }))
    }

    /// Registers what is told after every write that records a change, so that events go
    /// out without waiting for a poll. Set once; a second call is ignored (returns false).
    pub fn on_change(&self, f: Box<dyn Fn() + std::marker::Send + Sync>) -> bool {
        self.0.on_change.set(f).is_ok()
    }

    fn changed(&self) {
        if let Some(f) = self.on_change.get() {
            f();
        }
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

    /// Whether the store answers (the server's readiness probe).
    pub async fn ping(&self) -> crate::error::Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Records a signed request's `nonce` under `scope` until `expires_at`; false if it was
    /// already recorded and has not expired (a replay).
    pub async fn remember_nonce(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
    ) -> crate::error::Result<bool> {
        Ok(self
            .store
            .remember_nonce(scope, nonce, expires_at, self.now_ms())
            .await?)
    }
}

pub(crate) fn clamp(page: Page) -> Page {
    Page {
        after: page.after.max(0),
        limit: page.limit.clamp(1, MAX_PAGE),
    }
}
