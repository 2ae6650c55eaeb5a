//! The device inventory through admitd's admin API and its service, on SQLite and PostgreSQL:
//! API import (single and bulk), approval, the dashboard, the access decision with owners
//! deactivated through SCIM, and bad input.

mod backend;
mod common;
mod inventory_support;

use std::sync::Arc;

use admitd::inventory::{Outcome, Service, Settings};
use admitd::records::Db;
use backend::Backend;
use base64::Engine as _;
use inventory::{Approval, Assurance, InstanceId, Purpose, Rule, Source};
use inventory_support::{Server, enc};
use serde_json::{Value, json};
use sha2::Digest as _;

/// An EK URI computed here from an SPKI-shaped blob (independently of the server), whose
/// base64 holds '/' and '+'.
fn ek_uri(seed: u8) -> String {
    for extra in 0u8..=255 {
        let d = sha2::Sha256::digest([0x30, 0x59, seed, extra]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(d);
        if b64.contains('/') && b64.contains('+') {
            return format!("urn:ek:sha256:{b64}");
        }
    }
    unreachable!("some digest has both characters")
}

/// The inventory service on the same database the server uses, for steps that have no HTTP
/// route in this feature (MDM enrollment is wired by the MDM core).
fn service(backend: &Backend, server: &Server, settings: Settings) -> Service {
    let db = match backend {
        Backend::Sqlite => Db::Sqlite(Arc::new(
            admitd::storage::Storage::open(&server.data.join("admit.sqlite3")).unwrap(),
        )),
        Backend::Postgres(_, url) => Db::Postgres {
            pg: Arc::new(admitd::scep::postgres::PgStore::open(url, 2).unwrap()),
            lock: admitd::records::INVENTORY_LOCK,
        },
    };
    Service::new(db, settings)
}

#[test]
fn import_api_and_dashboard() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start(tmp.path(), &backend, "");
        let b = backend.name();
        let ek = ek_uri(1);
        let path = format!("/api/v1/collections/default/instances/{}", enc(&ek));
        // Create, then update.
        let r = s.admin(
            "PUT",
            &path,
            Some(&json!({"data": {"acme:identity": "ada@example.com"}})),
        );
        assert_eq!(r.status, 201, "[{b}] {}", r.body);
        let d = r.json();
        assert_eq!(d["instance_id"], json!(ek));
        assert_eq!(
            (
                d["kind"].clone(),
                d["source"].clone(),
                d["approval"].clone(),
                d["assurance"].clone()
            ),
            (
                json!("ek"),
                json!("api_import"),
                json!("approved"),
                json!("normal")
            )
        );
        let r = s.admin(
            "PUT",
            &path,
            Some(&json!({"data": {"acme:identity": "Grace@Example.com"}})),
        );
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        assert_eq!(
            s.admin("GET", &path, None).json()["owner"],
            json!("grace@example.com")
        );
        // The same instance in another collection is a conflict; nothing moves.
        let other = format!("/api/v1/collections/laptops/instances/{}", enc(&ek));
        let r = s.admin("PUT", &other, Some(&json!({"data": {}})));
        assert_eq!(r.status, 409, "[{b}] {}", r.body);
        assert_eq!(
            s.admin("GET", &path, None).json()["collection"],
            json!("default")
        );
        // An EK URI with bad base64 (URL-safe alphabet, no padding) is refused and not stored.
        let bad = ek
            .replace('+', "-")
            .replace('/', "_")
            .trim_end_matches('=')
            .to_owned();
        let r = s.admin(
            "PUT",
            &format!("/api/v1/collections/default/instances/{}", enc(&bad)),
            Some(&json!({"data": {}})),
        );
        assert_eq!(r.status, 400, "[{b}] {}", r.body);
        assert!(
            r.json()["error"].as_str().unwrap().contains("base64"),
            "{}",
            r.body
        );
        // Unknown data keys, a bad owner, a wrong token, plain text.
        let serial = "/api/v1/collections/default/instances/C02XK1ABJG5J";
        for body in [
            json!({"data": {"other:identity": "a@b.c"}}),
            json!({"data": {"acme:identity": "not an email"}}),
            json!({"data": {}, "x": 1}),
        ] {
            assert_eq!(
                s.admin("PUT", serial, Some(&body)).status,
                400,
                "[{b}] {body}"
            );
        }
        let r = s.call(
            "PUT",
            serial,
            "Bearer wrong-token-wrong-token",
            Some(("application/json", "{\"data\":{}}")),
        );
        assert_eq!(r.status, 401);
        assert_eq!(
            backend.count(&s.data, "SELECT COUNT(*) FROM inventory_devices"),
            1,
            "[{b}]"
        );
        // Bulk, JSON: a per-row report; bad rows do not stop good ones.
        let rows = json!({"devices": [
            {"instance_id": "C02XK1ABJG5J", "identity": "ada@example.com"},
            {"instance_id": ek, "identity": "ada@example.com"},
            {"instance_id": "x!", "identity": "ada@example.com"},
            {"instance_id": "c02xk1abjg5j"},
            {"instance_id": "F2LXK1ABJG5K", "identity": "nobody"},
            {"instance_id": ek_uri(2), "collection": "laptops"}
        ]});
        let r = s.admin("POST", "/api/v1/inventory/import", Some(&rows));
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        let rep = r.json();
        assert_eq!(
            (
                rep["created"].clone(),
                rep["updated"].clone(),
                rep["rejected"].clone()
            ),
            (json!(2), json!(1), json!(3)),
            "[{b}] {rep}"
        );
        let results: Vec<Value> = rep["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["result"].clone())
            .collect();
        assert_eq!(
            results,
            vec![
                json!("created"),
                json!("updated"),
                json!("rejected"),
                json!("rejected"),
                json!("rejected"),
                json!("created")
            ]
        );
        assert!(
            rep["rows"][3]["reason"]
                .as_str()
                .unwrap()
                .contains("duplicate"),
            "{rep}"
        );
        // Bulk, CSV.
        let csv = "instance_id,identity\nC02XK1ABJG5J,grace@example.com\n\"H2LXK1ABJG5L\",ada@example.com\nurn:ek:sha256:abc,ada@example.com\n";
        let r = s.call(
            "POST",
            "/api/v1/inventory/import?collection=default",
            &format!("Bearer {}", s.admin_token),
            Some(("text/csv", csv)),
        );
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        let rep = r.json();
        assert_eq!(
            (
                rep["created"].clone(),
                rep["updated"].clone(),
                rep["rejected"].clone()
            ),
            (json!(1), json!(1), json!(1)),
            "[{b}] {rep}"
        );
        // Too many rows: 413, nothing imported.
        let big: String = std::iter::once("instance_id".to_owned())
            .chain((0..10_001).map(|i| format!("S{i:011}")))
            .collect::<Vec<_>>()
            .join("\n");
        let r = s.call(
            "POST",
            "/api/v1/inventory/import",
            &format!("Bearer {}", s.admin_token),
            Some(("text/csv", &big)),
        );
        assert_eq!(r.status, 413, "[{b}] {}", r.body);
        assert_eq!(
            backend.count(&s.data, "SELECT COUNT(*) FROM inventory_devices"),
            4,
            "[{b}]"
        );
        // The dashboard.
        let dash = s.admin("GET", "/api/v1/inventory/dashboard", None).json();
        assert_eq!(dash["total"], json!(4), "[{b}] {dash}");
        assert_eq!(dash["by_approval"], json!({"approved": 4, "pending": 0}));
        assert_eq!(dash["by_source"]["api_import"], json!(4));
        assert_eq!(dash["by_source"]["self_enrolled"], json!(0));
        assert_eq!(dash["by_assurance"], json!({"high": 0, "normal": 4}));
        assert_eq!(dash["recent"].as_array().unwrap().len(), 4);
    }
}

