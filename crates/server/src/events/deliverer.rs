//! The loops: route changes into deliveries, attempt due deliveries, prune the log.
//!
//! Isolation: each attempt runs in a task of its own, and an app has at most
//! `per_app_concurrency` of them in hand on this node; an app at its cap is left out of
//! the next lease (`skip_apps`), so a slow or dead receiver holds only its own slots and
//! never delays another app's events. Order: the store leases at most one delivery per
//! (app, dialect, chat) at a time, in routing order (see `EventStore::lease_deliveries`).

use super::{wire, Events};
use crate::metrics::names;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::events::route::{Connections, Pushed};
use switchboard_core::events::{Attempt, Delivery, ErrorClass, Mode, Next};
use switchboard_core::ids::AppId;
use switchboard_core::store::DeliveryLease;
use tokio::sync::watch;

pub(super) async fn run(ev: Events, stop: watch::Receiver<bool>) {
    let mut loops = vec![
        tokio::spawn(route_loop(ev.clone(), stop.clone())),
        tokio::spawn(prune_loop(ev.clone(), stop.clone())),
    ];
    for d in &ev.dialects {
        if let Some(conns) = d.connections() {
            loops.push(tokio::spawn(connection_loop(
                ev.clone(),
                conns,
                stop.clone(),
            )));
        }
    }
    deliver_loop(ev, stop).await;
    for l in loops {
        let _ = l.await;
    }
}

/// Waits for a wake-up, the poll interval, or shutdown (true).
async fn pause(ev: &Events, wake: &tokio::sync::Notify, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = wake.notified() => false,
        () = tokio::time::sleep(Duration::from_millis(ev.config.poll_ms)) => false,
        r = stop.changed() => r.is_err() || *stop.borrow(),
    }
}

async fn route_loop(ev: Events, mut stop: watch::Receiver<bool>) {
    let lease = ev.config.lease_ms as i64;
    loop {
        match ev
            .core
            .route_changes(&ev.owner, &ev.dialects, ev.config.batch, lease)
            .await
        {
            Ok(0) => {}
            Ok(_) => {
                ev.poke();
                if *stop.borrow() {
                    return;
                }
                continue;
            }
            Err(e) => tracing::warn!(error = %e, "routing events failed; retrying"),
        }
        if pause(&ev, &ev.wake_router, &mut stop).await {
            return;
        }
    }
}

/// Attempts one app has in hand on this node, and the gate that caps them.
#[derive(Default)]
struct InHand {
    apps: Mutex<HashMap<AppId, (usize, Arc<tokio::sync::Semaphore>)>>,
}

impl InHand {
    fn take(&self, app: AppId, cap: usize) -> Arc<tokio::sync::Semaphore> {
        let mut m = self.apps.lock().expect("not poisoned");
        let e = m
            .entry(app)
            .or_insert_with(|| (0, Arc::new(tokio::sync::Semaphore::new(cap))));
        e.0 += 1;
        e.1.clone()
    }
    /// Returns how many the app still has in hand.
    fn give_back(&self, app: AppId) -> usize {
        let mut m = self.apps.lock().expect("not poisoned");
        let Some(e) = m.get_mut(&app) else {
            return 0;
        };
        e.0 -= 1;
        let left = e.0;
        if left == 0 {
            m.remove(&app);
        }
        left
    }
    fn full(&self, cap: usize) -> Vec<AppId> {
        let m = self.apps.lock().expect("not poisoned");
        m.iter()
            .filter(|(_, e)| e.0 >= cap)
            .map(|(a, _)| *a)
            .collect()
    }
}

async fn deliver_loop(ev: Events, mut stop: watch::Receiver<bool>) {
    let in_hand = Arc::new(InHand::default());
    loop {
        let full = lease_and_attempt(&ev, &in_hand, Mode::Webhook, None).await;
        if full && !*stop.borrow() {
            continue;
        }
        if pause(&ev, &ev.wake_webhooks, &mut stop).await {
            return;
        }
    }
}

