//! Plays a dialog's steps in order against a server. Each chat keeps a cursor: an
//! expectation looks only at messages after it, a `say` moves it to the message sent and a
//! met expectation to the message that met it, so expectations consume replies in turn.
//! The first failure ends the run; the steps after it are skipped.

use super::parse::{Action, Dialog};
use crate::chat::client::Admin;
use crate::chat::duration;
use crate::chat::resolve::{Chat, Directory};
use crate::chat::wait::{self, Expect, Waited};
use serde_json::Value;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

pub enum Outcome {
    /// What happened, briefly.
    Passed(String),
    /// Why, with what arrived instead.
    Failed(String),
    Skipped,
}

pub struct StepResult {
    /// 1-based.
    pub index: usize,
    pub line: usize,
    pub name: String,
    pub seconds: f64,
    pub outcome: Outcome,
}

/// How often the delivery log is read while expecting an event.
const POLL: Duration = Duration::from_millis(100);

/// Deliveries read per poll (the newest; the API's maximum).
const DELIVERY_PAGE: u32 = 200;

struct Run<'a> {
    dir: Directory<'a>,
    tenant: Option<String>,
    chats: HashMap<String, Chat>,
    /// Per chat id: expectations look after this position.
    cursor: HashMap<i64, i64>,
    /// Per app id and event type: deliveries that existed before the run or met an
    /// expectation.
    consumed: HashMap<(i64, String), HashSet<String>>,
}

pub async fn run(
    admin: &Admin,
    d: &Dialog,
    mut report: impl FnMut(&StepResult),
) -> Vec<StepResult> {
    let mut r = Run {
        dir: Directory::new(admin),
        tenant: d.tenant.clone(),
        chats: HashMap::new(),
        cursor: HashMap::new(),
        consumed: HashMap::new(),
    };
    // Events already in the log are not the dialog's: remember them before any step.
    for s in &d.steps {
        if let Action::ExpectEvent {
            event_type,
            app,
            chat,
            ..
        } = &s.action
        {
            if let Ok((tenant, app)) = r.app(app, chat.as_deref()).await {
                // Read with the filter the step polls with, so both see the same window.
                if let Entry::Vacant(slot) = r.consumed.entry((app.id, event_type.clone())) {
                    let ids = deliveries(admin, tenant, app.id, event_type)
                        .await
                        .map(|v| v.iter().map(event_id).collect())
                        .unwrap_or_default();
                    slot.insert(ids);
                }
            }
        }
    }
    let mut out = Vec::with_capacity(d.steps.len());
    let mut failed = false;
    for (i, s) in d.steps.iter().enumerate() {
        let started = Instant::now();
        let outcome = if failed {
            Outcome::Skipped
        } else {
            match r.step(&s.action).await {
                Ok(done) => Outcome::Passed(done),
                Err(e) => {
                    failed = true;
                    Outcome::Failed(format!("{e:#}"))
                }
            }
        };
        let res = StepResult {
            index: i + 1,
            line: s.line,
            name: s.name.clone(),
            seconds: started.elapsed().as_secs_f64(),
            outcome,
        };
        report(&res);
        out.push(res);
    }
    out
}

