//! KMFDDM's samples (`../shared/vectors/ddm/`): every file parses; KMFDDM's two
//! DeclarationsToken values are reproduced; the responses built from the quickstart's
//! declarations with their stored ServerTokens equal KMFDDM's bodies as JSON values; the
//! quickstart's typo'd activation is rejected naming both declarations. Also the check-in path
//! (plist written here by hand, `Data` base64) and bad input.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use ddm::{
    Channel, CheckIn, Declaration, DeclarationSet, Endpoint, Error, Kind, Limits, StatusReport,
    TokenMode,
};
use serde_json::Value;

const QS: &str = "ddm/kmfddm/docs-quickstart";

fn json(rel: &str) -> Value {
    serde_json::from_slice(&testkit::vector(rel)).unwrap()
}

fn decl(rel: &str) -> Declaration {
    Declaration::parse(&testkit::vector(rel), &Limits::default()).unwrap()
}

fn files(dir: &PathBuf, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// Every JSON file parses as what its name says.
#[test]
fn every_vector_parses() {
    let mut all = Vec::new();
    files(&testkit::vector_dir("ddm"), &mut all);
    all.sort();
    assert_eq!(all.len(), 13, "{all:?}");
    let limits = Limits::default();
    for p in &all {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(p).unwrap();
        if name.ends_with(".status.json") || name.starts_with("status.") {
            let r = StatusReport::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(r.declarations().is_some(), "{name}");
            assert!(r.invalid().is_empty(), "{name}: {:?}", r.invalid());
        } else if name.starts_with("decl.") || name.starts_with("declaration-endpoint") {
            Declaration::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
        } else if name.starts_with("declaration-items") {
            let v: ddm::generated::protocol::DeclarationItemsResponse =
                serde_json::from_slice(&bytes).unwrap();
            assert!(!v.declarations_token.is_empty());
        } else if name.starts_with("tokens-response") {
            let v: ddm::generated::protocol::TokensResponse =
                serde_json::from_slice(&bytes).unwrap();
            assert!(v.sync_tokens.contains_key("DeclarationsToken"));
        } else {
            panic!("unclassified vector {name}");
        }
    }
}

/// The real 2022 report: typed items, declarations, and an item the current schema lacks
/// (`management.push-token`, renamed `mdm.push-token` since) kept by path.
#[test]
fn real_status_report() {
    let r = StatusReport::parse(
        &testkit::vector(
            "ddm/kmfddm/ddm/testdata/A047820F-FC6B-4104-BED0-466876D82BB8.20220628-103225.001918.status.json",
        ),
        &Limits::default(),
    )
    .unwrap();
    let family = r.item("device.model.family").unwrap();
    assert_eq!(family.to_json(), Value::String("iPhone".into()));
    assert_eq!(
        r.item("device.operating-system.version").unwrap().to_json(),
        "16.0"
    );
    assert!(r.item("management.client-capabilities").is_some());
    assert_eq!(
        r.unknown().get("management.push-token"),
        Some(&Value::String(
            "bwyw7bcwAI7jmDvkYswfcQ6sHhkZIO+ss0hvLsNLJmg=".into()
        ))
    );
    let ds = r.declarations().unwrap();
    let acts = ds.activations.as_ref().unwrap();
    assert_eq!(acts[0].identifier, "49F6F16A-70EB-4A89-B092-465FAEC5E550");
    assert!(acts[0].active);
    assert_eq!(r.errors().len(), 0);
}

/// KMFDDM's DeclarationsToken, reproduced in KMFDDM mode from its stored ServerTokens.
#[test]
fn kmfddm_tokens_and_responses() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_659_998_710); // 2022-08-08T22:45:10Z
    let mut set = DeclarationSet::new(Channel::Device, TokenMode::Kmfddm);
    set.insert(decl(&format!("{QS}/decl.configuration.test.token-v2.json")))
        .unwrap();
    set.validate().unwrap();
    assert_eq!(set.declarations_token(), "ed534ed640fa03dc");
    assert_eq!(
        set.tokens_response(now),
        json(&format!("{QS}/tokens-response.1decl.json"))
    );
    assert_eq!(
        set.declaration_items_response(),
        json(&format!("{QS}/declaration-items.1decl.json"))
    );
    let body = set
        .get(Kind::Configuration, "com.example.test")
        .unwrap()
        .to_json();
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json(&format!(
            "{QS}/declaration-endpoint.configuration.com.example.test.json"
        ))
    );

    // The two-declaration state: the activation as KMFDDM stored it (its ServerToken from
    // declaration-items.2decl.json), naming the configuration.
    let act = Declaration::parse(
        br#"{"Type":"com.apple.activation.simple","Identifier":"com.example.act",
             "ServerToken":"b52d83bd680fec2608059723b86f5e89efc1323d",
             "Payload":{"StandardConfigurations":["com.example.test"]}}"#,
        &Limits::default(),
    )
    .unwrap();
    set.insert(act).unwrap();
    set.validate().unwrap();
    assert_eq!(set.declarations_token(), "738e76cddb3a796e");
    assert_eq!(
        set.declaration_items_response(),
        json(&format!("{QS}/declaration-items.2decl.json"))
    );
}

