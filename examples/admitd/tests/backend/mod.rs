//! Where a test's records live: the data directory's SQLite database, or the `admit` database
//! of a private PostgreSQL cluster the test started (stopped by PID when dropped).

#![allow(dead_code)]

use std::path::Path;

/// One storage backend of `admitd`.
pub enum Backend {
    /// The data directory's `admit.sqlite3`.
    Sqlite,
    /// `--database URL` on this cluster.
    Postgres(testkit::postgres::Postgres, String),
}

impl Backend {
    /// Both backends, PostgreSQL on a fresh cluster with an empty `admit` database.
    pub fn both() -> Vec<Backend> {
        let pg = testkit::postgres::Postgres::start();
        let url = pg.create_database("admit");
        vec![Backend::Sqlite, Backend::Postgres(pg, url)]
    }

    /// A short name for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(..) => "postgres",
        }
    }

    /// The `admitd` flags that select it.
    pub fn args(&self) -> Vec<&str> {
        match self {
            Backend::Sqlite => vec![],
            Backend::Postgres(_, url) => vec!["--database", url],
        }
    }

    /// The one integer `sql` selects, read by the database itself (not through admitd).
    pub fn count(&self, data: &Path, sql: &str) -> i64 {
        match self {
            Backend::Sqlite => {
                let db = rusqlite::Connection::open(data.join("admit.sqlite3")).unwrap();
                db.query_row(sql, [], |r| r.get(0)).unwrap()
            }
            Backend::Postgres(pg, _) => pg.query("admit", sql).parse().unwrap(),
        }
    }
}
