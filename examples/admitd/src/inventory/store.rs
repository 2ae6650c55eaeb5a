//! The inventory's records, on either backend through [`crate::records::Db`].
//!
//! ```text
//! inventory_devices (instance_id TEXT PRIMARY KEY, kind, owner, collection, source, approval,
//!                    assurance, attested_at BIGINT, created_at BIGINT, updated_at BIGINT,
//!                    version BIGINT)
//! inventory_mda_requests (command_uuid TEXT PRIMARY KEY, channel_id, instance_id, nonce (hex),
//!                    issued_at BIGINT)   -- Apple attestation requests, one use each
//! inventory_tpm_challenges (id TEXT PRIMARY KEY, instance_id, ak_public (TPM2B_PUBLIC, base64),
//!                    secret_sha256 (hex), nonce (hex), expires_at BIGINT)   -- one use each
//! ```
//!
//! Every change is a compare-and-set on `version` (or an insert that the primary key makes
//! unique), so two servers on one database never lose each other's writes: a stale write is
//! refused and the caller decides again from a fresh read.

use inventory::{Approval, Assurance, Collection, Device, InstanceId, Owner, Source};

use crate::records::{Db, DbError, Row, Stmt, Val};

/// The tables of the inventory and the SCIM directory, one text for SQLite and PostgreSQL
/// (`TEXT` and `BIGINT` columns only; booleans are `0`/`1`).
pub const SCHEMA: &str = "
CREATE TABLE inventory_devices (
    instance_id TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    owner       TEXT,
    collection  TEXT NOT NULL,
    source      TEXT NOT NULL,
    approval    TEXT NOT NULL,
    assurance   TEXT NOT NULL,
    attested_at BIGINT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL
);
CREATE INDEX inventory_devices_owner ON inventory_devices(owner);
CREATE INDEX inventory_devices_updated ON inventory_devices(updated_at);
CREATE TABLE inventory_mda_requests (
    command_uuid TEXT PRIMARY KEY,
    channel_id   TEXT NOT NULL,
    instance_id  TEXT NOT NULL,
    nonce        TEXT NOT NULL,
    issued_at    BIGINT NOT NULL
);
CREATE TABLE inventory_tpm_challenges (
    id            TEXT PRIMARY KEY,
    instance_id   TEXT NOT NULL,
    ak_public     TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE TABLE scim_users (
    id           TEXT PRIMARY KEY,
    user_name    TEXT NOT NULL,
    user_name_lc TEXT NOT NULL,
    email_lc     TEXT,
    external_id  TEXT,
    active       BIGINT NOT NULL,
    deleted      BIGINT NOT NULL,
    uid          BIGINT NOT NULL,
    gid          BIGINT NOT NULL,
    resource     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    seq          BIGINT NOT NULL UNIQUE
);
CREATE UNIQUE INDEX scim_users_name ON scim_users(user_name_lc) WHERE deleted = 0;
CREATE UNIQUE INDEX scim_users_uid ON scim_users(uid) WHERE deleted = 0;
CREATE INDEX scim_users_email ON scim_users(email_lc);
CREATE TABLE scim_groups (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    gid          BIGINT NOT NULL,
    resource     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    version      BIGINT NOT NULL,
    seq          BIGINT NOT NULL UNIQUE
);
CREATE UNIQUE INDEX scim_groups_name ON scim_groups(display_name);
CREATE UNIQUE INDEX scim_groups_gid ON scim_groups(gid);
CREATE TABLE scim_group_members (
    group_id  TEXT NOT NULL,
    member_id TEXT NOT NULL,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX scim_group_members_member ON scim_group_members(member_id);
";

/// A device as stored, with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The device.
    pub device: Device,
    /// When the record was created (Unix seconds).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
    /// When an attestation last raised it to high assurance.
    pub attested_at: Option<i64>,
    /// The compare-and-set version.
    pub version: i64,
}

const COLUMNS: &str = "instance_id, owner, collection, source, approval, assurance, \
                       attested_at, created_at, updated_at, version";

fn corrupt(what: &str) -> DbError {
    DbError::Backend(format!("stored inventory row does not decode: {what}"))
}

fn decode(row: &Row) -> Result<Record, DbError> {
    let text = |i: usize| row.get(i).and_then(Val::text).unwrap_or_default();
    let id = InstanceId::parse(text(0)).map_err(|e| corrupt(&e.to_string()))?;
    let owner = match row.get(1).and_then(Val::text) {
        Some(o) => Some(Owner::parse(o).map_err(|e| corrupt(&e.to_string()))?),
        None => None,
    };
    let device = Device {
        instance_id: id,
        owner,
        collection: Collection::parse(text(2)).map_err(|e| corrupt(&e.to_string()))?,
        source: Source::parse(text(3)).map_err(|e| corrupt(&e.to_string()))?,
        approval: Approval::parse(text(4)).map_err(|e| corrupt(&e.to_string()))?,
        assurance: Assurance::parse(text(5)).map_err(|e| corrupt(&e.to_string()))?,
    };
    let int = |i: usize| row.get(i).and_then(Val::int);
    Ok(Record {
        device,
        attested_at: int(6),
        created_at: int(7).unwrap_or(0),
        updated_at: int(8).unwrap_or(0),
        version: int(9).unwrap_or(0),
    })
}

/// The record of `id`.
pub fn device(db: &Db, id: &InstanceId) -> Result<Option<Record>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM inventory_devices WHERE instance_id = $1");
    db.query_opt(&sql, &[id.as_str().into()])?
        .as_ref()
        .map(decode)
        .transpose()
}

