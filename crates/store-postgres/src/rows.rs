//! Row <-> domain mapping.

use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::{form, StoreError, StoreResult};
use tokio_postgres::types::{FromSql, Json};
use tokio_postgres::Row;

pub const USER_COLS: &str = "id, tenant_id, user_id, account_id, name, created_at";
pub const APP_COLS: &str =
    "id, tenant_id, app_id, app_secret, name, bot_enabled, signing_required, scopes, created_at";
pub const CHAT_COLS: &str = "id, tenant_id, kind, name, owner_kind, owner_id, created_at, dissolved_at, last_position, description";
pub const MEMBER_COLS: &str = "chat_id, member_kind, member_id, role, joined_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

/// A column, with a type mismatch or a bad JSON document reported as an internal error.
pub fn get<'a, T: FromSql<'a>>(r: &'a Row, idx: usize) -> StoreResult<T> {
    r.try_get(idx).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        StoreError::Internal(format!("{e}{cause}"))
    })
}

pub fn tenant(r: &Row) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: TenantId(get(r, 0)?),
        name: get(r, 1)?,
        created_at: get(r, 2)?,
    })
}

pub fn user(r: &Row) -> StoreResult<User> {
    user_at(r, 0)
}

/// A user whose [`USER_COLS`] start at column `at`.
pub fn user_at(r: &Row, at: usize) -> StoreResult<User> {
    Ok(User {
        id: UserId(get(r, at)?),
        tenant: TenantId(get(r, at + 1)?),
        user_id: get(r, at + 2)?,
        account_id: get(r, at + 3)?,
        name: get(r, at + 4)?,
        created_at: get(r, at + 5)?,
    })
}

pub fn app(r: &Row) -> StoreResult<App> {
    app_at(r, 0)
}

/// An app whose [`APP_COLS`] start at column `at`.
pub fn app_at(r: &Row, at: usize) -> StoreResult<App> {
    let scopes: Json<Vec<String>> = get(r, at + 7).map_err(|_| corrupt("apps.scopes"))?;
    Ok(App {
        id: AppId(get(r, at)?),
        tenant: TenantId(get(r, at + 1)?),
        app_id: get(r, at + 2)?,
        app_secret: Secret::new(get::<String>(r, at + 3)?),
        name: get(r, at + 4)?,
        bot_enabled: get(r, at + 5)?,
        signing_required: get(r, at + 6)?,
        scopes: scopes.0,
        created_at: get(r, at + 8)?,
    })
}

pub fn chat(r: &Row) -> StoreResult<Chat> {
    let kind: &str = get(r, 2)?;
    let owner_kind: &str = get(r, 4)?;
    let (Some(kind), Some(owner)) = (
        ChatKind::parse(kind),
        Actor::from_parts(owner_kind, get(r, 5)?),
    ) else {
        return Err(corrupt("chats.kind"));
    };
    Ok(Chat {
        id: ChatId(get(r, 0)?),
        tenant: TenantId(get(r, 1)?),
        kind,
        name: get(r, 3)?,
        description: get(r, 9)?,
        owner,
        created_at: get(r, 6)?,
        dissolved_at: get(r, 7)?,
        last_position: get(r, 8)?,
    })
}

/// A chat outer-joined with a membership, as `chat_and_member_cols!` (lib.rs) selects them:
/// the chat's columns first (all null when it is absent), the member's from column 10.
pub fn chat_and_member(r: &Row) -> StoreResult<(Option<Chat>, Option<Member>)> {
    if get::<Option<i64>>(r, 0)?.is_none() {
        return Ok((None, None));
    }
    let member = match get::<Option<i64>>(r, 10)? {
        Some(_) => Some(member_at(r, 10)?),
        None => None,
    };
    Ok((Some(chat(r)?), member))
}

pub fn member(r: &Row) -> StoreResult<Member> {
    member_at(r, 0)
}

/// A member whose [`MEMBER_COLS`] start at column `at`.
pub fn member_at(r: &Row, at: usize) -> StoreResult<Member> {
    let kind: &str = get(r, at + 1)?;
    let role: &str = get(r, at + 3)?;
    let (Some(actor), Some(role)) = (Actor::from_parts(kind, get(r, at + 2)?), Role::parse(role))
    else {
        return Err(corrupt("chat_members"));
    };
    Ok(Member {
        chat: ChatId(get(r, at)?),
        actor,
        role,
        joined_at: get(r, at + 4)?,
    })
}

/// Decodes the `doc` column (first in the row).
pub fn message(r: &Row) -> StoreResult<Message> {
    message_at(r, 0)?.ok_or_else(|| corrupt("messages.doc is null"))
}

