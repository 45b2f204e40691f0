//! The SQL fragments several statements share (as macros, so that statements can
//! `concat!` them), and the helpers that run a statement through the connection's cache of
//! prepared statements.

use crate::errors::pg_err;
use deadpool_postgres::GenericClient;
use switchboard_core::store::*;

/// The columns [`crate::rows::chat_and_member`] reads: a chat `c` and a membership `m`
/// joined onto it. A macro, not a `const`, so that statements can `concat!` it.
macro_rules! chat_and_member_cols {
    () => {
        "c.id, c.tenant_id, c.kind, c.name, c.owner_kind, c.owner_id, c.created_at, c.dissolved_at, c.last_position, c.description,
         m.chat_id, m.member_kind, m.member_id, m.role, m.joined_at"
    };
}

/// Takes the next position of chat `$1` (created no earlier than `$2`, at most `$5`) and
/// yields `c(last_position, last_created_at)`; and the document assembled around it (see
/// `doc_around_position` in `append.rs`, pieces `$3` and `$4`) for the message id `$id`.
/// Shared by the one-statement appends, with and without an idempotency key.
macro_rules! take_position_cte {
    () => {
        "c AS (
            UPDATE chats SET last_position = last_position + 1, last_created_at = GREATEST(last_created_at, $2::bigint)
            WHERE id = $1::bigint AND dissolved_at IS NULL AND last_position < $5::bigint
            RETURNING last_position, last_created_at)"
    };
}

macro_rules! doc_around_id {
    ($id:literal) => {
        concat!(
            "('{\"id\":' || ",
            $id,
            " || $3::text || c.last_created_at
                || ',\"updated_at\":' || c.last_created_at || $4::text)::json"
        )
    };
}

/// Records the `message_created` change of the message a CTE `m` inserted (`RETURNING
/// chat_id, created_at, doc`), for tenant `$tenant`. The change depends on `m`'s output, so
/// its `seq` is taken after the chat's row lock, in the same statement. The body is the
/// stored document wrapped as `ChangeBody::MessageCreated` serialises it (see
/// `created_body_wraps_the_document` in `append.rs`).
macro_rules! record_created_cte {
    ($tenant:literal) => {
        concat!(
            "e AS (
            INSERT INTO changes(tenant_id, chat_id, at, kind, body)
            SELECT ",
            $tenant,
            "::bigint, m.chat_id, m.created_at, 'message_created',
                convert_to('{\"kind\":\"message_created\",\"message\":' || m.doc::text || '}', 'UTF8')
            FROM m)"
        )
    };
}

pub(crate) async fn query_opt<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Option<tokio_postgres::Row>> {
    let s = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query_opt(&s, params).await.map_err(pg_err)
}

pub(crate) async fn query<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<Vec<tokio_postgres::Row>> {
    let s = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.query(&s, params).await.map_err(pg_err)
}

pub(crate) async fn execute<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> StoreResult<u64> {
    let s = c.prepare_cached(sql).await.map_err(pg_err)?;
    c.execute(&s, params).await.map_err(pg_err)
}
