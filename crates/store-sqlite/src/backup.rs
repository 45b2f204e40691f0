//! Online backup and restore of the database file.
//!
//! A backup is `VACUUM INTO` on a read connection of its own: one read transaction, so the
//! copy is the snapshot of the moment it began (every write committed before it, none
//! after), taken beside a running server without stopping its writer. It is written under
//! a temporary name, synced, then renamed, so a backup file that exists is whole.
//!
//! A restore copies such a file into place as the database of a fresh data directory, after
//! checking that it is a whole SQLite database of this store, then applies any migrations
//! newer than the backup. The nonce journal (`nonce_log`) is not part of a backup.

use crate::{migrate, open_conn, sql_err};
use rusqlite::OptionalExtension;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use switchboard_core::store::StoreError;

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what} {}: {e}", path.display()))
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes a consistent copy of the database at `db` to `to`, which must not exist. Returns
/// the copy's size in bytes.
pub fn backup(db: &Path, to: &Path) -> Result<u64, StoreError> {
    if !db.is_file() {
        return Err(StoreError::Unavailable(format!(
            "no database at {}",
            db.display()
        )));
    }
    if to.exists() {
        return Err(StoreError::Unavailable(format!(
            "{} already exists; a backup never overwrites a file",
            to.display()
        )));
    }
    let tmp = sibling(to, ".partial");
    let _ = fs::remove_file(&tmp);
    let conn = open_conn(db, true)?;
    let target = tmp
        .to_str()
        .ok_or_else(|| StoreError::Unavailable(format!("{} is not UTF-8", tmp.display())))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        sql_err(e)
    })?;
    let size = File::open(&tmp)
        .and_then(|f| f.sync_all().and_then(|()| f.metadata()))
        .map_err(|e| io("sync", &tmp, e))?
        .len();
    fs::rename(&tmp, to).map_err(|e| io("rename to", to, e))?;
    Ok(size)
}

/// Puts the backup `from` in place as the database `db`, which must not exist yet, and
/// brings its schema up to date. Returns the migrations applied.
pub fn restore(from: &Path, db: &Path) -> Result<Vec<i64>, StoreError> {
    if db.exists() {
        return Err(StoreError::Unavailable(format!(
            "{} already exists; restore into a fresh data directory",
            db.display()
        )));
    }
    check_backup(from)?;
    if let Some(dir) = db.parent() {
        fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    }
    let tmp = sibling(db, ".restoring");
    fs::copy(from, &tmp).map_err(|e| io("copy to", &tmp, e))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("sync", &tmp, e))?;
    fs::rename(&tmp, db).map_err(|e| io("rename to", db, e))?;
    migrate(db)
}

/// A backup is a whole SQLite database holding this store's schema.
fn check_backup(from: &Path) -> Result<(), StoreError> {
    let bad = |why: String| StoreError::Unavailable(format!("{} {why}", from.display()));
    if !from.is_file() {
        return Err(bad("is not a file".into()));
    }
    // Plainly read-only: a backup is in rollback-journal mode, which the store's own
    // connection settings (WAL) would try to change.
    let conn =
        rusqlite::Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| bad(format!("cannot be opened: {e}")))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| bad(format!("is not a SQLite database: {e}")))?;
    if check != "ok" {
        return Err(bad(format!("is damaged: {check}")));
    }
    let ours: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|_| bad("is not a Switchboard database (no schema_migrations)".into()))?
        .flatten();
    if ours.is_none() {
        return Err(bad(
            "is not a Switchboard database (no migrations applied)".into()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_restores_into_a_fresh_place_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a/switchboard.db");
        migrate(&db).unwrap();
        let file = dir.path().join("backup.db");
        assert!(backup(&db, &file).unwrap() > 0);
        assert!(!sibling(&file, ".partial").exists());
        assert!(backup(&db, &file).is_err(), "never overwrites");

        let restored = dir.path().join("b/switchboard.db");
        restore(&file, &restored).unwrap();
        assert!(restored.is_file());
        assert!(restore(&file, &restored).is_err(), "never over a database");

        let junk = dir.path().join("junk");
        fs::write(&junk, "not a database").unwrap();
        let err = restore(&junk, &dir.path().join("c/switchboard.db")).unwrap_err();
        assert!(err.to_string().contains("junk"), "{err}");
        assert!(!dir.path().join("c/switchboard.db").exists());
    }
}
