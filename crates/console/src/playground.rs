//! The playground: pick a tenant and a user to act as, open one of that user's chats, and
//! talk to the bots in it. The timeline opens at its last page and pages back by position;
//! what the composer does is in `compose`, a message's own page in `inspect`.

use crate::api::ApiError;
use crate::compose::shown;
use crate::model::*;
use crate::names::{complete, names, quoted};
use crate::page::{html, time, Flash, Layout};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// Chats listed per page, messages per timeline page.
pub const CHAT_PAGE: u32 = 50;
pub const MESSAGE_PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct PlayQuery {
    tenant: Option<i64>,
    #[serde(rename = "as")]
    acting: Option<i64>,
    chat: Option<i64>,
    /// Timeline: the page before this position (absent: the last page).
    before: Option<i64>,
    /// Chat list: chats after this id.
    chats_after: Option<i64>,
}

/// One message as the timeline shows it.
pub struct Row {
    pub id: i64,
    pub position: i64,
    pub sender: String,
    pub from_app: bool,
    pub mine: bool,
    pub text: String,
    pub kind: String,
    pub at: String,
    pub edited: bool,
    pub removed: bool,
    pub quote: String,
    pub in_thread: bool,
    /// Changes whenever the message does (the live stream's key).
    pub version: String,
}

impl Row {
    pub fn new(m: &Message, names: &Names, acting: i64, quotes: &[Message]) -> Row {
        let quote = m
            .reply_to
            .and_then(|r| quotes.iter().find(|q| q.id == r))
            .map(|q| {
                let who = names.of(&q.sender.kind, q.sender.id);
                let text: String = shown(&q.text).chars().take(80).collect();
                format!("{who}: {text}")
            })
            .unwrap_or_default();
        let removed = m.removed.as_ref().is_some_and(|r| !r.is_null());
        Row {
            id: m.id,
            position: m.position.unwrap_or(0),
            sender: names.of(&m.sender.kind, m.sender.id),
            from_app: m.sender.kind == "app",
            mine: m.sender.kind == "user" && m.sender.id == acting,
            text: if removed {
                "This message was recalled.".into()
            } else {
                shown(&m.text)
            },
            kind: m.kind.clone(),
            at: time(m.created_at),
            edited: m.updated,
            removed,
            quote,
            in_thread: m.thread_id.as_ref().is_some_and(|t| !t.is_null()),
            version: Row::version_of(m),
        }
    }

    /// What changes whenever the message does: its last update, and whether it was removed.
    pub fn version_of(m: &Message) -> String {
        let removed = m.removed.as_ref().is_some_and(|r| !r.is_null());
        format!("{}-{}", m.updated_at, removed)
    }
}

/// The timeline's message, alone: what the live stream sends.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessageFragment<'a> {
    pub m: &'a Row,
    pub tenant: i64,
    pub chat: i64,
    pub acting: i64,
    pub csrf: &'a str,
}

pub struct ChatLink {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub bots: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "playground.html")]
struct Playground {
    layout: Layout,
    tenants: Vec<Tenant>,
    tenant: i64,
    users: Vec<User>,
    acting: i64,
    chats: Vec<ChatLink>,
    more_chats: Option<i64>,
    chat: Option<Chat>,
    chat_title: String,
    member: bool,
    mentionable: Vec<(String, String)>,
    rows: Vec<Row>,
    older: Option<i64>,
    /// The last page is shown: new messages join it live.
    live: bool,
}

impl Playground {
    fn fragment<'a>(&'a self, m: &'a Row) -> MessageFragment<'a> {
        MessageFragment {
            m,
            tenant: self.tenant,
            chat: self.chat.as_ref().map_or(0, |c| c.id),
            acting: self.acting,
            csrf: &self.layout.csrf,
        }
    }
}

