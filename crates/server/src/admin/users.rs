//! `/tenants/{tenant}/users`: create, list and get users.

use super::error::AResult;
use super::extract::{AdminJson, AdminPath, AdminQuery, PageQuery};
use super::render::{app, items_json, tenant, user, user_json};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use switchboard_core::service::CreateUser;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserBody {
    name: String,
    user_id: Option<String>,
    account_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AppQuery {
    app: Option<String>,
}

pub(super) async fn create_user(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminJson(b): AdminJson<UserBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = tenant(&s, &t).await?;
    let u = s
        .core
        .create_user(
            t.id,
            CreateUser {
                name: b.name,
                user_id: b.user_id,
                account_id: b.account_id,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user_json(&u, None))))
}

pub(super) async fn list_users(
    State(s): State<AppState>,
    AdminPath(t): AdminPath<String>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let users = s.core.list_users(t.id, q.page()?).await?;
    Ok(items_json(&users, |u| user_json(u, None)))
}

pub(super) async fn get_user(
    State(s): State<AppState>,
    AdminPath((t, u)): AdminPath<(String, String)>,
    AdminQuery(q): AdminQuery<AppQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = match &q.app {
        Some(seg) => Some(app(&s, &t, seg).await?),
        None => None,
    };
    let u = user(&s, &t, &u, a.as_ref()).await?;
    Ok(Json(user_json(&u, a.as_ref())))
}
