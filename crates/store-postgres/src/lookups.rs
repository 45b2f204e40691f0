//! A get's lookup of chat, membership and message (and a send's of chat and membership),
//! for concurrent requests in one statement.
//!
//! Every get by id runs this lookup, so on a busy node it is as frequent as the requests.
//! Alone it is one short statement whose cost is mostly what any statement costs; a batch
//! (`batch.rs`: the lookups queued while the batcher's connections were busy) reads every
//! queued lookup's rows in one statement instead. Each lookup is a row of its own, matched
//! by its place in the batch, and decoded by the request that asked for it, so the
//! documents' decoding stays spread over the worker threads.
//!
//! A request queued its lookup before the batch's statement started, so the statement's
//! snapshot holds every write acknowledged before the request arrived: batching changes
//! which statement reads a row, never what it may see.

use crate::batch::Batcher;
use crate::errors::pool_err;
use crate::sql::query;
use deadpool_postgres::Pool;
use switchboard_core::ids::{ChatId, MessageId};
use switchboard_core::model::Actor;
use switchboard_core::store::{StoreError, StoreResult};
use tokio::sync::oneshot;
use tokio_postgres::Row;

/// Lookups per statement at most.
const MAX_BATCH: usize = 256;

/// The columns of each answer row: the chat and member (`rows::chat_and_member`), the
/// message's document at [`DOC_COLUMN`], and the lookup's place in its batch last. Each
/// `LATERAL … LIMIT 1` is one primary-key lookup per row of the batch whatever the planner
/// estimates (without the limit it may hash-join a whole table against a small batch).
const SQL: &str = concat!(
    "SELECT ",
    chat_and_member_cols!(),
    ", msg.doc, q.ord
     FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])
          WITH ORDINALITY AS q(chat_id, member_kind, member_id, message_id, ord)
     CROSS JOIN LATERAL (SELECT * FROM chats WHERE id = q.chat_id LIMIT 1) c
     LEFT JOIN LATERAL (SELECT * FROM chat_members
                        WHERE chat_id = q.chat_id AND member_kind = q.member_kind
                          AND member_id = q.member_id LIMIT 1) m ON true
     LEFT JOIN LATERAL (SELECT doc FROM messages
                        WHERE chat_id = q.chat_id AND id = q.message_id LIMIT 1) msg ON true"
);

/// Where the message's document is in an answer row.
pub(crate) const DOC_COLUMN: usize = 15;
const ORD_COLUMN: usize = 16;

struct Job {
    chat: i64,
    member_kind: &'static str,
    member_id: i64,
    message: i64,
    /// The answer row; `None` when the chat does not exist.
    reply: oneshot::Sender<StoreResult<Option<Row>>>,
}

/// The handle gets queue their lookups on.
pub(crate) struct Lookups {
    batcher: Batcher<Job>,
}

impl Lookups {
    /// Runs at most `connections` batches at once, on `pool`.
    pub(crate) fn spawn(pool: Pool, connections: usize) -> Self {
        let batcher = Batcher::spawn(connections, MAX_BATCH, move |batch| {
            let pool = pool.clone();
            async move { settle(&pool, batch).await }
        });
        Lookups { batcher }
    }

    /// The row of `chat`, `reader`'s membership in it and `message` (columns as [`SQL`]'s),
    /// or `None` when the chat does not exist. Without a reader no member matches
    /// (`member_kind` is never empty); without a message none does (no id is 0).
    pub(crate) async fn lookup(
        &self,
        chat: ChatId,
        reader: Option<Actor>,
        message: Option<MessageId>,
    ) -> StoreResult<Option<Row>> {
        let (member_kind, member_id) = reader.map_or(("", 0), |a| (a.kind(), a.raw_id()));
        let (reply, answer) = oneshot::channel();
        let job = Job {
            chat: chat.0,
            member_kind,
            member_id,
            message: message.map_or(0, |m| m.0),
            reply,
        };
        if self.batcher.submit(job).is_err() {
            return Err(StoreError::Unavailable("the store is shutting down".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?
    }
}

async fn settle(pool: &Pool, batch: Vec<Job>) {
    let rows = read(pool, &batch).await;
    let mut answers: Vec<Option<Row>> = (0..batch.len()).map(|_| None).collect();
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            for j in batch {
                let _ = j.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    for r in rows {
        match r.try_get::<_, i64>(ORD_COLUMN) {
            Ok(ord) if ord >= 1 && (ord as usize) <= answers.len() => {
                answers[ord as usize - 1] = Some(r)
            }
            _ => {}
        }
    }
    for (j, row) in batch.into_iter().zip(answers) {
        // A request that gave up no longer listens.
        let _ = j.reply.send(Ok(row));
    }
}

async fn read(pool: &Pool, batch: &[Job]) -> StoreResult<Vec<Row>> {
    let chats: Vec<i64> = batch.iter().map(|j| j.chat).collect();
    let kinds: Vec<&str> = batch.iter().map(|j| j.member_kind).collect();
    let members: Vec<i64> = batch.iter().map(|j| j.member_id).collect();
    let messages: Vec<i64> = batch.iter().map(|j| j.message).collect();
    let c = pool.get().await.map_err(pool_err)?;
    query(&c, SQL, &[&chats, &kinds, &members, &messages]).await
}
