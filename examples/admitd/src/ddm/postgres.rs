//! DDM's records on PostgreSQL, for several `admitd` processes sharing one database.
//!
//! The tables are those of the SQLite store ([`super::store`]), created by the shared
//! PostgreSQL migrations (`crate::scep::postgres`, migration 5, [`SCHEMA`]). The same rules,
//! safe across processes: a snapshot is one `REPEATABLE READ` transaction; `apply` bumps the
//! revision with `UPDATE … WHERE revision = $expected` first, so of two servers deciding from
//! the same revision the second waits for the first's commit, then finds no row and is told
//! to decide again; a channel's state is compare-and-set on its version the same way.

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::error::SqlState;

use super::store::{
    Change, ChannelRecord, DdmStore, Snapshot, StoreError, StoredDeclaration, from_sql, now_secs,
    sql_u64,
};
use crate::scep::postgres::PgStore;

/// The PostgreSQL schema (a migration of `crate::scep::postgres`).
pub const SCHEMA: &str = "
CREATE TABLE ddm_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO ddm_revision (id, revision) VALUES (1, 0);
CREATE TABLE ddm_declarations (
    identifier   TEXT PRIMARY KEY,
    type         TEXT NOT NULL,
    server_token TEXT NOT NULL,
    body         TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
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
    version    BIGINT NOT NULL,
    state      TEXT NOT NULL,
    report     BYTEA,
    report_at  BIGINT
);
";

/// DDM's store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgDdm {
    pg: Arc<PgStore>,
}

impl PgDdm {
    /// DDM on the database behind `pg` (whose migrations created the tables).
    pub fn new(pg: Arc<PgStore>) -> PgDdm {
        PgDdm { pg }
    }
}

fn pg_err(e: tokio_postgres::Error) -> StoreError {
    StoreError::Postgres(crate::storage::Error::Postgres(e).to_string())
}

/// A foreign-key or unique violation means the rows moved under the decision.
fn write_err(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
            || e.code() == Some(&SqlState::UNIQUE_VIOLATION)
        {
            StoreError::Stale(what)
        } else {
            pg_err(e)
        }
    }
}

