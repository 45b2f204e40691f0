//! The playground: pick a tenant and a user to act as, open one of that user's chats, and
//! talk to the bots in it. Sends, replies, edits and recalls are admin-API calls made as
//! that user; the timeline opens at its last page and pages back by position.

use crate::api::{seg, ApiError, ApiResult};
use crate::model::*;
use crate::page::{back_with, html, time, CsrfForm, Flash, Layout};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

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
            version: format!("{}-{}", m.updated_at, removed),
        }
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

/// Everything a tenant's pages name: its users and apps (the first thousand of each).
pub async fn names(c: &Console, tenant: i64) -> ApiResult<(Vec<User>, Vec<App>, Names)> {
    let users: Items<User> = c
        .api
        .get(&format!("/tenants/{tenant}/users?limit=1000"))
        .await?;
    let apps: Items<App> = c
        .api
        .get(&format!("/tenants/{tenant}/apps?limit=1000"))
        .await?;
    let names = Names::new(&users.items, &apps.items);
    Ok((users.items, apps.items, names))
}

/// Completes `names` with the parties it lacks (a tenant's users and apps past the first
/// thousand), one admin-API read each.
pub async fn complete(
    c: &Console,
    tenant: i64,
    names: &mut Names,
    parties: impl IntoIterator<Item = (String, i64)>,
) {
    for (kind, id) in parties {
        if names.knows(&kind, id) {
            continue;
        }
        let path = match kind.as_str() {
            "app" => format!("/tenants/{tenant}/apps/{id}"),
            _ => format!("/tenants/{tenant}/users/{id}"),
        };
        if let Ok(v) = c.api.admin(Method::GET, &path, None).await {
            if let Some(name) = v["name"].as_str() {
                names.learn(&kind, id, name.to_string());
            }
        }
    }
}

/// The messages a page of rows quotes, fetched once each.
pub async fn quoted(c: &Console, tenant: i64, chat: i64, page: &[Message]) -> Vec<Message> {
    let mut out: Vec<Message> = Vec::new();
    for r in page.iter().filter_map(|m| m.reply_to) {
        if out.iter().any(|q| q.id == r) {
            continue;
        }
        if let Some(q) = page.iter().find(|m| m.id == r) {
            out.push(q.clone());
        } else if let Ok(q) = c
            .api
            .get::<Message>(&format!("/tenants/{tenant}/chats/{chat}/messages/{r}"))
            .await
        {
            out.push(q);
        }
    }
    out
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

#[derive(Deserialize)]
pub struct SendForm {
    tenant: i64,
    #[serde(rename = "as")]
    acting: i64,
    chat: i64,
    #[serde(default)]
    text: String,
    #[serde(default)]
    reply_to: String,
    #[serde(default)]
    thread: Option<String>,
}

fn back(tenant: i64, acting: i64, chat: i64) -> String {
    format!("/console/playground?tenant={tenant}&as={acting}&chat={chat}")
}

/// Scripts ask for JSON (`Accept: application/json`); a plain form gets a redirect.
fn answer(headers: &HeaderMap, back: &str, r: ApiResult<Value>, done: &str) -> Response {
    let wants_json = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    match (r, wants_json) {
        (Ok(v), true) => Json(json!({ "ok": true, "message": v })).into_response(),
        (Err(e), true) => (
            if e.status.is_success() {
                StatusCode::BAD_REQUEST
            } else {
                e.status
            },
            Json(json!({ "ok": false, "code": e.code, "error": e.message })),
        )
            .into_response(),
        (Ok(_), false) => back_with(back, "notice", done),
        (Err(e), false) => back_with(back, "error", &e.message),
    }
}

/// A text as a reader sees it: each `<at id="KEY">name</at>` as `@name` (the form the
/// composer takes back).
pub fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at ") {
        let tail = &rest[start..];
        let parsed = tail.find('>').and_then(|open| {
            let close = tail[open..].find("</at>")? + open;
            Some((&tail[open + 1..close], close + "</at>".len()))
        });
        match parsed {
            Some((name, len)) => {
                out.push_str(&rest[..start]);
                out.push('@');
                out.push_str(name);
                rest = &tail[len..];
            }
            None => break,
        }
    }
    out.push_str(rest);
    out
}