/// The same hash, computed by `xxhsum` (the xxHash reference tool, Debian package `xxhash`).
#[test]
fn kmfddm_hash_matches_xxhsum() {
    let tokens = [
        "b52d83bd680fec2608059723b86f5e89efc1323d",
        "cfc394dc3f39b8da909bdf1b2cae3a22a405e49f",
        "x",
    ];
    let dir = tempfile_dir();
    let input = dir.join("in");
    std::fs::write(&input, tokens.concat()).unwrap();
    let out = std::process::Command::new("xxhsum")
        .arg("-H1")
        .arg(&input)
        .output()
        .expect("xxhsum (Debian package xxhash) is needed: cargo xtask install");
    let text = String::from_utf8(out.stdout).unwrap();
    let want = text.split_whitespace().next().unwrap();
    assert_eq!(ddm::kmfddm_declarations_token(tokens), want);
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("ddm-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// KMFDDM's quickstart: the activation naming `com.example.testt` is refused, naming both.
#[test]
fn typo_reference_is_rejected_naming_both() {
    let mut set = DeclarationSet::new(Channel::Device, TokenMode::Content);
    set.insert(decl(&format!("{QS}/decl.configuration.test.no-token.json")))
        .unwrap();
    set.insert(decl(&format!("{QS}/decl.activation.simple.typo-ref.json")))
        .unwrap();
    let e = set.validate().unwrap_err();
    assert!(
        matches!(&e, Error::MissingReference { from, to, to_kind: Kind::Configuration, .. }
            if from == "com.example.act" && to == "com.example.testt"),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("com.example.act") && msg.contains("com.example.testt"),
        "{msg}"
    );
}

/// Content mode: the uploaded declaration (no ServerToken) gets a 64-hex token from its
/// content; the same content stored with KMFDDM's token gets the same content token.
#[test]
fn content_tokens() {
    let a = decl(&format!("{QS}/decl.configuration.test.no-token.json"));
    let b = decl(&format!("{QS}/decl.configuration.test.token-v1.json"));
    assert!(!a.token_given() && b.token_given());
    assert_eq!(a.server_token().len(), 64);
    let mut set = DeclarationSet::new(Channel::Device, TokenMode::Content);
    set.insert(b).unwrap();
    assert_eq!(
        set.by_identifier("com.example.test")
            .unwrap()
            .server_token(),
        a.server_token()
    );
    let org = decl(&format!("{QS}/decl.management.organization-info.json"));
    assert_eq!(org.kind(), Kind::Management);
    assert!(org.typed().is_some());
}

fn checkin_plist(endpoint: &str, data: Option<&str>) -> Vec<u8> {
    let data = data
        .map(|d| format!("<key>Data</key><data>{d}</data>"))
        .unwrap_or_default();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>MessageType</key><string>DeclarativeManagement</string>
<key>Endpoint</key><string>{endpoint}</string>{data}
<key>UDID</key><string>0000FE00-5FADE97DCBBBEDA5</string>
</dict></plist>"#
    )
    .into_bytes()
}

#[test]
fn check_in_routes_and_answers() {
    let limits = Limits::default();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_659_998_710);
    let mut set = DeclarationSet::new(Channel::Device, TokenMode::Kmfddm);
    set.insert(decl(&format!("{QS}/decl.configuration.test.token-v2.json")))
        .unwrap();

    let c = CheckIn::parse(&checkin_plist("tokens", None), &limits).unwrap();
    assert_eq!(c.endpoint, Endpoint::Tokens);
    assert_eq!(c.channel, Some(Channel::Device));
    let body: Value = serde_json::from_slice(&c.respond(&set, now).unwrap()).unwrap();
    assert_eq!(body, json(&format!("{QS}/tokens-response.1decl.json")));

    let c = CheckIn::parse(&checkin_plist("declaration-items", None), &limits).unwrap();
    let body: Value = serde_json::from_slice(&c.respond(&set, now).unwrap()).unwrap();
    assert_eq!(body, json(&format!("{QS}/declaration-items.1decl.json")));

    let c = CheckIn::parse(
        &checkin_plist("declaration/configuration/com.example.test", None),
        &limits,
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&c.respond(&set, now).unwrap()).unwrap();
    assert_eq!(
        body,
        json(&format!(
            "{QS}/declaration-endpoint.configuration.com.example.test.json"
        ))
    );
    let c = CheckIn::parse(
        &checkin_plist("declaration/asset/com.example.test", None),
        &limits,
    )
    .unwrap();
    let e = c.respond(&set, now).unwrap_err();
    assert_eq!(e.http_status(), 404);

    let report = testkit::vector("ddm/kmfddm/test/e2e/testdata/status.D0.error.json");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&report);
    let c = CheckIn::parse(&checkin_plist("status", Some(&b64)), &limits).unwrap();
    assert_eq!(c.endpoint, Endpoint::Status);
    assert_eq!(c.data.as_deref(), Some(report.as_slice()));
    let r = c.report.as_ref().unwrap();
    assert_eq!(
        r.declarations().unwrap().configurations.as_ref().unwrap()[0].server_token,
        "7c6d85989e823101"
    );
    assert!(c.respond(&set, now).unwrap().is_empty());
}

