//! User-context credentials: the `wps_sid` an operator issues for one user, and the user
//! access token `POST /v7/dev/agent/token` exchanges it for.
//!
//! WPS clients that act as a person (the `wps365` package, for one) hold a `wps_sid` browser
//! cookie and trade it for a Bearer token at `/v7/dev/agent/token`; that token then works
//! on the `/v7` calls with that person's rights and without a KSO-1 signature (KSO-1 is keyed
//! by an app's secret, and there is no app here).
//!
//! Both credentials are stateless, like app tokens: `tenant ‖ user ‖ expiry` in hex, then an
//! HMAC-SHA256 over it. The key is derived from the server's admin token (generated once
//! into the data directory or set in the configuration, so it survives restarts and is
//! shared by every node of a cluster), under a label per credential, so a sid is never
//! accepted as a token nor the other way round. Nothing is stored: no table, no cache to
//! keep in step between nodes. Changing the admin token revokes every sid and user token.

use crate::error::{code, WResult, WpsError};
use crate::WpsState;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use switchboard_core::auth::ct_eq;
use switchboard_core::error::Error;
use switchboard_core::ids::{TenantId, UserId};

type HmacSha256 = Hmac<Sha256>;

/// What a `wps_sid` starts with (the prefix of the vendor's own sids).
pub const SID_PREFIX: &str = "V02S";
/// What a user access token starts with; app tokens are plain hex, so the two never mix.
pub const USER_TOKEN_PREFIX: &str = "U1";
/// A sid's lifetime when the operator names none: 30 days.
pub const DEFAULT_SID_TTL_SECS: i64 = 30 * 86_400;
/// The longest lifetime a sid may be issued for: one year.
pub const MAX_SID_TTL_SECS: i64 = 365 * 86_400;

const PAYLOAD_HEX: usize = 48;
const MAC_HEX: usize = 64;
const SID_LABEL: &[u8] = b"wps_sid:";
const TOKEN_LABEL: &[u8] = b"wps_user_token:";

/// The key both credentials are signed with, derived from the admin token.
#[derive(Clone)]
pub struct SidKey([u8; 32]);

impl std::fmt::Debug for SidKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SidKey(***)")
    }
}

/// Whom a valid credential names, until when (Unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserClaims {
    pub tenant: TenantId,
    pub user: UserId,
    pub expires_at: i64,
}

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed, forged, or signed with another key.
    Invalid,
    /// Authentic but past its expiry.
    Expired,
}

impl SidKey {
    /// The key derived from the admin token (its own HMAC label: the admin token itself is
    /// never used as a MAC key for anything a client holds).
    pub fn from_admin_token(admin_token: &str) -> SidKey {
        let mut m =
            HmacSha256::new_from_slice(admin_token.as_bytes()).expect("HMAC takes any key length");
        m.update(b"switchboard/wps/user-credentials/v1");
        SidKey(m.finalize().into_bytes().into())
    }

    fn mac(&self, label: &[u8], payload: &str) -> String {
        let mut m = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(label);
        m.update(payload.as_bytes());
        hex::encode(m.finalize().into_bytes())
    }

    fn mint(&self, prefix: &str, label: &[u8], c: UserClaims) -> String {
        let payload = format!(
            "{:016x}{:016x}{:016x}",
            c.tenant.0 as u64, c.user.0 as u64, c.expires_at as u64
        );
        let tag = self.mac(label, &payload);
        format!("{prefix}{payload}{tag}")
    }

    fn verify(
        &self,
        prefix: &str,
        label: &[u8],
        value: &str,
        now: i64,
    ) -> Result<UserClaims, Refusal> {
        let body = value.strip_prefix(prefix).ok_or(Refusal::Invalid)?;
        if body.len() != PAYLOAD_HEX + MAC_HEX || !body.is_ascii() {
            return Err(Refusal::Invalid);
        }
        let (payload, tag) = body.split_at(PAYLOAD_HEX);
        if !ct_eq(self.mac(label, payload).as_bytes(), tag.as_bytes()) {
            return Err(Refusal::Invalid);
        }
        let field = |i: usize| {
            u64::from_str_radix(&payload[i * 16..(i + 1) * 16], 16)
                .ok()
                .map(|v| v as i64)
        };
        let (tenant, user, expires_at) = match (field(0), field(1), field(2)) {
            (Some(t), Some(u), Some(e)) if t > 0 && u > 0 => (t, u, e),
            _ => return Err(Refusal::Invalid),
        };
        if now >= expires_at {
            return Err(Refusal::Expired);
        }
        Ok(UserClaims {
            tenant: TenantId(tenant),
            user: UserId(user),
            expires_at,
        })
    }

    /// A `wps_sid` for `user` of `tenant`, valid until `expires_at`.
    pub fn issue_sid(&self, tenant: TenantId, user: UserId, expires_at: i64) -> String {
        self.mint(
            SID_PREFIX,
            SID_LABEL,
            UserClaims {
                tenant,
                user,
                expires_at,
            },
        )
    }

    pub fn verify_sid(&self, sid: &str, now: i64) -> Result<UserClaims, Refusal> {
        self.verify(SID_PREFIX, SID_LABEL, sid, now)
    }

    pub(crate) fn issue_token(&self, c: UserClaims) -> String {
        self.mint(USER_TOKEN_PREFIX, TOKEN_LABEL, c)
    }

