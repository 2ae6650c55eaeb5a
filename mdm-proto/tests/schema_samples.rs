//! Synthetic samples of every command, result and check-in, written by Python's `plistlib`
//! (XML and binary) from the schema's own keys (`tests/synth/samples.py`, run here), decode to
//! their generated types; the "drift" variants (lenient scalar forms) decode to the same typed
//! values. Also the coverage gate: all commands typed (request and response), all check-ins.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command as Process, Stdio};

use mdm_proto::checkin::{CheckIn, CheckInRequest};
use mdm_proto::command::{Command, Payload, Report, Status};
use mdm_proto::generated::{checkin, commands, errors, other, profiles};
use mdm_proto::plist::Value;
use mdm_proto::{Limits, ToPlist};

fn schema_docs(dir: &str) -> BTreeMap<String, serde_json::Value> {
    let root = testkit::vector_dir("apple-device-management-latest");
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root.join(dir)).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
            let json = serde_json::to_value(&doc).unwrap();
            out.insert(
                format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                json,
            );
        }
    }
    out
}

fn request_types(docs: &BTreeMap<String, serde_json::Value>) -> Vec<String> {
    docs.values()
        .map(|d| d["payload"]["requesttype"].as_str().unwrap().to_owned())
        .collect()
}

fn run_python(
    out: &Path,
    cmds: &BTreeMap<String, serde_json::Value>,
    checkins: &BTreeMap<String, serde_json::Value>,
) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/synth/samples.py");
    let input = serde_json::json!({"commands": cmds, "checkin": checkins}).to_string();
    let mut child = Process::new("python3")
        .arg(&script)
        .arg(out)
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 is needed to write the synthetic samples");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "samples.py failed");
}

#[test]
fn python_samples_decode_and_coverage() {
    let cmds = schema_docs("mdm/commands");
    let checkins = schema_docs("mdm/checkin");
    let dir = tempfile::tempdir().unwrap();
    run_python(dir.path(), &cmds, &checkins);
    let limits = Limits::default();
    let read =
        |name: &str| std::fs::read(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));

    let mut typed_requests = 0;
    let mut typed_responses = 0;
    let mut files = 0;
    for rt in request_types(&cmds) {
        let mut typed = Vec::new();
        let mut results = Vec::new();
        for drift in ["", ".drift"] {
            for fmt in ["xml", "bin"] {
                let name = format!("command.{rt}.request{drift}.{fmt}");
                let c =
                    Command::parse(&read(&name), &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
                let Payload::Typed(p) = &c.payload else {
                    panic!("{name}: not typed")
                };
                assert!(p.name() == rt);
                typed.push(c.clone());
                let name = format!("command.{rt}.response{drift}.{fmt}");
                let mut r =
                    Report::parse(&read(&name), &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(r.status, Status::Acknowledged);
                let t = r
                    .type_result(&rt)
                    .unwrap_or_else(|e| panic!("{name}: {e}"))
                    .cloned();
                let t = t.unwrap_or_else(|| panic!("{name}: no typed result"));
                assert_eq!(t.name(), rt);
                results.push(t);
                files += 2;
                if drift.is_empty() {
                    // The non-drift sample re-encodes to the same plist value.
                    let orig = Value::from_reader(std::io::Cursor::new(read(&name))).unwrap();
                    assert_eq!(r.to_plist(), orig, "{name}: re-encoding differs");
                }
            }
        }
        // Clean and drift forms give the same typed command.
        assert!(
            typed.windows(2).all(|w| w[0] == w[1]),
            "{rt}: drift decodes differently"
        );
        assert!(
            results.windows(2).all(|w| w[0] == w[1]),
            "{rt} result: drift decodes differently"
        );
        typed_requests += 1;
        typed_responses += 1;
    }
    let mut typed_checkins = 0;
    for mt in request_types(&checkins) {
        let mut typed = Vec::new();
        for drift in ["", ".drift"] {
            for fmt in ["xml", "bin"] {
                let name = format!("checkin.{mt}{drift}.{fmt}");
                let req = CheckInRequest::parse(&read(&name), &limits)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(req.message.message_type(), mt);
                if drift.is_empty() {
                    let orig = Value::from_reader(std::io::Cursor::new(read(&name))).unwrap();
                    assert_eq!(req.message.to_plist(), orig, "{name}: re-encoding differs");
                }
                typed.push(req.message);
                files += 1;
            }
        }
        assert!(
            typed.windows(2).all(|w| w[0] == w[1]),
            "{mt}: drift decodes differently"
        );
        typed_checkins += 1;
    }

    // Coverage, against the schema folder and the generated tables.
    assert_eq!(cmds.len(), 68, "the schema folder should hold 68 commands");
    assert_eq!(
        checkins.len(),
        9,
        "the schema folder should hold 9 check-ins"
    );
    assert_eq!(commands::ALL.len(), 68);
    assert_eq!(checkin::ALL.len(), 9);
    assert_eq!(typed_requests, 68);
    assert_eq!(typed_responses, 68);
    assert_eq!(typed_checkins, 9);
    let keys = |t: &[&[mdm_proto::availability::KeyInfo]]| t.iter().map(|k| k.len()).sum::<usize>();
    println!(
        "coverage: commands {typed_requests}/68 typed requests, {typed_responses}/68 typed responses; \
         check-ins {typed_checkins}/9; {} python-written samples decoded; errors {}, profiles {}, other {}; \
         top-level keys: DeviceInformation {} / TokenUpdate {}",
        files,
        errors::ALL.len(),
        profiles::ALL.len(),
        other::ALL.len(),
        keys(&[commands::DeviceInformation::KEYS]),
        keys(&[checkin::TokenUpdate::KEYS]),
    );
    let _ = CheckIn::from_dictionary;
}
