//! Device auth's records on PostgreSQL, for several `admitd` processes sharing one database.
//!
//! The tables are those of the SQLite store ([`super::store`]), created by the shared
//! PostgreSQL migrations (`crate::scep::postgres`, migration 2). The rules are the same and
//! made safe across processes: a snapshot is read in one `REPEATABLE READ` transaction, and
//! every [`DevauthStore::apply`] first takes one transaction-scoped advisory lock for device
//! auth, so the precondition checks (the device's version, a free identity, the exact number
//! of accepted devices) and the writes of two servers never interleave. Unique-constraint
//! violations (one accepted set per device, one device per identity) are reported as stale
//! decisions, like SQLite's.

use std::sync::Arc;

use ::devauth::admission::{Change, Op, Precondition, Snapshot};
use ::devauth::identity::Identity;
use ::devauth::model::{
    AuthSet, AuthSetId, AuthSetStatus, Device, DeviceId, DeviceRecord, Timestamp,
};
use ::devauth::pubkey::DevicePublicKey;
use ::devauth::store::SnapshotKey;
use tokio_postgres::error::SqlState;

use super::store::{DevauthStore, StoreError};
use crate::scep::postgres::PgStore;

/// The advisory lock every device-auth write takes (any constant of ours).
const DEVAUTH_LOCK: i64 = 0x4445_5641_0001;

/// Device auth's store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgDevauth {
    pg: Arc<PgStore>,
}

fn pg_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Postgres(e.to_string())
}

/// A unique-constraint violation is a decision the rows outgrew: decide again.
fn write_err(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
            || e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
        {
            StoreError::Stale(what)
        } else {
            pg_err(e)
        }
    }
}

fn ts(v: i64) -> Timestamp {
    u64::try_from(v).unwrap_or(0)
}

fn sql_ts(t: Timestamp) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

type PgResult<T> = Result<T, StoreError>;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        pg_err(e)
    }
}

impl From<crate::storage::Error> for StoreError {
    fn from(e: crate::storage::Error) -> Self {
        pg_err(e)
    }
}

fn stale(reason: &'static str) -> StoreError {
    StoreError::Stale(reason)
}

async fn load_record(
    c: &impl deadpool_postgres::GenericClient,
    id: &str,
) -> PgResult<Option<DeviceRecord>> {
    let Some(row) = c
        .query_opt(
            "SELECT id, identity, decommissioning, created_ts, updated_ts, version
             FROM devauth_devices WHERE id = $1",
            &[&id],
        )
        .await?
    else {
        return Ok(None);
    };
    let corrupt = |what: String, reason: String| StoreError::Corrupt { what, reason };
    let id: String = row.get(0);
    let identity: String = row.get(1);
    let device_id =
        DeviceId::parse(&id).ok_or_else(|| corrupt(format!("device {id}"), "bad id".into()))?;
    let device = Device {
        id: device_id,
        identity: Identity::parse(&identity)
            .map_err(|e| corrupt(format!("device {id}"), e.to_string()))?,
        decommissioning: row.get(2),
        created_ts: ts(row.get(3)),
        updated_ts: ts(row.get(4)),
    };
    let version: i64 = row.get(5);
    let rows = c
        .query(
            "SELECT id, identity, pubkey, status, ts FROM devauth_auth_sets
             WHERE device_id = $1 ORDER BY seq",
            &[&id],
        )
        .await?;
    let mut auth_sets = Vec::with_capacity(rows.len());
    for r in rows {
        let sid: String = r.get(0);
        let what = || format!("auth set {sid}");
        let identity: String = r.get(1);
        let pubkey: Vec<u8> = r.get(2);
        let status: String = r.get(3);
        auth_sets.push(AuthSet {
            id: AuthSetId::parse(&sid).ok_or_else(|| corrupt(what(), "bad id".into()))?,
            device_id,
            identity: Identity::parse(&identity).map_err(|e| corrupt(what(), e.to_string()))?,
            pubkey: DevicePublicKey::from_der(&pubkey)
                .map_err(|e| corrupt(what(), e.to_string()))?,
            status: AuthSetStatus::parse(&status)
                .ok_or_else(|| corrupt(what(), format!("status {status:?}")))?,
            ts: ts(r.get(4)),
        });
    }
    Ok(Some(DeviceRecord {
        device,
        auth_sets,
        version: u64::try_from(version).unwrap_or(0),
    }))
}

