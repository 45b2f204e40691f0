//! A small HTTP/1.1 client for webhooks: it writes each request's bytes exactly as given
//! (header names in the casing the dialect renders, which hyper and reqwest cannot keep:
//! they store names lowercased and at best title-case them), reads one answer, and keeps a
//! small pool of idle connections. No proxy, no redirects (a 3xx is an answer like any
//! other), loopback allowed; https over rustls with the webpki roots, ALPN `http/1.1` only.
//!
//! The wire of a request: `POST {path?query} HTTP/1.1`, `Host`, the caller's headers in
//! their order and casing, `Content-Length`, `User-Agent` (unless the caller gave one),
//! `Connection: keep-alive`, then the body.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::TlsConnector;

/// How long an idle connection stays in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most idle connections kept per (scheme, host, port).
pub const MAX_IDLE_PER_HOST: usize = 32;
/// The most bytes of an answer's status line and headers.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields of an answer.
const MAX_HEADERS: usize = 100;
/// The longest chunk-size or trailer line of a chunked answer.
const MAX_LINE: usize = 8 * 1024;
const USER_AGENT: &str = concat!("Switchboard/", env!("CARGO_PKG_VERSION"));
/// Headers this client writes itself; a caller may not give them.
const RESERVED: [&str; 4] = ["host", "content-length", "transfer-encoding", "connection"];

/// Why a request got no answer.
#[derive(Debug)]
pub enum Error {
    /// The request cannot be made as given (a bad URL, a header name or value that would
    /// break the framing); nothing was sent.
    Invalid(String),
    /// The connection (TCP and TLS) did not open within the connect timeout.
    ConnectTimeout,
    /// Connecting, the TLS handshake, writing or reading failed, or the answer was not
    /// HTTP/1.x.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Invalid(why) => write!(f, "invalid request: {why}"),
            Error::ConnectTimeout => f.write_str("connect timed out"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

/// An answer: its status, and its body up to the limit the caller gave.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The client; clones share the pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle: usize,
    tls: OnceLock<TlsConnector>,
    pool: Mutex<HashMap<Key, Vec<Idle>>>,
}

/// What a pooled connection is good for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    https: bool,
    host: String,
    port: u16,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// One connection, with what was read from it and not yet used.
struct Conn {
    io: Box<dyn Stream>,
    buf: Vec<u8>,
    /// Whether any byte came in since the request was written.
    answered: bool,
}

/// Where a request goes.
#[derive(Debug)]
struct Target {
    key: Key,
    addr: Addr,
    /// The `Host` header: the host as in the URL (IPv6 literals bracketed), with the port
    /// when the URL names one other than the scheme's.
    host_header: String,
    /// The request target: path and query.
    path: String,
}

#[derive(Debug)]
enum Addr {
    Domain(String),
    Ip(IpAddr),
}

/// How an answer's body ends.
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// A failed exchange, and whether it may go again on a fresh connection.
struct Failed {
    error: Error,
    /// The connection was dead on write, or reset by the receiver before any byte of an
    /// answer came in: the request was almost certainly never read.
    retry: bool,
}

impl Client {
    /// A client whose connections (TCP and TLS handshake) must open within
    /// `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Self::with_pool(connect_timeout, IDLE_TIMEOUT, MAX_IDLE_PER_HOST)
    }

