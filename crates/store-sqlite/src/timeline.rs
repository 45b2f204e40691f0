//! The SQL of the timeline: appends (one, with an idempotency key, or a reserved batch),
//! message documents, and the position arithmetic of reads. Every function runs on a
//! connection the caller holds, inside a write job or a read.

use crate::changes::record_message;
use crate::{rows, sql_err};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use switchboard_core::error::{Conflict, Entity};
use switchboard_core::events::MessageChange;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

pub(crate) fn load_message(conn: &Connection, id: MessageId) -> StoreResult<Option<Message>> {
    conn.prepare_cached("SELECT doc FROM messages WHERE id = ?1")
        .and_then(|mut s| s.query_row([id.0], |r| rows::message_at(r, 0)).optional())
        .map_err(sql_err)?
        .transpose()
}

/// Inserts `m`; returns its stored form, as stored.
pub(crate) fn insert_message(conn: &Connection, m: &Message) -> StoreResult<Vec<u8>> {
    let doc = form::encode_message(m);
    insert_doc(conn, m, &doc)?;
    Ok(doc)
}

fn insert_doc(conn: &Connection, m: &Message, doc: &[u8]) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO messages(id, chat_id, created_at, upper_id, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| {
        s.execute(params![
            m.id.0,
            m.chat.0,
            m.created_at,
            m.upper.map(|u| u.0),
            doc
        ])
    })
    .map_err(sql_err)?;
    Ok(())
}

/// The newest timeline position of `chat` in the table (0 when it has none).
pub(crate) fn last_position(c: &Connection, chat: ChatId) -> StoreResult<i64> {
    let base = chat.0 << 32;
    let max: Option<i64> = c
        .prepare_cached("SELECT max(id) FROM messages WHERE id > ?1 AND id <= ?2")
        .and_then(|mut s| s.query_row(params![base, base + MAX_POSITION], |r| r.get(0)))
        .map_err(sql_err)?;
    Ok(max.map_or(0, |id| id - base))
}

