//! ADE records in SQLite: server tokens (secrets sealed), the sync state of each token, and the
//! devices Apple listed.
//!
//! ```text
//! ade_tokens  (name PK, consumer_key, sealed BLOB, access_token_expiry, expires_at,
//!              server_name, imported_at)
//! ade_sync    (token PK → ade_tokens, cursor, mode 'fetch'|'sync', cursor_at, last_fetch_at,
//!              last_sync_at, session_sealed BLOB, profile_uuid, profile_hash, last_error,
//!              last_error_at, rounds)
//! ade_devices (serial PK, token, model, description, color, device_family, os,
//!              profile_status, profile_uuid, profile_assign_time, op_type, op_date,
//!              first_seen, last_seen, assign_state, assign_after)
//! ```
//!
//! A page of devices and the cursor after it are written in one transaction, and only while
//! the stored cursor is still the one the round started from ([`Commit::expected`]): two
//! servers syncing one token cannot move the cursor over each other's pages. Secrets (the
//! OAuth values of the server token, the cached session token) are stored only as
//! [`crate::secrets::Sealer`] output.

use ade_client::model::{Device, OpType, ProfileStatus};
use ade_client::{Checkpoint, Commit, Mode};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::storage::Storage;

/// The SQLite schema, one migration of `crate::storage`.
pub const SCHEMA: &str = "
CREATE TABLE ade_tokens (
    name                TEXT PRIMARY KEY,
    consumer_key        TEXT NOT NULL,
    sealed              BLOB NOT NULL,
    access_token_expiry TEXT NOT NULL,
    expires_at          INTEGER,
    server_name         TEXT,
    imported_at         INTEGER NOT NULL
);
CREATE TABLE ade_sync (
    token          TEXT PRIMARY KEY REFERENCES ade_tokens(name) ON DELETE CASCADE,
    cursor         TEXT,
    mode           TEXT NOT NULL CHECK (mode IN ('fetch', 'sync')),
    cursor_at      INTEGER,
    last_fetch_at  INTEGER,
    last_sync_at   INTEGER,
    session_sealed BLOB,
    profile_uuid   TEXT,
    profile_hash   TEXT,
    last_error     TEXT,
    last_error_at  INTEGER,
    rounds         INTEGER NOT NULL DEFAULT 0
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
    first_seen          INTEGER NOT NULL,
    last_seen           INTEGER NOT NULL,
    assign_state        TEXT,
    assign_after        INTEGER
);
CREATE INDEX ade_devices_assign ON ade_devices(token, assign_state);
";

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The stored cursor is not the one this round started from: another process synced this
    /// token meanwhile. Stop the round; the next one starts from the new cursor.
    #[error("the ADE cursor moved since this round started")]
    Stale,
    /// No token of that name.
    #[error("no ADE token named {0:?}")]
    UnknownToken(String),
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL (or its pool) failed.
    #[error("database: {0}")]
    Postgres(String),
}

/// A stored server token; `sealed` opens with [`crate::secrets::Sealer`] under
/// [`token_aad`] to the token JSON.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// The name the operator gave at import.
    pub name: String,
    /// The OAuth consumer key (not secret: it names the MDM server to Apple).
    pub consumer_key: String,
    /// The sealed token JSON (the four secrets with the key and expiry).
    pub sealed: Vec<u8>,
    /// The expiry as Apple wrote it (RFC 3339).
    pub access_token_expiry: String,
    /// The expiry in Unix seconds, when it parses.
    pub expires_at: Option<i64>,
    /// The MDM server's name in Apple Business Manager (`GET /account`), once known.
    pub server_name: Option<String>,
    /// When it was imported (Unix seconds).
    pub imported_at: i64,
}