#[test]
fn command_carries_tokens_response() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_659_998_710);
    let mut set = DeclarationSet::new(Channel::Device, TokenMode::Kmfddm);
    set.insert(decl(&format!("{QS}/decl.configuration.test.token-v2.json")))
        .unwrap();
    let cmd = ddm::command(&set, now, &mut testkit::rng(7));
    assert_eq!(cmd.request_type(), "DeclarativeManagement");
    let xml = String::from_utf8(cmd.to_xml()).unwrap();
    let start = xml.find("<data>").unwrap() + 6;
    let end = xml[start..].find("</data>").unwrap() + start;
    let b64: String = xml[start..end].split_whitespace().collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&data).unwrap(),
        json(&format!("{QS}/tokens-response.1decl.json"))
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let limits = Limits::default();
    // Data as a string that is not base64.
    let plist = String::from_utf8(checkin_plist("status", None))
        .unwrap()
        .replace(
            "<key>UDID</key>",
            "<key>Data</key><string>!!not base64!!</string><key>UDID</key>",
        );
    assert!(matches!(
        CheckIn::parse(plist.as_bytes(), &limits),
        Err(Error::Base64(_))
    ));
    // Status without Data.
    assert!(matches!(
        CheckIn::parse(&checkin_plist("status", None), &limits),
        Err(Error::MissingData(_))
    ));
    // Unknown endpoints.
    for ep in [
        "token",
        "declaration/profile/x",
        "declaration/asset/",
        "declaration/asset",
    ] {
        assert!(
            matches!(
                CheckIn::parse(&checkin_plist(ep, None), &limits),
                Err(Error::UnknownEndpoint(_))
            ),
            "{ep}"
        );
    }
    // Data that is JSON but not an object.
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"[1,2]");
    assert!(matches!(
        CheckIn::parse(&checkin_plist("status", Some(&b64)), &limits),
        Err(Error::WrongType {
            expected: "object",
            found: "array",
            ..
        })
    ));
    // Not JSON at all.
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"{\"StatusItems\":");
    assert!(matches!(
        CheckIn::parse(&checkin_plist("status", Some(&b64)), &limits),
        Err(Error::Json { .. })
    ));
    // Not a plist.
    assert!(matches!(
        CheckIn::parse(b"{}", &limits),
        Err(Error::CheckIn(_))
    ));
    // A declaration over the size cap.
    let big = format!(
        r#"{{"Type":"com.apple.configuration.management.test","Identifier":"a","Payload":{{"Echo":"{}"}}}}"#,
        "x".repeat(2 << 20)
    );
    assert!(matches!(
        Declaration::parse(big.as_bytes(), &limits),
        Err(Error::TooLarge {
            what: "declaration",
            ..
        })
    ));
    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_obj = format!(r#"{{"StatusItems":{deep}}}"#);
    assert_eq!(
        StatusReport::parse(deep_obj.as_bytes(), &limits),
        Err(Error::TooDeep { max: 64 })
    );
    // JSON that is not an object.
    assert!(matches!(
        Declaration::parse(b"\"x\"", &limits),
        Err(Error::WrongType {
            found: "string",
            ..
        })
    ));
    // Missing keys, wrong payload shape, unknown kind, long identifier.
    assert!(matches!(
        Declaration::parse(
            br#"{"Type":"com.apple.configuration.management.test","Payload":{}}"#,
            &limits
        ),
        Err(Error::MissingKey { .. })
    ));
    assert!(matches!(
        Declaration::parse(
            br#"{"Type":"com.apple.configuration.management.test","Identifier":"a","Payload":{"Echo":5}}"#,
            &limits
        ),
        Err(Error::Payload { .. })
    ));
    assert!(matches!(
        Declaration::parse(
            br#"{"Type":"com.example.thing","Identifier":"a","Payload":{}}"#,
            &limits
        ),
        Err(Error::UnknownKind { .. })
    ));
    let long = format!(
        r#"{{"Type":"com.apple.configuration.management.test","Identifier":"{}","Payload":{{"Echo":"a"}}}}"#,
        "i".repeat(65)
    );
    assert!(matches!(
        Declaration::parse(long.as_bytes(), &limits),
        Err(Error::TooLong {
            what: "Identifier",
            len: 65,
            max: 64
        })
    ));
    // A malformed predicate in an activation.
    let mut set = DeclarationSet::new(Channel::Device, TokenMode::Content);
    set.insert(
        Declaration::parse(
            br#"{"Type":"com.apple.activation.simple","Identifier":"a",
                 "Payload":{"StandardConfigurations":[],"Predicate":"@status(device.model.family) ==="}}"#,
            &limits,
        )
        .unwrap(),
    )
    .unwrap();
    let e = set.validate().unwrap_err();
    assert!(
        matches!(&e, Error::ActivationPredicate { identifier, error } if identifier == "a" && error.position == 31),
        "{e:?}"
    );
}

