//! `/tenants/{tenant}/apps`: create, list, get and update apps, and rotate an app's secret.

use super::error::AResult;
use super::extract::{AdminJson, AdminPath, AdminQuery, PageQuery};
use super::render::{app, app_json, items_json, tenant};
use super::tenants::NameBody;
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use switchboard_core::store::AppPatch;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AppUpdateBody {
    name: Option<String>,
    bot_enabled: Option<bool>,
    signing_required: Option<bool>,
    scopes: Option<Vec<String>>,
}

pub(super) async fn create_app(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminJson(b): AdminJson<NameBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let a = s.core.create_app(t.id, &b.name).await?;
    Ok((StatusCode::CREATED, Json(app_json(&a, true))))
}

pub(super) async fn list_apps(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let apps = s.core.list_apps(t.id, q.page()?).await?;
    Ok(items_json(&apps, |a| app_json(a, false)))
}

pub(super) async fn get_app(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    Ok(Json(app_json(&app(&s, &t, &a).await?, false)))
}

/// `GET …/apps/{app}/secret`: the app's current secret, on demand (the console's "reveal").
pub(super) async fn reveal_secret(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
) -> AResult<impl axum::response::IntoResponse> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({ "app_id": a.app_id, "app_secret": a.app_secret.expose() })),
    ))
}

pub(super) async fn update_app(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<AppUpdateBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    let patch = AppPatch {
        name: b.name,
        app_secret: None,
        bot_enabled: b.bot_enabled,
        signing_required: b.signing_required,
        scopes: b.scopes,
    };
    Ok(Json(app_json(
        &s.core.update_app(t.id, a.id, patch).await?,
        false,
    )))
}

pub(super) async fn rotate_secret(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    Ok(Json(app_json(
        &s.core.rotate_app_secret(t.id, a.id).await?,
        true,
    )))
}
