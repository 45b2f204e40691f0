//! A scriptable webhook receiver for event-delivery tests: a real HTTP/1.1 server on
//! `127.0.0.1:0` that records every request (path, headers in the casing they were sent,
//! body, arrival and answer times) and answers as each path's [`Route`] says.
//!
//! It speaks HTTP/1.1 over a raw socket (keep-alive, `Content-Length` or chunked bodies)
//! rather than through hyper, because hyper keeps the original header casing only in a
//! private extension: here the header names are the bytes that came over the wire.
//!
//! ```ignore
//! let recv = Receiver::start().await;
//! recv.route("/a", Route::ok().events(Script::seq([Action::Status(500)], Action::Ok)));
//! // subscribe recv.url("/a"), make something happen, then:
//! let got = recv.wait_for(Duration::from_secs(5), "two attempts", |r| {
//!     (r.iter().filter(|x| x.path == "/a" && x.is_event()).count() >= 2).then_some(())
//! }).await;
//! ```

use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_dialect_lark::events::crypto;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How to answer one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// 200: a challenge gets its echo `{"challenge":"…"}`, anything else
    /// `{"msg":"success"}` (as lark-oapi answers).
    Ok,
    /// This status with `{"msg":"…"}`.
    Status(u16),
    /// This status with exactly this body (e.g. a wrong or missing echo).
    Body(u16, String),
    /// Sleep this many milliseconds, then answer as the inner action says.
    Delay(u64, Box<Action>),
    /// Close the connection without answering.
    Close,
    /// `302 Found` to this location.
    Redirect(String),
}

impl Action {
    /// Sleep `ms`, then [`Action::Ok`].
    pub fn sleep_then_ok(ms: u64) -> Action {
        Action::Delay(ms, Box::new(Action::Ok))
    }
}

/// A sequence of actions for successive requests, then one action for every later one.
#[derive(Debug, Clone)]
pub struct Script {
    steps: VecDeque<Action>,
    then: Action,
}

impl Script {
    /// The same answer every time.
    pub fn always(a: Action) -> Script {
        Script {
            steps: VecDeque::new(),
            then: a,
        }
    }

    /// `steps` in order (one per request), then `then` for ever.
    pub fn seq(steps: impl IntoIterator<Item = Action>, then: Action) -> Script {
        Script {
            steps: steps.into_iter().collect(),
            then,
        }
    }

    fn next(&mut self) -> Action {
        self.steps.pop_front().unwrap_or_else(|| self.then.clone())
    }
}

impl From<Action> for Script {
    fn from(a: Action) -> Script {
        Script::always(a)
    }
}

/// What one path does: its encrypt key (to read encrypted bodies), how it answers the
/// URL-verification challenge, and how it answers events.
#[derive(Debug, Clone)]
pub struct Route {
    pub encrypt_key: Option<String>,
    pub challenge: Script,
    pub events: Script,
}

impl Route {
    /// Echoes challenges and answers every event 200 `{"msg":"success"}`.
    pub fn ok() -> Route {
        Route {
            encrypt_key: None,
            challenge: Script::always(Action::Ok),
            events: Script::always(Action::Ok),
        }
    }

    /// Decrypts bodies with `key` (an empty key means plaintext).
    pub fn key(mut self, key: &str) -> Route {
        self.encrypt_key = (!key.is_empty()).then(|| key.to_string());
        self
    }

    pub fn challenge(mut self, s: impl Into<Script>) -> Route {
        self.challenge = s.into();
        self
    }

    pub fn events(mut self, s: impl Into<Script>) -> Route {
        self.events = s.into();
        self
    }
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    /// Arrival order, from 0.
    pub seq: usize,
    pub method: String,
    pub path: String,
    /// Header names exactly as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
    /// The body as JSON, decrypted when the route has a key and the body is
    /// `{"encrypt":"…"}`; `None` when it is neither.
    pub plain: Option<Value>,
    /// When the whole request had arrived.
    pub started: Instant,
    /// When the receiver began to answer (or closed the connection); `None` while it is
    /// still at work on it (sleeping).
    pub finished: Option<Instant>,
    /// The status answered; `None` when the connection was closed without one (or not yet).
    pub answered: Option<u16>,
}

