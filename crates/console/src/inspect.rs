//! A message's own page: the message as stored, and every event delivered for it to the
//! bots of its chat, with the way to the Inspector.

use crate::api::{seg, ApiError};
use crate::model::*;
use crate::names::names;
use crate::page::{html, Flash, Layout};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
pub struct InspectQuery {
    tenant: i64,
    chat: i64,
    message: String,
}

pub struct Delivered {
    pub app: String,
    pub app_key: i64,
    pub event_id: String,
    pub event_type: String,
    pub dialect: String,
    pub status: String,
    pub attempts: usize,
}

#[derive(Template)]
#[template(path = "inspect.html")]
struct Inspect {
    layout: Layout,
    tenant: i64,
    chat: i64,
    message: String,
    json: String,
    deliveries: Vec<Delivered>,
}

/// A message's own page: the stored message as the admin API gives it, and every event
/// delivered to a bot of its chat for it, with the way to the Inspector.
pub async fn page(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<InspectQuery>,
) -> Result<Response, ApiError> {
    let layout = Layout::new(&signed, "playground", &Flash::default());
    let m = c
        .api
        .admin(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{}",
                q.tenant,
                q.chat,
                seg(&q.message)
            ),
            None,
        )
        .await?;
    let id = m["id"].as_i64().unwrap_or(0);
    let ch: Chat = c
        .api
        .get(&format!("/tenants/{}/chats/{}", q.tenant, q.chat))
        .await?;
    let (_, _, names) = names(&c, q.tenant).await?;
    let mut deliveries = Vec::new();
    for bot in ch.members.iter().filter(|m| m.kind == "app") {
        let page: Value = c
            .api
            .get(&format!(
                "/tenants/{}/apps/{}/deliveries?limit=200",
                q.tenant, bot.id
            ))
            .await?;
        for d in page["items"].as_array().into_iter().flatten() {
            if d["message"].as_i64() != Some(id) {
                continue;
            }
            deliveries.push(Delivered {
                app: names.of("app", bot.id),
                app_key: bot.id,
                event_id: d["event_id"].as_str().unwrap_or_default().into(),
                event_type: d["event_type"].as_str().unwrap_or_default().into(),
                dialect: d["dialect"].as_str().unwrap_or_default().into(),
                status: d["status"].as_str().unwrap_or_default().into(),
                attempts: d["attempts"].as_array().map_or(0, Vec::len),
            });
        }
    }
    Ok(html(&Inspect {
        layout,
        tenant: q.tenant,
        chat: q.chat,
        message: id.to_string(),
        json: serde_json::to_string_pretty(&m).unwrap_or_default(),
        deliveries,
    }))
}
