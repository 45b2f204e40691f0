//! Request authentication: every Yunxin server API call carries `AppKey`, `Nonce`,
//! `CurTime` (Unix seconds) and `CheckSum = sha1hex(AppSecret + Nonce + CurTime)`; there is
//! no token. <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
//!
//! The checks run in this order, each failure answering 414 with a message naming it:
//! headers present, Nonce length, CurTime numeric, CurTime within ±skew of the server clock,
//! CheckSum well formed, AppKey known, CheckSum equal (constant time), Nonce unused.
//! The nonce is remembered only once the CheckSum has verified, so unauthenticated callers
//! cannot burn nonces; it is kept until its CurTime leaves the window.

use crate::error::{code, YunxinError};
use crate::YunxinState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha1::{Digest, Sha1};
use switchboard_core::auth::ct_eq;
use switchboard_core::error::Error;
use switchboard_core::ids::TenantId;
use switchboard_core::model::App;
use switchboard_core::observe::CallerNote;

/// `lowercase hex(SHA1(AppSecret + Nonce + CurTime))`.
pub fn checksum(app_secret: &str, nonce: &str, cur_time: &str) -> String {
    let mut h = Sha1::new();
    h.update(app_secret.as_bytes());
    h.update(nonce.as_bytes());
    h.update(cur_time.as_bytes());
    hex::encode(h.finalize())
}

/// The authenticated caller: an app, acting for its whole tenant (Yunxin has no scopes).
#[derive(Debug, Clone)]
pub struct Caller {
    pub app: App,
}

impl Caller {
    pub fn tenant(&self) -> TenantId {
        self.app.tenant
    }
}

const MAX_NONCE: usize = 128;

fn auth_failed(what: impl std::fmt::Display) -> YunxinError {
    YunxinError::param(format!("auth failed: {what}"))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, YunxinError> {
    let v = headers
        .get(name)
        .ok_or_else(|| auth_failed(format!("missing header {name}")))?;
    let s = v
        .to_str()
        .map_err(|_| auth_failed(format!("header {name} is not printable ASCII")))?
        .trim();
    if s.is_empty() {
        return Err(auth_failed(format!("header {name} is empty")));
    }
    Ok(s)
}

impl FromRequestParts<YunxinState> for Caller {
    type Rejection = YunxinError;

    async fn from_request_parts(
        parts: &mut Parts,
        yx: &YunxinState,
    ) -> Result<Self, Self::Rejection> {
        let caller = verify(&parts.headers, yx).await?;
        // For the server's access log.
        if let Some(n) = parts.extensions.get::<std::sync::Arc<CallerNote>>() {
            n.set(&caller.app.app_id);
        }
        if yx.limiter.check(caller.app.id, yx.core.now_ms()).is_err() {
            return Err(YunxinError::new(
                code::RATE_LIMITED,
                format!(
                    "rate limited: at most {} requests per second per AppKey",
                    yx.config.rate_limit_per_second
                ),
            ));
        }
        Ok(caller)
    }
}

async fn verify(headers: &HeaderMap, yx: &YunxinState) -> Result<Caller, YunxinError> {
    let app_key = header(headers, "AppKey")?;
    let nonce = header(headers, "Nonce")?;
    let cur_time = header(headers, "CurTime")?;
    let sum = header(headers, "CheckSum")?;
    if nonce.chars().count() > MAX_NONCE {
        return Err(auth_failed(format!(
            "Nonce is longer than {MAX_NONCE} characters"
        )));
    }
    let secs: i64 = match cur_time.parse() {
        Ok(s) if cur_time.bytes().all(|b| b.is_ascii_digit()) => s,
        _ => {
            return Err(auth_failed(
                "CurTime must be the Unix time in seconds (digits only)",
            ))
        }
    };
    let now = yx.core.clock().now_secs();
    let skew = yx.config.cur_time_skew_secs as i64;
    if (secs - now).abs() > skew {
        return Err(auth_failed(format!(
            "CurTime {secs} is {} s away from the server time {now}; allowed is ±{skew} s",
            (secs - now).abs()
        )));
    }
    if sum.len() != 40 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(auth_failed("CheckSum must be 40 hex characters (SHA1)"));
    }
    let app = match yx.core.app_by_public_id(app_key).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => return Err(auth_failed("unknown AppKey")),
        Err(e) => return Err(YunxinError::from(e)),
    };
    // The client hashed the CurTime string it sent, so hash exactly that string.
    let expect = checksum(app.app_secret.expose(), nonce, cur_time);
    if !ct_eq(expect.as_bytes(), sum.to_ascii_lowercase().as_bytes()) {
        return Err(auth_failed(
            "CheckSum mismatch: expected sha1hex(AppSecret + Nonce + CurTime)",
        ));
    }
    let expires_at = (secs + skew + 1) * 1000;
    let scope = format!("yunxin:{}", app.app_id);
    match yx.core.remember_nonce(&scope, nonce, expires_at).await {
        Ok(true) => Ok(Caller { app }),
        Ok(false) => Err(auth_failed(
            "Nonce has already been used (replayed request)",
        )),
        Err(e) => Err(YunxinError::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_checksum_vector() {
        // The documented example: AppSecret secret123, Nonce nonce456, CurTime 1700000000.
        assert_eq!(
            checksum("secret123", "nonce456", "1700000000"),
            "8c46b15be7317ce65c66bf019d1ea2bbcf445e54"
        );
    }

    #[test]
    fn checksum_is_plain_concatenation() {
        assert_eq!(checksum("a", "bc", "1"), checksum("ab", "c", "1"));
        assert_ne!(checksum("a", "b", "1"), checksum("a", "b", "2"));
        assert_eq!(checksum("", "", "").len(), 40);
    }
}
