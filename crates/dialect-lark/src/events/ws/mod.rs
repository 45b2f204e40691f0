//! Feishu's long connection ("使用长连接接收事件", spec §1.11), server side: what
//! lark-oapi's `lark.ws.Client` (and the Go and Node clients) connect to with only their
//! `domain` changed.
//!
//! - `endpoint`: `POST /callback/ws/endpoint`, discovery: checks AppID/AppSecret and
//!   answers the WebSocket URL (with a short-lived ticket) and the client settings;
//! - `socket`: the WebSocket at [`WS_PATH`]: checks the ticket, registers the connection,
//!   answers pings, writes events, reads acks;
//! - `frame`: the `pbbp2.Frame` protobuf and the frames we build and read;
//! - this file: [`LarkConnections`], the node's registry of open connections, which is
//!   core's [`Connections`] port: the deliverer pushes long-connection deliveries through
//!   it and waits for their acks.
//!
//! Only the Feishu face has it: Hi documents no long connection.
//!
//! **Where the vendor is silent** (decided here):
//! - limits are per node (a registry is a node's): at most
//!   `Config::ws_max_connections_per_app` connections per app, refused at discovery with
//!   `1000040350` and at the handshake with `Handshake-Status: 514` /
//!   `Handshake-Autherrcode: 1000040350` (what the clients read as "too many connections");
//! - the ticket is stateless (`endpoint::ticket`): an HMAC keyed by the app's secret, valid
//!   for [`TICKET_TTL_SECS`] on every node sharing the database; not single-use (a replay
//!   within the minute opens another connection for the same app, counted against its cap);
//! - a bad or expired ticket is refused with `Handshake-Status: 514` and
//!   `Handshake-Autherrcode: 514`: the clients treat it as a server error and start over
//!   with a new discovery, which is what an expired ticket needs;
//! - an event with several connections goes to one of them at random (the vendor's
//!   "cluster mode"); an ack is matched by `message_id` (the event id) from any of the
//!   app's connections;
//! - an ack whose payload has no integer `code` counts as 500;
//! - a connection that sends nothing for three `PingInterval`s is closed (clients ping
//!   every `PingInterval`).

mod endpoint;
pub mod frame;
mod socket;

pub use endpoint::{discover, TICKET, TICKET_TTL_SECS};
pub use socket::connect;

use crate::Config;
use async_trait::async_trait;
use axum::body::Bytes;
use axum::routing::{get, post};
use axum::Router;
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::events::route::{Connections, Pushed};
use switchboard_core::ids::AppId;
use switchboard_core::Core;
use tokio::sync::{mpsc, oneshot, Notify};

/// Where discovery sends the client (the path of the URL it answers).
pub const WS_PATH: &str = "/ws/v2";
/// Discovery's path: at the root, as the clients POST `domain + "/callback/ws/endpoint"`.
pub const ENDPOINT_PATH: &str = "/callback/ws/endpoint";

/// A connection's queue of outgoing messages (one entry: an event's fragments, written in
/// a row). Small: a client that does not read holds up only its own pushes.
const QUEUE: usize = 16;

/// What the discovery and WebSocket handlers share.
#[derive(Clone)]
pub struct WsState {
    pub core: Core,
    pub conns: LarkConnections,
}

/// The long connection's two routes, at the root (not under `/open-apis`): discovery at
/// [`ENDPOINT_PATH`] and the WebSocket at [`WS_PATH`].
pub fn routes(core: Core, conns: LarkConnections) -> Router {
    Router::new()
        .route(ENDPOINT_PATH, post(discover))
        .route(WS_PATH, get(connect))
        .with_state(WsState { core, conns })
}

/// The settings the registry and its handlers work by, from the dialect's [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WsSettings {
    pub max_per_app: usize,
    pub ping_interval_secs: u64,
    pub max_frame_bytes: usize,
    pub fragment_bytes: usize,
}

impl WsSettings {
    pub fn from_config(c: &Config) -> WsSettings {
        WsSettings {
            max_per_app: c.ws_max_connections_per_app,
            ping_interval_secs: c.ws_ping_interval_secs.max(1),
            max_frame_bytes: c.ws_max_frame_bytes,
            fragment_bytes: c.ws_fragment_bytes.max(1),
        }
    }

    pub fn client_config(&self) -> frame::ClientConfig {
        frame::ClientConfig::with_ping(self.ping_interval_secs)
    }

