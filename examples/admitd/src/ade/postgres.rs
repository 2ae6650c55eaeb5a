//! ADE records on PostgreSQL, for several `admitd` processes sharing one database.
//!
//! The tables are those of the SQLite store ([`super::store`]), created by the shared
//! PostgreSQL migrations (`crate::scep::postgres`, migration 4). A page and its cursor are
//! written in one transaction that first locks the token's sync row (`FOR UPDATE`), so the
//! compare-and-set on the cursor holds across processes.

use std::sync::Arc;

use ade_client::model::Device;
use ade_client::{Commit, Mode};

use super::store::{
    AdeStore, Assignment, DEVICE_COLUMNS, DeviceColumns, DeviceFilter, DeviceRecord, MAX_PAGE,
    StoreError, SyncState, TokenRecord, assignment_columns, mode_parse, mode_str, to_i64, to_u64,
};
use crate::scep::postgres::PgStore;

/// The PostgreSQL schema (migration 4 of the shared list).
pub const SCHEMA: &str = "
CREATE TABLE ade_tokens (
    name                TEXT PRIMARY KEY,
    consumer_key        TEXT NOT NULL,
    sealed              BYTEA NOT NULL,
    access_token_expiry TEXT NOT NULL,
    expires_at          BIGINT,
    server_name         TEXT,
    imported_at         BIGINT NOT NULL
);
CREATE TABLE ade_sync (
    token          TEXT PRIMARY KEY REFERENCES ade_tokens(name) ON DELETE CASCADE,
    cursor         TEXT,
    mode           TEXT NOT NULL CHECK (mode IN ('fetch', 'sync')),
    cursor_at      BIGINT,
    last_fetch_at  BIGINT,
    last_sync_at   BIGINT,
    session_sealed BYTEA,
    profile_uuid   TEXT,
    profile_hash   TEXT,
    last_error     TEXT,
    last_error_at  BIGINT,
    rounds         BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE ade_devices (
    serial              TEXT PRIMARY KEY,
    token               TEXT NOT NULL,
    model               TEXT,
    description         TEXT,
    color               TEXT,
    device_family       TEXT,
    os                  TEXT,
    profile_status      TEXT,
    profile_uuid        TEXT,
    profile_assign_time TEXT,
    op_type             TEXT,
    op_date             TEXT,
    first_seen          BIGINT NOT NULL,
    last_seen           BIGINT NOT NULL,
    assign_state        TEXT,
    assign_after        BIGINT
);
CREATE INDEX ade_devices_assign ON ade_devices(token, assign_state);
";

const UPSERT_DEVICE: &str = "
INSERT INTO ade_devices (serial, token, model, description, color, device_family, os,
    profile_status, profile_uuid, profile_assign_time, op_type, op_date, first_seen, last_seen,
    assign_state, assign_after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13,
    CASE WHEN $14::BOOLEAN THEN 'pending' END, NULL)
ON CONFLICT (serial) DO UPDATE SET
    token = excluded.token,
    model = COALESCE(excluded.model, ade_devices.model),
    description = COALESCE(excluded.description, ade_devices.description),
    color = COALESCE(excluded.color, ade_devices.color),
    device_family = COALESCE(excluded.device_family, ade_devices.device_family),
    os = COALESCE(excluded.os, ade_devices.os),
    profile_status = COALESCE(excluded.profile_status, ade_devices.profile_status),
    profile_uuid = COALESCE(excluded.profile_uuid, ade_devices.profile_uuid),
    profile_assign_time = COALESCE(excluded.profile_assign_time, ade_devices.profile_assign_time),
    op_type = COALESCE(excluded.op_type, ade_devices.op_type),
    op_date = COALESCE(excluded.op_date, ade_devices.op_date),
    last_seen = excluded.last_seen,
    assign_state = CASE
        WHEN $14::BOOLEAN THEN 'pending'
        WHEN ade_devices.assign_state = 'pending' THEN NULL
        ELSE ade_devices.assign_state END,
    assign_after = CASE
        WHEN $14::BOOLEAN AND ade_devices.assign_state = 'pending' THEN ade_devices.assign_after
        ELSE NULL END";

const TOKEN_COLUMNS: &str =
    "name, consumer_key, sealed, access_token_expiry, expires_at, server_name, imported_at";

/// ADE's store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgAde {
    pg: Arc<PgStore>,
}

impl PgAde {
    /// The store over an opened (and migrated) pool.
    pub fn new(pg: Arc<PgStore>) -> Self {
        PgAde { pg }
    }
}

fn pg_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Postgres(e.to_string())
}

impl From<crate::storage::Error> for StoreError {
    fn from(e: crate::storage::Error) -> Self {
        pg_err(e)
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_err(crate::storage::Error::from(e))
    }
}

