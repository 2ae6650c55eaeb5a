//! The server's database: SQLite, with numbered migrations.
//!
//! Every schema change is a [`Migration`] appended to [`MIGRATIONS`] with the next version
//! number; [`Storage::open`] applies the ones a database has not seen yet, each in its own
//! transaction, and records it in the `schema_migrations` table:
//!
//! ```text
//! schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)
//! ```
//!
//! A database whose version is newer than this build knows is refused rather than used.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// What went wrong with the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// SQLite reported an error.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error.
    #[error("database: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had (pool, URL, runtime).
    #[error("database connection: {0}")]
    Connection(String),
    /// The database was written by a newer build.
    #[error(
        "database schema version {found} is newer than this build knows ({known}); \
         run a newer admitd or restore a backup"
    )]
    TooNew {
        /// Version in the database.
        found: u32,
        /// Highest version this build knows.
        known: u32,
    },
    /// The migration list is not numbered 1, 2, 3, ...
    #[error("migration {name} has version {version}, expected {expected}")]
    BadMigrationList {
        /// The offending migration.
        name: &'static str,
        /// Its version.
        version: u32,
        /// The version it should have.
        expected: u32,
    },
}

/// One schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number: one more than the previous migration's.
    pub version: u32,
    /// A short name for logs.
    pub name: &'static str,
    /// SQL run in one transaction (may hold several statements).
    pub sql: &'static str,
}

/// Every migration this build knows, in order. Later features append theirs.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "issued certificates",
        sql: "CREATE TABLE issued_certificates (
              serial      TEXT PRIMARY KEY,
              subject     TEXT NOT NULL,
              not_after   TEXT NOT NULL,
              purpose     TEXT NOT NULL,
              der         BLOB NOT NULL,
              issued_at   TEXT NOT NULL
          );",
    },
    Migration {
        version: 2,
        name: "device auth",
        sql: crate::devauth::store::SCHEMA,
    },
    crate::scep::store::migration(3),
    crate::scep::store::revocation_migration(4),
    crate::scep::store::pending_migration(5),
    crate::mdm::store::migration(6),
    Migration {
        version: 7,
        name: "ade",
        sql: crate::ade::store::SCHEMA,
    },
    crate::ddm::store::migration(8),
    Migration {
        version: 9,
        name: "device inventory and SCIM directory",
        sql: crate::inventory::store::SCHEMA,
    },
    Migration {
        version: 10,
        name: "mdm push results",
        sql: crate::mdm::push::store::SCHEMA,
    },
    Migration {
        version: 11,
        name: "webhook outbox",
        sql: crate::mdm::webhook::store::SCHEMA,
    },
];

/// An open, migrated database.
#[derive(Debug)]
pub struct Storage {
    conn: Mutex<rusqlite::Connection>,
}

/// A certificate the CA issued, as recorded in `issued_certificates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// Serial number, lowercase hex.
    pub serial: String,
    /// Subject, RFC 4514.
    pub subject: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// What it is for (`root`, `intermediate`, `tls-server`, ...).
    pub purpose: String,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

