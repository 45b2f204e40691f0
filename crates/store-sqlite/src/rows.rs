//! Row <-> domain mapping.

use crate::sql_err;
use rusqlite::{Connection, OptionalExtension, Row, ToSql};
use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::{form, StoreError, StoreResult};

pub const USER_COLS: &str = "id, tenant_id, user_id, account_id, name, created_at";
pub const APP_COLS: &str =
    "id, tenant_id, app_id, app_secret, name, bot_enabled, signing_required, scopes, created_at";
pub const CHAT_COLS: &str = "id, tenant_id, kind, name, owner_kind, owner_id, created_at, dissolved_at, last_position, description";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

pub fn tenant(r: &Row) -> rusqlite::Result<Tenant> {
    Ok(Tenant {
        id: TenantId(r.get(0)?),
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

pub fn user(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId(r.get(0)?),
        tenant: TenantId(r.get(1)?),
        user_id: r.get(2)?,
        account_id: r.get(3)?,
        name: r.get(4)?,
        created_at: r.get(5)?,
    })
}

pub fn app(r: &Row) -> rusqlite::Result<StoreResult<App>> {
    let scopes: String = r.get(7)?;
    let scopes = match serde_json::from_str(&scopes) {
        Ok(s) => s,
        Err(_) => return Ok(Err(corrupt("apps.scopes"))),
    };
    Ok(Ok(App {
        id: AppId(r.get(0)?),
        tenant: TenantId(r.get(1)?),
        app_id: r.get(2)?,
        app_secret: Secret::new(r.get::<_, String>(3)?),
        name: r.get(4)?,
        bot_enabled: r.get(5)?,
        signing_required: r.get(6)?,
        scopes,
        created_at: r.get(8)?,
    }))
}

pub fn app_where(c: &Connection, cond: &str, arg: &dyn ToSql) -> StoreResult<Option<App>> {
    c.prepare_cached(&format!("SELECT {APP_COLS} FROM apps WHERE {cond}"))
        .and_then(|mut s| s.query_row([arg], app).optional())
        .map_err(sql_err)?
        .transpose()
}

pub fn chat(r: &Row) -> rusqlite::Result<StoreResult<Chat>> {
    let kind: String = r.get(2)?;
    let owner_kind: String = r.get(4)?;
    let (Some(kind), Some(owner)) = (
        ChatKind::parse(&kind),
        Actor::from_parts(&owner_kind, r.get(5)?),
    ) else {
        return Ok(Err(corrupt("chats.kind")));
    };
    Ok(Ok(Chat {
        id: ChatId(r.get(0)?),
        tenant: TenantId(r.get(1)?),
        kind,
        name: r.get(3)?,
        description: r.get(9)?,
        owner,
        created_at: r.get(6)?,
        dissolved_at: r.get(7)?,
        last_position: r.get(8)?,
    }))
}

pub fn chat_where(c: &Connection, cond: &str, arg: &dyn ToSql) -> StoreResult<Option<Chat>> {
    c.prepare_cached(&format!("SELECT {CHAT_COLS} FROM chats WHERE {cond}"))
        .and_then(|mut s| s.query_row([arg], chat).optional())
        .map_err(sql_err)?
        .transpose()
}

pub fn member(r: &Row) -> rusqlite::Result<StoreResult<Member>> {
    let kind: String = r.get(1)?;
    let role: String = r.get(3)?;
    let (Some(actor), Some(role)) = (Actor::from_parts(&kind, r.get(2)?), Role::parse(&role))
    else {
        return Ok(Err(corrupt("chat_members")));
    };
    Ok(Ok(Member {
        chat: ChatId(r.get(0)?),
        actor,
        role,
        joined_at: r.get(4)?,
    }))
}

/// The message in column `idx`, decoded from the row's own bytes (no copy). A row holds
/// the stored form (`form`) as a blob, or, written before it, a JSON document as text.
pub fn message_at(r: &Row, idx: usize) -> rusqlite::Result<StoreResult<Message>> {
    let v = r.get_ref(idx)?;
    let bytes = v
        .as_bytes()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, v.data_type(), Box::new(e)))?;
    Ok(form::decode_message(bytes).map_err(StoreError::Internal))
}

