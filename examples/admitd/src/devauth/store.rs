//! Device-auth records in SQLite: devices, auth sets and token revocations, with decisions from
//! [`devauth::admission`] applied under their preconditions.
//!
//! ```text
//! devauth_devices     (id, identity, identity_hash UNIQUE, decommissioning, created_ts,
//!                      updated_ts, version)
//! devauth_auth_sets   (seq, id UNIQUE, device_id → devauth_devices, identity, pubkey DER,
//!                      status, ts)   UNIQUE (device_id, pubkey);
//!                      at most one 'accepted' and one 'preauthorized' row per device
//! devauth_revocations (auth_set, at)
//! ```
//!
//! [`SqliteStore::apply`] opens an immediate (write-locking) transaction, checks every
//! precondition of the decision against the rows as they are now (the device's `version`, that
//! no device has the identity yet, the exact number of accepted devices), and applies every
//! change or none. A decision computed from a snapshot that another writer has since changed is
//! refused with [`StoreError::Stale`], and `Store::run` (through [`Records`]) decides again from a fresh
//! snapshot. The check is in the data, not in a lock held between snapshot and write: two
//! connections (or two processes) on the same database file get the same guarantee.

use ::devauth::admission::{Change, Op, Precondition, Snapshot};
use ::devauth::identity::Identity;
use ::devauth::model::{
    AuthSet, AuthSetId, AuthSetStatus, Device, DeviceId, DeviceRecord, Timestamp,
};
use ::devauth::pubkey::DevicePublicKey;
use ::devauth::store::SnapshotKey;
use ::devauth::token::{Revocations, Standing};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::storage::Storage;

/// The schema, applied as one migration of the SQLite database (`crate::storage`).
pub const SCHEMA: &str = "
CREATE TABLE devauth_devices (
    id              TEXT PRIMARY KEY,
    identity        TEXT NOT NULL,
    identity_hash   BLOB NOT NULL UNIQUE,
    decommissioning INTEGER NOT NULL,
    created_ts      INTEGER NOT NULL,
    updated_ts      INTEGER NOT NULL,
    version         INTEGER NOT NULL
);
CREATE TABLE devauth_auth_sets (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    device_id  TEXT NOT NULL REFERENCES devauth_devices(id),
    identity   TEXT NOT NULL,
    pubkey     BLOB NOT NULL,
    status     TEXT NOT NULL
               CHECK (status IN ('pending', 'accepted', 'rejected', 'preauthorized')),
    ts         INTEGER NOT NULL,
    UNIQUE (device_id, pubkey)
);
CREATE UNIQUE INDEX devauth_one_accepted ON devauth_auth_sets(device_id)
    WHERE status = 'accepted';
CREATE UNIQUE INDEX devauth_one_preauthorized ON devauth_auth_sets(device_id)
    WHERE status = 'preauthorized';
CREATE TABLE devauth_revocations (
    auth_set TEXT PRIMARY KEY,
    at       INTEGER NOT NULL
);
";

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A precondition of the decision no longer holds: decide again from a fresh snapshot.
    #[error("records changed since the snapshot: {0}")]
    Stale(&'static str),
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL (or the pool in front of it) failed.
    #[error("database: {0}")]
    Postgres(String),
    /// A stored row does not decode (the database was edited by hand or is damaged).
    #[error("stored device-auth row {what} does not decode: {reason}")]
    Corrupt {
        /// Which row.
        what: String,
        /// What is wrong.
        reason: String,
    },
}

/// Device auth's records, whatever holds them: SQLite ([`Storage`], through [`SqliteStore`])
/// or PostgreSQL ([`super::postgres::PgDevauth`]). Both keep the same rules, checked by one
/// behavioural suite (`tests/devauth_store.rs`).
pub trait DevauthStore: Send + Sync + std::fmt::Debug {
    /// The records a decision about `key` reads, read consistently.
    fn snapshot(&self, key: SnapshotKey<'_>) -> Result<Snapshot, StoreError>;
    /// Apply `changes` in one transaction if every precondition holds: all of them or none; a
    /// failed precondition is [`StoreError::Stale`].
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError>;
    /// One device with its auth sets.
    fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError>;
    /// Every device, oldest first (ties by id).
    fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError>;
    /// How many devices are accepted.
    fn accepted_devices(&self) -> Result<u64, StoreError>;
    /// When the tokens of `auth_set` were last revoked.
    fn revoked_at(&self, auth_set: AuthSetId) -> Result<Option<Timestamp>, StoreError>;
    /// The device with this identity.
    fn device_by_identity(&self, identity: &Identity) -> Result<Option<DeviceRecord>, StoreError> {
        Ok(self.snapshot(SnapshotKey::Identity(identity))?.record)
    }
}

/// A [`DevauthStore`] as the `devauth` crate sees a store: [`::devauth::store::Store`] (the
/// decide/apply/retry loop) and [`Revocations`] (a token's standing).
#[derive(Debug, Clone, Copy)]
pub struct Records<'a>(pub &'a dyn DevauthStore);

