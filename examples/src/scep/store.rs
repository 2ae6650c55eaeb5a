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

fn unix(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn challenge_hash(challenge: &str) -> Vec<u8> {
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
}

/// The transaction recorded under `id`, if any.
pub fn transaction(storage: &Storage, id: &TransactionId) -> Result<Option<Transaction>, Error> {
    let row = storage
        .lock()
        .query_row(
            "SELECT key_sha256, message_type, status, serial FROM scep_transactions
             WHERE transaction_id = ?1",
            [id.as_str()],
            |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(key, message_type, status, serial)| {
        Some(Transaction {
            key_sha256: key.try_into().ok()?,
            message_type,
            status,
            serial,
        })
    }))
}

/// Record the outcome of a transaction. The first request fixes the key a transactionID is
/// bound to; later requests of the same transaction (same key) update its status, and a row
/// for another key is never overwritten.
pub fn record_transaction(
    storage: &Storage,
    id: &TransactionId,
    key_sha256: &[u8; 32],
    message_type: &str,
    status: &str,
    serial: Option<&str>,
) -> Result<(), Error> {
    storage.lock().execute(
        "INSERT INTO scep_transactions
             (transaction_id, key_sha256, message_type, status, serial, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
                 strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
         ON CONFLICT (transaction_id) DO UPDATE SET
             message_type = excluded.message_type,
             status = excluded.status,
             serial = COALESCE(excluded.serial, scep_transactions.serial),
             last_seen = excluded.last_seen
         WHERE scep_transactions.key_sha256 = excluded.key_sha256",
        params![id.as_str(), &key_sha256[..], message_type, status, serial],
    )?;
    Ok(())
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

    #[test]
    fn transaction_binds_its_first_key() {
        let s = Storage::in_memory(&migrations()).unwrap();
        let id = TransactionId("t-1".into());
        assert_eq!(transaction(&s, &id).unwrap(), None);
        record_transaction(&s, &id, &[1; 32], "19", "failed", None).unwrap();
        record_transaction(&s, &id, &[1; 32], "19", "issued", Some("0a")).unwrap();
        // Another key does not take the transaction over.
        record_transaction(&s, &id, &[2; 32], "19", "failed", None).unwrap();
        let t = transaction(&s, &id).unwrap().unwrap();
        assert_eq!(t.key_sha256, [1; 32]);
        assert_eq!(t.status, "issued");
        assert_eq!(t.serial.as_deref(), Some("0a"));
    }
}
