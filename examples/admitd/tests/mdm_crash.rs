//! `kill -9` of admitd during MDM enrollment and command traffic, then a restart, on SQLite
//! and PostgreSQL: every check-in and report the server answered with 200 is in the records,
//! every command the API accepted is queued or finished, no enrollment is half-written, and a
//! command whose result was acknowledged is never sent again as new.
//!
//! The kill moment comes from a seeded generator, so the process dies wherever its requests
//! happen to be.

mod backend;
mod common;
mod mdm_support;
mod scep_support;

use std::sync::Mutex;
use std::time::Duration;

use backend::Backend;
use mdm_proto::plist::Value;
use mdm_support::{
    Dev, Server, Via, authenticate, command_of, dict, enroll, report, s, token_update, try_put,
};
use rand_core::Rng as _;
use serde_json::json;

const DEVICES: usize = 4;
const ROUNDS: u64 = 2;

/// What the server confirmed before it died.
#[derive(Default, Debug)]
struct Told {
    authenticated: Vec<String>,
    enrolled: Vec<String>,
    queued: Vec<(String, String)>,
    acknowledged: Vec<(String, String)>,
}

fn traffic(srv: &Server, devs: &[Dev], told: &Mutex<Told>) {
    for round in 0..50 {
        for (i, dev) in devs.iter().enumerate() {
            let Some((st, _)) =
                try_put(srv, "/mdm/checkin", &authenticate(dev, "S"), dev, Via::Tls)
            else {
                return;
            };
            if st == 200 {
                told.lock().unwrap().authenticated.push(dev.udid.clone());
            }
            let Some((st, _)) = try_put(srv, "/mdm/checkin", &token_update(dev), dev, Via::Tls)
            else {
                return;
            };
            if st == 200 {
                told.lock().unwrap().enrolled.push(dev.udid.clone());
            }
            let Some((st, j)) = srv.try_api(
                "POST",
                "/api/v1/mdm/commands",
                Some(&json!({"channels": [dev.udid], "command": {"RequestType": "DeviceInformation", "Queries": ["OSVersion"]}})),
                "crash-api",
            ) else { return };
            if st == 201 {
                told.lock().unwrap().queued.push((
                    dev.udid.clone(),
                    j["command_uuid"].as_str().unwrap().to_owned(),
                ));
            }
            let Some((st, b)) = try_put(
                srv,
                "/mdm/connect",
                &report(dev, "Idle", None, &[]),
                dev,
                Via::Tls,
            ) else {
                return;
            };
            if st != 200 || b.is_empty() {
                continue;
            }
            let (uuid, _) = command_of(&b);
            let answers = Value::Dictionary(dict(&[("OSVersion", s(&format!("14.{round}.{i}")))]));
            let Some((st, _)) = try_put(
                srv,
                "/mdm/connect",
                &report(
                    dev,
                    "Acknowledged",
                    Some(&uuid),
                    &[("QueryResponses", answers)],
                ),
                dev,
                Via::Tls,
            ) else {
                return;
            };
            if st == 200 {
                told.lock()
                    .unwrap()
                    .acknowledged
                    .push((dev.udid.clone(), uuid));
            }
        }
    }
}

#[test]
fn kill_9_during_enrollment_and_commands_loses_nothing() {
    let mut r = testkit::rng(9);
    for backend in Backend::both() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = backend.name();
        let mut srv = Server::start(dir.path(), &backend, "", &[]);
        let devs: Vec<Dev> = (0..DEVICES)
            .map(|i| {
                let url = srv.invite(None, 1);
                enroll(&srv, &url, &format!("CRASH-{i}"), 900 + i as u64)
            })
            .collect();
        for round in 0..ROUNDS {
            let told = Mutex::new(Told::default());
            let delay = Duration::from_millis(300 + r.next_u64() % 1500);
            std::thread::scope(|sc| {
                sc.spawn(|| traffic(&srv, &devs, &told));
                std::thread::sleep(delay);
                let pid = srv.admitd.pid().to_string();
                let out = common::run(std::process::Command::new("kill").args(["-9", &pid]));
                assert!(out.status.success(), "kill -9 {pid}");
            });
            drop(srv);
            srv = Server::start(dir.path(), &backend, "", &[]);
            let told = told.into_inner().unwrap();
            let ctx = format!("{ctx} round {round} after {delay:?}");
            assert!(
                !told.authenticated.is_empty(),
                "{ctx}: no traffic before the kill"
            );
            for udid in &told.authenticated {
                let (st, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{udid}"), None);
                assert_eq!(st, 200, "{ctx}: {udid} lost");
                let state = d["state"].as_str().unwrap();
                assert!(state == "pending" || state == "enrolled", "{ctx}: {d}");
                // Never half-written: a bound identity and the Authenticate's facts.
                assert!(
                    d["cert_serial"].is_string() && d["serial_number"] == "S",
                    "{ctx}: {d}"
                );
            }
            for udid in &told.enrolled {
                let (_, d) = srv.api("GET", &format!("/api/v1/mdm/devices/{udid}"), None);
                // Enrolled, or re-Authenticated after (pending again); never without a token
                // once enrolled.
                if d["state"] == "enrolled" {
                    assert_eq!(d["push_token"], true, "{ctx}: {d}");
                }
            }
            for (udid, uuid) in &told.queued {
                let (st, c) = srv.api("GET", &format!("/api/v1/mdm/commands/{uuid}"), None);
                assert_eq!(st, 200, "{ctx}: queued command {uuid} lost");
                assert_eq!(c["deliveries"][0]["channel"], udid.as_str(), "{ctx}: {c}");
            }
            for (udid, uuid) in &told.acknowledged {
                let (_, c) = srv.api("GET", &format!("/api/v1/mdm/commands/{uuid}"), None);
                assert_eq!(
                    c["deliveries"][0]["status"], "Acknowledged",
                    "{ctx}: result of {uuid} lost: {c}"
                );
                let dev = devs.iter().find(|d| &d.udid == udid).unwrap();
                // Re-enroll (Authenticate resets nothing in the queue) and ask for work: an
                // acknowledged command never comes back.
                let (st, _) =
                    mdm_support::put(&srv, "/mdm/checkin", &authenticate(dev, "S"), dev, Via::Tls);
                assert_eq!(st, 200, "{ctx}");
                let (st, _) =
                    mdm_support::put(&srv, "/mdm/checkin", &token_update(dev), dev, Via::Tls);
                assert_eq!(st, 200, "{ctx}");
                let (st, b) = mdm_support::put(
                    &srv,
                    "/mdm/connect",
                    &report(dev, "Idle", None, &[]),
                    dev,
                    Via::Tls,
                );
                assert_eq!(st, 200, "{ctx}");
                if !b.is_empty() {
                    assert_ne!(
                        &command_of(&b).0,
                        uuid,
                        "{ctx}: an acknowledged command was sent again"
                    );
                }
            }
            if let Backend::Sqlite = backend {
                let db = rusqlite::Connection::open(srv.data.join("admit.sqlite3")).unwrap();
                let ok: String = db
                    .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(ok, "ok", "{ctx}");
            }
        }
        srv.admitd.stop();
    }
}
