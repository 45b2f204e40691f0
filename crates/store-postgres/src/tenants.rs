//! Tenants, users and apps ([`TenantStore`]). Apps and users are read through this node's
//! cache (`cache.rs`); every change to one notifies every node.

use crate::errors::{pg_err, unique_violation};
use crate::sql::{query, query_opt};
use crate::{cache, rows, PostgresStore};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_core::error::Entity;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio_postgres::types::Json;

/// A cached read: `hit` when the cache had it, else `load` from the database, stored with
/// `fill` under a ticket taken before the load ran (so an invalidation meanwhile wins).
async fn read_through<T>(
    cache: &cache::Cache,
    hit: Option<T>,
    load: impl std::future::Future<Output = StoreResult<Option<T>>>,
    fill: impl FnOnce(cache::Ticket, &T),
) -> StoreResult<Option<T>> {
    if hit.is_some() {
        return Ok(hit);
    }
    let ticket = cache.ticket();
    let found = load.await?;
    if let (Some(t), Some(v)) = (ticket, &found) {
        fill(t, v);
    }
    Ok(found)
}

#[async_trait]
impl TenantStore for PostgresStore {
    async fn ping(&self) -> StoreResult<()> {
        let c = self.client().await?;
        query_opt(&c, "SELECT 1", &[]).await?;
        // `/metrics` pings before it renders: the pool gauges are read here, once a
        // scrape, rather than on every acquisition.
        self.sample_pool();
        Ok(())
    }

    async fn create_tenant(&self, new: NewTenant) -> StoreResult<Tenant> {
        let c = self.client().await?;
        let r = query_opt(
            &c,
            "INSERT INTO tenants(name, created_at) VALUES ($1, $2) RETURNING id",
            &[&new.name, &new.created_at],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("insert returned no row".into()))?;
        Ok(Tenant {
            id: TenantId(rows::get(&r, 0)?),
            name: new.name,
            created_at: new.created_at,
        })
    }

    async fn get_tenant(&self, id: TenantId) -> StoreResult<Option<Tenant>> {
        let c = self.client().await?;
        query_opt(
            &c,
            "SELECT id, name, created_at FROM tenants WHERE id = $1",
            &[&id.0],
        )
        .await?
        .map(|r| rows::tenant(&r))
        .transpose()
    }

