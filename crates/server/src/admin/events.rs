//! `/tenants/{tenant}/apps/{app}/events` (subscriptions), `/apps/{app}/deliveries` (the
//! delivery log) and `/deliveries/{event_id}/redeliver`. The shapes are a contract that
//! tools outside this repository rely on (docs/events.md).

use super::error::{AResult, AdminError};
use super::extract::{AdminJson, AdminPath, AdminQuery};
use super::render::{app, tenant};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use switchboard_core::events::*;
use switchboard_core::service::SubscribeCmd;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubscriptionBody {
    mode: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    encrypt_key: String,
    #[serde(default)]
    verification_token: String,
    event_types: Vec<String>,
}

fn subscription_json(app_id: &str, s: &Subscription) -> Value {
    json!({
        "app_id": app_id, "dialect": s.dialect, "mode": s.mode.as_str(), "url": s.url,
        "encrypt_key": s.encrypt_key, "verification_token": s.verification_token,
        "event_types": s.event_types,
        "created_at": s.created_at, "updated_at": s.updated_at,
    })
}

/// `PUT …/apps/{app}/events/{dialect}`: creates or replaces the subscription, after the
/// receiver has echoed the dialect's URL-verification challenge (webhooks only).
pub(super) async fn put_subscription(
    State(s): State<AppState>,
    AdminPath((t, a, dialect)): AdminPath<(String, String, String)>,
    AdminJson(b): AdminJson<SubscriptionBody>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    let Some(d) = s.events.dialect(&dialect).cloned() else {
        let names: Vec<&str> = s.events.dialects.iter().map(|d| d.name()).collect();
        return Err(AdminError::not_found(
            &format!("event dialect (one of {})", names.join(", ")),
            &dialect,
        ));
    };
    let mode = Mode::parse(&b.mode)
        .ok_or_else(|| AdminError::bad("mode must be \"webhook\" or \"long_connection\""))?;
    if mode == Mode::LongConnection && d.connections().is_none() {
        return Err(AdminError::bad(format!(
            "{dialect} has no long-connection mode; use \"webhook\""
        )));
    }
    if let Some(bad) = b
        .event_types
        .iter()
        .find(|t| !d.event_types().contains(&t.as_str()))
    {
        return Err(AdminError::bad(format!(
            "event_types: {bad:?} is not a {dialect} event type (known: {})",
            d.event_types().join(", ")
        )));
    }
    let cmd = SubscribeCmd {
        tenant: t.id,
        app: a.id,
        dialect: dialect.clone(),
        mode,
        url: b.url,
        encrypt_key: b.encrypt_key,
        verification_token: b.verification_token,
        event_types: b.event_types,
    };
    s.core.check_subscription(&cmd).await?;
    if mode == Mode::Webhook {
        verify_url(&s, d.as_ref(), &a, &cmd).await?;
    }
    let sub = s.core.subscribe(cmd).await?;
    Ok(Json(subscription_json(&a.app_id, &sub)))
}

/// Sends the challenge and checks the echo, as the vendor's console does on save.
async fn verify_url(
    s: &AppState,
    d: &dyn switchboard_core::events::route::EventDialect,
    app: &switchboard_core::model::App,
    cmd: &SubscribeCmd,
) -> AResult<()> {
    let now = s.core.now_ms();
    let probe = Subscription {
        tenant: cmd.tenant,
        app: cmd.app,
        dialect: cmd.dialect.clone(),
        mode: cmd.mode,
        url: cmd.url.clone(),
        encrypt_key: cmd.encrypt_key.clone(),
        verification_token: cmd.verification_token.clone(),
        event_types: cmd.event_types.clone(),
        created_at: now,
        updated_at: now,
    };
    let challenge = switchboard_core::events::route::new_event_id();
    let req = d.challenge(&probe, app, &challenge, now);
    let within = Duration::from_millis(s.events.config.challenge_timeout_ms);
    let answer = s
        .events
        .webhook
        .post_within(&cmd.url, req, now, within)
        .await;
    let failed = |why: String| {
        AdminError::new(
            StatusCode::BAD_REQUEST,
            "challenge_failed",
            format!("URL verification failed: {why}; the subscription was not saved"),
        )
    };
    match (answer.attempt.error, answer.attempt.status) {
        (Some(ErrorClass::Timeout), _) => Err(failed(format!(
            "the receiver did not answer within {} ms",
            within.as_millis()
        ))),
        (Some(ErrorClass::Connect), _) => Err(failed("the receiver could not be reached".into())),
        (Some(_), Some(code)) => Err(failed(format!("the receiver answered HTTP {code}"))),
        (Some(e), None) => Err(failed(format!("the request failed ({})", e.as_str()))),
        (None, _) if !d.challenge_answered(&challenge, &answer.body) => Err(failed(
            "the receiver's answer did not echo the challenge".into(),
        )),
        (None, _) => Ok(()),
    }
}

