//! Tenants, users and apps ([`TenantStore`]): writes go through the writer, point reads
//! are served from the caches or read inline.

use crate::{is_unique_violation, rows, sql_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use switchboard_core::error::Entity;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

#[async_trait]
impl TenantStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_err))
            .await
    }

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant> {
        self.write(move |c| {
            c.execute(
                "INSERT INTO tenants(name, created_at) VALUES (?1, ?2)",
                params![new.name, new.created_at],
            )
            .map_err(sql_err)?;
            Ok(Tenant {
                id: TenantId(c.last_insert_rowid()),
                name: new.name,
                created_at: new.created_at,
            })
        })
        .await
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        self.read(move |c| {
            c.prepare_cached("SELECT id, name, created_at FROM tenants WHERE id = ?1")
                .and_then(|mut s| s.query_row([id.0], rows::tenant).optional())
                .map_err(sql_err)
        })
        .await
    }

    async fn list_tenants(&self, page: Page) -> StoreResult<Vec<Tenant>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(
                    "SELECT id, name, created_at FROM tenants WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![page.after, page.limit], rows::tenant)
                .map_err(sql_err)?;
            rows.collect::<Result<_, _>>().map_err(sql_err)
        })
        .await
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        self.write(move |c| {
            let r = c.execute(
                "INSERT INTO users(tenant_id, user_id, account_id, name, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![new.tenant.0, new.user_id, new.account_id, new.name, new.created_at],
            );
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    let taken: bool = c
                        .query_row("SELECT EXISTS(SELECT 1 FROM users WHERE tenant_id = ?1 AND user_id = ?2)", params![new.tenant.0, new.user_id], |r| r.get(0))
                        .map_err(sql_err)?;
                    return Err(StoreError::Duplicate(if taken { "user_id" } else { "account_id" }));
                }
                Err(e) => return Err(sql_err(e)),
            }
            Ok(User {
                id: UserId(c.last_insert_rowid()),
                tenant: new.tenant,
                user_id: new.user_id,
                account_id: new.account_id,
                name: new.name,
                created_at: new.created_at,
            })
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        if let Some(u) = self.inner.users.get(&id) {
            return Ok(Some(u));
        }
        let generation = self.inner.users.generation();
        let u = self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM users WHERE id = ?1",
                rows::USER_COLS
            ))
            .and_then(|mut s| s.query_row([id.0], rows::user).optional())
            .map_err(sql_err)
        })?;
        if let Some(u) = &u {
            self.inner.users.fill(id, u.clone(), generation);
        }
        Ok(u)
    }

    async fn find_user(&self, tenant: TenantId, key: UserKey<'_>) -> StoreResult<Option<User>> {
        let owned = UserKeyOwned::from(key);
        if let Some(id) = self.inner.user_keys.get(&(tenant, owned.clone())) {
            if let Some(u) = self.get_user(id).await? {
                return Ok(Some(u));
            }
        }
        let col = match key {
            UserKey::UserId(_) => "user_id",
            UserKey::AccountId(_) => "account_id",
        };
        let generation = self.inner.users.generation();
        // A unique-index point read, like get_user: inline, not worth a hop to the pool.
        let u = self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {} FROM users WHERE tenant_id = ?1 AND {col} = ?2",
                rows::USER_COLS
            ))
            .and_then(|mut s| {
                s.query_row(params![tenant.0, owned.value()], rows::user)
                    .optional()
            })
            .map_err(sql_err)
        })?;
        if let Some(u) = &u {
            let g = self.inner.user_keys.generation();
            self.inner.user_keys.fill((tenant, owned), u.id, g);
            self.inner.users.fill(u.id, u.clone(), generation);
        }
        Ok(u)
    }

    async fn rename_user(&self, id: UserId, name: String) -> StoreResult<User> {
        let r = self
            .write(move |c| {
                c.execute(
                    "UPDATE users SET name = ?2 WHERE id = ?1",
                    params![id.0, name],
                )
                .map_err(sql_err)?;
                c.prepare_cached(&format!(
                    "SELECT {} FROM users WHERE id = ?1",
                    rows::USER_COLS
                ))
                .and_then(|mut s| s.query_row([id.0], rows::user).optional())
                .map_err(sql_err)?
                .ok_or(StoreError::NotFound(Entity::User))
            })
            .await;
        self.inner.users.invalidate(&id);
        r
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<User>> {
        self.read(move |c| {
            rows::tenant_page(c, "users", rows::USER_COLS, tenant, page, |r| {
                rows::user(r).map(Ok)
            })
        })
        .await
    }

    async fn create_app(&self, new: NewApp) -> StoreResult<App> {
        self.write(move |c| {
            let scopes = serde_json::to_string(&new.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
            let r = c.execute(
                "INSERT INTO apps(tenant_id, app_id, app_secret, name, bot_enabled, signing_required, scopes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![new.tenant.0, new.app_id, new.app_secret.expose(), new.name, new.bot_enabled, new.signing_required, scopes, new.created_at],
            );
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("app_id")),
                Err(e) => return Err(sql_err(e)),
            }
            Ok(App {
                id: AppId(c.last_insert_rowid()),
                tenant: new.tenant,
                app_id: new.app_id,
                app_secret: new.app_secret,
                name: new.name,
                bot_enabled: new.bot_enabled,
                signing_required: new.signing_required,
                scopes: new.scopes,
                created_at: new.created_at,
            })
        })
        .await
    }

    async fn get_app(&self, id: AppId) -> StoreResult<Option<App>> {
        if let Some(a) = self.inner.apps.get(&id) {
            return Ok(Some(a));
        }
        let generation = self.inner.apps.generation();
        let a = self.read_now(|c| rows::app_where(c, "id = ?1", &id.0))?;
        if let Some(a) = &a {
            self.inner.apps.fill(id, a.clone(), generation);
        }
        Ok(a)
    }

    async fn find_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        // app_id -> id never changes, so that map needs no invalidation.
        if let Some(id) = self.inner.app_ids.get(app_id) {
            return self.get_app(id).await;
        }
        let generation = self.inner.apps.generation();
        let a = self.read_now(|c| rows::app_where(c, "app_id = ?1", &app_id))?;
        if let Some(a) = &a {
            self.inner
                .app_ids
                .fill(a.app_id.clone(), a.id, self.inner.app_ids.generation());
            self.inner.apps.fill(a.id, a.clone(), generation);
        }
        Ok(a)
    }

    async fn list_apps(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<App>> {
        self.read(move |c| rows::tenant_page(c, "apps", rows::APP_COLS, tenant, page, rows::app))
            .await
    }

    async fn update_app(&self, id: AppId, patch: AppPatch) -> StoreResult<App> {
        let r = self.write(move |c| {
            let mut app = rows::app_where(c, "id = ?1", &id.0)?.ok_or(StoreError::NotFound(Entity::App))?;
            if let Some(v) = patch.name {
                app.name = v;
            }
            if let Some(v) = patch.app_secret {
                app.app_secret = v;
            }
            if let Some(v) = patch.bot_enabled {
                app.bot_enabled = v;
            }
            if let Some(v) = patch.signing_required {
                app.signing_required = v;
            }
            if let Some(v) = patch.scopes {
                app.scopes = v;
            }
            let scopes = serde_json::to_string(&app.scopes).map_err(|e| StoreError::Internal(e.to_string()))?;
            c.execute(
                "UPDATE apps SET name = ?2, app_secret = ?3, bot_enabled = ?4, signing_required = ?5, scopes = ?6 WHERE id = ?1",
                params![id.0, app.name, app.app_secret.expose(), app.bot_enabled, app.signing_required, scopes],
            )
            .map_err(sql_err)?;
            Ok(app)
        })
        .await;
        // Invalidated whatever the outcome: a failed commit may still have been applied.
        self.inner.apps.invalidate(&id);
        r
    }
}