impl<'a> std::ops::Deref for Records<'a> {
    type Target = dyn DevauthStore + 'a;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl ::devauth::store::Store for Records<'_> {
    type Error = StoreError;

    fn snapshot(&self, key: SnapshotKey<'_>) -> Result<Snapshot, StoreError> {
        self.0.snapshot(key)
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.0.apply(changes)
    }

    fn is_stale(error: &StoreError) -> bool {
        matches!(error, StoreError::Stale(_))
    }
}

impl Revocations for Records<'_> {
    /// Judged as every store judges ([`::devauth::store::standing`]) from the device's row and
    /// the set's revocation time; a database that cannot be read is an error (500), not a
    /// refused token.
    fn standing(&self, jti: &str, sub: &str, iat: Timestamp) -> ::devauth::Result<Standing> {
        let (Some(auth_set), Some(device)) = (AuthSetId::parse(jti), DeviceId::parse(sub)) else {
            return Ok(Standing::NotAccepted);
        };
        let read = || -> Result<_, StoreError> {
            Ok((self.0.device(device)?, self.0.revoked_at(auth_set)?))
        };
        let (record, revoked_at) = read().map_err(|e| ::devauth::Error::Store(e.to_string()))?;
        Ok(::devauth::store::standing(
            record.as_ref(),
            auth_set,
            revoked_at,
            iat,
        ))
    }
}

impl DevauthStore for Storage {
    fn snapshot(&self, key: SnapshotKey<'_>) -> Result<Snapshot, StoreError> {
        SqliteStore::new(self).snapshot(key)
    }
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        SqliteStore::new(self).apply(changes)
    }
    fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        SqliteStore::new(self).device(id)
    }
    fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        SqliteStore::new(self).devices()
    }
    fn accepted_devices(&self) -> Result<u64, StoreError> {
        SqliteStore::new(self).accepted_devices()
    }
    fn revoked_at(&self, auth_set: AuthSetId) -> Result<Option<Timestamp>, StoreError> {
        SqliteStore::new(self).revoked_at(auth_set)
    }
}

/// The device-auth store over the server's database connection.
#[derive(Debug, Clone, Copy)]
pub struct SqliteStore<'s> {
    storage: &'s Storage,
}

fn ts(v: i64) -> Timestamp {
    u64::try_from(v).unwrap_or(0)
}

