//! A conversation's history, page by page: `GET /im/v2.1/conversations/{conversation_id}/messages`
//! (the SDKs' `QueryMessagesByPage`), read from the conversation owner's view.
//!
//! A page is a run of timeline positions, so its token is a position (see
//! [`crate::ids::history_token`]): a send between two pages neither repeats nor skips a
//! message, and the newer message shows up when an ascending reader reaches it. Filters the
//! store cannot apply (`message_type`, what the owner no longer sees after a recall) are
//! applied here over a bounded number of store pages; a page may then come back shorter
//! than `limit`, still with `has_more` and a token, which is what the vendor's paging
//! contract allows.

use crate::auth::Caller;
use crate::content;
use crate::error::{code, ok, YunxinError};
use crate::extract::{parse_long, YxPath, YxQuery};
use crate::ids;
use crate::messages::visible_to;
use crate::render::{self, MessageData};
use crate::resolve::{self, Target};
use crate::YunxinState;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use switchboard_core::ids::{ChatId, TenantId};
use switchboard_core::input;
use switchboard_core::model::{Actor, Chat, ChatKind, Millis};
use switchboard_core::service::{Access, ListQuery, MessageView};
use switchboard_core::Core;

/// The largest `limit`, the vendor's documented maximum; also the default when none is sent
/// (0 or less, or more than this, is the vendor's documented 414).
pub const MAX_LIMIT: u32 = 100;
/// How many store pages one request may read while filters drop messages; past that, the
/// page ends where the scan stopped, with a token to go on.
const MAX_STORE_PAGES: usize = 10;

/// The query parameters both SDKs send. `include_no_sense_msg` and other parameters are
/// ignored (there are no "no sense" messages to include).
///
/// `descending` reads the other way round from its name, as the vendor documents it and
/// the Java SDK repeats: `true` is chronological order (正序), `false` newest first (倒序).
#[derive(Debug, Deserialize)]
pub struct HistoryParams {
    begin_time: Option<String>,
    end_time: Option<String>,
    limit: Option<String>,
    #[serde(default, deserialize_with = "input::opt_bool")]
    descending: Option<bool>,
    message_type: Option<String>,
    page_token: Option<String>,
    #[serde(default, deserialize_with = "input::opt_bool")]
    check_team_valid: Option<bool>,
}

/// A validated history request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    since: Option<Millis>,
    until: Option<Millis>,
    limit: u32,
    /// Newest first (`descending=false` or absent).
    newest_first: bool,
    /// `None`: every type.
    types: Option<Vec<i64>>,
    token: Option<String>,
    check_team: bool,
}

/// A time bound in ms, taken as written (so `end_time=0` ends the range at the epoch);
/// absent or empty means none.
fn time_bound(v: Option<&str>, name: &str) -> Result<Option<Millis>, YunxinError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => match parse_long(s) {
            Some(l) if l.0 >= 0 => Ok(Some(l.0)),
            _ => Err(YunxinError::param(format!(
                "{name} must be a time in milliseconds, not {s:?}"
            ))),
        },
    }
}

/// A page size: absent means [`MAX_LIMIT`]; 1 to [`MAX_LIMIT`]; anything else is 414.
pub(crate) fn limit(v: Option<&str>) -> Result<u32, YunxinError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(MAX_LIMIT),
        Some(s) => match parse_long(s) {
            Some(l) if (1..=i64::from(MAX_LIMIT)).contains(&l.0) => Ok(l.0 as u32),
            _ => Err(YunxinError::param(format!(
                "limit must be 1 to {MAX_LIMIT}, not {s:?}"
            ))),
        },
    }
}

