//! The webhook outbox on SQLite ([`Storage`]) or PostgreSQL ([`PgStore`]).
//!
//! ```text
//! webhook_outbox (seq, url, lane, body, created_ms)
//!   one row per event and configured URL; deleted once that URL has taken the event
//!   lane: the device (UDID or EnrollmentID) the event is about; rows of one (url, lane)
//!         are delivered in seq order
//! ```

use crate::scep::postgres::PgStore;
use crate::storage::{Error as StorageError, Storage};

/// The SQLite table (one migration of `crate::storage`).
pub const SCHEMA: &str = "
CREATE TABLE webhook_outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    url        TEXT NOT NULL,
    lane       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
";

/// The PostgreSQL table (one migration of `crate::scep::postgres`).
pub const PG_SCHEMA: &str = "
CREATE TABLE webhook_outbox (
    seq        BIGSERIAL PRIMARY KEY,
    url        TEXT NOT NULL,
    lane       TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
";

/// One event waiting for one URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Its place in the outbox (increasing in the order events were recorded).
    pub seq: i64,
    /// Where it goes.
    pub url: String,
    /// The device it is about (empty when none).
    pub lane: String,
    /// The event, JSON.
    pub body: String,
}

/// Where undelivered events wait. [`Storage`] (SQLite) and [`PgStore`] implement it.
pub trait OutboxStore: Send + Sync + std::fmt::Debug {
    /// Commit one row per URL for the event, all or none.
    fn add(&self, urls: &[String], lane: &str, body: &str, now_ms: i64)
    -> Result<(), StorageError>;
    /// The oldest `limit` rows for any of `urls`, in `seq` order.
    fn pending(&self, urls: &[String], limit: usize) -> Result<Vec<OutboxRow>, StorageError>;
    /// The row was delivered: remove it.
    fn delivered(&self, seq: i64) -> Result<(), StorageError>;
    /// How many rows wait (for any URL).
    fn backlog(&self) -> Result<u64, StorageError>;
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl OutboxStore for Storage {
    fn add(
        &self,
        urls: &[String],
        lane: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for url in urls {
            tx.execute(
                "INSERT INTO webhook_outbox (url, lane, body, created_ms) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![url, lane, body, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn pending(&self, urls: &[String], limit: usize) -> Result<Vec<OutboxRow>, StorageError> {
        if urls.is_empty() {
            return Ok(Vec::new());
        }
        let conn = self.lock();
        let marks = vec!["?"; urls.len()].join(", ");
        let mut stmt = conn.prepare(&format!(
            "SELECT seq, url, lane, body FROM webhook_outbox WHERE url IN ({marks})
             ORDER BY seq LIMIT {}",
            limit_i64(limit)
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(urls.iter()), |r| {
            Ok(OutboxRow {
                seq: r.get(0)?,
                url: r.get(1)?,
                lane: r.get(2)?,
                body: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delivered(&self, seq: i64) -> Result<(), StorageError> {
        self.lock()
            .execute("DELETE FROM webhook_outbox WHERE seq = ?1", [seq])?;
        Ok(())
    }

    fn backlog(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .lock()
            .query_row("SELECT COUNT(*) FROM webhook_outbox", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

impl OutboxStore for PgStore {
    fn add(
        &self,
        urls: &[String],
        lane: &str,
        body: &str,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            for url in urls {
                tx.execute(
                    "INSERT INTO webhook_outbox (url, lane, body, created_ms)
                     VALUES ($1, $2, $3, $4)",
                    &[url, &lane, &body, &now_ms],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn pending(&self, urls: &[String], limit: usize) -> Result<Vec<OutboxRow>, StorageError> {
        let limit = limit_i64(limit);
        self.with(async |c| {
            let rows = c
                .query(
                    "SELECT seq, url, lane, body FROM webhook_outbox WHERE url = ANY($1)
                     ORDER BY seq LIMIT $2",
                    &[&urls, &limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| OutboxRow {
                    seq: r.get(0),
                    url: r.get(1),
                    lane: r.get(2),
                    body: r.get(3),
                })
                .collect())
        })
    }

    fn delivered(&self, seq: i64) -> Result<(), StorageError> {
        self.with(async |c| {
            c.execute("DELETE FROM webhook_outbox WHERE seq = $1", &[&seq])
                .await?;
            Ok(())
        })
    }

    fn backlog(&self) -> Result<u64, StorageError> {
        self.with(async |c| {
            let n: i64 = c
                .query_one("SELECT COUNT(*) FROM webhook_outbox", &[])
                .await?
                .get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }
}