/// Long-connection deliveries, for the apps whose connections this node holds: events
/// wait in the outbox while an app has no connection anywhere, and go out as soon as one
/// opens.
async fn connection_loop(ev: Events, conns: Arc<dyn Connections>, mut stop: watch::Receiver<bool>) {
    let in_hand = Arc::new(InHand::default());
    loop {
        let apps = conns.apps();
        let full = !apps.is_empty()
            && lease_and_attempt(&ev, &in_hand, Mode::LongConnection, Some((&apps, &conns))).await;
        if full && !*stop.borrow() {
            continue;
        }
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            () = ev.wake_connections.notified() => {}
            () = conns.opened() => {}
            () = tokio::time::sleep(Duration::from_millis(ev.config.poll_ms)) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}

/// Leases a batch of `mode` deliveries (for `conns`' apps only, when given) and starts an
/// attempt of each; true when the batch was full (more may be due).
async fn lease_and_attempt(
    ev: &Events,
    in_hand: &Arc<InHand>,
    mode: Mode,
    conns: Option<(&[AppId], &Arc<dyn Connections>)>,
) -> bool {
    let cap = ev.config.per_app_concurrency;
    let skip = in_hand.full(cap);
    let now = ev.core.now_ms();
    let lease = DeliveryLease {
        owner: &ev.owner,
        limit: ev.config.batch,
        now,
        until: now + ev.config.lease_ms as i64,
        mode,
        only_apps: conns.map(|(apps, _)| apps),
        skip_apps: &skip,
    };
    let got = match ev.core.lease_deliveries(lease).await {
        Ok(got) => got,
        Err(e) => {
            tracing::warn!(error = %e, "leasing deliveries failed; retrying");
            Vec::new()
        }
    };
    let full = got.len() == ev.config.batch;
    for d in got {
        let gate = in_hand.take(d.app, cap);
        let (ev, in_hand) = (ev.clone(), in_hand.clone());
        let conns = conns.map(|(_, c)| c.clone());
        let until = lease.until;
        tokio::spawn(async move {
            let app = d.app;
            if let Ok(_permit) = gate.acquire().await {
                attempt(&ev, d, until, conns.as_ref()).await;
            }
            // The chat's next delivery may be due now; but while the app still has
            // enough in hand to fill its slots, a lease could not take it anyway (the app
            // is skipped), and a wake per attempt would only cost a lease query each.
            if in_hand.give_back(app) < cap {
                match mode {
                    Mode::Webhook => ev.wake_webhooks.notify_one(),
                    Mode::LongConnection => ev.wake_connections.notify_one(),
                }
            }
        });
    }
    full
}

/// One attempt of a leased delivery, recorded with what follows.
async fn attempt(ev: &Events, d: Delivery, lease_until: i64, conns: Option<&Arc<dyn Connections>>) {
    let now = ev.core.now_ms();
    // Waiting for a slot may have eaten the lease: leave the delivery to whoever leases it
    // next rather than race them.
    if now + ev.config.timeout_for(&d.dialect).as_millis() as i64 > lease_until {
        return;
    }
    let attempt = match conns {
        Some(c) => connection_attempt(ev, c, &d, now).await,
        None => webhook_attempt(ev, &d, now).await,
    };
    let class = attempt.error;
    match ev
        .core
        .finish_attempt(&d, &ev.owner, attempt.clone(), &ev.schedule)
        .await
    {
        Ok(Some(next)) => {
            let outcome = class.map_or("delivered", ErrorClass::as_str);
            let dialect = d.dialect.clone();
            metrics::counter!(names::ATTEMPTS, "dialect" => dialect.clone(), "outcome" => outcome)
                .increment(1);
            if class.is_none() {
                let waited = (attempt.at + attempt.latency_ms - d.created_at).max(0);
                metrics::histogram!(names::DELIVERY_LATENCY, "dialect" => dialect)
                    .record(waited as f64 / 1000.0);
            }
            if let Some(class) = class {
                tracing::warn!(
                    event_id = %d.event_id,
                    event_type = %d.event_type,
                    app = d.app.0,
                    error = class.as_str(),
                    status = attempt.status,
                    attempt = d.attempts + 1,
                    failed = matches!(next, Next::Failed),
                    "event delivery attempt failed"
                );
            } else {
                tracing::debug!(event_id = %d.event_id, latency_ms = attempt.latency_ms, "event delivered");
            }
        }
        Ok(None) => {
            tracing::info!(event_id = %d.event_id, "delivery lease lost; another node has it")
        }
        Err(e) => tracing::warn!(event_id = %d.event_id, error = %e, "recording an attempt failed"),
    }
}

async fn webhook_attempt(ev: &Events, d: &Delivery, now: i64) -> Attempt {
    let failed = |error| Attempt {
        at: now,
        status: None,
        latency_ms: 0,
        error: Some(error),
        wire: None,
    };
    let Some(dialect) = ev.dialect(&d.dialect) else {
        return failed(ErrorClass::Render);
    };
    let sub = match ev.core.subscription(d.tenant, d.app, &d.dialect).await {
        Ok(s) if s.mode == Mode::Webhook => s,
        _ => return failed(ErrorClass::Render),
    };
    // Read for each attempt: some wires are keyed by the app's secret, which may rotate.
    let Ok(app) = ev.core.app(d.tenant, d.app).await else {
        return failed(ErrorClass::Render);
    };
    let plain = match dialect.render(&sub, d).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(event_id = %d.event_id, error = %e, "rendering an event failed");
            return failed(ErrorClass::Render);
        }
    };
    let req = dialect.webhook(&sub, &app, &plain, now);
    let sent = wire::request(&sub.url, &req, &plain);
    let deadline = ev.config.timeout_for(&d.dialect);
    let answer = ev.webhook.post_within(&sub.url, req, now, deadline).await;
    let mut attempt = answer.attempt;
    attempt.wire = Some(wire::exchange(sent, attempt.status, Some(&answer.body)));
    attempt
}

