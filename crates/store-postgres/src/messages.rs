//! Messages ([`MessageStore`]): the appends (their SQL is in `append.rs`), reads, and a
//! get's one-statement lookup of chat, membership and message.

use crate::append::{append_group, append_timeline, insert_message, no_position};
use crate::errors::pg_err;
use crate::sql::{execute, query, query_opt};
use crate::{rows, PostgresStore};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_core::error::Entity;
use switchboard_core::events::MessageChange;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

const SELECT_MESSAGE: &str = "SELECT doc FROM messages WHERE chat_id = $1 AND id = $2";

const SELECT_MESSAGE_FOR_UPDATE: &str =
    "SELECT doc FROM messages WHERE chat_id = $1 AND id = $2 FOR UPDATE";

pub(crate) async fn load_message<C: GenericClient + Sync>(
    c: &C,
    id: MessageId,
    for_update: bool,
) -> StoreResult<Option<Message>> {
    let sql = if for_update {
        SELECT_MESSAGE_FOR_UPDATE
    } else {
        SELECT_MESSAGE
    };
    query_opt(c, sql, &[&id.chat().0, &id.0])
        .await?
        .map(|r| rows::message(&r))
        .transpose()
}

async fn list_children_in<C: GenericClient + Sync>(
    c: &C,
    container: MessageId,
) -> StoreResult<Vec<Message>> {
    query(
        c,
        "SELECT doc FROM messages WHERE chat_id = $1 AND upper_id = $2 ORDER BY id",
        &[&container.chat().0, &container.0],
    )
    .await?
    .iter()
    .map(rows::message)
    .collect()
}

#[async_trait]
impl MessageStore for PostgresStore {
    async fn append_message(&self, new: NewMessage) -> StoreResult<Appended> {
        // Written with the sends queued beside it, in one transaction (`sends.rs`).
        self.inner.sends.append(new).await
    }

    async fn append_batch(&self, mut batch: Vec<NewMessage>) -> StoreResult<Vec<Message>> {
        // One transaction: all or nothing. Imported history records no changes. A batch without idempotency keys locks its chats
        // in id order; one with keys locks them in batch order, so two of those touching
        // the same chats in different orders may deadlock, which PostgreSQL breaks by
        // failing one of them (reported as unavailable: retry).
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let out = if batch.iter().any(|m| m.client_msg_id.is_some()) {
            // Idempotency keys claim their rows one message at a time.
            let mut out = Vec::with_capacity(batch.len());
            for m in &batch {
                out.push(append_timeline(&tx, m, false).await?.message);
            }
            out
        } else {
            match append_group(&tx, &mut batch, false).await? {
                Ok(out) => out,
                // The same answer a single append would give; the transaction is dropped.
                Err(chats) => return Err(no_position(&tx, chats[0]).await?),
            }
        };
        tx.commit().await.map_err(pg_err)?;
        Ok(out)
    }