    fn with_pool(connect_timeout: Duration, idle_timeout: Duration, max_idle: usize) -> Self {
        Client {
            inner: Arc::new(Inner {
                connect_timeout,
                idle_timeout,
                max_idle,
                tls: OnceLock::new(),
                pool: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// POSTs `body` with `headers` (written in this order and casing) to `url`, and reads
    /// the answer, keeping at most `max_body` bytes of its body. No deadline of its own
    /// beyond the connect timeout: the caller bounds the whole exchange (dropping the
    /// future drops the connection).
    ///
    /// An idle connection the receiver has closed is dropped before use. A pooled
    /// connection that turns out dead on write, or is reset before any byte of an answer
    /// came back (the receiver closed it as the request went out), is replaced by a fresh
    /// one, once; at-least-once delivery permits it (the event id dedupes). A pooled
    /// connection closed cleanly after the request went out is not retried: the receiver
    /// may have read the request and hung up.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
        max_body: usize,
    ) -> Result<Response, Error> {
        let t = target(url)?;
        let wire = encode(&t, headers, body)?;
        if let Some(conn) = self.checkout(&t.key) {
            match exchange(conn, &wire, max_body).await {
                Ok((res, conn)) => {
                    self.checkin(&t.key, conn);
                    return Ok(res);
                }
                Err(f) if f.retry => {
                    tracing::debug!(url, error = %f.error, "pooled connection was dead; retrying on a new one");
                }
                Err(f) => return Err(f.error),
            }
        }
        let conn = self.connect(&t).await?;
        let (res, conn) = exchange(conn, &wire, max_body).await.map_err(|f| f.error)?;
        self.checkin(&t.key, conn);
        Ok(res)
    }

    async fn connect(&self, t: &Target) -> Result<Conn, Error> {
        let port = t.key.port;
        let open = async {
            let tcp = match &t.addr {
                Addr::Ip(ip) => TcpStream::connect((*ip, port)).await,
                Addr::Domain(d) => TcpStream::connect((d.as_str(), port)).await,
            }
            .map_err(Error::Io)?;
            tcp.set_nodelay(true).map_err(Error::Io)?;
            if !t.key.https {
                return Ok(Conn::new(Box::new(tcp)));
            }
            let name = match &t.addr {
                Addr::Ip(ip) => rustls::pki_types::ServerName::IpAddress((*ip).into()),
                Addr::Domain(d) => rustls::pki_types::ServerName::try_from(d.clone())
                    .map_err(|e| Error::Invalid(format!("{d:?} is not a TLS server name: {e}")))?,
            };
            let tls = self.tls().connect(name, tcp).await.map_err(Error::Io)?;
            Ok(Conn::new(Box::new(tls)))
        };
        match tokio::time::timeout(self.inner.connect_timeout, open).await {
            Ok(r) => r,
            Err(_) => Err(Error::ConnectTimeout),
        }
    }

    fn tls(&self) -> TlsConnector {
        self.inner
            .tls
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                // ring, as reqwest's rustls-tls used (aws-lc-rs needs a C toolchain and
                // cmake); deprecated only for lacking post-quantum key exchange.
                #[allow(deprecated)]
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let mut config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .expect("ring supports the default TLS versions")
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                TlsConnector::from(Arc::new(config))
            })
            .clone()
    }

    /// The most recently used idle connection for `key` that still looks open.
    fn checkout(&self, key: &Key) -> Option<Conn> {
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut pool);
        let idle = pool.get_mut(key)?;
        while let Some(mut i) = idle.pop() {
            if i.conn.looks_open() {
                return Some(i.conn);
            }
        }
        None
    }

    fn checkin(&self, key: &Key, conn: Option<Conn>) {
        let Some(conn) = conn else { return };
        let mut pool = self.inner.pool.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut pool);
        let idle = pool.entry(key.clone()).or_default();
        if idle.len() < self.inner.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Drops the connections idle for longer than the idle timeout.
    fn prune(&self, pool: &mut HashMap<Key, Vec<Idle>>) {
        let timeout = self.inner.idle_timeout;
        pool.retain(|_, idle| {
            idle.retain(|i| i.since.elapsed() < timeout);
            !idle.is_empty()
        });
    }

    #[cfg(test)]
    fn idle_count(&self) -> usize {
        let pool = self.inner.pool.lock().unwrap();
        pool.values().map(Vec::len).sum()
    }
}

impl Conn {
    fn new(io: Box<dyn Stream>) -> Self {
        Conn {
            io,
            buf: Vec::new(),
            answered: false,
        }
    }