/// `message_type`: comma-separated type numbers (`0,1,100`).
fn types(v: Option<&str>) -> Result<Option<Vec<i64>>, YunxinError> {
    let Some(raw) = v.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for t in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match parse_long(t) {
            Some(l) if content::kind_of(l.0).is_some() => out.push(l.0),
            _ => {
                return Err(YunxinError::param(format!(
                    "message_type {t:?} is not a message type (0-6, 10, 11 or 100)"
                )))
            }
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

impl TryFrom<HistoryParams> for Window {
    type Error = YunxinError;

    fn try_from(q: HistoryParams) -> Result<Self, YunxinError> {
        let since = time_bound(q.begin_time.as_deref(), "begin_time")?;
        let until = time_bound(q.end_time.as_deref(), "end_time")?;
        if let (Some(b), Some(e)) = (since, until) {
            if b > e {
                return Err(YunxinError::param(format!(
                    "begin_time {b} is after end_time {e}"
                )));
            }
        }
        Ok(Window {
            since,
            until,
            limit: limit(q.limit.as_deref())?,
            // Absent: newest first, as the vendor's v1 history answers by default.
            newest_first: !q.descending.unwrap_or(false),
            types: types(q.message_type.as_deref())?,
            token: q.page_token.filter(|t| !t.trim().is_empty()),
            check_team: q.check_team_valid.unwrap_or(true),
        })
    }
}

impl Window {
    fn keeps(&self, v: &MessageView, owner: Actor) -> bool {
        visible_to(&v.message, owner)
            && self
                .types
                .as_ref()
                .is_none_or(|t| t.contains(&content::type_number(v.message.kind)))
    }

    /// The position the token continues from, checked against the chat and order.
    fn start(&self, chat: ChatId) -> Result<Option<i64>, YunxinError> {
        match &self.token {
            None => Ok(None),
            Some(t) => ids::parse_history_token(t.trim(), chat, self.newest_first)
                .map(Some)
                .ok_or_else(|| {
                    YunxinError::param(
                        "page_token is not a token this conversation's history gave in this order",
                    )
                }),
        }
    }
}

/// One page of history as read: what to show, and where the next page starts.
struct Page {
    items: Vec<MessageView>,
    next: Option<i64>,
}

/// Reads store pages from `start` until `limit` kept messages and one more are found, the
/// range ends, or [`MAX_STORE_PAGES`] were read.
async fn scan(
    core: &Core,
    tenant: TenantId,
    access: Access,
    owner: Actor,
    chat: ChatId,
    w: &Window,
    start: Option<i64>,
) -> Result<Page, YunxinError> {
    let want = w.limit as usize;
    // One past the page: a full store page says another may follow.
    let chunk = w.limit + 1;
    let mut cursor = start;
    let mut items: Vec<MessageView> = Vec::with_capacity(want);
    for _ in 0..MAX_STORE_PAGES {
        let q = ListQuery {
            tenant,
            access,
            chat,
            after_position: if w.newest_first {
                0
            } else {
                cursor.unwrap_or(0)
            },
            before_position: if w.newest_first { cursor } else { None },
            since_ms: w.since,
            until_ms: w.until,
            limit: chunk,
            descending: w.newest_first,
        };
        let batch = core.list(q).await?;
        let full = batch.len() >= chunk as usize;
        for v in batch {
            let pos = v.message.id.position();
            if w.keeps(&v, owner) {
                if items.len() == want {
                    let next = items.last().and_then(|l| l.message.id.position());
                    return Ok(Page { items, next });
                }
                items.push(v);
            }
            cursor = pos.or(cursor);
        }
        if !full {
            return Ok(Page { items, next: None });
        }
    }
    Ok(Page {
        items,
        next: cursor,
    })
}

/// Whether the owner's membership (and the team's being live) is checked: always, but
/// for an advanced team read with `check_team_valid=false`.
fn checks_member(w: &Window, chat: &Chat) -> bool {
    w.check_team || chat.kind != ChatKind::Group
}

/// The chat whose history is read; `None` for a p2p pair with no chat yet (an empty
/// history, where no token can be valid).
fn chat_to_read(target: &Target, w: &Window) -> Result<Option<Chat>, YunxinError> {
    match target {
        Target::P2p { chat: Some(c), .. } => Ok(Some(c.clone())),
        Target::P2p { chat: None, .. } if w.token.is_some() => Err(YunxinError::param(
            "page_token is not a token this conversation's history gave",
        )),
        Target::P2p { chat: None, .. } => Ok(None),
        Target::Team { chat: None, .. } => Err(YunxinError::team_not_found()),
        Target::Team { chat: Some(c), .. } if checks_member(w, c) && c.dissolved_at.is_some() => {
            Err(YunxinError::new(
                code::TEAM_NOT_FOUND,
                "team not exist: it has been dissolved",
            ))
        }
        Target::Team { chat: Some(c), .. } => Ok(Some(c.clone())),
    }
}

/// An item of the page: the message as the query endpoint renders it, with the
/// conversation it was read in (the Go SDK's `MessageItem.conversation_id`).
#[derive(Serialize)]
struct Item<'a> {
    conversation_id: &'a str,
    #[serde(flatten)]
    data: MessageData,
}

#[derive(Serialize)]
struct HistoryData<'a> {
    items: Vec<Item<'a>>,
    has_more: bool,
    /// Empty on the last page, as the vendor's samples show it.
    next_token: String,
}

