//! Stored files: metadata rows and their bytes (see [`crate::files`] for the domain).

use super::StoreResult;
use crate::files::{FileKey, StoredFile};
use crate::ids::TenantId;
use async_trait::async_trait;

/// Files and images, each a metadata row and its bytes.
///
/// Implementations must guarantee:
/// - `put_file` is all or nothing: once it answers `Ok` the row and every byte are
///   durable, and a failed or interrupted put leaves no row (so no reader ever finds a
///   row whose bytes are missing or partial);
/// - reads are scoped by tenant: a key of another tenant reads as absent.
#[async_trait]
pub trait FileStore: Send + Sync + 'static {
    /// Stores `file`'s metadata and `bytes` (whose length and hash it describes).
    /// `Duplicate("file")` when the key exists.
    async fn put_file(&self, file: StoredFile, bytes: Vec<u8>) -> StoreResult<()>;
    /// The metadata of `key` in `tenant`.
    async fn get_file(&self, tenant: TenantId, key: &FileKey) -> StoreResult<Option<StoredFile>>;
    /// The metadata of `tenant`'s files, newest first, at most `limit`.
    async fn list_files(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<StoredFile>>;
    /// The metadata and bytes of `key` in `tenant`.
    async fn read_file(
        &self,
        tenant: TenantId,
        key: &FileKey,
    ) -> StoreResult<Option<(StoredFile, Vec<u8>)>>;
}
