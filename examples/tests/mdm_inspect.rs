//! `admitd inspect` on every `.plist` and `.mobileconfig` under `vectors/mdm/`: each is
//! recognised as the kind of MDM message it is, and the identifying fields `admitd` prints
//! (MessageType, Status, CommandUUID, RequestType, payload types) equal what Python's
//! `plistlib` reads from the same file. A plist that is none of those, and a truncated one,
//! are refused with a message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "plist" || x == "mobileconfig")
        {
            out.push(p);
        }
    }
}

/// What plistlib says about a file: the fields that name the message.
fn plistlib(path: &Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import json, plistlib, sys
d = plistlib.load(open(sys.argv[1], "rb"))
out = {}
for k in ("MessageType", "Status", "CommandUUID", "UDID", "SERIAL"):
    if k in d: out[k] = d[k]
if isinstance(d.get("Command"), dict): out["RequestType"] = d["Command"].get("RequestType")
if "RequestType" in d and "RequestType" not in out: out["RequestType"] = d["RequestType"]
if "PayloadContent" in d and isinstance(d["PayloadContent"], list):
    out["PayloadTypes"] = [p.get("PayloadType") for p in d["PayloadContent"]]
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
fn every_mdm_vector_is_recognised_as_plistlib_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    files(&testkit::vector_dir("mdm"), &mut all);
    all.sort();
    assert!(all.len() >= 15, "{all:?}");
    for path in &all {
        let out = common::inspect(path.to_str().unwrap(), dir.path(), None);
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let want = plistlib(path);
        let name = path.display();
        if let Some(mt) = want.get("MessageType") {
            assert_eq!(&v["mdmCheckIn"]["messageType"], mt, "{name}");
            assert_eq!(&v["mdmCheckIn"]["fields"]["MessageType"], mt, "{name}");
        } else if let Some(status) = want.get("Status") {
            let r = &v["mdmReport"];
            assert_eq!(&r["status"], status, "{name}: {v}");
            assert_eq!(r["commandUUID"], want["CommandUUID"], "{name}");
            if let Some(udid) = want.get("UDID") {
                assert_eq!(&r["channel"]["deviceId"], udid, "{name}");
            }
        } else if let Some(rt) = want
            .get("RequestType")
            .filter(|_| v.get("mdmCommand").is_some())
        {
            assert_eq!(&v["mdmCommand"]["requestType"], rt, "{name}");
            assert_eq!(
                v["mdmCommand"]["commandUUID"], want["CommandUUID"],
                "{name}"
            );
        } else if let Some(types) = want.get("PayloadTypes") {
            assert_eq!(&v["profile"]["payloadTypes"], types, "{name}: {v}");
        } else {
            assert!(v.get("machineInfo").is_some(), "{name}: {v}");
        }
    }
}

#[test]
fn plists_that_are_not_mdm_messages_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let other = b"<?xml version=\"1.0\"?><plist version=\"1.0\"><dict><key>Hello</key><string>x</string></dict></plist>";
    let out = common::inspect("-", dir.path(), Some(other));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no MDM check-in"));
    let real = std::fs::read(testkit::vector_file(
        "mdm/nanomdm/mdm/testdata/Authenticate.1.plist",
    ))
    .unwrap();
    let out = common::inspect("-", dir.path(), Some(&real[..real.len() / 2]));
    assert!(!out.status.success());
    assert!(!out.stderr.is_empty());
}
