//! DDM records: declarations, sets, assignments and per-channel status, in SQLite.
//!
//! ```text
//! ddm_revision          (id = 1, revision)           bumped by every applied change
//! ddm_declarations      (identifier PK, type, server_token, body JSON as served, updated_at)
//! ddm_sets              (name PK)
//! ddm_set_declarations  (set_name → ddm_sets ON DELETE CASCADE,
//!                        identifier → ddm_declarations)            PK (set_name, identifier)
//! ddm_set_channels      (set_name → ddm_sets ON DELETE CASCADE, channel_id)
//!                                                                  PK (set_name, channel_id)
//! ddm_channels          (channel_id PK, version, state JSON, report BLOB, report_at)
//! ```
//!
//! Changes follow the decide-then-apply shape: [`DdmStore::snapshot`] reads every
//! declaration, set and assignment with the revision they carry; the server decides from it
//! (`crate::ddm::change::decide`, pure); [`DdmStore::apply`] writes the decision's changes in
//! one transaction only while the revision is still the one read, else answers
//! [`StoreError::Stale`] and the server decides again. A channel's reconciliation state is
//! compare-and-set on its own `version` the same way ([`DdmStore::save_channel`]).

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::storage::{Migration, Storage};

/// The SQLite schema (one migration of `crate::storage`).
pub const SCHEMA: &str = "
CREATE TABLE ddm_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
);
INSERT INTO ddm_revision (id, revision) VALUES (1, 0);
CREATE TABLE ddm_declarations (
    identifier   TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    server_token TEXT NOT NULL,
    body         TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE ddm_sets (
    name TEXT PRIMARY KEY
);
CREATE TABLE ddm_set_declarations (
    set_name   TEXT NOT NULL REFERENCES ddm_sets(name) ON DELETE CASCADE,
    identifier TEXT NOT NULL REFERENCES ddm_declarations(identifier),
    PRIMARY KEY (set_name, identifier)
);
CREATE TABLE ddm_set_channels (
    set_name   TEXT NOT NULL REFERENCES ddm_sets(name) ON DELETE CASCADE,
    channel_id TEXT NOT NULL,
    PRIMARY KEY (set_name, channel_id)
);
CREATE INDEX ddm_set_channels_by_channel ON ddm_set_channels(channel_id);
CREATE TABLE ddm_channels (
    channel_id TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    state      TEXT NOT NULL,
    report     BLOB,
    report_at  INTEGER
);
";

/// The DDM tables as SQLite migration `version`.
pub const fn migration(version: u32) -> Migration {
    Migration {
        version,
        name: "declarative device management",
        sql: SCHEMA,
    }
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The records changed since they were read: decide again from a fresh read.
    #[error("DDM records changed since they were read: {0}")]
    Stale(&'static str),
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL (or the pool in front of it) failed.
    #[error("database: {0}")]
    Postgres(String),
    /// A stored row does not decode (edited by hand, or damaged).
    #[error("stored DDM row {what} does not decode: {reason}")]
    Corrupt {
        /// Which row.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

impl From<crate::storage::Error> for StoreError {
    fn from(e: crate::storage::Error) -> Self {
        match e {
            crate::storage::Error::Sqlite(e) => StoreError::Sqlite(e),
            other => StoreError::Postgres(other.to_string()),
        }
    }
}

/// A declaration as stored: the JSON exactly as the check-in serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDeclaration {
    /// `Identifier`.
    pub identifier: String,
    /// `Type`.
    pub declaration_type: String,
    /// `ServerToken` as served (the content token, or the given one in KMFDDM mode).
    pub server_token: String,
    /// The whole declaration as served (with `ServerToken`), JSON text.
    pub body: String,
}

/// A set: the declarations it holds and the channels it is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredSet {
    /// Declaration identifiers.
    pub declarations: BTreeSet<String>,
    /// Channel IDs (`mdm_proto::checkin::Channel::id`).
    pub channels: BTreeSet<String>,
}

/// Every declaration, set and assignment, read in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The revision [`DdmStore::apply`] must still find.
    pub revision: u64,
    /// By identifier.
    pub declarations: BTreeMap<String, StoredDeclaration>,
    /// By name.
    pub sets: BTreeMap<String, StoredSet>,
}

/// One write of a decided change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert or replace a declaration.
    PutDeclaration(StoredDeclaration),
    /// Delete a declaration (no set may hold it).
    DeleteDeclaration(String),
    /// Create a set or replace its declaration list (its assignments stay).
    PutSet {
        /// The set.
        name: String,
        /// Its declarations, all stored.
        declarations: Vec<String>,
    },
    /// Delete a set with its assignments.
    DeleteSet(String),
    /// Assign a set to a channel.
    Assign {
        /// The set.
        set: String,
        /// The channel ID.
        channel: String,
    },
    /// Take a set off a channel.
    Unassign {
        /// The set.
        set: String,
        /// The channel ID.
        channel: String,
    },
}

