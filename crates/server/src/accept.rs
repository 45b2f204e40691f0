//! The accept loop: a cap on open connections, the idle and header deadlines of
//! [`crate::deadline`], HTTP/1.1 with header names in the casing the vendors send, and a
//! graceful drain on shutdown.
//!
//! axum's own `serve` has none of the limits: a client that opens connections and sends
//! nothing, or sends its headers a byte at a time, would hold a file descriptor each for as
//! long as it liked, and once the process ran out of descriptors every accept failed.

use crate::coalesce::Coalesced;
use crate::config::HttpConfig;
use crate::deadline::{Limits, Phase, PhaseTimer, Timed};
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

/// Descriptors kept free for everything but client connections: database files and
/// connections, the listener, log files, outbound requests.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and drains the
/// open connections: each finishes the request it is serving and is closed. Connections
/// still busy after `http.shutdown_grace_secs` are dropped (their requests get no answer,
/// so none of them was acknowledged).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    http: &HttpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let max = connection_cap(http.max_connections);
    tracing::info!(max_connections = max, "accepting connections");
    let slots = Arc::new(Semaphore::new(max));
    let conn = ConnConfig {
        limits: Limits {
            idle: Duration::from_secs(http.idle_timeout_secs),
            header: Duration::from_secs(http.header_read_timeout_secs),
        },
        coalesce: http.coalesce_writes,
    };
    let drain = Drain::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // A full house waits here, and new clients wait in the kernel's backlog, until a
        // connection closes or times out; refusing them would only make them retry.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let phase = Phase::new();
        let timer = PhaseTimer {
            phase: phase.clone(),
            limits: conn.limits,
        };
        let io = Timed::new(stream, phase);
        if conn.coalesce {
            spawn_conn(Coalesced::new(io), &app, timer, &conn, &drain, permit);
        } else {
            spawn_conn(io, &app, timer, &conn, &drain, permit);
        }
    }
    drop(listener);
    let grace = Duration::from_secs(http.shutdown_grace_secs);
    let open = max - slots.available_permits();
    tracing::info!(
        open_connections = open,
        "stopped accepting; finishing open requests"
    );
    if tokio::time::timeout(grace, drain.finish()).await.is_err() {
        let open = max - slots.available_permits();
        tracing::warn!(
            open_connections = open,
            grace_secs = http.shutdown_grace_secs,
            "shutdown grace period over; dropping the connections still busy"
        );
    }
    Ok(())
}

/// Tells the connections to finish (hyper's graceful shutdown: the request in progress is
/// answered, then the connection closes) and waits until they have. (hyper-util's
/// `GracefulShutdown` does not take connections that may be upgraded to WebSockets.)
struct Drain {
    /// Dropped to tell every connection; each waits for `closed()`.
    stop: watch::Receiver<()>,
    stop_tx: watch::Sender<()>,
    /// Each connection holds a receiver; all dropped means all done.
    done_tx: watch::Sender<()>,
    done: watch::Receiver<()>,
}

impl Drain {
    fn new() -> Drain {
        let (stop_tx, stop) = watch::channel(());
        let (done_tx, done) = watch::channel(());
        Drain {
            stop,
            stop_tx,
            done_tx,
            done,
        }
    }

    async fn finish(self) {
        let Drain {
            stop,
            stop_tx: _stop_tx,
            done_tx,
            done,
        } = self;
        drop(stop);
        drop(done);
        done_tx.closed().await;
    }
}

struct ConnConfig {
    limits: Limits,
    coalesce: bool,
}

fn spawn_conn<IO>(
    io: IO,
    app: &Router,
    timer: PhaseTimer,
    conn: &ConnConfig,
    drain: &Drain,
    permit: OwnedSemaphorePermit,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(timer)
        // The timer decides the real deadline (idle, then header); hyper only needs one set.
        .header_read_timeout(conn.limits.header)
        // `X-Tt-Logid`, `Content-Type`: the vendors' servers send these names title-cased,
        // and clients (lark-oapi) look them up case-sensitively.
        .title_case_headers(true);
    let served = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(app.clone()))
        .with_upgrades();
    let stop = drain.stop_tx.clone();
    let done = drain.done.clone();
    tokio::spawn(async move {
        let mut served = std::pin::pin!(served);
        let result = tokio::select! {
            r = served.as_mut() => r,
            () = stop.closed() => {
                served.as_mut().graceful_shutdown();
                served.await
            }
        };
        if let Err(e) = result {
            // Timeouts, resets and malformed requests: the client's doing, not a fault here.
            tracing::debug!(error = %e, "connection ended with an error");
        }
        drop(permit);
        drop(done);
    });
}

/// The configured cap, lowered to what the process's descriptor limit allows (after raising
/// the soft limit to the hard one, as servers do), so that the cap is reached before accept
/// starts failing.
fn connection_cap(configured: usize) -> usize {
    let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open-files limit");
            return configured.max(1);
        }
    };
    let allowed = nofile.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    if (configured as u64) > allowed {
        tracing::warn!(
            configured,
            open_files_limit = nofile,
            "http.max_connections lowered to fit the open-files limit (raise it with ulimit -n)"
        );
    }
    (configured as u64).min(allowed).max(1) as usize
}

/// As axum's `serve`: a client that gave up before its connection was accepted is not an
/// error; anything else (out of descriptors) is logged and retried after a pause.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
