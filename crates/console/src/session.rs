//! Console sessions: the admin token is exchanged once for a session cookie, and every
//! state-changing request carries the session's CSRF token.
//!
//! Sessions live in this process's memory, keyed by a hash of the cookie's value, so a
//! leaked memory dump holds no usable cookie, and a restart signs everyone out (nothing to
//! replay afterwards). Behind a load balancer with several nodes, the console needs sticky
//! sessions (docs/console.md).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The session cookie's name; its path is `/console`.
pub const COOKIE: &str = "sb_console";
/// The sign-in form's own CSRF cookie (double submit: there is no session yet).
pub const PRE_COOKIE: &str = "sb_console_pre";
/// The header the console's scripts send the CSRF token in (forms send the `csrf` field).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How long a session lasts from sign-in, whatever its use.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// At most this many sessions at once; the oldest goes first.
const MAX_SESSIONS: usize = 1024;

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub csrf: String,
    expires: Instant,
    created: Instant,
}

/// The sessions of this process.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<[u8; 32], Session>>>);

fn digest(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

/// A fresh random token: 32 bytes from the thread's CSPRNG, hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Starts a session; returns the cookie's value and the session.
    pub fn start(&self) -> (String, Session) {
        let cookie = random_token();
        let now = Instant::now();
        let session = Session {
            csrf: random_token(),
            expires: now + LIFETIME,
            created: now,
        };
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(digest(&cookie), session.clone());
        (cookie, session)
    }

    /// The live session a cookie names.
    pub fn find(&self, cookie: &str) -> Option<Session> {
        let key = digest(cookie);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn end(&self, cookie: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(cookie));
    }
}

/// The value of cookie `name` in a request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value scoped to the console: `HttpOnly`, `SameSite=Strict`, and `Secure`
/// when the browser reached us over HTTPS (a TLS-terminating proxy says so).
pub fn set_cookie(name: &str, value: &str, max_age: Duration, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age.as_secs()
    ))
    .expect("cookie characters are hex and ASCII")
}

pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// Whether `given` is the session's CSRF token, in constant time.
pub fn csrf_matches(session: &Session, given: &str) -> bool {
    !given.is_empty() && bool::from(session.csrf.as_bytes().ct_eq(given.as_bytes()))
}

/// The signed-in session of a request (put there by [`require_session`]).
#[derive(Clone, Debug)]
pub struct Signed(pub Session);

impl<S: Send + Sync> FromRequestParts<S> for Signed {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        parts
            .extensions
            .get::<Signed>()
            .cloned()
            .ok_or_else(|| StatusCode::UNAUTHORIZED.into_response())
    }
}

/// Every console route but sign-in and the assets: no session, no page. A page request
/// without one goes to sign-in (and comes back after); anything else is answered 401.
/// A state-changing request must carry the session's CSRF token in the `x-csrf-token`
/// header; forms carry it in their `csrf` field, which the handlers check (the body is
/// theirs to read).
pub async fn require_session(
    State(sessions): State<Sessions>,
    mut req: axum::extract::Request,
    next: Next,
) -> Response {
    let found = cookie(req.headers(), COOKIE).and_then(|c| sessions.find(c));
    let Some(session) = found else {
        if req.method() == Method::GET && !is_stream(req.headers()) {
            let back = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/console");
            let to = format!(
                "/console/sign-in?next={}",
                percent_encoding::utf8_percent_encode(back, percent_encoding::NON_ALPHANUMERIC)
            );
            return Redirect::to(&to).into_response();
        }
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    req.extensions_mut().insert(Signed(session));
    next.run(req).await
}

fn is_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

/// Where to go after sign-in: only a console path, so the form cannot send a browser
/// elsewhere: `/console` or below it, printable ASCII only (it becomes a `Location`
/// header), with no dot segment a browser would resolve out of the console.
pub fn safe_next(next: Option<&str>) -> String {
    const HOME: &str = "/console/playground";
    let Some(n) = next else {
        return HOME.to_string();
    };
    let path = n.split(['?', '#']).next().unwrap_or_default();
    let inside = path == "/console" || path.starts_with("/console/");
    let printable = n.bytes().all(|b| (0x21..=0x7e).contains(&b));
    let lower = path.to_ascii_lowercase();
    let dots = lower.contains("..") || lower.contains("%2e") || lower.contains('\\');
    if inside && printable && !dots && !path.starts_with("/console/sign-") {
        n.to_string()
    } else {
        HOME.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_only_until_it_ends() {
        let s = Sessions::default();
        let (c, sess) = s.start();
        assert_eq!(s.find(&c).unwrap().csrf, sess.csrf);
        assert!(s.find("not-it").is_none());
        assert!(csrf_matches(&sess, &sess.csrf));
        assert!(!csrf_matches(&sess, ""));
        assert!(!csrf_matches(&sess, &random_token()));
        s.end(&c);
        assert!(s.find(&c).is_none());
    }

    #[test]
    fn next_stays_inside_the_console() {
        assert_eq!(safe_next(Some("/console/admin?x=1")), "/console/admin?x=1");
        assert_eq!(safe_next(Some("/console")), "/console");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/admin/v1/tenants",
            "/console/sign-out",
            "/consolex",
            "/console/../admin/v1/tenants",
            "/console/%2E%2e/admin",
            "/console/a\\b",
            "/console\x7f",
            "/console/a b",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console/playground", "{bad}");
        }
    }

    #[test]
    fn cookies_are_read_from_every_cookie_header() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sb_console=xyz"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