/// Turns `@Name` in the composer's text into the mentions the admin API takes: each
/// member's name (longest first, so "Ann Lee" wins over "Ann") and `@all` in groups.
pub fn mentions(text: &str, members: &[(String, String)]) -> (String, Vec<Value>) {
    let mut cands: Vec<&(String, String)> = members.iter().collect();
    cands.sort_by_key(|(_, name)| std::cmp::Reverse(name.chars().count()));
    let mut out = String::with_capacity(text.len());
    let mut list: Vec<Value> = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let hit = cands.iter().find_map(|(key, name)| {
            let word = if key == "all" { "all" } else { name.as_str() };
            after.starts_with(word).then_some((key, word))
        });
        match hit {
            Some((key, word)) if !word.is_empty() => {
                let n = list.len() + 1;
                let (entry, shown) = if key == "all" {
                    (
                        json!({ "key": n.to_string(), "type": "all", "name": "all" }),
                        "all",
                    )
                } else {
                    let (kind, id) = key.split_once(':').unwrap_or(("user", key));
                    let id: i64 = id.parse().unwrap_or(0);
                    (
                        json!({ "key": n.to_string(), "type": kind, "id": id, "name": word }),
                        word,
                    )
                };
                list.push(entry);
                out.push_str(&format!("<at id=\"{n}\">{shown}</at>"));
                rest = &after[word.len()..];
            }
            _ => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    (out, list)
}

async fn mentionable(c: &Console, tenant: i64, chat: i64) -> ApiResult<Vec<(String, String)>> {
    let ch: Chat = c
        .api
        .get(&format!("/tenants/{tenant}/chats/{chat}"))
        .await?;
    let (_, _, mut names) = names(c, tenant).await?;
    let parties = ch
        .members
        .iter()
        .map(|m| (m.kind.clone(), m.id))
        .collect::<Vec<_>>();
    complete(c, tenant, &mut names, parties).await;
    let mut v: Vec<(String, String)> = ch
        .members
        .iter()
        .map(|m| (format!("{}:{}", m.kind, m.id), names.of(&m.kind, m.id)))
        .collect();
    if ch.kind != "p2p" {
        v.push(("all".into(), "all".into()));
    }
    Ok(v)
}

pub async fn send(
    State(c): State<Console>,
    headers: HeaderMap,
    CsrfForm(f, _): CsrfForm<SendForm>,
) -> Response {
    let back = back(f.tenant, f.acting, f.chat);
    let r = async {
        if f.text.trim().is_empty() {
            return Err(ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_argument".into(),
                message: "write a message first".into(),
            });
        }
        let members = mentionable(&c, f.tenant, f.chat).await?;
        let (text, mentions) = mentions(&f.text, &members);
        let mut body = json!({
            "sender": { "type": "user", "id": f.acting },
            "type": "text",
            "content": { "text": text },
            "mentions": mentions,
        });
        if let Ok(r) = f.reply_to.trim().parse::<i64>() {
            body["reply_to"] = json!(r);
            body["reply_in_thread"] = json!(f.thread.is_some());
        }
        c.api
            .admin(
                Method::POST,
                &format!("/tenants/{}/chats/{}/messages", f.tenant, f.chat),
                Some(&body),
            )
            .await
    }
    .await;
    answer(&headers, &back, r, "Sent.")
}

#[derive(Deserialize)]
pub struct EditForm {
    tenant: i64,
    #[serde(rename = "as")]
    acting: i64,
    chat: i64,
    message: i64,
    #[serde(default)]
    text: String,
}

impl EditForm {
    fn path(&self) -> String {
        format!(
            "/tenants/{}/chats/{}/messages/{}",
            self.tenant, self.chat, self.message
        )
    }
}

pub async fn edit(
    State(c): State<Console>,
    headers: HeaderMap,
    CsrfForm(f, _): CsrfForm<EditForm>,
) -> Response {
    let back = back(f.tenant, f.acting, f.chat);
    let r = async {
        let path = f.path();
        own_message(&c, &path, f.acting).await?;
        let members = mentionable(&c, f.tenant, f.chat).await?;
        let (text, mentions) = mentions(&f.text, &members);
        let body = json!({ "type": "text", "content": { "text": text }, "mentions": mentions });
        c.api.admin(Method::PUT, &path, Some(&body)).await
    }
    .await;
    answer(&headers, &back, r, "Edited.")
}

/// The playground acts as one user: it edits and recalls only that user's messages.
async fn own_message(c: &Console, path: &str, acting: i64) -> ApiResult<Message> {
    let m: Message = c.api.get(path).await?;
    if m.sender
        != (ActorRef {
            kind: "user".into(),
            id: acting,
        })
    {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "not_the_sender".into(),
            message: "only the user you act as can change their own messages".into(),
        });
    }
    Ok(m)
}

