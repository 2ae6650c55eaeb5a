//! SCEP's tables on PostgreSQL, for several `admitd` processes sharing one database.
//!
//! ```text
//! scep_schema_migrations (version INTEGER PRIMARY KEY)
//! issued_certificates    (serial TEXT PRIMARY KEY, subject, not_after, purpose, der BYTEA,
//!                         issued_at TIMESTAMPTZ, revoked_at BIGINT)      -- SCEP-issued only
//! scep_challenges        (challenge_sha256 BYTEA PRIMARY KEY, expires_at BIGINT)
//! scep_transactions      (transaction_id TEXT PRIMARY KEY, key_sha256 BYTEA, message_type,
//!                         status, serial, signer_cert_sha256 BYTEA, first_seen, last_seen)
//! scep_pending           (transaction_id TEXT PRIMARY KEY, key_sha256 BYTEA, request BYTEA,
//!                         subject, status, reason, created_at BIGINT)
//! devauth_*              device auth's tables (migration 2; see `devauth::postgres`)
//! ade_*                  ADE tokens, sync state and devices (migration 4; see `ade::postgres`)
//! ddm_*                  DDM's tables (migration 5; see `ddm::postgres`)
//! mdm_push_results       APNs push results (migration 6; see `mdm::push::store`)
//! webhook_outbox         undelivered webhook events (migration 7; see `mdm::webhook::store`)
//! ```
//!
//! The migrations (`scep_schema_migrations`, named for the first domain that had tables here)
//! cover every domain on this database, so one pool type serves them all.
//!
//! The same rules as the SQLite store ([`super::store`]), made safe across processes: each
//! step that decides runs in one transaction that first takes a transaction-scoped advisory
//! lock on the SCEP transactionID, so two servers handling the same transaction serialize;
//! a one-time challenge is consumed by a `DELETE` whose row count says who won; the renewed
//! certificate is read `FOR SHARE`, so a concurrent revocation waits for the commit or wins
//! before it. Migrations run under an advisory lock too, so instances starting together do not
//! race.
//!
//! The driver is async (`tokio-postgres` with a `deadpool` pool). The store is called from
//! request handlers on the blocking pool and from admin commands, so it blocks on the runtime
//! handle it was opened with.

use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use scep::TransactionId;
use scep::issuance::{Conditions, IssuedRecord};
use tokio_postgres::NoTls;

use super::store::{Commit, Hold, Pending, ScepStore, Transaction, challenge_hash, unix};
use crate::storage::{Error, IssuedCertificate};

