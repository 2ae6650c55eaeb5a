//! SCEP's tables: one-time challenges and the transaction log.
//!
//! ```text
//! scep_challenges   (challenge_sha256 BLOB PRIMARY KEY, expires_at INTEGER NOT NULL)
//! scep_transactions (transaction_id TEXT PRIMARY KEY, key_sha256 BLOB NOT NULL,
//!                    message_type TEXT NOT NULL, status TEXT NOT NULL, serial TEXT,
//!                    first_seen TEXT NOT NULL, last_seen TEXT NOT NULL)
//! ```
//!
//! Challenges are stored as their SHA-256, so a copy of the database does not hand out
//! enrolments. A challenge is consumed by `DELETE ... WHERE challenge_sha256 = ? AND
//! expires_at > ?` and the count of deleted rows: SQLite runs the statement atomically, so of
//! two connections using the same challenge at once exactly one deletes the row.

use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, params};
use scep::TransactionId;
use scep::challenge::OneTimeStore;
use sha2::Digest as _;

use crate::storage::{Error, Migration, Storage};

/// The migration creating the SCEP tables (appended to [`crate::storage::MIGRATIONS`]).
pub const MIGRATION_SQL: &str = "
    CREATE TABLE scep_challenges (
        challenge_sha256 BLOB PRIMARY KEY,
        expires_at       INTEGER NOT NULL
    );
    CREATE TABLE scep_transactions (
        transaction_id TEXT PRIMARY KEY,
        key_sha256     BLOB NOT NULL,
        message_type   TEXT NOT NULL,
        status         TEXT NOT NULL,
        serial         TEXT,
        first_seen     TEXT NOT NULL,
        last_seen      TEXT NOT NULL
    );";

/// Name of the migration, for [`Migration::name`].
pub const MIGRATION_NAME: &str = "scep challenges and transactions";

/// The SCEP migration numbered `version`, for [`crate::storage::MIGRATIONS`].
pub const fn migration(version: u32) -> Migration {
    Migration {
        version,
        name: MIGRATION_NAME,
        sql: MIGRATION_SQL,
    }
}

pub(crate) fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn challenge_hash(challenge: &str) -> Vec<u8> {
    sha2::Sha256::digest(challenge.as_bytes()).to_vec()
}

/// Store a fresh one-time challenge valid for `ttl` from `now`, and return it: 128 random
/// bits as 32 lowercase hex digits (a PrintableString every client can send).
pub fn add_challenge(
    storage: &Storage,
    now: SystemTime,
    ttl: Duration,
    rng: &mut dyn rand_core::CryptoRng,
) -> Result<String, Error> {
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    let challenge = hex::encode(raw);
    storage.lock().execute(
        "INSERT INTO scep_challenges (challenge_sha256, expires_at) VALUES (?1, ?2)",
        params![challenge_hash(&challenge), unix(now + ttl)],
    )?;
    Ok(challenge)
}

/// Consume `challenge` if it is stored and unexpired at `now`: `true` for exactly one caller.
pub fn consume_challenge(
    storage: &Storage,
    challenge: &str,
    now: SystemTime,
) -> Result<bool, Error> {
    let deleted = storage.lock().execute(
        "DELETE FROM scep_challenges WHERE challenge_sha256 = ?1 AND expires_at > ?2",
        params![challenge_hash(challenge), unix(now)],
    )?;
    Ok(deleted == 1)
}

/// Remove expired challenges; returns how many.
pub fn purge_expired_challenges(storage: &Storage, now: SystemTime) -> Result<usize, Error> {
    Ok(storage.lock().execute(
        "DELETE FROM scep_challenges WHERE expires_at <= ?1",
        params![unix(now)],
    )?)
}

/// One-time challenges in SQLite, for [`scep::challenge::OneTimeChallenge`].
#[derive(Debug)]
pub struct SqliteChallenges(pub std::sync::Arc<Storage>);

impl OneTimeStore for SqliteChallenges {
    fn consume(&self, challenge: &str) -> bool {
        match consume_challenge(&self.0, challenge, SystemTime::now()) {
            Ok(won) => won,
            Err(e) => {
                tracing::warn!(error = %e, "consuming a SCEP challenge failed");
                false
            }
        }
    }
}