impl core::fmt::Debug for TokenRecord {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TokenRecord")
            .field("name", &self.name)
            .field("consumer_key", &self.consumer_key)
            .field("access_token_expiry", &self.access_token_expiry)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// The associated data a token's secrets are sealed under (a sealed value copied to another
/// token's row does not open there).
pub fn token_aad(name: &str) -> String {
    format!("ade-token:{name}")
}

/// The associated data a cached session token is sealed under.
pub fn session_aad(name: &str) -> String {
    format!("ade-session:{name}")
}

/// Where a token's sync stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncState {
    /// The checkpoint the next round starts from.
    pub checkpoint: Checkpoint,
    /// When a fetch page was last stored (Unix seconds).
    pub last_fetch_at: Option<i64>,
    /// When a sync page was last stored (Unix seconds).
    pub last_sync_at: Option<i64>,
    /// The cached session token, sealed under [`session_aad`].
    pub session_sealed: Option<Vec<u8>>,
    /// The UUID Apple gave the configured profile.
    pub profile_uuid: Option<String>,
    /// SHA-256 (hex) of the profile JSON that UUID was defined from.
    pub profile_hash: Option<String>,
    /// The last round's error, if it failed.
    pub last_error: Option<String>,
    /// When the last error happened (Unix seconds).
    pub last_error_at: Option<i64>,
    /// Rounds finished (successful or not) since import.
    pub rounds: i64,
}

/// A device Apple listed for one of our tokens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRecord {
    /// Serial number.
    pub serial: String,
    /// The token (by name) whose sync last listed it.
    pub token: String,
    /// Model, as Apple names it.
    pub model: Option<String>,
    /// Apple's description.
    pub description: Option<String>,
    /// Colour.
    pub color: Option<String>,
    /// `iPhone`, `iPad`, `Mac`, ...
    pub device_family: Option<String>,
    /// `iOS`, `OSX`, ...
    pub os: Option<String>,
    /// `empty`, `assigned`, `pushed`, `removed`.
    pub profile_status: Option<String>,
    /// The profile assigned in Apple's records.
    pub profile_uuid: Option<String>,
    /// When it was assigned (Apple's timestamp).
    pub profile_assign_time: Option<String>,
    /// The last operation Apple reported: `added`, `modified`, `deleted`.
    pub op_type: Option<String>,
    /// When that operation happened (Apple's timestamp).
    pub op_date: Option<String>,
    /// When we first stored it (Unix seconds).
    pub first_seen: i64,
    /// When a sync last listed it (Unix seconds).
    pub last_seen: i64,
    /// Our profile assignment: `pending`, `assigned`, `not_accessible`, `failed`, or none.
    pub assign_state: Option<String>,
    /// A throttled assignment is retried after this time (Unix seconds).
    pub assign_after: Option<i64>,
}

/// Filters for [`AdeStore::devices`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Only this serial number.
    pub serial: Option<String>,
    /// Only devices in this profile status.
    pub profile_status: Option<String>,
    /// Only devices of this token.
    pub token: Option<String>,
    /// At most this many (the store caps it at [`MAX_PAGE`]).
    pub limit: Option<u32>,
    /// Skip this many (ordered by serial).
    pub offset: Option<u32>,
}

/// Most devices one listing returns.
pub const MAX_PAGE: u32 = 1000;

/// The outcome of assigning our profile to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Apple accepted it.
    Assigned,
    /// Throttled: try again after this time (Unix seconds).
    Throttled {
        /// Not before.
        after: i64,
    },
    /// The device does not belong to this MDM server.
    NotAccessible,
    /// Apple failed or answered another status; not retried automatically.
    Failed(String),
}