/// Versioned migrations, applied in order, each once.
const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        "CREATE TABLE issued_certificates (
         serial     TEXT PRIMARY KEY,
         subject    TEXT NOT NULL,
         not_after  TEXT NOT NULL,
         purpose    TEXT NOT NULL,
         der        BYTEA NOT NULL,
         issued_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
         revoked_at BIGINT
     );
     CREATE TABLE scep_challenges (
         challenge_sha256 BYTEA PRIMARY KEY,
         expires_at       BIGINT NOT NULL
     );
     CREATE TABLE scep_transactions (
         transaction_id     TEXT PRIMARY KEY,
         key_sha256         BYTEA NOT NULL,
         message_type       TEXT NOT NULL,
         status             TEXT NOT NULL,
         serial             TEXT,
         signer_cert_sha256 BYTEA,
         first_seen         TIMESTAMPTZ NOT NULL DEFAULT now(),
         last_seen          TIMESTAMPTZ NOT NULL DEFAULT now()
     );
     CREATE TABLE scep_pending (
         transaction_id TEXT PRIMARY KEY,
         key_sha256     BYTEA NOT NULL,
         request        BYTEA NOT NULL,
         subject        TEXT NOT NULL,
         status         TEXT NOT NULL,
         reason         TEXT,
         created_at     BIGINT NOT NULL
     );",
    ),
    (
        2,
        // Device auth (`crate::devauth::postgres`), the same shape as its SQLite schema.
        "CREATE TABLE devauth_devices (
         id              TEXT PRIMARY KEY,
         identity        TEXT NOT NULL,
         identity_hash   BYTEA NOT NULL UNIQUE,
         decommissioning BOOLEAN NOT NULL,
         created_ts      BIGINT NOT NULL,
         updated_ts      BIGINT NOT NULL,
         version         BIGINT NOT NULL
     );
     CREATE TABLE devauth_auth_sets (
         seq        BIGSERIAL PRIMARY KEY,
         id         TEXT NOT NULL UNIQUE,
         device_id  TEXT NOT NULL REFERENCES devauth_devices(id),
         identity   TEXT NOT NULL,
         pubkey     BYTEA NOT NULL,
         status     TEXT NOT NULL
                    CHECK (status IN ('pending', 'accepted', 'rejected', 'preauthorized')),
         ts         BIGINT NOT NULL,
         UNIQUE (device_id, pubkey)
     );
     CREATE UNIQUE INDEX devauth_one_accepted ON devauth_auth_sets(device_id)
         WHERE status = 'accepted';
     CREATE UNIQUE INDEX devauth_one_preauthorized ON devauth_auth_sets(device_id)
         WHERE status = 'preauthorized';
     CREATE TABLE devauth_revocations (
         auth_set TEXT PRIMARY KEY,
         at       BIGINT NOT NULL
     );",
    ),
    (3, crate::mdm::postgres::SCHEMA),
    // ADE tokens, sync state and devices (`crate::ade::postgres`).
    (4, crate::ade::postgres::SCHEMA),
    // Declarative Device Management (`crate::ddm::postgres`).
    (5, crate::ddm::postgres::SCHEMA),
    // The device inventory and the SCIM directory (`crate::inventory::store`), one text for
    // both backends.
    (6, crate::inventory::store::SCHEMA),
    (7, crate::mdm::push::store::PG_SCHEMA),
    (8, crate::mdm::webhook::store::PG_SCHEMA),
];

/// The advisory lock key migrations take (any constant of ours).
const MIGRATION_LOCK: i64 = 0x5343_4550_0001;