/// What became of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// SHA-256 of the SubjectPublicKeyInfo the transaction is bound to.
    pub key_sha256: [u8; 32],
    /// The last request's messageType, as on the wire.
    pub message_type: String,
    /// `issued` or `failed`.
    pub status: String,
    /// Serial number of the certificate issued, lowercase hex as in `issued_certificates`.
    pub serial: Option<String>,
    /// SHA-256 of the certificate that signed the issuing request.
    pub signer_cert_sha256: Option<[u8; 32]>,
}

/// The transaction recorded under `id`, if any.
pub fn transaction(storage: &Storage, id: &TransactionId) -> Result<Option<Transaction>, Error> {
    let row = storage
        .lock()
        .query_row(
            "SELECT key_sha256, message_type, status, serial, signer_cert_sha256
             FROM scep_transactions WHERE transaction_id = ?1",
            [id.as_str()],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(key, message_type, status, serial, signer)| {
        Some(Transaction {
            key_sha256: key.try_into().ok()?,
            message_type,
            status,
            serial,
            signer_cert_sha256: signer.and_then(|s| s.try_into().ok()),
        })
    }))
}

/// The migration adding revocation to `issued_certificates` (appended to
/// [`crate::storage::MIGRATIONS`]).
pub const fn revocation_migration(version: u32) -> Migration {
    Migration {
        version,
        name: "certificate revocation; SCEP transaction signers",
        sql: "ALTER TABLE issued_certificates ADD COLUMN revoked_at INTEGER;
              ALTER TABLE scep_transactions ADD COLUMN signer_cert_sha256 BLOB;
              DELETE FROM scep_transactions WHERE serial IS NULL;",
    }
}

/// The migration for manual approval: requests held as PENDING until an administrator decides.
pub const fn pending_migration(version: u32) -> Migration {
    Migration {
        version,
        name: "SCEP requests pending approval",
        sql: "CREATE TABLE scep_pending (
                  transaction_id     TEXT PRIMARY KEY,
                  key_sha256         BLOB NOT NULL,
                  request            BLOB NOT NULL,
                  subject            TEXT NOT NULL,
                  status             TEXT NOT NULL,
                  reason             TEXT,
                  created_at         INTEGER NOT NULL
              );",
    }
}

/// A request held for an administrator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its transactionID.
    pub transaction_id: String,
    /// The key the transaction is bound to.
    pub key_sha256: [u8; 32],
    /// The pkiMessage as received, verified again when it is approved.
    pub request: Vec<u8>,
    /// The subject it asks for (RFC 4514), for the administrator.
    pub subject: String,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// Why it was rejected, if it was.
    pub reason: Option<String>,
    /// When it was held (Unix seconds).
    pub created_at: i64,
}

fn pending_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Vec<u8>, Pending)> {
    Ok((
        r.get(1)?,
        Pending {
            transaction_id: r.get(0)?,
            key_sha256: [0; 32],
            request: r.get(2)?,
            subject: r.get(3)?,
            status: r.get(4)?,
            reason: r.get(5)?,
            created_at: r.get(6)?,
        },
    ))
}

const PENDING_COLUMNS: &str =
    "transaction_id, key_sha256, request, subject, status, reason, created_at";

fn finish_pending((key, mut p): (Vec<u8>, Pending)) -> Option<Pending> {
    p.key_sha256 = key.try_into().ok()?;
    Some(p)
}

/// The held request under transactionID `id`, if any.
pub fn pending(storage: &Storage, id: &TransactionId) -> Result<Option<Pending>, Error> {
    let row = storage
        .lock()
        .query_row(
            &format!("SELECT {PENDING_COLUMNS} FROM scep_pending WHERE transaction_id = ?1"),
            [id.as_str()],
            pending_row,
        )
        .optional()?;
    Ok(row.and_then(finish_pending))
}

