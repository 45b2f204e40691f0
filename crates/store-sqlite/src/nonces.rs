//! Nonces ([`NonceStore`]): kept in memory and journalled before a request goes on
//! (`cache.rs` holds the set, [`crate::nonce_log`] the journal).

use crate::{cache, nonce_log, SqliteStore};
use async_trait::async_trait;
use std::path::Path;
use switchboard_core::model::*;
use switchboard_core::store::*;

#[async_trait]
impl NonceStore for SqliteStore {
    async fn remember_nonce(
        &self,
        scope: &str,
        nonce: &str,
        expires_at: Millis,
        now: Millis,
    ) -> StoreResult<bool> {
        let inner = &self.inner;
        let digest = inner.nonces.digest(scope, nonce);
        if !inner.nonces.remember_digest(digest, expires_at, now) {
            return Ok(false);
        }
        // Journalled before the request may go on: once it is accepted, a restart still
        // knows it. Should the write fail, the request fails (the nonce stays spent).
        inner
            .nonce_log
            .append(digest, expires_at, now)
            .map_err(|e| StoreError::Unavailable(format!("nonce journal: {e}")))?;
        Ok(true)
    }
}

/// Opens the nonce journal beside the database at `db`, and the nonce set it restores.
pub(crate) fn open_nonces(
    db: &Path,
) -> Result<(nonce_log::NonceLog, cache::ShardedNonces), StoreError> {
    let dir = nonce_log::dir_of(db);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (log, loaded) = nonce_log::NonceLog::open(&dir, now).map_err(|e| {
        StoreError::Internal(format!("opening the nonce journal {}: {e}", dir.display()))
    })?;
    let nonces = cache::ShardedNonces::with_key(loaded.key);
    for (digest, expires_at) in loaded.live {
        nonces.load(digest, expires_at);
    }
    Ok((log, nonces))
}
