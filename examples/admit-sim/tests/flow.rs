//! A fleet against the in-test MDM server, over mTLS and over Mdm-Signature: every command
//! the simulator answers, a NotNow spell, a DDM round, user channels (Shared iPad), CheckOut;
//! the server's records must match what the devices say they did. Also: resuming a fleet
//! from its state directory, the profile fetched with an invite, and the binary's JSON summary.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use admit_sim::device::{Options, Source};
use admit_sim::enrollment::Enrollment;
use admit_sim::metrics::Metrics;
use admit_sim::run::{Outcome, RunOptions, run};
use admit_sim::scenario::Scenario;
use admit_sim::state::Keys;
use admit_sim::transport::Allowed;
use mdm_proto::command::Status;
use support::Mini;

fn options(mini: &Mini, e: Enrollment) -> Arc<Options> {
    let mut allowed = Allowed::default();
    for u in e.urls() {
        allowed.allow(u).unwrap();
    }
    let roots = e.roots.clone();
    assert_eq!(
        roots,
        vec![mini.tls_ca.clone()],
        "the profile carries the server CA"
    );
    Arc::new(Options {
        source: Source::Profile(Arc::new(e)),
        roots,
        allowed: Arc::new(allowed),
        timeout: Duration::from_secs(20),
        keys: Keys::Generate,
        attestation: Some(mini.attestation.clone()),
        metrics: Arc::new(Metrics::default()),
    })
}

async fn fleet(
    mini: &Mini,
    devices: usize,
    scenario: Scenario,
    state: Option<&std::path::Path>,
) -> Outcome {
    let e = Enrollment::parse(&mini.profile_xml).unwrap();
    run(RunOptions {
        devices,
        concurrency: devices,
        duration: Duration::from_secs(120),
        max_requests: None,
        scenario,
        state_dir: state.map(Into::into),
        device: options(mini, e),
        apns: None,
        progress: false,
    })
    .await
    .unwrap()
}

fn example_scenario() -> Scenario {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenario.toml")).unwrap();
    Scenario::parse(&text).unwrap()
}