pub async fn recall(
    State(c): State<Console>,
    headers: HeaderMap,
    CsrfForm(f, _): CsrfForm<EditForm>,
) -> Response {
    let back = back(f.tenant, f.acting, f.chat);
    let r = async {
        let path = f.path();
        own_message(&c, &path, f.acting).await?;
        c.api.admin(Method::DELETE, &path, None).await
    }
    .await;
    answer(&headers, &back, r, "Recalled.")
}

#[derive(Deserialize)]
pub struct InspectQuery {
    tenant: i64,
    chat: i64,
    message: String,
}

pub struct Delivered {
    pub app: String,
    pub app_key: i64,
    pub event_id: String,
    pub event_type: String,
    pub dialect: String,
    pub status: String,
    pub attempts: usize,
}

#[derive(Template)]
#[template(path = "inspect.html")]
struct Inspect {
    layout: Layout,
    tenant: i64,
    chat: i64,
    message: String,
    json: String,
    deliveries: Vec<Delivered>,
}

/// A message's own page: the stored message as the admin API gives it, and every event
/// delivered to a bot of its chat for it, with the way to the Inspector.
pub async fn inspect(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<InspectQuery>,
) -> Result<Response, ApiError> {
    let layout = Layout::new(&signed, "playground", &Flash::default());
    let m = c
        .api
        .admin(
            Method::GET,
            &format!(
                "/tenants/{}/chats/{}/messages/{}",
                q.tenant,
                q.chat,
                seg(&q.message)
            ),
            None,
        )
        .await?;
    let id = m["id"].as_i64().unwrap_or(0);
    let ch: Chat = c
        .api
        .get(&format!("/tenants/{}/chats/{}", q.tenant, q.chat))
        .await?;
    let (_, _, names) = names(&c, q.tenant).await?;
    let mut deliveries = Vec::new();
    for bot in ch.members.iter().filter(|m| m.kind == "app") {
        let page: Value = c
            .api
            .get(&format!(
                "/tenants/{}/apps/{}/deliveries?limit=200",
                q.tenant, bot.id
            ))
            .await?;
        for d in page["items"].as_array().into_iter().flatten() {
            if d["message"].as_i64() != Some(id) {
                continue;
            }
            deliveries.push(Delivered {
                app: names.of("app", bot.id),
                app_key: bot.id,
                event_id: d["event_id"].as_str().unwrap_or_default().into(),
                event_type: d["event_type"].as_str().unwrap_or_default().into(),
                dialect: d["dialect"].as_str().unwrap_or_default().into(),
                status: d["status"].as_str().unwrap_or_default().into(),
                attempts: d["attempts"].as_array().map_or(0, Vec::len),
            });
        }
    }
    Ok(html(&Inspect {
        layout,
        tenant: q.tenant,
        chat: q.chat,
        message: id.to_string(),
        json: serde_json::to_string_pretty(&m).unwrap_or_default(),
        deliveries,
    }))
}

#[cfg(test)]
mod tests {
    use super::{mentions, shown};

    #[test]
    fn at_tags_are_shown_as_at_names() {
        assert_eq!(
            shown("<at id=\"1\">Bob</at> and <at id=\"2\">all</at>: hi <at"),
            "@Bob and @all: hi <at"
        );
        assert_eq!(shown("no mentions"), "no mentions");
    }

    use serde_json::json;

    #[test]
    fn at_names_become_mentions_longest_name_first() {
        let members = vec![
            ("user:1".to_string(), "Ann".to_string()),
            ("user:2".to_string(), "Ann Lee".to_string()),
            ("app:7".to_string(), "EchoBot".to_string()),
            ("all".to_string(), "all".to_string()),
        ];
        let (text, list) = mentions("hi @Ann Lee and @EchoBot, @all; mail a@b", &members);
        assert_eq!(
            text,
            "hi <at id=\"1\">Ann Lee</at> and <at id=\"2\">EchoBot</at>, <at id=\"3\">all</at>; mail a@b"
        );
        assert_eq!(
            list,
            vec![
                json!({"key": "1", "type": "user", "id": 2, "name": "Ann Lee"}),
                json!({"key": "2", "type": "app", "id": 7, "name": "EchoBot"}),
                json!({"key": "3", "type": "all", "name": "all"}),
            ]
        );
    }
}