impl DdmStore for PgDdm {
    fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.pg.with_any(async |c| {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg_err)?;
            let revision: i64 = tx
                .query_one("SELECT revision FROM ddm_revision WHERE id = 1", &[])
                .await
                .map_err(pg_err)?
                .get(0);
            let mut snap = Snapshot {
                revision: from_sql(revision),
                ..Snapshot::default()
            };
            for r in tx
                .query(
                    "SELECT identifier, type, server_token, body FROM ddm_declarations",
                    &[],
                )
                .await
                .map_err(pg_err)?
            {
                let d = StoredDeclaration {
                    identifier: r.get(0),
                    declaration_type: r.get(1),
                    server_token: r.get(2),
                    body: r.get(3),
                };
                snap.declarations.insert(d.identifier.clone(), d);
            }
            for r in tx
                .query("SELECT name FROM ddm_sets", &[])
                .await
                .map_err(pg_err)?
            {
                snap.sets.insert(r.get(0), Default::default());
            }
            for r in tx
                .query("SELECT set_name, identifier FROM ddm_set_declarations", &[])
                .await
                .map_err(pg_err)?
            {
                snap.sets
                    .entry(r.get(0))
                    .or_default()
                    .declarations
                    .insert(r.get(1));
            }
            for r in tx
                .query("SELECT set_name, channel_id FROM ddm_set_channels", &[])
                .await
                .map_err(pg_err)?
            {
                snap.sets
                    .entry(r.get(0))
                    .or_default()
                    .channels
                    .insert(r.get(1));
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(snap)
        })
    }

    fn apply(&self, expected_revision: u64, changes: &[Change]) -> Result<(), StoreError> {
        self.pg.with_any(async |c| {
            let tx = c.transaction().await.map_err(pg_err)?;
            let n = tx
                .execute(
                    "UPDATE ddm_revision SET revision = revision + 1
                     WHERE id = 1 AND revision = $1",
                    &[&sql_u64(expected_revision)],
                )
                .await
                .map_err(pg_err)?;
            if n != 1 {
                return Err(StoreError::Stale("revision"));
            }
            let now = sql_u64(now_secs());
            for ch in changes {
                match ch {
                    Change::PutDeclaration(d) => {
                        tx.execute(
                            "INSERT INTO ddm_declarations
                                 (identifier, type, server_token, body, updated_at)
                             VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (identifier) DO UPDATE SET type = excluded.type,
                                 server_token = excluded.server_token, body = excluded.body,
                                 updated_at = excluded.updated_at",
                            &[
                                &d.identifier,
                                &d.declaration_type,
                                &d.server_token,
                                &d.body,
                                &now,
                            ],
                        )
                        .await
                        .map_err(pg_err)?;
                    }
                    Change::DeleteDeclaration(id) => {
                        tx.execute("DELETE FROM ddm_declarations WHERE identifier = $1", &[id])
                            .await
                            .map_err(write_err("declaration still in a set"))?;
                    }
                    Change::PutSet { name, declarations } => {
                        tx.execute(
                            "INSERT INTO ddm_sets (name) VALUES ($1) ON CONFLICT DO NOTHING",
                            &[name],
                        )
                        .await
                        .map_err(pg_err)?;
                        tx.execute(
                            "DELETE FROM ddm_set_declarations WHERE set_name = $1",
                            &[name],
                        )
                        .await
                        .map_err(pg_err)?;
                        for id in declarations {
                            tx.execute(
                                "INSERT INTO ddm_set_declarations (set_name, identifier)
                                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                &[name, id],
                            )
                            .await
                            .map_err(write_err("declaration deleted"))?;
                        }
                    }
                    Change::DeleteSet(name) => {
                        tx.execute("DELETE FROM ddm_sets WHERE name = $1", &[name])
                            .await
                            .map_err(pg_err)?;
                    }
                    Change::Assign { set, channel } => {
                        tx.execute(
                            "INSERT INTO ddm_set_channels (set_name, channel_id) VALUES ($1, $2)
                             ON CONFLICT DO NOTHING",
                            &[set, channel],
                        )
                        .await
                        .map_err(write_err("set deleted"))?;
                    }
                    Change::Unassign { set, channel } => {
                        tx.execute(
                            "DELETE FROM ddm_set_channels WHERE set_name = $1 AND channel_id = $2",
                            &[set, channel],
                        )
                        .await
                        .map_err(pg_err)?;
                    }
                }
            }
            tx.commit().await.map_err(pg_err)?;
            Ok(())
        })
    }

    fn channel_declarations(&self, channel_id: &str) -> Result<Vec<String>, StoreError> {
        self.pg.with_any(async |c| {
            let rows = c
                .query(
                    "SELECT d.body FROM ddm_declarations d WHERE d.identifier IN (
                         SELECT s.identifier FROM ddm_set_declarations s
                         JOIN ddm_set_channels c ON c.set_name = s.set_name
                         WHERE c.channel_id = $1)
                     ORDER BY d.identifier",
                    &[&channel_id],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn channel_sets(&self, channel_id: &str) -> Result<Vec<String>, StoreError> {
        self.pg.with_any(async |c| {
            let rows = c
                .query(
                    "SELECT set_name FROM ddm_set_channels WHERE channel_id = $1
                     ORDER BY set_name",
                    &[&channel_id],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn channel_ids(&self) -> Result<Vec<String>, StoreError> {
        self.pg.with_any(async |c| {
            let rows = c
                .query(
                    "SELECT channel_id FROM ddm_set_channels
                     UNION SELECT channel_id FROM ddm_channels ORDER BY 1",
                    &[],
                )
                .await
                .map_err(pg_err)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn channel(&self, channel_id: &str) -> Result<Option<ChannelRecord>, StoreError> {
        self.pg.with_any(async |c| {
            let row = c
                .query_opt(
                    "SELECT version, state, report, report_at FROM ddm_channels
                     WHERE channel_id = $1",
                    &[&channel_id],
                )
                .await
                .map_err(pg_err)?;
            Ok(row.map(|r| ChannelRecord {
                version: from_sql(r.get(0)),
                state: r.get(1),
                report: r.get(2),
                report_at: r.get::<_, Option<i64>>(3).map(from_sql),
            }))
        })
    }

    fn save_channel(
        &self,
        channel_id: &str,
        expected_version: u64,
        version: u64,
        state: &str,
        report: Option<(&[u8], u64)>,
    ) -> Result<(), StoreError> {
        let (report, at) = match report {
            Some((r, at)) => (Some(r.to_vec()), Some(sql_u64(at))),
            None => (None, None),
        };
        let n = self.pg.with_any(async |c| {
            let n = if expected_version == 0 {
                c.execute(
                    "INSERT INTO ddm_channels (channel_id, version, state, report, report_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[&channel_id, &sql_u64(version), &state, &report, &at],
                )
                .await
            } else {
                c.execute(
                    "UPDATE ddm_channels SET version = $3, state = $4,
                         report = COALESCE($5, report), report_at = COALESCE($6, report_at)
                     WHERE channel_id = $1 AND version = $2",
                    &[
                        &channel_id,
                        &sql_u64(expected_version),
                        &sql_u64(version),
                        &state,
                        &report,
                        &at,
                    ],
                )
                .await
            };
            n.map_err(pg_err)
        })?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::Stale("channel state version"))
        }
    }
}
