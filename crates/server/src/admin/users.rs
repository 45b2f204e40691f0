//! `/tenants/{tenant}/users`: create, list and get users, and issue a user's WPS `wps_sid`.

use super::error::AResult;
use super::error::AdminError;
use super::extract::{AdminJson, AdminPath, AdminQuery, PageQuery};
use super::render::{app, items_json, tenant, user, user_json};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::service::CreateUser;
use switchboard_dialect_wps::user_token::{SidKey, DEFAULT_SID_TTL_SECS, MAX_SID_TTL_SECS};

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

/// The optional body of a `wps_sid` request.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SidBody {
    ttl_secs: Option<i64>,
}

/// `POST /tenants/{tenant}/users/{user}/wps_sid`: a `wps_sid` cookie value with which a WPS
/// client acts as this user (`/v7/dev/agent/token`). The answer is exactly `{"wps_sid"}`.
/// Nothing is stored: the sid is signed with a key derived from the admin token.
pub(super) async fn issue_wps_sid(
    State(s): State<AppState>,
    AdminPath((t, u)): AdminPath<(String, String)>,
    body: Bytes,
) -> AResult<([(header::HeaderName, &'static str); 1], Json<Value>)> {
    // The body is optional: an empty one asks for the default lifetime.
    let b: SidBody = if body.iter().all(u8::is_ascii_whitespace) {
        SidBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => AdminError::bad(e.to_string()),
            _ => AdminError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()),
        })?
    };
    let ttl = b.ttl_secs.unwrap_or(DEFAULT_SID_TTL_SECS);
    if !(1..=MAX_SID_TTL_SECS).contains(&ttl) {
        return Err(AdminError::bad(format!(
            "ttl_secs must be from 1 to {MAX_SID_TTL_SECS}"
        )));
    }
    let t = tenant(&s, &t).await?;
    let u = user(&s, &t, &u, None).await?;
    let key = SidKey::from_admin_token(s.admin_token.expose());
    let sid = key.issue_sid(t.id, u.id, s.core.clock().now_secs() + ttl);
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "wps_sid": sid })),
    ))
}