/// The devices changed most recently, newest first (ties by instance ID).
pub fn recent(db: &Db, limit: i64) -> Result<Vec<Record>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM inventory_devices ORDER BY updated_at DESC, instance_id LIMIT $1"
    );
    db.query(&sql, &[limit.into()])?
        .iter()
        .map(decode)
        .collect()
}

/// The devices owned by `owner` (lower-case email).
pub fn owned_by(db: &Db, owner: &str) -> Result<Vec<Record>, DbError> {
    let sql =
        format!("SELECT {COLUMNS} FROM inventory_devices WHERE owner = $1 ORDER BY instance_id");
    db.query(&sql, &[owner.into()])?
        .iter()
        .map(decode)
        .collect()
}

/// Counts per value of `column` (`approval`, `source` or `assurance`).
pub fn counts(db: &Db, column: Column) -> Result<Vec<(String, i64)>, DbError> {
    let sql = match column {
        Column::Approval => {
            "SELECT approval, COUNT(*) FROM inventory_devices GROUP BY approval ORDER BY approval"
        }
        Column::Source => {
            "SELECT source, COUNT(*) FROM inventory_devices GROUP BY source ORDER BY source"
        }
        Column::Assurance => {
            "SELECT assurance, COUNT(*) FROM inventory_devices GROUP BY assurance ORDER BY assurance"
        }
    };
    Ok(db
        .query(sql, &[])?
        .into_iter()
        .map(|r| {
            (
                r.first().and_then(Val::text).unwrap_or_default().to_owned(),
                r.get(1).and_then(Val::int).unwrap_or(0),
            )
        })
        .collect())
}

/// A column the dashboard counts by.
#[derive(Debug, Clone, Copy)]
pub enum Column {
    /// Approval state.
    Approval,
    /// Source.
    Source,
    /// Assurance level.
    Assurance,
}

/// The statement that inserts `d` (a duplicate instance ID fails the write as
/// [`DbError::Unique`]).
pub fn insert(d: &Device, now: i64) -> Stmt {
    Stmt::new(
        "INSERT INTO inventory_devices (instance_id, kind, owner, collection, source, approval,
             assurance, attested_at, created_at, updated_at, version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1)",
        vec![
            d.instance_id.as_str().into(),
            d.instance_id.kind().into(),
            Val::opt_text(d.owner.as_ref().map(Owner::as_str)),
            d.collection.as_str().into(),
            d.source.as_str().into(),
            d.approval.as_str().into(),
            d.assurance.as_str().into(),
            Val::opt_int((d.assurance == Assurance::High).then_some(now)),
            now.into(),
            now.into(),
        ],
    )
}

/// The statement that replaces the record read at `old` with `d`, if it is still at that
/// version.
pub fn update(old: &Record, d: &Device, now: i64) -> Stmt {
    let attested_at = if d.assurance == Assurance::High && old.device.assurance != Assurance::High {
        Some(now)
    } else {
        old.attested_at
    };
    Stmt::cas(
        "UPDATE inventory_devices SET owner = $1, collection = $2, source = $3, approval = $4,
             assurance = $5, attested_at = $6, updated_at = $7, version = version + 1
         WHERE instance_id = $8 AND version = $9",
        vec![
            Val::opt_text(d.owner.as_ref().map(Owner::as_str)),
            d.collection.as_str().into(),
            d.source.as_str().into(),
            d.approval.as_str().into(),
            d.assurance.as_str().into(),
            Val::opt_int(attested_at),
            now.into(),
            old.device.instance_id.as_str().into(),
            old.version.into(),
        ],
    )
}
