//! What an attempt sent and got back, kept in the delivery log for operators (the console's
//! Deliveries page): the request's URL, headers in their casing, the body as sent with its
//! SHA-256 (a signature's input), the plaintext before encryption, and the receiver's
//! answer. Stored, never logged.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use switchboard_core::events::route::Outgoing;

/// The most of a request body kept (an event is far smaller; a bound keeps rows bounded).
const MAX_BODY: usize = 64 * 1024;
/// The most of a receiver's answer kept.
const MAX_ANSWER: usize = 2 * 1024;

fn text(bytes: &[u8], max: usize) -> (String, bool) {
    let cut = bytes.len() > max;
    let kept = &bytes[..bytes.len().min(max)];
    (String::from_utf8_lossy(kept).into_owned(), cut)
}

/// A webhook request as sent. `plain` is the event before encryption.
pub fn request(url: &str, req: &Outgoing, plain: &[u8]) -> Value {
    let (body, truncated) = text(&req.body, MAX_BODY);
    let mut v = json!({
        "url": url,
        "headers": req.headers,
        "body": body,
        "body_sha256": hex::encode(Sha256::digest(&req.body)),
    });
    if truncated {
        v["body_truncated"] = json!(true);
    }
    if plain != req.body.as_slice() {
        v["plain"] = json!(text(plain, MAX_BODY).0);
    }
    v
}

/// An event pushed down a long connection (the frame's payload).
pub fn frame(plain: &[u8]) -> Value {
    let (body, truncated) = text(plain, MAX_BODY);
    let mut v = json!({ "long_connection": true, "body": body });
    if truncated {
        v["body_truncated"] = json!(true);
    }
    v
}

/// The record of one attempt: the request, and the answer's status (or ack code) and body.
pub fn exchange(request: Value, status: Option<i32>, answer: Option<&[u8]>) -> String {
    let mut response = json!({ "status": status });
    if let Some(body) = answer {
        let (body, truncated) = text(body, MAX_ANSWER);
        response["body"] = json!(body);
        if truncated {
            response["body_truncated"] = json!(true);
        }
    }
    json!({ "request": request, "response": response }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_keeps_headers_in_order_and_casing_and_hashes_the_body() {
        let req = Outgoing {
            headers: vec![
                ("X-Lark-Signature".into(), "abc".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            body: br#"{"encrypt":"xyz"}"#.to_vec(),
        };
        let v = request("http://127.0.0.1:9/hook", &req, br#"{"event":1}"#);
        assert_eq!(v["headers"][0][0], "X-Lark-Signature");
        assert_eq!(v["body"], r#"{"encrypt":"xyz"}"#);
        assert_eq!(v["plain"], r#"{"event":1}"#);
        assert_eq!(
            v["body_sha256"],
            hex::encode(Sha256::digest(br#"{"encrypt":"xyz"}"#))
        );
        let same = request("u", &req, &req.body);
        assert!(
            same.get("plain").is_none(),
            "no plaintext when nothing was encrypted"
        );
    }

    #[test]
    fn long_bodies_and_answers_are_cut_and_say_so() {
        let big = vec![b'a'; MAX_ANSWER + 10];
        let e: Value =
            serde_json::from_str(&exchange(frame(b"{}"), Some(500), Some(&big))).unwrap();
        assert_eq!(e["response"]["status"], 500);
        assert_eq!(e["response"]["body"].as_str().unwrap().len(), MAX_ANSWER);
        assert_eq!(e["response"]["body_truncated"], true);
        assert_eq!(e["request"]["long_connection"], true);
        let none: Value = serde_json::from_str(&exchange(frame(b"{}"), None, None)).unwrap();
        assert!(none["response"]["status"].is_null());
    }
}
