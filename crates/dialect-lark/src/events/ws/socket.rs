//! The WebSocket at [`super::WS_PATH`]: one long connection of one app.
//!
//! The handshake is refused (never upgraded) for a bad ticket or an app at its cap, with
//! the headers the clients read (`Handshake-Status`, `Handshake-Msg`,
//! `Handshake-Autherrcode`). Once open, one task owns the socket: it answers pings with a
//! pong carrying the client settings, hands acks to the registry, writes the events the
//! registry queues, and closes the connection after three ping intervals of silence.

use super::endpoint::{self, AUTH_FAILED, EXCEED_CONN_LIMIT, FORBIDDEN};
use super::frame::{self, Frame, Inbound};
use super::{Slot, WsState};
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::collections::HashMap;

/// A refused handshake: an HTTP answer (not 101) whose headers say why. `auth_code` goes
/// in `Handshake-Autherrcode`, which the clients parse as an integer whenever the status
/// is 514.
fn refuse(http: StatusCode, status: i64, auth_code: Option<i64>, msg: &str) -> Response {
    let mut res = (http, Json(json!({ "code": status, "msg": msg }))).into_response();
    let h = res.headers_mut();
    h.insert(
        HeaderName::from_static("handshake-status"),
        HeaderValue::from(status),
    );
    // Messages are ours and ASCII; a header value cannot fail on them.
    if let Ok(v) = HeaderValue::from_str(msg) {
        h.insert(HeaderName::from_static("handshake-msg"), v);
    }
    if let Some(code) = auth_code {
        h.insert(
            HeaderName::from_static("handshake-autherrcode"),
            HeaderValue::from(code),
        );
    }
    res
}

/// The handshake handler.
pub async fn connect(
    State(s): State<WsState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let bad_ticket = || {
        refuse(
            StatusCode::UNAUTHORIZED,
            AUTH_FAILED,
            Some(AUTH_FAILED),
            "ticket invalid or expired",
        )
    };
    let ticket = q.get("ticket").map(String::as_str).unwrap_or_default();
    let app = match endpoint::ticket_app(&s.core, ticket).await {
        Ok(Some(app)) => app,
        Ok(None) => return bad_ticket(),
        Err(e) => {
            tracing::warn!(error = %e, "checking a long-connection ticket failed");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                1,
                None,
                "system busy, try again",
            );
        }
    };
    // Every frame echoes the service id, an int32 in the clients; discovery issued it, so a
    // URL without one did not come from us.
    let Some(service) = q.get("service_id").and_then(|v| v.parse::<i32>().ok()) else {
        return refuse(
            StatusCode::FORBIDDEN,
            FORBIDDEN,
            None,
            "service_id is missing or not an int32",
        );
    };
    let Some(slot) = s.conns.reserve(app.id) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            AUTH_FAILED,
            Some(EXCEED_CONN_LIMIT),
            "too many long connections for this app",
        );
    };
    let ws = match ws {
        Ok(ws) => ws,
        // Not a WebSocket request: the slot is released as it drops.
        Err(rejection) => return rejection.into_response(),
    };
    let cap = s.conns.settings().max_frame_bytes;
    tracing::debug!(app = app.id.0, service, "long connection opening");
    ws.max_message_size(cap)
        .max_frame_size(cap)
        .on_upgrade(move |socket| run(socket, slot, service))
}

/// Serves one open connection until it closes, fails or goes silent.
async fn run(mut socket: WebSocket, slot: Slot, service: i32) {
    let (guard, mut queue) = slot.open(service);
    let conns = guard.conns().clone();
    let settings = *conns.settings();
    let config = settings.client_config();
    let idle = settings.idle();
    let mut silent_until = tokio::time::Instant::now() + idle;
    let why = 'serve: loop {
        tokio::select! {
            m = socket.recv() => {
                let m = match m {
                    Some(Ok(m)) => m,
                    Some(Err(e)) => break 'serve format!("read failed: {e}"),
                    None => break 'serve "closed".into(),
                };
                // Any frame from the client shows it is alive (WebSocket pings included).
                silent_until = tokio::time::Instant::now() + idle;
                let bytes = match m {
                    Message::Binary(b) => b,
                    Message::Close(_) => break 'serve "closed by the client".into(),
                    _ => continue,
                };
                let f = match Frame::decode(&bytes) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::debug!(error = %e, "ignoring an undecodable long-connection frame");
                        continue;
                    }
                };
                match frame::classify(&f) {
                    Inbound::Ping => {
                        let pong = frame::pong(&f, &config).encode();
                        if let Err(e) = socket.send(Message::Binary(pong.into())).await {
                            break 'serve format!("write failed: {e}");
                        }
                    }
                    Inbound::Ack { message_id, code } => {
                        conns.acked(guard.app, &message_id, code)
                    }
                    Inbound::Other => {}
                }
            }
            out = queue.recv() => {
                let Some(frames) = out else { break 'serve "unregistered".into() };
                for f in frames {
                    if let Err(e) = socket.send(Message::Binary(f)).await {
                        break 'serve format!("write failed: {e}");
                    }
                }
            }
            () = tokio::time::sleep_until(silent_until) => {
                let close = CloseFrame {
                    code: 1000,
                    reason: "no frame for three ping intervals".into(),
                };
                let _ = socket.send(Message::Close(Some(close))).await;
                break 'serve "silent for three ping intervals".into();
            }
        }
    };
    tracing::debug!(app = guard.app.0, service, why = %why, "long connection closed");
    // Unregisters the connection; pushes still waiting on it learn it is gone.
    drop(guard);
}