fn sql_ts(t: Timestamp) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn sql_u64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn is_constraint(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

/// Map a constraint violation (unique identity, one accepted set, duplicate key, ...) to a
/// stale decision: the rows changed in a way the snapshot did not show.
fn write_err(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| {
        if is_constraint(&e) {
            StoreError::Stale(what)
        } else {
            StoreError::Sqlite(e)
        }
    }
}

fn load_record(conn: &rusqlite::Connection, id: &str) -> Result<Option<DeviceRecord>, StoreError> {
    let row = conn
        .query_row(
            "SELECT id, identity, decommissioning, created_ts, updated_ts, version
             FROM devauth_devices WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            },
        )
        .optional()?;
    let Some((id, identity, decommissioning, created, updated, version)) = row else {
        return Ok(None);
    };
    let corrupt = |reason: String| StoreError::Corrupt {
        what: format!("device {id}"),
        reason,
    };
    let device_id = DeviceId::parse(&id).ok_or_else(|| corrupt("bad id".into()))?;
    let device = Device {
        id: device_id,
        identity: Identity::parse(&identity).map_err(|e| corrupt(e.to_string()))?,
        decommissioning,
        created_ts: ts(created),
        updated_ts: ts(updated),
    };
    let mut stmt = conn.prepare_cached(
        "SELECT id, identity, pubkey, status, ts FROM devauth_auth_sets
         WHERE device_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt.query_map([&id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Vec<u8>>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut auth_sets = Vec::new();
    for row in rows {
        let (sid, identity, pubkey, status, t) = row?;
        let corrupt = |reason: String| StoreError::Corrupt {
            what: format!("auth set {sid}"),
            reason,
        };
        auth_sets.push(AuthSet {
            id: AuthSetId::parse(&sid).ok_or_else(|| corrupt("bad id".into()))?,
            device_id,
            identity: Identity::parse(&identity).map_err(|e| corrupt(e.to_string()))?,
            pubkey: DevicePublicKey::from_der(&pubkey).map_err(|e| corrupt(e.to_string()))?,
            status: AuthSetStatus::parse(&status)
                .ok_or_else(|| corrupt(format!("status {status:?}")))?,
            ts: ts(t),
        });
    }
    Ok(Some(DeviceRecord {
        device,
        auth_sets,
        version: u64::try_from(version).unwrap_or(0),
    }))
}

fn accepted_count(conn: &rusqlite::Connection) -> Result<u64, StoreError> {
    // The partial unique index keeps at most one accepted set per device, so counting sets
    // counts devices.
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM devauth_auth_sets WHERE status = 'accepted'",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn touch(conn: &rusqlite::Connection, device: DeviceId, at: Timestamp) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE devauth_devices SET updated_ts = MAX(updated_ts, ?2) WHERE id = ?1",
        params![device.to_string(), sql_ts(at)],
    )?;
    Ok(())
}

impl<'s> SqliteStore<'s> {
    /// The store over `storage` (whose migrations created the tables).
    pub fn new(storage: &'s Storage) -> Self {
        Self { storage }
    }

    /// The records a decision about `key` reads, read in one transaction.
    pub fn snapshot(&self, key: SnapshotKey<'_>) -> Result<Snapshot, StoreError> {
        let mut conn = self.storage.lock();
        let tx = conn.transaction()?;
        let id: Option<String> = match key {
            SnapshotKey::Identity(identity) => tx
                .query_row(
                    "SELECT id FROM devauth_devices WHERE identity_hash = ?1",
                    [&identity.hash()[..]],
                    |r| r.get(0),
                )
                .optional()?,
            SnapshotKey::Device(id) => Some(id.to_string()),
        };
        let record = match id {
            Some(id) => load_record(&tx, &id)?,
            None => None,
        };
        let accepted_devices = accepted_count(&tx)?;
        tx.commit()?;
        Ok(Snapshot {
            record,
            accepted_devices,
        })
    }

    /// One device with its auth sets.
    pub fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        load_record(&self.storage.lock(), &id.to_string())
    }

    /// The device with this identity.
    pub fn device_by_identity(
        &self,
        identity: &Identity,
    ) -> Result<Option<DeviceRecord>, StoreError> {
        Ok(self.snapshot(SnapshotKey::Identity(identity))?.record)
    }

    /// Every device, oldest first (ties by id), read in one transaction.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut conn = self.storage.lock();
        let tx = conn.transaction()?;
        let ids: Vec<String> = {
            let mut stmt = tx.prepare("SELECT id FROM devauth_devices ORDER BY created_ts, id")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.extend(load_record(&tx, &id)?);
        }
        tx.commit()?;
        Ok(out)
    }

    /// How many devices are accepted.
    pub fn accepted_devices(&self) -> Result<u64, StoreError> {
        accepted_count(&self.storage.lock())
    }

    /// Apply `changes` in one transaction if every precondition holds: all of them or none.
    pub fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut conn = self.storage.lock();
        // IMMEDIATE takes the write lock at BEGIN, so the checks below and the writes see the
        // same rows even when other connections write to the same file.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for c in changes {
            for p in &c.requires {
                check(&tx, p)?;
            }
        }
        let mut touched: Vec<DeviceId> = Vec::new();
        for c in changes {
            apply_op(&tx, &c.op, &mut touched)?;
        }
        for d in &touched {
            tx.execute(
                "UPDATE devauth_devices SET version = version + 1 WHERE id = ?1",
                [d.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// When the tokens of `auth_set` were last revoked.
    pub fn revoked_at(&self, auth_set: AuthSetId) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> = self
            .storage
            .lock()
            .query_row(
                "SELECT at FROM devauth_revocations WHERE auth_set = ?1",
                [auth_set.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(at.map(ts))
    }
}

fn check(conn: &rusqlite::Connection, p: &Precondition) -> Result<(), StoreError> {
    match p {
        Precondition::IdentityFree { identity_hash } => {
            let taken: Option<i64> = conn
                .query_row(
                    "SELECT 1 FROM devauth_devices WHERE identity_hash = ?1",
                    [&identity_hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                return Err(StoreError::Stale("a device with this identity exists"));
            }
        }
        Precondition::DeviceVersion { device, version } => {
            let now: Option<i64> = conn
                .query_row(
                    "SELECT version FROM devauth_devices WHERE id = ?1",
                    [device.to_string()],
                    |r| r.get(0),
                )
                .optional()?;
            if now != Some(sql_u64(*version)) {
                return Err(StoreError::Stale("the device changed"));
            }
        }
        Precondition::AcceptedCount { expected } => {
            if accepted_count(conn)? != *expected {
                return Err(StoreError::Stale("the number of accepted devices changed"));
            }
        }
        _ => return Err(StoreError::Stale("a precondition this store does not know")),
    }
    Ok(())
}

fn apply_op(
    conn: &rusqlite::Connection,
    op: &Op,
    touched: &mut Vec<DeviceId>,
) -> Result<(), StoreError> {
    fn touch_id(touched: &mut Vec<DeviceId>, d: DeviceId) {
        if !touched.contains(&d) {
            touched.push(d);
        }
    }
    let missing = StoreError::Stale("a change names a record that does not exist");
    match op {
        Op::InsertDevice(d) => {
            conn.execute(
                "INSERT INTO devauth_devices
                 (id, identity, identity_hash, decommissioning, created_ts, updated_ts, version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
                params![
                    d.id.to_string(),
                    d.identity.normalized(),
                    &d.identity.hash()[..],
                    d.decommissioning,
                    sql_ts(d.created_ts),
                    sql_ts(d.updated_ts)
                ],
            )
            .map_err(write_err("device id or identity already in use"))?;
            touch_id(touched, d.id);
        }
        Op::InsertAuthSet(s) => {
            conn.execute(
                "INSERT INTO devauth_auth_sets (id, device_id, identity, pubkey, status, ts)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.id.to_string(),
                    s.device_id.to_string(),
                    s.identity.normalized(),
                    s.pubkey.der(),
                    s.status.as_str(),
                    sql_ts(s.ts)
                ],
            )
            .map_err(write_err(
                "auth set already exists, or the device would have two accepted or \
                 preauthorized sets, or the device is gone",
            ))?;
            touch(conn, s.device_id, s.ts)?;
            touch_id(touched, s.device_id);
        }
        Op::SetAuthSetStatus {
            device,
            auth_set,
            status,
            ts,
        } => {
            let n = conn
                .execute(
                    "UPDATE devauth_auth_sets SET status = ?3, ts = ?4
                     WHERE id = ?1 AND device_id = ?2",
                    params![
                        auth_set.to_string(),
                        device.to_string(),
                        status.as_str(),
                        sql_ts(*ts)
                    ],
                )
                .map_err(write_err(
                    "a device would have two accepted or two preauthorized auth sets",
                ))?;
            if n == 0 {
                return Err(missing);
            }
            touch(conn, *device, *ts)?;
            touch_id(touched, *device);
        }
        Op::DeleteAuthSet {
            device,
            auth_set,
            ts,
        } => {
            let n = conn.execute(
                "DELETE FROM devauth_auth_sets WHERE id = ?1 AND device_id = ?2",
                params![auth_set.to_string(), device.to_string()],
            )?;
            if n == 0 {
                return Err(missing);
            }
            touch(conn, *device, *ts)?;
            touch_id(touched, *device);
        }
        Op::DeleteDevice { device } => {
            let n = conn
                .execute(
                    "DELETE FROM devauth_devices WHERE id = ?1",
                    [device.to_string()],
                )
                .map_err(write_err("the device still has auth sets"))?;
            if n == 0 {
                return Err(missing);
            }
            touched.retain(|d| d != device);
        }
        Op::RevokeTokens { auth_set, at } => {
            conn.execute(
                "INSERT INTO devauth_revocations (auth_set, at) VALUES (?1, ?2)
                 ON CONFLICT (auth_set) DO UPDATE SET at = MAX(at, excluded.at)",
                params![auth_set.to_string(), sql_ts(*at)],
            )?;
        }
        _ => return Err(StoreError::Stale("a change this store does not know")),
    }
    Ok(())
}
