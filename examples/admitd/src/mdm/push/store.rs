//! Push results, one row per attempt, on SQLite ([`Storage`]) or PostgreSQL ([`PgStore`]).
//!
//! ```text
//! mdm_push_results (id, channel_id, at_ms, status, apns_id, reason)
//!   status: the HTTP status APNs answered, or 0 when no answer came (connection, TLS, timeout,
//!           no push certificate); reason: APNs' `reason`, or what went wrong before an answer
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::mdm::{PushTarget, PushTargets};
use crate::scep::postgres::PgStore;
use crate::storage::{Error as StorageError, Storage};

/// The SQLite table (one migration of `crate::storage`).
pub const SCHEMA: &str = "
CREATE TABLE mdm_push_results (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id TEXT NOT NULL,
    at_ms      INTEGER NOT NULL,
    status     INTEGER NOT NULL,
    apns_id    TEXT,
    reason     TEXT
);
CREATE INDEX mdm_push_results_channel ON mdm_push_results(channel_id, id);
";

/// The PostgreSQL table (one migration of `crate::scep::postgres`).
pub const PG_SCHEMA: &str = "
CREATE TABLE mdm_push_results (
    id         BIGSERIAL PRIMARY KEY,
    channel_id TEXT NOT NULL,
    at_ms      BIGINT NOT NULL,
    status     INTEGER NOT NULL,
    apns_id    TEXT,
    reason     TEXT
);
CREATE INDEX mdm_push_results_channel ON mdm_push_results(channel_id, id);
";

/// Results kept per channel: recording one more drops the oldest beyond this many.
pub const KEEP_PER_CHANNEL: usize = 500;

/// What one push attempt came to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PushResult {
    /// The channel pushed to.
    pub channel_id: String,
    /// When the answer (or the failure) came, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The HTTP status APNs answered; 0 when no answer came.
    pub status: u16,
    /// `apns-id` of the answer, when APNs gave one.
    pub apns_id: Option<String>,
    /// APNs' `reason` for a refusal, or why no answer came.
    pub reason: Option<String>,
}

/// Where push results are kept. [`Storage`] (SQLite) and [`PgStore`] implement it.
pub trait PushResults: Send + Sync + std::fmt::Debug {
    /// Keep one result (and at most [`KEEP_PER_CHANNEL`] for its channel).
    fn record(&self, result: &PushResult) -> Result<(), StorageError>;
    /// The channel's latest `limit` results, newest first.
    fn for_channel(&self, channel_id: &str, limit: usize) -> Result<Vec<PushResult>, StorageError>;
}

