//! admitd as an MDM server, seen from a device: enrollment through an invite, SCEP, check-in,
//! the command queue, and the identity rules, on SQLite and PostgreSQL, with the identity
//! presented as a TLS client certificate and as `Mdm-Signature` (made by `openssl cms`).

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use backend::Backend;
use mdm_proto::plist::Value;
use mdm_support::{
    Server, Via, authenticate, command_of, dict, enroll, payload, put, report, s, token_update,
};
use serde_json::json;

fn udid(n: u32) -> String {
    format!("0000{n:04}-AAAA-BBBB-CCCC-DDDDEEEEFFFF")
}

/// The whole device life on both backends and both identity forms: invite, profile, SCEP,
/// Authenticate, TokenUpdate, a command with NotNow then Acknowledged, Error, CheckOut.
#[test]
fn enroll_check_in_and_run_commands() {
    for backend in Backend::both() {
        for (i, via) in [Via::Tls, Via::Signature].into_iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let srv = Server::start(dir.path(), &backend, "", &[]);
            let ctx = format!("{} {via:?}", backend.name());

            // No invite, an unknown invite, and the plain HTTP listener: no profile.
            let (st, _) = srv.get(&format!("{}/mdm/enroll", srv.base()));
            assert_eq!(st, 403, "{ctx}");
            let (st, _) = srv.get(&format!("{}/mdm/enroll?invite=nope", srv.base()));
            assert_eq!(st, 403, "{ctx}");
            let (ok, out) = common::curl(&[
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("http://{}/mdm/enroll", srv.admitd.http),
            ]);
            assert!(ok && out.trim() == "403", "{ctx}: {out}");

            let url = srv.invite(Some("alice@example.com"), 1);
            let dev = enroll(&srv, &url, &udid(i as u32), 100 + i as u64);
            // The invite was for one use.
            let (st, _) = srv.get(&url);
            assert_eq!(st, 403, "{ctx}: a spent invite still served a profile");

            // The profile as OpenSSL read it points at this server.
            let m = payload(&dev.profile, "com.apple.mdm");
            assert_eq!(
                m["ServerURL"].as_string().unwrap(),
                format!("{}/mdm/connect", srv.base()),
                "{ctx}"
            );
            assert_eq!(
                m["CheckInURL"].as_string().unwrap(),
                format!("{}/mdm/checkin", srv.base()),
                "{ctx}"
            );
            payload(&dev.profile, "com.apple.security.root");

            let (st, b) = put(
                &srv,
                "/mdm/checkin",
                &authenticate(&dev, "C02TEST0001"),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
            let (_, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{}", dev.udid), None);
            assert_eq!(d["state"], "pending", "{ctx}: {d}");
            // Commands wait for TokenUpdate... but may be queued already.
            let (st, b) = put(&srv, "/mdm/checkin", &token_update(&dev), &dev, via);
            assert_eq!(st, 200, "{ctx}: {}", String::from_utf8_lossy(&b));
            let (_, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{}", dev.udid), None);
            assert_eq!(d["state"], "enrolled", "{ctx}: {d}");
            assert_eq!(d["owner"], "alice@example.com", "{ctx}: {d}");
            assert_eq!(d["source"], "invite-owner", "{ctx}: {d}");
            assert_eq!(d["serial_number"], "C02TEST0001", "{ctx}: {d}");
            assert_eq!(d["push_token"], true, "{ctx}: {d}");

            // Idle with an empty queue: an empty 200.
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Idle", None, &[]),
                &dev,
                via,
            );
            assert_eq!((st, b.len()), (200, 0), "{ctx}");

            // A typed command, then a raw one.
            let (st, c1) = srv.api(
                "POST",
                "/api/v1/mdm/commands",
                Some(&json!({"channels": [dev.udid], "command": {
                    "RequestType": "DeviceInformation",
                    "Queries": ["SerialNumber", "OSVersion", "ModelName"]}})),
            );
            assert_eq!(st, 201, "{ctx}: {c1}");
            assert_eq!(c1["typed"], true);
            let u1 = c1["command_uuid"].as_str().unwrap().to_owned();
            let (st, c2) = srv.api(
                "POST",
                "/api/v1/mdm/commands",
                Some(&json!({"channels": [dev.udid], "plist":
                    "<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Command</key><dict>\
                     <key>RequestType</key><string>ProfileList</string></dict></dict></plist>"})),
            );
            assert_eq!(st, 201, "{ctx}: {c2}");
            let u2 = c2["command_uuid"].as_str().unwrap().to_owned();

            // Idle: the first command. NotNow: skipped, the second comes.
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Idle", None, &[]),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");
            assert_eq!(
                command_of(&b),
                (u1.clone(), "DeviceInformation".into()),
                "{ctx}"
            );
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "NotNow", Some(&u1), &[]),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");
            assert_eq!(command_of(&b), (u2.clone(), "ProfileList".into()), "{ctx}");
            // The second fails; nothing else may be sent until the next Idle.
            let chain = Value::Array(vec![Value::Dictionary(dict(&[
                ("ErrorCode", Value::Integer(12021.into())),
                ("ErrorDomain", s("MCMDMErrorDomain")),
                ("LocalizedDescription", s("Test failure")),
            ]))]);
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Error", Some(&u2), &[("ErrorChain", chain)]),
                &dev,
                via,
            );
            assert_eq!(
                (st, b.len()),
                (200, 0),
                "{ctx}: {}",
                String::from_utf8_lossy(&b)
            );
            // Idle again: the NotNow command is sent again; it is answered.
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Idle", None, &[]),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");
            assert_eq!(command_of(&b).0, u1, "{ctx}");
            let answers = Value::Dictionary(dict(&[
                ("SerialNumber", s("C02TEST0001")),
                ("OSVersion", s("14.5")),
                ("ModelName", s("MacBook Pro")),
            ]));
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(
                    &dev,
                    "Acknowledged",
                    Some(&u1),
                    &[("QueryResponses", answers)],
                ),
                &dev,
                via,
            );
            assert_eq!((st, b.len()), (200, 0), "{ctx}");

            let (_, c) = srv.api("GET", &format!("/api/v1/mdm/commands/{u1}"), None);
            assert_eq!(c["deliveries"][0]["status"], "Acknowledged", "{ctx}: {c}");
            assert_eq!(
                c["deliveries"][0]["result"]["QueryResponses"]["OSVersion"], "14.5",
                "{ctx}: {c}"
            );
            let (_, c) = srv.api("GET", &format!("/api/v1/mdm/commands/{u2}"), None);
            assert_eq!(c["deliveries"][0]["status"], "Error", "{ctx}: {c}");
            let (_, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{}", dev.udid), None);
            assert_eq!(d["os_version"], "14.5", "{ctx}: {d}");
            assert_eq!(d["model"], "MacBook Pro", "{ctx}: {d}");
            assert_eq!(
                d["facts"]["DeviceInformation"]["QueryResponses"]["SerialNumber"], "C02TEST0001",
                "{ctx}: {d}"
            );
            // A report for a command nobody queued changes nothing and is answered.
            let (st, _) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Acknowledged", Some("NOT-A-QUEUED-COMMAND"), &[]),
                &dev,
                via,
            );
            assert_eq!(st, 200, "{ctx}");

            // A command for an unknown channel: 404, nothing queued.
            let (st, j) = srv.api(
                "POST",
                "/api/v1/mdm/commands",
                Some(&json!({"channels": [dev.udid, "UNKNOWN"], "command": {"RequestType": "ProfileList"}})),
            );
            assert_eq!(st, 404, "{ctx}: {j}");
            let (st, b) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Idle", None, &[]),
                &dev,
                via,
            );
            assert_eq!(
                (st, b.len()),
                (200, 0),
                "{ctx}: a refused enqueue left a command behind"
            );
            // A command that does not fit its schema: 400.
            let (st, j) = srv.api(
                "POST",
                "/api/v1/mdm/commands",
                Some(&json!({"channels": [dev.udid], "command": {"RequestType": "DeviceLock", "PIN": 1234}})),
            );
            assert_eq!(st, 400, "{ctx}: {j}");

            // CheckOut: the enrollment ends; the identity no longer works.
            let out = dict(&[
                ("MessageType", s("CheckOut")),
                ("UDID", s(&dev.udid)),
                ("Topic", s("com.apple.mgmt.External.admitd-unconfigured")),
            ]);
            let (st, _) = put(&srv, "/mdm/checkin", &mdm_support::xml(&out), &dev, via);
            assert_eq!(st, 200, "{ctx}");
            let (_, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{}", dev.udid), None);
            assert_eq!(d["state"], "checked_out", "{ctx}: {d}");
            let (st, _) = put(
                &srv,
                "/mdm/connect",
                &report(&dev, "Idle", None, &[]),
                &dev,
                via,
            );
            assert_eq!(st, 401, "{ctx}");
            srv.admitd.stop();
        }
    }
}