/// The first position in `1..=last` whose message was created at or after `t` (`last + 1`
/// when none is): a binary search over primary-key reads, sound because a chat's
/// timestamps never decrease along its positions.
pub(crate) fn first_position_at_or_after(
    c: &Connection,
    chat: ChatId,
    last: i64,
    t: Millis,
) -> StoreResult<i64> {
    let base = chat.0 << 32;
    let mut s = c
        .prepare_cached("SELECT created_at FROM messages WHERE id = ?1")
        .map_err(sql_err)?;
    let (mut lo, mut hi) = (1, last + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let at: Option<Millis> = s
            .query_row([base + mid], |r| r.get(0))
            .optional()
            .map_err(sql_err)?;
        // Positions are gapless; a missing row is passed over to the right.
        if at.is_some_and(|at| at >= t) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(lo)
}

/// Takes the next timeline position of `chat`; returns (position, created_at).
fn next_position(
    conn: &Connection,
    chat: ChatId,
    created_floor: Millis,
) -> StoreResult<(i64, Millis)> {
    let row = conn
        .prepare_cached(
            "UPDATE chats SET last_position = last_position + 1, last_created_at = MAX(last_created_at, ?2)
             WHERE id = ?1 AND dissolved_at IS NULL RETURNING last_position, last_created_at",
        )
        .and_then(|mut s| s.query_row(params![chat.0, created_floor], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(sql_err)?;
    match row {
        Some(r) => Ok(r),
        None => {
            let exists: bool = conn
                .query_row(
                    "SELECT EXISTS(SELECT 1 FROM chats WHERE id = ?1)",
                    [chat.0],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            Err(if exists {
                StoreError::Conflict(Conflict::ChatDissolved)
            } else {
                StoreError::NotFound(Entity::Chat)
            })
        }
    }
}

/// Appends one timeline message, honouring the idempotency key, and when it writes and
/// `record` is set, records its `MessageCreated` change. Runs inside the writer's
/// transaction.
pub(crate) fn append_timeline(
    conn: &Connection,
    new: &NewMessage,
    record: bool,
) -> StoreResult<Appended> {
    if let Some(cid) = &new.client_msg_id {
        let prior: Option<(i64, Millis)> = conn
            .prepare_cached("SELECT message_id, created_at FROM idempotency WHERE sender_kind = ?1 AND sender_id = ?2 AND client_msg_id = ?3")
            .and_then(|mut s| s.query_row(params![new.sender.kind(), new.sender.raw_id(), cid], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(sql_err)?;
        if let Some((mid, at)) = prior {
            if new.created_at - at <= new.idempotency_window_ms {
                if let Some(m) = load_message(conn, MessageId(mid))? {
                    return Ok(Appended {
                        message: m,
                        created: false,
                    });
                }
            }
        }
    }
    let (pos, created_at) = next_position(conn, new.chat, new.created_at)?;
    let id = MessageId::timeline(new.chat, pos)
        .ok_or_else(|| StoreError::Internal(format!("chat {} is full", new.chat)))?;
    let m = new.to_message(id, created_at, None);
    let doc = insert_message(conn, &m)?;
    if record {
        record_message(conn, MessageChange::Created, &m, &doc, m.created_at)?;
    }
    if let Some(cid) = &new.client_msg_id {
        conn.prepare_cached(
            "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(sender_kind, sender_id, client_msg_id) DO UPDATE SET message_id = excluded.message_id, created_at = excluded.created_at",
        )
        .and_then(|mut s| s.execute(params![new.sender.kind(), new.sender.raw_id(), cid, id.0, new.created_at]))
        .map_err(sql_err)?;
    }
    Ok(Appended {
        message: m,
        created: true,
    })
}

/// Bulk append without idempotency keys: reserves each chat's positions with one counter
/// update per chat, then inserts. Same guarantees as one-by-one appends, a fraction of the
/// statements.
pub(crate) fn append_batch_reserved(
    c: &Connection,
    batch: &mut [NewMessage],
    contents: &[Vec<u8>],
) -> StoreResult<Vec<Message>> {
    let mut counts: HashMap<ChatId, i64> = HashMap::new();
    for m in batch.iter() {
        *counts.entry(m.chat).or_default() += 1;
    }
    // chat -> (last position taken, last created_at)
    let mut cursor: HashMap<ChatId, (i64, Millis)> = HashMap::with_capacity(counts.len());
    for (chat, n) in &counts {
        let row: Option<(i64, Millis)> = c
            .prepare_cached(
                "UPDATE chats SET last_position = last_position + ?2 WHERE id = ?1 AND dissolved_at IS NULL
                 RETURNING last_position - ?2, last_created_at",
            )
            .and_then(|mut s| s.query_row(params![chat.0, n], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(sql_err)?;
        match row {
            Some(r) => {
                cursor.insert(*chat, r);
            }
            None => {
                // Same answer as a single append would give.
                next_position(c, *chat, 0)?;
                return Err(StoreError::Internal("chat counter vanished".into()));
            }
        }
    }
    let out = place_batch(batch, &mut cursor)?;
    // Inserted in key order: each chat's new rows go to one place in the table, so the
    // B-tree cursor moves forward instead of jumping between chats on every row.
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_unstable_by_key(|&i| out[i].id.0);
    for i in order {
        let doc = form::encode_message_around(&out[i], &contents[i]);
        insert_doc(c, &out[i], &doc)?;
    }
    let mut s = c
        .prepare_cached("UPDATE chats SET last_created_at = MAX(last_created_at, ?2) WHERE id = ?1")
        .map_err(sql_err)?;
    for (chat, (_, created)) in &cursor {
        s.execute(params![chat.0, created]).map_err(sql_err)?;
    }
    Ok(out)
}

pub(crate) fn list_children_conn(
    c: &Connection,
    container: MessageId,
) -> StoreResult<Vec<Message>> {
    let mut s = c
        .prepare_cached("SELECT doc FROM messages WHERE upper_id = ?1 ORDER BY id")
        .map_err(sql_err)?;
    let rows = s
        .query_map([container.0], |r| rows::message_at(r, 0))
        .map_err(sql_err)?;
    let mut out = Vec::new();
    for m in rows {
        out.push(m.map_err(sql_err)??);
    }
    Ok(out)
}
