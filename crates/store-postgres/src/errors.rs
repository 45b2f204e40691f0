//! PostgreSQL's errors as [`StoreError`]s: what may succeed on a retry is `Unavailable`,
//! a value the database cannot hold is `Invalid`, the rest is `Internal`.

use deadpool_postgres::PoolError;
use switchboard_core::store::*;
use tokio_postgres::error::SqlState;

/// SQLSTATEs after which the same request may succeed if retried: the server or the link
/// failed, the server is overloaded or shutting down, or the transaction lost a race.
fn transient_state(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources: too many connections, disk full
        || code.starts_with("57P") // admin/crash shutdown, cannot connect now
        || code.starts_with("40") // serialization failure, deadlock detected: rolled back
        || code.starts_with("58") // I/O error on the server
        || code == "57014" // query_canceled: statement_timeout
        || code == "55P03" // lock_not_available: lock_timeout
        || code == "25006" // read_only_sql_transaction: connected to a standby after failover
}

pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

/// SQLSTATEs of a value the database cannot hold: `character_not_in_repertoire` (22021: a
/// NUL byte in text, which PostgreSQL's `text` refuses) and `untranslatable_character`
/// (22P05: e.g. `\u0000` extracted from a `json` value as text). The request's input is at
/// fault, not the store: the APIs refuse such text before it gets here, and this maps
/// whatever slips past them to a parameter error rather than an internal one.
fn invalid_input_state(code: &str) -> bool {
    code == "22021" || code == "22P05"
}

pub(crate) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let msg = format!("{} ({})", db.message(), db.code().code());
        if invalid_input_state(db.code().code()) {
            tracing::debug!(error = %msg, "postgres refused a value");
            return StoreError::Invalid(
                "holds a character that cannot be stored (such as NUL)".into(),
            );
        }
        return if transient_state(db.code().code()) {
            StoreError::Unavailable(msg)
        } else {
            StoreError::Internal(msg)
        };
    }
    let io = std::error::Error::source(&e).is_some_and(|c| c.is::<std::io::Error>());
    // tokio-postgres exposes no error kind; its timeout is recognisable only by message.
    if e.is_closed() || io || e.to_string().starts_with("timeout") {
        StoreError::Unavailable(describe(&e))
    } else {
        StoreError::Internal(describe(&e))
    }
}

/// Any failure to open a connection means the store cannot be reached from here, whether
/// the cause is the network, the server or its credentials.
pub(crate) fn connect_err(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            StoreError::Unavailable(format!("connect: {} ({})", db.message(), db.code().code()))
        }
        None => StoreError::Unavailable(format!("connect: {}", describe(&e))),
    }
}

pub(crate) fn pool_err(e: PoolError) -> StoreError {
    match e {
        PoolError::Timeout(t) => {
            StoreError::Unavailable(format!("no database connection available ({t:?} timeout)"))
        }
        PoolError::Backend(e) => connect_err(e),
        PoolError::Closed => StoreError::Unavailable("connection pool closed".into()),
        PoolError::PostCreateHook(e) => StoreError::Unavailable(format!("connection setup: {e}")),
        PoolError::NoRuntimeSpecified => {
            StoreError::Internal("connection pool has no runtime".into())
        }
    }
}

/// The constraint a unique violation tripped over, if `e` is one.
pub(crate) fn unique_violation(e: &tokio_postgres::Error) -> Option<&str> {
    let db = e.as_db_error()?;
    if *db.code() == SqlState::UNIQUE_VIOLATION {
        Some(db.constraint().unwrap_or(""))
    } else {
        None
    }
}