    /// Whether an idle connection has neither been closed nor sent anything unasked (a
    /// receiver's 408 before it closes): a read that would wait.
    fn looks_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut rb = ReadBuf::new(&mut byte);
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut rb),
            Poll::Pending
        )
    }

    /// Reads more into the buffer; 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.io.read(&mut chunk).await?;
        if n > 0 {
            self.answered = true;
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(n)
    }

    async fn fill_or_eof(&mut self) -> io::Result<()> {
        if self.fill().await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the answer ended",
            ));
        }
        Ok(())
    }

    /// One line (CRLF or LF), without its end.
    async fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(bad("a chunk line is too long"));
            }
            self.fill_or_eof().await?;
        }
    }

    /// Reads `n` bytes of body, keeping those that fit under `max` in `out`; false when
    /// `out` is full and the rest was left unread.
    async fn body_bytes(&mut self, mut n: u64, out: &mut Vec<u8>, max: usize) -> io::Result<bool> {
        while n > 0 {
            if self.buf.is_empty() {
                self.fill_or_eof().await?;
            }
            let take = (self.buf.len() as u64).min(n) as usize;
            let room = max - out.len();
            if take > room {
                out.extend_from_slice(&self.buf[..room]);
                return Ok(false);
            }
            out.extend(self.buf.drain(..take));
            n -= take as u64;
        }
        Ok(true)
    }
}

fn bad(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.to_string())
}

/// Writes the request and reads its answer; the connection comes back when it may carry
/// another request.
async fn exchange(
    mut conn: Conn,
    wire: &[u8],
    max_body: usize,
) -> Result<(Response, Option<Conn>), Failed> {
    conn.answered = false;
    let sent = async {
        conn.io.write_all(wire).await?;
        conn.io.flush().await
    }
    .await;
    if let Err(e) = sent {
        return Err(Failed {
            error: Error::Io(e),
            retry: true,
        });
    }
    match read_response(&mut conn, max_body).await {
        Ok((res, reusable)) => Ok((res, reusable.then_some(conn))),
        Err(e) => {
            // A reset (our request met a socket the receiver had closed, or closed unread)
            // is the keep-alive race. A clean close after the request went out is not: the
            // receiver may have read the request and hung up, which is its answer (an
            // attempt failed with `connect`, seen once by the receiver).
            let reset = matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            );
            Err(Failed {
                error: Error::Io(e),
                retry: reset && !conn.answered,
            })
        }
    }
}

/// The final answer (interim 1xx answers skipped), and whether the connection may be
/// reused.
async fn read_response(conn: &mut Conn, max_body: usize) -> io::Result<(Response, bool)> {
    let (status, version, headers) = loop {
        let head = read_head(conn).await?;
        if !(100..200).contains(&head.0) || head.0 == 101 {
            break head;
        }
    };
    let present = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    // The comma-separated, lowercased tokens of every field named `name`.
    let tokens = |name: &str| -> Vec<String> {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let framing = if status == 204 || status == 304 || status == 101 {
        Framing::None
    } else if present("transfer-encoding") {
        if tokens("transfer-encoding").last().map(String::as_str) == Some("chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else {
        let lengths = tokens("content-length");
        match lengths.first() {
            None => Framing::Close,
            Some(first) => {
                if lengths.iter().any(|l| l != first) {
                    return Err(bad("conflicting Content-Length"));
                }
                let n = first
                    .parse::<u64>()
                    .map_err(|_| bad("invalid Content-Length"))?;
                Framing::Length(n)
            }
        }
    };
    let keep_alive =
        version == 1 && status != 101 && !tokens("connection").iter().any(|t| t == "close");
    let mut body = Vec::new();
    let complete = match framing {
        Framing::None => true,
        Framing::Length(n) => conn.body_bytes(n, &mut body, max_body).await?,
        Framing::Chunked => read_chunked(conn, &mut body, max_body).await?,
        Framing::Close => {
            loop {
                let room = max_body - body.len();
                if conn.buf.len() >= room {
                    body.extend_from_slice(&conn.buf[..room]);
                    break;
                }
                body.append(&mut conn.buf);
                if conn.fill().await? == 0 {
                    break;
                }
            }
            false
        }
    };
    let reusable = keep_alive && complete && conn.buf.is_empty();
    Ok((Response { status, body }, reusable))
}

/// A status line and headers: the status, the minor version, the fields.
async fn read_head(conn: &mut Conn) -> io::Result<(u16, u8, Vec<(String, Vec<u8>)>)> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut fields);
        match res.parse(&conn.buf) {
            Ok(httparse::Status::Complete(n)) => {
                let status = res.code.ok_or_else(|| bad("no status"))?;
                let version = res.version.ok_or_else(|| bad("no version"))?;
                let headers = res
                    .headers
                    .iter()
                    .map(|h| (h.name.to_string(), h.value.to_vec()))
                    .collect();
                conn.buf.drain(..n);
                return Ok((status, version, headers));
            }
            Ok(httparse::Status::Partial) => {
                if conn.buf.len() > MAX_HEAD {
                    return Err(bad("the answer's head is too long"));
                }
            }
            Err(e) => return Err(bad(&format!("not an HTTP/1.x answer: {e}"))),
        }
        if conn.fill().await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                if conn.buf.is_empty() {
                    "connection closed without an answer"
                } else {
                    "connection closed in the answer's head"
                },
            ));
        }
    }
}

