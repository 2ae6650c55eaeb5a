//! The simulated device's answers on their own: every result it sends decodes as
//! `mdm-proto`'s typed result for that command with no key outside Apple's schema; the
//! attestation chain verifies with the `attestation` crate; DDM status reports go full, then
//! incremental, and read back through `ddm`.

mod support;

use std::time::SystemTime;

use admit_sim::commands::{Context, Inventory, answer};
use admit_sim::declarative::{Ddm, Held, snapshot};
use admit_sim::state::DeviceState;
use mdm_proto::ToPlist;
use mdm_proto::command::{Report, Status};
use mdm_proto::generated::commands::CommandResponse;
use plist::{Dictionary, Value};

fn report(udid: &str, uuid: &str, reply: &admit_sim::commands::Reply) -> Vec<u8> {
    let mut d = Dictionary::new();
    d.insert("UDID".into(), Value::String(udid.into()));
    d.insert("Status".into(), Value::String(reply.status.as_str().into()));
    d.insert("CommandUUID".into(), Value::String(uuid.into()));
    if !reply.error_chain.is_empty() {
        d.insert(
            "ErrorChain".into(),
            Value::Array(reply.error_chain.iter().map(ToPlist::to_plist).collect()),
        );
    }
    for (k, v) in &reply.result {
        d.insert(k.clone(), v.clone());
    }
    mdm_proto::value::to_xml(&Value::Dictionary(d))
}

