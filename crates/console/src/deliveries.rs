//! Deliveries: an app's event log, newest first, with each attempt, filters, Redeliver,
//! and a live tail.

use crate::api::{seg, ApiError, ApiResult};
use crate::live::ticking;
use crate::model::*;
use crate::page::{back_with, html, time, CsrfForm, Flash, Layout};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const PAGE: u32 = 50;
/// The live tail reads the newest page this often.
const TAIL_TICK: Duration = Duration::from_millis(1000);

#[derive(Deserialize, Default, Clone)]
pub struct DeliveriesQuery {
    tenant: Option<i64>,
    app: Option<i64>,
    #[serde(default)]
    status: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    after: String,
}

pub struct AttemptRow {
    pub at: String,
    pub status: String,
    pub latency_ms: i64,
    pub error: String,
}

pub struct DeliveryRow {
    pub event_id: String,
    pub event_type: String,
    pub dialect: String,
    pub mode: String,
    pub status: String,
    pub message: String,
    pub created: String,
    pub next_attempt: String,
    pub attempts: Vec<AttemptRow>,
    /// Changes whenever the row does (the live tail's key).
    pub version: String,
}

impl DeliveryRow {
    fn new(d: &Value) -> DeliveryRow {
        let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
        let attempts: Vec<AttemptRow> = d["attempts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| AttemptRow {
                at: time(a["at"].as_i64().unwrap_or(0)),
                status: a["status"]
                    .as_i64()
                    .map_or_else(|| "no answer".to_string(), |s| s.to_string()),
                latency_ms: a["latency_ms"].as_i64().unwrap_or(0),
                error: a["error"].as_str().unwrap_or_default().to_string(),
            })
            .collect();
        DeliveryRow {
            event_id: s("event_id"),
            event_type: s("event_type"),
            dialect: s("dialect"),
            mode: s("mode"),
            status: s("status"),
            message: d["message"]
                .as_i64()
                .map(|m| m.to_string())
                .unwrap_or_default(),
            created: time(d["created_at"].as_i64().unwrap_or(0)),
            next_attempt: d["next_attempt_at"].as_i64().map(time).unwrap_or_default(),
            version: format!("{}-{}", s("status"), attempts.len()),
            attempts,
        }
    }
}

#[derive(Template)]
#[template(path = "delivery_row.html")]
pub struct RowFragment<'a> {
    pub d: &'a DeliveryRow,
    pub tenant: i64,
    pub app: i64,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    layout: Layout,
    tenants: Vec<Tenant>,
    tenant: i64,
    apps: Vec<App>,
    app: i64,
    status: String,
    event_type: String,
    rows: Vec<DeliveryRow>,
    next: String,
    live: bool,
}

impl DeliveriesPage {
    fn fragment<'a>(&'a self, d: &'a DeliveryRow) -> RowFragment<'a> {
        RowFragment {
            d,
            tenant: self.tenant,
            app: self.app,
            csrf: &self.layout.csrf,
        }
    }
}

async fn list(c: &Console, tenant: i64, app: i64, q: &DeliveriesQuery) -> ApiResult<Value> {
    let mut path = format!("/tenants/{tenant}/apps/{app}/deliveries?limit={PAGE}");
    for (k, v) in [
        ("status", &q.status),
        ("event_type", &q.event_type),
        ("after", &q.after),
    ] {
        if !v.is_empty() {
            path.push_str(&format!("&{k}={}", seg(v)));
        }
    }
    c.api.get(&path).await
}

