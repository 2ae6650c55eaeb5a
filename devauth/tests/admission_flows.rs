//! The admission model end to end against the in-memory store: admit-on-request,
//! preauthorization, key rotation, manual transitions, the device limit, decommissioning, stale
//! decisions and concurrent accepts.

mod common;

use std::sync::Arc;

use common::*;
use devauth::Error;
use devauth::admission::{self, AdmissionPolicy, Decision, Precondition};
use devauth::auth_request::AuthRequestVerifier;
use devauth::identity::Identity;
use devauth::model::{AuthSetId, AuthSetStatus, DeviceId, DeviceStatus};
use devauth::pubkey::DevicePublicKey;
use devauth::store::{MemStore, SnapshotKey, Store as _};
use devauth::token::{self, IssuerConfig, TokenVerifier, Verdict};
use pki::key::PrivateKey;
use pki::provider::CryptoProvider;
use testkit::rng;

/// The device endpoint as a server wires it: verify, decide against the store, mint.
struct Server {
    provider: &'static dyn CryptoProvider,
    store: MemStore,
    policy: AdmissionPolicy,
    signing_key: Arc<dyn PrivateKey>,
}

impl Server {
    fn new(provider: &'static dyn CryptoProvider, policy: AdmissionPolicy) -> Self {
        let pem =
            String::from_utf8(vector("deviceauth/testdata/jwt_testdata_ed25519.pem")).expect("pem");
        Self {
            provider,
            store: MemStore::new(),
            policy,
            signing_key: token::load_signing_key(provider, &pem).expect("key"),
        }
    }

    fn auth(&self, dev: &TestDevice, now: u64) -> devauth::Result<String> {
        let req = AuthRequestVerifier::new(self.provider).verify(&dev.request())?;
        let mut rng = rng(now);
        let grant = self
            .store
            .run(SnapshotKey::Identity(req.identity()), 3, |snap| {
                admission::auth_request(&self.policy, snap, &req, now, &mut rng)
            })??;
        let claims = IssuerConfig::default().claims(&grant, None, now);
        token::mint(self.signing_key.as_ref(), &claims, &mut rng)
    }

    fn verifier(&self) -> TokenVerifier<'static> {
        TokenVerifier::new(self.provider, self.signing_key.spki().clone()).expect("verifier")
    }

    fn check(&self, token: &str, now: u64) -> Verdict {
        self.verifier().check(token, now, &self.store)
    }

    fn device_of(&self, dev: &TestDevice) -> devauth::model::DeviceRecord {
        let id = Identity::parse(&dev.id_data).expect("identity");
        self.store
            .snapshot(SnapshotKey::Identity(&id))
            .record
            .expect("device exists")
    }

    fn set_status(
        &self,
        device: DeviceId,
        set: AuthSetId,
        to: AuthSetStatus,
        now: u64,
    ) -> devauth::Result<()> {
        self.store.run(SnapshotKey::Device(device), 3, |snap| {
            admission::set_status(&self.policy, snap, set, to, now)
        })?
    }

    fn preauthorize(
        &self,
        dev: &TestDevice,
        force: bool,
        now: u64,
    ) -> devauth::Result<admission::Preauthorized> {
        let id = Identity::parse(&dev.id_data).expect("identity");
        let key = DevicePublicKey::from_pem(&dev.pubkey_pem()).expect("key");
        let mut rng = rng(now + 1000);
        self.store.run(SnapshotKey::Identity(&id), 3, |snap| {
            admission::preauthorize(snap, &id, &key, force, now, &mut rng)
        })?
    }
}

fn set_with_key(rec: &devauth::model::DeviceRecord, dev: &TestDevice) -> devauth::model::AuthSet {
    let key = DevicePublicKey::from_pem(&dev.pubkey_pem()).expect("key");
    rec.auth_sets
        .iter()
        .find(|s| s.pubkey == key)
        .cloned()
        .expect("set for key")
}

const T0: u64 = 1_700_000_000;

