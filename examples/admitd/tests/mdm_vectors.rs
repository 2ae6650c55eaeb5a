//! Real devices' plists (`../shared/vectors/mdm`, from nanomdm and nanocmd) replayed through
//! `/mdm/checkin` and `/mdm/connect`, after a synthetic Authenticate for UDIDs whose own
//! Authenticate is not among the samples; and the check-in types no public sample covers,
//! built from Apple's schema. On SQLite and PostgreSQL.

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use backend::Backend;
use mdm_proto::plist::{Dictionary, Value};
use mdm_support::{Server, Via, authenticate, dict, enroll, put, s, xml};
use serde_json::json;

fn vector(path: &str) -> Vec<u8> {
    std::fs::read(testkit::vector_file(&format!("mdm/{path}"))).unwrap()
}

fn plist_of(bytes: &[u8]) -> Dictionary {
    Value::from_reader(std::io::Cursor::new(bytes))
        .unwrap()
        .into_dictionary()
        .unwrap()
}

/// Report samples: (file, the RequestType its command had).
const REPORTS: &[(&str, &str)] = &[
    (
        "nanomdm/mdm/testdata/DeviceInformation.1.plist",
        "DeviceInformation",
    ),
    ("nanocmd/engine/testdata/devinfo.plist", "DeviceInformation"),
    (
        "nanocmd/workflow/inventory/testdata/devinfo.plist",
        "DeviceInformation",
    ),
    (
        "nanocmd/workflow/inventory/testdata/secinfo.plist",
        "SecurityInfo",
    ),
    (
        "nanocmd/workflow/certprof/testdata/certlist.plist",
        "CertificateList",
    ),
    (
        "nanocmd/workflow/certprof/testdata/resp-error.plist",
        "InstallProfile",
    ),
];

