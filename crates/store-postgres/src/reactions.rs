//! Reactions, pins and read marks ([`ReactionStore`]): one statement per call but for the
//! two upserts that answer with the row as it stands (two, on one connection). None of
//! these writes records an outbox change.

use crate::sql::{execute, query, query_opt};
use crate::{rows, PostgresStore};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio_postgres::Row;

const REACTION_COLS: &str = "id, tenant_id, message_id, actor_kind, actor_id, emoji, created_at";
const PIN_COLS: &str = "message_id, tenant_id, by_kind, by_id, created_at";

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("corrupt row: {what}"))
}

fn reaction(r: &Row) -> StoreResult<Reaction> {
    let kind: &str = rows::get(r, 3)?;
    let actor = Actor::from_parts(kind, rows::get(r, 4)?).ok_or_else(|| corrupt("reactions"))?;
    let message = MessageId::from_raw(rows::get(r, 2)?).ok_or_else(|| corrupt("reactions"))?;
    Ok(Reaction {
        id: ReactionId(rows::get(r, 0)?),
        tenant: TenantId(rows::get(r, 1)?),
        message,
        actor,
        emoji: rows::get(r, 5)?,
        created_at: rows::get(r, 6)?,
    })
}

fn pin(r: &Row) -> StoreResult<Pin> {
    let kind: &str = rows::get(r, 2)?;
    let by = Actor::from_parts(kind, rows::get(r, 3)?).ok_or_else(|| corrupt("pins"))?;
    let message = MessageId::from_raw(rows::get(r, 0)?).ok_or_else(|| corrupt("pins"))?;
    Ok(Pin {
        tenant: TenantId(rows::get(r, 1)?),
        message,
        by,
        created_at: rows::get(r, 4)?,
    })
}

fn read_mark(chat: ChatId, r: &Row) -> StoreResult<ReadMark> {
    let kind: &str = rows::get(r, 0)?;
    let actor = Actor::from_parts(kind, rows::get(r, 1)?).ok_or_else(|| corrupt("read_marks"))?;
    Ok(ReadMark {
        chat,
        actor,
        position: rows::get(r, 2)?,
        at: rows::get(r, 3)?,
    })
}

async fn load_pin<C: GenericClient + Sync>(c: &C, message: MessageId) -> StoreResult<Option<Pin>> {
    query_opt(
        c,
        &format!("SELECT {PIN_COLS} FROM pins WHERE message_id = $1"),
        &[&message.0],
    )
    .await?
    .map(|r| pin(&r))
    .transpose()
}

#[async_trait]
impl ReactionStore for PostgresStore {
    async fn add_reaction(&self, new: NewReaction) -> StoreResult<Reaction> {
        let c = self.client().await?;
        let a = new.actor;
        let inserted = query_opt(
            &c,
            &format!(
                "INSERT INTO reactions(tenant_id, chat_id, message_id, actor_kind, actor_id, emoji, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (message_id, actor_kind, actor_id, emoji) DO NOTHING
                 RETURNING {REACTION_COLS}"
            ),
            &[
                &new.tenant.0,
                &new.message.chat().0,
                &new.message.0,
                &a.kind(),
                &a.raw_id(),
                &new.emoji,
                &new.created_at,
            ],
        )
        .await?;
        if let Some(r) = inserted {
            return reaction(&r);
        }
        // A repeat of the same emoji by the same actor: the first reaction stands (rows
        // are never updated, only deleted, so reading it after the conflict is enough;
        // deleted meanwhile, it is added again).
        let existing = query_opt(
            &c,
            &format!(
                "SELECT {REACTION_COLS} FROM reactions
                 WHERE message_id = $1 AND actor_kind = $2 AND actor_id = $3 AND emoji = $4"
            ),
            &[&new.message.0, &a.kind(), &a.raw_id(), &new.emoji],
        )
        .await?;
        match existing {
            Some(r) => reaction(&r),
            None => {
                drop(c);
                self.add_reaction(new).await
            }
        }
    }

