//! Group commit: concurrent sends written in one transaction.
//!
//! A send alone costs a transaction, and a transaction's commit waits for its WAL flush.
//! A group (`batch.rs`: the sends queued while the batcher's connections were busy)
//! shares one transaction and one flush: its idempotency keys are claimed in one
//! statement, its chats' positions reserved in one, its messages and their changes
//! inserted in one (`append::append_group`), and the keys pointed at their messages in
//! one. Every send is answered only after the commit, so an acknowledged send is as
//! durable as before; positions are taken under the chats' row locks, as one by one, so
//! they stay gapless across nodes.
//!
//! Some sends leave the group for the general path (`append::append_timeline`, in a
//! transaction of their own, after the group commits), which tells apart what a group
//! statement cannot:
//! - a send whose key is live (its earlier message is the answer), or whose key another
//!   send of the group holds (it waits for that one and then finds its message);
//! - a send whose idempotency window differs from the group's;
//! - every send of a group that failed before its commit (a chat gone or full, a deadlock
//!   with another node's writes): nothing of it was written, and each send then gets its
//!   own answer.

use crate::append::{append_group, append_timeline};
use crate::batch::Batcher;
use crate::errors::{pg_err, pool_err};
use crate::sql::{execute, query};
use deadpool_postgres::{Pool, Transaction};
use std::collections::HashSet;
use switchboard_core::store::{Appended, NewMessage, StoreError, StoreResult};
use tokio::sync::oneshot;

/// Sends per group at most.
const MAX_BATCH: usize = 256;

struct Job {
    new: NewMessage,
    reply: oneshot::Sender<StoreResult<Appended>>,
}

/// The handle sends queue on.
pub(crate) struct Sends {
    batcher: Batcher<Job>,
    pool: Pool,
}

impl Sends {
    /// Writes at most `connections` groups at once, on `pool`.
    pub(crate) fn spawn(pool: Pool, connections: usize) -> Self {
        let for_task = pool.clone();
        let batcher = Batcher::spawn(connections, MAX_BATCH, move |batch| {
            let pool = for_task.clone();
            async move { settle(&pool, batch).await }
        });
        Sends { batcher, pool }
    }

    /// Appends `new` with the sends queued beside it; answered once its group committed.
    pub(crate) async fn append(&self, new: NewMessage) -> StoreResult<Appended> {
        let (reply, answer) = oneshot::channel();
        match self.batcher.submit(Job { new, reply }) {
            Ok(()) => answer
                .await
                .map_err(|_| StoreError::Unavailable("the store is shutting down".into()))?,
            // The task is gone (its runtime is shutting down): the send goes alone.
            Err(job) => alone(&self.pool, &job.new).await,
        }
    }
}

/// One send on the general path, in its own transaction.
async fn alone(pool: &Pool, new: &NewMessage) -> StoreResult<Appended> {
    let mut c = pool.get().await.map_err(pool_err)?;
    let tx = c.transaction().await.map_err(pg_err)?;
    let appended = append_timeline(&tx, new, true).await?;
    tx.commit().await.map_err(pg_err)?;
    Ok(appended)
}