#[test]
fn rules_and_decision_with_scim_owners() {
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let s = Server::start(
            tmp.path(),
            &backend,
            "high_assurance_for = [\"device_auth_token\"]",
        );
        let b = backend.name();
        let settings = Settings {
            high_assurance_for: vec!["device_auth_token".into()],
            org: "acme".into(),
            ..Settings::default()
        };
        let svc = service(&backend, &s, settings);
        // A manual MDM enrollment without a named owner is a self-enrollment: pending.
        let (rec, outcome) = svc.record_mdm_enrollment("C02XK1ABJG5J", None).unwrap();
        assert_eq!(
            (outcome, rec.device.source, rec.device.approval),
            (Outcome::Created, Source::SelfEnrolled, Approval::Pending)
        );
        let serial = rec.device.instance_id.clone();
        let refusal = svc.decide(&serial, Purpose::ScepIssuance).unwrap();
        assert_eq!(refusal.refusal().unwrap().rule, Rule::NotApproved, "[{b}]");
        // The administrator approves it over the API.
        let r = s.admin(
            "POST",
            "/api/v1/collections/default/instances/C02XK1ABJG5J/approve",
            None,
        );
        assert_eq!(r.status, 200, "[{b}] {}", r.body);
        assert!(
            svc.decide(&serial, Purpose::ScepIssuance)
                .unwrap()
                .is_allowed()
        );
        // An owner-named invite counts as an API import: approved at once.
        let (rec, _) = svc
            .record_mdm_enrollment("F2LXK1ABJG5K", Some("ada@example.com"))
            .unwrap();
        assert_eq!(
            (rec.device.source, rec.device.approval),
            (Source::ApiImport, Approval::Approved)
        );
        let owned = rec.device.instance_id.clone();
        // Identity-provider self-enrollment is off until turned on.
        let e = svc.record_arrival(
            &InstanceId::parse("H2LXK1ABJG5L").unwrap(),
            None,
            Source::IdpSelfEnrollment,
        );
        assert!(e.is_err(), "[{b}]");
        // The owner in SCIM: active → allowed; deactivated → refused naming the rule, for every
        // caller; reactivated → allowed again without re-enrollment.
        let user = s
            .scim(
                "POST",
                "/Users",
                Some(&json!({"userName": "ada@example.com", "active": true})),
            )
            .json();
        let uid = user["id"].as_str().unwrap();
        assert!(
            svc.decide(&owned, Purpose::ScepIssuance)
                .unwrap()
                .is_allowed()
        );
        let deactivate = |active: bool| {
            let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": active}}]});
            assert_eq!(
                s.scim("PATCH", &format!("/Users/{uid}"), Some(&body))
                    .status,
                200
            );
        };
        deactivate(false);
        for p in [
            Purpose::ScepIssuance,
            Purpose::Renewal,
            Purpose::MdmEnrollment,
            Purpose::DeviceAuthToken,
        ] {
            let d = svc.decide(&owned, p).unwrap();
            assert_eq!(
                d.refusal().map(|r| r.rule),
                Some(Rule::OwnerInactive),
                "[{b}] {p:?}"
            );
        }
        deactivate(true);
        assert!(
            svc.decide(&owned, Purpose::ScepIssuance)
                .unwrap()
                .is_allowed()
        );
        // device_auth_token demands high assurance here.
        let d = svc.decide(&owned, Purpose::DeviceAuthToken).unwrap();
        assert_eq!(
            d.refusal().map(|r| r.rule),
            Some(Rule::NotHighAssurance),
            "[{b}]"
        );
        // An attestation proving another instance is refused; the right one raises assurance.
        assert!(svc.attested(&owned, &serial).is_err());
        assert_eq!(
            svc.device(&owned).unwrap().unwrap().device.assurance,
            Assurance::Normal
        );
        assert_eq!(
            svc.attested(&owned, &owned).unwrap().device.assurance,
            Assurance::High
        );
        assert!(
            svc.decide(&owned, Purpose::DeviceAuthToken)
                .unwrap()
                .is_allowed()
        );
        // A user DELETE (tombstone) refuses too; the device record stays.
        assert_eq!(s.scim("DELETE", &format!("/Users/{uid}"), None).status, 204);
        let d = svc.decide(&owned, Purpose::Renewal).unwrap();
        assert_eq!(
            d.refusal().map(|r| r.rule),
            Some(Rule::OwnerInactive),
            "[{b}]"
        );
        assert!(svc.device(&owned).unwrap().is_some());
        // Unknown devices are refused.
        let d = svc
            .decide(
                &InstanceId::parse("J2LXK1ABJG5M").unwrap(),
                Purpose::ScepIssuance,
            )
            .unwrap();
        assert_eq!(d.refusal().map(|r| r.rule), Some(Rule::UnknownDevice));
        // The `keep` policy leaves access as it was.
        let keep = service(
            &backend,
            &s,
            Settings {
                deactivation: "keep".into(),
                ..Settings::default()
            },
        );
        assert!(
            keep.decide(&owned, Purpose::Renewal).unwrap().is_allowed(),
            "[{b}]"
        );
    }
}
