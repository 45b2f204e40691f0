//! `POST /callback/ws/endpoint`: where a long-connection client learns its WebSocket URL.
//!
//! The request is `{"AppID":"cli_…","AppSecret":"…"}` (newer clients may send an empty
//! `AppSecret` and a `ClientAssertion` JWT, which we do not accept); the answer is always
//! HTTP 200 with `{"code","msg","data"}`: the clients read a non-200 status as "system
//! busy" and retry forever, while a non-zero `code` other than 1 and 1000040343 stops them
//! with the message, which is what a wrong secret deserves.

use super::{WsState, ENDPOINT_PATH, WS_PATH};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::auth::{mint_token, parse_token, verify_token_mac, TokenKind};
use switchboard_core::error::Error;
use switchboard_core::model::App;
use switchboard_core::Core;

/// The family byte of long-connection tickets (Lark's access tokens are 2 and 3, WPS's 1).
pub const TICKET: TokenKind = TokenKind(4);
/// How long a ticket opens a connection after discovery issued it.
pub const TICKET_TTL_SECS: i64 = 60;

/// The codes the clients know (lark-oapi `ws/const.py`).
pub(super) const FORBIDDEN: i64 = 403;
pub(super) const AUTH_FAILED: i64 = 514;
const INTERNAL_ERROR: i64 = 1000040343;
const NO_CREDENTIAL: i64 = 1000040344;
pub(super) const EXCEED_CONN_LIMIT: i64 = 1000040350;

#[derive(Deserialize)]
struct Credentials {
    #[serde(rename = "AppID", default)]
    app_id: String,
    #[serde(rename = "AppSecret", default)]
    app_secret: String,
}

/// A refusal: `data` is an empty object, not null. The Node SDK reads `data.URL` and
/// `data.ClientConfig` before it looks at `code`: with null it takes the refusal for a busy
/// server and retries forever; with `{}` it reports the code (its own tests fake refusals
/// so). The Python SDK reads either.
fn answer(code: i64, msg: &str) -> Response {
    Json(json!({ "code": code, "msg": msg, "data": {} })).into_response()
}

/// The ticket for a connection of `app`, issued at `now_secs`: stateless (the access
/// tokens' HMAC, keyed by the app's secret, under its own family byte), so any node
/// accepts it, and rotating the secret revokes it.
pub fn ticket(app: &App, now_secs: i64) -> String {
    mint_token(app, TICKET, now_secs)
}

/// The app a ticket was issued to, if it is one of ours, untampered and fresh. Unknown
/// app, bad MAC and expiry read the same.
pub(super) async fn ticket_app(core: &Core, ticket: &str) -> Result<Option<App>, Error> {
    let Some(claims) = parse_token(ticket).filter(|c| c.kind == TICKET) else {
        return Ok(None);
    };
    let app = match core.app_by_id(claims.app).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let now = core.now_ms().div_euclid(1000);
    // A few seconds of slack for a node whose clock runs behind the issuer's.
    let fresh = claims.issued_at <= now + 5 && now < claims.issued_at + TICKET_TTL_SECS;
    Ok((verify_token_mac(ticket, &app) && fresh).then_some(app))
}

/// The host the client reached us at, when it is safe to put in a URL (a host name or an
/// address and an optional port: nothing that could end the authority).
fn host(headers: &HeaderMap) -> Option<&str> {
    let h = headers.get(header::HOST)?.to_str().ok()?;
    let ok = !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    ok.then_some(h)
}

/// `wss` when a TLS-terminating proxy says the client came over HTTPS, else `ws`.
fn scheme(headers: &HeaderMap) -> &'static str {
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
    if https {
        "wss"
    } else {
        "ws"
    }
}

/// The discovery handler (at [`ENDPOINT_PATH`]).
pub async fn discover(State(s): State<WsState>, headers: HeaderMap, body: Bytes) -> Response {
    // An unreadable body is a request without credentials.
    let c = serde_json::from_slice::<Credentials>(&body).unwrap_or(Credentials {
        app_id: String::new(),
        app_secret: String::new(),
    });
    if c.app_id.is_empty() || c.app_secret.is_empty() {
        return answer(NO_CREDENTIAL, "AppID and AppSecret are required");
    }
    // Unknown app and wrong secret read the same, so app ids cannot be probed; the secret
    // is compared in constant time (`Secret::matches`), as the token grant does.
    let app = match s.core.app_by_public_id(&c.app_id).await {
        Ok(a) if a.app_secret.matches(&c.app_secret) => a,
        Ok(_) | Err(Error::NotFound(_)) | Err(Error::Invalid { .. }) => {
            return answer(AUTH_FAILED, "auth failed: app id or app secret invalid")
        }
        Err(e) => {
            tracing::warn!(error = %e, path = ENDPOINT_PATH, "long-connection discovery failed");
            return answer(INTERNAL_ERROR, "internal error");
        }
    };
    let settings = s.conns.settings();
    if s.conns.count(app.id) >= settings.max_per_app {
        return answer(
            EXCEED_CONN_LIMIT,
            &format!(
                "the app already has {} long connections, the most allowed",
                settings.max_per_app
            ),
        );
    }
    let Some(host) = host(&headers) else {
        return answer(FORBIDDEN, "the request has no usable Host header");
    };
    let ticket = ticket(&app, s.core.now_ms().div_euclid(1000));
    // `device_id` and `service_id` are never first: Node parses the whole URL with
    // `querystring.parse`, so the first key would be `ws://host/ws/v2?device_id`.
    let device_id = rand::random::<u64>() >> 1;
    let service_id = rand::random::<u32>() >> 1;
    let url = format!(
        "{}://{host}{WS_PATH}?fpid=1&device_id={device_id}&service_id={service_id}&ticket={ticket}",
        scheme(&headers)
    );
    Json(json!({
        "code": 0,
        "msg": "ok",
        "data": { "URL": url, "ClientConfig": settings.client_config() },
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn host_must_be_a_plain_authority() {
        let with = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            host(&m).map(str::to_string)
        };
        assert_eq!(with("127.0.0.1:8080").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(with("[::1]:80").as_deref(), Some("[::1]:80"));
        assert_eq!(with("im.example.com").as_deref(), Some("im.example.com"));
        assert_eq!(with("evil.com/x?"), None);
        assert_eq!(with("a@b"), None);
        assert_eq!(host(&HeaderMap::new()), None);
    }

    #[test]
    fn scheme_follows_the_proxy() {
        let mut m = HeaderMap::new();
        assert_eq!(scheme(&m), "ws");
        m.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert_eq!(scheme(&m), "wss");
    }
}
