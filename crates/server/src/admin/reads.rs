//! `POST /tenants/{tenant}/chats/{chat}/read`: moves a user's read mark in a chat, as the
//! user's client would when it shows the chat (no vendor's bot API marks messages read).

use super::error::{AResult, AdminError};
use super::extract::{AdminJson, AdminPath};
use super::render::{actor_json, chat, tenant, user, IdRef};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::model::Actor;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReadBody {
    /// Any of the user's names (canonical id, user_id, account_id, union_id).
    user: IdRef,
    /// Every message at or before this position is read.
    position: i64,
}

/// The user's mark as it now stands: `{chat_id, user, position, read_at}`. A mark never
/// moves back: a lower position leaves it (and its `read_at`) as it was.
pub(super) async fn mark_read(
    State(s): State<AppState>,
    AdminPath((t, c)): AdminPath<(String, String)>,
    AdminJson(b): AdminJson<ReadBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let c = chat(&s, &t, &c).await?;
    let key = b.user.to_key();
    if key.starts_with("ou_") {
        return Err(AdminError::bad(
            "name the user by its id, user_id, account_id or union_id (an open_id needs an app)",
        ));
    }
    let u = user(&s, &t, &key, None).await?;
    let mark = s
        .core
        .mark_read(t.id, c.id, Actor::User(u.id), b.position)
        .await?;
    Ok(Json(json!({
        "chat_id": c.id,
        "user": actor_json(mark.actor),
        "position": mark.position,
        "read_at": mark.at,
    })))
}
