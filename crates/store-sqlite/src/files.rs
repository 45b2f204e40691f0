//! Files ([`FileStore`]): metadata in `files`, bytes in `file_chunks` (migration 0006).
//!
//! The single writer is shared by every write of the server, so a file's bytes do not go
//! to it in one job: a 30 MiB blob would hold it (and every send queued behind it) for
//! the whole copy and its commit. Each chunk of at most [`CHUNK_BYTES`] is a job of its
//! own, committed with whatever else is queued, and the metadata row follows in the job
//! after the last chunk. Until that row commits nothing can find the file; should a chunk
//! fail, its earlier chunks are deleted, and chunks a crash left without a row are swept
//! when the store next opens ([`sweep_orphan_chunks`]: one process has the file at a time,
//! so no upload is in progress then).
//!
//! Reads of bytes run on the blocking pool (a large file is many pages); metadata is a
//! point read.

use crate::{is_unique_violation, sql_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;
use switchboard_core::files::{FileKey, FileKind, StoredFile};
use switchboard_core::ids::TenantId;
use switchboard_core::model::Actor;
use switchboard_core::store::*;

/// The largest piece of a file one writer job copies.
pub const CHUNK_BYTES: usize = 1 << 20;

const COLS: &str = "key, tenant_id, kind, name, mime, purpose, size, sha256, uploader_kind, uploader_id, created_at";

fn file_row(r: &Row) -> rusqlite::Result<StoreResult<StoredFile>> {
    let key: String = r.get(0)?;
    let kind: String = r.get(2)?;
    let uploader_kind: String = r.get(8)?;
    let corrupt = |what: &str| StoreError::Internal(format!("corrupt file row {key}: {what}"));
    let (Some(k), Some(kind), Some(uploader)) = (
        FileKey::parse(&key),
        FileKind::parse(&kind),
        Actor::from_parts(&uploader_kind, r.get(9)?),
    ) else {
        return Ok(Err(corrupt("key, kind or uploader")));
    };
    Ok(Ok(StoredFile {
        key: k,
        tenant: TenantId(r.get(1)?),
        kind,
        name: r.get(3)?,
        mime: r.get(4)?,
        purpose: r.get(5)?,
        size: r.get(6)?,
        sha256: r.get(7)?,
        uploader,
        created_at: r.get(10)?,
    }))
}

fn load(c: &Connection, tenant: TenantId, key: &str) -> StoreResult<Option<(StoredFile, i64)>> {
    let sql = format!("SELECT {COLS}, chunks FROM files WHERE key = ?1 AND tenant_id = ?2");
    let found = c
        .query_row(&sql, params![key, tenant.0], |r| {
            Ok((file_row(r)?, r.get::<_, i64>(11)?))
        })
        .optional()
        .map_err(sql_err)?;
    match found {
        None => Ok(None),
        Some((f, chunks)) => Ok(Some((f?, chunks))),
    }
}

/// Deletes the chunks of uploads that never got their row (the process stopped midway).
/// Called when the store opens, before the writer starts.
pub(crate) fn sweep_orphan_chunks(c: &Connection) -> StoreResult<usize> {
    c.execute(
        "DELETE FROM file_chunks WHERE key NOT IN (SELECT key FROM files)",
        [],
    )
    .map_err(sql_err)
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn put_file(&self, file: StoredFile, bytes: Vec<u8>) -> StoreResult<()> {
        if bytes.len() as i64 != file.size {
            return Err(StoreError::Internal(format!(
                "file {} says {} bytes and has {}",
                file.key,
                file.size,
                bytes.len()
            )));
        }
        let bytes = Arc::new(bytes);
        let key = file.key.as_str().to_string();
        let chunks = bytes.len().div_ceil(CHUNK_BYTES);
        for seq in 0..chunks {
            let (bytes, chunk_key) = (bytes.clone(), key.clone());
            let written = self
                .write(move |c| {
                    let piece =
                        &bytes[seq * CHUNK_BYTES..((seq + 1) * CHUNK_BYTES).min(bytes.len())];
                    c.execute(
                        "INSERT INTO file_chunks (key, seq, data) VALUES (?1, ?2, ?3)",
                        params![chunk_key, seq as i64, piece],
                    )
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Duplicate("file")
                        } else {
                            sql_err(e)
                        }
                    })
                })
                .await;
            if let Err(e) = written {
                // A duplicate key's chunks are the other file's: leave them.
                if !matches!(e, StoreError::Duplicate(_)) {
                    self.drop_chunks(&key).await;
                }
                return Err(e);
            }
        }
        let row_key = key.clone();
        let written = self
            .write(move |c| {
                let f = &file;
                c.execute(
                    &format!("INSERT INTO files ({COLS}, chunks) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
                    params![
                        row_key,
                        f.tenant.0,
                        f.kind.as_str(),
                        f.name,
                        f.mime,
                        f.purpose,
                        f.size,
                        f.sha256,
                        f.uploader.kind(),
                        f.uploader.raw_id(),
                        f.created_at,
                        chunks as i64
                    ],
                )
                .map(|_| ())
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Duplicate("file")
                    } else {
                        sql_err(e)
                    }
                })
            })
            .await;
        if written.is_err() {
            self.drop_chunks(&key).await;
        }
        written
    }

    async fn get_file(&self, tenant: TenantId, key: &FileKey) -> StoreResult<Option<StoredFile>> {
        let key = key.as_str();
        Ok(self.read_now(|c| load(c, tenant, key))?.map(|(f, _)| f))
    }

    async fn list_files(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<StoredFile>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {COLS} FROM files WHERE tenant_id = ?1 ORDER BY created_at DESC, key LIMIT ?2"
            );
            let mut stmt = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = stmt
                .query_map(params![tenant.0, limit], file_row)
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r.map_err(sql_err)??);
            }
            Ok(out)
        })
        .await
    }

    async fn read_file(
        &self,
        tenant: TenantId,
        key: &FileKey,
    ) -> StoreResult<Option<(StoredFile, Vec<u8>)>> {
        let key = key.as_str().to_string();
        self.read(move |c| {
            let Some((file, chunks)) = load(c, tenant, &key)? else {
                return Ok(None);
            };
            let mut bytes = Vec::with_capacity(file.size.max(0) as usize);
            let mut stmt = c
                .prepare_cached("SELECT data FROM file_chunks WHERE key = ?1 ORDER BY seq")
                .map_err(sql_err)?;
            let mut rows = stmt.query([&key]).map_err(sql_err)?;
            let mut n = 0i64;
            while let Some(r) = rows.next().map_err(sql_err)? {
                let piece = r.get_ref(0).map_err(sql_err)?;
                bytes.extend_from_slice(piece.as_blob().map_err(|e| sql_err(e.into()))?);
                n += 1;
            }
            // The row commits after its chunks, so a short read is corruption, not a race.
            if n != chunks || bytes.len() as i64 != file.size {
                return Err(StoreError::Internal(format!(
                    "file {key}: {n} of {chunks} chunks, {} of {} bytes",
                    bytes.len(),
                    file.size
                )));
            }
            Ok(Some((file, bytes)))
        })
        .await
    }
}

