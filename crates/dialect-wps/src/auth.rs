//! Authentication: the `/oauth2/token` grant, the gate every `/v7` route sits behind
//! (Bearer token, KSO-1 signature, scope, rate limit), and the [`Caller`] principal it
//! yields to handlers. A user token (`crate::user_token`) passes the same gate without
//! KSO-1 or scope: it names a user, not an app.

use crate::error::{code, WResult, WpsError};
use crate::kso;
use crate::user_token::{self, Refusal, UserClaims};
use crate::{Config, WpsState};
use axum::body::{Body, HttpBody};
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::auth::{mint_token, parse_token, verify_token_mac, TokenKind};
use switchboard_core::error::Error;
use switchboard_core::ids::TenantId;
use switchboard_core::model::{Actor, App};
use switchboard_core::observe::CallerNote;
use switchboard_core::ratelimit::Quota;
pub(crate) use switchboard_core::ratelimit::RateLimiter;
use switchboard_core::service::Access;

/// The family byte of `/oauth2/token` access tokens (unchanged since the first release,
/// so that tokens minted before stay valid).
pub const ACCESS_TOKEN: TokenKind = TokenKind(1);
/// Scope the message calls need (get, history, send, reply, recall, update).
pub const MESSAGE_SCOPE: &str = "kso.chat_message.readwrite";
/// Scope the chat and member calls need.
pub const CHAT_SCOPE: &str = "kso.chat.readwrite";
/// The scopes a new app is granted for this API.
pub const DEFAULT_SCOPES: &[&str] = &[MESSAGE_SCOPE, CHAT_SCOPE];

/// The authenticated caller: an app (a `/oauth2/token` token), or a user (a token from
/// `/v7/dev/agent/token`, acting with that user's rights), and the tenant it belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub tenant: TenantId,
    pub actor: Actor,
}

impl Caller {
    /// What the caller may see: the chats it is a member of.
    pub fn access(&self) -> Access {
        Access::Member(self.actor)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = WpsError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Only routes behind `authenticate` use this extractor, so absence is a wiring bug.
        // Taken, not cloned: a handler extracts its principal once.
        parts.extensions.remove::<Caller>().ok_or_else(|| {
            tracing::error!("wps route without the authentication gate");
            WpsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                code::INTERNAL,
                "internal error",
            )
        })
    }
}

/// Whom a Bearer token names, before the per-route checks.
enum Bearer {
    App(App),
    User(UserClaims),
}

/// What one group of routes requires.
#[derive(Clone)]
pub(crate) struct Gate {
    pub state: WpsState,
    pub scope: &'static str,
}

