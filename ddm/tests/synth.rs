//! Synthetic declarations of every type and a status report carrying every status item, written
//! by Python from the schema YAML (PyYAML, `tests/synth/synth.py`, run here: not our generator),
//! parse into their generated types and validate as sets per channel. Prints the coverage.

use std::path::Path;
use std::process::Command;

use ddm::generated::{declarations, status};
use ddm::{Channel, Declaration, DeclarationSet, Error, Limits, StatusReport, TokenMode};
use serde_json::Value;

fn synth() -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/synth/synth.py");
    let schema = testkit::vector_dir("apple-device-management-latest");
    let out = Command::new("python3")
        .arg(&script)
        .arg(&schema)
        .output()
        .expect("python3 with PyYAML (Debian python3-yaml) is needed: cargo xtask install");
    assert!(
        out.status.success(),
        "synth.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_declaration_type_and_status_item() {
    let s = synth();
    let limits = Limits::default();
    let decls: Vec<Declaration> = s["declarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let bytes = serde_json::to_vec(v).unwrap();
            Declaration::parse(&bytes, &limits).unwrap_or_else(|e| panic!("{}: {e}", v["Type"]))
        })
        .collect();
    let typed = decls.iter().filter(|d| d.typed().is_some()).count();
    // Typed payloads serialize back to the JSON they came from (all keys known, none lost).
    for d in &decls {
        let t = d.typed().unwrap();
        assert_eq!(t.name(), d.declaration_type());
        assert_eq!(
            t.to_json(),
            Value::Object(d.payload().clone()),
            "{}",
            d.declaration_type()
        );
    }

    // Scopes as Python reads them from the YAML equal the generated tables.
    let py_scopes = s["scopes"].as_object().unwrap();
    assert_eq!(py_scopes.len(), declarations::ALL.len());
    for e in declarations::ALL {
        let want = &py_scopes[e.name];
        assert_eq!(
            (e.system_scope(), e.user_scope()),
            (want[0].as_bool().unwrap(), want[1].as_bool().unwrap()),
            "{}",
            e.name
        );
    }

    let mut per_channel = Vec::new();
    for channel in [Channel::Device, Channel::User] {
        let mut set = DeclarationSet::new(channel, TokenMode::Content);
        let mut refused = 0;
        for d in &decls {
            match set.insert(d.clone()) {
                Ok(_) => {}
                Err(Error::ScopeNotAllowed { .. }) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        let expected_refused = declarations::ALL
            .iter()
            .filter(|e| match channel {
                Channel::Device => !e.system_scope(),
                Channel::User => !e.user_scope(),
            })
            .count();
        assert_eq!(refused, expected_refused, "{channel:?}");
        // References to assets or configurations the channel cannot hold are reported; drop
        // those holders until the set validates, counting them.
        let mut dropped = Vec::new();
        loop {
            match set.validate() {
                Ok(()) => break,
                Err(e @ Error::MissingReference { .. }) => {
                    let Error::MissingReference { ref from, .. } = e else {
                        unreachable!()
                    };
                    eprintln!("  {channel:?}: {e}");
                    let from = from.clone();
                    set.remove(&from);
                    dropped.push(from);
                }
                Err(e) => panic!("{channel:?}: {e}"),
            }
        }
        if channel == Channel::Device {
            assert!(dropped.is_empty(), "device channel: {dropped:?}");
        }
        per_channel.push((channel, set.len(), refused, dropped));
    }

    let report = serde_json::to_vec(&s["status_report"]).unwrap();
    let r = StatusReport::parse(&report, &limits).unwrap();
    assert!(r.invalid().is_empty(), "{:?}", r.invalid());
    assert!(r.unknown().is_empty(), "{:?}", r.unknown());
    let items = status::ALL
        .iter()
        .filter(|e| e.name != "status-reason")
        .count();
    // `management.declarations` is read into `declarations()`, every other item into `items()`.
    assert!(r.declarations().is_some());
    assert_eq!(r.items().len() + 1, items);
    assert_eq!(items, 62);
    assert_eq!(declarations::ALL.len(), 54);
    // The parse takes the JSON apart (`decode_owned`); copying it (`decode`, `from_object`)
    // gives the same values and the same errors, also for values of the wrong shape.
    assert_eq!(StatusReport::from_object(r.raw().clone()).as_ref(), Ok(&r));
    for (path, v) in r.values() {
        let odd = [
            v.clone(),
            serde_json::json!("x"),
            serde_json::json!([1, {"a": null}]),
            serde_json::json!({"x": 1.5}),
        ];
        for v in odd {
            assert_eq!(
                status::StatusValue::decode(&path, &v),
                status::StatusValue::decode_owned(&path, v.clone()),
                "{path}: {v}"
            );
        }
    }

    let keys: usize = declarations::ALL.iter().map(|e| e.keys.len()).sum();
    println!(
        "ddm generator coverage: {typed}/{} declaration types typed ({keys} top-level payload \
         keys), {}/{items} status items typed, {} credential schemas, {} protocol objects",
        declarations::ALL.len(),
        r.items().len() + 1,
        ddm::generated::credentials::ALL.len(),
        ddm::generated::protocol::ALL.len()
    );
    for (channel, n, refused, dropped) in per_channel {
        println!(
            "  {channel:?} channel: {n} declarations validate, {refused} types refused by \
             allowed-scopes, {} dropped for references the channel cannot hold {dropped:?}",
            dropped.len()
        );
    }
    assert_eq!(typed, declarations::ALL.len());
}