/// The ADE records, whatever holds them: SQLite ([`Storage`]) or PostgreSQL
/// ([`super::postgres::PgAde`]). Both keep the same rules (`tests/ade_sync.rs` runs the same
/// flows on both).
pub trait AdeStore: Send + Sync + std::fmt::Debug {
    /// Store a token (a new name, or a new token for an existing name: the cursor is kept,
    /// the cached session dropped).
    fn put_token(&self, token: &TokenRecord) -> Result<(), StoreError>;
    /// Every token, by name.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// One token.
    fn token(&self, name: &str) -> Result<Option<TokenRecord>, StoreError>;
    /// Record the MDM server's name from `GET /account`.
    fn set_server_name(&self, name: &str, server_name: &str) -> Result<(), StoreError>;
    /// The sync state of a token ([`StoreError::UnknownToken`] for a name never imported).
    fn sync_state(&self, name: &str) -> Result<SyncState, StoreError>;
    /// Store one page and move the cursor, in one transaction, only if the stored checkpoint
    /// is still `commit.expected` (else [`StoreError::Stale`], nothing written). `mode` is the
    /// endpoint the page came from; with `assign`, devices without a profile are marked
    /// `pending` for it.
    fn apply_page(
        &self,
        name: &str,
        devices: &[Device],
        commit: &Commit,
        mode: Mode,
        assign: bool,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Keep (or forget, with `None`) the sealed session token.
    fn save_session(&self, name: &str, sealed: Option<&[u8]>) -> Result<(), StoreError>;
    /// Record the profile defined from the configuration.
    fn save_profile(&self, name: &str, uuid: &str, hash: &str) -> Result<(), StoreError>;
    /// A round ended (with its error, if any): counted, and the error kept or cleared.
    fn finish_round(&self, name: &str, error: Option<&str>, now: i64) -> Result<(), StoreError>;
    /// Serials of this token waiting for our profile, whose throttling (if any) is over.
    fn pending_assignments(
        &self,
        name: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
    /// Record assignment outcomes for `profile_uuid`.
    fn record_assignments(
        &self,
        profile_uuid: &str,
        outcomes: &[(String, Assignment)],
    ) -> Result<(), StoreError>;
    /// Devices matching `filter`, by serial.
    fn devices(&self, filter: &DeviceFilter) -> Result<Vec<DeviceRecord>, StoreError>;
    /// Whether ADE lists this serial number for one of our tokens (and has not removed it).
    fn is_known(&self, serial: &str) -> Result<bool, StoreError> {
        let found = self.devices(&DeviceFilter {
            serial: Some(serial.to_owned()),
            ..DeviceFilter::default()
        })?;
        Ok(found
            .iter()
            .any(|d| d.op_type.as_deref() != Some(OpType::Deleted.as_str())))
    }
}

/// Whether a listed device should get our profile: it is not removed and has none.
pub fn wants_profile(d: &Device) -> bool {
    let deleted = d.op_type.as_ref() == Some(&OpType::Deleted);
    let has_uuid = d.profile_uuid.as_deref().is_some_and(|u| !u.is_empty());
    let status_free = matches!(
        d.profile_status.as_ref(),
        None | Some(ProfileStatus::Empty) | Some(ProfileStatus::Removed)
    );
    !deleted && !has_uuid && status_free
}

/// `fetch` or `sync`, as stored.
pub fn mode_str(m: Mode) -> &'static str {
    match m {
        Mode::Fetch => "fetch",
        Mode::Sync => "sync",
    }
}

/// Read a stored mode; anything unknown starts again with a fetch.
pub fn mode_parse(s: &str) -> Mode {
    if s == "sync" { Mode::Sync } else { Mode::Fetch }
}

pub(crate) fn to_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

pub(crate) fn to_i64(v: Option<u64>) -> Option<i64> {
    v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// The columns of one device row, in [`DEVICE_COLUMNS`] order, from a listed device.
pub(crate) struct DeviceColumns<'a> {
    pub serial: &'a str,
    pub model: Option<&'a str>,
    pub description: Option<&'a str>,
    pub color: Option<&'a str>,
    pub device_family: Option<&'a str>,
    pub os: Option<&'a str>,
    pub profile_status: Option<&'a str>,
    pub profile_uuid: Option<&'a str>,
    pub profile_assign_time: Option<&'a str>,
    pub op_type: Option<&'a str>,
    pub op_date: Option<&'a str>,
    pub pending: bool,
}

impl<'a> DeviceColumns<'a> {
    pub(crate) fn of(d: &'a Device, assign: bool) -> Self {
        DeviceColumns {
            serial: &d.serial_number,
            model: d.model.as_deref(),
            description: d.description.as_deref(),
            color: d.color.as_deref(),
            device_family: d.device_family.as_ref().map(|v| v.as_str()),
            os: d.os.as_ref().map(|v| v.as_str()),
            profile_status: d.profile_status.as_ref().map(|v| v.as_str()),
            profile_uuid: d.profile_uuid.as_deref(),
            profile_assign_time: d.profile_assign_time.as_deref(),
            op_type: d.op_type.as_ref().map(|v| v.as_str()),
            op_date: d.op_date.as_deref(),
            pending: assign && wants_profile(d),
        }
    }
}

pub(crate) const DEVICE_COLUMNS: &str = "serial, token, model, description, color, device_family, \
     os, profile_status, profile_uuid, profile_assign_time, op_type, op_date, first_seen, \
     last_seen, assign_state, assign_after";

const UPSERT_DEVICE_SQLITE: &str = "
INSERT INTO ade_devices (serial, token, model, description, color, device_family, os,
    profile_status, profile_uuid, profile_assign_time, op_type, op_date, first_seen, last_seen,
    assign_state, assign_after)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13,
    CASE WHEN ?14 THEN 'pending' END, NULL)
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
        WHEN ?14 THEN 'pending'
        WHEN ade_devices.assign_state = 'pending' THEN NULL
        ELSE ade_devices.assign_state END,
    assign_after = CASE
        WHEN ?14 AND ade_devices.assign_state = 'pending' THEN ade_devices.assign_after
        ELSE NULL END";

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRecord> {
    Ok(DeviceRecord {
        serial: r.get(0)?,
        token: r.get(1)?,
        model: r.get(2)?,
        description: r.get(3)?,
        color: r.get(4)?,
        device_family: r.get(5)?,
        os: r.get(6)?,
        profile_status: r.get(7)?,
        profile_uuid: r.get(8)?,
        profile_assign_time: r.get(9)?,
        op_type: r.get(10)?,
        op_date: r.get(11)?,
        first_seen: r.get(12)?,
        last_seen: r.get(13)?,
        assign_state: r.get(14)?,
        assign_after: r.get(15)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        name: r.get(0)?,
        consumer_key: r.get(1)?,
        sealed: r.get(2)?,
        access_token_expiry: r.get(3)?,
        expires_at: r.get(4)?,
        server_name: r.get(5)?,
        imported_at: r.get(6)?,
    })
}