pub async fn page(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<DeliveriesQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let tenants: Items<Tenant> = c.api.get("/tenants?limit=1000").await?;
    let tenant = q
        .tenant
        .or_else(|| tenants.items.first().map(|t| t.id))
        .unwrap_or(0);
    let apps: Vec<App> = if tenant > 0 {
        c.api
            .get::<Items<App>>(&format!("/tenants/{tenant}/apps?limit=1000"))
            .await?
            .items
    } else {
        Vec::new()
    };
    let app = q
        .app
        .filter(|a| apps.iter().any(|x| x.id == *a))
        .or_else(|| apps.first().map(|a| a.id))
        .unwrap_or(0);
    let mut rows = Vec::new();
    let mut next = String::new();
    if app > 0 {
        let v = list(&c, tenant, app, &q).await?;
        rows = v["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(DeliveryRow::new)
            .collect();
        next = v["next"].as_str().unwrap_or_default().to_string();
    }
    Ok(html(&DeliveriesPage {
        layout: Layout::new(&signed, "deliveries", &flash),
        tenants: tenants.items,
        tenant,
        apps,
        app,
        live: q.after.is_empty(),
        status: q.status,
        event_type: q.event_type,
        rows,
        next,
    }))
}

#[derive(Deserialize)]
pub struct EventQuery {
    tenant: i64,
    event: String,
}

/// One attempt's exchange, as the page shows it.
pub struct Exchange {
    pub n: usize,
    pub at: String,
    pub outcome: String,
    pub latency_ms: i64,
    pub url: String,
    pub long_connection: bool,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub body_sha256: String,
    pub plain: String,
    pub answer_status: String,
    pub answer: String,
    pub recorded: bool,
}

fn shown_json(s: &str) -> String {
    if s.trim_start().starts_with(['{', '[']) {
        crate::pretty::json(s)
    } else {
        s.to_string()
    }
}

impl Exchange {
    fn new(n: usize, a: &Value) -> Exchange {
        let w = &a["wire"];
        let req = &w["request"];
        let res = &w["response"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let headers = req["headers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|h| (s(&h[0]), s(&h[1])))
            .collect();
        Exchange {
            n,
            at: time(a["at"].as_i64().unwrap_or(0)),
            outcome: match (a["status"].as_i64(), a["error"].as_str()) {
                (Some(st), Some(e)) => format!("{st} ({e})"),
                (Some(st), None) => st.to_string(),
                (None, Some(e)) => e.to_string(),
                (None, None) => "no answer".into(),
            },
            latency_ms: a["latency_ms"].as_i64().unwrap_or(0),
            url: s(&req["url"]),
            long_connection: req["long_connection"].as_bool().unwrap_or(false),
            headers,
            body: shown_json(&s(&req["body"])),
            body_sha256: s(&req["body_sha256"]),
            plain: shown_json(&s(&req["plain"])),
            answer_status: res["status"]
                .as_i64()
                .map_or_else(|| "none".to_string(), |v| v.to_string()),
            answer: shown_json(&s(&res["body"])),
            recorded: !w.is_null(),
        }
    }
}

#[derive(Template)]
#[template(path = "delivery.html")]
struct DeliveryPage {
    layout: Layout,
    tenant: i64,
    app: i64,
    row: DeliveryRow,
    exchanges: Vec<Exchange>,
}

/// One event: each attempt's exact request (headers in their casing, the body as sent and
/// its SHA-256, the plaintext before encryption) and the receiver's answer.
pub async fn event(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<EventQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let d: Value = c
        .api
        .get(&format!(
            "/tenants/{}/deliveries/{}",
            q.tenant,
            seg(&q.event)
        ))
        .await?;
    let exchanges = d["attempts"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, a)| Exchange::new(i + 1, a))
        .collect();
    Ok(html(&DeliveryPage {
        layout: Layout::new(&signed, "deliveries", &flash),
        tenant: q.tenant,
        app: d["app"].as_i64().unwrap_or(0),
        row: DeliveryRow::new(&d),
        exchanges,
    }))
}

#[derive(Deserialize)]
pub struct RedeliverForm {
    tenant: i64,
    app: i64,
    event_id: String,
    /// Sent from the event's own page, which the answer returns to.
    #[serde(default)]
    back_to_event: bool,
}

/// A new attempt now, with the same event id (as the vendors' retries carry it).
pub async fn redeliver(
    State(c): State<Console>,
    CsrfForm(f, _): CsrfForm<RedeliverForm>,
) -> Response {
    let back = if f.back_to_event {
        format!(
            "/console/deliveries/event?tenant={}&event={}",
            f.tenant,
            seg(&f.event_id)
        )
    } else {
        format!("/console/deliveries?tenant={}&app={}", f.tenant, f.app)
    };
    let r = c
        .api
        .admin(
            Method::POST,
            &format!(
                "/tenants/{}/deliveries/{}/redeliver",
                f.tenant,
                seg(&f.event_id)
            ),
            None,
        )
        .await;
    match r {
        Ok(_) => back_with(
            &back,
            "notice",
            &format!("Event {} queued again.", f.event_id),
        ),
        Err(e) => back_with(&back, "error", &e.message),
    }
}

/// The live tail: the newest page, re-read every second; a row goes out when it is new or
/// its status or attempt count changed.
pub async fn live(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<DeliveriesQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let (Some(tenant), Some(app)) = (q.tenant, q.app) else {
        return Err(ApiError {
            status: axum::http::StatusCode::BAD_REQUEST,
            code: "invalid_argument".into(),
            message: "tenant and app are required".into(),
        });
    };
    list(&c, tenant, app, &q).await?;
    let tail = Tail {
        console: c.clone(),
        tenant,
        app,
        q,
        csrf: signed.0.csrf,
        sent: HashMap::new(),
    };
    Ok(ticking(c, TAIL_TICK, tail, |mut t: Tail| async move {
        let events = t.read().await;
        (t, events)
    }))
}

/// What the live tail has sent: event id → the row's version.
struct Tail {
    console: Console,
    tenant: i64,
    app: i64,
    q: DeliveriesQuery,
    csrf: String,
    sent: HashMap<String, String>,
}

impl Tail {
    /// The rows that are new or changed on the newest page, oldest first (the page puts
    /// each on top). A failed read sends nothing; the next tick tries again.
    async fn read(&mut self) -> Vec<Event> {
        let Ok(v) = list(&self.console, self.tenant, self.app, &self.q).await else {
            return Vec::new();
        };
        let mut events = Vec::new();
        for d in v["items"].as_array().into_iter().flatten().rev() {
            let row = DeliveryRow::new(d);
            if self.sent.get(&row.event_id) == Some(&row.version) {
                continue;
            }
            let html = RowFragment {
                d: &row,
                tenant: self.tenant,
                app: self.app,
                csrf: &self.csrf,
            }
            .render()
            .unwrap_or_default();
            let data = json!({ "event_id": row.event_id, "version": row.version, "html": html });
            events.push(Event::default().event("delivery").data(data.to_string()));
            self.sent.insert(row.event_id, row.version);
        }
        events
    }
}