/// Query a conversation's messages by page: `GET /im/v2.1/conversations/{conversation_id}/messages?begin_time=&end_time=&limit=&descending=&message_type=&page_token=`,
/// also under `/im/v2`. <https://doc.yunxin.163.com/messaging2/server-apis/zMyNzU2MjA?platform=server>
///
/// A team that does not exist is 108404. `check_team_valid` (default true) also refuses a
/// dissolved team (108404) and an owner who is not a member (804); `false` only asks that
/// the advanced team exist, as the vendor documents it, and is ignored for super teams. A
/// p2p pair that never exchanged a message has an empty history.
pub async fn list(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(cid): YxPath<String>,
    YxQuery(q): YxQuery<HistoryParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let w = Window::try_from(q)?;
    let conv = resolve::conversation(core, tenant, &cid).await?;
    let Some(chat) = chat_to_read(&conv.target, &w)? else {
        return Ok(ok(HistoryData {
            items: Vec::new(),
            has_more: false,
            next_token: String::new(),
        }));
    };
    let start = w.start(chat.id)?;
    // Without the check the AppKey reads for its tenant, as the vendor's server API does.
    let access = if checks_member(&w, &chat) {
        Access::Member(conv.owner)
    } else {
        Access::Admin
    };
    let page = scan(core, tenant, access, conv.owner, chat.id, &w, start).await?;
    let rendered_id = conv.id.render();
    let known = conv.known();
    let mut items = Vec::with_capacity(page.items.len());
    for v in &page.items {
        items.push(Item {
            conversation_id: &rendered_id,
            data: render::message_with(core, v, &known).await?,
        });
    }
    Ok(ok(HistoryData {
        items,
        has_more: page.next.is_some(),
        next_token: page
            .next
            .map(|p| ids::history_token(chat.id, p, w.newest_first))
            .unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Result<Window, YunxinError> {
        // As the query extractor hands them over: every value a string.
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(*v)))
            .collect();
        let q: HistoryParams = serde_json::from_value(map.into()).expect("query");
        Window::try_from(q)
    }

    #[test]
    fn parameters_as_the_vendor_documents_them() {
        let w = params(&[]).unwrap();
        assert_eq!((w.since, w.until, w.limit), (None, None, MAX_LIMIT));
        assert!(w.newest_first && w.check_team && w.types.is_none());
        let w = params(&[("begin_time", "0"), ("end_time", "0"), ("limit", "1")]).unwrap();
        assert_eq!((w.since, w.until, w.limit), (Some(0), Some(0), 1));
        // `descending=true` is chronological order.
        assert!(!params(&[("descending", "true")]).unwrap().newest_first);
        let w = params(&[
            ("begin_time", "5"),
            ("end_time", "9"),
            ("limit", "2"),
            ("descending", "false"),
            ("message_type", "0,100"),
        ])
        .unwrap();
        assert_eq!((w.since, w.until, w.limit), (Some(5), Some(9), 2));
        assert!(w.newest_first);
        assert_eq!(w.types, Some(vec![0, 100]));
    }

    #[test]
    fn bad_parameters_are_parameter_errors() {
        for bad in [
            &[("limit", "101")][..],
            &[("limit", "0")],
            &[("limit", "-1")],
            &[("limit", "ten")],
            &[("begin_time", "-5")],
            &[("end_time", "1.5")],
            &[("begin_time", "10"), ("end_time", "9")],
            &[("message_type", "0,x")],
            &[("message_type", "7")],
        ] {
            assert_eq!(params(bad).unwrap_err().code, 414, "{bad:?}");
        }
    }
}
