//! Which face a request came through, and its log id.
//!
//! Both are decided once per request by [`tag_request`] and stored in the request's
//! extensions, so that extractors (whose rejections must use the right envelope) and
//! handlers read the same values.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};

/// The two faces of the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// BOSS Hi: version-less paths, `{code, msg, success, traceId, data}` envelope.
    Hi,
    /// Feishu/Lark v1: `/im/v1`, `/auth/v3`, `{code, msg, data}` envelope.
    Feishu,
}

impl Face {
    /// Feishu paths carry a version segment right after the service name.
    pub fn of_path(path: &str) -> Face {
        let p = path.strip_prefix("/open-apis").unwrap_or(path);
        let mut seg = p.split('/').filter(|s| !s.is_empty());
        let _service = seg.next();
        match seg.next() {
            Some(v)
                if v.len() >= 2
                    && v.starts_with('v')
                    && v[1..].bytes().all(|b| b.is_ascii_digit()) =>
            {
                Face::Feishu
            }
            _ => Face::Hi,
        }
    }
}

/// The id of one request, echoed as `X-Tt-Logid`, Feishu's `error.log_id` and Hi's `traceId`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogId(pub String);

/// What every handler and rejection needs to know about its request.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub face: Face,
    pub log_id: LogId,
}

impl Ctx {
    pub fn from_parts(parts: &Parts) -> Ctx {
        parts
            .extensions
            .get::<Ctx>()
            .cloned()
            .unwrap_or_else(|| Ctx {
                face: Face::of_path(parts.uri.path()),
                log_id: LogId(fresh_log_id()),
            })
    }
}

impl Ctx {
    /// The context [`tag_request`] would have given a request, for answers made outside it.
    pub fn for_request(path: &str, request_id: Option<&str>) -> Ctx {
        Ctx {
            face: Face::of_path(path),
            log_id: LogId(request_id.and_then(log_id_of).unwrap_or_else(fresh_log_id)),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx::from_parts(parts))
    }
}

fn fresh_log_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut id = String::with_capacity(24);
    switchboard_core::ids::push_hex(&mut id, t, 16);
    switchboard_core::ids::push_hex(&mut id, n, 8);
    id
}

/// The log id a request id becomes: its ASCII letters and digits, at most 32 of them.
/// Returns `None` when nothing is left.
fn log_id_of(request_id: &str) -> Option<String> {
    // The server's own request ids already qualify: no per-char rebuild for them.
    if request_id.len() <= 32 && request_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return (!request_id.is_empty()).then(|| request_id.to_owned());
    }
    let s: String = request_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(32)
        .collect();
    (!s.is_empty()).then_some(s)
}

/// Derives the log id from the server's request id (so logs and client reports agree),
/// tags the request with its face, renders a handler's domain refusal
/// ([`crate::error::Pending`]) in that face's envelope, and echoes the id as `X-Tt-Logid`,
/// where the SDKs look.
pub async fn tag_request(mut req: Request, next: Next) -> Response {
    let face = Face::of_path(req.uri().path());
    let incoming = req.headers().get("x-request-id").cloned();
    let id = incoming
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(log_id_of)
        .unwrap_or_else(fresh_log_id);
    // Unchanged ids reuse the request's header value instead of validating a copy.
    let echo = match incoming {
        Some(v) if v.as_bytes() == id.as_bytes() => Some(v),
        _ => HeaderValue::from_str(&id).ok(),
    };
    req.extensions_mut().insert(Ctx {
        face,
        log_id: LogId(id),
    });
    let mut res = next.run(req).await;
    // A handler's domain refusal, rendered here where the face and log id are known
    // (`crate::error::Op`); successes are not looked into.
    if !res.status().is_success() {
        if let Some(p) = res.extensions_mut().remove::<crate::error::Pending>() {
            let ctx = Ctx {
                face,
                log_id: LogId(
                    echo.as_ref()
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                ),
            };
            res = p.render(&ctx);
        }
    }
    if let Some(v) = echo {
        res.headers_mut().insert("x-tt-logid", v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ids_from_request_ids() {
        assert_eq!(log_id_of("abc123").as_deref(), Some("abc123"));
        assert_eq!(log_id_of("a-b_c.1").as_deref(), Some("abc1"));
        let long = "x".repeat(40);
        assert_eq!(log_id_of(&long).map(|s| s.len()), Some(32));
        assert_eq!(log_id_of(&"é-".repeat(40)), None);
        assert_eq!(log_id_of(""), None);
        assert_eq!(log_id_of("---"), None);
    }

    #[test]
    fn faces_by_path() {
        assert_eq!(
            Face::of_path("/open-apis/im/v1/messages/om_x"),
            Face::Feishu
        );
        assert_eq!(
            Face::of_path("/im/v1/messages"),
            Face::Feishu,
            "as seen inside the nested router"
        );
        assert_eq!(
            Face::of_path("/open-apis/auth/v3/tenant_access_token/internal"),
            Face::Feishu
        );
        assert_eq!(Face::of_path("/open-apis/im/messages/om_x"), Face::Hi);
        assert_eq!(
            Face::of_path("/open-apis/auth/tenant_access_token/internal"),
            Face::Hi
        );
        assert_eq!(Face::of_path("/open-apis/im/vote"), Face::Hi);
    }
}
