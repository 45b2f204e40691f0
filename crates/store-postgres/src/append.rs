//! The append paths. A send without an idempotency key is one statement
//! ([`append_one`]); one with a key is one statement inside a transaction when the key is
//! free ([`append_keyed`]), else the general path that claims the key first
//! ([`append_timeline`]); a bulk import without keys reserves every chat's positions at
//! once ([`append_batch_reserved`]).

use crate::events::record_change;
use crate::messages::load_message;
use crate::rows;
use crate::sql::{execute, query, query_opt};
use deadpool_postgres::{GenericClient, Transaction};
use switchboard_core::error::{Conflict, Entity};
use switchboard_core::events::ChangeBody;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio_postgres::types::Json;

pub(crate) async fn insert_message(tx: &Transaction<'_>, m: &Message) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO messages(chat_id, id, created_at, upper_id, doc) VALUES ($1, $2, $3, $4, $5)",
        &[
            &m.chat.0,
            &m.id.0,
            &m.created_at,
            &m.upper.map(|u| u.0),
            &Json(m),
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
async fn no_position<C: GenericClient + Sync>(c: &C, chat: ChatId) -> StoreResult<StoreError> {
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

/// Appends a timeline message without an idempotency key in one statement, outside any
/// explicit transaction: the position update, the insert and the message's change commit
/// together or not at all (a failed insert rolls the increment back), in one round trip
/// instead of five (`BEGIN`, update, insert, change, `COMMIT`). The document is assembled
/// in SQL around the two values the update decides (see [`doc_around_position`]); the
/// change wraps the document the insert returns (`record_created_cte!`), so its `seq` is
/// taken under the chat's row lock and follows positions.
pub(crate) async fn append_one<C: GenericClient + Sync>(
    c: &C,
    new: &NewMessage,
) -> StoreResult<Message> {
    const SQL: &str = concat!(
        "WITH ",
        take_position_cte!(),
        ", m AS (
        INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
        SELECT $1, ($1 << 32) | c.last_position, c.last_created_at, NULL, ",
        doc_around_id!("(($1 << 32) | c.last_position)"),
        " FROM c RETURNING chat_id, id, created_at, doc), ",
        record_created_cte!("$6"),
        " SELECT id, created_at FROM m"
    );
    let draft = new.to_message(MessageId(0), 0, None);
    let (middle, tail) = doc_around_position(&draft)?;
    let row = query_opt(
        c,
        SQL,
        &[
            &new.chat.0,
            &new.created_at,
            &middle,
            &tail,
            &MAX_POSITION,
            &new.tenant.0,
        ],
    )
    .await?;
    let Some(r) = row else {
        return Err(no_position(c, new.chat).await?);
    };
    let (id, created_at): (i64, Millis) = (rows::get(&r, 0)?, rows::get(&r, 1)?);
    Ok(new.to_message(MessageId(id), created_at, None))
}

/// Appends a timeline message that carries an idempotency key, when the key is free or has
/// expired, in one statement: the position update, the key's row (pointing at the new
/// message), the insert and its change. Runs inside `tx`, which the caller commits: three round trips
/// (`BEGIN`, this, `COMMIT`) where claiming the key first took six.
///
/// `None` when the statement appended nothing: the key is live (a racing send holding it
/// made this statement wait until it committed), or the chat gave no position. The
/// position update then still holds its increment, so the caller must roll `tx` back and
/// settle the send with [`append_timeline`], which tells those cases apart.
///
/// Locks are taken chat row first, key row second, as every send of this kind does; the
/// fallback takes the key first, but it only goes on to the chat row when the key's message
/// is missing or expired, not for a racing send it has to wait for.
pub(crate) async fn append_keyed(
    tx: &Transaction<'_>,
    new: &NewMessage,
    cid: &str,
) -> StoreResult<Option<Message>> {
    const SQL: &str = concat!(
        "WITH ",
        take_position_cte!(),
        ", k AS (
            INSERT INTO idempotency(sender_kind, sender_id, client_msg_id, message_id, created_at)
            SELECT $6::text, $7::bigint, $8::text, ($1 << 32) | c.last_position, $2 FROM c
            ON CONFLICT (sender_kind, sender_id, client_msg_id) DO UPDATE
                SET message_id = EXCLUDED.message_id, created_at = EXCLUDED.created_at
                WHERE EXCLUDED.created_at - idempotency.created_at > $9::bigint
            RETURNING message_id)
        , m AS (
        INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
        SELECT $1, k.message_id, c.last_created_at, NULL, ",
        doc_around_id!("k.message_id"),
        " FROM c, k RETURNING chat_id, id, created_at, doc), ",
        record_created_cte!("$10"),
        " SELECT id, created_at FROM m"
    );
    let draft = new.to_message(MessageId(0), 0, None);
    let (middle, tail) = doc_around_position(&draft)?;
    let row = query_opt(
        tx,
        SQL,
        &[
            &new.chat.0,
            &new.created_at,
            &middle,
            &tail,
            &MAX_POSITION,
            &new.sender.kind(),
            &new.sender.raw_id(),
            &cid,
            &new.idempotency_window_ms,
            &new.tenant.0,
        ],
    )
    .await?;
    let Some(r) = row else { return Ok(None) };
    let (id, created_at): (i64, Millis) = (rows::get(&r, 0)?, rows::get(&r, 1)?);
    Ok(Some(new.to_message(MessageId(id), created_at, None)))
}

/// A new message's document without the values its append decides, as the two pieces
/// around them: the document is `{"id":ID` + `middle` + `CREATED` + `,"updated_at":CREATED` +
/// `tail`. `draft` carries zeros in their place.
///
/// The id is the document's first field. The times are found from the end: every field
/// serialised after them has a fixed type (no object of a sender's choosing, which could
/// hold the same keys), and inside strings every quote is escaped.
fn doc_around_position(draft: &Message) -> StoreResult<(String, String)> {
    const TIMES: &str = ",\"created_at\":0,\"updated_at\":0";
    let doc = serde_json::to_string(draft).map_err(|e| StoreError::Internal(e.to_string()))?;
    let rest = doc.strip_prefix("{\"id\":0").ok_or_else(|| {
        StoreError::Internal("message document does not start with its id".into())
    })?;
    let at = rest
        .rfind(TIMES)
        .ok_or_else(|| StoreError::Internal("message document has no times".into()))?;
    Ok((
        format!("{},\"created_at\":", &rest[..at]),
        rest[at + TIMES.len()..].to_string(),
    ))
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

/// A batch without idempotency keys, in a few statements instead of two per message: one
/// reserves every chat's positions at once, multi-row inserts write the messages, one
/// raises the chats' last times. Positions and times are those that appending the messages
/// one by one, in batch order, would give.
pub(crate) async fn append_batch_reserved(
    tx: &Transaction<'_>,
    mut batch: Vec<NewMessage>,
) -> StoreResult<Vec<Message>> {
    let mut counts: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
    for m in &batch {
        *counts.entry(m.chat.0).or_default() += 1;
    }
    let (chats, ns): (Vec<i64>, Vec<i64>) = counts.iter().map(|(c, n)| (*c, *n)).unzip();
    // Rows are locked in chat id order: two bulk appends over the same chats wait for each
    // other instead of deadlocking.
    let reserved = query(
        tx,
        "WITH locked AS (
             SELECT id FROM chats WHERE id = ANY($1) AND dissolved_at IS NULL ORDER BY id FOR UPDATE
         )
         UPDATE chats SET last_position = chats.last_position + c.n
         FROM UNNEST($1::bigint[], $2::bigint[]) AS c(id, n), locked
         WHERE chats.id = c.id AND locked.id = c.id
         RETURNING chats.id, chats.last_position - c.n, chats.last_created_at",
        &[&chats, &ns],
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
    if let Some(missing) = chats.iter().find(|c| !cursor.contains_key(&ChatId(**c))) {
        // The same answer a single append would give; the transaction is dropped.
        next_position(tx, ChatId(*missing), 0).await?;
        return Err(StoreError::Internal("chat counter vanished".into()));
    }
    let out = place_batch(&mut batch, &mut cursor)?;
    for part in out.chunks(BULK_INSERT_ROWS) {
        let chat_ids: Vec<i64> = part.iter().map(|m| m.chat.0).collect();
        let ids: Vec<i64> = part.iter().map(|m| m.id.0).collect();
        let times: Vec<Millis> = part.iter().map(|m| m.created_at).collect();
        let docs: Vec<Json<&Message>> = part.iter().map(Json).collect();
        execute(
            tx,
            "INSERT INTO messages(chat_id, id, created_at, upper_id, doc)
             SELECT m.chat_id, m.id, m.created_at, NULL, m.doc
             FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::json[]) AS m(chat_id, id, created_at, doc)",
            &[&chat_ids, &ids, &times, &docs],
        )
        .await?;
    }
    let (chats, lasts): (Vec<i64>, Vec<Millis>) =
        cursor.iter().map(|(c, (_, t))| (c.0, *t)).unzip();
    execute(
        tx,
        "UPDATE chats SET last_created_at = GREATEST(chats.last_created_at, c.t)
         FROM UNNEST($1::bigint[], $2::bigint[]) AS c(id, t) WHERE chats.id = c.id",
        &[&chats, &lasts],
    )
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pieces, joined the way the append statement joins them, are the document the
    /// message serialises to, whatever its content holds.
    #[test]
    fn documents_assembled_around_the_position_are_the_plain_documents() {
        let tricky = [
            // The same keys as the document's times, in an object of the sender's choosing.
            serde_json::json!({ "created_at": 0, "updated_at": 0 }),
            serde_json::json!({ "text": ",\"created_at\":0,\"updated_at\":0", "id": 0 }),
            serde_json::json!({ "title": "日本語 \u{1F600}", "paragraphs": [[{ "tag": "text", "text": "\"}" }]] }),
        ];
        for (n, data) in tricky.into_iter().enumerate() {
            let mut m = Message {
                id: MessageId(0),
                tenant: TenantId(3),
                chat: ChatId(7),
                sender: Actor::User(UserId(9)),
                kind: MessageType::Card,
                content: Content {
                    text: ",\"created_at\":0,\"updated_at\":0".into(),
                    data: data.clone(),
                    original: Some(OriginalContent {
                        format: "wps".into(),
                        value: data,
                    }),
                },
                mentions: vec![],
                created_at: 0,
                updated_at: 0,
                edit: None,
                removal: None,
                parent: (n > 0).then_some(MessageId(7 << 32 | 1)),
                root: None,
                thread: None,
                upper: None,
                copied_from: None,
                client_msg_id: None,
                extra: MessageExtra {
                    sub_type: Some(2),
                    extension: (n == 1).then(|| ",\"created_at\":0,\"updated_at\":0".into()),
                    client_type: None,
                },
            };
            let (middle, tail) = doc_around_position(&m).unwrap();
            let (id, at) = (7i64 << 32 | 12, 1_700_000_000_123i64);
            let joined = format!("{{\"id\":{id}{middle}{at},\"updated_at\":{at}{tail}");
            m.id = MessageId(id);
            m.created_at = at;
            m.updated_at = at;
            assert_eq!(joined, serde_json::to_string(&m).unwrap(), "case {n}");
            // The send statement's change wraps the document the same way
            // (`record_created_cte!`): byte for byte what `ChangeBody::encode` writes.
            let wrapped = format!("{{\"kind\":\"message_created\",\"message\":{joined}}}");
            assert_eq!(
                wrapped.as_bytes(),
                ChangeBody::MessageCreated { message: m.clone() }.encode(),
                "case {n}"
            );
        }
    }
}