pub async fn page(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<PlayQuery>,
    Query(flash): Query<Flash>,
) -> Result<Response, ApiError> {
    let layout = Layout::new(&signed, "playground", &flash);
    let tenants: Items<Tenant> = c.api.get("/tenants?limit=1000").await?;
    let tenant = q
        .tenant
        .or_else(|| tenants.items.first().map(|t| t.id))
        .unwrap_or(0);
    let (users, _, mut names) = if tenant > 0 {
        names(&c, tenant).await?
    } else {
        Default::default()
    };
    let acting = q
        .acting
        .filter(|a| users.iter().any(|u| u.id == *a))
        .or_else(|| users.first().map(|u| u.id))
        .unwrap_or(0);
    let mut chats = Vec::new();
    let mut more_chats = None;
    if acting > 0 {
        let after = q.chats_after.unwrap_or(0);
        let page: Items<Chat> = c
            .api
            .get(&format!(
                "/tenants/{tenant}/users/{acting}/chats?after={after}&limit={CHAT_PAGE}"
            ))
            .await?;
        if page.items.len() == CHAT_PAGE as usize {
            more_chats = page.items.last().map(|c| c.id);
        }
        let parties = page
            .items
            .iter()
            .flat_map(|ch| ch.members.iter().map(|m| (m.kind.clone(), m.id)))
            .collect::<Vec<_>>();
        complete(&c, tenant, &mut names, parties).await;
        for ch in page.items {
            chats.push(ChatLink {
                id: ch.id,
                name: chat_title(&ch, &names, acting),
                kind: ch.kind.clone(),
                bots: bots(&ch, &names),
                current: Some(ch.id) == q.chat,
            });
        }
    }
    let mut chat = None;
    let mut rows = Vec::new();
    let mut older = None;
    let mut member = false;
    let mut mentionable = Vec::new();
    if let (Some(id), true) = (q.chat, tenant > 0) {
        let ch: Chat = c.api.get(&format!("/tenants/{tenant}/chats/{id}")).await?;
        member = ch
            .members
            .iter()
            .any(|m| m.kind == "user" && m.id == acting);
        let parties = ch
            .members
            .iter()
            .map(|m| (m.kind.clone(), m.id))
            .collect::<Vec<_>>();
        complete(&c, tenant, &mut names, parties).await;
        if member {
            let before = q.before.filter(|b| *b >= 1).unwrap_or(ch.last_position + 1);
            let msgs: MessagePage = c
                .api
                .get(&format!(
                    "/tenants/{tenant}/chats/{id}/messages?before_position={before}&limit={MESSAGE_PAGE}"
                ))
                .await?;
            if msgs.has_more {
                older = msgs.next_before_position;
            }
            let quotes = quoted(&c, tenant, id, &msgs.items).await;
            let senders = msgs
                .items
                .iter()
                .chain(&quotes)
                .map(|m| (m.sender.kind.clone(), m.sender.id))
                .collect::<Vec<_>>();
            complete(&c, tenant, &mut names, senders).await;
            rows = msgs
                .items
                .iter()
                .map(|m| Row::new(m, &names, acting, &quotes))
                .collect();
            if ch.kind != "p2p" {
                mentionable.push(("all".to_string(), "All members (@all)".to_string()));
            }
            for m in &ch.members {
                if m.kind == "user" && m.id == acting {
                    continue;
                }
                mentionable.push((format!("{}:{}", m.kind, m.id), names.of(&m.kind, m.id)));
            }
        }
        chat = Some(ch);
    }
    let chat_title = chat
        .as_ref()
        .map(|ch| chat_title(ch, &names, acting))
        .unwrap_or_default();
    Ok(html(&Playground {
        layout,
        tenants: tenants.items,
        tenant,
        users,
        acting,
        chats,
        more_chats,
        chat,
        chat_title,
        member,
        mentionable,
        rows,
        older,
        live: q.before.is_none(),
    }))
}

/// A group's name; a p2p chat is named by the other party.
pub fn chat_title(ch: &Chat, names: &Names, acting: i64) -> String {
    if ch.kind == "p2p" {
        if let Some(other) = ch
            .members
            .iter()
            .find(|m| !(m.kind == "user" && m.id == acting))
        {
            return names.of(&other.kind, other.id);
        }
    }
    if ch.name.is_empty() {
        format!("chat {}", ch.id)
    } else {
        ch.name.clone()
    }
}

fn bots(ch: &Chat, names: &Names) -> String {
    let v: Vec<String> = ch
        .members
        .iter()
        .filter(|m| m.kind == "app")
        .map(|m| names.of("app", m.id))
        .collect();
    v.join(", ")
}