/// SCEP's store on PostgreSQL.
pub struct PgStore {
    pool: Pool,
    handle: tokio::runtime::Handle,
    /// A runtime of its own when opened outside one (admin commands).
    _runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

fn conn_err(e: impl std::fmt::Display) -> Error {
    Error::Connection(e.to_string())
}

impl PgStore {
    /// Connect to `url` (`postgres://user@host:port/db`), with a pool of at most `max`
    /// connections, and apply the migrations. Inside a tokio runtime it uses that runtime;
    /// outside one it starts a small runtime of its own.
    pub fn open(url: &str, max: usize) -> Result<PgStore, Error> {
        let config: tokio_postgres::Config = url.parse().map_err(conn_err)?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let (handle, runtime) = match tokio::runtime::Handle::try_current() {
            Ok(h) => (h, None),
            Err(_) => {
                // One worker thread: it drives the connections' IO while callers block on
                // the handle (a current-thread runtime's handle cannot drive IO).
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .map_err(conn_err)?;
                (rt.handle().clone(), Some(rt))
            }
        };
        let pool = {
            let _guard = handle.enter();
            Pool::builder(manager)
                .max_size(max)
                .wait_timeout(Some(Duration::from_secs(10)))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(conn_err)?
        };
        let store = PgStore {
            pool,
            handle,
            _runtime: runtime,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Run `f` with a pooled connection, blocking this (non-async) thread until it is done.
    pub(crate) fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.with_any(f)
    }

    /// [`PgStore::with`] for a closure with an error type of its own (another domain's store
    /// error), into which a pool failure converts.
    pub(crate) fn with_any<T, E: From<Error>>(
        &self,
        f: impl AsyncFnOnce(&mut deadpool_postgres::Client) -> Result<T, E>,
    ) -> Result<T, E> {
        let pool = self.pool.clone();
        let run = async move {
            let mut client = pool.get().await.map_err(|e| E::from(conn_err(e)))?;
            f(&mut client).await
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            // Inside the server's runtime: on a blocking-pool thread this just blocks; on a
            // worker (opening the store at start) it hands the worker's tasks off first.
            tokio::task::block_in_place(|| self.handle.block_on(run))
        } else {
            self.handle.block_on(run)
        }
    }

    fn migrate(&self) -> Result<(), Error> {
        self.with(async |c| {
            let tx = c.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS scep_schema_migrations (version INTEGER PRIMARY KEY)",
            )
            .await?;
            let row = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM scep_schema_migrations",
                    &[],
                )
                .await?;
            let current: i32 = row.get(0);
            let known = MIGRATIONS.last().map_or(0, |m| m.0);
            if current > known {
                return Err(Error::TooNew {
                    found: u32::try_from(current).unwrap_or(0),
                    known: u32::try_from(known).unwrap_or(0),
                });
            }
            for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO scep_schema_migrations (version) VALUES ($1)",
                    &[version],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

fn key32(v: Vec<u8>) -> Option<[u8; 32]> {
    v.try_into().ok()
}

fn pending_from(r: &tokio_postgres::Row) -> Option<Pending> {
    Some(Pending {
        transaction_id: r.get(0),
        key_sha256: key32(r.get(1))?,
        request: r.get(2),
        subject: r.get(3),
        status: r.get(4),
        reason: r.get(5),
        created_at: r.get(6),
    })
}

const PENDING_COLUMNS: &str =
    "transaction_id, key_sha256, request, subject, status, reason, created_at";

impl ScepStore for PgStore {
    fn add_challenge(
        &self,
        now: SystemTime,
        ttl: Duration,
        rng: &mut dyn rand_core::CryptoRng,
    ) -> Result<String, Error> {
        let mut raw = [0u8; 16];
        rng.fill_bytes(&mut raw);
        let challenge = hex::encode(raw);
        let hash = challenge_hash(&challenge);
        let expires = unix(now + ttl);
        self.with(async |c| {
            c.execute(
                "INSERT INTO scep_challenges (challenge_sha256, expires_at) VALUES ($1, $2)",
                &[&hash, &expires],
            )
            .await?;
            Ok(())
        })?;
        Ok(challenge)
    }

    fn purge_expired_challenges(&self, now: SystemTime) -> Result<usize, Error> {
        let now = unix(now);
        self.with(async |c| {
            let n = c
                .execute(
                    "DELETE FROM scep_challenges WHERE expires_at <= $1",
                    &[&now],
                )
                .await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>, Error> {
        let id = id.as_str().to_owned();
        self.with(async |c| {
            let row = c
                .query_opt(
                    "SELECT key_sha256, message_type, status, serial, signer_cert_sha256
                     FROM scep_transactions WHERE transaction_id = $1",
                    &[&id],
                )
                .await?;
            Ok(row.and_then(|r| {
                Some(Transaction {
                    key_sha256: key32(r.get(0))?,
                    message_type: r.get(1),
                    status: r.get(2),
                    serial: r.get(3),
                    signer_cert_sha256: r.get::<_, Option<Vec<u8>>>(4).and_then(key32),
                })
            }))
        })
    }

    fn issued_record(&self, serial_hex: &str) -> Result<Option<IssuedRecord>, Error> {
        let serial = serial_hex.to_owned();
        self.with(async |c| {
            let row = c
                .query_opt(
                    "SELECT purpose, revoked_at FROM issued_certificates WHERE serial = $1",
                    &[&serial],
                )
                .await?;
            Ok(row.map(|r| IssuedRecord {
                for_scep: r.get::<_, String>(0) == crate::scep::PURPOSE,
                revoked: r.get::<_, Option<i64>>(1).is_some(),
            }))
        })
    }

    fn issued_der(&self, serial: &str, purpose: &str) -> Result<Option<Vec<u8>>, Error> {
        let want = serial.trim_start_matches('0').to_owned();
        let purpose = purpose.to_owned();
        self.with(async |c| {
            let row = c
                .query_opt(
                    "SELECT der FROM issued_certificates
                     WHERE purpose = $1 AND ltrim(serial, '0') = $2",
                    &[&purpose, &want],
                )
                .await?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn commit_issuance(
        &self,
        conditions: &Conditions,
        message_type: &str,
        issued: &IssuedCertificate,
        now: SystemTime,
    ) -> Result<Commit, Error> {
        let now = unix(now);
        let binding = conditions.transaction.clone();
        let challenge = conditions
            .consume_challenge
            .as_ref()
            .map(|c| challenge_hash(c));
        let renewed = conditions.signer_unrevoked.as_ref().map(hex::encode);
        let message_type = message_type.to_owned();
        let issued = issued.clone();
        let outcome = self.with(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))",
                &[&binding.id.as_str()],
            )
            .await?;
            if let Some(hash) = &challenge {
                let n = tx
                    .execute(
                        "DELETE FROM scep_challenges
                         WHERE challenge_sha256 = $1 AND expires_at > $2",
                        &[hash, &now],
                    )
                    .await?;
                if n != 1 {
                    return Ok(Commit::ChallengeGone);
                }
            }
            let seen = tx
                .query_opt(
                    "SELECT key_sha256, serial, signer_cert_sha256 FROM scep_transactions
                     WHERE transaction_id = $1",
                    &[&binding.id.as_str()],
                )
                .await?;
            if let Some(r) = seen {
                let key: Vec<u8> = r.get(0);
                let serial: Option<String> = r.get(1);
                let signer: Option<Vec<u8>> = r.get(2);
                if key.as_slice() != binding.key_sha256.as_slice() {
                    return Ok(Commit::Replayed);
                }
                let expected = binding.issued_serial.as_ref().map(hex::encode);
                if serial != expected {
                    return Ok(match serial {
                        Some(s) if signer.as_deref() == Some(&binding.signer_cert_sha256[..]) => {
                            Commit::AlreadyIssued(s)
                        }
                        _ => Commit::Replayed,
                    });
                }
            }
            if let Some(serial) = &renewed {
                let live = tx
                    .query_opt(
                        "SELECT revoked_at FROM issued_certificates
                         WHERE serial = $1 AND purpose = $2 FOR SHARE",
                        &[serial, &crate::scep::PURPOSE],
                    )
                    .await?;
                if !matches!(live.map(|r| r.get::<_, Option<i64>>(0)), Some(None)) {
                    return Ok(Commit::SignerRevoked);
                }
            }
            tx.execute(
                "INSERT INTO issued_certificates (serial, subject, not_after, purpose, der)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &issued.serial,
                    &issued.subject,
                    &issued.not_after,
                    &issued.purpose,
                    &issued.der,
                ],
            )
            .await?;
            tx.execute(
                "INSERT INTO scep_transactions
                     (transaction_id, key_sha256, message_type, status, serial,
                      signer_cert_sha256)
                 VALUES ($1, $2, $3, 'issued', $4, $5)
                 ON CONFLICT (transaction_id) DO UPDATE SET
                     message_type = excluded.message_type,
                     status = 'issued',
                     serial = excluded.serial,
                     signer_cert_sha256 = excluded.signer_cert_sha256,
                     last_seen = now()",
                &[
                    &binding.id.as_str(),
                    &&binding.key_sha256[..],
                    &message_type,
                    &issued.serial,
                    &&binding.signer_cert_sha256[..],
                ],
            )
            .await?;
            tx.execute(
                "DELETE FROM scep_pending WHERE transaction_id = $1",
                &[&binding.id.as_str()],
            )
            .await?;
            crate::failpoint::hit("scep-before-commit");
            tx.commit().await?;
            Ok(Commit::Done)
        })?;
        if outcome == Commit::Done {
            crate::failpoint::hit("scep-after-commit");
        }
        Ok(outcome)
    }

    fn hold(
        &self,
        conditions: &Conditions,
        request: &[u8],
        subject: &str,
        now: SystemTime,
    ) -> Result<Hold, Error> {
        let now = unix(now);
        let binding = conditions.transaction.clone();
        let challenge = conditions
            .consume_challenge
            .as_ref()
            .map(|c| challenge_hash(c));
        let request = request.to_vec();
        let subject = subject.to_owned();
        self.with(async |c| {
            let tx = c.transaction().await?;
            let id = binding.id.as_str();
            tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&id])
                .await?;
            for table in ["scep_transactions", "scep_pending"] {
                let row = tx
                    .query_opt(
                        &format!("SELECT key_sha256 FROM {table} WHERE transaction_id = $1"),
                        &[&id],
                    )
                    .await?;
                match row.map(|r| r.get::<_, Vec<u8>>(0)) {
                    Some(k) if k.as_slice() != binding.key_sha256.as_slice() => {
                        return Ok(Hold::Replayed);
                    }
                    Some(_) if table == "scep_pending" => return Ok(Hold::Held),
                    _ => {}
                }
            }
            if let Some(hash) = &challenge {
                let n = tx
                    .execute(
                        "DELETE FROM scep_challenges
                         WHERE challenge_sha256 = $1 AND expires_at > $2",
                        &[hash, &now],
                    )
                    .await?;
                if n != 1 {
                    return Ok(Hold::ChallengeGone);
                }
            }
            tx.execute(
                "INSERT INTO scep_pending
                     (transaction_id, key_sha256, request, subject, status, reason, created_at)
                 VALUES ($1, $2, $3, $4, 'pending', NULL, $5)",
                &[&id, &&binding.key_sha256[..], &request, &subject, &now],
            )
            .await?;
            tx.commit().await?;
            Ok(Hold::Held)
        })
    }

    fn pending(&self, id: &TransactionId) -> Result<Option<Pending>, Error> {
        let id = id.as_str().to_owned();
        self.with(async |c| {
            let row = c
                .query_opt(
                    &format!(
                        "SELECT {PENDING_COLUMNS} FROM scep_pending WHERE transaction_id = $1"
                    ),
                    &[&id],
                )
                .await?;
            Ok(row.as_ref().and_then(pending_from))
        })
    }

    fn list_pending(&self) -> Result<Vec<Pending>, Error> {
        self.with(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {PENDING_COLUMNS} FROM scep_pending
                         ORDER BY created_at, transaction_id"
                    ),
                    &[],
                )
                .await?;
            Ok(rows.iter().filter_map(pending_from).collect())
        })
    }

