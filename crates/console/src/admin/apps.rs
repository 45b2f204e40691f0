//! An app's page: credentials (the secret revealed on demand, rotation), abilities and
//! scopes, event subscriptions.

use super::done;
use crate::api::{seg, ApiError};
use crate::model::*;
use crate::page::{html, CsrfForm, Flash, Layout};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
pub struct AppQuery {
    tenant: i64,
    app: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub dialect: String,
    pub mode: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub event_types: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin_app.html")]
struct AppPage {
    layout: Layout,
    tenant: Tenant,
    app: App,
    secret: String,
    scopes: String,
    subscriptions: Vec<Subscription>,
}

impl AppPage {
    fn events_of(&self, s: &Subscription) -> String {
        s.event_types.join(", ")
    }
}

async fn app_page(
    c: &Console,
    signed: &Signed,
    tenant: i64,
    app: i64,
    flash: &Flash,
    secret: String,
) -> Result<Response, ApiError> {
    let t: Tenant = c.api.get(&format!("/tenants/{tenant}")).await?;
    let a: App = c.api.get(&format!("/tenants/{tenant}/apps/{app}")).await?;
    let subs: Items<Subscription> = c
        .api
        .get(&format!("/tenants/{tenant}/apps/{app}/events"))
        .await?;
    let scopes = a.scopes.join("\n");
    let page = AppPage {
        layout: Layout::new(signed, "admin", flash),
        tenant: t,
        app: a,
        secret,
        scopes,
        subscriptions: subs.items,
    };
    // A revealed secret must not stay in a cache.
    Ok(([(header::CACHE_CONTROL, "no-store")], html(&page)).into_response())
}

pub async fn app(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<AppQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    app_page(&c, &signed, q.tenant, q.app, &flash, String::new()).await
}

#[derive(Deserialize)]
pub struct AppTarget {
    tenant: i64,
    app: i64,
}

/// Shows the secret in the answer to this POST only: never in a URL, never cached.
pub async fn reveal(
    State(c): State<Console>,
    signed: Signed,
    CsrfForm(f, _): CsrfForm<AppTarget>,
) -> Result<Response, ApiError> {
    let s: Value = c
        .api
        .get(&format!("/tenants/{}/apps/{}/secret", f.tenant, f.app))
        .await?;
    let secret = s["app_secret"].as_str().unwrap_or_default().to_string();
    app_page(&c, &signed, f.tenant, f.app, &Flash::default(), secret).await
}

pub async fn rotate(
    State(c): State<Console>,
    signed: Signed,
    CsrfForm(f, _): CsrfForm<AppTarget>,
) -> Result<Response, ApiError> {
    let a = c
        .api
        .admin(
            Method::POST,
            &format!("/tenants/{}/apps/{}/rotate_secret", f.tenant, f.app),
            None,
        )
        .await?;
    let secret = a["app_secret"].as_str().unwrap_or_default().to_string();
    let flash = Flash {
        notice: Some("Secret rotated: tokens minted with the old one no longer work.".into()),
        error: None,
    };
    app_page(&c, &signed, f.tenant, f.app, &flash, secret).await
}

#[derive(Deserialize)]
pub struct AppUpdateForm {
    tenant: i64,
    app: i64,
    #[serde(default)]
    name: String,
    bot_enabled: Option<String>,
    signing_required: Option<String>,
    #[serde(default)]
    scopes: String,
}

pub async fn update_app(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<AppUpdateForm>,
) -> Response {
    let scopes: Vec<&str> = f
        .scopes
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    let mut body = json!({
        "bot_enabled": f.bot_enabled.is_some(),
        "signing_required": f.signing_required.is_some(),
        "scopes": scopes,
    });
    if !f.name.trim().is_empty() {
        body["name"] = json!(f.name.trim());
    }
    let r = c
        .api
        .admin(
            Method::PATCH,
            &format!("/tenants/{}/apps/{}", f.tenant, f.app),
            Some(&body),
        )
        .await;
    done(
        &format!("/console/admin/app?tenant={}&app={}", f.tenant, f.app),
        r,
        "Saved: the next request sees it.",
    )
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    tenant: i64,
    app: i64,
    dialect: String,
    mode: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    encrypt_key: String,
    #[serde(default)]
    verification_token: String,
    #[serde(default)]
    event_types: String,
}

/// Saves a subscription; for a webhook the admin API first sends the dialect's
/// URL-verification challenge, so saving is "Verify URL".
pub async fn subscribe(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<SubscribeForm>,
) -> Response {
    let types: Vec<&str> = f
        .event_types
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    let body = json!({
        "mode": f.mode, "url": f.url.trim(), "encrypt_key": f.encrypt_key,
        "verification_token": f.verification_token, "event_types": types,
    });
    let r = c
        .api
        .admin(
            Method::PUT,
            &format!(
                "/tenants/{}/apps/{}/events/{}",
                f.tenant,
                f.app,
                seg(&f.dialect)
            ),
            Some(&body),
        )
        .await;
    let what = if f.mode == "webhook" {
        "The URL answered the challenge; the subscription is saved."
    } else {
        "Subscription saved."
    };
    done(
        &format!("/console/admin/app?tenant={}&app={}", f.tenant, f.app),
        r,
        what,
    )
}

#[derive(Deserialize)]
pub struct UnsubscribeForm {
    tenant: i64,
    app: i64,
    dialect: String,
}

pub async fn unsubscribe(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<UnsubscribeForm>,
) -> Response {
    let r = c
        .api
        .admin(
            Method::DELETE,
            &format!(
                "/tenants/{}/apps/{}/events/{}",
                f.tenant,
                f.app,
                seg(&f.dialect)
            ),
            None,
        )
        .await;
    done(
        &format!("/console/admin/app?tenant={}&app={}", f.tenant, f.app),
        r,
        "Subscription removed.",
    )
}
