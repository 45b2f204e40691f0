//! Files ([`FileStore`]): one row per file in `files` (migration 0005), its bytes in a
//! `bytea` column beside the metadata, so that any node serves any file and a put is one
//! statement (row and bytes commit together or not at all).

use crate::errors::{pg_err, unique_violation};
use crate::rows::get;
use crate::sql::{query, query_opt};
use crate::PostgresStore;
use async_trait::async_trait;
use switchboard_core::files::{FileKey, FileKind, StoredFile};
use switchboard_core::ids::TenantId;
use switchboard_core::model::Actor;
use switchboard_core::store::*;
use tokio_postgres::Row;

const COLS: &str = "key, tenant_id, kind, name, mime, purpose, size, sha256, uploader_kind, uploader_id, created_at";

fn file_row(r: &Row) -> StoreResult<StoredFile> {
    let key: String = get(r, 0)?;
    let kind: String = get(r, 2)?;
    let uploader_kind: String = get(r, 8)?;
    let (Some(k), Some(kind), Some(uploader)) = (
        FileKey::parse(&key),
        FileKind::parse(&kind),
        Actor::from_parts(&uploader_kind, get(r, 9)?),
    ) else {
        return Err(StoreError::Internal(format!(
            "corrupt file row {key}: key, kind or uploader"
        )));
    };
    Ok(StoredFile {
        key: k,
        tenant: TenantId(get(r, 1)?),
        kind,
        name: get(r, 3)?,
        mime: get(r, 4)?,
        purpose: get(r, 5)?,
        size: get(r, 6)?,
        sha256: get(r, 7)?,
        uploader,
        created_at: get(r, 10)?,
    })
}

#[async_trait]
impl FileStore for PostgresStore {
    async fn put_file(&self, file: StoredFile, bytes: Vec<u8>) -> StoreResult<()> {
        if bytes.len() as i64 != file.size {
            return Err(StoreError::Internal(format!(
                "file {} says {} bytes and has {}",
                file.key,
                file.size,
                bytes.len()
            )));
        }
        let c = self.client().await?;
        let sql = format!(
            "INSERT INTO files ({COLS}, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        );
        let stmt = c.prepare_cached(&sql).await.map_err(pg_err)?;
        let f = &file;
        c.execute(
            &stmt,
            &[
                &f.key.as_str(),
                &f.tenant.0,
                &f.kind.as_str(),
                &f.name,
                &f.mime,
                &f.purpose,
                &f.size,
                &f.sha256,
                &f.uploader.kind(),
                &f.uploader.raw_id(),
                &f.created_at,
                &bytes,
            ],
        )
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Duplicate("file"),
            None => pg_err(e),
        })?;
        Ok(())
    }

    async fn get_file(&self, tenant: TenantId, key: &FileKey) -> StoreResult<Option<StoredFile>> {
        let c = self.client().await?;
        let sql = format!("SELECT {COLS} FROM files WHERE key = $1 AND tenant_id = $2");
        query_opt(&c, &sql, &[&key.as_str(), &tenant.0])
            .await?
            .map(|r| file_row(&r))
            .transpose()
    }

    async fn list_files(&self, tenant: TenantId, limit: u32) -> StoreResult<Vec<StoredFile>> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {COLS} FROM files WHERE tenant_id = $1 ORDER BY created_at DESC, key LIMIT $2"
        );
        query(&c, &sql, &[&tenant.0, &i64::from(limit)])
            .await?
            .iter()
            .map(file_row)
            .collect()
    }

    async fn read_file(
        &self,
        tenant: TenantId,
        key: &FileKey,
    ) -> StoreResult<Option<(StoredFile, Vec<u8>)>> {
        let c = self.client().await?;
        let sql = format!("SELECT {COLS}, data FROM files WHERE key = $1 AND tenant_id = $2");
        let Some(r) = query_opt(&c, &sql, &[&key.as_str(), &tenant.0]).await? else {
            return Ok(None);
        };
        let file = file_row(&r)?;
        let bytes: Vec<u8> = get(&r, 11)?;
        if bytes.len() as i64 != file.size {
            return Err(StoreError::Internal(format!(
                "file {key}: {} of {} bytes",
                bytes.len(),
                file.size
            )));
        }
        Ok(Some((file, bytes)))
    }
}