/// A channel's reconciliation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRecord {
    /// The compare-and-set version (the reconciliation state's own `version`).
    pub version: u64,
    /// The reconciliation state, JSON (`crate::ddm::state`).
    pub state: String,
    /// The latest status report, as the device sent it.
    pub report: Option<Vec<u8>>,
    /// When it arrived (seconds since the epoch).
    pub report_at: Option<u64>,
}

/// DDM's records, whatever holds them: SQLite ([`Storage`]) or PostgreSQL
/// ([`super::postgres::PgDdm`]). Both keep the same rules, checked by one suite
/// (`tests/ddm_server.rs`).
pub trait DdmStore: Send + Sync + std::fmt::Debug {
    /// Every declaration, set and assignment with the revision, read consistently.
    fn snapshot(&self) -> Result<Snapshot, StoreError>;
    /// Write `changes` in one transaction if the revision is still `expected_revision`
    /// (bumping it); otherwise [`StoreError::Stale`] and nothing written.
    fn apply(&self, expected_revision: u64, changes: &[Change]) -> Result<(), StoreError>;
    /// The bodies of every declaration in the sets assigned to `channel_id` (each once), read
    /// consistently: what its check-ins serve.
    fn channel_declarations(&self, channel_id: &str) -> Result<Vec<String>, StoreError>;
    /// The sets assigned to `channel_id`, by name.
    fn channel_sets(&self, channel_id: &str) -> Result<Vec<String>, StoreError>;
    /// Every channel with a set assigned or a reconciliation record, each once.
    fn channel_ids(&self) -> Result<Vec<String>, StoreError>;
    /// The channel's reconciliation record.
    fn channel(&self, channel_id: &str) -> Result<Option<ChannelRecord>, StoreError>;
    /// Store the channel's new state (`version`, `state`) if its stored version is still
    /// `expected_version` (0: no record yet), with the report that led to it, if any; otherwise
    /// [`StoreError::Stale`]. A record without a new report keeps the last one.
    fn save_channel(
        &self,
        channel_id: &str,
        expected_version: u64,
        version: u64,
        state: &str,
        report: Option<(&[u8], u64)>,
    ) -> Result<(), StoreError>;
}

pub(crate) fn sql_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A constraint violation (a set naming a declaration deleted meanwhile, say) means the rows
/// moved under the decision: decide again.
fn write_err(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Stale(what)
        }
        other => StoreError::Sqlite(other),
    }
}