async fn accepted_count(c: &impl deadpool_postgres::GenericClient) -> PgResult<u64> {
    let n: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM devauth_auth_sets WHERE status = 'accepted'",
            &[],
        )
        .await?
        .get(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

async fn check(c: &impl deadpool_postgres::GenericClient, p: &Precondition) -> PgResult<()> {
    match p {
        Precondition::IdentityFree { identity_hash } => {
            let taken = c
                .query_opt(
                    "SELECT 1 FROM devauth_devices WHERE identity_hash = $1",
                    &[&&identity_hash[..]],
                )
                .await?;
            if taken.is_some() {
                return Err(stale("a device with this identity exists"));
            }
        }
        Precondition::DeviceVersion { device, version } => {
            let now: Option<i64> = c
                .query_opt(
                    "SELECT version FROM devauth_devices WHERE id = $1",
                    &[&device.to_string()],
                )
                .await?
                .map(|r| r.get(0));
            if now != Some(i64::try_from(*version).unwrap_or(i64::MAX)) {
                return Err(stale("the device changed"));
            }
        }
        Precondition::AcceptedCount { expected } => {
            if accepted_count(c).await? != *expected {
                return Err(stale("the number of accepted devices changed"));
            }
        }
        _ => return Err(stale("a precondition this store does not know")),
    }
    Ok(())
}

async fn touch(
    c: &impl deadpool_postgres::GenericClient,
    d: DeviceId,
    at: Timestamp,
) -> PgResult<()> {
    c.execute(
        "UPDATE devauth_devices SET updated_ts = GREATEST(updated_ts, $2) WHERE id = $1",
        &[&d.to_string(), &sql_ts(at)],
    )
    .await?;
    Ok(())
}

async fn apply_op(
    c: &impl deadpool_postgres::GenericClient,
    op: &Op,
    touched: &mut Vec<DeviceId>,
) -> PgResult<()> {
    fn touch_id(touched: &mut Vec<DeviceId>, d: DeviceId) {
        if !touched.contains(&d) {
            touched.push(d);
        }
    }
    let w = write_err;
    match op {
        Op::InsertDevice(d) => {
            c.execute(
                "INSERT INTO devauth_devices
                 (id, identity, identity_hash, decommissioning, created_ts, updated_ts, version)
                 VALUES ($1, $2, $3, $4, $5, $6, 0)",
                &[
                    &d.id.to_string(),
                    &d.identity.normalized(),
                    &&d.identity.hash()[..],
                    &d.decommissioning,
                    &sql_ts(d.created_ts),
                    &sql_ts(d.updated_ts),
                ],
            )
            .await
            .map_err(w("device id or identity already in use"))?;
            touch_id(touched, d.id);
        }
        Op::InsertAuthSet(s) => {
            c.execute(
                "INSERT INTO devauth_auth_sets (id, device_id, identity, pubkey, status, ts)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &s.id.to_string(),
                    &s.device_id.to_string(),
                    &s.identity.normalized(),
                    &s.pubkey.der(),
                    &s.status.as_str(),
                    &sql_ts(s.ts),
                ],
            )
            .await
            .map_err(w(
                "auth set already exists, or the device would have two accepted or \
                 preauthorized sets, or the device is gone",
            ))?;
            touch(c, s.device_id, s.ts).await?;
            touch_id(touched, s.device_id);
        }
        Op::SetAuthSetStatus {
            device,
            auth_set,
            status,
            ts,
        } => {
            let n = c
                .execute(
                    "UPDATE devauth_auth_sets SET status = $3, ts = $4
                     WHERE id = $1 AND device_id = $2",
                    &[
                        &auth_set.to_string(),
                        &device.to_string(),
                        &status.as_str(),
                        &sql_ts(*ts),
                    ],
                )
                .await
                .map_err(w(
                    "a device would have two accepted or two preauthorized auth sets",
                ))?;
            if n == 0 {
                return Err(stale("a change names a record that does not exist"));
            }
            touch(c, *device, *ts).await?;
            touch_id(touched, *device);
        }
        Op::DeleteAuthSet {
            device,
            auth_set,
            ts,
        } => {
            let n = c
                .execute(
                    "DELETE FROM devauth_auth_sets WHERE id = $1 AND device_id = $2",
                    &[&auth_set.to_string(), &device.to_string()],
                )
                .await?;
            if n == 0 {
                return Err(stale("a change names a record that does not exist"));
            }
            touch(c, *device, *ts).await?;
            touch_id(touched, *device);
        }
        Op::DeleteDevice { device } => {
            let n = c
                .execute(
                    "DELETE FROM devauth_devices WHERE id = $1",
                    &[&device.to_string()],
                )
                .await
                .map_err(w("the device still has auth sets"))?;
            if n == 0 {
                return Err(stale("a change names a record that does not exist"));
            }
            touched.retain(|d| d != device);
        }
        Op::RevokeTokens { auth_set, at } => {
            c.execute(
                "INSERT INTO devauth_revocations (auth_set, at) VALUES ($1, $2)
                 ON CONFLICT (auth_set) DO UPDATE
                 SET at = GREATEST(devauth_revocations.at, excluded.at)",
                &[&auth_set.to_string(), &sql_ts(*at)],
            )
            .await?;
        }
        _ => return Err(stale("a change this store does not know")),
    }
    Ok(())
}