    fn decide_pending(&self, id: &str, approve: bool, reason: Option<&str>) -> Result<bool, Error> {
        let id = id.to_owned();
        let status = if approve { "approved" } else { "rejected" };
        let reason = reason.map(str::to_owned);
        self.with(async |c| {
            let n = c
                .execute(
                    "UPDATE scep_pending SET status = $2, reason = $3
                     WHERE transaction_id = $1 AND status = 'pending'",
                    &[&id, &status, &reason],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn revoke(&self, serial_hex: &str, now: SystemTime) -> Result<bool, Error> {
        let serial = serial_hex.to_owned();
        let now = unix(now);
        self.with(async |c| {
            let n = c
                .execute(
                    "UPDATE issued_certificates SET revoked_at = $2
                     WHERE serial = $1 AND purpose = $3 AND revoked_at IS NULL",
                    &[&serial, &now, &crate::scep::PURPOSE],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn issued_by_request_signed_with(&self, serial_hex: &str) -> Result<Option<Vec<u8>>, Error> {
        self.with(async |c| {
            Ok(c.query_opt(
                "SELECT signer_cert_sha256 FROM scep_transactions
                 WHERE serial = $1 AND status = 'issued'",
                &[&serial_hex],
            )
            .await?
            .and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
        })
    }

    fn revoked(&self) -> Result<Vec<(String, i64)>, Error> {
        self.with(async |c| {
            let rows = c
                .query(
                    "SELECT serial, revoked_at FROM issued_certificates
                     WHERE purpose = $1 AND revoked_at IS NOT NULL
                     ORDER BY revoked_at, serial",
                    &[&crate::scep::PURPOSE],
                )
                .await?;
            Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }
}
