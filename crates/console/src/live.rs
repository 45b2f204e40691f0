//! The playground's live timeline: server-sent events carrying each new or changed message,
//! rendered as the page renders it.
//!
//! The stream reads the chat through the admin API on a short tick and sends a message
//! whenever its version (last update, recalled or not) differs from what it last sent. It
//! starts by sending the newest window whole, so a change between the page's load and the
//! stream's start is not missed; the page skips what it already shows. Reading on a tick,
//! rather than listening to this process's writes, also shows messages written by another
//! node on the same PostgreSQL.

use crate::api::ApiError;
use crate::model::{Message, MessagePage, Names};
use crate::names::{complete, names, quoted};
use crate::playground::{MessageFragment, Row};
use crate::session::Signed;
use crate::Console;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

/// How often the stream reads the chat: well within the second a new message may take to
/// show.
pub const TICK: Duration = Duration::from_millis(250);
/// How many of the newest positions the stream watches for edits and recalls.
const WINDOW: i64 = 100;

#[derive(Deserialize)]
pub struct LiveQuery {
    tenant: i64,
    #[serde(rename = "as")]
    acting: i64,
    chat: i64,
}

struct Watch {
    console: Console,
    tenant: i64,
    acting: i64,
    chat: i64,
    csrf: String,
    names: Names,
    /// Position → the version last sent.
    sent: BTreeMap<i64, String>,
    /// The newest window has not been read yet.
    first: bool,
}

impl Watch {
    /// The new or changed messages since the last read, oldest first.
    async fn tick(&mut self) -> Result<Vec<Event>, ApiError> {
        let top = self.sent.keys().next_back().copied().unwrap_or(0);
        let from = (top - WINDOW).max(0);
        let path = format!(
            "/tenants/{}/chats/{}/messages?after_position={from}&limit=1000",
            self.tenant, self.chat
        );
        let page: MessagePage = if self.first {
            // The newest window, wherever the chat stands.
            let ch: crate::model::Chat = self
                .console
                .api
                .get(&format!("/tenants/{}/chats/{}", self.tenant, self.chat))
                .await?;
            let before = ch.last_position + 1;
            self.console
                .api
                .get(&format!(
                    "/tenants/{}/chats/{}/messages?before_position={before}&limit={WINDOW}",
                    self.tenant, self.chat
                ))
                .await?
        } else {
            self.console.api.get(&path).await?
        };
        self.first = false;
        let changed: Vec<&Message> = page
            .items
            .iter()
            .filter(|m| self.sent.get(&m.position.unwrap_or(0)) != Some(&Row::version_of(m)))
            .collect();
        if changed.is_empty() {
            return Ok(Vec::new());
        }
        let quotes = quoted(&self.console, self.tenant, self.chat, &page.items).await;
        let senders: Vec<(String, i64)> = changed
            .iter()
            .copied()
            .chain(&quotes)
            .map(|m| (m.sender.kind.clone(), m.sender.id))
            .collect();
        complete(&self.console, self.tenant, &mut self.names, senders).await;
        let mut events = Vec::with_capacity(changed.len());
        for m in changed {
            let row = Row::new(m, &self.names, self.acting, &quotes);
            let html = MessageFragment {
                m: &row,
                tenant: self.tenant,
                chat: self.chat,
                acting: self.acting,
                csrf: &self.csrf,
            }
            .render()
            .unwrap_or_default();
            let data = json!({ "position": row.position, "version": row.version, "html": html });
            events.push(Event::default().event("message").data(data.to_string()));
            self.sent.insert(row.position, row.version);
        }
        let keep_from = self.sent.keys().next_back().copied().unwrap_or(0) - WINDOW;
        self.sent.retain(|p, _| *p > keep_from);
        Ok(events)
    }
}

/// A server-sent event stream that runs `step` at once and then every `tick`, sending the
/// events each run returns, in order, until the server begins to shut down.
pub(crate) fn ticking<S, F, Fut>(console: Console, tick: Duration, state: S, step: F) -> Response
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Send + 'static,
    Fut: Future<Output = (S, Vec<Event>)> + Send + 'static,
{
    let init = (console, step, state, VecDeque::new(), false);
    let stream = futures_util::stream::unfold(
        init,
        move |(console, step, mut state, mut pending, mut started)| async move {
            loop {
                if let Some(e) = pending.pop_front() {
                    let next = (console, step, state, pending, started);
                    return Some((Ok::<Event, Infallible>(e), next));
                }
                if started && !console.wait(tick).await {
                    return None;
                }
                started = true;
                let (after, events) = step(state).await;
                state = after;
                pending.extend(events);
            }
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

pub async fn timeline(
    State(c): State<Console>,
    signed: Signed,
    Query(q): Query<LiveQuery>,
) -> Result<impl IntoResponse, ApiError> {
    // Refuse at once what would fail on every tick.
    let (_, _, names) = names(&c, q.tenant).await?;
    let ch: crate::model::Chat = c
        .api
        .get(&format!("/tenants/{}/chats/{}", q.tenant, q.chat))
        .await?;
    if !ch
        .members
        .iter()
        .any(|m| m.kind == "user" && m.id == q.acting)
    {
        return Err(ApiError {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "not_a_member".into(),
            message: "the user you act as is not a member of this chat".into(),
        });
    }
    let watch = Watch {
        console: c.clone(),
        tenant: q.tenant,
        acting: q.acting,
        chat: q.chat,
        csrf: signed.0.csrf,
        names,
        sent: BTreeMap::new(),
        first: true,
    };
    Ok(ticking(c, TICK, watch, |mut w: Watch| async move {
        let events = w.tick().await.unwrap_or_else(|e| {
            // The chat went away or the store is down: say so, and keep trying.
            tracing::debug!(error = %e, "console live timeline read failed");
            let data = json!({ "error": e.message }).to_string();
            vec![Event::default().event("problem").data(data)]
        });
        (w, events)
    }))
}