impl PgDevauth {
    /// Device auth on the database behind `pg` (whose migrations created the tables).
    pub fn new(pg: Arc<PgStore>) -> PgDevauth {
        PgDevauth { pg }
    }
}

impl DevauthStore for PgDevauth {
    fn snapshot(&self, key: SnapshotKey<'_>) -> Result<Snapshot, StoreError> {
        let (by_hash, by_id) = match key {
            SnapshotKey::Identity(identity) => (Some(identity.hash().to_vec()), None),
            SnapshotKey::Device(id) => (None, Some(id.to_string())),
        };
        self.pg.with_any(async |c| {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let id = match (by_hash, by_id) {
                (Some(hash), _) => tx
                    .query_opt(
                        "SELECT id FROM devauth_devices WHERE identity_hash = $1",
                        &[&hash],
                    )
                    .await?
                    .map(|r| r.get::<_, String>(0)),
                (None, id) => id,
            };
            let record = match id {
                Some(id) => load_record(&tx, &id).await?,
                None => None,
            };
            let accepted_devices = accepted_count(&tx).await?;
            tx.commit().await?;
            Ok(Snapshot {
                record,
                accepted_devices,
            })
        })
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.pg.with_any(async |c| {
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DEVAUTH_LOCK])
                .await?;
            for ch in changes {
                for p in &ch.requires {
                    check(&tx, p).await?;
                }
            }
            let mut touched = Vec::new();
            for ch in changes {
                apply_op(&tx, &ch.op, &mut touched).await?;
            }
            for d in &touched {
                tx.execute(
                    "UPDATE devauth_devices SET version = version + 1 WHERE id = $1",
                    &[&d.to_string()],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let id = id.to_string();
        self.pg.with_any(async |c| load_record(&*c, &id).await)
    }

    fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.pg.with_any(async |c| {
            let tx = c
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await?;
            let ids: Vec<String> = tx
                .query(
                    "SELECT id FROM devauth_devices ORDER BY created_ts, id",
                    &[],
                )
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                out.extend(load_record(&tx, &id).await?);
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    fn accepted_devices(&self) -> Result<u64, StoreError> {
        self.pg.with_any(async |c| accepted_count(&*c).await)
    }

    fn revoked_at(&self, auth_set: AuthSetId) -> Result<Option<Timestamp>, StoreError> {
        let id = auth_set.to_string();
        self.pg.with_any(async |c| {
            Ok(c.query_opt(
                "SELECT at FROM devauth_revocations WHERE auth_set = $1",
                &[&id],
            )
            .await?
            .map(|r| ts(r.get(0))))
        })
    }
}