type Key = (&'static str, i64, String);

fn key_of(new: &NewMessage) -> Option<Key> {
    let cid = new.client_msg_id.as_ref()?;
    Some((new.sender.kind(), new.sender.raw_id(), cid.clone()))
}

async fn settle(pool: &Pool, batch: Vec<Job>) {
    let window = batch[0].new.idempotency_window_ms;
    let mut group = Vec::with_capacity(batch.len());
    let mut later = Vec::new();
    let mut seen = HashSet::new();
    for j in batch {
        let alone = key_of(&j.new)
            .is_some_and(|k| j.new.idempotency_window_ms != window || !seen.insert(k));
        if alone {
            later.push(j);
        } else {
            group.push(j);
        }
    }
    if !group.is_empty() {
        match pool.get().await {
            Err(e) => {
                let e = pool_err(e);
                for j in group.into_iter().chain(later) {
                    let _ = j.reply.send(Err(e.clone()));
                }
                return;
            }
            Ok(mut c) => match write(&mut c, group, window).await {
                Written::Committed { answered, left } => {
                    for (j, m) in answered {
                        let _ = j.send(Ok(Appended {
                            message: m,
                            created: true,
                        }));
                    }
                    later.extend(left);
                }
                Written::NotWritten(jobs) => later.extend(jobs),
            },
        }
    }
    for j in later {
        let answer = alone(pool, &j.new).await;
        let _ = j.reply.send(answer);
    }
}

type Reply = oneshot::Sender<StoreResult<Appended>>;

enum Written {
    /// Committed: these replies' messages, and the sends left for the general path.
    Committed {
        answered: Vec<(Reply, switchboard_core::model::Message)>,
        left: Vec<Job>,
    },
    /// Not written and not yet answered: these sends go on alone.
    NotWritten(Vec<Job>),
}

/// Writes `group` in one transaction. When chats give no position (dissolved since the
/// send checked, or gone), their sends leave the group and the rest are tried once more.
async fn write(c: &mut deadpool_postgres::Object, mut group: Vec<Job>, window: i64) -> Written {
    let mut left = Vec::new();
    for _ in 0..2 {
        match attempt(c, group, window).await {
            Attempt::Committed { answered, left: l } => {
                left.extend(l);
                return Written::Committed { answered, left };
            }
            Attempt::Retry { group: g, left: l } => {
                left.extend(l);
                group = g;
            }
            Attempt::Over(l) => {
                left.extend(l);
                return Written::NotWritten(left);
            }
        }
        if group.is_empty() {
            break;
        }
    }
    left.extend(group);
    Written::NotWritten(left)
}

enum Attempt {
    Committed {
        answered: Vec<(Reply, switchboard_core::model::Message)>,
        left: Vec<Job>,
    },
    /// Rolled back because chats gave no position: `group` may be tried again, `left` may not.
    Retry { group: Vec<Job>, left: Vec<Job> },
    /// Rolled back or failed: the sends not answered yet, for the general path.
    Over(Vec<Job>),
}

async fn attempt(c: &mut deadpool_postgres::Object, group: Vec<Job>, window: i64) -> Attempt {
    let tx = match c.transaction().await {
        Ok(tx) => tx,
        Err(_) => return Attempt::Over(group),
    };
    let (mut news, replies): (Vec<NewMessage>, Vec<Reply>) =
        group.into_iter().map(|j| (j.new, j.reply)).unzip();
    // Keys first, then chats: the order the general path takes them in.
    let live = match claim_keys(&tx, &news, window).await {
        Ok(live) => live,
        Err(_) => return Attempt::Over(rejoin(news, replies)),
    };
    let (mut kept, mut kept_replies, mut left) = (Vec::new(), Vec::new(), Vec::new());
    for (new, reply) in news.drain(..).zip(replies) {
        if key_of(&new).is_some_and(|k| live.contains(&k)) {
            left.push(Job { new, reply });
        } else {
            kept.push(new);
            kept_replies.push(reply);
        }
    }
    let failed = |e: StoreError, replies: Vec<Reply>, left: Vec<Job>| {
        // The contents moved into the group's messages, so these sends cannot be retried
        // here; nothing of them was written (the transaction is dropped, so rolled back).
        for r in replies {
            let _ = r.send(Err(e.clone()));
        }
        Attempt::Over(left)
    };
    let messages = match append_group(&tx, &mut kept, true).await {
        Ok(Ok(m)) => m,
        // Chats gave no position: `kept` is intact; their sends learn why alone.
        Ok(Err(chats)) => {
            let (out, group): (Vec<Job>, Vec<Job>) = rejoin(kept, kept_replies)
                .into_iter()
                .partition(|j| chats.contains(&j.new.chat));
            left.extend(out);
            return Attempt::Retry { group, left };
        }
        Err(e) => return failed(e, kept_replies, left),
    };
    if let Err(e) = point_keys(&tx, &messages).await {
        return failed(e, kept_replies, left);
    }
    if let Err(e) = tx.commit().await {
        let e = pg_err(e);
        for r in kept_replies {
            let _ = r.send(Err(e.clone()));
        }
        // Those left out were not part of the commit: they go on alone.
        return Attempt::Over(left);
    }
    Attempt::Committed {
        answered: kept_replies.into_iter().zip(messages).collect(),
        left,
    }
}

fn rejoin(news: Vec<NewMessage>, replies: Vec<Reply>) -> Vec<Job> {
    news.into_iter()
        .zip(replies)
        .map(|(new, reply)| Job { new, reply })
        .collect()
}

/// Claims the group's keys that are free or expired; returns those that are live (held by
/// an earlier message within the window), whose sends leave the group. Keys are claimed
/// in key order, so that groups sharing keys cannot deadlock on them.
async fn claim_keys(
    tx: &Transaction<'_>,
    news: &[NewMessage],
    window: i64,
) -> StoreResult<HashSet<Key>> {
    let mut keys: Vec<(Key, i64)> = news
        .iter()
        .filter_map(|n| key_of(n).map(|k| (k, n.created_at)))
        .collect();
    if keys.is_empty() {
        return Ok(HashSet::new());
    }
    keys.sort();
    let kinds: Vec<&str> = keys.iter().map(|((k, _, _), _)| *k).collect();
    let senders: Vec<i64> = keys.iter().map(|((_, s, _), _)| *s).collect();
    let cids: Vec<&str> = keys.iter().map(|((_, _, c), _)| c.as_str()).collect();
    let times: Vec<i64> = keys.iter().map(|(_, t)| *t).collect();
    // The placeholder message id 0 is replaced before the commit ([`point_keys`]); until
    // then the rows are locked, so no one else reads it.
    let claimed = query(
        tx,
        "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at)
         SELECT u.k, u.s, u.c, 0, u.t
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[]) AS u(k, s, c, t)
         ON CONFLICT (sender_kind, sender_id, client_msg_id) DO UPDATE
             SET message_id = 0, created_at = EXCLUDED.created_at
             WHERE EXCLUDED.created_at - idempotency.created_at > $5::bigint
         RETURNING sender_kind, sender_id, client_msg_id",
        &[&kinds, &senders, &cids, &times, &window],
    )
    .await?;
    let mut got = HashSet::with_capacity(claimed.len());
    for r in &claimed {
        let (k, s, c): (String, i64, String) = (
            crate::rows::get(r, 0)?,
            crate::rows::get(r, 1)?,
            crate::rows::get(r, 2)?,
        );
        got.insert((k, s, c));
    }
    Ok(keys
        .into_iter()
        .map(|(k, _)| k)
        .filter(|(k, s, c)| !got.contains(&(k.to_string(), *s, c.clone())))
        .collect())
}