async fn whole_scenario(sign_message: bool) {
    let mini = Mini::start(sign_message, true).await;
    let n = 5;
    let out = fleet(&mini, n, example_scenario(), None).await;
    let s = &out.summary;
    assert!(s.errors.is_empty(), "errors: {:?}", s.errors);
    assert_eq!(
        (s.devices, s.completed, s.enrolled),
        (n as u64, n as u64, n as u64)
    );
    let seen = mini.seen();
    assert!(
        seen.problems.is_empty(),
        "server problems: {:?}",
        seen.problems
    );
    assert_eq!(seen.scep_issued, n);
    assert_eq!(out.devices.len(), n);
    for d in &out.devices {
        let m = &d.state.model;
        let udid = m.udid.clone();
        // Enrollment as the server recorded it.
        let (serial, _) = &seen.authenticated[&udid];
        assert_eq!(serial, &m.serial);
        assert_eq!(
            seen.tokens[&udid],
            hex::decode(&d.state.push_token).unwrap()
        );
        let user = &d.state.users[0];
        assert_eq!(user.user_id, mdm_proto::checkin::SHARED_IPAD_USER_ID);
        let user_channel = format!("{udid}:{}", user.short_name);
        assert_eq!(
            seen.tokens[&user_channel],
            hex::decode(&user.push_token).unwrap()
        );
        assert!(seen.checked_out.contains(&udid));
        // Every command the device answered, the server received with the same status, and
        // nothing else.
        let device_saw: BTreeSet<(String, String, String)> = d
            .answered
            .iter()
            .map(|a| {
                (
                    a.channel_id.clone(),
                    a.command_uuid.clone(),
                    format!("{:?}", a.status),
                )
            })
            .collect();
        let server_saw: BTreeSet<(String, String, String)> = seen
            .reports
            .iter()
            .filter(|r| r.channel_id == udid || r.channel_id == user_channel)
            .map(|r| {
                (
                    r.channel_id.clone(),
                    r.command_uuid.clone(),
                    format!("{:?}", r.status),
                )
            })
            .collect();
        assert_eq!(device_saw, server_saw);
        let statuses = |st: Status| {
            d.answered
                .iter()
                .filter(|a| a.status == st)
                .map(|a| a.request_type.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(statuses(Status::NotNow), ["DeviceInformation"]);
        assert_eq!(statuses(Status::Error), ["ShutDownDevice"]);
        assert_eq!(statuses(Status::CommandFormatError), ["FrobnicateDevice"]);
        let acked: BTreeSet<String> = statuses(Status::Acknowledged).into_iter().collect();
        for rt in [
            "DeviceInformation",
            "SecurityInfo",
            "ProfileList",
            "InstallProfile",
            "RemoveProfile",
            "CertificateList",
            "InstalledApplicationList",
            "DeclarativeManagement",
            "RestartDevice",
            "DeviceLock",
            "EraseDevice",
        ] {
            assert!(acked.contains(rt), "{rt} not acknowledged");
        }
        // The profile installed then removed; the MDM profile stays.
        let ids: Vec<&str> = d
            .state
            .inventory
            .profiles
            .iter()
            .map(|p| p.identifier.as_str())
            .collect();
        assert_eq!(ids, ["com.example.mdm.sim"]);
        assert_eq!(
            (
                d.state.inventory.restarts,
                d.state.inventory.locks,
                d.state.inventory.erases
            ),
            (1, 1, 1)
        );
        assert!(
            seen.attestations_verified.contains(&udid),
            "attestation of {udid}"
        );
        // One full DDM status report (the second sync found nothing new), as the server read it.
        let reports: Vec<&serde_json::Value> = seen
            .ddm_reports
            .iter()
            .filter(|(c, _)| *c == udid)
            .map(|(_, r)| r)
            .collect();
        assert_eq!(reports.len(), 1, "{udid}: {reports:?}");
        let r = reports[0];
        assert_eq!(r["FullReport"], true);
        let decls = &r["StatusItems"]["management"]["declarations"];
        let active = |kind: &str, id: &str| {
            decls[kind]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["identifier"] == id)
                .map(|e| e["active"].as_bool().unwrap())
                .unwrap()
        };
        let iphone = m.model_name == "iPhone";
        assert_eq!(active("activations", "act.iphone"), iphone);
        assert_eq!(active("configurations", "cfg.passcode"), iphone);
        assert!(!active("configurations", "cfg.unreferenced"));
        assert!(active("management", "mgmt.props"));
        assert_eq!(
            r["StatusItems"]["device"]["identifier"]["serial-number"],
            m.serial.as_str()
        );
    }
    // Every report the server received decoded as mdm-proto's typed result.
    for r in &seen.reports {
        assert!(r.typed.is_ok(), "{:?}", r);
    }
    // Device 4 is an iPad: the predicate really was evaluated both ways.
    assert!(
        out.devices
            .iter()
            .any(|d| d.state.model.model_name == "iPad")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_scenario_over_mtls() {
    whole_scenario(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_scenario_over_mdm_signature() {
    whole_scenario(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_run_resumes_the_fleet() {
    let mini = Mini::start(false, false).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario =
        Scenario::parse("[[step]]\ndo = \"enroll\"\n[[step]]\ndo = \"sessions\"\n").unwrap();
    let first = fleet(&mini, 3, scenario.clone(), Some(dir.path())).await;
    assert!(
        first.summary.errors.is_empty(),
        "{:?}",
        first.summary.errors
    );
    let second = fleet(&mini, 3, scenario, Some(dir.path())).await;
    assert!(
        second.summary.errors.is_empty(),
        "{:?}",
        second.summary.errors
    );
    assert_eq!(second.summary.counters.get("devices.resumed"), Some(&3));
    let udids = |o: &Outcome| {
        o.devices
            .iter()
            .map(|d| d.state.model.udid.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(udids(&first), udids(&second));
    let seen = mini.seen();
    // No second SCEP enrollment, no second Authenticate: the same identities went on.
    assert_eq!(seen.scep_issued, 3);
    assert_eq!(seen.authenticated.len(), 3);
    let endpoints = &second.summary.endpoints;
    assert!(!endpoints.contains_key("scep:PKIOperation"));
    assert!(!endpoints.contains_key("checkin:Authenticate"));
    assert_eq!(second.summary.endpoints["connect"].answered, 3);
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_from_an_invite_url() {
    let mini = Mini::start(true, false).await;
    let roots = [mini.tls_ca.clone()];
    let signed = admit_sim::enrollment::fetch(
        &mini.url("/mdm/enroll?invite=good"),
        &roots,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let e = Enrollment::parse(&signed).unwrap();
    assert_eq!(e, Enrollment::parse(&mini.profile_xml).unwrap());
    assert!(e.sign_message);
    assert_eq!(e.challenge.as_deref(), Some(support::CHALLENGE));
    assert_eq!(e.subject.as_deref(), Some("CN=sim device,O=admit"));
    let err = admit_sim::enrollment::fetch(
        &mini.url("/mdm/enroll?invite=spent"),
        &roots,
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), "http-403");
    // A URL outside the profile's origin is refused before any connection.
    let err = admit_sim::enrollment::fetch("https://127.0.0.1:1/x", &[], Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_prints_a_json_summary() {
    let mini = Mini::start(false, true).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, testkit_pem(&mini.tls_ca)).unwrap();
    let pool = dir.path().join("pool.pem");
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_admit-sim"))
        .args(["keys", "--count", "2", "--out"])
        .arg(&pool)
        .status()
        .unwrap();
    assert!(st.success());
    let url = mini.url("/mdm/enroll?invite=good");
    let scenario = dir.path().join("s.toml");
    std::fs::write(&scenario, "[[step]]\ndo = \"enroll\"\n[[step]]\ndo = \"sessions\"\nrounds = 2\n[[step]]\ndo = \"checkout\"\n").unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_admit-sim"))
        .args([
            "run",
            "--json",
            "--devices",
            "2",
            "--concurrency",
            "2",
            "--duration",
            "60s",
            "--profile",
            &url,
        ])
        .arg("--server-ca")
        .arg(&ca)
        .arg("--key-pool")
        .arg(&pool)
        .arg("--scenario")
        .arg(&scenario)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), child)
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(summary["enrolled"], 2);
    assert_eq!(summary["completed"], 2);
    // No attestation CA given: DeviceInformation with a nonce is answered with an Error.
    assert_eq!(summary["counters"]["commands.status.Error"], 4);
    assert_eq!(summary["errors"], serde_json::json!({}));
    assert!(summary["endpoints"]["connect"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert!(out.status.success());
    assert!(mini.seen().problems.is_empty());
}

fn testkit_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}