#[test]
fn real_plists_replayed() {
    for backend in Backend::both() {
        let dir = tempfile::tempdir().unwrap();
        let srv = Server::start(dir.path(), &backend, "", &[]);
        let ctx = backend.name();
        let mut devs: std::collections::BTreeMap<String, mdm_support::Dev> = Default::default();
        fn dev_for(
            devs: &mut std::collections::BTreeMap<String, mdm_support::Dev>,
            udid: &str,
            srv: &Server,
        ) {
            if !devs.contains_key(udid) {
                let url = srv.invite(None, 1);
                let n = devs.len() as u64;
                devs.insert(udid.to_owned(), enroll(srv, &url, udid, 300 + n));
            }
        }
        // Real Authenticate, then the real TokenUpdate, for the two devices that have both.
        for (auth, tu) in [
            (
                "nanomdm/mdm/testdata/Authenticate.1.plist",
                "nanomdm/mdm/testdata/TokenUpdate.1.plist",
            ),
            (
                "nanomdm/mdm/testdata/Authenticate.2.plist",
                "nanomdm/mdm/testdata/TokenUpdate.2.plist",
            ),
        ] {
            let body = vector(auth);
            let udid = plist_of(&body)["UDID"].as_string().unwrap().to_owned();
            dev_for(&mut devs, &udid, &srv);
            let dev = &devs[&udid];
            let (st, b) = put(&srv, "/mdm/checkin", &body, dev, Via::Tls);
            assert_eq!(st, 200, "{ctx} {auth}: {}", String::from_utf8_lossy(&b));
            let (st, b) = put(&srv, "/mdm/checkin", &vector(tu), dev, Via::Tls);
            assert_eq!(st, 200, "{ctx} {tu}: {}", String::from_utf8_lossy(&b));
            let (_, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{udid}"), None);
            assert_eq!(d["state"], "enrolled", "{ctx} {udid}: {d}");
            let want = plist_of(&body)["SerialNumber"]
                .as_string()
                .map(str::to_owned);
            assert_eq!(
                d["serial_number"].as_str().map(str::to_owned),
                want,
                "{ctx}: {d}"
            );
        }
        for (file, request_type) in REPORTS {
            let body = vector(file);
            let p = plist_of(&body);
            let udid = p["UDID"].as_string().unwrap().to_owned();
            let uuid = p["CommandUUID"].as_string().unwrap().to_owned();
            let status = p["Status"].as_string().unwrap().to_owned();
            if !devs.contains_key(&udid) {
                dev_for(&mut devs, &udid, &srv);
                let dev = &devs[&udid];
                let (st, _) = put(
                    &srv,
                    "/mdm/checkin",
                    &authenticate(dev, "SYNTH"),
                    dev,
                    Via::Tls,
                );
                assert_eq!(st, 200, "{ctx} {udid}");
                let (st, _) = put(
                    &srv,
                    "/mdm/checkin",
                    &mdm_support::token_update(dev),
                    dev,
                    Via::Tls,
                );
                assert_eq!(st, 200, "{ctx} {udid}");
            }
            // The command the sample answers, queued under the sample's CommandUUID.
            let extra = if *request_type == "DeviceInformation" {
                "<key>Queries</key><array><string>SerialNumber</string></array>"
            } else if *request_type == "InstallProfile" {
                "<key>Payload</key><data>AAAA</data>"
            } else {
                ""
            };
            let cmd = format!(
                "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict>\
                 <key>CommandUUID</key><string>{uuid}</string><key>Command</key><dict>\
                 <key>RequestType</key><string>{request_type}</string>{extra}</dict></dict></plist>"
            );
            let (st, j) = srv.api(
                "POST",
                "/api/v1/mdm/commands",
                Some(&json!({"channels": [udid], "plist": cmd})),
            );
            assert_eq!(st, 201, "{ctx} {file}: {j}");
            assert_eq!(j["command_uuid"], uuid.as_str());
            let dev = &devs[&udid];
            let (st, b) = put(&srv, "/mdm/connect", &body, dev, Via::Tls);
            assert_eq!(st, 200, "{ctx} {file}: {}", String::from_utf8_lossy(&b));
            let (_, c) = srv.api("GET", &format!("/api/v1/mdm/commands/{uuid}"), None);
            assert_eq!(
                c["deliveries"][0]["status"],
                status.as_str(),
                "{ctx} {file}: {c}"
            );
            // The stored report is the device's bytes.
            use base64::Engine as _;
            let raw = base64::engine::general_purpose::STANDARD
                .decode(c["deliveries"][0]["raw"].as_str().unwrap())
                .unwrap();
            assert_eq!(raw, body, "{ctx} {file}");
        }
        // The inventory facts of the device whose DeviceInformation and SecurityInfo came in.
        let (_, d) = srv.api("GET", "/api/v1/mdm/devices/AAABBBCCC111222333", None);
        let want = plist_of(&vector("nanocmd/workflow/inventory/testdata/devinfo.plist"));
        let want_model = want["QueryResponses"].as_dictionary().unwrap()["Model"]
            .as_string()
            .unwrap();
        assert_eq!(d["model"], want_model, "{ctx}: {d}");
        assert!(
            d["facts"]["SecurityInfo"]["SecurityInfo"].is_object(),
            "{ctx}: {d}"
        );
        // The acknowledged sample for a command already finished (Error) changes nothing.
        let ack = vector("nanocmd/workflow/certprof/testdata/resp-ack.plist");
        let dev = &devs["6362F867-FFF2-4EA6-905C-3C796DF4EF68"];
        let (st, _) = put(&srv, "/mdm/connect", &ack, dev, Via::Tls);
        assert_eq!(st, 200, "{ctx}");
        let (_, c) = srv.api(
            "GET",
            "/api/v1/mdm/commands/D053EE3A-EE0E-4E82-87D2-BB3624186694",
            None,
        );
        assert_eq!(c["deliveries"][0]["status"], "Error", "{ctx}: {c}");
        srv.admitd.stop();
    }
}

/// The check-in types without public samples, from Apple's schema: bootstrap token escrow
/// (sealed at rest), UserAuthenticate, GetToken, ReturnToService, DeclarativeManagement.
#[test]
fn every_check_in_type() {
    for backend in Backend::both() {
        let dir = tempfile::tempdir().unwrap();
        let srv = Server::start(dir.path(), &backend, "", &[]);
        let ctx = backend.name();
        let url = srv.invite(None, 1);
        let dev = enroll(&srv, &url, "CHECKIN-TYPES", 400);
        let udid = s(&dev.udid);
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&dev, "S1"),
            &dev,
            Via::Tls,
        );
        assert_eq!(st, 200);
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &mdm_support::token_update(&dev),
            &dev,
            Via::Tls,
        );
        assert_eq!(st, 200);

        let token = b"bootstrap-token-plaintext-0123456789".to_vec();
        let set = dict(&[
            ("MessageType", s("SetBootstrapToken")),
            ("UDID", udid.clone()),
            ("BootstrapToken", Value::Data(token.clone())),
        ]);
        let (st, b) = put(&srv, "/mdm/checkin", &xml(&set), &dev, Via::Tls);
        assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
        // Stored sealed: the database holds no copy of the plaintext.
        let hex_token = hex::encode(&token);
        let (stored, plain) = match backend {
            Backend::Sqlite => (
                "SELECT length(bootstrap_token) FROM mdm_enrollments WHERE id = 'CHECKIN-TYPES'"
                    .to_owned(),
                format!(
                    "SELECT COUNT(*) FROM mdm_enrollments WHERE instr(bootstrap_token, X'{hex_token}') > 0
                        OR instr(unlock_token, X'{}') > 0",
                    hex::encode(b"unlock-token-secret-bytes")
                ),
            ),
            Backend::Postgres(..) => (
                "SELECT length(bootstrap_token) FROM mdm_enrollments WHERE id = 'CHECKIN-TYPES'"
                    .to_owned(),
                format!(
                    "SELECT COUNT(*) FROM mdm_enrollments WHERE position('\\x{hex_token}'::bytea in bootstrap_token) > 0
                        OR position('\\x{}'::bytea in unlock_token) > 0",
                    hex::encode(b"unlock-token-secret-bytes")
                ),
            ),
        };
        assert!(
            backend.count(&srv.data, &stored) > token.len() as i64,
            "{ctx}"
        );
        assert_eq!(
            backend.count(&srv.data, &plain),
            0,
            "{ctx}: a secret is stored in the clear"
        );
        let get = dict(&[
            ("MessageType", s("GetBootstrapToken")),
            ("UDID", udid.clone()),
        ]);
        let (st, b) = put(&srv, "/mdm/checkin", &xml(&get), &dev, Via::Tls);
        assert_eq!(st, 200, "{ctx}");
        assert_eq!(
            plist_of(&b)["BootstrapToken"].as_data(),
            Some(token.as_slice()),
            "{ctx}"
        );

        // User channels are off: UserAuthenticate gets 410.
        let ua = dict(&[
            ("MessageType", s("UserAuthenticate")),
            ("UDID", udid.clone()),
            ("UserID", s("A1B2C3D4-0000-0000-0000-000000000001")),
            ("UserLongName", s("Alice")),
            ("UserShortName", s("alice")),
        ]);
        let (st, _) = put(&srv, "/mdm/checkin", &xml(&ua), &dev, Via::Tls);
        assert_eq!(st, 410, "{ctx}");
        // No token service: GetToken is refused with 400.
        let gt = dict(&[
            ("MessageType", s("GetToken")),
            ("UDID", udid.clone()),
            ("TokenServiceType", s("com.apple.maid")),
        ]);
        let (st, _) = put(&srv, "/mdm/checkin", &xml(&gt), &dev, Via::Tls);
        assert_eq!(st, 400, "{ctx}");
        // Return to Service: not offered.
        let rts = dict(&[
            ("MessageType", s("ReturnToService")),
            ("UDID", udid.clone()),
        ]);
        let (st, b) = put(&srv, "/mdm/checkin", &xml(&rts), &dev, Via::Tls);
        assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
        let r = plist_of(&b);
        assert_eq!(
            r["ReturnToService"].as_dictionary().unwrap()["Enabled"].as_boolean(),
            Some(false),
            "{ctx}"
        );
        // An unknown MessageType: 400.
        let bogus = dict(&[("MessageType", s("Bogus")), ("UDID", udid.clone())]);
        let (st, _) = put(&srv, "/mdm/checkin", &xml(&bogus), &dev, Via::Tls);
        assert_eq!(st, 400, "{ctx}");
        srv.admitd.stop();
    }
}
