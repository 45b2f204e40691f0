//! The append paths: one for groups of messages ([`append_group`]: concurrent sends, which
//! `sends.rs` gathers, and bulk imports), and one general path for a single message
//! ([`append_timeline`]: a send whose idempotency key is live or shared within its group,
//! a merge-forward's container, an import that carries keys, and any send whose group
//! could not be written together).

use crate::events::record_change;
use crate::messages::load_message;
use crate::rows;
use crate::sql::{execute, query, query_opt};
use deadpool_postgres::{GenericClient, Transaction};
use switchboard_core::error::{Conflict, Entity};
use switchboard_core::events::{ChangeBody, MessageChange};
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

pub(crate) async fn insert_message(tx: &Transaction<'_>, m: &Message) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO messages(chat_id, id, created_at, upper_id, doc) VALUES ($1, $2, $3, $4, $5)",
        &[
            &m.chat.0,
            &m.id.0,
            &m.created_at,
            &m.upper.map(|u| u.0),
            &form::encode_message(m),
        ],
    )
    .await?;
    Ok(())
}

/// Takes the next timeline position of `chat`; returns (position, created_at). The row
/// lock taken here is held until the caller's transaction ends.
async fn next_position(
    tx: &Transaction<'_>,
    chat: ChatId,
    created_floor: Millis,
) -> StoreResult<(i64, Millis)> {
    let row = query_opt(
        tx,
        "UPDATE chats SET last_position = last_position + 1, last_created_at = GREATEST(last_created_at, $2)
         WHERE id = $1 AND dissolved_at IS NULL RETURNING last_position, last_created_at",
        &[&chat.0, &created_floor],
    )
    .await?;
    match row {
        Some(r) => Ok((rows::get(&r, 0)?, rows::get(&r, 1)?)),
        None => Err(no_position(tx, chat).await?),
    }
}

/// Why `chat` gave no position: it does not exist, it is dissolved, or (when neither) it
/// has used its last one.
pub(crate) async fn no_position<C: GenericClient + Sync>(
    c: &C,
    chat: ChatId,
) -> StoreResult<StoreError> {
    let row = query_opt(
        c,
        "SELECT dissolved_at IS NOT NULL FROM chats WHERE id = $1",
        &[&chat.0],
    )
    .await?;
    Ok(match row {
        None => StoreError::NotFound(Entity::Chat),
        Some(r) if rows::get::<bool>(&r, 0)? => StoreError::Conflict(Conflict::ChatDissolved),
        Some(_) => StoreError::Internal(format!("chat {chat} is full")),
    })
}

/// Appends one timeline message inside `tx`, honouring the idempotency key; records its
/// change when it writes and `record` is set (a bulk import records none).
///
/// Two racing sends with the same key must not both append. The key's row is therefore
/// claimed first: a placeholder insert that blocks on a concurrent claimant's uncommitted
/// row, or, when the row exists, a `FOR UPDATE` read. Either way the loser proceeds only
/// after the winner commits, and then sees the winner's message.
pub(crate) async fn append_timeline(
    tx: &Transaction<'_>,
    new: &NewMessage,
    record: bool,
) -> StoreResult<Appended> {
    let (kind, sender) = (new.sender.kind(), new.sender.raw_id());
    if let Some(cid) = &new.client_msg_id {
        let claimed = execute(
            tx,
            "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at)
             VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING",
            &[&kind, &sender, cid, &new.created_at],
        )
        .await?
            == 1;
        if !claimed {
            let prior = query_opt(
                tx,
                "SELECT message_id, created_at FROM idempotency
                 WHERE sender_kind = $1 AND sender_id = $2 AND client_msg_id = $3 FOR UPDATE",
                &[&kind, &sender, cid],
            )
            .await?;
            if let Some(r) = prior {
                let (mid, at): (i64, Millis) = (rows::get(&r, 0)?, rows::get(&r, 1)?);
                if new.created_at.saturating_sub(at) <= new.idempotency_window_ms {
                    if let Some(mid) = MessageId::from_raw(mid) {
                        if let Some(m) = load_message(tx, mid, false).await? {
                            return Ok(Appended {
                                message: m,
                                created: false,
                            });
                        }
                    }
                }
            }
        }
    }
    let (pos, created_at) = next_position(tx, new.chat, new.created_at).await?;
    let id = MessageId::timeline(new.chat, pos)
        .ok_or_else(|| StoreError::Internal(format!("chat {} is full", new.chat)))?;
    let m = new.to_message(id, created_at, None);
    insert_message(tx, &m).await?;
    if let Some(cid) = &new.client_msg_id {
        execute(
            tx,
            "INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (sender_kind, sender_id, client_msg_id)
             DO UPDATE SET message_id = EXCLUDED.message_id, created_at = EXCLUDED.created_at",
            &[&kind, &sender, cid, &id.0, &new.created_at],
        )
        .await?;
    }
    if record {
        let body = ChangeBody::MessageCreated { message: m.clone() };
        record_change(tx, new.tenant, new.chat, created_at, &body).await?;
    }
    Ok(Appended {
        message: m,
        created: true,
    })
}

/// Rows per multi-row insert of a bulk append: large enough that round trips stop
/// mattering, small enough to keep each statement's parameters to a few megabytes.
const BULK_INSERT_ROWS: usize = 2_000;