#[test]
fn admit_on_request() {
    for provider in providers() {
        let srv = Server::new(provider, AdmissionPolicy::default());
        let dev = TestDevice::ed25519(provider, 1, r#"{"mac":"02:00:00:00:00:01"}"#);

        assert_eq!(srv.auth(&dev, T0).unwrap_err(), Error::Pending);
        let rec = srv.device_of(&dev);
        assert_eq!(rec.status(), DeviceStatus::Pending);
        assert_eq!(rec.auth_sets.len(), 1);
        // Asking again changes nothing.
        assert_eq!(srv.auth(&dev, T0 + 1).unwrap_err(), Error::Pending);
        assert_eq!(srv.device_of(&dev), rec);

        let set = rec.auth_sets[0].id;
        srv.set_status(rec.device.id, set, AuthSetStatus::Accepted, T0 + 2)
            .expect("accept");
        assert_eq!(srv.store.accepted_devices(), 1);

        let t = srv.auth(&dev, T0 + 3).expect("token");
        let Verdict::Valid(v) = srv.check(&t, T0 + 4) else {
            panic!("token not valid")
        };
        assert_eq!(v.claims().sub, rec.device.id.to_string());
        assert_eq!(v.claims().jti, set.to_string());
        assert!(v.claims().device);
    }
}

#[test]
fn an_unsigned_request_creates_nothing() {
    let provider = providers()[0];
    let srv = Server::new(provider, AdmissionPolicy::default());
    let dev = TestDevice::ed25519(provider, 1, r#"{"mac":"02:00:00:00:00:01"}"#);
    let mut req = dev.request();
    req.body_mut().pop();
    let e = AuthRequestVerifier::new(provider).verify(&req).unwrap_err();
    assert_eq!(e, Error::SignatureInvalid);
    // A server cannot even reach the decision without a VerifiedAuthRequest; the store is empty.
    assert!(srv.store.devices().is_empty());
}

#[test]
fn preauthorized_device_gets_its_token_at_once() {
    for provider in providers() {
        let srv = Server::new(provider, AdmissionPolicy::default());
        let dev = TestDevice::ed25519(provider, 2, r#"{"serial":"SN-2"}"#);
        let p = srv.preauthorize(&dev, false, T0).expect("preauth");
        assert_eq!(srv.device_of(&dev).status(), DeviceStatus::Preauthorized);
        assert_eq!(srv.store.accepted_devices(), 0);

        let t = srv.auth(&dev, T0 + 1).expect("token on first request");
        let Verdict::Valid(v) = srv.check(&t, T0 + 1) else {
            panic!("token not valid")
        };
        assert_eq!(v.claims().sub, p.device_id.to_string());
        assert_eq!(v.claims().jti, p.auth_set_id.to_string());
        let rec = srv.device_of(&dev);
        assert_eq!(rec.status(), DeviceStatus::Accepted);
        assert_eq!(rec.auth_sets[0].status, AuthSetStatus::Accepted);
        assert_eq!(srv.store.accepted_devices(), 1);

        // The same identity with another key: a new pending set on the same device.
        let other = TestDevice::ed25519(provider, 3, r#"{"serial":"SN-2"}"#);
        assert_eq!(srv.auth(&other, T0 + 2).unwrap_err(), Error::Pending);
        let rec = srv.device_of(&other);
        assert_eq!(rec.device.id, p.device_id);
        assert_eq!(rec.auth_sets.len(), 2);
        assert_eq!(set_with_key(&rec, &other).status, AuthSetStatus::Pending);

        // Preauthorizing an existing identity conflicts, unless forced.
        let third = TestDevice::ed25519(provider, 4, r#"{"serial":"SN-2"}"#);
        assert_eq!(
            srv.preauthorize(&third, false, T0 + 3).unwrap_err(),
            Error::Conflict {
                device_id: p.device_id.to_string()
            }
        );
        let forced = srv.preauthorize(&third, true, T0 + 3).expect("forced");
        assert_eq!(forced.device_id, p.device_id);
        // Forcing again with a fourth key replaces the preauthorized set.
        let fourth = TestDevice::ed25519(provider, 5, r#"{"serial":"SN-2"}"#);
        srv.preauthorize(&fourth, true, T0 + 4).expect("forced");
        let rec = srv.device_of(&fourth);
        let pre: Vec<_> = rec
            .auth_sets
            .iter()
            .filter(|s| s.status == AuthSetStatus::Preauthorized)
            .collect();
        assert_eq!(pre.len(), 1);
        assert_eq!(pre[0].pubkey, set_with_key(&rec, &fourth).pubkey);
        // A key the device has in another status cannot be preauthorized.
        assert!(matches!(
            srv.preauthorize(&other, true, T0 + 5),
            Err(Error::Conflict { .. })
        ));
        // A preauthorized set changes only through the device's own request.
        assert!(matches!(
            srv.set_status(rec.device.id, pre[0].id, AuthSetStatus::Accepted, T0 + 6),
            Err(Error::TransitionNotAllowed { .. })
        ));
    }
}

#[test]
fn key_rotation_rejects_the_old_set_and_revokes_its_tokens() {
    for provider in providers() {
        let srv = Server::new(provider, AdmissionPolicy::default());
        let old = TestDevice::ed25519(provider, 10, r#"{"mac":"02:00:00:00:00:0a"}"#);
        let new = TestDevice::ed25519(provider, 11, r#"{"mac":"02:00:00:00:00:0a"}"#);
        srv.auth(&old, T0).unwrap_err();
        let rec = srv.device_of(&old);
        srv.set_status(
            rec.device.id,
            rec.auth_sets[0].id,
            AuthSetStatus::Accepted,
            T0 + 1,
        )
        .expect("accept");
        let old_token = srv.auth(&old, T0 + 2).expect("token");

        assert_eq!(srv.auth(&new, T0 + 3).unwrap_err(), Error::Pending);
        let rec = srv.device_of(&new);
        let new_set = set_with_key(&rec, &new);
        srv.set_status(rec.device.id, new_set.id, AuthSetStatus::Accepted, T0 + 4)
            .expect("accept new key");

        let rec = srv.device_of(&new);
        assert_eq!(set_with_key(&rec, &old).status, AuthSetStatus::Rejected);
        assert_eq!(set_with_key(&rec, &new).status, AuthSetStatus::Accepted);
        assert_eq!(srv.store.accepted_devices(), 1, "still one device");
        assert_eq!(
            srv.check(&old_token, T0 + 5),
            Verdict::Invalid(Error::TokenRevoked)
        );
        assert_eq!(srv.auth(&old, T0 + 5).unwrap_err(), Error::Rejected);
        let t = srv.auth(&new, T0 + 5).expect("token with the new key");
        assert!(matches!(srv.check(&t, T0 + 6), Verdict::Valid(_)));
    }
}

#[test]
fn manual_transitions_follow_the_rules() {
    use AuthSetStatus::*;
    let provider = providers()[0];
    let srv = Server::new(provider, AdmissionPolicy::default());
    let dev = TestDevice::ed25519(provider, 20, r#"{"mac":"02:00:00:00:00:14"}"#);
    srv.auth(&dev, T0).unwrap_err();
    let rec = srv.device_of(&dev);
    let (d, s) = (rec.device.id, rec.auth_sets[0].id);
    let mut now = T0;
    for (to, ok) in [
        (Rejected, true), // pending → rejected
        (Pending, true),  // rejected → pending
        (Accepted, true), // pending → accepted
        (Pending, true),  // accepted → pending (tokens revoked)
        (Rejected, true), // pending → rejected
        (Accepted, true), // rejected → accepted
        (Accepted, true), // no change
        (Rejected, true), // accepted → rejected (tokens revoked)
        (Preauthorized, false),
    ] {
        now += 10;
        let r = srv.set_status(d, s, to, now);
        assert_eq!(r.is_ok(), ok, "{to}: {r:?}");
        let status = srv.device_of(&dev).auth_sets[0].status;
        if ok {
            assert_eq!(status, to);
        }
        if status == Accepted {
            let t = srv.auth(&dev, now + 1).expect("token");
            assert!(matches!(srv.check(&t, now + 1), Verdict::Valid(_)));
            // Leave accepted at the next step and check the token is revoked then.
            let next_now = now + 5;
            let r = srv.set_status(d, s, Pending, next_now);
            r.expect("accepted → pending");
            assert_eq!(
                srv.check(&t, next_now),
                Verdict::Invalid(Error::TokenRevoked)
            );
            srv.set_status(d, s, Accepted, next_now + 1)
                .expect("back to accepted");
        }
    }
    assert_eq!(
        srv.set_status(
            d,
            AuthSetId::parse("00000000-0000-4000-8000-000000000000").expect("id"),
            Accepted,
            now
        )
        .unwrap_err(),
        Error::NotFound("auth set")
    );
    assert_eq!(
        srv.set_status(
            DeviceId::parse("00000000-0000-4000-8000-000000000000").expect("id"),
            s,
            Accepted,
            now
        )
        .unwrap_err(),
        Error::NotFound("device")
    );
}

#[test]
fn device_limit_on_both_sides() {
    let provider = providers()[0];
    let srv = Server::new(provider, AdmissionPolicy::default().with_max_devices(1));
    let a = TestDevice::ed25519(provider, 30, r#"{"mac":"a"}"#);
    let b = TestDevice::ed25519(provider, 31, r#"{"mac":"b"}"#);
    let c = TestDevice::ed25519(provider, 32, r#"{"mac":"c"}"#);
    srv.auth(&a, T0).unwrap_err();
    let ra = srv.device_of(&a);
    srv.set_status(
        ra.device.id,
        ra.auth_sets[0].id,
        AuthSetStatus::Accepted,
        T0 + 1,
    )
    .expect("first accept");
    srv.auth(&b, T0 + 2).unwrap_err();
    let rb = srv.device_of(&b);
    let e = srv
        .set_status(
            rb.device.id,
            rb.auth_sets[0].id,
            AuthSetStatus::Accepted,
            T0 + 3,
        )
        .unwrap_err();
    assert_eq!(e, Error::LimitExceeded { limit: 1 });
    assert_eq!(e.status(), devauth::http::StatusCode::UNPROCESSABLE_ENTITY);
    // Device side: a preauthorized device over the limit is refused with 401.
    srv.preauthorize(&c, false, T0 + 4).expect("preauth");
    let e = srv.auth(&c, T0 + 5).unwrap_err();
    assert_eq!(e, Error::DeviceLimitReached { limit: 1 });
    assert_eq!(e.status(), devauth::http::StatusCode::UNAUTHORIZED);
    // Rotating the accepted device's key does not count as one more device.
    let a2 = TestDevice::ed25519(provider, 33, r#"{"mac":"a"}"#);
    srv.auth(&a2, T0 + 6).unwrap_err();
    let ra = srv.device_of(&a2);
    srv.set_status(
        ra.device.id,
        set_with_key(&ra, &a2).id,
        AuthSetStatus::Accepted,
        T0 + 7,
    )
    .expect("rotation under the limit");
    assert_eq!(srv.store.accepted_devices(), 1);
    // Rejecting A frees the slot.
    srv.set_status(
        ra.device.id,
        set_with_key(&ra, &a2).id,
        AuthSetStatus::Rejected,
        T0 + 8,
    )
    .expect("reject");
    assert_eq!(srv.store.accepted_devices(), 0);
    srv.auth(&c, T0 + 9).expect("now within the limit");
}

#[test]
fn decommissioning_revokes_and_starts_over() {
    for provider in providers() {
        let srv = Server::new(provider, AdmissionPolicy::default());
        let dev = TestDevice::ed25519(provider, 40, r#"{"mac":"02:00:00:00:00:28"}"#);
        srv.auth(&dev, T0).unwrap_err();
        let rec = srv.device_of(&dev);
        srv.set_status(
            rec.device.id,
            rec.auth_sets[0].id,
            AuthSetStatus::Accepted,
            T0 + 1,
        )
        .expect("accept");
        let t = srv.auth(&dev, T0 + 2).expect("token");

        srv.store
            .run(SnapshotKey::Device(rec.device.id), 3, |snap| {
                admission::decommission(snap, T0 + 3)
            })
            .expect("applied")
            .expect("decommissioned");
        assert!(srv.store.device(rec.device.id).is_none());
        assert_eq!(srv.store.accepted_devices(), 0);
        assert_eq!(srv.check(&t, T0 + 4), Verdict::Invalid(Error::TokenRevoked));
        // Decommissioning an unknown device is 404.
        let again = srv
            .store
            .run(SnapshotKey::Device(rec.device.id), 3, |snap| {
                admission::decommission(snap, T0 + 5)
            });
        assert_eq!(
            again.expect("applied").unwrap_err(),
            Error::NotFound("device")
        );

        assert_eq!(srv.auth(&dev, T0 + 6).unwrap_err(), Error::Pending);
        let fresh = srv.device_of(&dev);
        assert_ne!(fresh.device.id, rec.device.id);
        assert_eq!(fresh.status(), DeviceStatus::Pending);
    }
}

#[test]
fn deleting_the_accepted_set_revokes_and_leaves_noauth() {
    let provider = providers()[0];
    let srv = Server::new(provider, AdmissionPolicy::default());
    let dev = TestDevice::ed25519(provider, 50, r#"{"mac":"x"}"#);
    srv.auth(&dev, T0).unwrap_err();
    let rec = srv.device_of(&dev);
    let set = rec.auth_sets[0].id;
    srv.set_status(rec.device.id, set, AuthSetStatus::Accepted, T0 + 1)
        .expect("accept");
    let t = srv.auth(&dev, T0 + 2).expect("token");
    srv.store
        .run(SnapshotKey::Device(rec.device.id), 3, |snap| {
            admission::delete_auth_set(snap, set, T0 + 3)
        })
        .expect("applied")
        .expect("deleted");
    assert_eq!(srv.check(&t, T0 + 4), Verdict::Invalid(Error::TokenRevoked));
    let rec = srv.store.device(rec.device.id).expect("device stays");
    assert_eq!(rec.status(), DeviceStatus::Noauth);
    assert_eq!(srv.store.accepted_devices(), 0);
    // DELETE /tokens/{jti} revokes too.
    let d = admission::revoke_token("not-a-uuid", T0);
    assert_eq!(d.answer, Err(Error::NotFound("token")));
}

#[test]
fn two_decisions_from_one_snapshot_the_second_is_refused() {
    let provider = providers()[0];
    let store = MemStore::new();
    let policy = AdmissionPolicy::default().with_max_devices(10);
    let dev = TestDevice::ed25519(provider, 60, r#"{"mac":"y"}"#);
    let req = AuthRequestVerifier::new(provider)
        .verify(&dev.request())
        .expect("verified");

    // Two first requests for one identity, decided from the same empty snapshot.
    let snap = store.snapshot(SnapshotKey::Identity(req.identity()));
    let d1 = admission::auth_request(&policy, &snap, &req, T0, &mut rng(1));
    let d2 = admission::auth_request(&policy, &snap, &req, T0, &mut rng(2));
    assert!(d1.changes.iter().all(|c| c.requires
        == vec![Precondition::IdentityFree {
            identity_hash: req.identity().hash()
        }]));
    store.apply(&d1.changes).expect("first applies");
    assert_eq!(
        store.apply(&d2.changes).unwrap_err(),
        Error::StaleSnapshot("a device with this identity exists")
    );
    assert_eq!(store.devices().len(), 1);

    // Two status changes decided from the same snapshot of the device.
    let rec = store.devices().remove(0);
    let snap = store.snapshot(SnapshotKey::Device(rec.device.id));
    let set = rec.auth_sets[0].id;
    let accept = admission::set_status(&policy, &snap, set, AuthSetStatus::Accepted, T0 + 1);
    let reject = admission::set_status(&policy, &snap, set, AuthSetStatus::Rejected, T0 + 1);
    assert!(accept.changes.iter().any(|c| {
        c.requires
            .contains(&Precondition::AcceptedCount { expected: 0 })
    }));
    store.apply(&accept.changes).expect("accept applies");
    assert_eq!(
        store.apply(&reject.changes).unwrap_err(),
        Error::StaleSnapshot("the device changed")
    );
    assert_eq!(
        store.device(rec.device.id).expect("dev").auth_sets[0].status,
        AuthSetStatus::Accepted
    );

    // Two accepts of different devices from snapshots taken at the same count: the count
    // precondition refuses the second even though the devices differ.
    let mut pending = Vec::new();
    for (i, mac) in ["p", "q"].iter().enumerate() {
        let d = TestDevice::ed25519(provider, 70 + i as u64, &format!("{{\"mac\":\"{mac}\"}}"));
        let r = AuthRequestVerifier::new(provider)
            .verify(&d.request())
            .expect("ok");
        store
            .run(SnapshotKey::Identity(r.identity()), 1, |s| {
                admission::auth_request(&policy, s, &r, T0, &mut rng(3 + i as u64))
            })
            .expect("stored")
            .unwrap_err();
        pending.push(store.snapshot(SnapshotKey::Identity(r.identity())));
    }
    let decide = |snap: &admission::Snapshot| -> Decision<devauth::Result<()>> {
        let rec = snap.record.as_ref().expect("rec");
        admission::set_status(
            &policy,
            snap,
            rec.auth_sets[0].id,
            AuthSetStatus::Accepted,
            T0 + 2,
        )
    };
    let (a, b) = (decide(&pending[0]), decide(&pending[1]));
    store.apply(&a.changes).expect("first accept");
    assert_eq!(
        store.apply(&b.changes).unwrap_err(),
        Error::StaleSnapshot("the number of accepted devices changed")
    );
    // Deciding again from a fresh snapshot succeeds.
    let fresh = store.snapshot(SnapshotKey::Device(
        pending[1].record.as_ref().expect("r").device.id,
    ));
    store.apply(&decide(&fresh).changes).expect("recomputed");
    assert_eq!(store.accepted_devices(), 3);
}

#[test]
fn parallel_accepts_never_exceed_the_limit() {
    const DEVICES: usize = 40;
    const LIMIT: u64 = 7;
    let provider = providers()[0];
    let store = MemStore::new();
    let policy = AdmissionPolicy::default().with_max_devices(LIMIT);
    let mut ids = Vec::new();
    for i in 0..DEVICES {
        let dev = TestDevice::ed25519(provider, 1000 + i as u64, &format!("{{\"n\":{i}}}"));
        let req = AuthRequestVerifier::new(provider)
            .verify(&dev.request())
            .expect("ok");
        store
            .run(SnapshotKey::Identity(req.identity()), 1, |s| {
                admission::auth_request(&policy, s, &req, T0, &mut rng(i as u64))
            })
            .expect("stored")
            .unwrap_err();
        let rec = store
            .snapshot(SnapshotKey::Identity(req.identity()))
            .record
            .expect("rec");
        ids.push((rec.device.id, rec.auth_sets[0].id));
    }
    let store = &store;
    let results: Vec<devauth::Result<devauth::Result<()>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ids
            .chunks(DEVICES / 8)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(d, s)| {
                            store.run(SnapshotKey::Device(*d), 1000, |snap| {
                                std::thread::yield_now();
                                admission::set_status(
                                    &policy,
                                    snap,
                                    *s,
                                    AuthSetStatus::Accepted,
                                    T0 + 1,
                                )
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let accepted = results.iter().filter(|r| matches!(r, Ok(Ok(())))).count();
    let refused = results
        .iter()
        .filter(|r| matches!(r, Ok(Err(Error::LimitExceeded { limit: LIMIT }))))
        .count();
    assert_eq!(
        (accepted, refused),
        (LIMIT as usize, DEVICES - LIMIT as usize),
        "{results:?}"
    );
    assert_eq!(store.accepted_devices(), LIMIT);
    let counted = store
        .devices()
        .iter()
        .filter(|r| r.status() == DeviceStatus::Accepted)
        .count();
    assert_eq!(counted as u64, LIMIT);
}

#[test]
fn captured_clients_are_admitted_through_the_model() {
    // The real Mender client's captured requests run through the whole flow.
    for provider in providers() {
        let srv = Server::new(provider, AdmissionPolicy::default());
        let verifier = AuthRequestVerifier::new(provider);
        for (k, dir) in case_dirs("mender-client-3.4", "").into_iter().enumerate() {
            let body = read(&dir.join("body.bin"));
            let sig = String::from_utf8(read(&dir.join("x-men-signature.b64"))).expect("ascii");
            let req = verifier
                .verify_parts(&headers(&sig), &body)
                .expect("verifies");
            let decide = |now: u64| {
                srv.store
                    .run(SnapshotKey::Identity(req.identity()), 3, |snap| {
                        admission::auth_request(
                            &srv.policy,
                            snap,
                            &req,
                            now,
                            &mut rng(now * 10 + k as u64),
                        )
                    })
                    .expect("applied")
            };
            // Every capture has the same identity: each new key is a new pending set on one
            // device.
            assert_eq!(decide(T0).unwrap_err(), Error::Pending);
            let rec = srv
                .store
                .snapshot(SnapshotKey::Identity(req.identity()))
                .record
                .expect("rec");
            let set = rec
                .auth_sets
                .iter()
                .find(|s| s.pubkey == *req.pubkey())
                .expect("set");
            srv.set_status(rec.device.id, set.id, AuthSetStatus::Accepted, T0 + 1)
                .expect("accept");
            let grant = decide(T0 + 2).expect("grant");
            assert_eq!(grant.auth_set_id, set.id);
        }
        assert_eq!(srv.store.devices().len(), 1);
        assert_eq!(srv.store.devices()[0].auth_sets.len(), 6);
        assert_eq!(srv.store.accepted_devices(), 1);
    }
}

#[test]
fn a_rejected_set_refuses_its_token_even_when_the_clock_stepped_back() {
    let provider = providers()[0];
    let srv = Server::new(provider, AdmissionPolicy::default());
    let dev = TestDevice::ed25519(provider, 60, r#"{"mac":"02:00:00:00:00:3c"}"#);
    srv.auth(&dev, T0).unwrap_err();
    let rec = srv.device_of(&dev);
    let set = rec.auth_sets[0].id;
    srv.set_status(rec.device.id, set, AuthSetStatus::Accepted, T0 + 1)
        .expect("accept");
    // Issued at T0 + 100 ...
    let t = srv.auth(&dev, T0 + 100).expect("token");
    assert!(matches!(srv.check(&t, T0 + 101), Verdict::Valid(_)));
    // ... then rejected by a server whose clock went back to T0 + 50: the revocation time is
    // before the token's iat, but the set is no longer accepted.
    srv.set_status(rec.device.id, set, AuthSetStatus::Rejected, T0 + 50)
        .expect("reject");
    assert_eq!(
        srv.check(&t, T0 + 102),
        Verdict::Invalid(Error::TokenRevoked)
    );
    // A token naming a device or set the store does not know is refused too.
    let dev2 = TestDevice::ed25519(provider, 61, r#"{"mac":"02:00:00:00:00:3d"}"#);
    let other = Server::new(provider, AdmissionPolicy::default());
    other.auth(&dev2, T0).unwrap_err();
    let rec2 = other.device_of(&dev2);
    other
        .set_status(
            rec2.device.id,
            rec2.auth_sets[0].id,
            AuthSetStatus::Accepted,
            T0 + 1,
        )
        .expect("accept");
    let foreign = other.auth(&dev2, T0 + 2).expect("token");
    assert_eq!(
        srv.check(&foreign, T0 + 3),
        Verdict::Invalid(Error::TokenRevoked)
    );
}
