//! The composer, acting as the chosen user: send (with `@Name` mentions, replies and
//! threads), edit and recall, each one admin-API call.

use crate::api::{ApiError, ApiResult};
use crate::model::*;
use crate::names::{complete, names};
use crate::page::{back_with, CsrfForm};
use crate::Console;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

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

/// The chat's page, where the composer's answer returns.
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