impl Received {
    /// A header by its exact name (case-sensitive).
    pub fn header(&self, exact: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == exact)
            .map(|(_, v)| v.as_str())
    }

    /// A header by name, whatever its casing.
    pub fn header_ci(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A URL-verification request.
    pub fn is_challenge(&self) -> bool {
        self.plain
            .as_ref()
            .is_some_and(|p| p["type"] == "url_verification")
    }

    /// An event (a v2.0 envelope).
    pub fn is_event(&self) -> bool {
        self.event_id().is_some()
    }

    pub fn event_id(&self) -> Option<&str> {
        self.plain.as_ref()?["header"]["event_id"].as_str()
    }

    pub fn event_type(&self) -> Option<&str> {
        self.plain.as_ref()?["header"]["event_type"].as_str()
    }

    /// The chat the event is about (`event.message.chat_id` or `event.chat_id`).
    pub fn chat_id(&self) -> Option<&str> {
        let e = &self.plain.as_ref()?["event"];
        e["message"]["chat_id"].as_str().or(e["chat_id"].as_str())
    }

    /// `event.message.message_id`.
    pub fn message_id(&self) -> Option<&str> {
        self.plain.as_ref()?["event"]["message"]["message_id"].as_str()
    }

    /// The text of a text message event (`event.message.content`'s `text`).
    pub fn text(&self) -> Option<String> {
        let c = self.plain.as_ref()?["event"]["message"]["content"].as_str()?;
        let v: Value = serde_json::from_str(c).ok()?;
        v["text"].as_str().map(str::to_string)
    }

    /// Whether `X-Lark-Signature` is the SHA-256 of timestamp, nonce, `encrypt_key` and
    /// the body, as sent.
    pub fn signature_ok(&self, encrypt_key: &str) -> bool {
        let (Some(ts), Some(nonce), Some(sig)) = (
            self.header("X-Lark-Request-Timestamp"),
            self.header("X-Lark-Request-Nonce"),
            self.header("X-Lark-Signature"),
        ) else {
            return false;
        };
        crypto::signature(ts, nonce, encrypt_key, &self.body) == sig
    }
}

/// The most requests in progress at once among those with the same key (requests without
/// a key are left out). A request is in progress from `started` to `finished` (or until
/// now when it has not finished).
pub fn max_overlap<K: std::hash::Hash + Eq>(
    reqs: &[Received],
    key: impl Fn(&Received) -> Option<K>,
) -> usize {
    let now = Instant::now();
    let mut by_key: HashMap<K, Vec<(Instant, Instant)>> = HashMap::new();
    for r in reqs {
        if let Some(k) = key(r) {
            by_key
                .entry(k)
                .or_default()
                .push((r.started, r.finished.unwrap_or(now)));
        }
    }
    let mut most = 0;
    for spans in by_key.values() {
        // A sweep: ends sort before starts at the same instant (touching is not overlap).
        let mut marks: Vec<(Instant, i32)> = Vec::with_capacity(spans.len() * 2);
        for (s, e) in spans {
            marks.push((*s, 1));
            marks.push((*e, -1));
        }
        marks.sort();
        let mut cur = 0i32;
        for (_, d) in marks {
            cur += d;
            most = most.max(cur as usize);
        }
    }
    most
}

#[derive(Default)]
struct Inner {
    routes: Mutex<HashMap<String, Route>>,
    log: Mutex<Vec<Received>>,
}