/// `GET …/apps/{app}/events`.
pub(super) async fn list_subscriptions(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    let subs = s.core.subscriptions(t.id, a.id).await?;
    let items: Vec<Value> = subs
        .iter()
        .map(|x| subscription_json(&a.app_id, x))
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `DELETE …/apps/{app}/events/{dialect}`: pending deliveries for it are dropped.
pub(super) async fn delete_subscription(
    State(s): State<AppState>,
    AdminPath((t, a, dialect)): AdminPath<(String, String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    let dropped = s.core.unsubscribe(t.id, a.id, &dialect).await?;
    Ok(Json(
        json!({ "dialect": dialect, "dropped_deliveries": dropped }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeliveriesQuery {
    status: Option<String>,
    event_type: Option<String>,
    /// The previous page's `next`.
    after: Option<String>,
    limit: Option<u32>,
}

fn delivery_json(r: &DeliveryRecord) -> Value {
    let d = &r.delivery;
    let attempts: Vec<Value> = r
        .attempts
        .iter()
        .map(|a| {
            json!({
                "at": a.at, "status": a.status, "latency_ms": a.latency_ms,
                "error": a.error.map(ErrorClass::as_str),
            })
        })
        .collect();
    json!({
        "event_id": d.event_id, "event_type": d.event_type, "dialect": d.dialect,
        "mode": d.mode.as_str(), "chat": d.chat, "message": d.message,
        "status": d.status.as_str(), "attempts": attempts,
        "next_attempt_at": if d.status.is_open() { d.next_attempt_at } else { None },
        "created_at": d.created_at,
    })
}

/// `GET …/apps/{app}/deliveries?status=&event_type=&after=&limit=`, newest first.
pub(super) async fn list_deliveries(
    State(s): State<AppState>,
    AdminPath((t, a)): AdminPath<(String, String)>,
    AdminQuery(q): AdminQuery<DeliveriesQuery>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let a = app(&s, &t, &a).await?;
    let status = match q.status.as_deref().filter(|x| !x.is_empty()) {
        None => None,
        Some(x) => Some(DeliveryStatus::parse(x).ok_or_else(|| {
            AdminError::bad("status must be pending, delivered, retrying or failed")
        })?),
    };
    let before = match q.after.as_deref().filter(|x| !x.is_empty()) {
        None => None,
        Some(x) => Some(
            x.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| AdminError::bad("after must be a previous page's next"))?,
        ),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(AdminError::bad("limit must be 1 to 200"));
    }
    let rows = s
        .core
        .deliveries(DeliveryQuery {
            tenant: t.id,
            app: a.id,
            status,
            event_type: q.event_type.filter(|x| !x.is_empty()),
            before,
            limit,
        })
        .await?;
    let next = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.delivery.id.to_string()))
        .flatten();
    let items: Vec<Value> = rows.iter().map(delivery_json).collect();
    Ok(Json(json!({ "items": items, "next": next })))
}

/// `GET /tenants/{tenant}/deliveries/{event_id}`: one delivery with, for each attempt, what
/// went over the wire (`wire`: the request as sent and the receiver's answer).
pub(super) async fn get_delivery(
    State(s): State<AppState>,
    AdminPath((t, event_id)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let rec = s.core.delivery(t.id, &event_id).await?;
    let mut v = delivery_json(&rec);
    v["app"] = json!(rec.delivery.app);
    if let Some(list) = v["attempts"].as_array_mut() {
        for (out, a) in list.iter_mut().zip(&rec.attempts) {
            out["wire"] = a
                .wire
                .as_deref()
                .and_then(|w| serde_json::from_str(w).ok())
                .unwrap_or(Value::Null);
        }
    }
    Ok(Json(v))
}

/// `POST …/deliveries/{event_id}/redeliver`: a new attempt now, with the same event id.
pub(super) async fn redeliver(
    State(s): State<AppState>,
    AdminPath((t, event_id)): AdminPath<(String, String)>,
) -> AResult<Json<Value>> {
    let t = tenant(&s, &t).await?;
    let d = s.core.redeliver(t.id, &event_id).await?;
    s.events.poke();
    let rec = s.core.delivery(t.id, &d.event_id).await?;
    Ok(Json(delivery_json(&rec)))
}
