//! Tenant and app access tokens.
//!
//! Tokens are stateless (`switchboard_core::auth`): an HMAC over (kind, app, issued_at)
//! keyed by the app's secret, so every node sharing the database accepts every other node's
//! tokens, and rotating the secret revokes them all.
//!
//! `issued_at` is quantised to multiples of `ttl − refresh` seconds. Within one quantum the
//! same token comes back, with at least `refresh` seconds (30 min by default) left; at the
//! next quantum a new token is minted while the previous one stays valid until its own
//! expiry — exactly Feishu's documented rotation, with nothing stored.

use crate::error::{self, op, Answer, LarkError};
use crate::extract::LarkJson;
use crate::face::{Ctx, Face};
use crate::{Config, LarkState};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::auth::{mint_token, parse_token, verify_token_mac, TokenKind};

/// The family byte of `tenant_access_token`s (unchanged since the first release, so that
/// tokens minted before stay valid).
pub const TENANT_TOKEN: TokenKind = TokenKind(2);
/// The family byte of Feishu `app_access_token`s.
pub const APP_TOKEN: TokenKind = TokenKind(3);
use switchboard_core::error::Error;
use switchboard_core::model::App;

pub const TENANT_PREFIX: &str = "t-";
pub const APP_PREFIX: &str = "a-";

/// A minted token and its remaining lifetime in seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Minted {
    pub token: String,
    pub expire: i64,
}

fn quantum(cfg: &Config) -> i64 {
    (cfg.token_ttl_secs - cfg.token_refresh_secs).max(1)
}

/// The token to hand out at `now_secs`.
pub fn mint(app: &App, kind: TokenKind, cfg: &Config, now_secs: i64) -> Minted {
    let q = quantum(cfg);
    // Quanta are (issued, issued + q]: the last second with exactly `refresh` left still
    // returns the current token.
    let issued = (now_secs - 1).div_euclid(q) * q;
    let prefix = if kind == APP_TOKEN {
        APP_PREFIX
    } else {
        TENANT_PREFIX
    };
    Minted {
        token: format!("{prefix}{}", mint_token(app, kind, issued)),
        expire: (issued + cfg.token_ttl_secs - now_secs).max(1),
    }
}

/// Claims of a presented bearer value, before the app is loaded; `None` when it is not one
/// of our tokens at all (99991671).
pub fn claims(bearer: &str) -> Option<(TokenKind, switchboard_core::ids::AppId, i64, &str)> {
    let (expected, body) = if let Some(b) = bearer.strip_prefix(TENANT_PREFIX) {
        (TENANT_TOKEN, b)
    } else if let Some(b) = bearer.strip_prefix(APP_PREFIX) {
        (APP_TOKEN, b)
    } else {
        return None;
    };
    let c = parse_token(body)?;
    (c.kind == expected).then_some((c.kind, c.app, c.issued_at, body))
}

/// Checks a token body against its app and the clock.
pub fn valid(body: &str, issued_at: i64, app: &App, cfg: &Config, now_secs: i64) -> bool {
    // A little slack for a node whose clock runs behind the one that minted the token.
    let fresh = issued_at <= now_secs + 300 && now_secs < issued_at + cfg.token_ttl_secs;
    verify_token_mac(body, app) && fresh
}

#[derive(Deserialize)]
pub struct TokenBody {
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    app_secret: Option<String>,
}