    async fn get_reaction(&self, id: ReactionId) -> StoreResult<Option<Reaction>> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {REACTION_COLS} FROM reactions WHERE id = $1"),
            &[&id.0],
        )
        .await?
        .map(|r| reaction(&r))
        .transpose()
    }

    async fn delete_reaction(&self, id: ReactionId) -> StoreResult<bool> {
        let c = self.client().await?;
        Ok(execute(&c, "DELETE FROM reactions WHERE id = $1", &[&id.0]).await? > 0)
    }

    async fn list_reactions(&self, range: ReactionRange) -> StoreResult<Vec<Reaction>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {REACTION_COLS} FROM reactions
                 WHERE message_id = $1 AND id > $2 AND ($3::text IS NULL OR emoji = $3)
                 ORDER BY id LIMIT $4"
            ),
            &[
                &range.message.0,
                &range.after,
                &range.emoji,
                &i64::from(range.limit),
            ],
        )
        .await?
        .iter()
        .map(reaction)
        .collect()
    }

    async fn pin_message(&self, p: Pin) -> StoreResult<Pin> {
        let c = self.client().await?;
        let inserted = query_opt(
            &c,
            &format!(
                "INSERT INTO pins(message_id, chat_id, tenant_id, by_kind, by_id, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (message_id) DO NOTHING
                 RETURNING {PIN_COLS}"
            ),
            &[
                &p.message.0,
                &p.chat().0,
                &p.tenant.0,
                &p.by.kind(),
                &p.by.raw_id(),
                &p.created_at,
            ],
        )
        .await?;
        if let Some(r) = inserted {
            return pin(&r);
        }
        // Already pinned: the first pin stands (unpinned meanwhile: pinned again).
        match load_pin(&c, p.message).await? {
            Some(found) => Ok(found),
            None => {
                drop(c);
                self.pin_message(p).await
            }
        }
    }

    async fn unpin_message(&self, message: MessageId) -> StoreResult<bool> {
        let c = self.client().await?;
        Ok(execute(&c, "DELETE FROM pins WHERE message_id = $1", &[&message.0]).await? > 0)
    }

    async fn get_pin(&self, message: MessageId) -> StoreResult<Option<Pin>> {
        let c = self.client().await?;
        load_pin(&c, message).await
    }

    async fn list_pins(&self, range: PinRange) -> StoreResult<Vec<Pin>> {
        let c = self.client().await?;
        let (before_at, before_msg) = match range.before {
            Some((at, m)) => (Some(at), Some(m.0)),
            None => (None, None),
        };
        query(
            &c,
            &format!(
                "SELECT {PIN_COLS} FROM pins
                 WHERE chat_id = $1
                   AND ($2::bigint IS NULL OR created_at >= $2)
                   AND ($3::bigint IS NULL OR created_at <= $3)
                   AND ($4::bigint IS NULL OR (created_at, message_id) < ($4, $5::bigint))
                 ORDER BY created_at DESC, message_id DESC LIMIT $6"
            ),
            &[
                &range.chat.0,
                &range.since,
                &range.until,
                &before_at,
                &before_msg,
                &i64::from(range.limit),
            ],
        )
        .await?
        .iter()
        .map(pin)
        .collect()
    }

    async fn mark_read(
        &self,
        chat: ChatId,
        actor: Actor,
        position: i64,
        at: Millis,
    ) -> StoreResult<ReadMark> {
        let c = self.client().await?;
        // The mark as it stands after the upsert, whether or not it moved: the upsert's
        // own RETURNING is empty when its WHERE keeps the row as it was.
        let row = query_opt(
            &c,
            "WITH up AS (
                INSERT INTO read_marks(chat_id, actor_kind, actor_id, position, read_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (chat_id, actor_kind, actor_id) DO UPDATE
                SET position = EXCLUDED.position, read_at = EXCLUDED.read_at
                WHERE read_marks.position < EXCLUDED.position
                RETURNING actor_kind, actor_id, position, read_at)
             SELECT actor_kind, actor_id, position, read_at FROM up
             UNION ALL
             SELECT actor_kind, actor_id, position, read_at FROM read_marks
             WHERE chat_id = $1 AND actor_kind = $2 AND actor_id = $3 AND NOT EXISTS (SELECT 1 FROM up)",
            &[&chat.0, &actor.kind(), &actor.raw_id(), &position, &at],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("read mark vanished".into()))?;
        read_mark(chat, &row)
    }

    async fn read_marks(&self, chat: ChatId) -> StoreResult<Vec<ReadMark>> {
        let c = self.client().await?;
        query(
            &c,
            "SELECT actor_kind, actor_id, position, read_at FROM read_marks WHERE chat_id = $1",
            &[&chat.0],
        )
        .await?
        .iter()
        .map(|r| read_mark(chat, r))
        .collect()
    }
}