/// One page of a tenant's rows of `table` (`cols` and `row` as for a single read), in id
/// order after `page.after`.
pub fn tenant_page<T>(
    c: &Connection,
    table: &str,
    cols: &str,
    tenant: TenantId,
    page: switchboard_core::store::Page,
    row: impl FnMut(&Row) -> rusqlite::Result<StoreResult<T>>,
) -> StoreResult<Vec<T>> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {cols} FROM {table} WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
        ))
        .map_err(sql_err)?;
    let rows = s
        .query_map(rusqlite::params![tenant.0, page.after, page.limit], row)
        .map_err(sql_err)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?
        .into_iter()
        .collect()
}

// The event outbox's rows (`events.rs`).

pub const SUB_COLS: &str = "tenant_id, app_id, dialect, mode, url, encrypt_key, verification_token, event_types, created_at, updated_at";

pub const DELIVERY_COLS: &str = "id, event_id, tenant_id, app_id, dialect, mode, event_type, chat_id, message_id, seq, body, status, attempts, next_attempt_at, created_at";

pub fn subscription(r: &Row) -> rusqlite::Result<StoreResult<Subscription>> {
    let mode: String = r.get(3)?;
    let types: String = r.get(7)?;
    let (Some(mode), Ok(event_types)) = (Mode::parse(&mode), serde_json::from_str(&types)) else {
        return Ok(Err(corrupt("subscriptions")));
    };
    Ok(Ok(Subscription {
        tenant: TenantId(r.get(0)?),
        app: AppId(r.get(1)?),
        dialect: r.get(2)?,
        mode,
        url: r.get(4)?,
        encrypt_key: r.get(5)?,
        verification_token: r.get(6)?,
        event_types,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    }))
}

pub fn delivery(r: &Row) -> rusqlite::Result<StoreResult<Delivery>> {
    let mode: String = r.get(5)?;
    let status: String = r.get(11)?;
    let body: Vec<u8> = r.get(10)?;
    let (Some(mode), Some(status)) = (Mode::parse(&mode), DeliveryStatus::parse(&status)) else {
        return Ok(Err(corrupt("deliveries")));
    };
    let body = match ChangeBody::decode(&body) {
        Ok(b) => b,
        Err(e) => return Ok(Err(StoreError::Internal(e))),
    };
    Ok(Ok(Delivery {
        id: r.get(0)?,
        event_id: r.get(1)?,
        tenant: TenantId(r.get(2)?),
        app: AppId(r.get(3)?),
        dialect: r.get(4)?,
        mode,
        event_type: r.get(6)?,
        chat: ChatId(r.get(7)?),
        message: r.get::<_, Option<i64>>(8)?.map(MessageId),
        seq: r.get(9)?,
        body,
        status,
        attempts: r.get(12)?,
        next_attempt_at: r.get(13)?,
        created_at: r.get(14)?,
    }))
}

pub fn change(r: &Row) -> rusqlite::Result<StoreResult<Change>> {
    let (seq, tenant, chat, at) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
    let body: Vec<u8> = r.get(4)?;
    Ok(ChangeBody::decode(&body)
        .map_err(StoreError::Internal)
        .map(|body| Change {
            seq,
            tenant: TenantId(tenant),
            chat: ChatId(chat),
            at,
            body,
        }))
}

pub fn attempt(r: &Row) -> rusqlite::Result<StoreResult<Attempt>> {
    let error: Option<String> = r.get(3)?;
    let error = match error.as_deref().map(ErrorClass::parse) {
        None => None,
        Some(Some(e)) => Some(e),
        Some(None) => return Ok(Err(corrupt("delivery_attempts.error"))),
    };
    Ok(Ok(Attempt {
        at: r.get(0)?,
        status: r.get(1)?,
        latency_ms: r.get(2)?,
        error,
        wire: r.get(4)?,
    }))
}

/// Collects rows decoded to `StoreResult`s.
pub fn collect<T>(
    rows: impl Iterator<Item = rusqlite::Result<StoreResult<T>>>,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(sql_err)??);
    }
    Ok(out)
}