    /// How long a connection may stay silent before it is closed.
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs * 3)
    }
}

/// The long connections open on this node, by app. Cheap to clone; one instance is shared
/// by the WebSocket handler (which registers connections and reports acks) and the Feishu
/// [`crate::events::LarkEvents`] the deliverer pushes through.
#[derive(Clone)]
pub struct LarkConnections(Arc<Registry>);

struct Registry {
    settings: WsSettings,
    inner: Mutex<Inner>,
    opened: Notify,
    /// `SeqID`s of outgoing data frames, and ids of connections and waiters.
    counter: AtomicU64,
}

#[derive(Default)]
struct Inner {
    apps: HashMap<AppId, AppConns>,
    /// Pushes waiting for their ack, by (app, event id).
    waiting: HashMap<(AppId, String), Vec<Waiter>>,
}

#[derive(Default)]
struct AppConns {
    open: Vec<Conn>,
    /// Handshakes accepted whose socket is not registered yet: counted against the cap.
    reserved: usize,
}

struct Conn {
    id: u64,
    service: i32,
    tx: mpsc::Sender<Vec<Bytes>>,
}

struct Waiter {
    conn: u64,
    token: u64,
    tx: oneshot::Sender<i32>,
}

impl LarkConnections {
    pub fn new(config: &Config) -> LarkConnections {
        LarkConnections::with_settings(WsSettings::from_config(config))
    }

    pub fn with_settings(settings: WsSettings) -> LarkConnections {
        LarkConnections(Arc::new(Registry {
            settings,
            inner: Mutex::default(),
            opened: Notify::new(),
            counter: AtomicU64::new(1),
        }))
    }

    pub fn settings(&self) -> &WsSettings {
        &self.0.settings
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.inner.lock().expect("not poisoned")
    }

    fn next(&self) -> u64 {
        self.0.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// How many connections `app` holds (or is opening) on this node.
    pub fn count(&self, app: AppId) -> usize {
        self.inner()
            .apps
            .get(&app)
            .map_or(0, |a| a.open.len() + a.reserved)
    }

    /// Claims a place for a connection of `app`, or `None` at the cap.
    pub(crate) fn reserve(&self, app: AppId) -> Option<Slot> {
        let max = self.0.settings.max_per_app;
        let mut inner = self.inner();
        let a = inner.apps.entry(app).or_default();
        if a.open.len() + a.reserved >= max {
            return None;
        }
        a.reserved += 1;
        Some(Slot {
            conns: self.clone(),
            app,
            taken: false,
        })
    }

    /// A client acked event `message_id` with `code`: wakes the pushes waiting for it.
    pub(crate) fn acked(&self, app: AppId, message_id: &str, code: i32) {
        let waiters = self.inner().waiting.remove(&(app, message_id.to_string()));
        for w in waiters.into_iter().flatten() {
            let _ = w.tx.send(code);
        }
    }

    /// One of `app`'s connections, chosen at random.
    fn pick(&self, app: AppId) -> Option<(u64, i32, mpsc::Sender<Vec<Bytes>>)> {
        let inner = self.inner();
        let open = &inner.apps.get(&app)?.open;
        if open.is_empty() {
            return None;
        }
        let c = &open[rand::thread_rng().gen_range(0..open.len())];
        Some((c.id, c.service, c.tx.clone()))
    }

    /// Removes connection `id` of `app` and fails the pushes waiting on it.
    fn remove(&self, app: AppId, id: u64) {
        let mut inner = self.inner();
        if let Some(a) = inner.apps.get_mut(&app) {
            a.open.retain(|c| c.id != id);
            if a.open.is_empty() && a.reserved == 0 {
                inner.apps.remove(&app);
            }
        }
        // Dropping a waiter's sender tells its push the connection is gone.
        inner.waiting.retain(|_, ws| {
            ws.retain(|w| w.conn != id);
            !ws.is_empty()
        });
    }

    /// Registers a push waiting for the ack of `event_id`; the guard unregisters it.
    fn wait_for(
        &self,
        app: AppId,
        event_id: &str,
        conn: u64,
    ) -> (WaitGuard<'_>, oneshot::Receiver<i32>) {
        let (tx, rx) = oneshot::channel();
        let token = self.next();
        let key = (app, event_id.to_string());
        self.inner()
            .waiting
            .entry(key.clone())
            .or_default()
            .push(Waiter { conn, token, tx });
        (
            WaitGuard {
                conns: self,
                key,
                token,
            },
            rx,
        )
    }
}

/// A reserved place for a connection; released when dropped unless it became one.
pub(crate) struct Slot {
    conns: LarkConnections,
    app: AppId,
    taken: bool,
}

impl Slot {
    /// The connection opens: registered with its `service_id`; returns its guard (which
    /// unregisters it) and the queue its socket writes from. Wakes [`Connections::opened`].
    pub(crate) fn open(mut self, service: i32) -> (ConnGuard, mpsc::Receiver<Vec<Bytes>>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let id = self.conns.next();
        {
            let mut inner = self.conns.inner();
            let a = inner.apps.entry(self.app).or_default();
            a.reserved -= 1;
            a.open.push(Conn { id, service, tx });
        }
        self.taken = true;
        // `notify_waiters` wakes a deliverer waiting now; `notify_one` leaves a permit for
        // one that is busy and waits next (at worst one extra wake-up).
        self.conns.0.opened.notify_waiters();
        self.conns.0.opened.notify_one();
        let guard = ConnGuard {
            conns: self.conns.clone(),
            app: self.app,
            id,
        };
        (guard, rx)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.taken {
            return;
        }
        let mut inner = self.conns.inner();
        if let Some(a) = inner.apps.get_mut(&self.app) {
            a.reserved -= 1;
            if a.open.is_empty() && a.reserved == 0 {
                inner.apps.remove(&self.app);
            }
        }
    }
}

/// An open connection's registration; dropping it (the socket closed) unregisters it.
pub(crate) struct ConnGuard {
    conns: LarkConnections,
    pub(crate) app: AppId,
    id: u64,
}

impl ConnGuard {
    pub(crate) fn conns(&self) -> &LarkConnections {
        &self.conns
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.conns.remove(self.app, self.id);
    }
}

struct WaitGuard<'a> {
    conns: &'a LarkConnections,
    key: (AppId, String),
    token: u64,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut inner = self.conns.inner();
        if let Some(ws) = inner.waiting.get_mut(&self.key) {
            ws.retain(|w| w.token != self.token);
            if ws.is_empty() {
                inner.waiting.remove(&self.key);
            }
        }
    }
}