async fn authenticate(s: &LarkState, ctx: &Ctx, b: TokenBody) -> Result<App, LarkError> {
    let (Some(id), Some(secret)) = (
        b.app_id.filter(|v| !v.is_empty()),
        b.app_secret.filter(|v| !v.is_empty()),
    ) else {
        return Err(LarkError::code(
            ctx,
            error::TOKEN_PARAM,
            "invalid param: app_id and app_secret are required",
        ));
    };
    // Unknown app and wrong secret read the same, so app ids cannot be probed.
    let app = match s.core.app_by_public_id(&id).await {
        Ok(a) => a,
        Err(Error::NotFound(_)) => {
            return Err(LarkError::code(
                ctx,
                error::BAD_SECRET,
                "app secret invalid",
            ))
        }
        // A malformed app_id (e.g. holding a NUL) is the token call's parameter error.
        Err(e @ Error::Invalid { .. }) => {
            return Err(LarkError::code(
                ctx,
                error::TOKEN_PARAM,
                format!("invalid param: {e}"),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    if !app.app_secret.matches(&secret) {
        return Err(LarkError::code(
            ctx,
            error::BAD_SECRET,
            "app secret invalid",
        ));
    }
    Ok(app)
}

/// Feishu: <https://open.feishu.cn/document/server-docs/authentication-management/access-token/tenant_access_token_internal>
/// Hi: <https://histatic.zhipin.com/front/bosshi-mp-docs/service/token/tenant_access_token_internal.html>
pub async fn tenant_access_token(
    State(s): State<LarkState>,
    ctx: Ctx,
    LarkJson(b): LarkJson<TokenBody>,
) -> Answer<op::Token> {
    let app = authenticate(&s, &ctx, b).await?;
    let t = mint(&app, TENANT_TOKEN, &s.config, s.core.clock().now_secs());
    let body = match ctx.face {
        Face::Feishu => {
            json!({ "code": 0, "msg": "ok", "tenant_access_token": t.token, "expire": t.expire })
        }
        // Hi's example wraps the token in `data`; its field table lists it at the top level,
        // so both are given.
        Face::Hi => json!({
            "code": 0, "msg": "操作成功", "success": true, "traceId": ctx.log_id.0,
            "data": { "tenant_access_token": t.token, "expire": t.expire },
            "tenant_access_token": t.token, "expire": t.expire,
        }),
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Feishu: <https://open.feishu.cn/document/server-docs/authentication-management/access-token/app_access_token_internal>
pub async fn app_access_token(
    State(s): State<LarkState>,
    ctx: Ctx,
    LarkJson(b): LarkJson<TokenBody>,
) -> Answer<op::Token> {
    let app = authenticate(&s, &ctx, b).await?;
    let now = s.core.clock().now_secs();
    let a = mint(&app, APP_TOKEN, &s.config, now);
    let t = mint(&app, TENANT_TOKEN, &s.config, now);
    let body = match ctx.face {
        Face::Feishu => {
            json!({ "code": 0, "msg": "ok", "app_access_token": a.token, "tenant_access_token": t.token, "expire": a.expire })
        }
        Face::Hi => json!({
            "code": 0, "msg": "操作成功", "success": true, "traceId": ctx.log_id.0,
            "data": { "app_access_token": a.token, "tenant_access_token": t.token, "expire": a.expire },
            "app_access_token": a.token, "tenant_access_token": t.token, "expire": a.expire,
        }),
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ids::{AppId, TenantId};
    use switchboard_core::model::Secret;

    fn app() -> App {
        App {
            id: AppId(9),
            tenant: TenantId(1),
            app_id: "cli_x".into(),
            app_secret: Secret::new("s"),
            name: "b".into(),
            bot_enabled: true,
            signing_required: false,
            scopes: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn rotation_follows_the_quantum() {
        let cfg = Config::default();
        let a = app();
        let t0 = 1_700_000_000 - 1_700_000_000 % 5400 + 1;
        let first = mint(&a, TENANT_TOKEN, &cfg, t0);
        assert_eq!(first.expire, 7199);
        let later = mint(&a, TENANT_TOKEN, &cfg, t0 + 5399);
        assert_eq!(
            later.token, first.token,
            "same token while >= 30 min remain"
        );
        assert_eq!(later.expire, 1800);
        let next = mint(&a, TENANT_TOKEN, &cfg, t0 + 5400);
        assert_ne!(next.token, first.token);
        assert_eq!(next.expire, 7199);
        let (_, _, issued, body) = claims(&first.token).unwrap();
        assert!(
            valid(body, issued, &a, &cfg, t0 + 7198),
            "old token valid until expiry"
        );
        assert!(!valid(body, issued, &a, &cfg, t0 + 7199));
        assert_eq!(claims("x-abc"), None);
        let app_token = mint(&a, APP_TOKEN, &cfg, t0).token;
        assert!(app_token.starts_with("a-"));
        assert_eq!(
            claims(&app_token.replacen("a-", "t-", 1)),
            None,
            "kinds are not interchangeable"
        );
    }
}
