//! Every `.plist` and `.mobileconfig` under `vectors/mdm/` decodes to the message its README
//! says it is, and the typed value re-encodes to the same plist value.

use mdm_proto::checkin::{Channel, CheckIn, CheckInRequest};
use mdm_proto::command::{Command, Payload, Report, Status};
use mdm_proto::generated::commands::{CommandPayload, CommandResponse};
use mdm_proto::plist::Value;
use mdm_proto::profile::{Profile, ProfilePayload};
use mdm_proto::{Limits, ToPlist};

/// What each vector is, from `vectors/mdm/README.md`.
enum Kind {
    CheckIn(&'static str),
    /// Status and, for Acknowledged, the request type the result belongs to.
    Report(Status, Option<&'static str>),
    Command(&'static str),
    /// Payload types in order.
    Profile(&'static [&'static str]),
}

const VECTORS: &[(&str, Kind)] = &[
    (
        "nanomdm/mdm/testdata/Authenticate.1.plist",
        Kind::CheckIn("Authenticate"),
    ),
    (
        "nanomdm/mdm/testdata/Authenticate.2.plist",
        Kind::CheckIn("Authenticate"),
    ),
    (
        "nanomdm/mdm/testdata/TokenUpdate.1.plist",
        Kind::CheckIn("TokenUpdate"),
    ),
    (
        "nanomdm/mdm/testdata/TokenUpdate.2.plist",
        Kind::CheckIn("TokenUpdate"),
    ),
    (
        "nanomdm/mdm/testdata/DeviceInformation.1.plist",
        Kind::Report(Status::Acknowledged, Some("DeviceInformation")),
    ),
    (
        "nanocmd/engine/testdata/devinfo.plist",
        Kind::Report(Status::Acknowledged, Some("DeviceInformation")),
    ),
    (
        "nanocmd/workflow/inventory/testdata/devinfo.plist",
        Kind::Report(Status::Acknowledged, Some("DeviceInformation")),
    ),
    (
        "nanocmd/workflow/inventory/testdata/secinfo.plist",
        Kind::Report(Status::Acknowledged, Some("SecurityInfo")),
    ),
    (
        "nanocmd/workflow/certprof/testdata/certlist.plist",
        Kind::Report(Status::Acknowledged, Some("CertificateList")),
    ),
    (
        "nanocmd/workflow/certprof/testdata/resp-ack.plist",
        Kind::Report(Status::Acknowledged, None),
    ),
    (
        "nanocmd/workflow/certprof/testdata/resp-error.plist",
        Kind::Report(Status::Error, None),
    ),
    (
        "micromdm/mdm/mdm/testdata/InstallProfile.plist",
        Kind::Command("InstallProfile"),
    ),
    (
        "nanomdm/docs/enroll.mobileconfig",
        Kind::Profile(&["com.apple.security.scep", "com.apple.mdm"]),
    ),
    (
        "nanocmd/workflow/certprof/testdata/scep.mobileconfig",
        Kind::Profile(&["com.apple.security.scep"]),
    ),
    (
        "nanocmd/utils/mobileconfig/testdata/test.mobileconfig",
        Kind::Profile(&["com.google.Chrome", "com.apple.Safari"]),
    ),
];

fn original(rel: &str) -> Value {
    Value::from_reader(std::io::Cursor::new(testkit::vector(&format!("mdm/{rel}")))).unwrap()
}

#[test]
fn every_vector_is_listed() {
    let dir = testkit::vector_dir("mdm");
    let mut found = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "plist" || x == "mobileconfig")
            {
                found.push(p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    let mut listed: Vec<String> = VECTORS.iter().map(|(p, _)| (*p).to_owned()).collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn vectors_decode_typed_and_round_trip() {
    let limits = Limits::default();
    for (rel, kind) in VECTORS {
        let bytes = testkit::vector(&format!("mdm/{rel}"));
        let orig = original(rel);
        match kind {
            Kind::CheckIn(mt) => {
                let req =
                    CheckInRequest::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_eq!(req.message.message_type(), *mt, "{rel}");
                assert_eq!(req.raw(), &bytes[..]);
                assert!(matches!(req.channel, Some(Channel::Device { .. })), "{rel}");
                assert_eq!(req.message.to_plist(), orig, "{rel}: re-encoding differs");
            }
            Kind::Report(status, rt) => {
                let mut r = Report::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_eq!(r.raw(), &bytes[..]);
                assert_eq!(r.status, *status, "{rel}");
                if let Some(rt) = rt {
                    let typed = r.type_result(rt).unwrap_or_else(|e| panic!("{rel}: {e}"));
                    let typed = typed.unwrap_or_else(|| panic!("{rel}: no typed result"));
                    assert_eq!(typed.name(), *rt);
                }
                assert_eq!(r.to_plist(), orig, "{rel}: re-encoding differs");
            }
            Kind::Command(rt) => {
                let c = Command::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_eq!(c.request_type(), *rt);
                assert_eq!(c.raw(), Some(&bytes[..]));
                assert!(matches!(c.payload, Payload::Typed(_)), "{rel}: not typed");
                assert_eq!(c.to_plist(), orig, "{rel}: re-encoding differs");
            }
            Kind::Profile(types) => {
                let p = Profile::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_eq!(p.raw(), Some(&bytes[..]));
                let got: Vec<String> = p
                    .top
                    .payload_content
                    .iter()
                    .map(|d| {
                        d.get("PayloadType")
                            .and_then(Value::as_string)
                            .unwrap_or("")
                            .to_owned()
                    })
                    .collect();
                assert_eq!(got, *types, "{rel}");
                for (t, payload) in types.iter().zip(&p.payloads) {
                    let typed = match payload {
                        ProfilePayload::Mdm(_) => "com.apple.mdm",
                        ProfilePayload::Scep(_) => "com.apple.security.scep",
                        ProfilePayload::Acme(_) => "com.apple.security.acme",
                        ProfilePayload::Pkcs1(_) => "com.apple.security.pkcs1",
                        ProfilePayload::Root(_) => "com.apple.security.root",
                        ProfilePayload::Other(_) => "other",
                    };
                    if t.starts_with("com.apple.security") || *t == "com.apple.mdm" {
                        assert_eq!(typed, *t, "{rel}");
                    }
                }
                assert_eq!(p.to_plist(), orig, "{rel}: re-encoding differs");
            }
        }
    }
}

/// Known values from the files themselves.
#[test]
fn vector_fields() {
    let limits = Limits::default();
    let req = CheckInRequest::parse(
        &testkit::vector("mdm/nanomdm/mdm/testdata/Authenticate.2.plist"),
        &limits,
    )
    .unwrap();
    let CheckIn::Authenticate(a) = &req.message else {
        panic!()
    };
    assert_eq!(a.device_name.as_deref(), Some("Fruit"));
    assert_eq!(a.serial_number.as_deref(), Some("C02MT66KFLHH"));
    assert_eq!(
        a.unknown.get("Challenge").and_then(Value::as_data),
        Some(&b"apple"[..])
    );
    assert_eq!(
        req.channel.unwrap().id(),
        "66ADE930-5FDF-5EC4-8429-15640684C489"
    );

    let req = CheckInRequest::parse(
        &testkit::vector("mdm/nanomdm/mdm/testdata/TokenUpdate.1.plist"),
        &limits,
    )
    .unwrap();
    let CheckIn::TokenUpdate(t) = &req.message else {
        panic!()
    };
    assert_eq!(t.token.0.len(), 32);
    assert_eq!(t.awaiting_configuration, Some(false));
    assert!(t.unlock_token.as_ref().is_some_and(|u| u.0.len() > 1000));

    let r = Report::parse(
        &testkit::vector("mdm/nanocmd/workflow/certprof/testdata/resp-error.plist"),
        &limits,
    )
    .unwrap();
    let chain = r.error_chain.as_ref().unwrap();
    assert_eq!(chain[0].error_code, Some(-909));
    assert_eq!(
        chain[0].error_domain.as_deref(),
        Some("NSOSStatusErrorDomain")
    );
    assert_eq!(
        r.command_uuid.as_deref(),
        Some("D053EE3A-EE0E-4E82-87D2-BB3624186694")
    );

    let mut r = Report::parse(
        &testkit::vector("mdm/nanocmd/engine/testdata/devinfo.plist"),
        &limits,
    )
    .unwrap();
    let Some(CommandResponse::DeviceInformation(di)) =
        r.type_result("DeviceInformation").unwrap().cloned()
    else {
        panic!()
    };
    assert_eq!(di.query_responses.os_version.as_deref(), Some("15.7"));
    assert_eq!(
        di.query_responses.serial_number.as_deref(),
        Some("BNPTFLNZHG7K")
    );

    let c = Command::parse(
        &testkit::vector("mdm/micromdm/mdm/mdm/testdata/InstallProfile.plist"),
        &limits,
    )
    .unwrap();
    let Payload::Typed(p) = &c.payload else {
        panic!()
    };
    let CommandPayload::InstallProfile(ip) = p.as_ref() else {
        panic!()
    };
    assert_eq!(ip.payload.0, b"foobarbaz");

    let p = Profile::parse(
        &testkit::vector("mdm/nanomdm/docs/enroll.mobileconfig"),
        &limits,
    )
    .unwrap();
    let ProfilePayload::Mdm(m) = &p.payloads[1] else {
        panic!()
    };
    assert_eq!(m.access_rights, Some(8191));
    assert_eq!(m.sign_message, Some(true));
}