impl DdmStore for Storage {
    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let revision: i64 =
            tx.query_row("SELECT revision FROM ddm_revision WHERE id = 1", [], |r| {
                r.get(0)
            })?;
        let mut snap = Snapshot {
            revision: from_sql(revision),
            ..Snapshot::default()
        };
        {
            let mut st = tx.prepare(
                "SELECT identifier, type, server_token, body FROM ddm_declarations
                 ORDER BY identifier",
            )?;
            let rows = st.query_map([], |r| {
                Ok(StoredDeclaration {
                    identifier: r.get(0)?,
                    declaration_type: r.get(1)?,
                    server_token: r.get(2)?,
                    body: r.get(3)?,
                })
            })?;
            for d in rows {
                let d = d?;
                snap.declarations.insert(d.identifier.clone(), d);
            }
            let mut st = tx.prepare("SELECT name FROM ddm_sets")?;
            for name in st.query_map([], |r| r.get::<_, String>(0))? {
                snap.sets.insert(name?, StoredSet::default());
            }
            let mut st = tx.prepare("SELECT set_name, identifier FROM ddm_set_declarations")?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
                let (set, id) = row?;
                snap.sets.entry(set).or_default().declarations.insert(id);
            }
            let mut st = tx.prepare("SELECT set_name, channel_id FROM ddm_set_channels")?;
            for row in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))? {
                let (set, ch) = row?;
                snap.sets.entry(set).or_default().channels.insert(ch);
            }
        }
        tx.commit()?;
        Ok(snap)
    }

    fn apply(&self, expected_revision: u64, changes: &[Change]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = tx.execute(
            "UPDATE ddm_revision SET revision = revision + 1 WHERE id = 1 AND revision = ?1",
            [sql_u64(expected_revision)],
        )?;
        if n != 1 {
            return Err(StoreError::Stale("revision"));
        }
        let now = sql_u64(now_secs());
        for c in changes {
            match c {
                Change::PutDeclaration(d) => {
                    tx.execute(
                        "INSERT INTO ddm_declarations
                             (identifier, type, server_token, body, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (identifier) DO UPDATE SET type = excluded.type,
                             server_token = excluded.server_token, body = excluded.body,
                             updated_at = excluded.updated_at",
                        params![
                            d.identifier,
                            d.declaration_type,
                            d.server_token,
                            d.body,
                            now
                        ],
                    )?;
                }
                Change::DeleteDeclaration(id) => {
                    tx.execute("DELETE FROM ddm_declarations WHERE identifier = ?1", [id])
                        .map_err(write_err("declaration still in a set"))?;
                }
                Change::PutSet { name, declarations } => {
                    tx.execute(
                        "INSERT INTO ddm_sets (name) VALUES (?1) ON CONFLICT DO NOTHING",
                        [name],
                    )?;
                    tx.execute(
                        "DELETE FROM ddm_set_declarations WHERE set_name = ?1",
                        [name],
                    )?;
                    for id in declarations {
                        tx.execute(
                            "INSERT INTO ddm_set_declarations (set_name, identifier)
                             VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                            [name, id],
                        )
                        .map_err(write_err("declaration deleted"))?;
                    }
                }
                Change::DeleteSet(name) => {
                    tx.execute("DELETE FROM ddm_sets WHERE name = ?1", [name])?;
                }
                Change::Assign { set, channel } => {
                    tx.execute(
                        "INSERT INTO ddm_set_channels (set_name, channel_id) VALUES (?1, ?2)
                         ON CONFLICT DO NOTHING",
                        [set, channel],
                    )
                    .map_err(write_err("set deleted"))?;
                }
                Change::Unassign { set, channel } => {
                    tx.execute(
                        "DELETE FROM ddm_set_channels WHERE set_name = ?1 AND channel_id = ?2",
                        [set, channel],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn channel_declarations(&self, channel_id: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT d.body FROM ddm_declarations d WHERE d.identifier IN (
                 SELECT s.identifier FROM ddm_set_declarations s
                 JOIN ddm_set_channels c ON c.set_name = s.set_name
                 WHERE c.channel_id = ?1)
             ORDER BY d.identifier",
        )?;
        let rows = st.query_map([channel_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn channel_sets(&self, channel_id: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT set_name FROM ddm_set_channels WHERE channel_id = ?1 ORDER BY set_name",
        )?;
        let rows = st.query_map([channel_id], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn channel_ids(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut st = conn.prepare(
            "SELECT channel_id FROM ddm_set_channels UNION SELECT channel_id FROM ddm_channels
             ORDER BY 1",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn channel(&self, channel_id: &str) -> Result<Option<ChannelRecord>, StoreError> {
        Ok(self
            .lock()
            .query_row(
                "SELECT version, state, report, report_at FROM ddm_channels
                 WHERE channel_id = ?1",
                [channel_id],
                |r| {
                    Ok(ChannelRecord {
                        version: from_sql(r.get(0)?),
                        state: r.get(1)?,
                        report: r.get(2)?,
                        report_at: r.get::<_, Option<i64>>(3)?.map(from_sql),
                    })
                },
            )
            .optional()?)
    }

    fn save_channel(
        &self,
        channel_id: &str,
        expected_version: u64,
        version: u64,
        state: &str,
        report: Option<(&[u8], u64)>,
    ) -> Result<(), StoreError> {
        let conn = self.lock();
        let (report, at) = match report {
            Some((r, at)) => (Some(r), Some(sql_u64(at))),
            None => (None, None),
        };
        let n = if expected_version == 0 {
            conn.execute(
                "INSERT INTO ddm_channels (channel_id, version, state, report, report_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![channel_id, sql_u64(version), state, report, at],
            )?
        } else {
            conn.execute(
                "UPDATE ddm_channels SET version = ?3, state = ?4,
                     report = COALESCE(?5, report), report_at = COALESCE(?6, report_at)
                 WHERE channel_id = ?1 AND version = ?2",
                params![
                    channel_id,
                    sql_u64(expected_version),
                    sql_u64(version),
                    state,
                    report,
                    at
                ],
            )?
        };
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Stale("channel state version"))
        }
    }
}