async fn connection_attempt(
    ev: &Events,
    conns: &Arc<dyn Connections>,
    d: &Delivery,
    now: i64,
) -> Attempt {
    let failed = |error| Attempt {
        at: now,
        status: None,
        latency_ms: 0,
        error: Some(error),
        wire: None,
    };
    let Some(dialect) = ev.dialect(&d.dialect) else {
        return failed(ErrorClass::Render);
    };
    let sub = match ev.core.subscription(d.tenant, d.app, &d.dialect).await {
        Ok(s) if s.mode == Mode::LongConnection => s,
        _ => return failed(ErrorClass::Render),
    };
    let plain = match dialect.render(&sub, d).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(event_id = %d.event_id, error = %e, "rendering an event failed");
            return failed(ErrorClass::Render);
        }
    };
    let start = std::time::Instant::now();
    let deadline = ev.config.timeout_for(&d.dialect);
    let sent = wire::frame(&plain);
    let pushed = conns.push(d.app, &d.event_id, plain, deadline).await;
    let latency_ms = start.elapsed().as_millis() as i64;
    let (status, error) = match pushed {
        Pushed::Acked(200) => (Some(200), None),
        Pushed::Acked(code) => (Some(code), Some(ErrorClass::Nack)),
        Pushed::NoAck => (None, Some(ErrorClass::Timeout)),
        Pushed::NoConnection => (None, Some(ErrorClass::NoConnection)),
    };
    Attempt {
        at: now,
        status,
        latency_ms,
        error,
        // With no connection open, nothing went out.
        wire: (pushed != Pushed::NoConnection).then(|| wire::exchange(sent, status, None)),
    }
}

async fn prune_loop(ev: Events, mut stop: watch::Receiver<bool>) {
    let keep = ev.config.retention_hours as i64 * 3_600_000;
    loop {
        match ev.core.prune_deliveries(keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(pruned = n, "pruned the delivery log"),
            Err(e) => tracing::warn!(error = %e, "pruning the delivery log failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            r = stop.changed() => if r.is_err() || *stop.borrow() { return },
        }
    }
}
