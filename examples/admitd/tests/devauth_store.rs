//! One behavioural suite for device auth's storage, run against both backends: SQLite (two
//! connections to one database file) and PostgreSQL (two pools on one database of a private
//! cluster this test starts and stops). A store applies a decision only while its
//! preconditions hold.
//!
//! Every race here is staged, not hoped for: two decisions are computed from the same snapshot
//! and applied one after the other, through two separate connections to the same database, so
//! no lock in our process stands between them; the second must be refused. Device keys and
//! signatures come from openssl.

mod common;
mod devauth_support;

use admitd::storage::Storage;
use std::sync::Arc;

use admitd::devauth::postgres::PgDevauth;
use admitd::devauth::store::{DevauthStore, Records, StoreError};
use admitd::scep::postgres::PgStore;
use devauth::admission::{self, AdmissionPolicy, Decision};
use devauth::auth_request::{AuthRequestVerifier, VerifiedAuthRequest};
use devauth::model::{AuthSetStatus, DeviceStatus};
use devauth::store::Store as _;
use devauth::store::{MemStore, SnapshotKey};
use devauth::token::{Revocations, Standing};
use devauth_support::DeviceKey;

fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

fn verified(key: &DeviceKey, id_data: &str) -> VerifiedAuthRequest {
    let (body, sig) = key.request(id_data);
    AuthRequestVerifier::new(pki::provider::compiled()[0])
        .verify_bytes(sig.as_bytes(), &body)
        .expect("openssl-signed request verifies")
}

/// One database, two independent handles on it.
struct Db {
    _dir: Option<tempfile::TempDir>,
    a: Arc<dyn DevauthStore>,
    b: Arc<dyn DevauthStore>,
}

/// One SQLite database file, two connections.
fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admit.sqlite3");
    let a = Storage::open(&path).unwrap();
    let b = Storage::open(&path).unwrap();
    Db {
        _dir: Some(dir),
        a: Arc::new(a),
        b: Arc::new(b),
    }
}

/// A fresh PostgreSQL database `name` in `pg`, two pools.
fn postgres(pg: &testkit::postgres::Postgres, name: &str) -> Db {
    let url = pg.create_database(name);
    let open = || -> Arc<dyn DevauthStore> {
        Arc::new(PgDevauth::new(Arc::new(PgStore::open(&url, 2).unwrap())))
    };
    Db {
        _dir: None,
        a: open(),
        b: open(),
    }
}

/// A case of the suite: it opens its database through the function it is given.
type Case = fn(&dyn Fn() -> Db);

/// Every case of the suite, by name.
const CASES: &[(&str, Case)] = &[
    (
        "version",
        second_decision_from_the_same_snapshot_is_refused_on_the_device_version,
    ),
    (
        "limit",
        two_accepts_against_a_limit_of_one_cannot_both_apply,
    ),
    (
        "identity",
        two_first_requests_for_one_identity_make_one_device,
    ),
    ("attempts", stale_decisions_exhaust_their_attempts),
    ("reference", records_match_the_in_memory_reference_store),
];

#[test]
fn sqlite_keeps_the_rules() {
    for (_, case) in CASES {
        case(&sqlite);
    }
}

#[test]
fn postgres_keeps_the_rules() {
    let pg = testkit::postgres::Postgres::start();
    for (name, case) in CASES {
        let db = format!("devauth_{name}");
        case(&|| postgres(&pg, &db));
    }
}

fn stale<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
    match r {
        Err(StoreError::Stale(why)) => why,
        other => panic!("expected a stale refusal, got {other:?}"),
    }
}

/// A device that asked once: a pending device with one auth set.
fn pending_device(
    store: &Records<'_>,
    policy: &AdmissionPolicy,
    req: &VerifiedAuthRequest,
) -> (devauth::model::DeviceId, devauth::model::AuthSetId) {
    let answer = store
        .run(SnapshotKey::Identity(req.identity()), 3, |s| {
            admission::auth_request(policy, s, req, 100, &mut rng())
        })
        .unwrap();
    assert_eq!(answer, Err(devauth::Error::Pending));
    let rec = store.device_by_identity(req.identity()).unwrap().unwrap();
    (rec.device.id, rec.auth_sets[0].id)
}