impl SqliteStore {
    /// Deletes what a failed upload wrote (best effort: the next open sweeps the rest).
    async fn drop_chunks(&self, key: &str) {
        let key = key.to_string();
        let dropped = self
            .write(move |c| {
                c.execute("DELETE FROM file_chunks WHERE key = ?1", [&key])
                    .map_err(sql_err)
            })
            .await;
        if let Err(e) = dropped {
            tracing::warn!(error = %e, "could not delete a failed upload's chunks");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteOptions;

    fn chunk_count(store: &SqliteStore) -> i64 {
        store
            .read_now(|c| {
                c.query_row("SELECT COUNT(*) FROM file_chunks", [], |r| r.get(0))
                    .map_err(sql_err)
            })
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn chunks_left_without_their_row_are_swept_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
        // What a process stopped between two chunks of an upload leaves.
        store
            .write(|c| {
                c.execute(
                    "INSERT INTO file_chunks (key, seq, data) VALUES ('file_v3_00', 0, x'0102')",
                    [],
                )
                .map_err(sql_err)
            })
            .await
            .unwrap();
        // And a whole file beside it.
        let key = FileKey::generate(FileKind::File);
        let file = StoredFile {
            key: key.clone(),
            tenant: TenantId(1),
            kind: FileKind::File,
            name: "a.bin".into(),
            mime: "application/octet-stream".into(),
            purpose: "stream".into(),
            size: 3,
            sha256: String::new(),
            uploader: Actor::App(switchboard_core::ids::AppId(1)),
            created_at: 1,
        };
        store.put_file(file, vec![1, 2, 3]).await.unwrap();
        assert_eq!(chunk_count(&store), 2);
        drop(store);
        let store = SqliteStore::open(SqliteOptions::in_dir(dir.path())).unwrap();
        assert_eq!(chunk_count(&store), 1, "the orphan chunk is gone");
        let (_, bytes) = store.read_file(TenantId(1), &key).await.unwrap().unwrap();
        assert_eq!(bytes, [1, 2, 3], "a stored file's chunks stay");
    }
}
