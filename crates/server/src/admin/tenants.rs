//! `/tenants`: create, list and get tenants.

use super::error::AResult;
use super::extract::{AdminJson, AdminPath, AdminQuery, PageQuery};
use super::render::{items_json, tenant, tenant_json};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

/// The body creating a tenant, and an app (`apps::create_app`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NameBody {
    pub(super) name: String,
}

pub(super) async fn create_tenant(
    State(s): State<AppState>,
    AdminJson(b): AdminJson<NameBody>,
) -> AResult<(StatusCode, Json<Value>)> {
    let t = s.core.create_tenant(&b.name).await?;
    Ok((StatusCode::CREATED, Json(tenant_json(&t))))
}

pub(super) async fn list_tenants(
    State(s): State<AppState>,
    AdminQuery(q): AdminQuery<PageQuery>,
) -> AResult<Json<Value>> {
    Ok(items_json(
        &s.core.list_tenants(q.page()?).await?,
        tenant_json,
    ))
}

pub(super) async fn get_tenant(
    State(s): State<AppState>,
    AdminPath(seg): AdminPath<String>,
) -> AResult<Json<Value>> {
    Ok(Json(tenant_json(&tenant(&s, &seg).await?)))
}
