//! A chat's or a thread's history: `GET /im/v1/messages?container_id_type=…`, and the
//! opaque page tokens every list of this dialect hands out.
//!
//! A chat's history lists its timeline, except the replies inside threads (Feishu shows
//! a thread there by its root only); a thread's history is its root followed by its
//! replies. Both page by timeline position: a page token names the last position a page
//! looked at, so messages sent between two pages never shift the next one (ascending,
//! they come after it; descending, they are above where it resumes).

use crate::auth::{ReadHistory, Scoped};
use crate::error::{ok_typed, op, Answer, LarkError};
use crate::extract::LarkQuery;
use crate::face::Ctx;
use crate::messages::reader;
use crate::render;
use crate::{ids, LarkState};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use switchboard_core::ids::{decode_hex128, prefixed_hex128, ChatId, MessageId, MAX_POSITION};
use switchboard_core::model::RemovalKind;
use switchboard_core::service::{ListQuery, MessageView};

/// Page tokens: a value sealed under a domain (what is listed, for whom), so that a token
/// is refused by any other list, and a mistyped or forged one fails its check.
pub(crate) mod token {
    use super::*;

    pub const HISTORY: u32 = 0x4C48_0001;
    pub const CHATS: u32 = 0x4C48_0002;
    pub const MEMBERS: u32 = 0x4C48_0003;

    /// The domain of one list: its kind mixed with the id of what it lists.
    pub fn domain(kind: u32, scope: i64) -> u32 {
        kind ^ (scope as u32).wrapping_mul(0x9E37_79B1) ^ ((scope >> 32) as u32).rotate_left(11)
    }

    pub fn seal(domain: u32, value: u64) -> String {
        prefixed_hex128("", value, domain)
    }

    pub fn open(domain: u32, token: &str) -> Option<u64> {
        decode_hex128(token, domain)
    }
}

/// `page_size`: absent is `default`; otherwise an integer in `1..=max`.
pub(crate) fn page_size(raw: Option<&str>, default: u32, max: u32) -> Option<u32> {
    match raw.map(str::trim) {
        None | Some("") => Some(default),
        Some(s) => s.parse::<u32>().ok().filter(|n| (1..=max).contains(n)),
    }
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    container_id_type: Option<String>,
    container_id: Option<String>,
    start_time: Option<String>,
    end_time: Option<String>,
    sort_type: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
    user_id_type: Option<String>,
}

const DEFAULT_PAGE: u32 = 20;
const MAX_PAGE: u32 = 50;
/// Timeline rows read per store call while filling a page.
const BATCH: u32 = 200;
/// At most this many rows are looked at per request; a sparse thread in a busy chat then
/// answers a short page with `has_more` and a token where the scan stopped.
const SCAN_LIMIT: usize = 2_000;

/// What a history lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Chat(ChatId),
    /// A thread, by its root.
    Thread(MessageId),
}

impl Container {
    fn chat(self) -> ChatId {
        match self {
            Container::Chat(c) => c,
            Container::Thread(root) => root.chat(),
        }
    }

    fn scope(self) -> i64 {
        match self {
            Container::Chat(c) => c.0,
            Container::Thread(root) => root.0,
        }
    }

    /// Whether a timeline message belongs in this history. A hard-deleted message is in
    /// none (a recall leaves a `deleted: true` placeholder; a deletion leaves nothing).
    fn holds(self, v: &MessageView) -> bool {
        let m = &v.message;
        if m.removal.as_ref().map(|r| r.kind) == Some(RemovalKind::Deleted) {
            return false;
        }
        match self {
            Container::Chat(_) => m.thread.is_none(),
            Container::Thread(root) => m.id == root || m.thread == Some(root),
        }
    }
}

/// Where the next page resumes: the last position looked at, in the sort order it was
/// issued for (a token reused with the other order is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    position: i64,
    descending: bool,
}

const DESC_BIT: u64 = 1 << 32;

impl Cursor {
    fn seal(self, c: Container) -> String {
        let v = self.position as u64 | if self.descending { DESC_BIT } else { 0 };
        token::seal(token::domain(token::HISTORY, c.scope()), v)
    }

    fn open(c: Container, raw: &str) -> Option<Cursor> {
        let v = token::open(token::domain(token::HISTORY, c.scope()), raw)?;
        if v >> 33 != 0 {
            return None;
        }
        let position = (v & 0xFFFF_FFFF) as i64;
        (1..=MAX_POSITION).contains(&position).then_some(Cursor {
            position,
            descending: v & DESC_BIT != 0,
        })
    }
}

fn seconds(ctx: &Ctx, name: &str, raw: Option<&str>) -> Result<Option<i64>, LarkError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=i64::MAX / 1000 - 1).contains(n))
            .map(Some)
            .ok_or_else(|| {
                LarkError::invalid(ctx, format!("{name} must be a Unix time in seconds"))
            }),
    }
}

#[derive(Serialize)]
struct Page {
    has_more: bool,
    items: Vec<render::MessageOut>,
    page_token: String,
}