    async fn list_tenants(&self, page: Page) -> StoreResult<Vec<Tenant>> {
        let c = self.client().await?;
        query(
            &c,
            "SELECT id, name, created_at FROM tenants WHERE id > $1 ORDER BY id LIMIT $2",
            &[&page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::tenant)
        .collect()
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        let c = self.client().await?;
        let s = c
            .prepare_cached("INSERT INTO users(tenant_id, user_id, account_id, name, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .await
            .map_err(pg_err)?;
        let r = match c
            .query_one(
                &s,
                &[
                    &new.tenant.0,
                    &new.user_id,
                    &new.account_id,
                    &new.name,
                    &new.created_at,
                ],
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                return Err(match unique_violation(&e) {
                    Some("users_user_id_key") => StoreError::Duplicate("user_id"),
                    Some("users_account_id_key") => StoreError::Duplicate("account_id"),
                    _ => pg_err(e),
                })
            }
        };
        Ok(User {
            id: UserId(rows::get(&r, 0)?),
            tenant: new.tenant,
            user_id: new.user_id,
            account_id: new.account_id,
            name: new.name,
            created_at: new.created_at,
        })
    }

    async fn get_user(&self, id: UserId) -> StoreResult<Option<User>> {
        let cache = &self.inner.cache;
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!("SELECT {} FROM users WHERE id = $1", rows::USER_COLS),
                &[&id.0],
            )
            .await?
            .map(|r| rows::user(&r))
            .transpose()
        };
        read_through(cache, cache.user(id), load, |t, u| cache.put_user(t, u)).await
    }

    async fn find_user(&self, tenant: TenantId, key: UserKey<'_>) -> StoreResult<Option<User>> {
        let cache = &self.inner.cache;
        let (col, val) = match key {
            UserKey::UserId(v) => ("user_id", v),
            UserKey::AccountId(v) => ("account_id", v),
        };
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!(
                    "SELECT {} FROM users WHERE tenant_id = $1 AND {col} = $2",
                    rows::USER_COLS
                ),
                &[&tenant.0, &val],
            )
            .await?
            .map(|r| rows::user(&r))
            .transpose()
        };
        let hit = cache.user_by_key(tenant, key);
        read_through(cache, hit, load, |t, u| cache.put_user(t, u)).await
    }

    async fn rename_user(&self, id: UserId, name: String) -> StoreResult<User> {
        let c = self.client().await?;
        let updated = query_opt(
            &c,
            &format!(
                "UPDATE users SET name = $2 WHERE id = $1
                 RETURNING {}, pg_notify('{}', 'user:' || id)",
                rows::USER_COLS,
                cache::CHANNEL
            ),
            &[&id.0, &name],
        )
        .await;
        // Evicted whatever the outcome: an error may still have committed.
        self.inner.cache.invalidate_user(id);
        updated?
            .map(|r| rows::user(&r))
            .transpose()?
            .ok_or(StoreError::NotFound(Entity::User))
    }

    async fn list_users(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<User>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {} FROM users WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::USER_COLS
            ),
            &[&tenant.0, &page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::user)
        .collect()
    }

    async fn create_app(&self, new: NewApp) -> StoreResult<App> {
        let c = self.client().await?;
        let s = c
            .prepare_cached(
                "INSERT INTO apps(tenant_id, app_id, app_secret, name, bot_enabled, signing_required, scopes, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .await
            .map_err(pg_err)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [
            &new.tenant.0,
            &new.app_id,
            &new.app_secret.expose(),
            &new.name,
            &new.bot_enabled,
            &new.signing_required,
            &Json(&new.scopes),
            &new.created_at,
        ];
        let r = match c.query_one(&s, &params).await {
            Ok(r) => r,
            Err(e) if unique_violation(&e) == Some("apps_app_id_key") => {
                return Err(StoreError::Duplicate("app_id"))
            }
            Err(e) => return Err(pg_err(e)),
        };
        Ok(App {
            id: AppId(rows::get(&r, 0)?),
            tenant: new.tenant,
            app_id: new.app_id,
            app_secret: new.app_secret,
            name: new.name,
            bot_enabled: new.bot_enabled,
            signing_required: new.signing_required,
            scopes: new.scopes,
            created_at: new.created_at,
        })
    }

    async fn get_app(&self, id: AppId) -> StoreResult<Option<App>> {
        let cache = &self.inner.cache;
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!("SELECT {} FROM apps WHERE id = $1", rows::APP_COLS),
                &[&id.0],
            )
            .await?
            .map(|r| rows::app(&r))
            .transpose()
        };
        read_through(cache, cache.app(id), load, |t, a| cache.put_app(t, a)).await
    }

    async fn find_app(&self, app_id: &str) -> StoreResult<Option<App>> {
        let cache = &self.inner.cache;
        let load = async {
            let c = self.client().await?;
            query_opt(
                &c,
                &format!("SELECT {} FROM apps WHERE app_id = $1", rows::APP_COLS),
                &[&app_id],
            )
            .await?
            .map(|r| rows::app(&r))
            .transpose()
        };
        let hit = cache.app_by_public_id(app_id);
        read_through(cache, hit, load, |t, a| cache.put_app(t, a)).await
    }

    async fn list_apps(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<App>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {} FROM apps WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::APP_COLS
            ),
            &[&tenant.0, &page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::app)
        .collect()
    }

    async fn update_app(&self, id: AppId, patch: AppPatch) -> StoreResult<App> {
        let c = self.client().await?;
        // One statement: the patch applies atomically against whatever is current.
        let scopes = patch.scopes.as_ref().map(Json);
        let secret = patch.app_secret.as_ref().map(|s| s.expose());
        // The notification is sent when this statement commits, to every node's cache.
        let updated = query_opt(
            &c,
            &format!(
                "UPDATE apps SET name = COALESCE($2, name), app_secret = COALESCE($3, app_secret),
                     bot_enabled = COALESCE($4, bot_enabled), signing_required = COALESCE($5, signing_required),
                     scopes = COALESCE($6, scopes)
                 WHERE id = $1 RETURNING {}, pg_notify('{}', 'app:' || id)",
                rows::APP_COLS,
                cache::CHANNEL
            ),
            &[&id.0, &patch.name, &secret, &patch.bot_enabled, &patch.signing_required, &scopes],
        )
        .await;
        // Evicted whatever the outcome: an error may still have committed.
        self.inner.cache.invalidate_app(id);
        updated?
            .map(|r| rows::app(&r))
            .transpose()?
            .ok_or(StoreError::NotFound(Entity::App))
    }
}