/// A chunked body (trailers read and dropped); false when `out` filled up first.
async fn read_chunked(conn: &mut Conn, out: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    loop {
        let line = conn.line().await?;
        let size = line.split(|&b| b == b';').next().unwrap_or_default();
        let size = std::str::from_utf8(size)
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or_else(|| bad("invalid chunk size"))?;
        if size == 0 {
            while !conn.line().await?.is_empty() {}
            return Ok(true);
        }
        if !conn.body_bytes(size, out, max).await? {
            return Ok(false);
        }
        if !conn.line().await?.is_empty() {
            return Err(bad("a chunk does not end with CRLF"));
        }
    }
}

fn target(url: &str) -> Result<Target, Error> {
    let u = url::Url::parse(url).map_err(|e| Error::Invalid(format!("URL {url:?}: {e}")))?;
    let https = match u.scheme() {
        "http" => false,
        "https" => true,
        s => {
            return Err(Error::Invalid(format!(
                "URL {url:?}: scheme {s:?} is neither http nor https"
            )))
        }
    };
    let addr = match u.host() {
        Some(url::Host::Domain(d)) => Addr::Domain(d.to_string()),
        Some(url::Host::Ipv4(ip)) => Addr::Ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => Addr::Ip(ip.into()),
        None => return Err(Error::Invalid(format!("URL {url:?} has no host"))),
    };
    let host = u.host_str().unwrap_or_default().to_string();
    let port = u
        .port_or_known_default()
        .unwrap_or(if https { 443 } else { 80 });
    let host_header = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.clone(),
    };
    let mut path = u.path().to_string();
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(q);
    }
    Ok(Target {
        key: Key { https, host, port },
        addr,
        host_header,
        path,
    })
}

/// A header name is a token (RFC 9110 `tchar`s).
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The request's bytes, or why it cannot be sent.
fn encode(t: &Target, headers: &[(String, String)], body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut own_agent = false;
    for (k, v) in headers {
        if !is_token(k) {
            return Err(Error::Invalid(format!("header name {k:?}")));
        }
        if v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(Error::Invalid(format!("the value of header {k}: {v:?}")));
        }
        if RESERVED.iter().any(|r| k.eq_ignore_ascii_case(r)) {
            return Err(Error::Invalid(format!(
                "header {k} is the client's to write"
            )));
        }
        own_agent |= k.eq_ignore_ascii_case("user-agent");
    }
    let mut w = Vec::with_capacity(256 + body.len());
    let mut line = |k: &str, v: &str| {
        w.extend_from_slice(k.as_bytes());
        w.extend_from_slice(b": ");
        w.extend_from_slice(v.as_bytes());
        w.extend_from_slice(b"\r\n");
    };
    line("Host", &t.host_header);
    for (k, v) in headers {
        line(k, v);
    }
    line("Content-Length", &body.len().to_string());
    if !own_agent {
        line("User-Agent", USER_AGENT);
    }
    line("Connection", "keep-alive");
    let mut out = format!("POST {} HTTP/1.1\r\n", t.path).into_bytes();
    out.append(&mut w);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    Ok(out)
}

#[cfg(test)]
mod tests;