fn token_from(r: &tokio_postgres::Row) -> TokenRecord {
    TokenRecord {
        name: r.get(0),
        consumer_key: r.get(1),
        sealed: r.get(2),
        access_token_expiry: r.get(3),
        expires_at: r.get(4),
        server_name: r.get(5),
        imported_at: r.get(6),
    }
}

fn device_from(r: &tokio_postgres::Row) -> DeviceRecord {
    DeviceRecord {
        serial: r.get(0),
        token: r.get(1),
        model: r.get(2),
        description: r.get(3),
        color: r.get(4),
        device_family: r.get(5),
        os: r.get(6),
        profile_status: r.get(7),
        profile_uuid: r.get(8),
        profile_assign_time: r.get(9),
        op_type: r.get(10),
        op_date: r.get(11),
        first_seen: r.get(12),
        last_seen: r.get(13),
        assign_state: r.get(14),
        assign_after: r.get(15),
    }
}

fn checkpoint_from(r: &tokio_postgres::Row, at: usize) -> ade_client::Checkpoint {
    ade_client::Checkpoint {
        cursor: r.get(at),
        mode: mode_parse(&r.get::<_, String>(at + 1)),
        cursor_at: to_u64(r.get(at + 2)),
    }
}

impl AdeStore for PgAde {
    fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let t = t.clone();
        self.pg.with_any(async move |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "INSERT INTO ade_tokens (name, consumer_key, sealed, access_token_expiry,
                     expires_at, server_name, imported_at)
                 VALUES ($1, $2, $3, $4, $5, NULL, $6)
                 ON CONFLICT (name) DO UPDATE SET consumer_key = excluded.consumer_key,
                     sealed = excluded.sealed,
                     access_token_expiry = excluded.access_token_expiry,
                     expires_at = excluded.expires_at, imported_at = excluded.imported_at,
                     server_name = CASE WHEN ade_tokens.consumer_key = excluded.consumer_key
                         THEN ade_tokens.server_name END",
                &[
                    &t.name,
                    &t.consumer_key,
                    &t.sealed,
                    &t.access_token_expiry,
                    &t.expires_at,
                    &t.imported_at,
                ],
            )
            .await?;
            tx.execute(
                "INSERT INTO ade_sync (token, mode) VALUES ($1, 'fetch')
                 ON CONFLICT (token) DO UPDATE SET session_sealed = NULL",
                &[&t.name],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.pg.with_any(async |c| {
            let rows = c
                .query(
                    &format!("SELECT {TOKEN_COLUMNS} FROM ade_tokens ORDER BY name"),
                    &[],
                )
                .await?;
            Ok(rows.iter().map(token_from).collect())
        })
    }

    fn token(&self, name: &str) -> Result<Option<TokenRecord>, StoreError> {
        let name = name.to_owned();
        self.pg.with_any(async move |c| {
            let row = c
                .query_opt(
                    &format!("SELECT {TOKEN_COLUMNS} FROM ade_tokens WHERE name = $1"),
                    &[&name],
                )
                .await?;
            Ok(row.as_ref().map(token_from))
        })
    }

    fn set_server_name(&self, name: &str, server_name: &str) -> Result<(), StoreError> {
        let (name, server_name) = (name.to_owned(), server_name.to_owned());
        self.pg.with_any(async move |c| {
            c.execute(
                "UPDATE ade_tokens SET server_name = $2 WHERE name = $1",
                &[&name, &server_name],
            )
            .await?;
            Ok(())
        })
    }

    fn sync_state(&self, name: &str) -> Result<SyncState, StoreError> {
        let name = name.to_owned();
        self.pg.with_any(async move |c| {
            let row = c
                .query_opt(
                    "SELECT cursor, mode, cursor_at, last_fetch_at, last_sync_at,
                            session_sealed, profile_uuid, profile_hash, last_error,
                            last_error_at, rounds
                     FROM ade_sync WHERE token = $1",
                    &[&name],
                )
                .await?
                .ok_or_else(|| StoreError::UnknownToken(name.clone()))?;
            Ok(SyncState {
                checkpoint: checkpoint_from(&row, 0),
                last_fetch_at: row.get(3),
                last_sync_at: row.get(4),
                session_sealed: row.get(5),
                profile_uuid: row.get(6),
                profile_hash: row.get(7),
                last_error: row.get(8),
                last_error_at: row.get(9),
                rounds: row.get(10),
            })
        })
    }

    fn apply_page(
        &self,
        name: &str,
        devices: &[Device],
        commit: &Commit,
        mode: Mode,
        assign: bool,
        now: i64,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.pg.with_any(async move |c| {
            let tx = c.transaction().await?;
            let row = tx
                .query_opt(
                    "SELECT cursor, mode, cursor_at FROM ade_sync WHERE token = $1 FOR UPDATE",
                    &[&name],
                )
                .await?
                .ok_or_else(|| StoreError::UnknownToken(name.clone()))?;
            if checkpoint_from(&row, 0) != commit.expected {
                return Err(StoreError::Stale);
            }
            let stmt = tx.prepare(UPSERT_DEVICE).await?;
            for d in devices {
                let d = DeviceColumns::of(d, assign);
                tx.execute(
                    &stmt,
                    &[
                        &d.serial,
                        &name,
                        &d.model,
                        &d.description,
                        &d.color,
                        &d.device_family,
                        &d.os,
                        &d.profile_status,
                        &d.profile_uuid,
                        &d.profile_assign_time,
                        &d.op_type,
                        &d.op_date,
                        &now,
                        &d.pending,
                    ],
                )
                .await?;
            }
            let (fetch_at, sync_at) = match mode {
                Mode::Fetch => (Some(now), None),
                Mode::Sync => (None, Some(now)),
            };
            tx.execute(
                "UPDATE ade_sync SET cursor = $2, mode = $3, cursor_at = $4,
                     last_fetch_at = COALESCE($5, last_fetch_at),
                     last_sync_at = COALESCE($6, last_sync_at)
                 WHERE token = $1",
                &[
                    &name,
                    &commit.next.cursor,
                    &mode_str(commit.next.mode),
                    &to_i64(commit.next.cursor_at),
                    &fetch_at,
                    &sync_at,
                ],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn save_session(&self, name: &str, sealed: Option<&[u8]>) -> Result<(), StoreError> {
        let (name, sealed) = (name.to_owned(), sealed.map(<[u8]>::to_vec));
        self.pg.with_any(async move |c| {
            c.execute(
                "UPDATE ade_sync SET session_sealed = $2 WHERE token = $1",
                &[&name, &sealed],
            )
            .await?;
            Ok(())
        })
    }

    fn save_profile(&self, name: &str, uuid: &str, hash: &str) -> Result<(), StoreError> {
        let (name, uuid, hash) = (name.to_owned(), uuid.to_owned(), hash.to_owned());
        self.pg.with_any(async move |c| {
            c.execute(
                "UPDATE ade_sync SET profile_uuid = $2, profile_hash = $3 WHERE token = $1",
                &[&name, &uuid, &hash],
            )
            .await?;
            Ok(())
        })
    }

    fn finish_round(&self, name: &str, error: Option<&str>, now: i64) -> Result<(), StoreError> {
        let (name, error) = (name.to_owned(), error.map(str::to_owned));
        self.pg.with_any(async move |c| {
            c.execute(
                "UPDATE ade_sync SET rounds = rounds + 1, last_error = $2::TEXT,
                     last_error_at = CASE WHEN $2::TEXT IS NULL THEN last_error_at ELSE $3 END
                 WHERE token = $1",
                &[&name, &error, &now],
            )
            .await?;
            Ok(())
        })
    }

    fn pending_assignments(
        &self,
        name: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let name = name.to_owned();
        let limit = i64::from(limit);
        self.pg.with_any(async move |c| {
            let rows = c
                .query(
                    "SELECT serial FROM ade_devices
                     WHERE token = $1 AND assign_state = 'pending'
                       AND (assign_after IS NULL OR assign_after <= $2)
                     ORDER BY serial LIMIT $3",
                    &[&name, &now, &limit],
                )
                .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn record_assignments(
        &self,
        profile_uuid: &str,
        outcomes: &[(String, Assignment)],
    ) -> Result<(), StoreError> {
        let uuid = profile_uuid.to_owned();
        self.pg.with_any(async move |c| {
            let tx = c.transaction().await?;
            for (serial, outcome) in outcomes {
                let (state, after) = assignment_columns(outcome);
                let assigned = matches!(outcome, Assignment::Assigned);
                tx.execute(
                    "UPDATE ade_devices SET assign_state = $2, assign_after = $3,
                         profile_uuid = CASE WHEN $4::BOOLEAN THEN $5 ELSE profile_uuid END,
                         profile_status = CASE WHEN $4::BOOLEAN THEN 'assigned'
                             ELSE profile_status END
                     WHERE serial = $1",
                    &[serial, &state, &after, &assigned, &uuid],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn devices(&self, f: &DeviceFilter) -> Result<Vec<DeviceRecord>, StoreError> {
        let f = f.clone();
        let limit = i64::from(f.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE));
        let offset = i64::from(f.offset.unwrap_or(0));
        self.pg.with_any(async move |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {DEVICE_COLUMNS} FROM ade_devices
                         WHERE ($1::TEXT IS NULL OR serial = $1)
                           AND ($2::TEXT IS NULL OR profile_status = $2)
                           AND ($3::TEXT IS NULL OR token = $3)
                         ORDER BY serial LIMIT $4 OFFSET $5"
                    ),
                    &[&f.serial, &f.profile_status, &f.token, &limit, &offset],
                )
                .await?;
            Ok(rows.iter().map(device_from).collect())
        })
    }
}
