//! One behavioural suite for SCEP's storage, run against both backends: SQLite (the data
//! directory's database) and PostgreSQL (a private cluster this test starts and stops). Every
//! decision the store makes is checked inside its own transaction, and two connections racing
//! for one challenge leave exactly one winner.

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use admitd::scep::postgres::PgStore;
use admitd::scep::store::{Commit, Hold, ScepStore};
use admitd::storage::{IssuedCertificate, Storage};
use scep::TransactionId;
use scep::issuance::{Conditions, IssuedRecord, TransactionBinding};
use testkit::rng;
use zeroize::Zeroizing;

fn cert(serial: &str) -> IssuedCertificate {
    IssuedCertificate {
        serial: serial.into(),
        subject: "CN=t".into(),
        not_after: "2030-01-01T00:00:00Z".into(),
        purpose: admitd::scep::PURPOSE.into(),
        der: vec![0x30, 0x00],
    }
}

fn binding(id: &str, key: u8, signer: u8, seen: Option<&[u8]>) -> TransactionBinding {
    TransactionBinding {
        id: TransactionId(id.into()),
        key_sha256: [key; 32],
        signer_cert_sha256: [signer; 32],
        issued_serial: seen.map(<[u8]>::to_vec),
    }
}

fn tx(id: &str) -> TransactionId {
    TransactionId(id.into())
}

/// The rules every backend must keep.
fn suite(s: &dyn ScepStore, name: &str) {
    let now = SystemTime::now();
    let mut r = rng(3);
    let c = s
        .add_challenge(now, Duration::from_secs(60), &mut r)
        .unwrap();
    assert_eq!(c.len(), 32, "{name}");
    let with_challenge = |b, c: &str| Conditions::new(b, Some(Zeroizing::new(c.to_owned())), None);
    let plain = |b| Conditions::new(b, None, None);

    // First use: consumed, certificate and transaction recorded.
    let out = s.commit_issuance(
        &with_challenge(binding("t1", 1, 1, None), &c),
        "19",
        &cert("0a"),
        now,
    );
    assert_eq!(out.unwrap(), Commit::Done, "{name}");
    let t = s.transaction(&tx("t1")).unwrap().unwrap();
    assert_eq!(t.serial.as_deref(), Some("0a"), "{name}");
    assert_eq!(t.signer_cert_sha256, Some([1; 32]), "{name}");
    assert_eq!(
        s.issued_der("0a", admitd::scep::PURPOSE).unwrap(),
        Some(vec![0x30, 0x00])
    );
    assert_eq!(
        s.issued_record("0a").unwrap(),
        Some(IssuedRecord {
            for_scep: true,
            revoked: false
        })
    );

    // The challenge again: gone, nothing written.
    let out = s.commit_issuance(
        &with_challenge(binding("t2", 2, 2, None), &c),
        "19",
        &cert("0b"),
        now,
    );
    assert_eq!(out.unwrap(), Commit::ChallengeGone, "{name}");
    assert_eq!(s.transaction(&tx("t2")).unwrap(), None, "{name}");
    assert_eq!(
        s.issued_der("0b", admitd::scep::PURPOSE).unwrap(),
        None,
        "{name}"
    );

    // Another key on t1: a replay. A decision taken before 0a was recorded: the same signer
    // lost a race to itself (answer 0a), another signer is refused.
    let out = s.commit_issuance(&plain(binding("t1", 9, 9, None)), "19", &cert("0c"), now);
    assert_eq!(out.unwrap(), Commit::Replayed, "{name}");
    let out = s.commit_issuance(&plain(binding("t1", 1, 1, None)), "19", &cert("0d"), now);
    assert_eq!(out.unwrap(), Commit::AlreadyIssued("0a".into()), "{name}");
    let out = s.commit_issuance(&plain(binding("t1", 1, 7, None)), "19", &cert("0d"), now);
    assert_eq!(out.unwrap(), Commit::Replayed, "{name}");
    // A renewal decided over the current record goes through and moves the transaction on.
    let renewal = Conditions::new(binding("t1", 1, 7, Some(&[0x0a])), None, Some(vec![0x0a]));
    let out = s.commit_issuance(&renewal, "17", &cert("0e"), now);
    assert_eq!(out.unwrap(), Commit::Done, "{name}");
    assert_eq!(
        s.transaction(&tx("t1")).unwrap().unwrap().serial.as_deref(),
        Some("0e")
    );

    // Revocation: once; then the certificate cannot be renewed, and it is on the list.
    assert!(s.revoke("0e", now).unwrap(), "{name}");
    assert!(!s.revoke("0e", now).unwrap(), "{name}");
    assert!(!s.revoke("ff", now).unwrap(), "{name}");
    let renewal = Conditions::new(binding("t1", 1, 8, Some(&[0x0e])), None, Some(vec![0x0e]));
    let out = s.commit_issuance(&renewal, "17", &cert("0f"), now);
    assert_eq!(out.unwrap(), Commit::SignerRevoked, "{name}");
    let revoked = s.revoked().unwrap();
    assert_eq!(revoked.len(), 1, "{name}");
    assert_eq!(revoked[0].0, "0e", "{name}");

    // A failure inside the transaction (a duplicate serial) leaves the challenge unspent.
    let c2 = s
        .add_challenge(now, Duration::from_secs(60), &mut r)
        .unwrap();
    let cond = with_challenge(binding("t3", 3, 3, None), &c2);
    assert!(
        s.commit_issuance(&cond, "19", &cert("0a"), now).is_err(),
        "{name}"
    );
    assert_eq!(s.transaction(&tx("t3")).unwrap(), None, "{name}");
    let out = s.commit_issuance(&cond, "19", &cert("10"), now);
    assert_eq!(
        out.unwrap(),
        Commit::Done,
        "{name}: the challenge survived the failed commit"
    );

    // Holding for approval: spends the challenge, lists the request, decides once.
    let c3 = s
        .add_challenge(now, Duration::from_secs(60), &mut r)
        .unwrap();
    let held = with_challenge(binding("p1", 4, 4, None), &c3);
    assert_eq!(
        s.hold(&held, b"request", "CN=held", now).unwrap(),
        Hold::Held,
        "{name}"
    );
    assert_eq!(
        s.hold(&held, b"request", "CN=held", now).unwrap(),
        Hold::Held,
        "{name}"
    );
    let other_key = with_challenge(binding("p1", 5, 5, None), &c3);
    assert_eq!(
        s.hold(&other_key, b"x", "CN=x", now).unwrap(),
        Hold::Replayed,
        "{name}"
    );
    let gone = with_challenge(binding("p2", 6, 6, None), &c3);
    assert_eq!(
        s.hold(&gone, b"x", "CN=x", now).unwrap(),
        Hold::ChallengeGone,
        "{name}"
    );
    let p = s.pending(&tx("p1")).unwrap().unwrap();
    assert_eq!(
        (p.status.as_str(), p.request.as_slice()),
        ("pending", &b"request"[..])
    );
    assert_eq!(s.list_pending().unwrap().len(), 1, "{name}");
    assert!(s.decide_pending("p1", true, None).unwrap(), "{name}");
    assert!(
        !s.decide_pending("p1", false, Some("late")).unwrap(),
        "{name}"
    );
    assert_eq!(s.pending(&tx("p1")).unwrap().unwrap().status, "approved");
    // Issuing it clears it.
    let out = s.commit_issuance(&plain(binding("p1", 4, 4, None)), "19", &cert("11"), now);
    assert_eq!(out.unwrap(), Commit::Done, "{name}");
    assert_eq!(s.pending(&tx("p1")).unwrap(), None, "{name}");

    // Expired challenges are refused and purged.
    let old = s
        .add_challenge(now, Duration::from_secs(1), &mut r)
        .unwrap();
    let later = now + Duration::from_secs(5);
    let out = s.commit_issuance(
        &with_challenge(binding("t4", 7, 7, None), &old),
        "19",
        &cert("12"),
        later,
    );
    assert_eq!(out.unwrap(), Commit::ChallengeGone, "{name}");
    assert_eq!(s.purge_expired_challenges(later).unwrap(), 1, "{name}");
}

