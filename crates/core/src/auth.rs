//! Credential primitives shared by every dialect: constant-time comparison, and
//! stateless access tokens.
//!
//! A token is `kind ‖ app ‖ issued_at` authenticated with HMAC-SHA256 keyed by the app's
//! secret. Nothing is stored, so every node sharing the database accepts every other
//! node's tokens, and rotating an app's secret revokes all of its tokens at once.

use crate::ids::AppId;
use crate::model::App;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Constant-time byte comparison (length is not secret).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A token's family, one byte chosen by the API that mints it (each dialect defines its
/// own constants), so that a token minted for one grant is not accepted by another's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenKind(pub u8);

/// A token's readable claims, before the signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenClaims {
    pub kind: TokenKind,
    pub app: AppId,
    pub issued_at: i64,
}

const PAYLOAD_HEX: usize = 2 + 16 + 16;
const MAC_HEX: usize = 32;

fn mac(secret: &str, payload_hex: &str) -> String {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    m.update(b"switchboard-token-v1:");
    m.update(payload_hex.as_bytes());
    hex::encode(&m.finalize().into_bytes()[..MAC_HEX / 2])
}

/// Mints the token body (dialects add their vendor prefix, e.g. `t-`).
pub fn mint_token(app: &App, kind: TokenKind, issued_at: i64) -> String {
    let payload = format!(
        "{:02x}{:016x}{:016x}",
        kind.0, app.id.0 as u64, issued_at as u64
    );
    let tag = mac(app.app_secret.expose(), &payload);
    format!("{payload}{tag}")
}

/// Reads the claims of a token body without trusting them.
pub fn parse_token(body: &str) -> Option<TokenClaims> {
    if body.len() != PAYLOAD_HEX + MAC_HEX || !body.is_ascii() {
        return None;
    }
    let kind = TokenKind(u8::from_str_radix(&body[0..2], 16).ok()?);
    let app = u64::from_str_radix(&body[2..18], 16).ok()? as i64;
    let issued_at = u64::from_str_radix(&body[18..34], 16).ok()? as i64;
    (app > 0).then_some(TokenClaims {
        kind,
        app: AppId(app),
        issued_at,
    })
}

/// Checks the token's MAC against `app`'s current secret (constant time).
pub fn verify_token_mac(body: &str, app: &App) -> bool {
    if body.len() != PAYLOAD_HEX + MAC_HEX {
        return false;
    }
    let expect = mac(app.app_secret.expose(), &body[..PAYLOAD_HEX]);
    ct_eq(expect.as_bytes(), &body.as_bytes()[PAYLOAD_HEX..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::TenantId;
    use crate::model::Secret;

    fn app(secret: &str) -> App {
        App {
            id: AppId(42),
            tenant: TenantId(1),
            app_id: "app_x".into(),
            app_secret: Secret::new(secret),
            name: "bot".into(),
            bot_enabled: true,
            signing_required: true,
            scopes: vec![],
            created_at: 0,
        }
    }

    #[test]
    fn token_round_trip_and_tamper() {
        let a = app("s3cret");
        let t = mint_token(&a, TokenKind(2), 1_700_000_000);
        let c = parse_token(&t).unwrap();
        assert_eq!(
            c,
            TokenClaims {
                kind: TokenKind(2),
                app: AppId(42),
                issued_at: 1_700_000_000
            }
        );
        assert!(verify_token_mac(&t, &a));
        assert!(
            !verify_token_mac(&t, &app("other")),
            "rotated secret revokes"
        );
        let mut forged = t.clone().into_bytes();
        forged[20] = if forged[20] == b'0' { b'1' } else { b'0' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(!verify_token_mac(&forged, &a));
        assert!(parse_token("short").is_none());
        assert!(parse_token(&"z".repeat(66)).is_none());
    }

    #[test]
    fn ct_eq_basics() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