/// Appends `batch` (to any chats, without idempotency keys, or with keys the caller has
/// already claimed) in three statements however large it is: one reserves every chat's
/// positions and raises its last time, multi-row inserts write the messages and, when
/// `record` is set, their changes (a bulk import records none). Positions and times are
/// those that appending the messages one by one, in batch order, would give.
///
/// `Err(chats)` and nothing written when chats gave no position (they are missing,
/// dissolved or full); `batch` is then as it was, and the caller rolls `tx` back. Otherwise the
/// contents move out of `batch` into the messages.
pub(crate) async fn append_group(
    tx: &Transaction<'_>,
    batch: &mut [NewMessage],
    record: bool,
) -> StoreResult<Result<Vec<Message>, Vec<ChatId>>> {
    let mut per_chat: std::collections::BTreeMap<i64, (i64, Millis)> = Default::default();
    for m in batch.iter() {
        let e = per_chat.entry(m.chat.0).or_insert((0, Millis::MIN));
        e.0 += 1;
        e.1 = e.1.max(m.created_at);
    }
    let mut chats = Vec::with_capacity(per_chat.len());
    let mut counts = Vec::with_capacity(per_chat.len());
    let mut lasts = Vec::with_capacity(per_chat.len());
    for (c, (n, t)) in &per_chat {
        chats.push(*c);
        counts.push(*n);
        lasts.push(*t);
    }
    // Rows are locked in chat id order, so that groups over the same chats wait for each
    // other instead of deadlocking. `chats.id = ANY($1)` repeats the join's condition so
    // that the update finds its rows by index whatever the planner estimates. `locked` returns each row as it is once locked (the
    // newest committed version), so its time is the one before this group.
    let reserved = query(
        tx,
        "WITH locked AS (
             SELECT id, last_created_at FROM chats
             WHERE id = ANY($1) AND dissolved_at IS NULL ORDER BY id FOR UPDATE
         )
         UPDATE chats SET last_position = chats.last_position + c.n,
                          last_created_at = GREATEST(chats.last_created_at, c.t)
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]) AS c(id, n, t), locked
         WHERE chats.id = ANY($1) AND chats.id = c.id AND locked.id = c.id
           AND chats.last_position + c.n <= $4
         RETURNING chats.id, chats.last_position - c.n, locked.last_created_at",
        &[&chats, &counts, &lasts, &MAX_POSITION],
    )
    .await?;
    // chat -> (last position taken, last created_at)
    let mut cursor: std::collections::HashMap<ChatId, (i64, Millis)> =
        std::collections::HashMap::with_capacity(reserved.len());
    for r in &reserved {
        cursor.insert(
            ChatId(rows::get(r, 0)?),
            (rows::get(r, 1)?, rows::get(r, 2)?),
        );
    }
    let missing: Vec<ChatId> = chats
        .iter()
        .map(|c| ChatId(*c))
        .filter(|c| !cursor.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Ok(Err(missing));
    }
    let out = place_batch(batch, &mut cursor)?;
    for part in out.chunks(BULK_INSERT_ROWS) {
        insert_part(tx, part, record).await?;
    }
    Ok(Ok(out))
}

/// Inserts `part` in one statement; with `record`, their `message_created` changes too,
/// each body wrapping the document as inserted (byte for byte what `ChangeBody::encode`
/// writes: `MessageChange::wrap`'s prefix, then the document), in id order, so that a
/// chat's changes take `seq`s in the order of its positions.
async fn insert_part(tx: &Transaction<'_>, part: &[Message], record: bool) -> StoreResult<()> {
    const PLAIN: &str = "INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
         SELECT m.chat_id, m.id, m.created_at, NULL, m.doc
         FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[]) AS m(chat_id, id, created_at, doc)";
    const RECORDED: &str = "WITH m AS (
             INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
             SELECT u.chat_id, u.id, u.created_at, NULL, u.doc
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[]) AS u(chat_id, id, created_at, doc)
             RETURNING chat_id, id, created_at, doc)
         INSERT INTO changes(tenant_id, chat_id, at, kind, body)
         SELECT t.tenant_id, m.chat_id, m.created_at, 'message_created',
                $6::bytea || m.doc
         FROM m JOIN UNNEST($2::bigint[], $5::bigint[]) AS t(id, tenant_id) ON t.id = m.id
         ORDER BY m.id";
    let chat_ids: Vec<i64> = part.iter().map(|m| m.chat.0).collect();
    let ids: Vec<i64> = part.iter().map(|m| m.id.0).collect();
    let times: Vec<Millis> = part.iter().map(|m| m.created_at).collect();
    let docs: Vec<Vec<u8>> = part.iter().map(form::encode_message).collect();
    if record {
        let tenants: Vec<i64> = part.iter().map(|m| m.tenant.0).collect();
        let prefix = MessageChange::Created.wrap(&[]);
        execute(
            tx,
            RECORDED,
            &[&chat_ids, &ids, &times, &docs, &tenants, &prefix],
        )
        .await?;
    } else {
        execute(tx, PLAIN, &[&chat_ids, &ids, &times, &docs]).await?;
    }
    Ok(())
}