#[async_trait]
impl Connections for LarkConnections {
    fn open(&self) -> usize {
        self.inner().apps.values().map(|a| a.open.len()).sum()
    }

    fn apps(&self) -> Vec<AppId> {
        self.inner()
            .apps
            .iter()
            .filter(|(_, a)| !a.open.is_empty())
            .map(|(app, _)| *app)
            .collect()
    }

    async fn push(&self, app: AppId, event_id: &str, plain: Vec<u8>, deadline: Duration) -> Pushed {
        let until = tokio::time::Instant::now() + deadline;
        // A connection found closed while writing is dropped and another one tried.
        loop {
            let Some((conn, service, tx)) = self.pick(app) else {
                return Pushed::NoConnection;
            };
            let trace_id = crate::events::crypto::nonce();
            let fragment = self.0.settings.fragment_bytes;
            // One `SeqID` per fragment, taken as a block so they run consecutively.
            let count = plain.len().div_ceil(fragment).max(1) as u64;
            let ids = frame::EventIds {
                service,
                message_id: event_id,
                trace_id: &trace_id,
                first_seq: self.0.counter.fetch_add(count, Ordering::Relaxed),
                log_id: self.next(),
            };
            let frames: Vec<Bytes> = frame::event_frames(ids, &plain, fragment)
                .iter()
                .map(|f| Bytes::from(f.encode()))
                .collect();
            // Waiting is registered before the frames go out, so no ack can come first.
            let (_guard, rx) = self.wait_for(app, event_id, conn);
            match tokio::time::timeout_at(until, tx.send(frames)).await {
                Err(_) => return Pushed::NoAck,
                Ok(Err(_)) => {
                    self.remove(app, conn);
                    continue;
                }
                Ok(Ok(())) => {}
            }
            return match tokio::time::timeout_at(until, rx).await {
                Ok(Ok(code)) => Pushed::Acked(code),
                Ok(Err(_)) => Pushed::NoConnection,
                Err(_) => Pushed::NoAck,
            };
        }
    }

    async fn opened(&self) {
        self.0.opened.notified().await
    }
}

#[cfg(test)]
mod tests;