/// A PostgreSQL error with the server's own message (the driver's `Display` says only
/// "db error").
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Storage {
    /// Open (creating if needed) the database at `path` and apply [`MIGRATIONS`].
    pub fn open(path: &Path) -> Result<Storage, Error> {
        Self::open_with(path, MIGRATIONS)
    }

    /// Open the database at `path` and apply `migrations` (tests pass their own lists).
    pub fn open_with(path: &Path, migrations: &[Migration]) -> Result<Storage, Error> {
        let conn = rusqlite::Connection::open(path)?;
        Self::from_connection(conn, migrations)
    }

    /// An in-memory database with `migrations` applied.
    pub fn in_memory(migrations: &[Migration]) -> Result<Storage, Error> {
        Self::from_connection(rusqlite::Connection::open_in_memory()?, migrations)
    }

    fn from_connection(
        mut conn: rusqlite::Connection,
        migrations: &[Migration],
    ) -> Result<Storage, Error> {
        for (i, m) in migrations.iter().enumerate() {
            let expected = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
            if m.version != expected {
                return Err(Error::BadMigrationList {
                    name: m.name,
                    version: m.version,
                    expected,
                });
            }
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL: readers never wait for the writer, and a commit appends to one file. FULL
        // syncs the WAL at every commit, so what a client was told is done survives a power
        // loss too, not only a crash of the process. (An in-memory database answers "memory".)
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT NOT NULL,
                 applied_at TEXT NOT NULL
             );",
        )?;
        let found = current_version(&conn)?;
        let known = migrations.last().map_or(0, |m| m.version);
        if found > known {
            return Err(Error::TooNew { found, known });
        }
        for m in migrations.iter().filter(|m| m.version > found) {
            let tx = conn.transaction()?;
            tx.execute_batch(m.sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                rusqlite::params![m.version, m.name],
            )?;
            tx.commit()?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
        }
        Ok(Storage {
            conn: Mutex::new(conn),
        })
    }

    /// The schema version: the highest migration applied.
    pub fn schema_version(&self) -> Result<u32, Error> {
        current_version(&self.lock())
    }

    /// The connection, for modules that own their tables. Hold it briefly.
    pub fn lock(&self) -> MutexGuard<'_, rusqlite::Connection> {
        // A panic while holding the lock leaves SQLite itself consistent (statements are
        // atomic), so a poisoned mutex is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record a certificate the CA issued.
    pub fn record_issued(&self, cert: &IssuedCertificate) -> Result<(), Error> {
        self.lock().execute(
            "INSERT INTO issued_certificates (serial, subject, not_after, purpose, der, issued_at)
             VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            rusqlite::params![
                cert.serial,
                cert.subject,
                cert.not_after,
                cert.purpose,
                cert.der
            ],
        )?;
        Ok(())
    }

    /// Certificates recorded for `purpose`, oldest first.
    pub fn issued_for(&self, purpose: &str) -> Result<Vec<IssuedCertificate>, Error> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT serial, subject, not_after, purpose, der FROM issued_certificates
             WHERE purpose = ?1 ORDER BY issued_at, rowid",
        )?;
        let rows = stmt.query_map([purpose], |r| {
            Ok(IssuedCertificate {
                serial: r.get(0)?,
                subject: r.get(1)?,
                not_after: r.get(2)?,
                purpose: r.get(3)?,
                der: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn current_version(conn: &rusqlite::Connection) -> Result<u32, Error> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &[Migration] = &[
        Migration {
            version: 1,
            name: "a",
            sql: "CREATE TABLE a (x INTEGER);",
        },
        Migration {
            version: 2,
            name: "b",
            sql: "CREATE TABLE b (y INTEGER); INSERT INTO b VALUES (7);",
        },
    ];

    #[test]
    fn applies_in_order_and_only_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let s = Storage::open_with(&path, &TWO[..1]).unwrap();
        assert_eq!(s.schema_version().unwrap(), 1);
        drop(s);
        let s = Storage::open_with(&path, TWO).unwrap();
        assert_eq!(s.schema_version().unwrap(), 2);
        drop(s);
        // Reopening does not re-run migration 2 (its INSERT would add a second row).
        let s = Storage::open_with(&path, TWO).unwrap();
        let n: i64 = s
            .lock()
            .query_row("SELECT COUNT(*) FROM b", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
        drop(s);
        // A build that knows fewer migrations refuses the newer database.
        assert!(matches!(
            Storage::open_with(&path, &TWO[..1]),
            Err(Error::TooNew { found: 2, known: 1 })
        ));
    }

    #[test]
    fn failed_migration_rolls_back() {
        let bad = &[
            TWO[0],
            Migration {
                version: 2,
                name: "broken",
                sql: "CREATE TABLE c (z INTEGER); NOT SQL;",
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        assert!(matches!(
            Storage::open_with(&path, bad),
            Err(Error::Sqlite(_))
        ));
        let s = Storage::open_with(&path, &TWO[..1]).unwrap();
        assert_eq!(s.schema_version().unwrap(), 1);
        let c: i64 = s
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'c'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(c, 0);
    }

    #[test]
    fn misnumbered_list_refused() {
        let skip = &[Migration {
            version: 2,
            name: "x",
            sql: "",
        }];
        assert!(matches!(
            Storage::in_memory(skip),
            Err(Error::BadMigrationList { expected: 1, .. })
        ));
    }

    #[test]
    fn issued_certificates_round_trip() {
        let s = Storage::in_memory(MIGRATIONS).unwrap();
        let c = IssuedCertificate {
            serial: "01ab".into(),
            subject: "CN=x".into(),
            not_after: "2030-01-01T00:00:00Z".into(),
            purpose: "tls-server".into(),
            der: vec![0x30, 0x00],
        };
        s.record_issued(&c).unwrap();
        assert_eq!(s.issued_for("tls-server").unwrap(), vec![c.clone()]);
        assert!(s.issued_for("root").unwrap().is_empty());
        // Serial numbers are unique.
        assert!(s.record_issued(&c).is_err());
    }
}
