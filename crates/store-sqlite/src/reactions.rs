//! Reactions, pins and read marks ([`ReactionStore`]): writes through the writer (each in
//! its savepoint; none records an outbox change), reads inline on the reader pool. Nothing
//! here is cached: these rows are read far less often than messages.

use crate::{sql_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

const REACTION_COLS: &str = "id, tenant_id, message_id, actor_kind, actor_id, emoji, created_at";
const PIN_COLS: &str = "message_id, tenant_id, by_kind, by_id, created_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

fn reaction(r: &Row) -> rusqlite::Result<StoreResult<Reaction>> {
    let kind: String = r.get(3)?;
    let (Some(actor), Some(message)) = (
        Actor::from_parts(&kind, r.get(4)?),
        MessageId::from_raw(r.get(2)?),
    ) else {
        return Ok(Err(corrupt("reactions")));
    };
    Ok(Ok(Reaction {
        id: ReactionId(r.get(0)?),
        tenant: TenantId(r.get(1)?),
        message,
        actor,
        emoji: r.get(5)?,
        created_at: r.get(6)?,
    }))
}

fn pin(r: &Row) -> rusqlite::Result<StoreResult<Pin>> {
    let kind: String = r.get(2)?;
    let (Some(by), Some(message)) = (
        Actor::from_parts(&kind, r.get(3)?),
        MessageId::from_raw(r.get(0)?),
    ) else {
        return Ok(Err(corrupt("pins")));
    };
    Ok(Ok(Pin {
        tenant: TenantId(r.get(1)?),
        message,
        by,
        created_at: r.get(4)?,
    }))
}

fn read_mark(chat: ChatId, r: &Row) -> rusqlite::Result<StoreResult<ReadMark>> {
    let kind: String = r.get(0)?;
    let Some(actor) = Actor::from_parts(&kind, r.get(1)?) else {
        return Ok(Err(corrupt("read_marks")));
    };
    Ok(Ok(ReadMark {
        chat,
        actor,
        position: r.get(2)?,
        at: r.get(3)?,
    }))
}

fn load_pin(c: &Connection, message: MessageId) -> StoreResult<Option<Pin>> {
    c.prepare_cached(&format!(
        "SELECT {PIN_COLS} FROM pins WHERE message_id = ?1"
    ))
    .and_then(|mut s| s.query_row([message.0], pin).optional())
    .map_err(sql_err)?
    .transpose()
}

fn load_mark(c: &Connection, chat: ChatId, actor: Actor) -> StoreResult<Option<ReadMark>> {
    c.prepare_cached(
        "SELECT actor_kind, actor_id, position, read_at FROM read_marks
         WHERE chat_id = ?1 AND actor_kind = ?2 AND actor_id = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![chat.0, actor.kind(), actor.raw_id()], |r| {
            read_mark(chat, r)
        })
        .optional()
    })
    .map_err(sql_err)?
    .transpose()
}