impl Run<'_> {
    async fn chat(&mut self, name: &str) -> anyhow::Result<Chat> {
        if let Some(c) = self.chats.get(name) {
            return Ok(c.clone());
        }
        let c = self.dir.chat(self.tenant.as_deref(), name).await?;
        self.cursor.entry(c.id).or_insert(c.last_position);
        self.chats.insert(name.to_string(), c.clone());
        Ok(c)
    }

    /// An app, in the tenant of the chat named (when one is) or of the dialog.
    async fn app(
        &mut self,
        name: &str,
        chat: Option<&str>,
    ) -> anyhow::Result<(i64, crate::chat::resolve::Actor)> {
        match chat {
            Some(c) => {
                let t = self.chat(c).await?.tenant.id;
                Ok((t, self.dir.actor(t, &format!("app:{name}")).await?))
            }
            None => {
                let (t, a) = self.dir.app_anywhere(self.tenant.as_deref(), name).await?;
                Ok((t.id, a))
            }
        }
    }

    async fn step(&mut self, a: &Action) -> anyhow::Result<String> {
        let admin = self.dir.admin;
        match a {
            Action::Say { text, sender, chat } => {
                let c = self.chat(chat).await?;
                let who = self.dir.actor(c.tenant.id, sender).await?;
                let m = crate::chat::send::send(&mut self.dir, &c, &who, text).await?;
                let p = m["position"].as_i64().unwrap_or_default();
                self.cursor.insert(c.id, p);
                Ok(format!("sent at position {p}"))
            }
            Action::Expect {
                pattern,
                from,
                chat,
                within,
            } => {
                let c = self.chat(chat).await?;
                let who = self.dir.actor(c.tenant.id, from).await?;
                let after = self.cursor[&c.id];
                let e = Expect {
                    from: &who,
                    pattern: Some(pattern),
                    after,
                    within: *within,
                };
                match wait::wait(admin, &c, &e).await? {
                    Waited::Found(m) => {
                        let p = m["position"].as_i64().unwrap_or(after);
                        self.cursor.insert(c.id, p);
                        Ok(format!("{} at position {p}", wait::text_of(&m)))
                    }
                    Waited::TimedOut(arrived) => {
                        let seen = crate::chat::log::text_lines(&mut self.dir, &c, &arrived).await;
                        anyhow::bail!(
                            "no {} within {} after position {after}; {}",
                            wait::describe(&e).trim_start_matches("a "),
                            duration::show(*within),
                            wait::arrived_report(&seen)
                        )
                    }
                }
            }
            Action::Recall { sender, chat } => {
                let c = self.chat(chat).await?;
                let who = self.dir.actor(c.tenant.id, sender).await?;
                // The chat as it is now: its last position has moved since it was resolved.
                let now = admin
                    .get(&format!("/tenants/{}/chats/{}", c.tenant.id, c.id))
                    .await?;
                let fresh = Chat {
                    last_position: now["last_position"].as_i64().unwrap_or(c.last_position),
                    ..c.clone()
                };
                let recent = crate::chat::log::last(admin, &fresh, 1000).await?;
                let Some(m) = recent
                    .iter()
                    .rev()
                    .find(|m| who.is(&m["sender"]) && m["removed"].is_null())
                else {
                    anyhow::bail!(
                        "{} has no message to recall among the chat's last 1000",
                        who.name
                    );
                };
                let id = &m["id"];
                admin
                    .delete(&format!(
                        "/tenants/{}/chats/{}/messages/{id}",
                        c.tenant.id, c.id
                    ))
                    .await?;
                Ok(format!(
                    "recalled the message at position {}",
                    m["position"]
                ))
            }
            Action::ExpectEvent {
                event_type,
                app,
                chat,
                within,
            } => {
                let chat_id = match chat {
                    Some(c) => Some(self.chat(c).await?.id),
                    None => None,
                };
                let (tenant, a) = self.app(app, chat.as_deref()).await?;
                let until = Instant::now() + *within;
                loop {
                    let all = deliveries(admin, tenant, a.id, event_type).await?;
                    let consumed = self.consumed.entry((a.id, event_type.clone())).or_default();
                    // Oldest first: the log lists the newest first.
                    let new: Vec<&Value> = all
                        .iter()
                        .rev()
                        .filter(|d| !consumed.contains(&event_id(d)))
                        .filter(|d| chat_id.is_none_or(|c| d["chat"].as_i64() == Some(c)))
                        .collect();
                    if let Some(d) = new.iter().find(|d| d["status"] == "delivered") {
                        consumed.insert(event_id(d));
                        return Ok(format!("event {} delivered", event_id(d)));
                    }
                    if Instant::now() >= until {
                        let mut why = format!(
                            "no {event_type} delivered to {} within {}",
                            a.name,
                            duration::show(*within)
                        );
                        if new.is_empty() {
                            why.push_str("; no such event was made meanwhile");
                        } else {
                            why.push_str("; made meanwhile but not delivered:");
                            for d in new {
                                let err = d["attempts"]
                                    .as_array()
                                    .and_then(|a| a.last())
                                    .map(|a| {
                                        format!(" (last attempt: {} {})", a["status"], a["error"])
                                    })
                                    .unwrap_or_default();
                                why.push_str(&format!("\n  {} {}{err}", event_id(d), d["status"]));
                            }
                        }
                        anyhow::bail!(why);
                    }
                    tokio::time::sleep(POLL.min(until.saturating_duration_since(Instant::now())))
                        .await;
                }
            }
        }
    }
}

fn event_id(d: &Value) -> String {
    d["event_id"].as_str().unwrap_or_default().to_string()
}

/// The app's newest deliveries of one event type.
async fn deliveries(
    admin: &Admin,
    tenant: i64,
    app: i64,
    event_type: &str,
) -> anyhow::Result<Vec<Value>> {
    let q = format!("&event_type={}", crate::chat::client::enc(event_type));
    let v = admin
        .get(&format!(
            "/tenants/{tenant}/apps/{app}/deliveries?limit={DELIVERY_PAGE}{q}"
        ))
        .await?;
    Ok(v["items"].as_array().cloned().unwrap_or_default())
}
