//! `switchboard chat log`: the last messages of a chat, as JSON lines or as text.

use super::client::Admin;
use super::resolve::{Chat, Directory};
use serde_json::Value;

/// How `chat log` prints each message.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line.
    Json,
    /// `position  sender: text`.
    Text,
}

/// The chat's last `last` messages, oldest first.
pub async fn last(admin: &Admin, chat: &Chat, last: u32) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after = (chat.last_position - i64::from(last)).max(0);
    while out.len() < last as usize {
        let want = (last as usize - out.len()).min(1000);
        let page = admin
            .get(&format!(
                "/tenants/{}/chats/{}/messages?after_position={after}&limit={want}",
                chat.tenant.id, chat.id
            ))
            .await?;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        let Some(p) = items.last().and_then(|m| m["position"].as_i64()) else {
            break;
        };
        after = p;
        out.extend(items);
        if page["has_more"] != true {
            break;
        }
    }
    Ok(out)
}

/// `position  sender: text` of each message (a removed one says so).
pub async fn text_lines(dir: &mut Directory<'_>, chat: &Chat, msgs: &[Value]) -> Vec<String> {
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let who = dir.sender_name(chat.tenant.id, &m["sender"]).await;
        let text = match m["removed"]["kind"].as_str() {
            Some(kind) => format!("({kind})"),
            None => super::wait::text_of(m),
        };
        out.push(format!("{}  {who}: {text}", m["position"]));
    }
    out
}

pub async fn run(
    admin: &Admin,
    tenant: Option<&str>,
    chat: &str,
    n: u32,
    format: Format,
) -> anyhow::Result<()> {
    let mut dir = Directory::new(admin);
    let chat = dir.chat(tenant, chat).await?;
    let msgs = last(admin, &chat, n).await?;
    match format {
        Format::Json => {
            for m in &msgs {
                crate::outln(m)?;
            }
        }
        Format::Text => {
            for l in text_lines(&mut dir, &chat, &msgs).await {
                crate::outln(l)?;
            }
        }
    }
    Ok(())
}
