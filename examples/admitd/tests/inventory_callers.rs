//! The access decision as each caller asks it: SCEP issuance, certificate renewal and the
//! device-auth token, each refused for an unapproved device and for an inactive owner (SCIM),
//! and allowed again after approval or reactivation. (MDM enrollment asks through
//! `inventory::Service::decide` in the MDM core.)

mod backend;
mod common;
mod devauth_support;
mod inventory_support;
mod scep_support;

use std::sync::Arc;

use admitd::inventory::{Service, Settings};
use admitd::records::Db;
use backend::Backend;
use devauth_support::DeviceKey;
use inventory_support::Server;
use pki::x509_cert::Certificate;
use scep::{CertRepOutcome, FailInfo};
use scep_support::*;
use serde_json::json;

const PATH: &str = "/scep";
const FLAGS: &[&str] = &[
    "--scep-cert-validity-s",
    "600",
    "--scep-renewal-window-s",
    "1200",
];

fn service(server: &Server) -> Service {
    let db = Db::Sqlite(Arc::new(
        admitd::storage::Storage::open(&server.data.join("admit.sqlite3")).unwrap(),
    ));
    Service::new(db, Settings::default())
}

fn refusal(outcome: &CertRepOutcome) -> String {
    match outcome {
        CertRepOutcome::Failure { fail_info, text } => {
            assert_eq!(*fail_info, FailInfo::BadRequest);
            text.clone().unwrap_or_default()
        }
        other => panic!("expected FAILURE, got {other:?}"),
    }
}

fn issued(outcome: &CertRepOutcome, device: &Device) -> Certificate {
    match outcome {
        CertRepOutcome::Success(_) => outcome
            .certificate_for(device.key.spki())
            .expect("the issued certificate")
            .clone(),
        other => panic!("expected SUCCESS, got {other:?}"),
    }
}

fn set_active(s: &Server, user: &str, active: bool) {
    let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": active}}]});
    assert_eq!(
        s.scim("PATCH", &format!("/Users/{user}"), Some(&body))
            .status,
        200
    );
}

