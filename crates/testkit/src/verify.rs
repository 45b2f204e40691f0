//! Receivers' checks written from the vendors' specs alone, independently of the sending
//! code (no dialect crypto module is used here): WPS 365 v7 envelopes (AES-256-CBC keyed by
//! the hex MD5 of the app secret, the nonce as IV, a base64url HMAC-SHA256 signature,
//! `shared/spec/events.md` §2.4), Yunxin message copies (`MD5` of the body and
//! `CheckSum` = SHA-1(AppSecret + MD5 + CurTime)) and Feishu's `X-Lark-Signature`; and
//! [`Hook`], a bare webhook receiver that echoes any `{"challenge":…}` (WPS and Yunxin
//! challenge in plaintext, without Feishu's `"type":"url_verification"`).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Lowercase hex MD5.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    hex::encode(md5::Md5::digest(data))
}

/// Lowercase hex SHA-1.
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest as _;
    hex::encode(sha1::Sha1::digest(data))
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(data))
}

/// Whether `bytes` is compact JSON with every object's keys in sorted order (what
/// `serde_json` without `preserve_order` writes back byte for byte).
pub fn is_compact_sorted_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| serde_json::to_vec(&v).ok())
        .is_some_and(|again| again == bytes)
}

/// One WPS event, verified and decrypted.
#[derive(Debug, Clone)]
pub struct WpsEvent {
    pub topic: String,
    pub operation: String,
    /// Unix seconds.
    pub time: i64,
    pub nonce: String,
    /// The decrypted body as sent.
    pub plain: Vec<u8>,
    /// The decrypted body.
    pub data: Value,
}

/// Verifies and decrypts one WPS envelope (the raw request body) for the app `app_id`
/// whose secret is `app_secret`. Checks the envelope's keys, their order and JSON types,
/// the nonce (16 characters of `[0-9A-Za-z]`), the signature, then decrypts.
pub fn wps_open(app_id: &str, app_secret: &str, body: &[u8]) -> Result<WpsEvent, String> {
    let env: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let obj = env.as_object().ok_or("the envelope is no object")?;
    // serde_json (no preserve_order) sorts keys: read the order off the raw bytes.
    let text = std::str::from_utf8(body).map_err(|e| e.to_string())?;
    let order = [
        "topic",
        "operation",
        "time",
        "nonce",
        "signature",
        "encrypted_data",
    ];
    if obj.len() != order.len() {
        return Err(format!(
            "envelope keys: {:?}",
            obj.keys().collect::<Vec<_>>()
        ));
    }
    let mut at = 0;
    for k in order {
        let needle = format!("\"{k}\":");
        let i = text[at..]
            .find(&needle)
            .ok_or_else(|| format!("key {k} missing or out of order in {text}"))?;
        at += i + needle.len();
    }
    let s = |k: &str| {
        obj[k]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("{k} is not a string: {}", obj[k]))
    };
    let (topic, operation, nonce, signature, encrypted) = (
        s("topic")?,
        s("operation")?,
        s("nonce")?,
        s("signature")?,
        s("encrypted_data")?,
    );
    let time = obj["time"]
        .as_i64()
        .ok_or_else(|| format!("time is not an integer: {}", obj["time"]))?;
    if nonce.len() != 16 || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("nonce {nonce:?} is not 16 of [0-9A-Za-z]"));
    }

    // signature = base64url_nopad(HMAC-SHA256(APPKEY, "APPID:topic:nonce:time:encrypted_data"))
    let content = format!("{app_id}:{topic}:{nonce}:{time}:{encrypted}");
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(app_secret.as_bytes()).map_err(|e| e.to_string())?;
    mac.update(content.as_bytes());
    let sig = URL_SAFE_NO_PAD
        .decode(&signature)
        .map_err(|e| format!("signature {signature:?} is not base64url without padding: {e}"))?;
    mac.verify_slice(&sig)
        .map_err(|_| format!("bad signature {signature:?} over {content:?}"))?;

    // AES-256-CBC, key = the 32 ASCII characters of hex MD5(APPKEY), IV = the nonce.
    let key = md5_hex(app_secret.as_bytes());
    let ct = STANDARD
        .decode(&encrypted)
        .map_err(|e| format!("encrypted_data is not standard base64: {e}"))?;
    let plain = cbc::Decryptor::<aes::Aes256>::new_from_slices(key.as_bytes(), nonce.as_bytes())
        .map_err(|e| e.to_string())?
        .decrypt_padded_vec_mut::<Pkcs7>(&ct)
        .map_err(|e| format!("decryption or padding failed: {e}"))?;
    let data = serde_json::from_slice(&plain).map_err(|e| {
        format!(
            "the plaintext is not JSON: {e}: {}",
            String::from_utf8_lossy(&plain)
        )
    })?;
    Ok(WpsEvent {
        topic,
        operation,
        time,
        nonce,
        plain,
        data,
    })
}

