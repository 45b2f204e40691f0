//! Encryption and signing of event requests (spec `events.md` §1.7, §1.8).
//!
//! - Body, when the subscription has an encrypt key: exactly `{"encrypt":"<b64>"}` with
//!   `b64 = base64_std(IV ‖ AES-256-CBC(SHA-256(encrypt_key), IV, PKCS7(plain)))`, IV being
//!   16 fresh random bytes.
//! - Signature: `lowercase_hex(SHA-256(timestamp ‖ nonce ‖ encrypt_key ‖ body))`, computed
//!   with `""` as the key when there is none, and sent on every request.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// The AES-256 key an encrypt key stands for: its SHA-256.
fn aes_key(encrypt_key: &str) -> [u8; 32] {
    Sha256::digest(encrypt_key.as_bytes()).into()
}

/// `plain` encrypted under `encrypt_key` with a fresh random IV, base64 (standard, padded).
pub fn encrypt(encrypt_key: &str, plain: &[u8]) -> String {
    let mut iv = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut iv);
    encrypt_with_iv(encrypt_key, iv, plain)
}

/// [`encrypt`] with a given IV (for tests and reproducible vectors).
pub fn encrypt_with_iv(encrypt_key: &str, iv: [u8; 16], plain: &[u8]) -> String {
    let key = aes_key(encrypt_key);
    let ct = Enc::new(&key.into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain);
    let mut out = Vec::with_capacity(16 + ct.len());
    out.extend_from_slice(&iv);
    out.extend_from_slice(&ct);
    STANDARD.encode(out)
}

/// The receiver's side of [`encrypt`]: base64-decodes, takes the first 16 bytes as the IV,
/// decrypts the rest and strips the PKCS#7 padding (checked).
pub fn decrypt(encrypt_key: &str, b64: &str) -> Result<Vec<u8>, String> {
    let raw = STANDARD
        .decode(b64)
        .map_err(|e| format!("not base64: {e}"))?;
    if raw.len() < 32 || raw.len() % 16 != 0 {
        return Err(format!("{} bytes is not an IV and whole blocks", raw.len()));
    }
    let (iv, ct) = raw.split_at(16);
    let key = aes_key(encrypt_key);
    let iv: [u8; 16] = iv.try_into().map_err(|_| "short IV".to_string())?;
    Dec::new(&key.into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ct)
        .map_err(|_| "bad padding (wrong key?)".to_string())
}

/// `X-Lark-Signature`: lowercase hex SHA-256 of timestamp, nonce, encrypt key (`""` when
/// none) and the exact body bytes, concatenated.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(encrypt_key.as_bytes());
    h.update(body);
    hex::encode(h.finalize())
}

/// A fresh nonce: 32 lowercase hex digits (128 random bits).
pub fn nonce() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The body sent for `plain`: `{"encrypt":"…"}` when `encrypt_key` is set, else `plain`.
pub fn seal(encrypt_key: &str, plain: &[u8]) -> Vec<u8> {
    if encrypt_key.is_empty() {
        return plain.to_vec();
    }
    #[derive(Serialize)]
    struct Sealed {
        encrypt: String,
    }
    serde_json::to_vec(&Sealed {
        encrypt: encrypt(encrypt_key, plain),
    })
    .expect("a string always serialises")
}
