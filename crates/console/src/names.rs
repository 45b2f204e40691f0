//! The names and quotes a page shows, read through the admin API.

use crate::api::ApiResult;
use crate::model::*;
use crate::Console;
use axum::http::Method;

/// Everything a tenant's pages name: its users and apps (the first thousand of each).
pub async fn names(c: &Console, tenant: i64) -> ApiResult<(Vec<User>, Vec<App>, Names)> {
    let users: Items<User> = c
        .api
        .get(&format!("/tenants/{tenant}/users?limit=1000"))
        .await?;
    let apps: Items<App> = c
        .api
        .get(&format!("/tenants/{tenant}/apps?limit=1000"))
        .await?;
    let names = Names::new(&users.items, &apps.items);
    Ok((users.items, apps.items, names))
}

/// Completes `names` with the parties it lacks (a tenant's users and apps past the first
/// thousand), one admin-API read each.
pub async fn complete(
    c: &Console,
    tenant: i64,
    names: &mut Names,
    parties: impl IntoIterator<Item = (String, i64)>,
) {
    for (kind, id) in parties {
        if names.knows(&kind, id) {
            continue;
        }
        let path = match kind.as_str() {
            "app" => format!("/tenants/{tenant}/apps/{id}"),
            _ => format!("/tenants/{tenant}/users/{id}"),
        };
        if let Ok(v) = c.api.admin(Method::GET, &path, None).await {
            if let Some(name) = v["name"].as_str() {
                names.learn(&kind, id, name.to_string());
            }
        }
    }
}

/// The messages a page of rows quotes, fetched once each.
pub async fn quoted(c: &Console, tenant: i64, chat: i64, page: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    for r in page.iter().filter_map(|m| m.reply_to) {
        if out.iter().any(|q| q.id == r) {
            continue;
        }
        if let Some(q) = page.iter().find(|m| m.id == r) {
            out.push(q.clone());
        } else if let Ok(q) = c
            .api
            .get::<Message>(&format!("/tenants/{tenant}/chats/{chat}/messages/{r}"))
            .await
        {
            out.push(q);
        }
    }
    out
}
