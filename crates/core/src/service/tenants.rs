//! Tenants, users and apps.

use super::validate::*;
use super::*;
use crate::error::{Entity, Error, Result};
use crate::ids::{AppId, TenantId, UserId};
use crate::input;
use crate::model::*;
use crate::store::*;

/// An app whose credentials the caller chooses (a declared world gives them, so a bot's
/// configuration can hold them before the server first starts).
#[derive(Debug, Clone)]
pub struct CreateAppWith {
    pub name: String,
    pub app_id: String,
    pub app_secret: String,
    /// `None`: the scopes a new app is granted by default.
    pub scopes: Option<Vec<String>>,
    pub bot_enabled: bool,
}

/// The shortest secret an app may be given: the generated ones have 32 characters.
pub const MIN_APP_SECRET_LEN: usize = 16;
/// The longest secret an app may be given.
pub const MAX_APP_SECRET_LEN: usize = 128;

#[derive(Debug, Clone)]
pub struct CreateUser {
    pub name: String,
    pub user_id: Option<String>,
    pub account_id: Option<String>,
}

impl Core {
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
            // Derived from user_id; account ids are at most 32 characters.
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
            app_id: format!(
                "{}{}",
                self.config.app_id_prefix,
                random_token(b"0123456789abcdef", 16)
            ),
            app_secret: Secret::new(random_token(
                b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
                32,
            )),
            name,
            bot_enabled: true,
            signing_required: true,
            scopes: self.config.default_scopes.clone(),
            created_at: self.now_ms(),
        };
        Ok(self.store.create_app(new).await?)
    }

    /// Checks an app id a caller chose: the configured prefix, then 8 to 32 letters or
    /// digits (the form every API tells app ids from other ids by).
    pub fn check_app_id(&self, app_id: &str) -> Result<()> {
        let prefix = &self.config.app_id_prefix;
        let ok = app_id.strip_prefix(prefix.as_str()).is_some_and(|rest| {
            (8..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
        if !ok {
            return Err(Error::invalid(
                "app_id",
                format!("must be {prefix:?} followed by 8 to 32 letters or digits"),
            ));
        }
        Ok(())
    }

    /// Checks an app secret a caller chose: 16 to 128 printable ASCII characters without
    /// spaces (it keys HMACs and travels in headers and bodies).
    pub fn check_app_secret(app_secret: &str) -> Result<()> {
        if !(MIN_APP_SECRET_LEN..=MAX_APP_SECRET_LEN).contains(&app_secret.len()) {
            return Err(Error::invalid(
                "app_secret",
                format!("must be {MIN_APP_SECRET_LEN} to {MAX_APP_SECRET_LEN} characters"),
            ));
        }
        if !app_secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "app_secret",
                "may contain only printable ASCII characters, no spaces",
            ));
        }
        Ok(())
    }

    /// Creates an app with the id and secret given (`check_app_id`, `check_app_secret`). An app id
    /// already taken is refused by the store (`Conflict`), whichever tenant holds it.
    pub async fn create_app_with(&self, tenant: TenantId, cmd: CreateAppWith) -> Result<App> {
        self.tenant(tenant).await?;
        let name = valid_name("name", &cmd.name, 128)?;
        self.check_app_id(&cmd.app_id)?;
        Core::check_app_secret(&cmd.app_secret)?;
        let scopes = match cmd.scopes {
            Some(s) => valid_scopes(s)?,
            None => self.config.default_scopes.clone(),
        };
        let new = NewApp {
            tenant,
            app_id: cmd.app_id,
            app_secret: Secret::new(cmd.app_secret),
            name,
            bot_enabled: cmd.bot_enabled,
            signing_required: true,
            scopes,
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
        if let Some(scopes) = patch.scopes.take() {
            patch.scopes = Some(valid_scopes(scopes)?);
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
}

/// Scope names are opaque to the domain: each must be a word of 1 to 128 characters.
/// Sorted, without duplicates.
fn valid_scopes(mut scopes: Vec<String>) -> Result<Vec<String>> {
    for s in scopes.iter() {
        if s.is_empty() || s.len() > 128 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::invalid("scopes", format!("invalid scope {s:?}")));
        }
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}
