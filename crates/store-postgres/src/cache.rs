//! This node's copy of apps and users, kept coherent with every other node through
//! PostgreSQL's `LISTEN`/`NOTIFY`.
//!
//! Every request authenticates an app, and Yunxin names users by account, so without it
//! each get paid a round trip for an app (and a Yunxin get one more for its owner) that
//! almost never changes. What is cached, and why that is safe:
//!
//! - **Apps** by id and by public `app_id`; **users** by id and by each of their keys. A
//!   user's keys and an app's `app_id` never change and neither is ever deleted, so a key
//!   always names the same row; only the rows' other fields (a secret, a scope, a name)
//!   change, and every statement that changes one also sends `NOTIFY switchboard_cache`
//!   with `app:<id>` or `user:<id>` in the same transaction.
//! - Each node holds one extra connection that `LISTEN`s. A notification evicts the row
//!   and bumps a generation; a read fills the cache only if no notification arrived while
//!   it was in flight, so a value read before a change committed cannot be stored after
//!   its eviction. A change on this node evicts before the call returns.
//! - The cache serves nothing while the listener is not connected: it starts cold, empties
//!   when the connection drops (notifications may have been missed), and fills again only
//!   after `LISTEN` succeeds on a new connection.
//! - Misses are not cached (a missing app may be created on another node).
//!
//! What another node sees: a change is visible there once its notification arrives, which
//! PostgreSQL sends at commit (milliseconds on one network). A request that another node
//! authenticates in that window sees the app as it was a moment before the change.
//! Messages, chats and memberships are not cached here: recalls and edits are served from
//! the database by every node as soon as they commit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::cache::Cached;
use switchboard_core::ids::{AppId, TenantId, UserId};
use switchboard_core::model::{App, User};
use switchboard_core::store::{UserKey, UserKeyOwned};
use tokio_postgres::AsyncMessage;

pub const CHANNEL: &str = "switchboard_cache";

/// The maps are the SQLite store's ([`Cached`]: fills refused after an invalidation), plus
/// whether the listener is connected.
pub struct Cache {
    live: AtomicBool,
    apps: Cached<AppId, App>,
    /// Immutable: an app id always names the same app.
    app_ids: Cached<String, AppId>,
    users: Cached<UserId, User>,
    /// Immutable: a user key always names the same user.
    user_keys: Cached<(TenantId, UserKeyOwned), UserId>,
}

/// Taken before a read of the database: the generations the read's fills must still find.
#[derive(Clone, Copy)]
pub struct Ticket {
    apps: u64,
    app_ids: u64,
    users: u64,
    user_keys: u64,
}

impl Default for Cache {
    fn default() -> Self {
        Cache {
            live: AtomicBool::new(false),
            apps: Cached::new("apps"),
            app_ids: Cached::new("app_ids"),
            users: Cached::new("users"),
            user_keys: Cached::new("user_keys"),
        }
    }
}

impl Cache {
    fn live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Whether the cache is serving (the listener is connected).
    pub fn is_live(&self) -> bool {
        self.live()
    }

    /// `None` while the listener is down: the read's result must not be stored.
    pub fn ticket(&self) -> Option<Ticket> {
        self.live().then(|| Ticket {
            apps: self.apps.generation(),
            app_ids: self.app_ids.generation(),
            users: self.users.generation(),
            user_keys: self.user_keys.generation(),
        })
    }

    pub fn app(&self, id: AppId) -> Option<App> {
        self.live().then(|| self.apps.get(&id)).flatten()
    }

    pub fn app_by_public_id(&self, app_id: &str) -> Option<App> {
        if !self.live() {
            return None;
        }
        self.apps.get(&self.app_ids.get(app_id)?)
    }

    pub fn put_app(&self, t: Ticket, app: &App) {
        self.app_ids.fill(app.app_id.clone(), app.id, t.app_ids);
        self.apps.fill(app.id, app.clone(), t.apps);
    }

    pub fn user(&self, id: UserId) -> Option<User> {
        self.live().then(|| self.users.get(&id)).flatten()
    }

    pub fn user_by_key(&self, tenant: TenantId, key: UserKey<'_>) -> Option<User> {
        if !self.live() {
            return None;
        }
        self.users.get(&self.user_keys.get(&(tenant, key.into()))?)
    }

    pub fn put_user(&self, t: Ticket, user: &User) {
        let keys = [
            UserKeyOwned::UserId(user.user_id.clone()),
            UserKeyOwned::AccountId(user.account_id.clone()),
        ];
        for k in keys {
            self.user_keys.fill((user.tenant, k), user.id, t.user_keys);
        }
        self.users.fill(user.id, user.clone(), t.users);
    }

    /// After a change to app `id` (here or, through a notification, on another node).
    pub fn invalidate_app(&self, id: AppId) {
        self.apps.invalidate(&id);
    }

    /// After a change to user `id`.
    pub fn invalidate_user(&self, id: UserId) {
        self.users.invalidate(&id);
    }

