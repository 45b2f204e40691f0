//! `switchboard chat send`: a text message as a user or app, with `@name` mentions.

use super::client::Admin;
use super::resolve::{Actor, Chat, Directory};
use serde_json::{json, Value};

/// Sends `text` into `chat` as `sender` and answers the stored message.
pub async fn send(
    dir: &mut Directory<'_>,
    chat: &Chat,
    sender: &Actor,
    text: &str,
) -> anyhow::Result<Value> {
    let (text, mentions) = dir.mentions(chat.tenant.id, text).await?;
    let body = json!({
        "sender": sender.body(),
        "type": "text",
        "content": { "text": text },
        "mentions": mentions,
    });
    let path = format!("/tenants/{}/chats/{}/messages", chat.tenant.id, chat.id);
    let admin: &Admin = dir.admin;
    admin.post(&path, body).await
}

/// The command: resolve, send, remember the position, print the message.
pub async fn run(
    admin: &Admin,
    tenant: Option<&str>,
    chat: &str,
    sender: &str,
    text: &str,
) -> anyhow::Result<()> {
    let mut dir = Directory::new(admin);
    let chat = dir.chat(tenant, chat).await?;
    let sender = dir.actor(chat.tenant.id, sender).await?;
    let msg = send(&mut dir, &chat, &sender, text).await?;
    if let Some(p) = msg["position"].as_i64() {
        super::state::save(admin.base(), &chat, p);
    }
    crate::outln(msg)
}
