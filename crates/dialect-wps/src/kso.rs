//! KSO-1 request signatures.
//!
//! `X-Kso-Authorization: KSO-1 <app_id>:<hex>` where `<hex>` is the lowercase HMAC-SHA256,
//! keyed with the app secret, over the plain concatenation
//! `"KSO-1" + method + request-URI + Content-Type + X-Kso-Date + sha256hex(body)`.
//! The request-URI is the raw request-target (path and query, as sent, without the
//! `/openapi` gateway prefix); an empty body contributes an empty string, not the hash of
//! nothing. Source: <https://open.wps.cn/documents/app-integration-dev/server/api-description/signature-description>.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::time::{Duration, UNIX_EPOCH};

pub const SCHEME: &str = "KSO-1";
pub const DATE_HEADER: &str = "x-kso-date";
pub const AUTH_HEADER: &str = "x-kso-authorization";
/// The gateway prefix WPS's on-premise deployments put in front of `/v7`; it is not signed.
pub const GATEWAY_PREFIX: &str = "/openapi";

/// Lowercase hex SHA-256 of the body; the empty string for an empty body.
pub fn body_hash(body: &[u8]) -> String {
    if body.is_empty() {
        String::new()
    } else {
        hex::encode(Sha256::digest(body))
    }
}

/// The KSO-1 signature (64 lowercase hex characters).
pub fn signature(
    secret: &str,
    method: &str,
    request_uri: &str,
    content_type: &str,
    date: &str,
    body: &[u8],
) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for part in [
        SCHEME,
        method,
        request_uri,
        content_type,
        date,
        &body_hash(body),
    ] {
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `presented` is the KSO-1 signature of the request, compared in constant time.
/// Same computation as [`signature`], without allocating: it runs on every request.
pub fn signature_matches(
    secret: &str,
    method: &str,
    request_uri: &str,
    content_type: &str,
    date: &str,
    body: &[u8],
    presented: &str,
) -> bool {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    for part in [SCHEME, method, request_uri, content_type, date] {
        mac.update(part.as_bytes());
    }
    if !body.is_empty() {
        let mut hash = [0u8; 64];
        hex_into(&Sha256::digest(body), &mut hash);
        mac.update(&hash);
    }
    let mut expected = [0u8; 64];
    hex_into(&mac.finalize().into_bytes(), &mut expected);
    switchboard_core::auth::ct_eq(&expected, presented.as_bytes())
}

/// Lowercase hex of `bytes` into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0xf) as usize];
    }
}

/// The `X-Kso-Authorization` header value.
pub fn authorization(app_id: &str, signature: &str) -> String {
    format!("{SCHEME} {app_id}:{signature}")
}

/// Splits `KSO-1 <app_id>:<signature>`; exactly one space, as the vendor specifies.
pub fn parse_authorization(value: &str) -> Option<(&str, &str)> {
    let rest = value.strip_prefix(SCHEME)?.strip_prefix(' ')?;
    let (ak, sig) = rest.split_once(':')?;
    let clean = |s: &str| !s.is_empty() && !s.bytes().any(|b| b.is_ascii_whitespace());
    (clean(ak) && clean(sig)).then_some((ak, sig))
}

/// The signed form of a request-target: without the gateway prefix.
pub fn signed_uri(request_uri: &str) -> &str {
    match request_uri.strip_prefix(GATEWAY_PREFIX) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => request_uri,
    }
}

/// Formats Unix seconds as an RFC 1123 date (`Mon, 02 Jan 2006 15:04:05 GMT`).
pub fn format_date(unix_secs: i64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(unix_secs.max(0) as u64))
}