/// The token request: `application/x-www-form-urlencoded`.
#[derive(Deserialize)]
pub(crate) struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth2/token` (client_credentials).
/// <https://open.wps.cn/documents/app-integration-dev/wps365/server/certification-authorization/get-token/isvapp-app-access-token.html>
///
/// Tokens are stateless (HMAC over app and issue time, keyed by the app secret), so any node
/// sharing the database accepts them and rotating the secret revokes them all.
pub(crate) async fn token(State(s): State<WpsState>, req: Request) -> WResult<Response> {
    let f = token_form(req).await?;
    match f.grant_type.as_deref() {
        Some("client_credentials") => {}
        None | Some("") => return Err(WpsError::invalid("grant_type is required")),
        Some(other) => {
            return Err(WpsError::invalid(format!(
                "unsupported grant_type {other:?}: use client_credentials"
            )))
        }
    }
    let id = f
        .client_id
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WpsError::invalid("client_id is required"))?;
    let secret = f
        .client_secret
        .filter(|v| !v.is_empty())
        .ok_or_else(|| WpsError::invalid("client_secret is required"))?;
    let bad_client =
        || WpsError::unauthorized(code::CLIENT_INVALID, "invalid client_id or client_secret");
    let app = match s.core.app_by_public_id(&id).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return Err(bad_client()),
        Err(e) => return Err(e.into()),
    };
    if !app.app_secret.matches(&secret) {
        return Err(bad_client());
    }
    let token = mint_token(&app, ACCESS_TOKEN, s.core.clock().now_secs());
    let body = json!({ "access_token": token, "expires_in": s.config.token_ttl_secs, "token_type": "bearer" });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// The token form. Its percent-decoded bytes must be UTF-8 without NUL: a decoder that
/// replaces invalid UTF-8 would look up a `client_id` that was never sent.
async fn token_form(req: Request) -> WResult<TokenForm> {
    let map = |e: FormRejection| match e {
        FormRejection::InvalidFormContentType(_) => WpsError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/x-www-form-urlencoded",
        ),
        FormRejection::BytesRejection(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            too_large()
        }
        other => WpsError::invalid(other.body_text()),
    };
    let (parts, body) = req.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        // Form's own check, and its own rejection.
        let req = Request::from_parts(parts, body);
        return Form::<TokenForm>::from_request(req, &())
            .await
            .map(|f| f.0)
            .map_err(map);
    }
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), &())
        .await
        .map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                WpsError::invalid(r.body_text())
            }
        })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| WpsError::invalid("the form body is not valid UTF-8"))?;
    if let Some(why) = switchboard_core::input::malformed_query(text) {
        return Err(WpsError::invalid(format!("the form body {why}")));
    }
    Form::<TokenForm>::from_request(Request::from_parts(parts, Body::from(bytes)), &())
        .await
        .map(|f| f.0)
        .map_err(map)
}

fn too_large() -> WpsError {
    WpsError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        code::BODY_TOO_LARGE,
        "request body too large",
    )
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> WResult<Option<&'a str>> {
    match h.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(Some)
            .map_err(|_| WpsError::invalid(format!("header {name} is not visible ASCII"))),
    }
}

/// The gate in front of every `/v7` route: Bearer token, then KSO-1 (unless the app has
/// signing switched off), then the route's scope, then the per-app rate limit. The body is
/// buffered here (it is part of the signature) and handed on unchanged.
pub(crate) async fn authenticate(State(g): State<Gate>, req: Request, next: Next) -> Response {
    // The token needs only headers: check it before buffering a body for an anonymous caller.
    let app = match bearer(&g.state, req.headers()).await {
        Ok(Bearer::App(a)) => a,
        Ok(Bearer::User(c)) => {
            // A user token: no app, so no KSO-1 (keyed by an app secret) and no app scope;
            // the user's memberships decide what it may do.
            let actor = Actor::User(c.user);
            if let Err(e) = limit(&g.state, actor) {
                return e.into_response();
            }
            let mut req = req;
            req.extensions_mut().insert(Caller {
                tenant: c.tenant,
                actor,
            });
            return next.run(req).await;
        }
        Err(e) => return e.into_response(),
    };
    let (mut parts, body) = req.into_parts();
    // A request without a body (every GET) has nothing to buffer.
    let bytes = if body.is_end_stream() {
        Bytes::new()
    } else {
        match Bytes::from_request(Request::from_parts(parts.clone(), body), &()).await {
            Ok(b) => b,
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return too_large().into_response()
            }
            Err(r) => return WpsError::invalid(r.body_text()).into_response(),
        }
    };
    match check(&g, app, &parts, &bytes) {
        Ok(app) => {
            // For the server's access log.
            if let Some(n) = parts.extensions.get::<std::sync::Arc<CallerNote>>() {
                n.set(&app.app_id);
            }
            parts.extensions.insert(Caller {
                tenant: app.tenant,
                actor: Actor::App(app.id),
            });
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(e) => e.into_response(),
    }
}

fn check(g: &Gate, app: App, parts: &Parts, body: &[u8]) -> WResult<App> {
    let s = &g.state;
    if app.signing_required {
        verify_signature(s, &app, parts, body)?;
    }
    if !app.has_scope(g.scope) {
        return Err(WpsError::new(
            StatusCode::FORBIDDEN,
            code::SCOPE_MISSING,
            format!("the app lacks the scope {}", g.scope),
        ));
    }
    limit(s, Actor::App(app.id))?;
    Ok(app)
}

/// The per-caller rate limit (apps and users each have their own bucket).
fn limit(s: &WpsState, who: Actor) -> WResult<()> {
    if s.limiter.check(who, s.core.now_ms()).is_err() {
        return Err(WpsError::new(
            StatusCode::TOO_MANY_REQUESTS,
            code::RATE_LIMITED,
            "too many requests, slow down",
        ));
    }
    Ok(())
}

async fn bearer(s: &WpsState, h: &HeaderMap) -> WResult<Bearer> {
    let missing = || {
        WpsError::unauthorized(
            code::TOKEN_MISSING,
            "missing Authorization: Bearer {access_token}",
        )
    };
    let invalid = || WpsError::unauthorized(code::TOKEN_INVALID, "invalid access token");
    let value = header_str(h, header::AUTHORIZATION.as_str())?.ok_or_else(missing)?;
    let (scheme, token) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(missing());
    }
    let token = token.trim();
    if user_token::is_user_token(token) {
        return user_bearer(s, token).await.map(Bearer::User);
    }
    let claims = parse_token(token)
        .filter(|c| c.kind == ACCESS_TOKEN)
        .ok_or_else(invalid)?;
    let app = match s.core.app_by_id(claims.app).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    if !verify_token_mac(token, &app) {
        return Err(invalid());
    }
    let now = s.core.clock().now_secs();
    if claims.issued_at > now + s.config.signature_skew_secs as i64 {
        return Err(invalid());
    }
    if now - claims.issued_at >= s.config.token_ttl_secs as i64 {
        return Err(WpsError::unauthorized(
            code::TOKEN_EXPIRED,
            "access token expired, fetch a new one",
        ));
    }
    Ok(Bearer::App(app))
}

/// A user token: authentic, unexpired, and naming a user that still exists in its tenant.
async fn user_bearer(s: &WpsState, token: &str) -> WResult<UserClaims> {
    let invalid = || WpsError::unauthorized(code::TOKEN_INVALID, "invalid access token");
    let claims = match s.sid_key.verify_token(token, s.core.clock().now_secs()) {
        Ok(c) => c,
        Err(Refusal::Expired) => {
            return Err(WpsError::unauthorized(
                code::TOKEN_EXPIRED,
                "access token expired, fetch a new one",
            ))
        }
        Err(Refusal::Invalid) => return Err(invalid()),
    };
    match s.core.user(claims.tenant, claims.user).await {
        Ok(_) => Ok(claims),
        Err(Error::NotFound(_)) => Err(invalid()),
        Err(e) => Err(e.into()),
    }
}

fn verify_signature(s: &WpsState, app: &App, parts: &Parts, body: &[u8]) -> WResult<()> {
    let h = &parts.headers;
    let date = header_str(h, kso::DATE_HEADER)?;
    let auth = header_str(h, kso::AUTH_HEADER)?;
    let (date, auth) = match (date, auth) {
        (Some(d), Some(a)) => (d, a),
        (None, _) => {
            return Err(WpsError::unauthorized(
                code::SIGNATURE_MISSING,
                "missing X-Kso-Date header",
            ))
        }
        (_, None) => {
            return Err(WpsError::unauthorized(
                code::SIGNATURE_MISSING,
                "missing X-Kso-Authorization header",
            ))
        }
    };
    let bad = |why: &str| {
        WpsError::unauthorized(
            code::SIGNATURE_INVALID,
            format!("invalid KSO-1 signature: {why}"),
        )
    };
    let (ak, presented) = kso::parse_authorization(auth)
        .ok_or_else(|| bad("expected \"KSO-1 <app_id>:<signature>\""))?;
    if ak != app.app_id {
        return Err(bad("the access key is not the token's app"));
    }
    let when = kso::parse_date(date).ok_or_else(|| {
        WpsError::unauthorized(
            code::DATE_INVALID,
            "X-Kso-Date must be an RFC 1123 date such as \"Wed, 23 Jan 2013 06:43:08 GMT\"",
        )
    })?;
    let now = s.core.clock().now_secs();
    if (now - when).abs() > s.config.signature_skew_secs as i64 {
        return Err(WpsError::unauthorized(
            code::DATE_INVALID,
            "X-Kso-Date is outside the accepted window; check the client clock",
        ));
    }
    let content_type = header_str(h, header::CONTENT_TYPE.as_str())?.unwrap_or("");
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map(|o| &o.0)
        .unwrap_or(&parts.uri);
    let target = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let method = parts.method.as_str();
    let secret = app.app_secret.expose();
    let matches = |signed: &str| {
        kso::signature_matches(secret, method, signed, content_type, date, body, presented)
    };
    // The vendor signs without the gateway prefix; a client that signed the full path is
    // accepted too, since it proves the same secret.
    let unprefixed = kso::signed_uri(target);
    if matches(unprefixed) || (unprefixed != target && matches(target)) {
        Ok(())
    } else {
        Err(bad("mismatch"))
    }
}

/// The per-caller limit: a token bucket of `rate_limit_per_sec` holding `rate_limit_burst`,
/// in memory on each node (N nodes admit up to N times the rate); 0 requests per second is
/// off.
pub(crate) fn rate_limiter(config: &Config) -> RateLimiter<Actor> {
    RateLimiter::new([
        Quota::per_second(config.rate_limit_per_sec).with_burst(config.rate_limit_burst)
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ids::AppId;

    #[test]
    fn bucket_refills_with_time() {
        let config = |per_sec, burst| Config {
            rate_limit_per_sec: per_sec,
            rate_limit_burst: burst,
            ..Config::default()
        };
        let l = rate_limiter(&config(2, 3));
        let a = Actor::App(AppId(1));
        assert!((0..3).all(|_| l.check(a, 1000).is_ok()));
        assert!(l.check(a, 1000).is_err());
        assert!(
            l.check(Actor::App(AppId(2)), 1000).is_ok(),
            "buckets are per app"
        );
        assert!(
            l.check(Actor::User(switchboard_core::ids::UserId(1)), 1000)
                .is_ok(),
            "and users have their own"
        );
        assert!(
            l.check(a, 1500).is_ok(),
            "half a second buys one request at 2/s"
        );
        assert!(l.check(a, 1500).is_err());
        assert!((0..3).all(|_| l.check(a, 60_000).is_ok()));
        assert!(l.check(a, 60_000).is_err(), "never more than the burst");
        let off = rate_limiter(&config(0, 0));
        assert!((0..1000).all(|_| off.check(a, 0).is_ok()));
    }
}
