//! Encryption and signing of WPS event requests (spec `events.md` §2.3, §2.4).
//!
//! With APPID the app's public `app_id` and APPKEY its secret:
//!
//! - `cipher_key = lowercase_hex(MD5(APPKEY))`, **its 32 ASCII bytes** being the AES-256 key;
//! - `encrypted_data = base64_std_padded(AES-256-CBC(cipher_key, IV = nonce, PKCS7(plain)))`,
//!   the nonce (16 ASCII characters) being the IV as it is, with no IV prefix in the data;
//! - `signature = base64url_nopad(HMAC-SHA256(key = APPKEY,
//!   APPID ":" topic ":" nonce ":" time ":" encrypted_data))`, `time` in decimal seconds.
//!
//! This is not KSO-1 (which signs API calls, [`crate::kso`]).

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use rand::Rng;
use sha2::Sha256;

type Enc = cbc::Encryptor<aes::Aes256>;
type Dec = cbc::Decryptor<aes::Aes256>;

/// Length of a nonce, which is also the AES IV: one block.
pub const NONCE_LEN: usize = 16;

/// The cipher key APPKEY stands for: the lowercase hex of its MD5 (32 ASCII characters,
/// used as they are as the AES-256 key).
pub fn cipher_key(app_secret: &str) -> String {
    hex::encode(Md5::digest(app_secret.as_bytes()))
}

fn key_bytes(app_secret: &str) -> [u8; 32] {
    let hex = cipher_key(app_secret);
    let mut key = [0u8; 32];
    key.copy_from_slice(hex.as_bytes());
    key
}

/// The IV a nonce stands for: its bytes (a nonce is 16 ASCII characters).
fn iv_bytes(nonce: &str) -> Result<[u8; 16], String> {
    nonce
        .as_bytes()
        .get(..NONCE_LEN)
        .and_then(|b| <[u8; 16]>::try_from(b).ok())
        .ok_or_else(|| format!("a nonce of {} bytes is no IV", nonce.len()))
}

/// `encrypted_data`: `plain` encrypted under the app's secret with the nonce as IV, base64
/// (standard alphabet, padded). `nonce` must be [`NONCE_LEN`] ASCII characters.
pub fn encrypt(app_secret: &str, nonce: &str, plain: &[u8]) -> String {
    let iv = iv_bytes(nonce).expect("nonces are made 16 ASCII characters long");
    let ct =
        Enc::new(&key_bytes(app_secret).into(), &iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plain);
    STANDARD.encode(ct)
}

/// The receiver's side of [`encrypt`]: base64-decodes, decrypts with the nonce as IV and
/// strips the PKCS#7 padding (checked).
pub fn decrypt(app_secret: &str, nonce: &str, encrypted_data: &str) -> Result<Vec<u8>, String> {
    let ct = STANDARD
        .decode(encrypted_data)
        .map_err(|e| format!("not base64: {e}"))?;
    if ct.is_empty() || ct.len() % 16 != 0 {
        return Err(format!("{} bytes is not whole blocks", ct.len()));
    }
    let iv = iv_bytes(nonce)?;
    Dec::new(&key_bytes(app_secret).into(), &iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(&ct)
        .map_err(|_| "bad padding (wrong key?)".to_string())
}

/// `signature`: base64url without padding of HMAC-SHA256, keyed with the app's secret, over
/// `APPID:topic:nonce:time:encrypted_data`.
pub fn signature(
    app_secret: &str,
    app_id: &str,
    topic: &str,
    nonce: &str,
    time: i64,
    encrypted_data: &str,
) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{app_id}:{topic}:{nonce}:{time}:{encrypted_data}").as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A fresh nonce: 16 random characters of `[0-9A-Za-z]` (about 95 bits), fresh per attempt.
pub fn nonce() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::thread_rng();
    (0..NONCE_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