fn second_decision_from_the_same_snapshot_is_refused_on_the_device_version(db: &dyn Fn() -> Db) {
    let tmp = tempfile::tempdir().unwrap();
    let db = db();
    let (s1, s2) = (Records(&*db.a), Records(&*db.b));
    let policy = AdmissionPolicy::default();
    let req = verified(
        &DeviceKey::ed25519(tmp.path()),
        r#"{"mac":"02:00:00:00:00:01"}"#,
    );
    let (dev, set) = pending_device(&s1, &policy, &req);

    // Two operators look at the same pending set: one accepts it, one rejects it.
    let snap = s1.snapshot(SnapshotKey::Device(dev)).unwrap();
    let accept = admission::set_status(&policy, &snap, set, AuthSetStatus::Accepted, 200);
    let reject = admission::set_status(&policy, &snap, set, AuthSetStatus::Rejected, 201);
    assert_eq!(accept.answer, Ok(()));
    assert_eq!(reject.answer, Ok(()));

    s1.apply(&accept.changes).unwrap();
    assert_eq!(stale(s2.apply(&reject.changes)), "the device changed");

    // The refused decision left nothing behind; deciding again sees the accepted set.
    let rec = s2.device(dev).unwrap().unwrap();
    assert_eq!(rec.status(), DeviceStatus::Accepted);
    assert_eq!(rec.version, snap.record.as_ref().unwrap().version + 1);
    let standing =
        |s: &Records<'_>, iat| s.standing(&set.to_string(), &dev.to_string(), iat).unwrap();
    assert_eq!(standing(&s2, 150), Standing::Good);
    s2.run(SnapshotKey::Device(dev), 3, |s| {
        admission::set_status(&policy, s, set, AuthSetStatus::Rejected, 202)
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        s1.device(dev).unwrap().unwrap().auth_sets[0].status,
        AuthSetStatus::Rejected
    );
    // Rejecting an accepted set revoked the tokens issued until then, and refuses later ones
    // too since the set is no longer accepted.
    assert_eq!(standing(&s1, 202), Standing::Revoked);
    assert_eq!(standing(&s1, 203), Standing::NotAccepted);
}

fn two_accepts_against_a_limit_of_one_cannot_both_apply(db: &dyn Fn() -> Db) {
    let tmp = tempfile::tempdir().unwrap();
    let db = db();
    let (s1, s2) = (Records(&*db.a), Records(&*db.b));
    let policy = AdmissionPolicy::default().with_max_devices(1);
    let ra = verified(&DeviceKey::ed25519(tmp.path()), r#"{"sn":"A"}"#);
    let rb = verified(&DeviceKey::p256(tmp.path()), r#"{"sn":"B"}"#);
    let (da, sa) = pending_device(&s1, &policy, &ra);
    let (db_, sb) = pending_device(&s2, &policy, &rb);

    // Both snapshots see 0 accepted devices; each decision alone is within the limit, and the
    // two touch different devices, so only the accepted-count precondition can catch this.
    let snap_a = s1.snapshot(SnapshotKey::Device(da)).unwrap();
    let snap_b = s2.snapshot(SnapshotKey::Device(db_)).unwrap();
    assert_eq!((snap_a.accepted_devices, snap_b.accepted_devices), (0, 0));
    let dec_a = admission::set_status(&policy, &snap_a, sa, AuthSetStatus::Accepted, 300);
    let dec_b = admission::set_status(&policy, &snap_b, sb, AuthSetStatus::Accepted, 300);
    assert_eq!((&dec_a.answer, &dec_b.answer), (&Ok(()), &Ok(())));

    s1.apply(&dec_a.changes).unwrap();
    assert_eq!(
        stale(s2.apply(&dec_b.changes)),
        "the number of accepted devices changed"
    );
    assert_eq!(s2.accepted_devices().unwrap(), 1);
    assert_eq!(
        s2.device(db_).unwrap().unwrap().status(),
        DeviceStatus::Pending
    );

    // Deciding again from a fresh snapshot gives the management API's 422 answer.
    let again = s2
        .run(SnapshotKey::Device(db_), 3, |s| {
            admission::set_status(&policy, s, sb, AuthSetStatus::Accepted, 301)
        })
        .unwrap();
    assert_eq!(again, Err(devauth::Error::LimitExceeded { limit: 1 }));
    assert_eq!(
        again.unwrap_err().status(),
        devauth::http::StatusCode::UNPROCESSABLE_ENTITY
    );
}

fn two_first_requests_for_one_identity_make_one_device(db: &dyn Fn() -> Db) {
    let tmp = tempfile::tempdir().unwrap();
    let db = db();
    let (s1, s2) = (Records(&*db.a), Records(&*db.b));
    let policy = AdmissionPolicy::default();
    let id = r#"{"mac":"02:00:00:00:00:09"}"#;
    let r1 = verified(&DeviceKey::ed25519(tmp.path()), id);
    let r2 = verified(&DeviceKey::ed25519(tmp.path()), id);

    let snap = s1.snapshot(SnapshotKey::Identity(r1.identity())).unwrap();
    assert!(snap.record.is_none());
    let d1 = admission::auth_request(&policy, &snap, &r1, 10, &mut rng());
    let d2 = admission::auth_request(&policy, &snap, &r2, 10, &mut rng());
    s1.apply(&d1.changes).unwrap();
    assert_eq!(
        stale(s2.apply(&d2.changes)),
        "a device with this identity exists"
    );

    // Recomputed, the second key becomes a second pending set on the same device.
    s2.run(SnapshotKey::Identity(r2.identity()), 3, |s| {
        admission::auth_request(&policy, s, &r2, 11, &mut rng())
    })
    .unwrap()
    .unwrap_err();
    let all = s1.devices().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].auth_sets.len(), 2);
    assert!(
        all[0]
            .auth_sets
            .iter()
            .all(|s| s.status == AuthSetStatus::Pending)
    );
}

fn stale_decisions_exhaust_their_attempts(db: &dyn Fn() -> Db) {
    let tmp = tempfile::tempdir().unwrap();
    let db = db();
    let s1 = Records(&*db.a);
    let s2 = Records(&*db.b);
    let policy = AdmissionPolicy::default();
    let req = verified(&DeviceKey::ed25519(tmp.path()), r#"{"sn":"busy"}"#);
    let (dev, set) = pending_device(&s1, &policy, &req);
    // Another writer changes the device between every snapshot and apply.
    let mut flip = AuthSetStatus::Rejected;
    let mut calls = 0;
    let r = s1.run(SnapshotKey::Device(dev), 4, |snap| {
        calls += 1;
        let d = admission::set_status(&policy, snap, set, AuthSetStatus::Accepted, 400);
        s2.run(SnapshotKey::Device(dev), 1, |s| {
            admission::set_status(&policy, s, set, flip, 400)
        })
        .unwrap()
        .unwrap();
        flip = if flip == AuthSetStatus::Rejected {
            AuthSetStatus::Pending
        } else {
            AuthSetStatus::Rejected
        };
        d
    });
    assert_eq!(stale(r), "the device changed");
    assert_eq!(calls, 4);
}

/// Apply one decision to both stores and return its answer.
fn both<A: Clone>(sql: &Records<'_>, mem: &MemStore, d: Decision<A>) -> A {
    sql.apply(&d.changes).unwrap();
    mem.apply(&d.changes).unwrap();
    d.answer
}

fn records_match_the_in_memory_reference_store(db: &dyn Fn() -> Db) {
    // The devauth crate's MemStore is the reference for what a store does with a decision;
    // the SQLite store must end up with the same records and the same revocations.
    let tmp = tempfile::tempdir().unwrap();
    let db = db();
    let sql = Records(&*db.a);
    let mem = MemStore::new();
    let policy = AdmissionPolicy::default().with_max_devices(5);
    let k1 = DeviceKey::ed25519(tmp.path());
    let k2 = DeviceKey::p256(tmp.path());
    let k3 = DeviceKey::ed25519(tmp.path());
    let id1 = r#"{"mac":"02:00:00:00:00:01","serial":"S1"}"#;
    let r1 = verified(&k1, id1);
    let r1b = verified(&k2, id1);
    let r3 = verified(&k3, r#"{"serial":"S3"}"#);
    let snap = |key: SnapshotKey<'_>| mem.snapshot(key);

    // Device 1 asks, is accepted, rotates its key, the new key is accepted.
    let d = admission::auth_request(
        &policy,
        &snap(SnapshotKey::Identity(r1.identity())),
        &r1,
        1,
        &mut rng(),
    );
    both(&sql, &mem, d).unwrap_err();
    let rec = mem
        .snapshot(SnapshotKey::Identity(r1.identity()))
        .record
        .unwrap();
    let (dev1, set1) = (rec.device.id, rec.auth_sets[0].id);
    let d = admission::set_status(
        &policy,
        &snap(SnapshotKey::Device(dev1)),
        set1,
        AuthSetStatus::Accepted,
        2,
    );
    both(&sql, &mem, d).unwrap();
    let d = admission::auth_request(
        &policy,
        &snap(SnapshotKey::Identity(r1.identity())),
        &r1,
        3,
        &mut rng(),
    );
    assert!(both(&sql, &mem, d).is_ok());
    let d = admission::auth_request(
        &policy,
        &snap(SnapshotKey::Identity(r1b.identity())),
        &r1b,
        4,
        &mut rng(),
    );
    both(&sql, &mem, d).unwrap_err();
    let set1b = mem.device(dev1).unwrap().auth_sets[1].id;
    let d = admission::set_status(
        &policy,
        &snap(SnapshotKey::Device(dev1)),
        set1b,
        AuthSetStatus::Accepted,
        5,
    );
    both(&sql, &mem, d).unwrap();

    // Device 3 is preauthorized, then asks with the matching key.
    let pre = admission::preauthorize(
        &snap(SnapshotKey::Identity(r3.identity())),
        r3.identity(),
        r3.pubkey(),
        false,
        6,
        &mut rng(),
    );
    let p = both(&sql, &mem, pre).unwrap();
    let d = admission::auth_request(
        &policy,
        &snap(SnapshotKey::Identity(r3.identity())),
        &r3,
        7,
        &mut rng(),
    );
    let grant = both(&sql, &mem, d).unwrap();
    assert_eq!(
        (grant.device_id, grant.auth_set_id),
        (p.device_id, p.auth_set_id)
    );

    // Device 1's old set is deleted; device 3 is decommissioned.
    let d = admission::delete_auth_set(&snap(SnapshotKey::Device(dev1)), set1, 8);
    both(&sql, &mem, d).unwrap();
    let d = admission::decommission(&snap(SnapshotKey::Device(p.device_id)), 9);
    both(&sql, &mem, d).unwrap();

    assert_eq!(sql.devices().unwrap(), mem.devices());
    assert_eq!(sql.accepted_devices().unwrap(), mem.accepted_devices());
    let (d1, d3) = (dev1.to_string(), p.device_id.to_string());
    for (jti, sub, iat) in [
        (set1, &d1, 4),
        (set1, &d1, 5),
        (set1, &d1, 8),
        (set1, &d1, 9),
        (set1b, &d1, 9),
        (p.auth_set_id, &d3, 9),
        (p.auth_set_id, &d3, 10),
    ] {
        assert_eq!(
            sql.standing(&jti.to_string(), sub, iat).unwrap(),
            mem.standing(&jti.to_string(), sub, iat).unwrap(),
            "{jti} at {iat}"
        );
    }
    assert_eq!(
        sql.standing(&set1.to_string(), &d1, 5).unwrap(),
        Standing::Revoked
    );
    assert_eq!(
        sql.standing(&p.auth_set_id.to_string(), &d3, 9).unwrap(),
        Standing::Revoked
    );
    assert_eq!(
        sql.standing(&p.auth_set_id.to_string(), &d3, 10).unwrap(),
        Standing::NotAccepted
    );
    assert_eq!(
        sql.standing(&set1b.to_string(), &d1, 9).unwrap(),
        Standing::Good
    );
    assert_eq!(
        sql.standing("not-a-uuid", &d1, 0).unwrap(),
        Standing::NotAccepted
    );
}