    /// Applies one notification payload (`app:<id>`, `user:<id>`); anything else empties
    /// the cache.
    fn apply(&self, payload: &str) {
        let parsed = payload
            .split_once(':')
            .and_then(|(kind, id)| Some((kind, id.parse::<i64>().ok()?)));
        match parsed {
            Some(("app", id)) => self.invalidate_app(AppId(id)),
            Some(("user", id)) => self.invalidate_user(UserId(id)),
            _ => self.clear(),
        }
    }

    fn clear(&self) {
        self.apps.clear();
        self.app_ids.clear();
        self.users.clear();
        self.user_keys.clear();
    }

    /// Stops serving and empties the cache (the listener lost its connection).
    fn go_dark(&self) {
        self.live.store(false, Ordering::Release);
        self.clear();
    }

    /// Serves again, from empty (notifications may have been missed while dark).
    fn go_live(&self) {
        self.clear();
        self.live.store(true, Ordering::Release);
    }
}

/// Keeps one `LISTEN` connection open, reconnecting with a growing pause when it drops.
/// Runs until aborted (when the store is dropped); the connection goes with it.
pub async fn listen(config: tokio_postgres::Config, cache: Arc<Cache>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match crate::pool::connect_bounded(&config).await {
            Ok((client, conn)) => {
                let driving = drive(conn, &cache);
                tokio::pin!(driving);
                let statement = format!("LISTEN {CHANNEL}");
                tokio::select! {
                    r = client.batch_execute(&statement) => match r {
                        Ok(()) => {
                            cache.go_live();
                            pause = Duration::from_millis(100);
                            (&mut driving).await;
                        }
                        Err(e) => {
                            tracing::warn!(error = %crate::errors::describe(&e), "LISTEN failed; the app and user cache is off until it succeeds");
                        }
                    },
                    () = &mut driving => {}
                }
            }
            Err(e) => tracing::debug!(error = %e, "cache listener could not connect"),
        }
        cache.go_dark();
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Drives a listening connection, applying every notification on [`CHANNEL`] to the
/// cache, until the connection ends.
async fn drive(
    mut conn: tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
    cache: &Cache,
) {
    loop {
        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                cache.apply(n.payload());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(error = %crate::errors::describe(&e), "cache listener connection ended");
                return;
            }
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: i64, secret: &str) -> App {
        App {
            id: AppId(id),
            tenant: TenantId(1),
            app_id: format!("cli_{id}"),
            app_secret: switchboard_core::model::Secret::new(secret),
            name: "a".into(),
            bot_enabled: true,
            signing_required: true,
            scopes: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn a_cold_or_dark_cache_serves_and_stores_nothing() {
        let c = Cache::default();
        assert!(c.ticket().is_none());
        c.go_live();
        let t = c.ticket().unwrap();
        c.put_app(t, &app(1, "s1"));
        assert_eq!(c.app(AppId(1)).unwrap().app_id, "cli_1");
        c.go_dark();
        assert!(c.app(AppId(1)).is_none());
        assert!(c.ticket().is_none());
        c.put_app(t, &app(1, "s1"));
        c.go_live();
        assert!(
            c.app(AppId(1)).is_none(),
            "a fill from before the outage is refused"
        );
    }

    #[test]
    fn a_read_overtaken_by_an_invalidation_is_not_stored() {
        let c = Cache::default();
        c.go_live();
        let before = c.ticket().unwrap();
        c.apply("app:1");
        c.put_app(before, &app(1, "old"));
        assert!(c.app(AppId(1)).is_none());
        let after = c.ticket().unwrap();
        c.put_app(after, &app(1, "new"));
        assert_eq!(
            c.app_by_public_id("cli_1").unwrap().app_secret.expose(),
            "new"
        );
    }

    #[test]
    fn invalidations_evict_by_id_and_unknown_payloads_empty_everything() {
        let c = Cache::default();
        c.go_live();
        c.put_app(c.ticket().unwrap(), &app(1, "s"));
        c.put_app(c.ticket().unwrap(), &app(2, "s"));
        let u = User {
            id: UserId(7),
            tenant: TenantId(1),
            user_id: "u7".into(),
            account_id: "acc7".into(),
            name: "Seven".into(),
            created_at: 0,
        };
        c.put_user(c.ticket().unwrap(), &u);
        assert_eq!(
            c.user_by_key(TenantId(1), UserKey::AccountId("acc7"))
                .unwrap()
                .id,
            UserId(7)
        );
        assert!(c
            .user_by_key(TenantId(2), UserKey::AccountId("acc7"))
            .is_none());
        c.apply("app:1");
        assert!(c.app(AppId(1)).is_none() && c.app_by_public_id("cli_1").is_none());
        assert!(c.app(AppId(2)).is_some());
        c.apply("user:7");
        assert!(c.user(UserId(7)).is_none());
        assert!(c.user_by_key(TenantId(1), UserKey::UserId("u7")).is_none());
        c.apply("garbage");
        assert!(c.app(AppId(2)).is_none());
    }
}