/// Keys the typed value did not know, at its top level (`unknown` of the generated struct).
fn unknown_keys(r: &CommandResponse) -> usize {
    use CommandResponse as R;
    match r {
        R::DeviceInformation(x) => x.unknown.len() + x.query_responses.unknown.len(),
        R::SecurityInfo(x) => x.unknown.len() + x.security_info.unknown.len(),
        R::ProfileList(x) => {
            x.unknown.len()
                + x.profile_list
                    .iter()
                    .map(|p| p.unknown.len())
                    .sum::<usize>()
        }
        R::InstallProfile(x) => x.unknown.len(),
        R::RemoveProfile(x) => x.unknown.len(),
        R::CertificateList(x) => {
            x.unknown.len()
                + x.certificate_list
                    .iter()
                    .map(|p| p.unknown.len())
                    .sum::<usize>()
        }
        R::InstalledApplicationList(x) => {
            x.unknown.len()
                + x.installed_application_list
                    .iter()
                    .map(|p| p.unknown.len())
                    .sum::<usize>()
        }
        R::DeclarativeManagement(x) => x.unknown.len(),
        R::RestartDevice(x) => x.unknown.len(),
        R::DeviceLock(x) => x.unknown.len(),
        R::EraseDevice(x) => x.unknown.len(),
        other => panic!("unexpected result type {}", other.name()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_result_decodes_as_the_typed_result() {
    // The server pieces give the attestation CA and the command batch.
    let mini = support::Mini::start(false, false).await;
    let state = DeviceState::new(0, &mut admit_sim::rng());
    let set = ddm_set();
    let nonce = [7u8; 32];
    let mut inventory = Inventory::default();
    let token = state.push_token_bytes();
    let cx = Context {
        model: &state.model,
        push_token: &token,
        identity: Some(&mini.tls_ca),
        attestation: Some(&mini.attestation),
        now: SystemTime::now(),
    };
    let mut typed = 0;
    for cmd in support::batch(&set, &nonce) {
        let reply = answer(&cmd, &mut inventory, &cx);
        let body = report(&state.model.udid, &cmd.command_uuid, &reply);
        let mut r = Report::parse(&body, &mdm_proto::Limits::default()).unwrap();
        assert_eq!(r.status, reply.status, "{}", cmd.request_type());
        match cmd.request_type() {
            "ShutDownDevice" => {
                assert_eq!(r.status, Status::Error);
                let chain = r.error_chain.as_ref().unwrap();
                assert_eq!(chain[0].error_domain.as_deref(), Some("MCMDMErrorDomain"));
            }
            "FrobnicateDevice" => assert_eq!(r.status, Status::CommandFormatError),
            rt => {
                assert_eq!(r.status, Status::Acknowledged, "{rt}");
                let t = r
                    .type_result(rt)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{rt}: untyped"));
                assert_eq!(t.name(), rt);
                assert_eq!(unknown_keys(t), 0, "{rt}: keys outside the schema");
                typed += 1;
                if let CommandResponse::DeviceInformation(di) = t {
                    let q = &di.query_responses;
                    assert_eq!(q.udid.as_deref(), Some(state.model.udid.as_str()));
                    assert_eq!(
                        q.serial_number.as_deref(),
                        Some(state.model.serial.as_str())
                    );
                    let chain: Vec<pki::cert::Cert> = q
                        .device_properties_attestation
                        .as_ref()
                        .unwrap()
                        .iter()
                        .map(|d| pki::cert::Cert::from_der(&d.0).unwrap())
                        .collect();
                    // The root is the test root the mini server trusts: the sub CA's issuer.
                    let root = mini_root(&mini);
                    let anchors = [root];
                    let opts = attestation::apple::Options::new(
                        SystemTime::now(),
                        attestation::apple::FreshnessCode::from_mdm_nonce(&nonce),
                    )
                    .with_anchors(&anchors)
                    .with_expected_serial(&state.model.serial)
                    .with_expected_udid(&state.model.udid);
                    let v =
                        attestation::apple::verify(admit_sim::provider(), &chain, &opts).unwrap();
                    assert!(v.freshness_checked());
                    assert_eq!(v.extensions().os_version.as_deref(), Some("17.4"));
                    // A different nonce is refused.
                    let other = attestation::apple::Options::new(
                        SystemTime::now(),
                        attestation::apple::FreshnessCode::from_mdm_nonce(&[8u8; 32]),
                    )
                    .with_anchors(&anchors);
                    assert!(
                        attestation::apple::verify(admit_sim::provider(), &chain, &other).is_err()
                    );
                }
                if let CommandResponse::CertificateList(cl) = t {
                    assert_eq!(cl.certificate_list[0].data.0, mini.tls_ca);
                    assert_eq!(cl.certificate_list[0].common_name, "mini MDM TLS CA");
                }
            }
        }
    }
    assert_eq!(typed, 12);
    // RemoveProfile of a profile that is not there is an Error, as on a device.
    let again = mdm_proto::command::Command::new(
        mdm_proto::generated::commands::RemoveProfile {
            identifier: "com.example.wifi".into(),
            ..Default::default()
        },
        &mut admit_sim::rng(),
    );
    assert_eq!(answer(&again, &mut inventory, &cx).status, Status::Error);
}

fn mini_root(mini: &support::Mini) -> pki::cert::Cert {
    // The sub CA's issuer is the root; the mini server keeps it, the devices only the sub CA.
    mini.attestation_root()
}

fn ddm_set() -> ddm::DeclarationSet {
    let mut set = ddm::DeclarationSet::new(ddm::Channel::Device, ddm::TokenMode::Content);
    set.insert(
        ddm::Declaration::parse(
            br#"{"Type":"com.apple.management.properties","Identifier":"p","Payload":{"a":1}}"#,
            &ddm::Limits::default(),
        )
        .unwrap(),
    )
    .unwrap();
    set
}

fn held(kind: &str, id: &str, ty: &str, payload: serde_json::Value) -> Held {
    Held {
        kind: kind.into(),
        identifier: id.into(),
        server_token: format!("{id}-1"),
        declaration_type: ty.into(),
        payload: payload.as_object().unwrap().clone(),
    }
}

#[test]
fn ddm_reports_go_full_then_incremental() {
    let state = DeviceState::new(0, &mut admit_sim::rng());
    let model = &state.model;
    let mut d = Ddm::default();
    d.hold(held(
        "activation",
        "a",
        "com.apple.activation.simple",
        serde_json::json!({"StandardConfigurations": ["c"], "Predicate": "@status(device.operating-system.version) BEGINSWITH '17.'"}),
    ));
    d.hold(held(
        "configuration",
        "c",
        "com.apple.configuration.passcode.settings",
        serde_json::json!({"MinimumLength": 6}),
    ));
    d.hold(held(
        "configuration",
        "x",
        "com.example.not-a-type",
        serde_json::json!({}),
    ));
    let full = d.status_report(model).unwrap();
    let parsed =
        ddm::StatusReport::parse(&serde_json::to_vec(&full).unwrap(), &ddm::Limits::default())
            .unwrap();
    assert_eq!(parsed.full_report(), Some(true));
    let decl = parsed.declarations().unwrap();
    let find = |k: ddm::Kind, id: &str| {
        decl.of(k)
            .unwrap()
            .iter()
            .find(|s| s.identifier == id)
            .cloned()
            .unwrap()
    };
    assert!(find(ddm::Kind::Activation, "a").active);
    assert!(find(ddm::Kind::Configuration, "c").active);
    let x = find(ddm::Kind::Configuration, "x");
    assert!(!x.active);
    assert_eq!(
        x.reasons.as_ref().unwrap()[0].code,
        ddm::reconcile::UNKNOWN_TYPE_CODE
    );
    // The device status items the predicate read are in the full report.
    let snap = snapshot(model);
    let mut from_report = ddm::StatusSnapshot::new();
    from_report.apply(&parsed);
    for path in [
        "device.operating-system.version",
        "device.model.family",
        "device.identifier.udid",
    ] {
        assert_eq!(from_report.get(path), snap.get(path), "{path}");
    }
    // Nothing changed: nothing to send.
    assert!(d.status_report(model).is_none());
    // A new unreferenced configuration: an incremental report, declarations only.
    d.hold(held(
        "configuration",
        "d",
        "com.apple.configuration.passcode.settings",
        serde_json::json!({}),
    ));
    let inc = d.status_report(model).unwrap();
    assert_eq!(inc["FullReport"], false);
    assert!(inc["StatusItems"].get("device").is_none());
    let parsed =
        ddm::StatusReport::parse(&serde_json::to_vec(&inc).unwrap(), &ddm::Limits::default())
            .unwrap();
    let decl = parsed.declarations().unwrap();
    let dd = decl
        .of(ddm::Kind::Configuration)
        .unwrap()
        .iter()
        .find(|s| s.identifier == "d")
        .unwrap();
    assert!(!dd.active);
    assert_eq!(
        dd.reasons.as_ref().unwrap()[0].code,
        "Info.NotReferencedByActivation"
    );
}