fn limit_i64(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl PushResults for Storage {
    fn record(&self, r: &PushResult) -> Result<(), StorageError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO mdm_push_results (channel_id, at_ms, status, apns_id, reason)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            rusqlite::params![r.channel_id, r.at_ms, r.status, r.apns_id, r.reason],
        )?;
        tx.execute(
            "DELETE FROM mdm_push_results WHERE channel_id = ?1 AND id <= (
                 SELECT id FROM mdm_push_results WHERE channel_id = ?1
                 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
            rusqlite::params![r.channel_id, limit_i64(KEEP_PER_CHANNEL)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn for_channel(&self, channel_id: &str, limit: usize) -> Result<Vec<PushResult>, StorageError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT channel_id, at_ms, status, apns_id, reason FROM mdm_push_results
             WHERE channel_id = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(rusqlite::params![channel_id, limit_i64(limit)], |r| {
            Ok(PushResult {
                channel_id: r.get(0)?,
                at_ms: r.get(1)?,
                status: r.get(2)?,
                apns_id: r.get(3)?,
                reason: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl PushResults for PgStore {
    fn record(&self, r: &PushResult) -> Result<(), StorageError> {
        let status = i32::from(r.status);
        let keep = limit_i64(KEEP_PER_CHANNEL);
        self.with(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO mdm_push_results (channel_id, at_ms, status, apns_id, reason)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&r.channel_id, &r.at_ms, &status, &r.apns_id, &r.reason],
            )
            .await?;
            tx.execute(
                "DELETE FROM mdm_push_results WHERE channel_id = $1 AND id <= (
                     SELECT id FROM mdm_push_results WHERE channel_id = $1
                     ORDER BY id DESC LIMIT 1 OFFSET $2)",
                &[&r.channel_id, &keep],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn for_channel(&self, channel_id: &str, limit: usize) -> Result<Vec<PushResult>, StorageError> {
        let limit = limit_i64(limit);
        self.with(async |c| {
            let rows = c
                .query(
                    "SELECT channel_id, at_ms, status, apns_id, reason FROM mdm_push_results
                     WHERE channel_id = $1 ORDER BY id DESC LIMIT $2",
                    &[&channel_id, &limit],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| PushResult {
                    channel_id: r.get(0),
                    at_ms: r.get(1),
                    status: u16::try_from(r.get::<_, i32>(2)).unwrap_or(0),
                    apns_id: r.get(3),
                    reason: r.get(4),
                })
                .collect())
        })
    }
}

/// Push targets held in memory: for tests, and for embedders without the MDM core.
#[derive(Debug, Default)]
pub struct MemTargets {
    targets: Mutex<HashMap<String, PushTarget>>,
    dead: Mutex<HashSet<(String, Vec<u8>)>>,
}

impl MemTargets {
    /// Set (or replace, as a new TokenUpdate does) a channel's target; a token marked dead
    /// comes back to life only through a new call here.
    pub fn set(&self, target: PushTarget) {
        self.dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(target.channel_id.clone(), target.token.clone()));
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(target.channel_id.clone(), target);
    }

    /// Whether [`PushTargets::mark_token_dead`] was called for this channel's token.
    pub fn is_dead(&self, channel_id: &str, token: &[u8]) -> bool {
        self.dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(channel_id.to_owned(), token.to_vec()))
    }
}

impl PushTargets for MemTargets {
    fn push_target(&self, channel_id: &str) -> Result<Option<PushTarget>, StorageError> {
        let t = self
            .targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(channel_id)
            .cloned();
        Ok(t.filter(|t| !self.is_dead(channel_id, &t.token)))
    }

    fn mark_token_dead(&self, channel_id: &str, token: &[u8]) -> Result<(), StorageError> {
        self.dead
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((channel_id.to_owned(), token.to_vec()));
        Ok(())
    }
}

/// No push targets at all: what the server pushes to until the MDM core's store is wired in.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTargets;

impl PushTargets for NoTargets {
    fn push_target(&self, _: &str) -> Result<Option<PushTarget>, StorageError> {
        Ok(None)
    }

    fn mark_token_dead(&self, _: &str, _: &[u8]) -> Result<(), StorageError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_are_kept_newest_first_and_bounded_per_channel() {
        let db = Storage::in_memory(crate::storage::MIGRATIONS).unwrap();
        let result = |ch: &str, n: i64| PushResult {
            channel_id: ch.into(),
            at_ms: n,
            status: 200,
            apns_id: Some(format!("id-{n}")),
            reason: None,
        };
        let extra = 3;
        for n in 0..(KEEP_PER_CHANNEL as i64 + extra) {
            db.record(&result("A", n)).unwrap();
        }
        db.record(&result("B", 0)).unwrap();
        let a = db.for_channel("A", usize::MAX).unwrap();
        assert_eq!(a.len(), KEEP_PER_CHANNEL);
        assert_eq!(a[0], result("A", KEEP_PER_CHANNEL as i64 + extra - 1));
        assert_eq!(a.last().unwrap().at_ms, extra);
        assert_eq!(db.for_channel("B", 10).unwrap(), vec![result("B", 0)]);
        assert!(db.for_channel("C", 10).unwrap().is_empty());
    }
}