    pub(crate) fn verify_token(&self, token: &str, now: i64) -> Result<UserClaims, Refusal> {
        self.verify(USER_TOKEN_PREFIX, TOKEN_LABEL, token, now)
    }
}

/// Whether a Bearer value is a user token (rather than an app's).
pub(crate) fn is_user_token(token: &str) -> bool {
    token.starts_with(USER_TOKEN_PREFIX)
}

/// The `wps_sid` cookie among the request's `Cookie` headers.
fn sid_cookie(h: &HeaderMap) -> WResult<Option<&str>> {
    for v in h.get_all(header::COOKIE) {
        let v = v
            .to_str()
            .map_err(|_| WpsError::invalid("header cookie is not visible ASCII"))?;
        for pair in v.split(';') {
            if let Some((k, val)) = pair.trim().split_once('=') {
                if k.trim() == "wps_sid" && !val.trim().is_empty() {
                    return Ok(Some(val.trim()));
                }
            }
        }
    }
    Ok(None)
}

/// `POST /v7/dev/agent/token`: a `wps_sid` cookie for a user access token.
///
/// As the `wps365` client calls it: no body, no signature, `Cookie: wps_sid=…`; it reads
/// `access_token` and `expires_in` at the top level of the answer, as `/oauth2/token` gives
/// them. The token lives `token_ttl_secs`, never beyond the sid's own expiry.
pub(crate) async fn agent_token(State(s): State<WpsState>, h: HeaderMap) -> WResult<Response> {
    let sid = sid_cookie(&h)?
        .ok_or_else(|| WpsError::unauthorized(code::TOKEN_MISSING, "missing Cookie: wps_sid=…"))?;
    let now = s.core.clock().now_secs();
    let claims = match s.sid_key.verify_sid(sid, now) {
        Ok(c) => c,
        Err(Refusal::Expired) => {
            return Err(WpsError::unauthorized(
                code::TOKEN_EXPIRED,
                "wps_sid expired, ask for a new one",
            ))
        }
        Err(Refusal::Invalid) => return Err(invalid_sid()),
    };
    // The user must still be in that tenant (a sid names both, and each must hold).
    match s.core.user(claims.tenant, claims.user).await {
        Ok(_) => {}
        Err(Error::NotFound(_)) => return Err(invalid_sid()),
        Err(e) => return Err(e.into()),
    }
    let expires_at = claims
        .expires_at
        .min(now.saturating_add(s.config.token_ttl_secs as i64));
    let token = s.sid_key.issue_token(UserClaims {
        expires_at,
        ..claims
    });
    let body =
        json!({ "access_token": token, "expires_in": expires_at - now, "token_type": "bearer" });
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

fn invalid_sid() -> WpsError {
    WpsError::unauthorized(code::TOKEN_INVALID, "invalid wps_sid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sid_round_trip_expiry_and_forgery() {
        let k = SidKey::from_admin_token("test-admin-token-0123456789");
        let sid = k.issue_sid(TenantId(7), UserId(42), 1_000);
        assert!(sid.starts_with(SID_PREFIX));
        let c = k.verify_sid(&sid, 999).unwrap();
        assert_eq!(
            (c.tenant, c.user, c.expires_at),
            (TenantId(7), UserId(42), 1_000)
        );
        assert_eq!(k.verify_sid(&sid, 1_000), Err(Refusal::Expired));
        let other = SidKey::from_admin_token("another-admin-token-000000");
        assert_eq!(other.verify_sid(&sid, 0), Err(Refusal::Invalid));
        // Any changed character of the payload (here: the user) breaks the MAC.
        let mut forged = sid.clone().into_bytes();
        let i = SID_PREFIX.len() + 31;
        forged[i] = if forged[i] == b'a' { b'b' } else { b'a' };
        let forged = String::from_utf8(forged).unwrap();
        assert_eq!(k.verify_sid(&forged, 0), Err(Refusal::Invalid));
        assert_eq!(
            k.verify_sid(&sid[..sid.len() - 1], 0),
            Err(Refusal::Invalid)
        );
        assert_eq!(k.verify_sid("V02S", 0), Err(Refusal::Invalid));
    }

    #[test]
    fn sid_and_token_are_not_interchangeable() {
        let k = SidKey::from_admin_token("test-admin-token-0123456789");
        let claims = UserClaims {
            tenant: TenantId(1),
            user: UserId(2),
            expires_at: 50,
        };
        let sid = k.issue_sid(claims.tenant, claims.user, claims.expires_at);
        let token = k.issue_token(claims);
        assert_eq!(k.verify_token(&token, 0), Ok(claims));
        assert!(is_user_token(&token) && !is_user_token(&sid));
        let sid_as_token = format!("{USER_TOKEN_PREFIX}{}", &sid[SID_PREFIX.len()..]);
        assert_eq!(k.verify_token(&sid_as_token, 0), Err(Refusal::Invalid));
        let token_as_sid = format!("{SID_PREFIX}{}", &token[USER_TOKEN_PREFIX.len()..]);
        assert_eq!(k.verify_sid(&token_as_sid, 0), Err(Refusal::Invalid));
    }

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; wps_sid=V02Sabc ; b=2".parse().unwrap(),
        );
        assert_eq!(sid_cookie(&h).unwrap(), Some("V02Sabc"));
        let mut none = HeaderMap::new();
        none.append(header::COOKIE, "wps_sidx=1; wps_sid=".parse().unwrap());
        assert_eq!(sid_cookie(&none).unwrap(), None);
    }
}
