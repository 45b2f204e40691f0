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

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use switchboard_core::ids::{AppId, TenantId, UserId};
use switchboard_core::model::{App, User};
use switchboard_core::store::UserKey;
use tokio_postgres::AsyncMessage;

pub const CHANNEL: &str = "switchboard_cache";

/// Rows kept at most per kind; past it the kind is emptied and refills with what is used.
const MAX_ROWS: usize = 50_000;

#[derive(Default)]
struct Rows {
    apps: HashMap<AppId, App>,
    app_ids: HashMap<String, AppId>,
    users: HashMap<UserId, User>,
    /// (tenant, key kind: 0 user_id / 1 account_id, key) -> user.
    user_keys: HashMap<(TenantId, u8, String), UserId>,
}

#[derive(Default)]
pub struct Cache {
    live: AtomicBool,
    generation: AtomicU64,
    rows: Mutex<Rows>,
}

/// Taken before a read of the database; a fill with it succeeds only if nothing was
/// invalidated meanwhile.
#[derive(Clone, Copy)]
pub struct Ticket(u64);

fn key_parts(key: &UserKey<'_>) -> (u8, String) {
    match key {
        UserKey::UserId(v) => (0, (*v).to_string()),
        UserKey::AccountId(v) => (1, (*v).to_string()),
    }
}

impl Cache {
    fn rows(&self) -> MutexGuard<'_, Rows> {
        // A panic while holding the lock leaves maps that are still valid maps.
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// `None` while the listener is down: the read's result must not be stored.
    pub fn ticket(&self) -> Option<Ticket> {
        self.live()
            .then(|| Ticket(self.generation.load(Ordering::Acquire)))
    }

    /// The fill happens under the lock that invalidations also take, after the
    /// generation check, so an invalidation is either seen here or runs after the fill.
    fn fill(&self, t: Ticket, f: impl FnOnce(&mut Rows)) {
        let mut rows = self.rows();
        if self.live() && self.generation.load(Ordering::Acquire) == t.0 {
            f(&mut rows);
        }
    }

    pub fn app(&self, id: AppId) -> Option<App> {
        if !self.live() {
            return None;
        }
        self.rows().apps.get(&id).cloned()
    }

    pub fn app_by_public_id(&self, app_id: &str) -> Option<App> {
        if !self.live() {
            return None;
        }
        let rows = self.rows();
        rows.app_ids
            .get(app_id)
            .and_then(|id| rows.apps.get(id))
            .cloned()
    }

    pub fn put_app(&self, t: Ticket, app: &App) {
        self.fill(t, |rows| {
            if rows.apps.len() >= MAX_ROWS {
                rows.apps.clear();
                rows.app_ids.clear();
            }
            rows.app_ids.insert(app.app_id.clone(), app.id);
            rows.apps.insert(app.id, app.clone());
        });
    }

    pub fn user(&self, id: UserId) -> Option<User> {
        if !self.live() {
            return None;
        }
        self.rows().users.get(&id).cloned()
    }

    pub fn user_by_key(&self, tenant: TenantId, key: &UserKey<'_>) -> Option<User> {
        if !self.live() {
            return None;
        }
        let (kind, k) = key_parts(key);
        let rows = self.rows();
        rows.user_keys
            .get(&(tenant, kind, k))
            .and_then(|id| rows.users.get(id))
            .cloned()
    }

    pub fn put_user(&self, t: Ticket, user: &User) {
        self.fill(t, |rows| {
            if rows.users.len() >= MAX_ROWS {
                rows.users.clear();
                rows.user_keys.clear();
            }
            rows.user_keys
                .insert((user.tenant, 0, user.user_id.clone()), user.id);
            rows.user_keys
                .insert((user.tenant, 1, user.account_id.clone()), user.id);
            rows.users.insert(user.id, user.clone());
        });
    }

    /// Applies one notification payload (`app:<id>`, `user:<id>`); anything else empties
    /// the cache.
    pub fn invalidate(&self, payload: &str) {
        let mut rows = self.rows();
        self.generation.fetch_add(1, Ordering::AcqRel);
        let parsed = payload
            .split_once(':')
            .and_then(|(kind, id)| Some((kind, id.parse::<i64>().ok()?)));
        match parsed {
            Some(("app", id)) => {
                if let Some(a) = rows.apps.remove(&AppId(id)) {
                    rows.app_ids.remove(&a.app_id);
                }
            }
            Some(("user", id)) => {
                rows.users.remove(&UserId(id));
            }
            _ => *rows = Rows::default(),
        }
    }

    /// Stops serving and empties the cache (the listener lost its connection).
    fn go_dark(&self) {
        let mut rows = self.rows();
        self.live.store(false, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        *rows = Rows::default();
    }

    /// Serves again, from empty (notifications may have been missed while dark).
    fn go_live(&self) {
        let mut rows = self.rows();
        self.generation.fetch_add(1, Ordering::AcqRel);
        *rows = Rows::default();
        self.live.store(true, Ordering::Release);
    }

    #[cfg(test)]
    pub fn set_live_for_test(&self) {
        self.go_live();
    }
}

/// Keeps one `LISTEN` connection open, reconnecting with a growing pause when it drops.
/// Runs until aborted (when the store is dropped); the connection goes with it.
pub async fn listen(config: tokio_postgres::Config, cache: Arc<Cache>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match crate::connect_bounded(&config).await {
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
                            tracing::warn!(error = %crate::describe(&e), "LISTEN failed; the app and user cache is off until it succeeds");
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
                cache.invalidate(n.payload());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::debug!(error = %crate::describe(&e), "cache listener connection ended");
                return;
            }
            None => return,
        }
    }
}

impl Cache {
    /// Whether the cache is serving (the listener is connected).
    pub fn is_live(&self) -> bool {
        self.live()
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
        c.set_live_for_test();
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
        c.set_live_for_test();
        let before = c.ticket().unwrap();
        c.invalidate("app:1");
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
        c.set_live_for_test();
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
            c.user_by_key(TenantId(1), &UserKey::AccountId("acc7"))
                .unwrap()
                .id,
            UserId(7)
        );
        assert!(c
            .user_by_key(TenantId(2), &UserKey::AccountId("acc7"))
            .is_none());
        c.invalidate("app:1");
        assert!(c.app(AppId(1)).is_none() && c.app_by_public_id("cli_1").is_none());
        assert!(c.app(AppId(2)).is_some());
        c.invalidate("user:7");
        assert!(c.user(UserId(7)).is_none());
        assert!(c.user_by_key(TenantId(1), &UserKey::UserId("u7")).is_none());
        c.invalidate("garbage");
        assert!(c.app(AppId(2)).is_none());
    }
}