/// Points each claimed key at the message its send created.
async fn point_keys(
    tx: &Transaction<'_>,
    messages: &[switchboard_core::model::Message],
) -> StoreResult<()> {
    let keyed: Vec<_> = messages
        .iter()
        .filter_map(|m| m.client_msg_id.as_ref().map(|c| (m, c)))
        .collect();
    if keyed.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = keyed.iter().map(|(m, _)| m.sender.kind()).collect();
    let senders: Vec<i64> = keyed.iter().map(|(m, _)| m.sender.raw_id()).collect();
    let cids: Vec<&str> = keyed.iter().map(|(_, c)| c.as_str()).collect();
    let ids: Vec<i64> = keyed.iter().map(|(m, _)| m.id.0).collect();
    let times: Vec<i64> = keyed.iter().map(|(m, _)| m.created_at).collect();
    // An upsert of rows [`claim_keys`] wrote: each row found through the key's index, where
    // an `UPDATE … FROM` is free to scan the table.
    execute(
        tx,
        "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at)
         SELECT u.k, u.s, u.c, u.m, u.t
         FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[]) AS u(k, s, c, m, t)
         ON CONFLICT (sender_kind, sender_id, client_msg_id) DO UPDATE SET message_id = EXCLUDED.message_id",
        &[&kinds, &senders, &cids, &ids, &times],
    )
    .await?;
    Ok(())
}
