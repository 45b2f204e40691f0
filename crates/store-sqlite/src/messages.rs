//! Messages ([`MessageStore`]): appends and updates go through the writer (the SQL is in
//! `timeline.rs`) and record their changes in the same write (`changes.rs`; an import
//! records none), reads run on the reader pool; a get uses the trait's default
//! `lookup_message` over the cached chat and membership.

use crate::changes::record_message;
use crate::timeline::{
    append_batch_reserved, append_timeline, first_position_at_or_after, insert_message,
    last_position, list_children_conn, load_message,
};
use crate::{rows, sql_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::params;
use switchboard_core::error::Entity;
use switchboard_core::events::MessageChange;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

impl SqliteStore {
    /// Keeps a cached chat's `last_position` current after an append.
    fn bump_position(&self, m: &Message) {
        if let Some(p) = m.position() {
            self.inner
                .chats
                .update(&m.chat, |c| c.last_position = c.last_position.max(p));
        }
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        let a = self.write(move |c| append_timeline(c, &new, true)).await?;
        self.bump_position(&a.message);
        Ok(a)
    }

    async fn append_batch(&self, batch: Vec<NewMessage>) -> StoreResult<Vec<Message>> {
        // One write job in a transaction of its own: a failure anywhere rolls all of it
        // back, and one commit.
        if batch.iter().any(|m| m.client_msg_id.is_some()) {
            let stored = self
                .write_solo(move |c| {
                    let mut out = Vec::with_capacity(batch.len());
                    for m in &batch {
                        // Imported history is not news: no changes.
                        out.push(append_timeline(c, m, false)?.message);
                    }
                    Ok(out)
                })
                .await?;
            for m in &stored {
                self.bump_position(m);
            }
            return Ok(stored);
        }
        // Contents are encoded here, off the writer thread, which has the rest to do.
        let contents: Vec<Vec<u8>> = batch
            .iter()
            .map(|m| form::encode_content(&m.content))
            .collect();
        let mut batch = batch;
        let stored = self
            .write_solo(move |c| append_batch_reserved(c, &mut batch, &contents))
            .await?;
        for m in &stored {
            self.bump_position(m);
        }
        Ok(stored)
    }

    async fn append_merge_forward(
        &self,
        container: NewMessage,
        children: Vec<NewMessage>,
    ) -> StoreResult<(Message, Vec<Message>)> {
        self.write(move |c| {
            // The container's change only: the children are off the timeline.
            let appended = append_timeline(c, &container, true)?;
            if !appended.created {
                let kids = list_children_conn(c, appended.message.id)?;
                return Ok((appended.message, kids));
            }
            let chat = container.chat;
            let first: i64 = c
                .query_row(
                    "UPDATE chats SET last_child = last_child + ?2 WHERE id = ?1 RETURNING last_child - ?2",
                    params![chat.0, children.len() as i64],
                    |r| r.get(0),
                )
                .map_err(sql_err)?;
            let mut kids = Vec::with_capacity(children.len());
            for (i, child) in children.iter().enumerate() {
                let id = MessageId::child(chat, first + 1 + i as i64).ok_or_else(|| StoreError::Internal("child id space exhausted".into()))?;
                let m = child.to_message(id, child.created_at, Some(appended.message.id));
                insert_message(c, &m)?;
                kids.push(m);
            }
            Ok((appended.message, kids))
        })
        .await
        .inspect(|(m, _)| self.bump_position(m))
    }

    async fn get_message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        self.read_now(|c| load_message(c, id))
    }

    async fn list_messages(&self, range: MessageRange) -> StoreResult<Vec<Message>> {
        self.read(move |c| {
            let base = range.chat.0 << 32;
            let mut after = range.after_position.clamp(0, MAX_POSITION);
            let mut before = range.before_position.unwrap_or(MAX_POSITION + 1).clamp(1, MAX_POSITION + 1);
            // Time bounds become position bounds (timestamps never decrease along a chat's
            // positions); the query below still filters on them.
            if range.since_ms.is_some() || range.until_ms.is_some() {
                let last = last_position(c, range.chat)?;
                if let Some(since) = range.since_ms {
                    after = after.max(first_position_at_or_after(c, range.chat, last, since)? - 1);
                }
                if let Some(until) = range.until_ms {
                    let past = until.checked_add(1).map_or(Ok(last + 1), |t| first_position_at_or_after(c, range.chat, last, t))?;
                    before = before.min(past);
                }
            }
            let lo = base + after;
            let hi = base + before.max(after);
            let order = if range.descending { "DESC" } else { "ASC" };
            let sql = format!(
                "SELECT doc FROM messages WHERE id > ?1 AND id < ?2 AND created_at >= ?3 AND created_at <= ?4 ORDER BY id {order} LIMIT ?5"
            );
            let mut s = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = s
                .query_map(
                    params![lo, hi, range.since_ms.unwrap_or(i64::MIN), range.until_ms.unwrap_or(i64::MAX), range.limit],
                    |r| rows::message_at(r, 0),
                )
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for m in rows {
                out.push(m.map_err(sql_err)??);
            }
            Ok(out)
        })
        .await
    }

    async fn list_children(&self, container: MessageId) -> StoreResult<Vec<Message>> {
        self.read(move |c| list_children_conn(c, container)).await
    }

    async fn update_message(&self, id: MessageId, update: MessageUpdate) -> StoreResult<Message> {
        self.write(move |c| {
            let mut m = load_message(c, id)?.ok_or(StoreError::NotFound(Entity::Message))?;
            let (change, at) = match &update {
                MessageUpdate::Edit { at, .. } => (MessageChange::Edited, *at),
                MessageUpdate::Remove(r) => (MessageChange::Removed, r.at),
            };
            update.apply(&mut m)?;
            let doc = form::encode_message(&m);
            c.prepare_cached("UPDATE messages SET doc = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![id.0, &doc]))
                .map_err(sql_err)?;
            record_message(c, change, &m, &doc, at)?;
            Ok(m)
        })
        .await
    }

    async fn upgrade_documents(
        &self,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<DocumentUpgrade> {
        let after = after.map_or(i64::MIN, |m| m.0);
        // On the writer: a row read here cannot be edited before its rewrite lands.
        self.write(move |c| {
            // Rows of the current form are blobs; only older (text) documents are read.
            let mut s = c
                .prepare_cached(
                    "SELECT id, CASE WHEN typeof(doc) = 'text' THEN doc END FROM messages
                     WHERE id > ?1 ORDER BY id LIMIT ?2",
                )
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![after, limit], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .map_err(sql_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql_err)?;
            let mut step = DocumentUpgrade {
                scanned: rows.len() as u64,
                ..DocumentUpgrade::default()
            };
            if limit > 0 && rows.len() as u64 == u64::from(limit) {
                step.next = rows.last().map(|r| MessageId(r.0));
            }
            let mut update = c
                .prepare_cached("UPDATE messages SET doc = ?2 WHERE id = ?1")
                .map_err(sql_err)?;
            for (id, doc) in rows {
                let Some(doc) = doc else { continue };
                let m = form::decode_message(doc.as_bytes()).map_err(StoreError::Internal)?;
                update
                    .execute(params![id, form::encode_message(&m)])
                    .map_err(sql_err)?;
                step.rewritten += 1;
            }
            Ok(step)
        })
        .await
    }
}
