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
