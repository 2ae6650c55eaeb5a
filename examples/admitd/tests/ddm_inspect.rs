//! `admitd inspect` on every JSON file under `vectors/ddm/`: each is recognised as the DDM body
//! it is (declaration, status report, TokensResponse, DeclarationItemsResponse), and the
//! identifying fields `admitd` prints equal what Python's `json` module reads from the same
//! file. A declaration `ddm` refuses is reported with its reason.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

/// What Python's `json` says about a file: the fields that name the body.
fn python(path: &Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, sys
d = json.load(open(sys.argv[1]))
out = {}
if "Type" in d: out.update(kind="declaration", Type=d["Type"], Identifier=d["Identifier"],
                           ServerToken=d.get("ServerToken"), Payload=d["Payload"])
elif "StatusItems" in d:
    si = d["StatusItems"]
    out.update(kind="status", family=si.get("device", {}).get("model", {}).get("family"),
               configurations=si["management"]["declarations"].get("configurations"))
elif "SyncTokens" in d: out.update(kind="tokens", token=d["SyncTokens"]["DeclarationsToken"])
elif "Declarations" in d: out.update(kind="items", token=d["DeclarationsToken"],
                                     configurations=d["Declarations"]["Configurations"])
print(json.dumps(out))
"#;
    let out = common::run(Command::new("python3").args(["-c", SCRIPT]).arg(path));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_ddm_vector_is_recognised_as_python_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    files(&testkit::vector_dir("ddm"), &mut all);
    all.sort();
    assert_eq!(all.len(), 13, "{all:?}");
    for path in &all {
        let name = path.display();
        let out = common::inspect(path.to_str().unwrap(), dir.path(), None);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = python(path);
        match want["kind"].as_str().unwrap() {
            "declaration" => {
                let d = &v["ddmDeclaration"];
                assert_eq!(d["type"], want["Type"], "{name}");
                assert_eq!(d["identifier"], want["Identifier"], "{name}");
                assert_eq!(d["payload"], want["Payload"], "{name}");
                assert_eq!(d["typed"], true, "{name}");
                if want["ServerToken"].is_string() {
                    assert_eq!(d["serverToken"], want["ServerToken"], "{name}");
                }
            }
            "status" => {
                let r = &v["ddmStatusReport"];
                if !want["family"].is_null() {
                    assert_eq!(r["items"]["device.model.family"], want["family"], "{name}");
                }
                assert_eq!(
                    r["items"]["management.declarations"]["configurations"], want["configurations"],
                    "{name}"
                );
                assert_eq!(r["invalid"], serde_json::json!([]), "{name}");
            }
            "tokens" => {
                assert_eq!(
                    v["ddmTokensResponse"]["SyncTokens"]["DeclarationsToken"],
                    want["token"]
                );
            }
            "items" => {
                let i = &v["ddmDeclarationItems"];
                assert_eq!(i["DeclarationsToken"], want["token"], "{name}");
                assert_eq!(
                    i["Declarations"]["Configurations"], want["configurations"],
                    "{name}"
                );
            }
            other => panic!("{name}: {other}"),
        }
    }
}

#[test]
fn refused_declarations_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let bad = br#"{"Type":"com.apple.configuration.management.test","Identifier":"x","Payload":{"Echo":1}}"#;
    let out = common::inspect("-", dir.path(), Some(bad));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("malformed DDM declaration")
            && err.contains("Echo: expected string, found number"),
        "{err}"
    );
}

/// A DeclarativeManagement check-in (plist written here, `Data` = KMFDDM's status report in
/// base64 by Python) shows its endpoint and its typed report.
#[test]
fn declarative_management_check_in() {
    let dir = tempfile::tempdir().unwrap();
    let report = testkit::vector_file("ddm/kmfddm/test/e2e/testdata/status.1st.json");
    const SCRIPT: &str = r#"
import plistlib, sys
data = open(sys.argv[1], "rb").read()
sys.stdout.buffer.write(plistlib.dumps({"MessageType": "DeclarativeManagement",
    "Endpoint": "status", "Data": data, "UDID": "0000FE00-5FADE97DCBBBEDA5"}))
"#;
    let out = common::run(Command::new("python3").args(["-c", SCRIPT]).arg(&report));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::inspect("-", dir.path(), Some(&out.stdout));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ddm = &v["mdmCheckIn"]["ddm"];
    assert_eq!(ddm["endpoint"], "status");
    let items = &ddm["data"]["ddmStatusReport"]["items"];
    assert_eq!(items["device.model.family"], "Mac");
    assert_eq!(items["device.operating-system.version"], "13.3.1");
}