    async fn append_merge_forward(
        &self,
        container: NewMessage,
        children: Vec<NewMessage>,
    ) -> StoreResult<(Message, Vec<Message>)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let appended = append_timeline(&tx, &container, true).await?;
        if !appended.created {
            let kids = list_children_in(&tx, appended.message.id).await?;
            tx.commit().await.map_err(pg_err)?;
            return Ok((appended.message, kids));
        }
        let chat = container.chat;
        let first: i64 = match query_opt(
            &tx,
            "UPDATE chats SET last_child = last_child + $2 WHERE id = $1 RETURNING last_child - $2",
            &[&chat.0, &(children.len() as i64)],
        )
        .await?
        {
            Some(r) => rows::get(&r, 0)?,
            None => return Err(StoreError::NotFound(Entity::Chat)),
        };
        let mut kids = Vec::with_capacity(children.len());
        for (i, child) in children.iter().enumerate() {
            let id = MessageId::child(chat, first + 1 + i as i64)
                .ok_or_else(|| StoreError::Internal("child id space exhausted".into()))?;
            let m = child.to_message(id, child.created_at, Some(appended.message.id));
            insert_message(&tx, &m).await?;
            kids.push(m);
        }
        tx.commit().await.map_err(pg_err)?;
        Ok((appended.message, kids))
    }

    async fn get_message(&self, id: MessageId) -> StoreResult<Option<Message>> {
        let c = self.client().await?;
        load_message(&c, id, false).await
    }

    async fn lookup_message(
        &self,
        id: MessageId,
        reader: Option<Actor>,
    ) -> StoreResult<MessageLookup> {
        // One row: the chat, the reader's membership and the message, outer-joined onto
        // the chat's row, read together with the lookups of concurrent gets
        // (`lookups.rs`). The sender comes from this node's cache of users and apps:
        // joining it here meant PostgreSQL parsing the stored document (a `json` value,
        // kept as text) twice per get to find it, about 4 µs of the database's CPU for a
        // 700-byte document on the machine of docs/performance.md.
        let Some(row) = self
            .inner
            .lookups
            .lookup(id.chat(), reader, Some(id))
            .await?
        else {
            return Ok(MessageLookup::default());
        };
        let (chat, member) = rows::chat_and_member(&row)?;
        let message = rows::message_at(&row, crate::lookups::DOC_COLUMN)?;
        // A miss leaves the sender to the caller, whose read fills the cache.
        let cache = &self.inner.cache;
        let sender = match message.as_ref().map(|m| m.sender) {
            Some(Actor::User(u)) => cache.user(u).map(SenderLookup::User),
            Some(Actor::App(a)) => cache.app(a).map(SenderLookup::App),
            None => None,
        };
        Ok(MessageLookup {
            chat,
            member,
            message,
            sender: sender.unwrap_or_default(),
        })
    }

    async fn list_messages(&self, range: MessageRange) -> StoreResult<Vec<Message>> {
        // Timeline ids of a chat lie strictly between base and base + 2^31; child copies
        // (flag bit 31 set) lie above, so an id range selects positions only.
        let base = range.chat.0 << 32;
        let lo = base + range.after_position.clamp(0, MAX_POSITION);
        let hi = base
            + range
                .before_position
                .unwrap_or(MAX_POSITION + 1)
                .clamp(1, MAX_POSITION + 1);
        let sql = if range.descending {
            "SELECT doc FROM messages WHERE chat_id = $1 AND id > $2 AND id < $3 AND created_at >= $4 AND created_at <= $5
             ORDER BY id DESC LIMIT $6"
        } else {
            "SELECT doc FROM messages WHERE chat_id = $1 AND id > $2 AND id < $3 AND created_at >= $4 AND created_at <= $5
             ORDER BY id ASC LIMIT $6"
        };
        let c = self.client().await?;
        query(
            &c,
            sql,
            &[
                &range.chat.0,
                &lo,
                &hi,
                &range.since_ms.unwrap_or(i64::MIN),
                &range.until_ms.unwrap_or(i64::MAX),
                &i64::from(range.limit),
            ],
        )
        .await?
        .iter()
        .map(rows::message)
        .collect()
    }

    async fn list_children(&self, container: MessageId) -> StoreResult<Vec<Message>> {
        let c = self.client().await?;
        list_children_in(&c, container).await
    }

    async fn update_message(&self, id: MessageId, update: MessageUpdate) -> StoreResult<Message> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // FOR UPDATE: racing edits queue here, so each sees the other's count. The chat's
        // row is locked as an append locks it, so that the change's `seq` follows the
        // order of the chat's writes.
        let mut m = query_opt(
            &tx,
            "SELECT msg.doc FROM chats c JOIN messages msg ON msg.chat_id = c.id AND msg.id = $2
             WHERE c.id = $1 FOR NO KEY UPDATE OF c FOR UPDATE OF msg",
            &[&id.chat().0, &id.0],
        )
        .await?
        .map(|r| rows::message(&r))
        .transpose()?
        .ok_or(StoreError::NotFound(Entity::Message))?;
        let at = match &update {
            MessageUpdate::Edit { at, .. } => *at,
            MessageUpdate::Remove(r) => r.at,
        };
        let removal = matches!(update, MessageUpdate::Remove(_));
        update.apply(&mut m)?;
        let change = if removal {
            MessageChange::Removed
        } else {
            MessageChange::Edited
        };
        let doc = form::encode_message(&m);
        // One statement: the new document and its change.
        execute(
            &tx,
            "WITH u AS (UPDATE messages SET doc = $3 WHERE chat_id = $1 AND id = $2 RETURNING chat_id)
             INSERT INTO changes(tenant_id, chat_id, at, kind, body)
             SELECT $4, u.chat_id, $5, $6, $7 FROM u",
            &[
                &id.chat().0,
                &id.0,
                &doc,
                &m.tenant.0,
                &at,
                &change.kind(),
                &change.wrap(&doc),
            ],
        )
        .await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(m)
    }

    async fn upgrade_documents(
        &self,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<DocumentUpgrade> {
        let (chat, id) = after.map_or((i64::MIN, i64::MIN), |m| (m.chat().0, m.0));
        let c = self.client().await?;
        // Rows of the current form start with its version byte; only older documents
        // (JSON text, first byte `{`) are read.
        let rows = query(
            &c,
            "SELECT id, CASE WHEN get_byte(doc, 0) = 123 THEN doc END FROM messages
             WHERE (chat_id, id) > ($1, $2) ORDER BY chat_id, id LIMIT $3",
            &[&chat, &id, &i64::from(limit)],
        )
        .await?;
        let mut step = DocumentUpgrade {
            scanned: rows.len() as u64,
            ..DocumentUpgrade::default()
        };
        if limit > 0 && rows.len() as u64 == u64::from(limit) {
            step.next = Some(MessageId(rows::get(&rows[rows.len() - 1], 0)?));
        }
        for r in &rows {
            let Some(old) = rows::get::<Option<Vec<u8>>>(r, 1)? else {
                continue;
            };
            let id = MessageId(rows::get(r, 0)?);
            let m = form::decode_message(&old).map_err(StoreError::Internal)?;
            // Only if the row still holds what was read: an edit meanwhile wrote the new
            // form itself.
            let n = execute(
                &c,
                "UPDATE messages SET doc = $3 WHERE chat_id = $1 AND id = $2 AND doc = $4",
                &[&id.chat().0, &id.0, &form::encode_message(&m), &old],
            )
            .await?;
            step.rewritten += n;
        }
        Ok(step)
    }
}
