//! The benchmark's baseline: the least an HTTP server on this stack does per request.
//!
//! A bare axum server on the same runtime as Switchboard (tokio, multi-threaded, default
//! worker count) that routes `GET /v7/chats/{chat_id}/messages/{message_id}` (the WPS
//! get-message path, so the router does comparable work), checks the two path segments and
//! answers a fixed 500-byte JSON body. No authentication, no lookup, no rendering: whatever
//! Switchboard spends beyond this is its own.
//!
//! `switchboard-bench-baseline [ADDR]` listens on ADDR (default 127.0.0.1:0; only loopback
//! addresses are accepted) and prints `listening on <addr>` once ready. It stops on SIGTERM
//! or Ctrl-C.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::io::Write;
use std::net::SocketAddr;

/// The fixed answer: a message-shaped JSON document of exactly [`BODY_LEN`] bytes.
const BODY: &str = concat!(
    r#"{"code":0,"msg":"ok","data":{"id":"AAAAAAAAAAAAAAAAAAAAAAAA","chat_id":"BBBBBBBBBBBB","#,
    r#""type":"text","ctime":1700000000000,"position":123456,"quote_msg_id":"","#,
    r#""content":{"text":{"content":"The quick brown fox jumps over the lazy dog. "#,
    r#"Pack my box with five dozen liquor jugs. How vexingly quick daft zebras jump!","#,
    r#""type":"plain"}},"sender":{"type":"user","id":"user0001","app_id":"","#,
    r#""company_id":"CCCCCCCCCCCC"},"mentions":[],"extra":"0123456789abcdef0123456789abcdef"#,
    r#"0123456789abcdef0123456789abcdef"}}"#
);
const BODY_LEN: usize = 500;
const _: () = assert!(BODY.len() == BODY_LEN);

async fn message(Path((chat, msg)): Path<(String, String)>) -> Response {
    if chat.is_empty() || msg.is_empty() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    ([(header::CONTENT_TYPE, "application/json")], BODY).into_response()
}

pub fn app() -> Router {
    Router::new().route("/v7/chats/{chat_id}/messages/{message_id}", get(message))
}

fn main() -> std::process::ExitCode {
    let addr: SocketAddr = match std::env::args()
        .nth(1)
        .as_deref()
        .unwrap_or("127.0.0.1:0")
        .parse()
    {
        Ok(a) => a,
        Err(e) => {
            eprintln!("usage: switchboard-bench-baseline [127.0.0.1:PORT]: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if !addr.ip().is_loopback() {
        eprintln!("the baseline binds to a loopback address only, not {addr}");
        return std::process::ExitCode::FAILURE;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "listening on {}",
            listener.local_addr().expect("local address")
        );
        let _ = std::io::stdout().flush();
        axum::serve(listener, app())
            .with_graceful_shutdown(shutdown())
            .await
            .expect("serve");
    });
    std::process::ExitCode::SUCCESS
}

async fn shutdown() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
