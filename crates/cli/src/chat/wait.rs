//! `switchboard chat wait`: polls a chat's timeline until a message from a given sender
//! (matching a pattern, when given) arrives after a position, or the time is up.

use super::client::Admin;
use super::resolve::{Actor, Chat, Directory};
use regex::Regex;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How often the timeline is read while waiting.
const POLL: Duration = Duration::from_millis(100);

/// What a wait looks for.
pub struct Expect<'a> {
    pub from: &'a Actor,
    pub pattern: Option<&'a Regex>,
    /// Only messages at a later position count.
    pub after: i64,
    pub within: Duration,
}

pub enum Waited {
    /// The message looked for.
    Found(Value),
    /// Time is up; every message that arrived after the position meanwhile, in order.
    TimedOut(Vec<Value>),
}

/// The text a pattern is matched against: the plain rendition, else the content's JSON.
pub fn text_of(m: &Value) -> String {
    match m["text"].as_str() {
        Some(t) => t.to_string(),
        None => m["content"].to_string(),
    }
}

pub async fn wait(admin: &Admin, chat: &Chat, e: &Expect<'_>) -> anyhow::Result<Waited> {
    let until = Instant::now() + e.within;
    let mut cursor = e.after;
    let mut arrived = Vec::new();
    loop {
        let page = admin
            .get(&format!(
                "/tenants/{}/chats/{}/messages?after_position={cursor}&limit=1000",
                chat.tenant.id, chat.id
            ))
            .await?;
        for m in page["items"].as_array().cloned().unwrap_or_default() {
            cursor = m["position"].as_i64().unwrap_or(cursor).max(cursor);
            let hit = e.from.is(&m["sender"])
                && m["removed"].is_null()
                && e.pattern.is_none_or(|p| p.is_match(&text_of(&m)));
            if hit {
                return Ok(Waited::Found(m));
            }
            arrived.push(m);
        }
        if page["has_more"] == true {
            continue;
        }
        if Instant::now() >= until {
            return Ok(Waited::TimedOut(arrived));
        }
        tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now()))).await;
    }
}

/// The command. Without `--after`, waits after the last `chat send` this machine made to
/// the chat, or else after the chat's last message when the command starts.
pub async fn run(
    admin: &Admin,
    tenant: Option<&str>,
    chat: &str,
    from: &str,
    pattern: Option<&str>,
    after: Option<i64>,
    within: Duration,
) -> anyhow::Result<()> {
    let pattern = pattern
        .map(Regex::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--match: {e}"))?;
    let mut dir = Directory::new(admin);
    let chat = dir.chat(tenant, chat).await?;
    let from = dir.actor(chat.tenant.id, from).await?;
    let after = after
        .or_else(|| super::state::load(admin.base(), &chat))
        .unwrap_or(chat.last_position);
    let e = Expect {
        from: &from,
        pattern: pattern.as_ref(),
        after,
        within,
    };
    match wait(admin, &chat, &e).await? {
        Waited::Found(m) => crate::outln(m),
        Waited::TimedOut(arrived) => {
            let what = describe(&e);
            let seen = super::log::text_lines(&mut dir, &chat, &arrived).await;
            anyhow::bail!(
                "timed out after {} waiting for {what} after position {after}; {}",
                super::duration::show(within),
                arrived_report(&seen)
            )
        }
    }
}

/// `a message from bot matching /^hi/`.
pub fn describe(e: &Expect<'_>) -> String {
    match e.pattern {
        Some(p) => format!("a message from {} matching /{}/", e.from.name, p.as_str()),
        None => format!("a message from {}", e.from.name),
    }
}

/// `nothing arrived`, or `arrived meanwhile:` and one indented line per message.
pub fn arrived_report(lines: &[String]) -> String {
    if lines.is_empty() {
        return "nothing arrived meanwhile".into();
    }
    let mut s = String::from("arrived meanwhile:");
    for l in lines {
        s.push_str("\n  ");
        s.push_str(l);
    }
    s
}
