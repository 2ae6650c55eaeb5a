//! admitd against a fleet of simulated devices (`admit-sim`, in-process) on SQLite and
//! PostgreSQL, over mTLS and Mdm-Signature: 20 devices enroll through one invite each use
//! (each its own profile and SCEP challenge), with a Shared iPad user each; every command the
//! simulator answers is queued through the admin API and answered (one NotNow spell each);
//! a DDM round (declarations in a set assigned to every device: the DeclarativeManagement
//! command, the sync, a status report evaluated against the activation's predicate); the
//! devices check out. The server's records (admin API) must match what the devices saw.

mod backend;
mod common;
mod mdm_support;
mod push_support;
mod scep_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use admit_sim::apns::Registry;
use admit_sim::commands::AttestationCa;
use admit_sim::device::{Options, Source};
use admit_sim::enrollment::read_certificates;
use admit_sim::metrics::Metrics;
use admit_sim::run::{RunOptions, run};
use admit_sim::scenario::Scenario;
use admit_sim::state::Keys;
use admit_sim::transport::Allowed;
use backend::Backend;
use base64::Engine as _;
use mdm_proto::command::{Command, Report, Status};
use mdm_proto::generated::commands as gc;
use mdm_support::Server;
use pki::cert::Cert;
use pki::cert::issue::{Template, issue, self_signed_ca};
use pki::key::KeySpec;
use serde_json::json;

const DEVICES: usize = 20;
/// The push certificate's topic (push_support makes the certificate).
const TOPIC: &str = push_support::TOPIC;

fn attestation_ca() -> (AttestationCa, Cert) {
    let p = admit_sim::provider();
    let mut rng = admit_sim::rng();
    let now = SystemTime::now();
    let (nb, na) = (
        now - Duration::from_secs(3600),
        now + Duration::from_secs(86400),
    );
    let root_key = p
        .generate_key(KeySpec::Ec(pki::alg::Curve::P384), &mut rng)
        .unwrap();
    let root = self_signed_ca(
        p,
        &*root_key,
        "CN=Test Attestation Root".parse().unwrap(),
        nb,
        na,
        Some(1),
        &mut rng,
    )
    .unwrap();
    let sub_key = p
        .generate_key(KeySpec::Ec(pki::alg::Curve::P384), &mut rng)
        .unwrap();
    let sub = issue(
        p,
        &*root_key,
        Some(&root),
        sub_key.spki(),
        &Template::ca(
            "CN=Test Attestation Sub CA".parse().unwrap(),
            nb,
            na,
            Some(0),
        ),
        &mut rng,
    )
    .unwrap();
    (
        AttestationCa {
            key: sub_key,
            chain: vec![Cert::from_certificate(&sub).unwrap()],
        },
        Cert::from_certificate(&root).unwrap(),
    )
}

fn fleet(
    srv: &Server,
    url: &str,
    scenario: &str,
    state: &std::path::Path,
    att: &AttestationCa,
    apns: &Arc<Registry>,
) -> RunOptions {
    let roots = read_certificates(&std::fs::read(&srv.root).unwrap()).unwrap();
    let mut allowed = Allowed::default();
    allowed.allow(url).unwrap();
    let opts = Arc::new(Options {
        source: Source::Url(url.to_owned()),
        roots,
        allowed: Arc::new(allowed),
        timeout: Duration::from_secs(30),
        keys: Keys::Generate,
        attestation: Some(att.clone()),
        metrics: Arc::new(Metrics::default()),
    });
    RunOptions {
        devices: DEVICES,
        concurrency: 10,
        duration: Duration::from_secs(300),
        max_requests: None,
        scenario: Scenario::parse(scenario).unwrap(),
        state_dir: Some(state.to_owned()),
        device: opts,
        apns: Some(apns.clone()),
        progress: false,
    }
}

