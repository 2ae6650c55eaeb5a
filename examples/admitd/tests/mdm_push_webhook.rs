//! The running server's pushes and webhooks, end to end on both backends: a device enrolls
//! (invite, profile, SCEP, Authenticate, TokenUpdate); queuing a command pushes it through the
//! APNs stand-in (which requires the imported push certificate); "push now" pushes again; APNs'
//! 410 marks the token dead and stops pushes; every check-in and report reaches the webhook
//! receiver as an event valid against NanoMDM's schema; an event the receiver refused before a
//! `kill -9` of admitd is delivered after the restart.

mod backend;
mod common;
mod mdm_support;
mod push_support;
mod scep_support;

use std::sync::atomic::Ordering;

use backend::Backend;
use mdm_support::{Server, Via, authenticate, enroll, put, report, token_update};
use push_support::{Certs, start_apns, start_receiver, wait_for};
use serde_json::json;

fn schema() -> jsonschema::Validator {
    let text = testkit::vector("mdm/nanomdm/service/webhook/event.json");
    jsonschema::validator_for(&serde_json::from_slice(&text).unwrap()).unwrap()
}

#[test]
fn commands_push_and_check_ins_post_events_across_a_kill() {
    let certs = Certs::make();
    let validator = schema();
    let rt = push_support::runtime();
    let (apns_addr, apns) = start_apns(&rt, &certs);
    for (n, backend) in Backend::both().into_iter().enumerate() {
        let name = backend.name();
        let (hook_url, hooks) = start_receiver(&rt);
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[mdm]\napns = \"https://{apns_addr}\"\napns_ca_file = \"{}\"\n\
             apns_retry_base_ms = 20\nwebhook_urls = [\"{hook_url}\"]\n\
             webhook_retry_base_ms = 20\n",
            certs.path("ca.pem").display()
        );
        let mut srv = Server::start(dir.path(), &backend, &config, &[]);
        // The certificate is imported while the server runs: used from its first connection.
        let p12 = certs.path("push.p12");
        let run = testkit::run_bounded(
            std::process::Command::new(common::ADMITD).args([
                "--data-dir",
                srv.data.to_str().unwrap(),
                "mdm",
                "push-cert",
                "import",
                p12.to_str().unwrap(),
                "--password",
                "p12-secret",
            ]),
            dir.path(),
            std::time::Duration::from_secs(60),
        );
        assert!(run.ok, "{}", run.stderr);

        let udid = format!("PUSH-{name}-0001");
        let url = srv.invite(None, 1);
        let dev = enroll(&srv, &url, &udid, 40 + n as u64);
        let (st, _) = put(
            &srv,
            "/mdm/checkin",
            &authenticate(&dev, "C02PUSH0001"),
            &dev,
            Via::Tls,
        );
        assert_eq!(st, 200, "{name}: {}", srv.admitd.log_text());
        let (st, _) = put(&srv, "/mdm/checkin", &token_update(&dev), &dev, Via::Tls);
        assert_eq!(st, 200, "{name}");
        // mdm_support's TokenUpdate: Token 0xAB x 32, this PushMagic.
        let path = format!("/3/device/{}", "ab".repeat(32));
        let magic = "00000000-1111-2222-3333-444444444444";
        let before = apns.seen_for(&path).len();

        // Queuing a command pushes the device.
        let (st, c) = srv.api(
            "POST",
            "/api/v1/mdm/commands",
            Some(&json!({"channels": [udid], "command": {"RequestType": "ProfileList"}})),
        );
        assert_eq!(st, 201, "{name}: {c}");
        wait_for("the push of the enqueue", || {
            apns.seen_for(&path).len() > before
        });
        let seen = apns.seen_for(&path).pop().unwrap();
        assert_eq!(seen.body, format!("{{\"mdm\":\"{magic}\"}}").as_bytes());
        assert_eq!(seen.headers["apns-push-type"], "mdm");
        assert_eq!(
            seen.client_cert.as_deref(),
            Some(&certs.der("push.pem")[..])
        );
        let pushes = |srv: &Server| {
            srv.api("GET", &format!("/api/v1/mdm/devices/{udid}/pushes"), None)
                .1["pushes"]
                .as_array()
                .unwrap()
                .clone()
        };
        wait_for("the push result", || !pushes(&srv).is_empty());
        assert_eq!(pushes(&srv)[0]["status"], 200, "{name}");

        // Push now; then APNs says the token is gone: no more pushes, and push-now is 409.
        let (st, _) = srv.api("POST", &format!("/api/v1/mdm/devices/{udid}/push"), None);
        assert_eq!(st, 202);
        wait_for("the second push result", || pushes(&srv).len() == 2);
        apns.script(&path, &[(410, r#"{"reason":"Unregistered"}"#)]);
        let (st, _) = srv.api("POST", &format!("/api/v1/mdm/devices/{udid}/push"), None);
        assert_eq!(st, 202);
        wait_for("the 410", || pushes(&srv).len() == 3);
        assert_eq!(pushes(&srv)[0]["status"], 410);
        assert_eq!(pushes(&srv)[0]["reason"], "Unregistered");
        let seen_before = apns.seen_for(&path).len();
        let (st, _) = srv.api("POST", &format!("/api/v1/mdm/devices/{udid}/push"), None);
        assert_eq!(st, 409, "{name}: a dead token gets no push");
        let (st, _) = srv.api(
            "POST",
            "/api/v1/mdm/commands",
            Some(&json!({"channels": [udid], "command": {"RequestType": "ProfileList"}})),
        );
        assert_eq!(st, 201);
        // A fresh TokenUpdate revives the token (the device re-registered with APNs).
        let (st, _) = put(&srv, "/mdm/checkin", &token_update(&dev), &dev, Via::Tls);
        assert_eq!(st, 200);
        let (st, _) = srv.api("POST", &format!("/api/v1/mdm/devices/{udid}/push"), None);
        assert_eq!(st, 202, "{name}: pushes resume after a new TokenUpdate");
        wait_for("the push after TokenUpdate", || pushes(&srv).len() == 4);
        assert_eq!(apns.seen_for(&path).len(), seen_before + 1, "{name}");
        // The same through the CLI.
        let out = common::run(std::process::Command::new(common::ADMITD).args([
            "--data-dir",
            srv.data.to_str().unwrap(),
            "mdm",
            "--server",
            &srv.base(),
            "pushes",
            &udid,
        ]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let statuses: Vec<u64> = listed["pushes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["status"].as_u64().unwrap())
            .collect();
        assert_eq!(statuses, [200, 410, 200, 200], "{name}: newest first");

        // Webhooks: Authenticate, TokenUpdate, TokenUpdate so far, all valid.
        wait_for("three check-in events", || hooks.accepted().len() == 3);
        // A report while the receiver refuses, then kill -9; the event waits in the outbox.
        hooks.refuse.store(true, Ordering::SeqCst);
        let (st, _) = put(
            &srv,
            "/mdm/connect",
            &report(&dev, "Idle", None, &[]),
            &dev,
            Via::Tls,
        );
        assert_eq!(st, 200);
        wait_for("a refused delivery", || hooks.requests() > 3);
        let pid = srv.admitd.pid().to_string();
        let out = common::run(std::process::Command::new("kill").args(["-9", &pid]));
        assert!(out.status.success());
        srv.admitd.wait_exit(std::time::Duration::from_secs(10));
        assert!(backend.count(&srv.data, "SELECT COUNT(*) FROM webhook_outbox") >= 1);
        hooks.refuse.store(false, Ordering::SeqCst);
        srv = Server::start(dir.path(), &backend, &config, &[]);
        // Started with a push certificate and no `mdm.topic`: profiles carry its topic.
        let topic = |d: &mdm_support::Dev| {
            mdm_support::payload(&d.profile, "com.apple.mdm")["Topic"]
                .as_string()
                .unwrap()
                .to_owned()
        };
        assert_eq!(topic(&dev), "com.apple.mgmt.External.admitd-unconfigured");
        let url = srv.invite(None, 1);
        let dev2 = enroll(&srv, &url, &format!("PUSH-{name}-0002"), 60 + n as u64);
        assert_eq!(topic(&dev2), push_support::TOPIC, "{name}");
        wait_for("the report event after the restart", || {
            hooks.accepted().len() == 4
        });
        let events = hooks.accepted();
        let topics: Vec<&str> = events
            .iter()
            .map(|e| e["topic"].as_str().unwrap())
            .collect();
        assert_eq!(
            topics,
            [
                "mdm.Authenticate",
                "mdm.TokenUpdate",
                "mdm.TokenUpdate",
                "mdm.Connect"
            ],
            "{name}"
        );
        for e in &events {
            let errors: Vec<String> = validator.iter_errors(e).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {e}: {errors:?}");
            let body = e
                .get("checkin_event")
                .or_else(|| e.get("acknowledge_event"))
                .unwrap();
            assert_eq!(body["udid"], udid.as_str());
        }
        assert_eq!(events[3]["acknowledge_event"]["status"], "Idle");
        wait_for("an empty outbox", || {
            backend.count(&srv.data, "SELECT COUNT(*) FROM webhook_outbox") == 0
        });
        drop(srv);
    }
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
}