#[async_trait]
impl ReactionStore for SqliteStore {
    async fn add_reaction(&self, new: NewReaction) -> StoreResult<Reaction> {
        self.write(move |c| {
            let a = new.actor;
            // A repeat of the same emoji by the same actor keeps the first reaction.
            c.prepare_cached(
                "INSERT INTO reactions(tenant_id, message_id, actor_kind, actor_id, emoji, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (message_id, actor_kind, actor_id, emoji) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    new.tenant.0,
                    new.message.0,
                    a.kind(),
                    a.raw_id(),
                    new.emoji,
                    new.created_at
                ])
            })
            .map_err(sql_err)?;
            c.prepare_cached(&format!(
                "SELECT {REACTION_COLS} FROM reactions
                 WHERE message_id = ?1 AND actor_kind = ?2 AND actor_id = ?3 AND emoji = ?4"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![new.message.0, a.kind(), a.raw_id(), new.emoji],
                    reaction,
                )
            })
            .map_err(sql_err)?
        })
        .await
    }

    async fn get_reaction(&self, id: ReactionId) -> StoreResult<Option<Reaction>> {
        self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {REACTION_COLS} FROM reactions WHERE id = ?1"
            ))
            .and_then(|mut s| s.query_row([id.0], reaction).optional())
            .map_err(sql_err)?
            .transpose()
        })
    }

    async fn delete_reaction(&self, id: ReactionId) -> StoreResult<bool> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM reactions WHERE id = ?1")
                .and_then(|mut s| s.execute([id.0]))
                .map(|n| n > 0)
                .map_err(sql_err)
        })
        .await
    }

    async fn list_reactions(&self, range: ReactionRange) -> StoreResult<Vec<Reaction>> {
        self.read_now(|c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {REACTION_COLS} FROM reactions
                     WHERE message_id = ?1 AND id > ?2 AND (?3 IS NULL OR emoji = ?3)
                     ORDER BY id LIMIT ?4"
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(
                    params![range.message.0, range.after, range.emoji, range.limit],
                    reaction,
                )
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(|x| x)).collect()
        })
    }

    async fn pin_message(&self, p: Pin) -> StoreResult<Pin> {
        self.write(move |c| {
            // A pinned message keeps its first pin.
            c.prepare_cached(
                "INSERT INTO pins(message_id, chat_id, tenant_id, by_kind, by_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (message_id) DO NOTHING",
            )
            .and_then(|mut s| {
                s.execute(params![
                    p.message.0,
                    p.chat().0,
                    p.tenant.0,
                    p.by.kind(),
                    p.by.raw_id(),
                    p.created_at
                ])
            })
            .map_err(sql_err)?;
            load_pin(c, p.message)?.ok_or_else(|| StoreError::Internal("pin vanished".into()))
        })
        .await
    }

    async fn unpin_message(&self, message: MessageId) -> StoreResult<bool> {
        self.write(move |c| {
            c.prepare_cached("DELETE FROM pins WHERE message_id = ?1")
                .and_then(|mut s| s.execute([message.0]))
                .map(|n| n > 0)
                .map_err(sql_err)
        })
        .await
    }

    async fn get_pin(&self, message: MessageId) -> StoreResult<Option<Pin>> {
        self.read_now(|c| load_pin(c, message))
    }

    async fn list_pins(&self, range: PinRange) -> StoreResult<Vec<Pin>> {
        self.read_now(|c| {
            let (before_at, before_msg) = match range.before {
                Some((at, m)) => (Some(at), Some(m.0)),
                None => (None, None),
            };
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {PIN_COLS} FROM pins
                     WHERE chat_id = ?1
                       AND (?2 IS NULL OR created_at >= ?2)
                       AND (?3 IS NULL OR created_at <= ?3)
                       AND (?4 IS NULL OR created_at < ?4 OR (created_at = ?4 AND message_id < ?5))
                     ORDER BY created_at DESC, message_id DESC LIMIT ?6"
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(
                    params![
                        range.chat.0,
                        range.since,
                        range.until,
                        before_at,
                        before_msg,
                        range.limit
                    ],
                    pin,
                )
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(|x| x)).collect()
        })
    }

    async fn mark_read(
        &self,
        chat: ChatId,
        actor: Actor,
        position: i64,
        at: Millis,
    ) -> StoreResult<ReadMark> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO read_marks(chat_id, actor_kind, actor_id, position, read_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (chat_id, actor_kind, actor_id) DO UPDATE
                 SET position = excluded.position, read_at = excluded.read_at
                 WHERE excluded.position > read_marks.position",
            )
            .and_then(|mut s| {
                s.execute(params![chat.0, actor.kind(), actor.raw_id(), position, at])
            })
            .map_err(sql_err)?;
            load_mark(c, chat, actor)?
                .ok_or_else(|| StoreError::Internal("read mark vanished".into()))
        })
        .await
    }

    async fn read_marks(&self, chat: ChatId) -> StoreResult<Vec<ReadMark>> {
        self.read_now(|c| {
            let mut s = c
                .prepare_cached(
                    "SELECT actor_kind, actor_id, position, read_at FROM read_marks WHERE chat_id = ?1",
                )
                .map_err(sql_err)?;
            let rows = s
                .query_map([chat.0], |r| read_mark(chat, r))
                .map_err(sql_err)?;
            rows.map(|r| r.map_err(sql_err).and_then(|x| x)).collect()
        })
    }
}
