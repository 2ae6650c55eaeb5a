//! Apple Managed Device Attestation raising a device to high assurance, on SQLite and
//! PostgreSQL: the `DeviceInformation` request admitd builds, and the result hook verifying a
//! chain `openssl` built for the test (the attestation crate's test CA) against the right
//! nonce, serial and UDID. The MDM core calls the hook; here the test does.

#[path = "../../../attestation/tests/apple_support/mod.rs"]
mod apple_support;
mod backend;
mod common;

use std::sync::Arc;

use admitd::inventory::apple::{AppleAttestation, AppleError};
use admitd::inventory::{Service, Settings};
use admitd::mdm::CommandResult;
use admitd::records::Db;
use apple_support::{TestCa, mda_lines};
use backend::Backend;
use inventory::{Assurance, Collection, InstanceId};
use mdm_proto::plist::{Dictionary, Value};

const SERIAL: &str = "C02XK1ABJG5J";
const UDID: &str = "00008103-000A1C2E0E38801E";

fn db(backend: &Backend, dir: &std::path::Path) -> Db {
    match backend {
        Backend::Sqlite => Db::Sqlite(Arc::new(
            admitd::storage::Storage::open(&dir.join("admit.sqlite3")).unwrap(),
        )),
        Backend::Postgres(_, url) => Db::Postgres {
            pg: Arc::new(admitd::scep::postgres::PgStore::open(url, 2).unwrap()),
            lock: admitd::records::INVENTORY_LOCK,
        },
    }
}

/// The nonce in a DeviceInformation command plist, read back with the plist crate.
fn nonce_of(body: &[u8]) -> Vec<u8> {
    let v = Value::from_reader(std::io::Cursor::new(body)).unwrap();
    let cmd = v.as_dictionary().unwrap()["Command"]
        .as_dictionary()
        .unwrap();
    assert_eq!(cmd["RequestType"].as_string(), Some("DeviceInformation"));
    let queries: Vec<&str> = cmd["Queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_string)
        .collect();
    assert!(
        queries.contains(&"DevicePropertiesAttestation"),
        "{queries:?}"
    );
    cmd["DeviceAttestationNonce"].as_data().unwrap().to_vec()
}

/// The report a device sends: the chain leaf first.
fn report(uuid: &str, chain: &[&[u8]]) -> Vec<u8> {
    let mut q = Dictionary::new();
    q.insert(
        "DevicePropertiesAttestation".into(),
        Value::Array(chain.iter().map(|c| Value::Data(c.to_vec())).collect()),
    );
    q.insert("SerialNumber".into(), Value::String(SERIAL.into()));
    let mut d = Dictionary::new();
    d.insert("CommandUUID".into(), Value::String(uuid.into()));
    d.insert("Status".into(), Value::String("Acknowledged".into()));
    d.insert("UDID".into(), Value::String(UDID.into()));
    d.insert("QueryResponses".into(), Value::Dictionary(q));
    let mut out = Vec::new();
    Value::Dictionary(d).to_writer_xml(&mut out).unwrap();
    out
}

fn result<'a>(uuid: &'a str, raw: &'a [u8]) -> CommandResult<'a> {
    CommandResult {
        channel_id: UDID,
        command_uuid: uuid,
        request_type: "DeviceInformation",
        status: "Acknowledged",
        raw,
    }
}

#[test]
fn apple_attestation_needs_the_right_nonce_and_serial() {
    let ca = TestCa::new("Test Enterprise Attestation Root");
    let stranger = TestCa::new("Another Root");
    let provider = pki::provider::compiled()[0];
    for backend in Backend::both() {
        let tmp = tempfile::tempdir().unwrap();
        let inv = Arc::new(Service::new(db(&backend, tmp.path()), Settings::default()));
        let serial = InstanceId::parse(SERIAL).unwrap();
        inv.import(&Collection::default(), &serial, None).unwrap();
        let apple = AppleAttestation::new(inv.clone(), provider, Some(vec![ca.root.clone()]));
        let assurance = || inv.device(&serial).unwrap().unwrap().device.assurance;
        let b = backend.name();

        // A wrong nonce (a stale attestation) is refused.
        let cmd = apple.command(UDID, &serial).unwrap();
        let nonce = nonce_of(&cmd.body);
        assert_eq!(nonce.len(), 32);
        let mut wrong = nonce.clone();
        wrong[0] ^= 1;
        let leaf = ca.leaf("stale", "P-384", 7, &mda_lines(SERIAL, UDID, Some(&wrong)));
        let raw = report(&cmd.command_uuid, &[leaf.cert.der(), ca.sub.der()]);
        assert!(
            matches!(
                apple.verify_result(result(&cmd.command_uuid, &raw)),
                Err(AppleError::Refused(_))
            ),
            "[{b}]"
        );
        assert_eq!(assurance(), Assurance::Normal);

        // Another device's serial is refused.
        let cmd = apple.command(UDID, &serial).unwrap();
        let nonce = nonce_of(&cmd.body);
        let leaf = ca.leaf(
            "other",
            "P-384",
            7,
            &mda_lines("F2LXK1ABJG5K", UDID, Some(&nonce)),
        );
        let raw = report(&cmd.command_uuid, &[leaf.cert.der(), ca.sub.der()]);
        assert!(
            matches!(
                apple.verify_result(result(&cmd.command_uuid, &raw)),
                Err(AppleError::Refused(_))
            ),
            "[{b}]"
        );

        // A chain to a root nobody configured is refused.
        let cmd = apple.command(UDID, &serial).unwrap();
        let nonce = nonce_of(&cmd.body);
        let leaf = stranger.leaf(
            "stranger",
            "P-384",
            7,
            &mda_lines(SERIAL, UDID, Some(&nonce)),
        );
        let raw = report(&cmd.command_uuid, &[leaf.cert.der(), stranger.sub.der()]);
        assert!(
            matches!(
                apple.verify_result(result(&cmd.command_uuid, &raw)),
                Err(AppleError::Refused(_))
            ),
            "[{b}]"
        );
        assert_eq!(assurance(), Assurance::Normal);

        // The right nonce, serial and UDID: high assurance; the same result again does nothing.
        let cmd = apple.command(UDID, &serial).unwrap();
        let nonce = nonce_of(&cmd.body);
        let leaf = ca.leaf("good", "P-384", 7, &mda_lines(SERIAL, UDID, Some(&nonce)));
        let raw = report(&cmd.command_uuid, &[leaf.cert.der(), ca.sub.der()]);
        let r = apple
            .verify_result(result(&cmd.command_uuid, &raw))
            .unwrap();
        assert_eq!(r.device.assurance, Assurance::High, "[{b}]");
        assert!(matches!(
            apple.verify_result(result(&cmd.command_uuid, &raw)),
            Err(AppleError::NotOurs)
        ));
        // Results of commands it did not send are not its business.
        assert!(matches!(
            apple.verify_result(result("C0FFEE00-0000-4000-8000-000000000000", &raw)),
            Err(AppleError::NotOurs)
        ));
    }
}
