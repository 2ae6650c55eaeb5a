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

/// What plistlib reads from a plist, as JSON the way `admitd inspect` prints plists (data as
/// lowercase hex, dates as RFC 3339 UTC).
fn plistlib_json(path: &Path) -> serde_json::Value {
    const SCRIPT: &str = r#"
import datetime, json, plistlib, sys
def conv(o):
    if isinstance(o, bytes): return o.hex()
    if isinstance(o, datetime.datetime): return o.strftime("%Y-%m-%dT%H:%M:%SZ")
    raise TypeError(type(o))
print(json.dumps(plistlib.load(open(sys.argv[1], "rb")), default=conv))
"#;
    let out = common::run(Command::new("python3").args(["-c", SCRIPT]).arg(path));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = common::run(Command::new("openssl").args(args).current_dir(dir));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn inspect_args(dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = common::run(
        Command::new(common::ADMITD)
            .current_dir(dir)
            .arg("inspect")
            .args(args),
    );
    assert!(
        out.status.success(),
        "admitd inspect {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Signed profile, MachineInfo (DER and the base64 header value) and OTA phase 2, made by
/// `openssl cms -sign` over plists written by plistlib (the profile is a real one from the
/// vectors) with a test CA standing in for Apple's device CA: `admitd inspect` prints the
/// plist inside as plistlib reads it, names the signer, says the signature verifies exactly
/// when `openssl cms -verify` does, and establishes trust only with `--root` naming the CA
/// that issued the signer.
#[test]
fn signed_forms_are_verified_and_decoded_as_plistlib_reads_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (name, subj) in [("root", "/CN=Test Device CA"), ("other", "/CN=Other CA")] {
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-sha256",
                "-days",
                "2",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.pem"),
                "-subj",
                subj,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "dev.key",
            "-out",
            "dev.csr",
            "-subj",
            "/CN=Test Device/O=admit tests",
        ],
    );
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "dev.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-days",
            "2",
            "-set_serial",
            "42",
            "-out",
            "dev.pem",
        ],
    );
    let script = format!(
        r#"
import datetime, plistlib
open({mi:?}, "wb").write(plistlib.dumps({{
    "UDID": "00008030-001A2B3C4D5E802E", "SERIAL": "F2LXK0AAHG7F", "PRODUCT": "iPhone12,1",
    "VERSION": "21A329", "OS_VERSION": "17.0", "LANGUAGE": "en-US",
    "PAIRING_TOKEN": bytes(range(16)), "MDM_CAN_REQUEST_SOFTWARE_UPDATE": True}}))
open({ota:?}, "wb").write(plistlib.dumps({{
    "CHALLENGE": "one-time 7f3a", "UDID": "00008030-001A2B3C4D5E802E", "PRODUCT": "iPad8,1",
    "VERSION": "21A329", "SERIAL": "DMPXK0AAHG7F", "IMEI": "35 123456 789012 3",
    "DEVICE_NAME": "Test iPad"}}, fmt=plistlib.FMT_BINARY))
"#,
        mi = d.join("mi.plist"),
        ota = d.join("ota.plist"),
    );
    let out = common::run(Command::new("python3").args(["-c", &script]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = testkit::vector_file("mdm/nanomdm/docs/enroll.mobileconfig");
    std::fs::copy(&profile, d.join("profile.plist")).unwrap();
    for name in ["mi", "ota", "profile"] {
        openssl(
            d,
            &[
                "cms",
                "-sign",
                "-binary",
                "-nodetach",
                "-in",
                &format!("{name}.plist"),
                "-signer",
                "dev.pem",
                "-inkey",
                "dev.key",
                "-outform",
                "DER",
                "-out",
                &format!("{name}.der"),
            ],
        );
    }
    let der = std::fs::read(d.join("mi.der")).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    std::fs::write(d.join("mi.b64"), &b64).unwrap();

    // The names as openssl prints them in RFC 2253/4514 form.
    let rfc4514 = |cert: &str, what: &str| -> String {
        let out = common::run(
            Command::new("openssl")
                .current_dir(d)
                .args(["x509", "-in", cert, "-noout", what, "-nameopt", "RFC2253"]),
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (_, name) = text.trim().split_once('=').unwrap();
        name.to_owned()
    };
    let signer = rfc4514("dev.pem", "-subject");
    let issuer = rfc4514("dev.pem", "-issuer");
    let root_name = rfc4514("root.pem", "-subject");
    let cases = [
        ("mi.der", "machineInfo", "mi.plist"),
        ("mi.b64", "machineInfo", "mi.plist"),
        ("ota.der", "otaPhase2", "ota.plist"),
        ("profile.der", "signedProfile", "profile.plist"),
    ];
    for (file, kind, plist) in cases {
        let want = plistlib_json(&d.join(plist));
        let v = inspect_args(d, &[file]);
        let m = &v[kind];
        assert_eq!(m["fields"], want, "{file}: {v}");
        assert_eq!(m["signature"]["signer"], signer.as_str(), "{file}");
        assert_eq!(m["signature"]["signerIssuer"], issuer.as_str(), "{file}");
        assert_eq!(m["signature"]["verifies"], true, "{file}: {v}");
        assert_eq!(m["signature"]["trust"]["established"], false, "{file}");
        assert!(v["signedData"]["signerInfos"].is_array(), "{file}: {v}");
        let with_root = inspect_args(d, &["--root", "root.pem", file]);
        let t = &with_root[kind]["signature"]["trust"];
        assert_eq!(t["established"], true, "{file}: {with_root}");
        assert_eq!(t["anchor"], root_name.as_str(), "{file}");
        let other = inspect_args(d, &["--root", "other.pem", file]);
        let t = &other[kind]["signature"]["trust"];
        assert_eq!(t["established"], false, "{file}: {other}");
        assert!(t["reason"].as_str().is_some_and(|r| !r.is_empty()));
        if kind == "otaPhase2" {
            assert_eq!(m["challenge"], want["CHALLENGE"]);
        }
        if kind == "signedProfile" {
            let types: Vec<&serde_json::Value> = want["PayloadContent"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| &p["PayloadType"])
                .collect();
            assert_eq!(
                m["payloadTypes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>(),
                types
            );
        }
    }
    // openssl agrees on the good signatures.
    for name in ["mi", "ota", "profile"] {
        openssl(
            d,
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &format!("{name}.der"),
                "-CAfile",
                "root.pem",
                "-out",
                "/dev/null",
            ],
        );
    }

    // A serial number changed inside the signed content (same length): the plist still reads,
    // the signature does not verify, for openssl as for us.
    let mut bad = der.clone();
    let at = bad
        .windows(12)
        .position(|w| w == b"F2LXK0AAHG7F")
        .expect("serial in the content");
    bad[at] = b'G';
    std::fs::write(d.join("bad.der"), &bad).unwrap();
    let out = common::run(Command::new("openssl").current_dir(d).args([
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        "bad.der",
        "-CAfile",
        "root.pem",
        "-out",
        "/dev/null",
    ]));
    assert!(!out.status.success(), "openssl accepted the altered blob");
    let v = inspect_args(d, &["--root", "root.pem", "bad.der"]);
    let m = &v["machineInfo"];
    assert_eq!(m["fields"]["SERIAL"], "G2LXK0AAHG7F", "{v}");
    assert_eq!(m["signature"]["verifies"], false, "{v}");
    assert!(m["signature"]["error"].as_str().is_some(), "{v}");
    assert_eq!(m["signature"]["trust"]["established"], false, "{v}");
}