/// Decodes a `doc` column at `idx`, which an outer join may have left null.
pub fn message_at(r: &Row, idx: usize) -> StoreResult<Option<Message>> {
    // Borrowed from the row: decoded without a copy of the bytes.
    let doc: Option<&[u8]> = r.try_get(idx).map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| c.to_string())
            .unwrap_or_else(|| e.to_string());
        StoreError::Internal(format!("corrupt message document: {cause}"))
    })?;
    doc.map(form::decode_message)
        .transpose()
        .map_err(StoreError::Internal)
}

/// A change: `seq, tenant_id, chat_id, at, body`.
pub fn change(r: &Row) -> StoreResult<Change> {
    let body: &[u8] = get(r, 4)?;
    Ok(Change {
        seq: get(r, 0)?,
        tenant: TenantId(get(r, 1)?),
        chat: ChatId(get(r, 2)?),
        at: get(r, 3)?,
        body: ChangeBody::decode(body).map_err(StoreError::Internal)?,
    })
}

/// A subscription, as `SUB_COLS` (events.rs) selects it.
pub fn subscription(r: &Row) -> StoreResult<Subscription> {
    Ok(Subscription {
        tenant: TenantId(get(r, 0)?),
        app: AppId(get(r, 1)?),
        dialect: get(r, 2)?,
        mode: Mode::parse(get(r, 3)?).ok_or_else(|| corrupt("subscriptions.mode"))?,
        url: get(r, 4)?,
        encrypt_key: get(r, 5)?,
        verification_token: get(r, 6)?,
        event_types: get(r, 7)?,
        created_at: get(r, 8)?,
        updated_at: get(r, 9)?,
    })
}

/// Columns of a delivery, as `delivery_cols!` (events.rs) selects them.
const DELIVERY_COLS: usize = 15;

/// A delivery whose `delivery_cols!` start at column `at`.
pub fn delivery(r: &Row, at: usize) -> StoreResult<Delivery> {
    let body: &[u8] = get(r, at + 10)?;
    let attempts: i32 = get(r, at + 12)?;
    Ok(Delivery {
        id: get(r, at)?,
        event_id: get(r, at + 1)?,
        tenant: TenantId(get(r, at + 2)?),
        app: AppId(get(r, at + 3)?),
        dialect: get(r, at + 4)?,
        mode: Mode::parse(get(r, at + 5)?).ok_or_else(|| corrupt("deliveries.mode"))?,
        event_type: get(r, at + 6)?,
        chat: ChatId(get(r, at + 7)?),
        message: get::<Option<i64>>(r, at + 8)?.map(MessageId),
        seq: get(r, at + 9)?,
        body: ChangeBody::decode(body).map_err(StoreError::Internal)?,
        status: DeliveryStatus::parse(get(r, at + 11)?)
            .ok_or_else(|| corrupt("deliveries.status"))?,
        attempts: u32::try_from(attempts).map_err(|_| corrupt("deliveries.attempts"))?,
        next_attempt_at: get(r, at + 13)?,
        created_at: get(r, at + 14)?,
    })
}

/// A delivery followed by its attempts as five arrays (null when there are none).
pub fn delivery_record(r: &Row) -> StoreResult<DeliveryRecord> {
    let delivery = delivery(r, 0)?;
    let a = DELIVERY_COLS;
    let ats: Option<Vec<Millis>> = get(r, a)?;
    let statuses: Option<Vec<Option<i32>>> = get(r, a + 1)?;
    let latencies: Option<Vec<i64>> = get(r, a + 2)?;
    let errors: Option<Vec<Option<String>>> = get(r, a + 3)?;
    let wires: Option<Vec<Option<String>>> = get(r, a + 4)?;
    let ats = ats.unwrap_or_default();
    let (statuses, latencies, errors, wires) = (
        statuses.unwrap_or_default(),
        latencies.unwrap_or_default(),
        errors.unwrap_or_default(),
        wires.unwrap_or_default(),
    );
    if [statuses.len(), latencies.len(), errors.len(), wires.len()]
        .iter()
        .any(|n| *n != ats.len())
    {
        return Err(corrupt("delivery_attempts"));
    }
    let mut attempts = Vec::with_capacity(ats.len());
    for ((((at, status), latency_ms), error), wire) in ats
        .into_iter()
        .zip(statuses)
        .zip(latencies)
        .zip(errors)
        .zip(wires)
    {
        let error = match error {
            Some(e) => {
                Some(ErrorClass::parse(&e).ok_or_else(|| corrupt("delivery_attempts.error"))?)
            }
            None => None,
        };
        attempts.push(Attempt {
            at,
            status,
            latency_ms,
            error,
            wire,
        });
    }
    Ok(DeliveryRecord { delivery, attempts })
}