/// Parses an RFC 1123 date strictly (the obsolete RFC 850 and asctime forms are refused):
/// the value must be exactly what [`format_date`] prints for it.
pub fn parse_date(value: &str) -> Option<i64> {
    use std::io::Write;
    let t = httpdate::parse_http_date(value).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs() as i64;
    // Formatted into a stack buffer: an RFC 1123 date is 29 bytes.
    let mut buf = [0u8; 32];
    let mut w = &mut buf[..];
    write!(w, "{}", httpdate::HttpDate::from(t)).ok()?;
    let n = 32 - w.len();
    (&buf[..n] == value.as_bytes()).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const AK: &str = "AK123456";
    const SK: &str = "sk098765";
    const DATE: &str = "Mon, 02 Jan 2006 15:04:05 GMT";

    #[test]
    fn official_vector_get_with_query() {
        let sig = signature(
            SK,
            "GET",
            "/v7/test?key=value",
            "application/json",
            DATE,
            b"",
        );
        assert_eq!(
            authorization(AK, &sig),
            "KSO-1 AK123456:ce8df66877175e5198c8ea1362ffddf82e4941c6f25a4ca205a1ad09d0faaf03"
        );
    }

    #[test]
    fn official_vector_post_body() {
        let body = br#"{"key": "value"}"#;
        assert_eq!(
            body_hash(body),
            "9724c1e20e6e3e4d7f57ed25f9d4efb006e508590d528c90da597f6a775c13e5"
        );
        let sig = signature(SK, "POST", "/v7/test/body", "application/json", DATE, body);
        assert_eq!(
            sig,
            "c46e6c988130818ecba2484d51ac685948fbbef6814602c7874d6bfc41dc17b3"
        );
    }

    #[test]
    fn self_computed_vectors_for_get_message() {
        let with_ct = signature(
            SK,
            "GET",
            "/v7/chats/c1/messages/m1",
            "application/json",
            DATE,
            b"",
        );
        assert_eq!(
            with_ct,
            "b4beffad48cd0c378e1a748fffc01a4c770a48c69deb5ed887c4241db7cebdfa"
        );
        let without_ct = signature(SK, "GET", "/v7/chats/c1/messages/m1", "", DATE, b"");
        assert_eq!(
            without_ct,
            "35efeb2b9cbf16191740e411a5d5ae6e4b21ec7656eeddb163911d30c30fa8fa"
        );
    }

    #[test]
    fn signature_matches_agrees_with_signature() {
        for (method, uri, ct, body) in [
            ("GET", "/v7/test?key=value", "application/json", &b""[..]),
            (
                "POST",
                "/v7/test/body",
                "application/json",
                &br#"{"key": "value"}"#[..],
            ),
            ("GET", "/v7/chats/c1/messages/m1", "", &b""[..]),
        ] {
            let sig = signature(SK, method, uri, ct, DATE, body);
            assert!(signature_matches(SK, method, uri, ct, DATE, body, &sig));
            assert!(!signature_matches(SK, method, uri, ct, DATE, b"x", &sig));
            assert!(!signature_matches(
                "other", method, uri, ct, DATE, body, &sig
            ));
            assert!(!signature_matches(
                SK,
                method,
                uri,
                ct,
                DATE,
                body,
                &sig[..63]
            ));
            assert!(!signature_matches(
                SK,
                method,
                uri,
                ct,
                DATE,
                body,
                &sig.to_uppercase()
            ));
        }
    }

    #[test]
    fn empty_body_is_not_the_hash_of_nothing() {
        assert_eq!(body_hash(b""), "");
        assert_ne!(
            signature(SK, "GET", "/v7/x", "", DATE, b""),
            signature(SK, "GET", "/v7/x", "", DATE, b" ")
        );
    }

    #[test]
    fn authorization_header_shape() {
        assert_eq!(parse_authorization("KSO-1 AK1:abc"), Some(("AK1", "abc")));
        assert_eq!(
            parse_authorization("KSO-1  AK1:abc"),
            None,
            "exactly one space"
        );
        assert_eq!(parse_authorization("KSO-2 AK1:abc"), None);
        assert_eq!(parse_authorization("KSO-1 AK1"), None);
        assert_eq!(parse_authorization("KSO-1 :abc"), None);
        assert_eq!(parse_authorization("KSO-1 AK1:"), None);
    }

    #[test]
    fn gateway_prefix_is_not_signed() {
        assert_eq!(signed_uri("/openapi/v7/chats/1?x=1"), "/v7/chats/1?x=1");
        assert_eq!(signed_uri("/v7/chats/1"), "/v7/chats/1");
        assert_eq!(signed_uri("/openapix/v7"), "/openapix/v7");
    }

    #[test]
    fn dates_are_strict_rfc1123() {
        assert_eq!(parse_date(DATE), Some(1_136_214_245));
        assert_eq!(format_date(1_136_214_245), DATE);
        assert_eq!(
            parse_date("Monday, 02-Jan-06 15:04:05 GMT"),
            None,
            "RFC 850"
        );
        assert_eq!(parse_date("Mon Jan  2 15:04:05 2006"), None, "asctime");
        assert_eq!(parse_date("2006-01-02T15:04:05Z"), None);
        assert_eq!(parse_date(""), None);
    }
}