/// Feishu: <https://open.feishu.cn/document/server-docs/im-v1/message/list>
///
/// `start_time`/`end_time` are seconds, both inclusive (`end_time` covers its whole
/// second); `sort_type` is `ByCreateTimeAsc` (default) or `ByCreateTimeDesc`; `page_size`
/// is 1 to 50 (default 20).
pub async fn list(
    State(s): State<LarkState>,
    bot: Scoped<ReadHistory>,
    LarkQuery(q): LarkQuery<HistoryQuery>,
) -> Answer<op::ListMessages> {
    let ctx = bot.ctx.clone();
    let r = reader(&s, &bot, q.user_id_type.as_deref())?;
    let id = q
        .container_id
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| LarkError::invalid(&ctx, "container_id is required"))?;
    let container = match q.container_id_type.as_deref() {
        Some("chat") => ids::parse_chat_id(id).map(Container::Chat),
        Some("thread") => ids::parse_thread_id(id)
            .filter(|root| !root.is_child())
            .map(Container::Thread),
        None | Some("") => {
            return Err(LarkError::invalid(&ctx, "container_id_type is required").into())
        }
        Some(_) => {
            return Err(LarkError::invalid(
                &ctx,
                "invalid container_id_type, expected chat or thread",
            )
            .into())
        }
    }
    .ok_or_else(|| LarkError::invalid(&ctx, "invalid container_id"))?;
    let descending = match q.sort_type.as_deref() {
        None | Some("") | Some("ByCreateTimeAsc") => false,
        Some("ByCreateTimeDesc") => true,
        Some(_) => {
            return Err(LarkError::invalid(
                &ctx,
                "invalid sort_type, expected ByCreateTimeAsc or ByCreateTimeDesc",
            )
            .into())
        }
    };
    let size = page_size(q.page_size.as_deref(), DEFAULT_PAGE, MAX_PAGE)
        .ok_or_else(|| LarkError::invalid(&ctx, "page_size must be an integer from 1 to 50"))?;
    let start = seconds(&ctx, "start_time", q.start_time.as_deref())?;
    let end = seconds(&ctx, "end_time", q.end_time.as_deref())?;
    if let (Some(a), Some(b)) = (start, end) {
        if a > b {
            return Err(LarkError::invalid(&ctx, "start_time is after end_time").into());
        }
    }
    let cursor = match q.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(raw) => Some(
            Cursor::open(container, raw)
                .filter(|c| c.descending == descending)
                .ok_or_else(|| LarkError::invalid(&ctx, "invalid page_token"))?,
        ),
    };

    let tenant = bot.app.tenant;
    // A thread is known by its root: it must be a message the bot can read.
    let floor = match container {
        Container::Chat(_) => 0,
        Container::Thread(root) => {
            s.core.get(tenant, bot.access(), None, root).await?;
            root.position().unwrap_or(1) - 1
        }
    };
    let mut query = ListQuery {
        tenant,
        access: bot.access(),
        chat: container.chat(),
        after_position: floor,
        before_position: None,
        since_ms: start.map(|t| t * 1000),
        until_ms: end.map(|t| t * 1000 + 999),
        limit: BATCH,
        descending,
    };
    let mut last = cursor.map(|c| c.position);
    let mut items = Vec::with_capacity(size as usize);
    let mut scanned = 0usize;
    let mut has_more = false;
    loop {
        match (descending, last) {
            (false, Some(p)) => query.after_position = p.max(floor),
            (true, Some(p)) => query.before_position = Some(p),
            (_, None) => {}
        }
        let batch = s.core.list(query).await?;
        let exhausted = batch.len() < BATCH as usize;
        for v in batch {
            if items.len() == size as usize || scanned == SCAN_LIMIT {
                has_more = true;
                break;
            }
            scanned += 1;
            last = v.message.id.position();
            if container.holds(&v) {
                items.push(render::message_out(&r, &v));
            }
        }
        if has_more || exhausted {
            break;
        }
        // A full page or a spent scan with rows left: say so only if one follows.
        if items.len() == size as usize || scanned == SCAN_LIMIT {
            has_more = !more_after(&s, query, descending, last).await?.is_empty();
            break;
        }
    }
    let page_token = match (has_more, last) {
        (true, Some(position)) => Cursor {
            position,
            descending,
        }
        .seal(container),
        _ => String::new(),
    };
    Ok(ok_typed(
        &ctx,
        &Page {
            has_more,
            items,
            page_token,
        },
    ))
}

/// One row past `last` in the list's order, to tell whether another page follows.
async fn more_after(
    s: &LarkState,
    mut q: ListQuery,
    descending: bool,
    last: Option<i64>,
) -> Result<Vec<MessageView>, LarkError> {
    q.limit = 1;
    match (descending, last) {
        (false, Some(p)) => q.after_position = p,
        (true, Some(p)) => q.before_position = Some(p),
        (_, None) => {}
    }
    Ok(s.core.list(q).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_bound_to_their_container_and_order() {
        let chat = Container::Chat(ChatId(7));
        let other = Container::Chat(ChatId(8));
        let c = Cursor {
            position: 42,
            descending: true,
        };
        let t = c.seal(chat);
        assert_eq!(Cursor::open(chat, &t), Some(c));
        assert_eq!(Cursor::open(other, &t), None, "another chat's token");
        let thread = Container::Thread(MessageId::timeline(ChatId(7), 3).unwrap());
        assert_eq!(
            Cursor::open(thread, &t),
            None,
            "a chat's token for a thread"
        );
        let mut forged = t.clone().into_bytes();
        forged[3] = if forged[3] == b'0' { b'1' } else { b'0' };
        assert_eq!(
            Cursor::open(chat, &String::from_utf8(forged).unwrap()),
            None
        );
        assert_eq!(Cursor::open(chat, "not a token"), None);
        assert_eq!(Cursor::open(chat, ""), None);
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(None, 20, 50), Some(20));
        assert_eq!(page_size(Some("50"), 20, 50), Some(50));
        assert_eq!(page_size(Some("51"), 20, 50), None);
        assert_eq!(page_size(Some("0"), 20, 50), None);
        assert_eq!(page_size(Some("-1"), 20, 50), None);
        assert_eq!(page_size(Some("ten"), 20, 50), None);
    }
}