fn scim_user(s: &Server, email: &str) -> String {
    let r = s.scim(
        "POST",
        "/Users",
        Some(&json!({"userName": email, "active": true})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

fn import(s: &Server, serial: &str, owner: &str) {
    let r = s.admin(
        "PUT",
        &format!("/api/v1/collections/default/instances/{serial}"),
        Some(&json!({"data": {"acme:identity": owner}})),
    );
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
}

#[test]
fn scep_issuance_refused_until_approved_and_while_the_owner_is_inactive() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start_with(
        tmp.path(),
        &Backend::Sqlite,
        "enforce = [\"scep_issuance\"]",
        FLAGS,
    );
    let svc = service(&s);
    let client = client(s.admitd.http, PATH);
    let challenge = new_challenge(common::ADMITD, &s.data);
    // Not in the inventory.
    let d = Device::new("J2LXK1ABJG5M", 1);
    let text = refusal(&enrol(
        &client,
        s.admitd.http,
        PATH,
        &d,
        Some(&challenge),
        true,
        2,
    ));
    assert!(text.contains("unknown_device"), "{text}");
    // Self-enrolled, waiting for approval; the challenge is not spent by a refusal.
    svc.record_mdm_enrollment("C02XK1ABJG5J", None).unwrap();
    let d = Device::new("C02XK1ABJG5J", 3);
    let text = refusal(&enrol(
        &client,
        s.admitd.http,
        PATH,
        &d,
        Some(&challenge),
        true,
        4,
    ));
    assert!(
        text.contains("not_approved") && text.contains("C02XK1ABJG5J"),
        "{text}"
    );
    let r = s.admin(
        "POST",
        "/api/v1/collections/default/instances/C02XK1ABJG5J/approve",
        None,
    );
    assert_eq!(r.status, 200);
    issued(
        &enrol(&client, s.admitd.http, PATH, &d, Some(&challenge), true, 5),
        &d,
    );
    // Imported for an owner the directory deactivated.
    let ada = scim_user(&s, "ada@example.com");
    import(&s, "F2LXK1ABJG5K", "ada@example.com");
    set_active(&s, &ada, false);
    let d = Device::new("F2LXK1ABJG5K", 6);
    let c2 = new_challenge(common::ADMITD, &s.data);
    let text = refusal(&enrol(&client, s.admitd.http, PATH, &d, Some(&c2), true, 7));
    assert!(text.contains("owner_inactive"), "{text}");
    set_active(&s, &ada, true);
    issued(
        &enrol(&client, s.admitd.http, PATH, &d, Some(&c2), true, 8),
        &d,
    );
}

#[test]
fn renewal_refused_for_unapproved_devices_and_inactive_owners() {
    let tmp = tempfile::tempdir().unwrap();
    // Issuance is not enforced here, so devices get a first certificate to renew.
    let s = Server::start_with(
        tmp.path(),
        &Backend::Sqlite,
        "enforce = [\"renewal\"]",
        FLAGS,
    );
    let svc = service(&s);
    let client = client(s.admitd.http, PATH);
    let renew = |d: &Device, cert: &Certificate, seed: u64| {
        let renewing = Device {
            key: d.key.clone(),
            cert: cert.clone(),
            cn: d.cn.clone(),
        };
        let out = enrol(&client, s.admitd.http, PATH, &renewing, None, true, seed);
        (renewing, out)
    };
    // A pending (self-enrolled) device's renewal is refused.
    svc.record_mdm_enrollment("C02XK1ABJG5J", None).unwrap();
    let p = Device::new("C02XK1ABJG5J", 10);
    let c = new_challenge(common::ADMITD, &s.data);
    let first = issued(
        &enrol(&client, s.admitd.http, PATH, &p, Some(&c), true, 11),
        &p,
    );
    let text = refusal(&renew(&p, &first, 12).1);
    assert!(text.contains("not_approved"), "{text}");
    // An owned device renews while the owner is active, not while deactivated, and again
    // after reactivation (no re-enrollment).
    let ada = scim_user(&s, "ada@example.com");
    import(&s, "F2LXK1ABJG5K", "ada@example.com");
    let o = Device::new("F2LXK1ABJG5K", 13);
    let c = new_challenge(common::ADMITD, &s.data);
    let first = issued(
        &enrol(&client, s.admitd.http, PATH, &o, Some(&c), true, 14),
        &o,
    );
    let (r, out) = renew(&o, &first, 15);
    let second = issued(&out, &r);
    set_active(&s, &ada, false);
    let text = refusal(&renew(&o, &second, 16).1);
    assert!(text.contains("owner_inactive"), "{text}");
    set_active(&s, &ada, true);
    let (r, out) = renew(&o, &second, 17);
    issued(&out, &r);
}

#[test]
fn device_auth_token_refused_for_unapproved_devices_and_inactive_owners() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(
        tmp.path(),
        &Backend::Sqlite,
        "enforce = [\"device_auth_token\"]",
    );
    let svc = service(&s);
    let api = devauth_support::Api::new(&s.admitd, &s.data, &s.dir);
    let key = DeviceKey::ed25519(&s.dir);
    // Preauthorized in device auth, so only the inventory stands in the way.
    let preauth = |id: &str, key: &DeviceKey| {
        let body = json!({"identity_data": serde_json::from_str::<serde_json::Value>(id).unwrap(), "pubkey": key.pubkey_pem, "force": false});
        assert_eq!(
            api.call("POST", "/devices", Some(&body.to_string())).status,
            201
        );
    };
    let pending = r#"{"serial_number":"C02XK1ABJG5J","mac":"02:00:00:00:00:01"}"#;
    preauth(pending, &key);
    svc.record_mdm_enrollment("C02XK1ABJG5J", None).unwrap();
    let (body, sig) = key.request(pending);
    let r = api.auth_request(&body, &sig);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.body.contains("not_approved"), "{}", r.body);
    assert_eq!(
        s.admin(
            "POST",
            "/api/v1/collections/default/instances/C02XK1ABJG5J/approve",
            None
        )
        .status,
        200
    );
    let r = api.auth_request(&body, &sig);
    assert_eq!(r.status, 200, "{r:?}");
    // An owned device: refused while the owner is deactivated, then allowed again.
    let ada = scim_user(&s, "ada@example.com");
    import(&s, "F2LXK1ABJG5K", "ada@example.com");
    let key2 = DeviceKey::p256(&s.dir);
    let owned = r#"{"serial_number":"F2LXK1ABJG5K"}"#;
    preauth(owned, &key2);
    set_active(&s, &ada, false);
    let (body, sig) = key2.request(owned);
    let r = api.auth_request(&body, &sig);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.body.contains("owner_inactive"), "{}", r.body);
    set_active(&s, &ada, true);
    let (body, sig) = key2.request(owned);
    assert_eq!(api.auth_request(&body, &sig).status, 200);
    // A device without any instance ID attribute is refused while tokens are enforced.
    let key3 = DeviceKey::ed25519(&s.dir);
    let (body, sig) = key3.request(r#"{"mac":"02:00:00:00:00:03"}"#);
    let r = api.auth_request(&body, &sig);
    assert!(
        r.status == 401 && r.body.contains("unknown_device"),
        "{r:?}"
    );
}
