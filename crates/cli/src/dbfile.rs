//! The SQLite database file as the commands see it: the lock that keeps `import` away from
//! a running server, and checks that name the path and the operating system's reason
//! where SQLite would only say "unable to open database file".
//!
//! `serve` and `demo` hold an exclusive advisory lock (`flock`) on `<database>.lock`, a file
//! beside the database, for the life of the process; `import` takes the same lock and
//! refuses to run while a server holds it. The lock goes with the process, however it
//! ends; the file itself stays and may be left alone. PostgreSQL needs none of this.

use anyhow::Context;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use switchboard_server::config::{Backend, Config};

/// Held for as long as the database must not be shared; released when dropped (or when
/// the process ends).
pub struct DbLock {
    _file: File,
}

/// `<database>.lock`, beside the database file.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    db.with_file_name(name)
}

/// The SQLite file the configuration names, if it names SQLite.
fn sqlite_path(cfg: &Config) -> anyhow::Result<Option<PathBuf>> {
    Ok(match cfg.backend()? {
        Backend::Sqlite(p) => Some(p),
        Backend::Postgres(_) => None,
    })
}

/// For `serve` and `demo`: creates the database's directory if needed and locks the
/// database for this process. Refuses when another process holds the lock.
pub fn lock_for_server(cfg: &Config) -> anyhow::Result<Option<DbLock>> {
    let Some(db) = sqlite_path(cfg)? else {
        return Ok(None);
    };
    create_parent(&db)?;
    check_openable(&db)?;
    let lock = lock(&db).map_err(|e| match e {
        Held::By(holder) => anyhow::anyhow!(
            "the SQLite database {} is already in use by another switchboard server{holder} \
             (it holds {}); stop that one first, or give this one another --data-dir",
            db.display(),
            lock_path(&db).display()
        ),
        Held::Error(e) => e,
    })?;
    Ok(Some(lock))
}

/// For `migrate`: the database may be created, so only what SQLite would fail on without
/// saying why is checked.
pub fn check_for_migrate(cfg: &Config) -> anyhow::Result<()> {
    if let Some(db) = sqlite_path(cfg)? {
        create_parent(&db)?;
        check_openable(&db)?;
    }
    Ok(())
}

/// For `import` and `upgrade-documents` (`doing` says which, as "importing"): the database
/// must already exist (neither creates one), and no server may be using it. The lock is
/// held until the work ends.
pub fn lock_for_offline(cfg: &Config, doing: &str) -> anyhow::Result<Option<DbLock>> {
    let Some(db) = sqlite_path(cfg)? else {
        return Ok(None);
    };
    match std::fs::metadata(&db) {
        Ok(m) if m.is_file() => {}
        Ok(_) => anyhow::bail!("the SQLite database {} is not a file", db.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "the SQLite database {} does not exist; check --data-dir (or --database, --config), \
             or create it first with `switchboard migrate` (or by starting `switchboard serve` \
             once) and provision the tenant, users and chats the file names",
            db.display()
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("cannot read the SQLite database {}", db.display())))
        }
    }
    check_openable(&db)?;
    let lock = lock(&db).map_err(|e| match e {
        Held::By(holder) => anyhow::anyhow!(
            "a switchboard server{holder} is using the SQLite database {} (it holds {}); \
             stop it before {doing}: a running server caches what this changes",
            db.display(),
            lock_path(&db).display()
        ),
        Held::Error(e) => e,
    })?;
    Ok(Some(lock))
}

/// Creates the directory the database file goes in (the data directory, by default).
fn create_parent(db: &Path) -> anyhow::Result<()> {
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => anyhow::bail!(
            "cannot create the SQLite database {}: {} is not a directory",
            db.display(),
            dir.display()
        ),
        Err(_) => std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "cannot create the directory {} for the SQLite database",
                dir.display()
            )
        }),
    }
}

/// Opens an existing database file for reading and writing, so that a permission problem
/// is reported with the OS's reason; a path that is a directory too.
fn check_openable(db: &Path) -> anyhow::Result<()> {
    match std::fs::metadata(db) {
        Ok(m) if m.is_dir() => anyhow::bail!(
            "the SQLite database {} is a directory; --database takes a file path \
             (sqlite:///path/file.db)",
            db.display()
        ),
        Ok(_) => {
            OpenOptions::new()
                .read(true)
                .write(true)
                .open(db)
                .with_context(|| format!("cannot open the SQLite database {}", db.display()))?;
            Ok(())
        }
        // A new database: its directory was checked when the lock file was made there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot read the SQLite database {}", db.display()))),
    }
}

enum Held {
    /// Locked by another process (the text names it when the file says which).
    By(String),
    Error(anyhow::Error),
}

fn lock(db: &Path) -> Result<DbLock, Held> {
    let path = lock_path(db);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))
        .map_err(Held::Error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let holder = if !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()) {
                format!(" (process {pid})")
            } else {
                String::new()
            };
            return Err(Held::By(holder));
        }
        Err(TryLockError::Error(e)) => {
            return Err(Held::Error(
                anyhow::Error::new(e).context(format!("cannot lock {}", path.display())),
            ))
        }
    }
    // Who holds it, for the message another process prints.
    let _ = file
        .set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()));
    Ok(DbLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_sits_beside_the_database() {
        assert_eq!(
            lock_path(Path::new("/var/lib/switchboard/switchboard.db")),
            Path::new("/var/lib/switchboard/switchboard.db.lock")
        );
    }

    #[test]
    fn a_second_lock_on_the_same_database_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("switchboard.db");
        let first = lock(&db).ok().expect("first lock");
        match lock(&db) {
            Err(Held::By(holder)) => {
                assert_eq!(holder, format!(" (process {})", std::process::id()))
            }
            _ => panic!("the second lock should be refused"),
        }
        drop(first);
        assert!(lock(&db).is_ok());
    }
}