const TOKEN_COLUMNS: &str =
    "name, consumer_key, sealed, access_token_expiry, expires_at, server_name, imported_at";

/// The assignment outcome as stored: state and retry time.
pub(crate) fn assignment_columns(a: &Assignment) -> (&'static str, Option<i64>) {
    match a {
        Assignment::Assigned => ("assigned", None),
        Assignment::Throttled { after } => ("pending", Some(*after)),
        Assignment::NotAccessible => ("not_accessible", None),
        Assignment::Failed(_) => ("failed", None),
    }
}

fn checkpoint_of(cursor: Option<String>, mode: &str, cursor_at: Option<i64>) -> Checkpoint {
    Checkpoint {
        cursor,
        mode: mode_parse(mode),
        cursor_at: to_u64(cursor_at),
    }
}

impl AdeStore for Storage {
    fn put_token(&self, t: &TokenRecord) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO ade_tokens (name, consumer_key, sealed, access_token_expiry, expires_at,
                 server_name, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6)
             ON CONFLICT (name) DO UPDATE SET consumer_key = excluded.consumer_key,
                 sealed = excluded.sealed, access_token_expiry = excluded.access_token_expiry,
                 expires_at = excluded.expires_at, imported_at = excluded.imported_at,
                 server_name = CASE WHEN ade_tokens.consumer_key = excluded.consumer_key
                     THEN ade_tokens.server_name END",
            params![
                t.name,
                t.consumer_key,
                t.sealed,
                t.access_token_expiry,
                t.expires_at,
                t.imported_at
            ],
        )?;
        tx.execute(
            "INSERT INTO ade_sync (token, mode) VALUES (?1, 'fetch')
             ON CONFLICT (token) DO UPDATE SET session_sealed = NULL",
            params![t.name],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TOKEN_COLUMNS} FROM ade_tokens ORDER BY name"
        ))?;
        let rows = stmt.query_map([], token_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn token(&self, name: &str) -> Result<Option<TokenRecord>, StoreError> {
        let conn = self.lock();
        Ok(conn
            .query_row(
                &format!("SELECT {TOKEN_COLUMNS} FROM ade_tokens WHERE name = ?1"),
                [name],
                token_row,
            )
            .optional()?)
    }

    fn set_server_name(&self, name: &str, server_name: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE ade_tokens SET server_name = ?2 WHERE name = ?1",
            params![name, server_name],
        )?;
        Ok(())
    }

    fn sync_state(&self, name: &str) -> Result<SyncState, StoreError> {
        let conn = self.lock();
        conn.query_row(
            "SELECT cursor, mode, cursor_at, last_fetch_at, last_sync_at, session_sealed,
                    profile_uuid, profile_hash, last_error, last_error_at, rounds
             FROM ade_sync WHERE token = ?1",
            [name],
            |r| {
                Ok(SyncState {
                    checkpoint: checkpoint_of(r.get(0)?, &r.get::<_, String>(1)?, r.get(2)?),
                    last_fetch_at: r.get(3)?,
                    last_sync_at: r.get(4)?,
                    session_sealed: r.get(5)?,
                    profile_uuid: r.get(6)?,
                    profile_hash: r.get(7)?,
                    last_error: r.get(8)?,
                    last_error_at: r.get(9)?,
                    rounds: r.get(10)?,
                })
            },
        )
        .optional()?
        .ok_or_else(|| StoreError::UnknownToken(name.to_owned()))
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
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = tx
            .query_row(
                "SELECT cursor, mode, cursor_at FROM ade_sync WHERE token = ?1",
                [name],
                |r| Ok(checkpoint_of(r.get(0)?, &r.get::<_, String>(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or_else(|| StoreError::UnknownToken(name.to_owned()))?;
        if stored != commit.expected {
            return Err(StoreError::Stale);
        }
        {
            let mut stmt = tx.prepare(UPSERT_DEVICE_SQLITE)?;
            for d in devices {
                let c = DeviceColumns::of(d, assign);
                stmt.execute(params![
                    c.serial,
                    name,
                    c.model,
                    c.description,
                    c.color,
                    c.device_family,
                    c.os,
                    c.profile_status,
                    c.profile_uuid,
                    c.profile_assign_time,
                    c.op_type,
                    c.op_date,
                    now,
                    c.pending,
                ])?;
            }
        }
        let (fetch_at, sync_at) = match mode {
            Mode::Fetch => (Some(now), None),
            Mode::Sync => (None, Some(now)),
        };
        tx.execute(
            "UPDATE ade_sync SET cursor = ?2, mode = ?3, cursor_at = ?4,
                 last_fetch_at = COALESCE(?5, last_fetch_at),
                 last_sync_at = COALESCE(?6, last_sync_at)
             WHERE token = ?1",
            params![
                name,
                commit.next.cursor,
                mode_str(commit.next.mode),
                to_i64(commit.next.cursor_at),
                fetch_at,
                sync_at
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn save_session(&self, name: &str, sealed: Option<&[u8]>) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE ade_sync SET session_sealed = ?2 WHERE token = ?1",
            params![name, sealed],
        )?;
        Ok(())
    }

    fn save_profile(&self, name: &str, uuid: &str, hash: &str) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE ade_sync SET profile_uuid = ?2, profile_hash = ?3 WHERE token = ?1",
            params![name, uuid, hash],
        )?;
        Ok(())
    }

    fn finish_round(&self, name: &str, error: Option<&str>, now: i64) -> Result<(), StoreError> {
        self.lock().execute(
            "UPDATE ade_sync SET rounds = rounds + 1, last_error = ?2,
                 last_error_at = CASE WHEN ?2 IS NULL THEN last_error_at ELSE ?3 END
             WHERE token = ?1",
            params![name, error, now],
        )?;
        Ok(())
    }

    fn pending_assignments(
        &self,
        name: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT serial FROM ade_devices
             WHERE token = ?1 AND assign_state = 'pending'
               AND (assign_after IS NULL OR assign_after <= ?2)
             ORDER BY serial LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![name, now, limit], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_assignments(
        &self,
        profile_uuid: &str,
        outcomes: &[(String, Assignment)],
    ) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (serial, outcome) in outcomes {
            let (state, after) = assignment_columns(outcome);
            let assigned = matches!(outcome, Assignment::Assigned);
            tx.execute(
                "UPDATE ade_devices SET assign_state = ?2, assign_after = ?3,
                     profile_uuid = CASE WHEN ?4 THEN ?5 ELSE profile_uuid END,
                     profile_status = CASE WHEN ?4 THEN 'assigned' ELSE profile_status END
                 WHERE serial = ?1",
                params![serial, state, after, assigned, profile_uuid],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    fn devices(&self, f: &DeviceFilter) -> Result<Vec<DeviceRecord>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM ade_devices
             WHERE (?1 IS NULL OR serial = ?1) AND (?2 IS NULL OR profile_status = ?2)
               AND (?3 IS NULL OR token = ?3)
             ORDER BY serial LIMIT ?4 OFFSET ?5"
        ))?;
        let limit = f.limit.unwrap_or(MAX_PAGE).min(MAX_PAGE);
        let rows = stmt.query_map(
            params![
                f.serial,
                f.profile_status,
                f.token,
                limit,
                f.offset.unwrap_or(0)
            ],
            device_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(serial: &str, json: &str) -> Device {
        let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["serial_number"] = serial.into();
        serde_json::from_value(v).unwrap()
    }

    fn store_with_token() -> Storage {
        let s = Storage::in_memory(crate::storage::MIGRATIONS).unwrap();
        s.put_token(&TokenRecord {
            name: "t".into(),
            consumer_key: "CK".into(),
            sealed: vec![1, 2, 3],
            access_token_expiry: "2030-01-01T00:00:00Z".into(),
            expires_at: Some(1_893_456_000),
            server_name: None,
            imported_at: 1,
        })
        .unwrap();
        s
    }

    fn commit(from: &Checkpoint, cursor: &str) -> Commit {
        Commit {
            expected: from.clone(),
            next: Checkpoint {
                cursor: Some(cursor.into()),
                mode: Mode::Sync,
                cursor_at: Some(100),
            },
        }
    }

    #[test]
    fn a_page_lands_only_on_the_cursor_it_started_from() {
        let s = store_with_token();
        let start = s.sync_state("t").unwrap().checkpoint;
        assert_eq!(start, Checkpoint::default());
        let a = [device("A", r#"{"op_type":"added"}"#)];
        s.apply_page("t", &a, &commit(&start, "c1"), Mode::Fetch, true, 10)
            .unwrap();
        // A second writer that started from the same checkpoint is refused, and writes nothing.
        let b = [device("B", r#"{"op_type":"added"}"#)];
        assert!(matches!(
            s.apply_page("t", &b, &commit(&start, "c9"), Mode::Fetch, true, 11),
            Err(StoreError::Stale)
        ));
        let st = s.sync_state("t").unwrap();
        assert_eq!(st.checkpoint.cursor.as_deref(), Some("c1"));
        assert_eq!(st.last_fetch_at, Some(10));
        let all = s.devices(&DeviceFilter::default()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].assign_state.as_deref(), Some("pending"));
        assert!(matches!(
            s.apply_page("nope", &b, &commit(&start, "c1"), Mode::Fetch, true, 11),
            Err(StoreError::UnknownToken(_))
        ));
    }

    #[test]
    fn assignments_follow_apple_and_throttling() {
        let s = store_with_token();
        let start = s.sync_state("t").unwrap().checkpoint;
        let page = [
            device("A", r#"{"op_type":"added"}"#),
            device("B", r#"{"op_type":"added","profile_status":"empty"}"#),
            device(
                "C",
                r#"{"op_type":"added","profile_uuid":"OTHER","profile_status":"assigned"}"#,
            ),
            device("D", r#"{"op_type":"deleted"}"#),
        ];
        s.apply_page("t", &page, &commit(&start, "c1"), Mode::Fetch, true, 10)
            .unwrap();
        assert_eq!(s.pending_assignments("t", 10, 10).unwrap(), ["A", "B"]);
        s.record_assignments(
            "P",
            &[
                ("A".into(), Assignment::Assigned),
                ("B".into(), Assignment::Throttled { after: 20 }),
            ],
        )
        .unwrap();
        assert!(s.pending_assignments("t", 19, 10).unwrap().is_empty());
        assert_eq!(s.pending_assignments("t", 20, 10).unwrap(), ["B"]);
        let a = &s
            .devices(&DeviceFilter {
                serial: Some("A".into()),
                ..DeviceFilter::default()
            })
            .unwrap()[0];
        assert_eq!(a.profile_uuid.as_deref(), Some("P"));
        assert_eq!(a.profile_status.as_deref(), Some("assigned"));
        // Someone assigned B another profile meanwhile: no longer ours to assign. A deleted
        // device is not known to the gate.
        let now = s.sync_state("t").unwrap().checkpoint;
        let b = [device(
            "B",
            r#"{"op_type":"modified","profile_uuid":"X","profile_status":"assigned"}"#,
        )];
        s.apply_page("t", &b, &commit(&now, "c2"), Mode::Sync, true, 30)
            .unwrap();
        assert!(s.pending_assignments("t", 40, 10).unwrap().is_empty());
        assert!(s.is_known("A").unwrap());
        assert!(!s.is_known("D").unwrap());
        assert!(!s.is_known("Z").unwrap());
        let st = s.sync_state("t").unwrap();
        assert_eq!(st.last_sync_at, Some(30));
        assert_eq!(st.checkpoint.mode, Mode::Sync);
    }
}
