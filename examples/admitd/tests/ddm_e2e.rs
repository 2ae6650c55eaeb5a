//! DDM end to end through the MDM server, on SQLite and PostgreSQL, with the device's identity
//! as a TLS client certificate and as `Mdm-Signature`: a device enrolls (invite, profile,
//! SCEP, Authenticate, TokenUpdate), a set is assigned to it through the admin API, the
//! DeclarativeManagement command (its `Data` the TokensResponse) comes on `/mdm/connect`, and
//! the DeclarativeManagement check-ins on `/mdm/checkin` are answered with what `ddm`
//! computes from the same declarations; a real status report is stored and reconciled.

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use backend::Backend;
use ddm::{Channel, Declaration, DeclarationSet, Limits, TokenMode};
use mdm_proto::plist::Value;
use mdm_support::{
    Dev, Server, Via, authenticate, dict, enroll, put, report, s, token_update, xml,
};
use serde_json::{Value as Json, json};

const QUICKSTART: &str = "ddm/kmfddm/docs-quickstart";

fn vector(name: &str) -> Vec<u8> {
    testkit::vector(&format!("{QUICKSTART}/{name}"))
}

/// A DeclarativeManagement check-in from `dev`.
fn dm(dev: &Dev, endpoint: &str, data: Option<&[u8]>) -> Vec<u8> {
    let mut d = dict(&[
        ("MessageType", s("DeclarativeManagement")),
        ("UDID", s(&dev.udid)),
        ("Endpoint", s(endpoint)),
    ]);
    if let Some(data) = data {
        d.insert("Data".into(), Value::Data(data.to_vec()));
    }
    xml(&d)
}

fn json_of(b: &[u8]) -> Json {
    serde_json::from_slice(b)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(b)))
}

