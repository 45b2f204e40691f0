//! `dialect_ids`: every resource's id as each dialect renders it, for the admin API.

use serde_json::{json, Value};
use switchboard_core::error::Result;
use switchboard_core::ids::{AppId, MessageId, TenantId};
use switchboard_core::model::{Actor, App, Chat, ChatKind, User};
use switchboard_core::Core;
use switchboard_dialect_lark::ids as lark;
use switchboard_dialect_wps::ids as wps;
use switchboard_dialect_yunxin::ids as yunxin;

pub fn tenant(t: TenantId) -> Value {
    // Yunxin has no tenant id: an AppKey names its tenant.
    json!({ "wps": wps::company_id(t), "lark": lark::tenant_key(t), "yunxin": Value::Null })
}

/// `open_id` is per app, so it is given only when the caller names the app.
pub fn user(u: &User, app: Option<AppId>) -> Value {
    let mut l = json!({ "user_id": u.user_id, "union_id": lark::union_id(u.id) });
    if let Some(a) = app {
        l["open_id"] = json!(lark::open_id(u.id, a));
    }
    json!({ "wps": u.user_id, "lark": l, "yunxin": u.account_id })
}

pub fn app(a: &App) -> Value {
    json!({ "wps": { "app_id": a.app_id, "spid": wps::spid(a.id) }, "lark": a.app_id, "yunxin": a.app_id })
}

/// A p2p chat's Yunxin conversation id is written from the first user's side.
pub async fn chat(core: &Core, c: &Chat) -> Result<Value> {
    let y = match c.kind {
        ChatKind::Group | ChatKind::SuperGroup => json!(yunxin::team_id(c.id)),
        ChatKind::P2p => {
            let members = core.members(c.tenant, c.id).await?;
            let mut names = Vec::with_capacity(2);
            // Users first, so that the owner side of the conversation is an account.
            let mut actors: Vec<Actor> = members.iter().map(|m| m.actor).collect();
            actors.sort_by_key(|a| matches!(a, Actor::App(_)));
            for a in actors {
                names.push(match a {
                    Actor::User(u) => core.user(c.tenant, u).await?.account_id,
                    Actor::App(id) => core.app(c.tenant, id).await?.app_id,
                });
            }
            match names.as_slice() {
                [a, b] => json!(format!("{a}|1|{b}")),
                _ => Value::Null,
            }
        }
    };
    Ok(json!({ "wps": wps::chat_id(c.id), "lark": lark::chat_id(c.id), "yunxin": y }))
}

pub fn message(m: MessageId) -> Value {
    json!({ "wps": wps::message_id(m), "lark": lark::message_id(m), "yunxin": yunxin::message_server_id(m) })
}
