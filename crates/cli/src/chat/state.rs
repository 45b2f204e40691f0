//! The position of the last `chat send` this machine made to a chat, which `chat wait`
//! starts after when no `--after` is given. One small file per server URL and chat under
//! the system temp dir: `switchboard-chat/<hash of URL, tenant and chat>.json`.

use super::resolve::Chat;
use serde_json::{json, Value};
use std::path::PathBuf;

/// The state file of a chat on a server.
pub fn path(url: &str, chat: &Chat) -> PathBuf {
    let key = format!("{url}\n{}\n{}", chat.tenant.id, chat.id);
    std::env::temp_dir()
        .join("switchboard-chat")
        .join(format!("{:016x}.json", fnv1a(key.as_bytes())))
}

/// Records the position of a message just sent. A failure to write only costs a later
/// `chat wait` its default, so it is reported and otherwise ignored.
pub fn save(url: &str, chat: &Chat, position: i64) {
    let p = path(url, chat);
    let body =
        json!({ "url": url, "tenant": chat.tenant.id, "chat": chat.id, "position": position });
    let res = p
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&p, body.to_string()));
    if let Err(e) = res {
        eprintln!(
            "warning: cannot record the sent position in {}: {e}",
            p.display()
        );
    }
}

/// The recorded position, if any.
pub fn load(url: &str, chat: &Chat) -> Option<i64> {
    let text = std::fs::read_to_string(path(url, chat)).ok()?;
    serde_json::from_str::<Value>(&text).ok()?["position"].as_i64()
}

/// FNV-1a, 64 bits: stable across builds and platforms, unlike std's hasher, so every
/// `switchboard` on the machine finds the same file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