#[test]
fn declarative_management_through_the_mdm_server() {
    let cfg = vector("decl.configuration.test.no-token.json");
    let org = vector("decl.management.organization-info.json");
    let org_id = "274c52b0-fbc5-4453-af46-c4c493a75c6f";
    // What `ddm` serves for these two on a device channel.
    let mut want = DeclarationSet::new(Channel::Device, TokenMode::Content);
    for d in [&cfg, &org] {
        want.insert(Declaration::parse(d, &Limits::default()).unwrap())
            .unwrap();
    }
    let token = want.declarations_token();
    for backend in Backend::both() {
        for (i, via) in [Via::Tls, Via::Signature].into_iter().enumerate() {
            let ctx = format!("{} {via:?}", backend.name());
            let dir = tempfile::tempdir().unwrap();
            let srv = Server::start(dir.path(), &backend, "", &[]);
            let url = srv.invite(None, 1);
            let udid = format!("0000{i:04}-DDDD-EEEE-FFFF-000011112222");
            let dev = enroll(&srv, &url, &udid, 300 + i as u64);
            for msg in [authenticate(&dev, "C02DDM0001"), token_update(&dev)] {
                let (st, b) = put(&srv, "/mdm/checkin", &msg, &dev, via);
                assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
            }

            // The admin side: two declarations in a set, assigned to the enrolled device.
            for (id, body) in [("com.example.test", &cfg), (org_id, &org)] {
                let (st, j) = srv.api(
                    "PUT",
                    &format!("/api/v1/ddm/declarations/{id}"),
                    Some(&json_of(body)),
                );
                assert_eq!(st, 200, "{ctx}: {j}");
            }
            let (st, j) = srv.api(
                "PUT",
                "/api/v1/ddm/sets/base",
                Some(&json!({"declarations": ["com.example.test", org_id]})),
            );
            assert_eq!(st, 200, "{ctx}: {j}");
            let (st, j) = srv.api(
                "PUT",
                &format!("/api/v1/ddm/sets/base/channels/{udid}"),
                None,
            );
            assert_eq!(st, 200, "{ctx}: {j}");
            assert_eq!(j["channels"].as_array().unwrap().len(), 1, "{ctx}: {j}");
            assert_eq!(j["channels"][0]["declarations_token"], token.as_str());
            let uuid = j["channels"][0]["command_uuid"]
                .as_str()
                .unwrap_or_else(|| panic!("{ctx}: no command queued: {j}"))
                .to_owned();

            // The device connects: the DeclarativeManagement command, read with `plist`.
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Idle", None, &[]),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");
            let cmd = Value::from_reader(std::io::Cursor::new(&b))
                .unwrap()
                .into_dictionary()
                .unwrap();
            assert_eq!(cmd["CommandUUID"].as_string(), Some(uuid.as_str()), "{ctx}");
            let inner = cmd["Command"].as_dictionary().unwrap();
            assert_eq!(
                inner["RequestType"].as_string(),
                Some("DeclarativeManagement")
            );
            let data = json_of(inner["Data"].as_data().unwrap());
            assert_eq!(data["SyncTokens"]["DeclarationsToken"], token.as_str());
            let (st, _) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Acknowledged", Some(&uuid), &[]),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");

            // The DeclarativeManagement check-ins.
            let (st, b) = put(&srv, "/mdm/checkin", &dm(&dev, "tokens", None), &dev, via);
            assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
            let tokens = json_of(&b);
            assert_eq!(tokens["SyncTokens"]["DeclarationsToken"], token.as_str());
            let (st, b) = put(
                &srv,
                "/mdm/checkin",
                &dm(&dev, "declaration-items", None),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");
            assert_eq!(json_of(&b), want.declaration_items_response(), "{ctx}");
            for d in want.iter() {
                let ep = format!("declaration/{}/{}", d.kind(), d.identifier());
                let (st, b) = put(&srv, "/mdm/checkin", &dm(&dev, &ep, None), &dev, via);
                assert_eq!(st, 200, "{ctx}: {ep}");
                assert_eq!(json_of(&b), Json::Object(d.raw().clone()), "{ctx}: {ep}");
            }
            for (ep, data, status) in [
                ("declaration/configuration/com.example.nope", None, 404),
                ("widgets", None, 400),
                ("status", None, 400),
                ("status", Some(&b"[1, 2"[..]), 400),
            ] {
                let (st, b) = put(&srv, "/mdm/checkin", &dm(&dev, ep, data), &dev, via);
                assert_eq!(st, status, "{ctx}: {ep}: {}", String::from_utf8_lossy(&b));
            }

            // A real device's status report (KMFDDM's e2e data): com.example.test at another
            // revision than ours, so the server sees it superseded, with the token reported.
            let status = testkit::vector("ddm/kmfddm/test/e2e/testdata/status.D0.error.json");
            let (st, b) = put(
                &srv,
                "/mdm/checkin",
                &dm(&dev, "status", Some(&status)),
                &dev,
                via,
            );
            assert_eq!((st, b.len()), (200, 0), "{ctx}");
            let (st, v) = srv.api("GET", &format!("/api/v1/ddm/channels/{udid}"), None);
            assert_eq!(st, 200, "{ctx}: {v}");
            assert_eq!(v["device_token"], token.as_str(), "{ctx}: {v}");
            assert_eq!(v["report"], json_of(&status), "{ctx}");
            let decls = v["declarations"].as_array().unwrap();
            let reported =
                &json_of(&status)["StatusItems"]["management"]["declarations"]["configurations"][0];
            let test = decls
                .iter()
                .find(|d| d["identifier"] == "com.example.test")
                .unwrap();
            assert_eq!(test["state"], "superseded", "{ctx}: {v}");
            assert_eq!(test["reported_token"], reported["server-token"]);
            let org_state = decls.iter().find(|d| d["identifier"] == org_id).unwrap();
            assert_eq!(org_state["state"], "pending", "{ctx}: {v}");
            assert!(v["last_sent"].is_u64(), "{ctx}: {v}");
            srv.admitd.stop();
        }
    }
}