/// Two connections race for each of 20 challenges: exactly one issues each time.
fn race(a: Arc<dyn ScepStore>, b: Arc<dyn ScepStore>, name: &str) {
    let mut r = rng(4);
    for round in 0..20u8 {
        let c = a
            .add_challenge(SystemTime::now(), Duration::from_secs(60), &mut r)
            .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let handles: Vec<_> = [(a.clone(), 1u8), (b.clone(), 2u8)]
            .into_iter()
            .map(|(s, who)| {
                let (c, barrier) = (c.clone(), barrier.clone());
                std::thread::spawn(move || {
                    let cond = Conditions::new(
                        binding(&format!("race-{round}-{who}"), who, who, None),
                        Some(Zeroizing::new(c)),
                        None,
                    );
                    barrier.wait();
                    s.commit_issuance(
                        &cond,
                        "19",
                        &cert(&format!("{round:02x}{who:02x}")),
                        SystemTime::now(),
                    )
                    .unwrap()
                })
            })
            .collect();
        let wins = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|c| *c == Commit::Done)
            .count();
        assert_eq!(wins, 1, "{name}: round {round}");
    }
}

#[test]
fn sqlite_keeps_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    let s = Storage::open(&path).unwrap();
    suite(&s, "sqlite");
    let a: Arc<dyn ScepStore> = Arc::new(Storage::open(&path).unwrap());
    let b: Arc<dyn ScepStore> = Arc::new(Storage::open(&path).unwrap());
    race(a, b, "sqlite");
}

#[test]
fn postgres_keeps_the_rules() {
    let pg = testkit::postgres::Postgres::start();
    let url = pg.create_database("scep_suite");
    let s = PgStore::open(&url, 4).unwrap();
    suite(&s, "postgres");
    // Two pools, as two admitd processes would have.
    let a: Arc<dyn ScepStore> = Arc::new(PgStore::open(&url, 2).unwrap());
    let b: Arc<dyn ScepStore> = Arc::new(PgStore::open(&url, 2).unwrap());
    race(a, b, "postgres");
}