/// Queue `cmd` on `channels` through the admin API (as a plist, keeping its CommandUUID).
fn enqueue(srv: &Server, channels: &[String], cmd: &Command) {
    let xml = String::from_utf8(cmd.to_xml()).unwrap();
    let (st, j) = srv.api(
        "POST",
        "/api/v1/mdm/commands",
        Some(&json!({"channels": channels, "plist": xml})),
    );
    assert_eq!(st, 201, "{j}");
    assert_eq!(j["command_uuid"], cmd.command_uuid.as_str());
}

fn commands(nonce: &[u8]) -> Vec<Command> {
    use gc::device_information::QueriesItem as Q;
    let mut rng = admit_sim::rng();
    let profile = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../admit-sim/tests/wifi.mobileconfig"
    ))
    .unwrap();
    vec![
        Command::new(
            gc::DeviceInformation {
                queries: vec![
                    Q::UDID,
                    Q::SerialNumber,
                    Q::OSVersion,
                    Q::ModelName,
                    Q::DevicePropertiesAttestation,
                ],
                device_attestation_nonce: Some(mdm_proto::Data(nonce.to_vec())),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::SecurityInfo::default(), &mut rng),
        Command::new(
            gc::InstallProfile {
                payload: mdm_proto::Data(profile),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::ProfileList::default(), &mut rng),
        Command::new(
            gc::RemoveProfile {
                identifier: "com.example.wifi".into(),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::CertificateList::default(), &mut rng),
        Command::new(gc::InstalledApplicationList::default(), &mut rng),
        Command::new(gc::RestartDevice::default(), &mut rng),
        Command::new(
            gc::DeviceLock {
                message: Some("admit-sim".into()),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::EraseDevice::default(), &mut rng),
        Command::new(gc::ShutDownDevice::default(), &mut rng),
        Command::from_dictionary("FrobnicateDevice", Default::default(), &mut rng),
    ]
}

// Configurations before the activation that names them.
const DECLARATIONS: [&str; 4] = [
    r#"{"Type":"com.apple.configuration.passcode.settings","Identifier":"cfg.passcode","Payload":{"MinimumLength":6}}"#,
    r#"{"Type":"com.apple.configuration.passcode.settings","Identifier":"cfg.unreferenced","Payload":{"MinimumLength":8}}"#,
    r#"{"Type":"com.apple.management.properties","Identifier":"mgmt.props","Payload":{"fleet":"sim"}}"#,
    r#"{"Type":"com.apple.activation.simple","Identifier":"act.iphone","Payload":{"StandardConfigurations":["cfg.passcode"],"Predicate":"@status(device.model.family) == \"iPhone\""}}"#,
];

const ENROLL: &str = r#"
[device]
users = 1
shared_ipad = true
[[step]]
do = "enroll"
[[step]]
do = "users"
"#;

// The devices first wait for a push (far longer than the run: without one they would be
// stopped at its limit, unfinished).
const WORK: &str = r#"
[device]
users = 1
shared_ipad = true
[[step]]
do = "wait"
ms = 3600000
[[step]]
do = "busy"
commands = 1
[[step]]
do = "sessions"
rounds = 3
users = true
[[step]]
do = "ddm"
[[step]]
do = "checkout"
"#;

fn one(backend: &Backend, sign_message: bool) {
    let ctx = format!("{} sign_message={sign_message}", backend.name());
    let dir = tempfile::tempdir().unwrap();
    // Pushes go to admit-sim's APNs stand-in, which requires the push certificate.
    let certs = push_support::Certs::make();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let stand_in = rt
        .block_on(admit_sim::apns::serve(
            "127.0.0.1:0".parse().unwrap(),
            &[certs.der("ca.pem")],
            Some(TOPIC.into()),
        ))
        .unwrap();
    let apns_ca = dir.path().join("apns-ca.pem");
    std::fs::write(&apns_ca, pem(&stand_in.ca_der)).unwrap();
    // The inventory trusts the simulator's attestation root (Apple's, for real devices).
    let (att, att_root) = attestation_ca();
    let att_root_pem = dir.path().join("attestation-root.pem");
    std::fs::write(&att_root_pem, pem(att_root.der())).unwrap();
    let config = format!(
        "[mdm]\ntopic = \"{TOPIC}\"\nsign_message = {sign_message}\nuser_channels = true\n\
         apns = \"https://{}\"\napns_ca_file = \"{}\"\napns_retry_base_ms = 20\n\
         [inventory]\napple_attestation_roots = [\"{}\"]\n",
        stand_in.addr,
        apns_ca.display(),
        att_root_pem.display()
    );
    let srv = Server::start(dir.path(), backend, &config, &[]);
    let import = testkit::run_bounded(
        std::process::Command::new(common::ADMITD).args([
            "--data-dir",
            srv.data.to_str().unwrap(),
            "mdm",
            "push-cert",
            "import",
            certs.path("push.p12").to_str().unwrap(),
            "--password",
            "p12-secret",
        ]),
        dir.path(),
        Duration::from_secs(60),
    );
    assert!(import.ok, "{ctx}: {}", import.stderr);
    let url = srv.invite(Some("fleet@example.com"), DEVICES as u32);
    let state = dir.path().join("fleet");

    // Enrollment: every device its own profile through the invite, SCEP, Authenticate,
    // TokenUpdate on the device and the Shared iPad user channel.
    let first = rt
        .block_on(run(fleet(
            &srv,
            &url,
            ENROLL,
            &state,
            &att,
            &stand_in.registry,
        )))
        .unwrap();
    assert!(
        first.summary.errors.is_empty(),
        "{ctx}: {:?}\n{}",
        first.summary.errors,
        srv.admitd.log_text()
    );
    assert_eq!(first.summary.enrolled, DEVICES as u64, "{ctx}");
    // The invite is spent.
    assert_eq!(srv.get(&url).0, 403, "{ctx}");

    // The same fleet again, waiting for pushes; then every command is queued on every device
    // (admitd pushes each channel), a ProfileList on every user channel.
    let udids: Vec<String> = first
        .devices
        .iter()
        .map(|d| d.state.model.udid.clone())
        .collect();
    let users: Vec<String> = first
        .devices
        .iter()
        .map(|d| format!("{}:{}", d.state.model.udid, d.state.users[0].short_name))
        .collect();
    let nonce = [0x5Au8; 32];
    let cmds = commands(&nonce);
    for c in &cmds {
        enqueue(&srv, &udids, c);
    }
    let user_cmd = Command::new(gc::ProfileList::default(), &mut admit_sim::rng());
    enqueue(&srv, &users, &user_cmd);
    // Managed Device Attestation for the first device, asked for by the server with a fresh
    // nonce; the inventory records it as normal assurance until the answer proves it.
    let attested = &first.devices[0].state.model;
    let (st, r) = srv.api(
        "POST",
        &format!("/api/v1/mdm/devices/{}/attest", attested.udid),
        None,
    );
    assert_eq!(st, 201, "{ctx}: {r}");
    let instance = format!("/api/v1/collections/default/instances/{}", attested.serial);
    let (st, r) = srv.api("GET", &instance, None);
    assert_eq!(
        (st, r["assurance"].as_str()),
        (200, Some("normal")),
        "{ctx}: {r}"
    );
    let other = &first.devices[1].state.model;
    // A DDM round: declarations in a set assigned to every device (admitd queues the
    // DeclarativeManagement command itself).
    for d in DECLARATIONS {
        let j: serde_json::Value = serde_json::from_str(d).unwrap();
        let id = j["Identifier"].as_str().unwrap().to_owned();
        let (st, r) = srv.api("PUT", &format!("/api/v1/ddm/declarations/{id}"), Some(&j));
        assert_eq!(st, 200, "{ctx}: {r}");
    }
    let ids: Vec<String> = DECLARATIONS
        .iter()
        .map(|d| {
            serde_json::from_str::<serde_json::Value>(d).unwrap()["Identifier"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let (st, r) = srv.api(
        "PUT",
        "/api/v1/ddm/sets/fleet",
        Some(&json!({"declarations": ids})),
    );
    assert_eq!(st, 200, "{ctx}: {r}");
    for u in &udids {
        let (st, r) = srv.api("PUT", &format!("/api/v1/ddm/sets/fleet/channels/{u}"), None);
        assert_eq!(st, 200, "{ctx}: {r}");
        assert!(r["channels"][0]["command_uuid"].is_string(), "{ctx}: {r}");
    }

    // The same fleet again: each device waits for its push, then answers everything (one
    // NotNow each), syncs DDM, checks out.
    let second = rt
        .block_on(run(fleet(
            &srv,
            &url,
            WORK,
            &state,
            &att,
            &stand_in.registry,
        )))
        .unwrap();
    assert!(
        !second.summary.stopped_early,
        "{ctx}: the devices were not woken"
    );
    assert!(
        stand_in.registry.pushes() >= DEVICES as u64,
        "{ctx}: {} pushes",
        stand_in.registry.pushes()
    );
    assert!(
        second.summary.errors.is_empty(),
        "{ctx}: {:?}",
        second.summary.errors
    );
    assert_eq!(
        second.summary.counters.get("devices.resumed"),
        Some(&(DEVICES as u64)),
        "{ctx}"
    );
    assert_eq!(second.summary.completed, DEVICES as u64, "{ctx}");
    // The attested device is high-assurance now; another device, whose attestation answered
    // a nonce the server never issued (the test's own DeviceInformation), is not.
    let (_, r) = srv.api("GET", &instance, None);
    assert_eq!(r["assurance"], "high", "{ctx}: {r}");
    let (_, r) = srv.api(
        "GET",
        &format!("/api/v1/collections/default/instances/{}", other.serial),
        None,
    );
    assert_eq!(r["assurance"], "normal", "{ctx}: {r}");

    // What each device saw, last status per (channel, command).
    let mut device_saw: BTreeMap<(String, String), Status> = BTreeMap::new();
    for d in &second.devices {
        assert_eq!(
            d.answered
                .iter()
                .filter(|a| a.status == Status::NotNow)
                .count(),
            1,
            "{ctx}"
        );
        for a in &d.answered {
            device_saw.insert((a.channel_id.clone(), a.command_uuid.clone()), a.status);
        }
    }
    assert_eq!(
        device_saw.len(),
        // + the attestation query for one device.
        DEVICES * (cmds.len() + 2) + 1,
        "{ctx}: every command answered once at least"
    );

    // The server's records of each command match, and every result it holds decodes.
    let serials: BTreeMap<String, String> = second
        .devices
        .iter()
        .map(|d| (d.state.model.udid.clone(), d.state.model.serial.clone()))
        .collect();
    for c in cmds.iter().chain([&user_cmd]) {
        let (st, j) = srv.api(
            "GET",
            &format!("/api/v1/mdm/commands/{}", c.command_uuid),
            None,
        );
        assert_eq!(st, 200, "{ctx}: {j}");
        let deliveries = j["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), DEVICES, "{ctx}: {j}");
        for d in deliveries {
            let ch = d["channel"].as_str().unwrap().to_owned();
            let saw = device_saw[&(ch.clone(), c.command_uuid.clone())];
            assert_eq!(
                d["status"],
                saw.as_str(),
                "{ctx}: {} on {ch}",
                c.request_type()
            );
            if saw != Status::Acknowledged {
                continue;
            }
            let raw = base64::engine::general_purpose::STANDARD
                .decode(d["raw"].as_str().unwrap())
                .unwrap();
            let mut r = Report::parse(&raw, &mdm_proto::Limits::default()).unwrap();
            let typed = r
                .type_result(c.request_type())
                .unwrap()
                .unwrap_or_else(|| panic!("{ctx}: {} untyped", c.request_type()));
            if let gc::CommandResponse::DeviceInformation(di) = typed {
                let q = &di.query_responses;
                assert_eq!(q.serial_number.as_ref(), serials.get(&ch), "{ctx}");
                let chain: Vec<Cert> = q
                    .device_properties_attestation
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|d| Cert::from_der(&d.0).unwrap())
                    .collect();
                let anchors = [att_root.clone()];
                let opts = attestation::apple::Options::new(
                    SystemTime::now(),
                    attestation::apple::FreshnessCode::from_mdm_nonce(&nonce),
                )
                .with_anchors(&anchors)
                .with_expected_serial(&serials[&ch])
                .with_expected_udid(&ch);
                attestation::apple::verify(admit_sim::provider(), &chain, &opts).unwrap();
            }
        }
    }
    let statuses = |rt: &str| {
        let uuid = &cmds
            .iter()
            .find(|c| c.request_type() == rt)
            .unwrap()
            .command_uuid;
        device_saw
            .iter()
            .filter(|((_, u), _)| u == uuid)
            .map(|(_, s)| *s)
            .collect::<Vec<_>>()
    };
    assert!(
        statuses("ShutDownDevice")
            .iter()
            .all(|s| *s == Status::Error),
        "{ctx}"
    );
    assert!(
        statuses("FrobnicateDevice")
            .iter()
            .all(|s| *s == Status::CommandFormatError),
        "{ctx}"
    );
    assert!(
        statuses("RemoveProfile")
            .iter()
            .all(|s| *s == Status::Acknowledged),
        "{ctx}"
    );

    // The DDM round: what each device reported is what admitd holds, and admitd's view of each
    // declaration follows from the device's model (the activation's predicate).
    for d in &second.devices {
        let m = &d.state.model;
        let (st, v) = srv.api("GET", &format!("/api/v1/ddm/channels/{}", m.udid), None);
        assert_eq!(st, 200, "{ctx}: {v}");
        let reports: Vec<&serde_json::Value> = d.ddm_reports.iter().map(|(_, r)| r).collect();
        assert_eq!(
            reports.len(),
            1,
            "{ctx}: one full report, nothing changed after it"
        );
        assert_eq!(reports[0]["FullReport"], true);
        assert_eq!(&v["report"], reports[0], "{ctx}");
        assert_eq!(v["device_token"], v["declarations_token"], "{ctx}: {v}");
        let state = |id: &str| {
            v["declarations"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["identifier"] == id)
                .map(|x| x["state"].as_str().unwrap().to_owned())
                .unwrap()
        };
        let iphone = m.model_name == "iPhone";
        let on = |yes: bool| if yes { "verified" } else { "inactive" };
        assert_eq!(state("act.iphone"), on(iphone), "{ctx}: {v}");
        assert_eq!(state("cfg.passcode"), on(iphone), "{ctx}: {v}");
        assert_eq!(state("cfg.unreferenced"), "inactive", "{ctx}: {v}");
        assert_eq!(state("mgmt.props"), "verified", "{ctx}: {v}");
    }
    assert!(
        second
            .devices
            .iter()
            .any(|d| d.state.model.model_name == "iPad")
    );

    // The devices as the server holds them.
    for d in &second.devices {
        let m = &d.state.model;
        let (st, j) = srv.api("GET", &format!("/api/v1/mdm/devices/{}", m.udid), None);
        assert_eq!(st, 200, "{ctx}: {j}");
        assert_eq!(j["serial_number"], m.serial.as_str(), "{ctx}: {j}");
        assert_eq!(j["owner"], "fleet@example.com", "{ctx}: {j}");
        assert_eq!(j["state"], "checked_out", "{ctx}: {j}");
        let users = j["user_channels"].as_array().unwrap();
        assert_eq!(users.len(), 1, "{ctx}: {j}");
        assert_eq!(d.state.inventory.erases, 1);
        assert_eq!(
            d.state.inventory.profiles.len(),
            1,
            "the MDM profile alone remains"
        );
    }
    let (st, j) = srv.api("GET", "/api/v1/mdm/devices?limit=500", None);
    assert_eq!(st, 200, "{ctx}: {j}");
    let listed: std::collections::BTreeSet<&str> = j["devices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "device")
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    // (On PostgreSQL the database outlives one run: the other identity form's fleet is there too.)
    for u in &udids {
        assert!(listed.contains(u.as_str()), "{ctx}: {u} not listed");
    }
}

#[test]
fn a_fleet_of_simulated_devices() {
    for backend in Backend::both() {
        for sign_message in [false, true] {
            one(&backend, sign_message);
        }
    }
}

fn pem(der: &[u8]) -> String {
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
