//! Recording changes: the outbox's entries, written by the write that causes them, on its
//! connection and so inside its savepoint (a failed write leaves no change, a committed
//! write always has its change). The insert is a cached prepared statement: it runs on
//! every send.

use crate::sql_err;
use rusqlite::{params, Connection};
use switchboard_core::events::{ChangeBody, MessageChange};
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

/// Records `body` as a change of `chat` at `at`.
pub(crate) fn record(
    conn: &Connection,
    tenant: TenantId,
    chat: ChatId,
    at: Millis,
    body: &ChangeBody,
) -> StoreResult<()> {
    insert(conn, tenant, chat, at, body.kind(), &body.encode())
}

/// Records a change about message `m`, whose stored form the write has just stored as
/// `doc`: the body is built around it ([`MessageChange::wrap`]) rather than by encoding the
/// message a second time on the writer thread.
pub(crate) fn record_message(
    conn: &Connection,
    change: MessageChange,
    m: &Message,
    doc: &[u8],
    at: Millis,
) -> StoreResult<()> {
    insert(conn, m.tenant, m.chat, at, change.kind(), &change.wrap(doc))
}

fn insert(
    conn: &Connection,
    tenant: TenantId,
    chat: ChatId,
    at: Millis,
    kind: &str,
    body: &[u8],
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO changes(tenant_id, chat_id, at, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .and_then(|mut s| s.execute(params![tenant.0, chat.0, at, kind, body]))
    .map_err(sql_err)?;
    Ok(())
}

/// The tenant of `chat`, for a change whose write names only the chat.
pub(crate) fn chat_tenant(conn: &Connection, chat: ChatId) -> StoreResult<TenantId> {
    use rusqlite::OptionalExtension;
    conn.prepare_cached("SELECT tenant_id FROM chats WHERE id = ?1")
        .and_then(|mut s| s.query_row([chat.0], |r| r.get(0)).optional())
        .map_err(sql_err)?
        .map(TenantId)
        .ok_or(StoreError::NotFound(switchboard_core::error::Entity::Chat))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_bodies_are_what_encode_gives() {
        let mut m = Message {
            id: MessageId(5 << 32 | 9),
            tenant: TenantId(1),
            chat: ChatId(5),
            sender: Actor::App(AppId(3)),
            kind: MessageType::Text,
            content: Content {
                text: "hé \"quoted\" }".into(),
                data: serde_json::json!({ "text": "x", "kind": "message_created" }).into(),
                original: None,
            },
            mentions: vec![],
            created_at: 1_700_000_000_000,
            updated_at: 1_700_000_000_000,
            edit: None,
            removal: None,
            parent: None,
            root: None,
            thread: None,
            upper: None,
            copied_from: None,
            client_msg_id: Some("c".into()),
            extra: MessageExtra::default(),
        };
        m.extra.sub_type = Some(7);
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE changes(seq INTEGER PRIMARY KEY, tenant_id, chat_id, at, kind, body)",
        )
        .unwrap();
        let doc = switchboard_core::store::form::encode_message(&m);
        for (change, body) in [
            (
                MessageChange::Created,
                ChangeBody::MessageCreated { message: m.clone() },
            ),
            (
                MessageChange::Edited,
                ChangeBody::MessageEdited { message: m.clone() },
            ),
            (
                MessageChange::Removed,
                ChangeBody::MessageRemoved { message: m.clone() },
            ),
        ] {
            record_message(&conn, change, &m, &doc, 1).unwrap();
            let (kind, bytes): (String, Vec<u8>) = conn
                .query_row(
                    "SELECT kind, body FROM changes ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(kind, body.kind());
            assert_eq!(bytes, body.encode(), "{kind}");
            assert_eq!(ChangeBody::decode(&bytes).unwrap(), body);
        }
    }
}