/// Every held request, oldest first.
pub fn list_pending(storage: &Storage) -> Result<Vec<Pending>, Error> {
    let conn = storage.lock();
    let mut stmt = conn.prepare(&format!(
        "SELECT {PENDING_COLUMNS} FROM scep_pending ORDER BY created_at, transaction_id"
    ))?;
    let rows = stmt.query_map([], pending_row)?;
    let mut out = Vec::new();
    for r in rows {
        out.extend(finish_pending(r?));
    }
    Ok(out)
}

/// Decide a held request: `approved` or `rejected` (with `reason`). Only a request still
/// `pending` changes; `false` otherwise.
pub fn decide_pending(
    storage: &Storage,
    id: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<bool, Error> {
    let n = storage.lock().execute(
        "UPDATE scep_pending SET status = ?2, reason = ?3
         WHERE transaction_id = ?1 AND status = 'pending'",
        params![id, if approve { "approved" } else { "rejected" }, reason],
    )?;
    Ok(n == 1)
}

/// What became of holding a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// Held (or already held for this key): answer PENDING.
    Held,
    /// The one-time challenge is gone.
    ChallengeGone,
    /// The transactionID is bound to another key.
    Replayed,
}

/// Hold a request for approval in one transaction: consume its one-time challenge (admitting
/// it for review is what the challenge was for), check the transaction binding, and store the
/// request as received.
pub fn hold(
    storage: &Storage,
    conditions: &scep::issuance::Conditions,
    request: &[u8],
    subject: &str,
    now: SystemTime,
) -> Result<Hold, Error> {
    let mut conn = storage.lock();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let binding = &conditions.transaction;
    let key = &binding.key_sha256[..];
    for table in ["scep_transactions", "scep_pending"] {
        let other: Option<Vec<u8>> = tx
            .query_row(
                &format!("SELECT key_sha256 FROM {table} WHERE transaction_id = ?1"),
                [binding.id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        match other {
            Some(k) if k.as_slice() != key => return Ok(Hold::Replayed),
            Some(_) if table == "scep_pending" => return Ok(Hold::Held),
            _ => {}
        }
    }
    if let Some(c) = &conditions.consume_challenge {
        let n = tx.execute(
            "DELETE FROM scep_challenges WHERE challenge_sha256 = ?1 AND expires_at > ?2",
            params![challenge_hash(c), unix(now)],
        )?;
        if n != 1 {
            return Ok(Hold::ChallengeGone);
        }
    }
    tx.execute(
        "INSERT INTO scep_pending
             (transaction_id, key_sha256, request, subject, status, reason, created_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', NULL, ?5)",
        params![binding.id.as_str(), key, request, subject, unix(now)],
    )?;
    tx.commit()?;
    Ok(Hold::Held)
}

/// Our record of the certificate with serial `serial_hex` (lowercase hex of the DER INTEGER
/// contents, as recorded), for [`scep::Records::signer`].
pub fn issued_record(
    storage: &Storage,
    serial_hex: &str,
) -> Result<Option<scep::issuance::IssuedRecord>, Error> {
    Ok(storage
        .lock()
        .query_row(
            "SELECT purpose, revoked_at FROM issued_certificates WHERE serial = ?1",
            [serial_hex],
            |r| {
                Ok(scep::issuance::IssuedRecord {
                    for_scep: r.get::<_, String>(0)? == crate::scep::PURPOSE,
                    revoked: r.get::<_, Option<i64>>(1)?.is_some(),
                })
            },
        )
        .optional()?)
}

/// Revoke the SCEP-issued certificate with serial `serial_hex` at `now`; `false` when there is
/// no such certificate or it was revoked already.
pub fn revoke(storage: &Storage, serial_hex: &str, now: SystemTime) -> Result<bool, Error> {
    let n = storage.lock().execute(
        "UPDATE issued_certificates SET revoked_at = ?2
         WHERE serial = ?1 AND purpose = ?3 AND revoked_at IS NULL",
        params![serial_hex, unix(now), crate::scep::PURPOSE],
    )?;
    Ok(n == 1)
}

/// Serial (hex, as recorded) and revocation time (Unix seconds) of every revoked certificate
/// issued over SCEP, for the CRL.
pub fn revoked(storage: &Storage) -> Result<Vec<(String, i64)>, Error> {
    let conn = storage.lock();
    let mut stmt = conn.prepare(
        "SELECT serial, revoked_at FROM issued_certificates
         WHERE purpose = ?1 AND revoked_at IS NOT NULL ORDER BY revoked_at, serial",
    )?;
    let rows = stmt.query_map([crate::scep::PURPOSE], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What became of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Commit {
    /// Everything held and everything is recorded: send the reply.
    Done,
    /// The one-time challenge is gone (used by another request, or expired).
    ChallengeGone,
    /// The transaction was meanwhile issued (a concurrent resend): answer with this serial.
    AlreadyIssued(String),
    /// The transactionID is bound to another key.
    Replayed,
    /// The certificate being renewed was revoked (or is no longer ours) meanwhile.
    SignerRevoked,
}

/// Check and apply `conditions` and record `issued` in one SQLite transaction: consume the
/// one-time challenge, bind the transaction to its key and the new serial, check the renewed
/// certificate is unrevoked, insert the certificate. Either all of it is written or none.
pub fn commit_issuance(
    storage: &Storage,
    conditions: &scep::issuance::Conditions,
    message_type: &str,
    issued: &crate::storage::IssuedCertificate,
    now: SystemTime,
) -> Result<Commit, Error> {
    let mut conn = storage.lock();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(c) = &conditions.consume_challenge {
        let n = tx.execute(
            "DELETE FROM scep_challenges WHERE challenge_sha256 = ?1 AND expires_at > ?2",
            params![challenge_hash(c), unix(now)],
        )?;
        if n != 1 {
            return Ok(Commit::ChallengeGone);
        }
    }
    let binding = &conditions.transaction;
    let id = &binding.id;
    let key = &binding.key_sha256;
    // (key_sha256, serial, signer_cert_sha256) as stored.
    type Row = (Vec<u8>, Option<String>, Option<Vec<u8>>);
    let seen: Option<Row> = tx
        .query_row(
            "SELECT key_sha256, serial, signer_cert_sha256 FROM scep_transactions
             WHERE transaction_id = ?1",
            [id.as_str()],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    if let Some((k, serial, signer)) = seen {
        if k.as_slice() != key.as_slice() {
            return Ok(Commit::Replayed);
        }
        let expected = binding.issued_serial.as_ref().map(hex::encode);
        if serial != expected {
            // Someone committed in this transaction since we decided.
            return Ok(match serial {
                Some(s) if signer.as_deref() == Some(&binding.signer_cert_sha256[..]) => {
                    Commit::AlreadyIssued(s)
                }
                _ => Commit::Replayed,
            });
        }
    }
    if let Some(serial) = &conditions.signer_unrevoked {
        let live: Option<Option<i64>> = tx
            .query_row(
                "SELECT revoked_at FROM issued_certificates WHERE serial = ?1 AND purpose = ?2",
                params![hex::encode(serial), crate::scep::PURPOSE],
                |r| r.get(0),
            )
            .optional()?;
        if !matches!(live, Some(None)) {
            return Ok(Commit::SignerRevoked);
        }
    }
    tx.execute(
        "INSERT INTO issued_certificates (serial, subject, not_after, purpose, der, issued_at)
         VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
        params![
            issued.serial,
            issued.subject,
            issued.not_after,
            issued.purpose,
            issued.der
        ],
    )?;
    tx.execute(
        "INSERT INTO scep_transactions
             (transaction_id, key_sha256, message_type, status, serial, signer_cert_sha256,
              first_seen, last_seen)
         VALUES (?1, ?2, ?3, 'issued', ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
                 strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
         ON CONFLICT (transaction_id) DO UPDATE SET
             message_type = excluded.message_type,
             status = 'issued',
             serial = excluded.serial,
             signer_cert_sha256 = excluded.signer_cert_sha256,
             last_seen = excluded.last_seen",
        params![
            id.as_str(),
            &key[..],
            message_type,
            issued.serial,
            &binding.signer_cert_sha256[..]
        ],
    )?;
    tx.execute(
        "DELETE FROM scep_pending WHERE transaction_id = ?1",
        [id.as_str()],
    )?;
    crate::failpoint::hit("scep-before-commit");
    tx.commit()?;
    crate::failpoint::hit("scep-after-commit");
    Ok(Commit::Done)
}

/// The DER of the certificate with serial number `serial` (lowercase hex, leading zero octets
/// ignored) recorded with `purpose`.
pub fn issued_der(
    storage: &Storage,
    serial: &str,
    purpose: &str,
) -> Result<Option<Vec<u8>>, Error> {
    let want = serial.trim_start_matches('0');
    let conn = storage.lock();
    let mut stmt =
        conn.prepare("SELECT serial, der FROM issued_certificates WHERE purpose = ?1")?;
    let mut rows = stmt.query([purpose])?;
    while let Some(r) = rows.next()? {
        let s: String = r.get(0)?;
        if s.trim_start_matches('0') == want {
            return Ok(Some(r.get(1)?));
        }
    }
    Ok(None)
}

/// SCEP's storage, one implementation per backend: [`Storage`] (SQLite, the embedded
/// default) and [`super::postgres::PgStore`] (PostgreSQL, for several `admitd` processes on one
/// database). Every method is one atomic step; the ones that decide (`commit_issuance`, `hold`,
/// `decide_pending`, `revoke`) check their conditions inside their own transaction, so two
/// servers on one database stay correct. Errors are the database's, never a "no".
pub trait ScepStore: Send + Sync + std::fmt::Debug {
    /// See [`add_challenge`].
    fn add_challenge(
        &self,
        now: SystemTime,
        ttl: Duration,
        rng: &mut dyn rand_core::CryptoRng,
    ) -> Result<String, Error>;
    /// See [`purge_expired_challenges`].
    fn purge_expired_challenges(&self, now: SystemTime) -> Result<usize, Error>;
    /// See [`transaction`].
    fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>, Error>;
    /// See [`issued_record`].
    fn issued_record(
        &self,
        serial_hex: &str,
    ) -> Result<Option<scep::issuance::IssuedRecord>, Error>;
    /// See [`issued_der`].
    fn issued_der(&self, serial: &str, purpose: &str) -> Result<Option<Vec<u8>>, Error>;
    /// See [`commit_issuance`].
    fn commit_issuance(
        &self,
        conditions: &scep::issuance::Conditions,
        message_type: &str,
        issued: &crate::storage::IssuedCertificate,
        now: SystemTime,
    ) -> Result<Commit, Error>;
    /// See [`hold`].
    fn hold(
        &self,
        conditions: &scep::issuance::Conditions,
        request: &[u8],
        subject: &str,
        now: SystemTime,
    ) -> Result<Hold, Error>;
    /// See [`pending`].
    fn pending(&self, id: &TransactionId) -> Result<Option<Pending>, Error>;
    /// See [`list_pending`].
    fn list_pending(&self) -> Result<Vec<Pending>, Error>;
    /// See [`decide_pending`].
    fn decide_pending(&self, id: &str, approve: bool, reason: Option<&str>) -> Result<bool, Error>;
    /// See [`revoke`].
    fn revoke(&self, serial_hex: &str, now: SystemTime) -> Result<bool, Error>;
    /// See [`revoked`].
    fn revoked(&self) -> Result<Vec<(String, i64)>, Error>;
    /// SHA-256 of the certificate that signed the request which issued `serial_hex`: for a
    /// renewal, the certificate it replaces.
    fn issued_by_request_signed_with(&self, serial_hex: &str) -> Result<Option<Vec<u8>>, Error>;
}

impl ScepStore for Storage {
    fn add_challenge(
        &self,
        now: SystemTime,
        ttl: Duration,
        rng: &mut dyn rand_core::CryptoRng,
    ) -> Result<String, Error> {
        add_challenge(self, now, ttl, rng)
    }
    fn purge_expired_challenges(&self, now: SystemTime) -> Result<usize, Error> {
        purge_expired_challenges(self, now)
    }
    fn transaction(&self, id: &TransactionId) -> Result<Option<Transaction>, Error> {
        transaction(self, id)
    }
    fn issued_record(
        &self,
        serial_hex: &str,
    ) -> Result<Option<scep::issuance::IssuedRecord>, Error> {
        issued_record(self, serial_hex)
    }
    fn issued_der(&self, serial: &str, purpose: &str) -> Result<Option<Vec<u8>>, Error> {
        issued_der(self, serial, purpose)
    }
    fn commit_issuance(
        &self,
        conditions: &scep::issuance::Conditions,
        message_type: &str,
        issued: &crate::storage::IssuedCertificate,
        now: SystemTime,
    ) -> Result<Commit, Error> {
        commit_issuance(self, conditions, message_type, issued, now)
    }
    fn hold(
        &self,
        conditions: &scep::issuance::Conditions,
        request: &[u8],
        subject: &str,
        now: SystemTime,
    ) -> Result<Hold, Error> {
        hold(self, conditions, request, subject, now)
    }
    fn pending(&self, id: &TransactionId) -> Result<Option<Pending>, Error> {
        pending(self, id)
    }
    fn list_pending(&self) -> Result<Vec<Pending>, Error> {
        list_pending(self)
    }
    fn decide_pending(&self, id: &str, approve: bool, reason: Option<&str>) -> Result<bool, Error> {
        decide_pending(self, id, approve, reason)
    }
    fn revoke(&self, serial_hex: &str, now: SystemTime) -> Result<bool, Error> {
        revoke(self, serial_hex, now)
    }
    fn revoked(&self) -> Result<Vec<(String, i64)>, Error> {
        revoked(self)
    }
    fn issued_by_request_signed_with(&self, serial_hex: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .lock()
            .query_row(
                "SELECT signer_cert_sha256 FROM scep_transactions
                 WHERE serial = ?1 AND status = 'issued'",
                [serial_hex],
                |r| r.get::<_, Option<Vec<u8>>>(0),
            )
            .optional()?
            .flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    use rand_core::SeedableRng as _;

    fn migrations() -> Vec<Migration> {
        crate::storage::MIGRATIONS.to_vec()
    }

    fn rng(seed: u64) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(seed)
    }

    #[test]
    fn challenge_is_consumed_once_and_expires() {
        let s = Storage::in_memory(&migrations()).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut rng = rng(1);
        let c = add_challenge(&s, now, Duration::from_secs(60), &mut rng).unwrap();
        assert_eq!(c.len(), 32);
        // The database holds only the hash.
        let stored: Vec<u8> = s
            .lock()
            .query_row("SELECT challenge_sha256 FROM scep_challenges", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_ne!(stored, c.as_bytes());
        assert!(!consume_challenge(&s, "not-it", now).unwrap());
        assert!(consume_challenge(&s, &c, now).unwrap());
        assert!(!consume_challenge(&s, &c, now).unwrap());
        let late = add_challenge(&s, now, Duration::from_secs(60), &mut rng).unwrap();
        assert!(!consume_challenge(&s, &late, now + Duration::from_secs(60)).unwrap());
        assert_eq!(
            purge_expired_challenges(&s, now + Duration::from_secs(60)).unwrap(),
            1
        );
    }

    /// Two connections to one database file race for the same challenge, many times over:
    /// each time exactly one wins.
    #[test]
    fn two_connections_exactly_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let a = Arc::new(Storage::open_with(&path, &migrations()).unwrap());
        let b = Arc::new(Storage::open_with(&path, &migrations()).unwrap());
        let mut rng = rng(2);
        for _ in 0..50 {
            let c =
                add_challenge(&a, SystemTime::now(), Duration::from_secs(60), &mut rng).unwrap();
            let barrier = Arc::new(Barrier::new(2));
            let wins: Vec<bool> = [a.clone(), b.clone()]
                .into_iter()
                .map(|s| {
                    let (c, barrier) = (c.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        SqliteChallenges(s).consume(&c)
                    })
                })
                .collect::<Vec<_>>()
                .into_iter()
                .map(|h| h.join().unwrap())
                .collect();
            assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
        }
    }
}