/// Unknown declaration types and unknown payload keys round-trip untouched.
#[test]
fn unknown_types_and_keys_round_trip() {
    let limits = Limits::default();
    let src =
        br#"{"Type":"com.apple.configuration.future.thing","Identifier":"f","ServerToken":"t",
                  "Payload":{"Anything":[1,{"b":null}]},"Extra":true}"#;
    let d = Declaration::parse(src, &limits).unwrap();
    assert!(d.typed().is_none());
    assert_eq!(d.kind(), Kind::Configuration);
    let back: Value = serde_json::from_slice(&d.to_json()).unwrap();
    assert_eq!(back, serde_json::from_slice::<Value>(src).unwrap());

    let src =
        br#"{"Type":"com.apple.configuration.management.test","Identifier":"g","ServerToken":"t",
                  "Payload":{"Echo":"e","NewKey":{"x":1}}}"#;
    let d = Declaration::parse(src, &limits).unwrap();
    let Some(ddm::generated::declarations::DeclarationPayload::ConfigurationManagementTest(t)) =
        d.typed()
    else {
        panic!("not typed: {:?}", d.typed());
    };
    assert_eq!(t.echo, "e");
    assert_eq!(t.unknown.get("NewKey"), Some(&serde_json::json!({"x":1})));
    let back: Value = serde_json::from_slice(&d.to_json()).unwrap();
    assert_eq!(back, serde_json::from_slice::<Value>(src).unwrap());
}