/// The receiver; it stops serving when dropped.
pub struct Receiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Receiver {
    /// Listens on 127.0.0.1 at a free port. No route yet: every path answers 404.
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let inner = Arc::new(Inner::default());
        let i = inner.clone();
        let accept = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let _ = sock.set_nodelay(true);
                tokio::spawn(serve(sock, i.clone()));
            }
        });
        Receiver {
            addr,
            inner,
            accept,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sets (or replaces) what `path` does.
    pub fn route(&self, path: &str, route: Route) {
        self.inner
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), route);
    }

    /// Replaces how `path` answers events, keeping its key and challenge script.
    pub fn set_events(&self, path: &str, s: impl Into<Script>) {
        let mut routes = self.inner.routes.lock().unwrap();
        routes
            .entry(path.to_string())
            .or_insert_with(Route::ok)
            .events = s.into();
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        self.inner.log.lock().unwrap().clone()
    }

    /// The requests to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// The events (not challenges) posted to `path`.
    pub fn events_to(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path && r.is_event())
            .collect()
    }

    /// Polls the log until `f` returns something, or panics after `within` saying what
    /// was awaited and what arrived.
    pub async fn wait_for<T>(
        &self,
        within: Duration,
        what: &str,
        f: impl Fn(&[Received]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            let log = self.requests();
            if let Some(t) = f(&log) {
                return t;
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = log
                    .iter()
                    .map(|r| {
                        format!(
                            "#{} {} {:?} event_id={:?} answered={:?}",
                            r.seq,
                            r.path,
                            r.event_type(),
                            r.event_id(),
                            r.answered
                        )
                    })
                    .collect();
                panic!(
                    "receiver: waited {within:?} for {what}; got {} requests:\n{}",
                    log.len(),
                    seen.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until `path` has received at least `n` events; returns them.
    pub async fn wait_events(&self, path: &str, n: usize, within: Duration) -> Vec<Received> {
        self.wait_for(within, &format!("{n} events at {path}"), |log| {
            let got: Vec<Received> = log
                .iter()
                .filter(|r| r.path == path && r.is_event())
                .cloned()
                .collect();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    let mut headers = Vec::new();
    for l in lines {
        let (k, v) = l.split_once(':')?;
        headers.push((k.to_string(), v.trim().to_string()));
    }
    Some(Head {
        method,
        path,
        headers,
    })
}

/// Reads more bytes into `buf`; false at end of stream or on error.
async fn fill(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match sock.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A whole chunked body at the start of `buf`: (body, bytes consumed), or `None` when
/// more bytes are needed.
fn dechunk(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let eol = find(&buf[at..], b"\r\n")? + at;
        let size_line = std::str::from_utf8(&buf[at..eol]).ok()?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        at = eol + 2;
        if size == 0 {
            // Trailers (none expected), then the final CRLF.
            let end = find(&buf[at..], b"\r\n")? + at;
            return Some((body, end + 2));
        }
        if buf.len() < at + size + 2 {
            return None;
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

/// The request body as JSON, decrypted with `key` when it is `{"encrypt":"…"}`.
fn plaintext(body: &[u8], key: Option<&str>) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    match (v["encrypt"].as_str(), key) {
        (Some(enc), Some(k)) => {
            let plain = crypto::decrypt(k, enc).ok()?;
            serde_json::from_slice(&plain).ok()
        }
        _ => Some(v),
    }
}

async fn serve(mut sock: TcpStream, inner: Arc<Inner>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if !fill(&mut sock, &mut buf).await {
                return;
            }
        };
        let Some(head) = parse_head(&buf[..head_end]) else {
            return;
        };
        buf.drain(..head_end + 4);
        let get = |name: &str| {
            head.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let body = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                if let Some((body, used)) = dechunk(&buf) {
                    buf.drain(..used);
                    break body;
                }
                if !fill(&mut sock, &mut buf).await {
                    return;
                }
            }
        } else {
            let n: usize = get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < n {
                if !fill(&mut sock, &mut buf).await {
                    return;
                }
            }
            buf.drain(..n).collect()
        };
        let close_after = get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));

        // Record the arrival and pick the answer.
        let started = Instant::now();
        let (idx, plain, action) = {
            let mut routes = inner.routes.lock().unwrap();
            let route = routes.get_mut(&head.path);
            let key = route.as_ref().and_then(|r| r.encrypt_key.clone());
            let plain = plaintext(&body, key.as_deref());
            let is_challenge = plain
                .as_ref()
                .is_some_and(|p| p["type"] == "url_verification");
            let action = match route {
                None => Action::Status(404),
                Some(r) if is_challenge => r.challenge.next(),
                Some(r) => r.events.next(),
            };
            let mut log = inner.log.lock().unwrap();
            let idx = log.len();
            log.push(Received {
                seq: idx,
                method: head.method.clone(),
                path: head.path.clone(),
                headers: head.headers.clone(),
                body,
                plain: plain.clone(),
                started,
                finished: None,
                answered: None,
            });
            (idx, plain, action)
        };

        let mut action = action;
        while let Action::Delay(ms, next) = action {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            action = *next;
        }
        let (code, extra, payload) = match action {
            Action::Ok => {
                let challenge = plain
                    .as_ref()
                    .filter(|p| p["type"] == "url_verification")
                    .map(|p| p["challenge"].clone());
                let body = match challenge {
                    Some(c) => json!({ "challenge": c }),
                    None => json!({ "msg": "success" }),
                };
                (200, String::new(), body.to_string())
            }
            Action::Status(code) => (
                code,
                String::new(),
                json!({ "msg": reason(code) }).to_string(),
            ),
            Action::Body(code, body) => (code, String::new(), body),
            Action::Redirect(to) => (302, format!("Location: {to}\r\n"), String::new()),
            Action::Close | Action::Delay(..) => {
                finish(&inner, idx, None);
                return;
            }
        };
        // Finished before the answer is written: whatever the sender does next happens
        // after this instant.
        finish(&inner, idx, Some(code));
        let resp = format!(
            "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}{}\r\n{payload}",
            reason(code),
            payload.len(),
            if close_after { "Connection: close\r\n" } else { "" },
        );
        if sock.write_all(resp.as_bytes()).await.is_err() || close_after {
            return;
        }
    }
}

fn finish(inner: &Inner, idx: usize, code: Option<u16>) {
    let mut log = inner.log.lock().unwrap();
    let r = &mut log[idx];
    r.finished = Some(Instant::now());
    r.answered = code;
}