/// Verifies a Yunxin copy as its receiver does: exactly one `AppKey`, `CurTime`, `MD5` and
/// `CheckSum` header (in exactly that casing when `exact_case`); `AppKey` is `app_key`;
/// `MD5` is the hex MD5 of the raw body; `CheckSum` is hex SHA-1(AppSecret + MD5 +
/// CurTime); `CurTime` is Unix milliseconds; the body is a flat JSON object of strings.
/// Returns the body.
pub fn yunxin_check(
    app_key: &str,
    app_secret: &str,
    headers: &[(String, String)],
    body: &[u8],
    exact_case: bool,
) -> Result<Value, String> {
    let one = |name: &str| -> Result<&str, String> {
        let found: Vec<&str> = headers
            .iter()
            .filter(|(k, _)| {
                if exact_case {
                    k == name
                } else {
                    k.eq_ignore_ascii_case(name)
                }
            })
            .map(|(_, v)| v.as_str())
            .collect();
        let any = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count();
        match (found.as_slice(), any) {
            ([v], 1) => Ok(v),
            _ => Err(format!("header {name}: {headers:?}")),
        }
    };
    let (key, cur, md5, sum) = (
        one("AppKey")?,
        one("CurTime")?,
        one("MD5")?,
        one("CheckSum")?,
    );
    if key != app_key {
        return Err(format!("AppKey {key:?}, expected {app_key:?}"));
    }
    let want_md5 = md5_hex(body);
    if md5 != want_md5 {
        return Err(format!("MD5 {md5:?}, the body's is {want_md5:?}"));
    }
    let want_sum = sha1_hex(format!("{app_secret}{md5}{cur}").as_bytes());
    if sum != want_sum {
        return Err(format!("CheckSum {sum:?}, expected {want_sum:?}"));
    }
    let ms: i64 = cur
        .parse()
        .map_err(|_| format!("CurTime {cur:?} is not an integer"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    if (now - ms).abs() > 60_000 {
        return Err(format!("CurTime {ms} is not now ({now}) in milliseconds"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the copy is no object")?;
    if let Some((k, x)) = obj.iter().find(|(_, x)| !x.is_string()) {
        return Err(format!("{k} is not a string: {x}"));
    }
    Ok(v)
}

/// Whether a Feishu request's `X-Lark-Signature` is hex SHA-256(timestamp + nonce +
/// encrypt key + body).
pub fn lark_signature_ok(headers: &[(String, String)], body: &[u8], encrypt_key: &str) -> bool {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let (Some(ts), Some(nonce), Some(sig)) = (
        get("X-Lark-Request-Timestamp"),
        get("X-Lark-Request-Nonce"),
        get("X-Lark-Signature"),
    ) else {
        return false;
    };
    let mut all = format!("{ts}{nonce}{encrypt_key}").into_bytes();
    all.extend_from_slice(body);
    sha256_hex(&all) == sig
}

/// One request to a [`Hook`].
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: String,
    pub path: String,
    /// Header names exactly as sent, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Hit {
    /// A header by its exact name.
    pub fn header(&self, exact: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == exact)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// A URL check (WPS's, Yunxin's probe or Feishu's plaintext challenge).
    pub fn is_challenge(&self) -> bool {
        self.json().get("challenge").is_some()
    }
}

/// A webhook receiver on 127.0.0.1 that records every request (header casing kept) and
/// answers 200: `{"challenge":"<the same>"}` to a body holding a `challenge`,
/// `{"msg":"success"}` to anything else. Stops when dropped.
pub struct Hook {
    base: String,
    log: Arc<Mutex<Vec<Hit>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Hook {
    pub async fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let log: Arc<Mutex<Vec<Hit>>> = Arc::default();
        let l = log.clone();
        let accept = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, l.clone()));
            }
        });
        Hook { base, log, accept }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The requests to `path` so far, in arrival order.
    pub fn hits(&self, path: &str) -> Vec<Hit> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }

    /// Polls `path`'s requests until `f` returns something, or panics after `within`.
    pub async fn wait<T>(
        &self,
        path: &str,
        within: Duration,
        what: &str,
        f: impl Fn(&[Hit]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            let hits = self.hits(path);
            if let Some(t) = f(&hits) {
                return t;
            }
            if Instant::now() >= deadline {
                let got: Vec<String> = hits
                    .iter()
                    .map(|h| String::from_utf8_lossy(&h.body).into_owned())
                    .collect();
                panic!(
                    "{path}: waited {within:?} for {what}; got {} requests:\n{}",
                    got.len(),
                    got.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn more(sock: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match sock.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

async fn serve(mut sock: TcpStream, log: Arc<Mutex<Vec<Hit>>>) {
    let mut buf = Vec::new();
    loop {
        let end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i;
            }
            if !more(&mut sock, &mut buf).await {
                return;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let body: Vec<u8> = if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let mut body = Vec::new();
            loop {
                let Some(eol) = find(&buf, b"\r\n") else {
                    if !more(&mut sock, &mut buf).await {
                        return;
                    }
                    continue;
                };
                let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
                let Ok(size) =
                    usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                else {
                    return;
                };
                while buf.len() < eol + 2 + size + 2 {
                    if !more(&mut sock, &mut buf).await {
                        return;
                    }
                }
                body.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
                buf.drain(..eol + 2 + size + 2);
                if size == 0 {
                    break body;
                }
            }
        } else {
            let n: usize = get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            while buf.len() < n {
                if !more(&mut sock, &mut buf).await {
                    return;
                }
            }
            buf.drain(..n).collect()
        };
        let answer = match serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("challenge").cloned())
        {
            Some(c) => json!({ "challenge": c }),
            None => json!({ "msg": "success" }),
        }
        .to_string();
        log.lock().unwrap().push(Hit {
            method,
            path,
            headers,
            body,
        });
        let resp = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spec's vector (§2.4): APPID `AK123456`, APPKEY `sk098765`.
    #[test]
    fn wps_vector_opens() {
        let body = r#"{"chat":{"id":"8225957","type":"p2p"},"company_id":"eueue","message":{"content":{"text":{"content":"666"}},"id":"w7i5fgFzh6uRtOTN","type":"text"},"send_time":1734426254026,"sender":{"id":"erueru","type":"user"}}"#;
        assert_eq!(md5_hex(b"sk098765"), "e841b3fe64f8513b26187479d3bd5db7");
        let env = json!({
            "topic": "kso.app_chat.message", "operation": "create", "time": 1704074400,
            "nonce": "0123456789abcdef",
            "signature": "Cs7LlxPBf_7JAfkTINMZjxN-f-MU39c-LC50h7GD244",
            "encrypted_data": "iRwo+vXQA3lYOU3iXG6vQ7MnU84qYuk7mk0qxHNPJ65QiUzxIqDcQjcazbgVYMa6TuO37AndXVdRZDsy4+v65FSmn3Y5J5hzIpu/G4tsP5mLIceXOZMyHDTDLl62GqvC1aORxUbDQHsUc0oF6sTmKhogvLwwZz/JFU9tTFqTYCZbgKx1QN2A4jcFF3XzoQvQsoJU1c4i7ZtLU/Tu1D+qfNBZUfIiC8pbPxs3V3eYI9Fr9eTC3u+KMPsGRKrelxRW3KyO8Nu9dL/HLUlKsFAXRbBA+QL0fJKUW6Z1RxBc/Bs=",
        });
        // serde_json sorts keys: write the envelope in the vendor's order by hand.
        let raw = format!(
            r#"{{"topic":{},"operation":{},"time":{},"nonce":{},"signature":{},"encrypted_data":{}}}"#,
            env["topic"],
            env["operation"],
            env["time"],
            env["nonce"],
            env["signature"],
            env["encrypted_data"]
        );
        let ev = wps_open("AK123456", "sk098765", raw.as_bytes()).unwrap();
        assert_eq!(ev.plain, body.as_bytes());
        assert_eq!(ev.topic, "kso.app_chat.message");
        assert_eq!(ev.time, 1704074400);
        assert!(wps_open("AK123457", "sk098765", raw.as_bytes()).is_err());
        assert!(wps_open("AK123456", "sk098766", raw.as_bytes()).is_err());
        let later = raw.replace("1704074400", "1704074401");
        assert!(wps_open("AK123456", "sk098765", later.as_bytes()).is_err());
    }

    /// The docs' vector: AppSecret `secret123`, CurTime `1700000000000`.
    #[test]
    fn yunxin_vector_sums() {
        let body = r#"{"attach":"","body":"hello","convType":"PERSON","eventType":"1","fromAccount":"111","fromClientType":"REST","fromDeviceId":"","fromNick":"mike","msgTimestamp":"1441977355557","msgType":"TEXT","msgidClient":"1234567","msgidServer":"3456789","resendFlag":"0","to":"222"}"#;
        let md5 = md5_hex(body.as_bytes());
        assert_eq!(md5, "fa0274e689bd2e777a15033558e9d2ec");
        assert_eq!(
            sha1_hex(format!("secret123{md5}1700000000000").as_bytes()),
            "51310304a273d41c4d8d768fd6da63578e933688"
        );
    }
}
