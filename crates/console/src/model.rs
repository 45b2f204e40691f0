//! The admin API's answers, as the pages read them (only the fields they show).

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Clone, Deserialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub dialect_ids: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    pub user_id: String,
    pub account_id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct App {
    pub id: i64,
    pub app_id: String,
    pub name: String,
    #[serde(default)]
    pub spid: Value,
    pub bot_enabled: bool,
    pub signing_required: bool,
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ActorRef {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: i64,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub dissolved: bool,
    #[serde(default)]
    pub last_position: i64,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub dialect_ids: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub id: i64,
    pub chat_id: i64,
    pub position: Option<i64>,
    pub sender: ActorRef,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: String,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub updated: bool,
    #[serde(default)]
    pub removed: Option<Value>,
    pub reply_to: Option<i64>,
    pub thread_id: Option<Value>,
    #[serde(default)]
    pub dialect_ids: Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessagePage {
    pub items: Vec<Message>,
    pub has_more: bool,
    #[serde(default)]
    pub next_before_position: Option<i64>,
}

/// Display names of a tenant's users and apps.
#[derive(Debug, Clone, Default)]
pub struct Names {
    users: HashMap<i64, String>,
    apps: HashMap<i64, String>,
}

impl Names {
    pub fn new(users: &[User], apps: &[App]) -> Self {
        Names {
            users: users.iter().map(|u| (u.id, u.name.clone())).collect(),
            apps: apps.iter().map(|a| (a.id, a.name.clone())).collect(),
        }
    }

    /// Learns one name (a party beyond the first thousand of its kind).
    pub fn learn(&mut self, kind: &str, id: i64, name: String) {
        match kind {
            "app" => self.apps.insert(id, name),
            _ => self.users.insert(id, name),
        };
    }

    pub fn knows(&self, kind: &str, id: i64) -> bool {
        match kind {
            "app" => self.apps.contains_key(&id),
            _ => self.users.contains_key(&id),
        }
    }

    pub fn of(&self, kind: &str, id: i64) -> String {
        let known = match kind {
            "app" => self.apps.get(&id),
            _ => self.users.get(&id),
        };
        known.cloned().unwrap_or_else(|| format!("{kind} {id}"))
    }
}
