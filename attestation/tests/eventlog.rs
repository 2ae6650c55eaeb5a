//! The crypto-agile event log in the vectors, replayed here and by `tpm2_eventlog`.

mod common;

use std::process::Command;
use std::time::Duration;

use attestation::Error;
use attestation::tpm::{EventLog, alg};

const LOG: &str = "attestation/eventlogs/go-attestation/crypto_agile_eventlog";

/// The `pcrs:` section `tpm2_eventlog` prints: (bank, index, value).
fn tpm2_eventlog_pcrs() -> Vec<(String, u8, Vec<u8>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = testkit::vectors().join(LOG);
    let run = testkit::run_bounded(
        Command::new("tpm2_eventlog").arg(&path),
        dir.path(),
        Duration::from_secs(30),
    );
    assert!(run.ok, "tpm2_eventlog: {}", run.stderr);
    let text = String::from_utf8(run.stdout).unwrap();
    let section = &text[text.find("\npcrs:").expect("a pcrs section")..];
    let mut bank = String::new();
    let mut out = Vec::new();
    for line in section.lines().skip(2) {
        let t = line.trim();
        if let Some(b) = t.strip_suffix(':') {
            bank = b.to_string();
        } else if let Some((i, v)) = t.split_once(':') {
            let v = v.trim().trim_start_matches("0x");
            out.push((
                bank.clone(),
                i.trim().parse().unwrap(),
                hex::decode(v).unwrap(),
            ));
        } else if !t.is_empty() {
            break;
        }
    }
    assert!(!out.is_empty());
    out
}

#[test]
fn replay_equals_tpm2_eventlog() {
    let log = EventLog::parse(&testkit::vector(LOG)).unwrap();
    assert_eq!(log.spec_id.algorithms, vec![(alg::SHA256, 32)]);
    assert_eq!(log.events.len(), 26);
    let oracle = tpm2_eventlog_pcrs();
    assert_eq!(oracle.len(), 8);
    for p in common::providers() {
        let replayed = log.replay(p).unwrap();
        assert_eq!(replayed.0.len(), oracle.len());
        for (bank, index, value) in &oracle {
            assert_eq!(bank, "sha256");
            assert_eq!(
                replayed.get(alg::SHA256, *index),
                Some(&value[..]),
                "PCR {index}"
            );
        }
    }
    assert_eq!(log.to_json()["events"].as_array().unwrap().len(), 26);
}

#[test]
fn damaged_logs_are_refused_with_typed_errors() {
    let bytes = testkit::vector(LOG);
    // Every truncation inside the header or an event is an error, never a panic.
    let mut ok = 0;
    for len in 0..bytes.len() {
        match EventLog::parse(&bytes[..len]) {
            Ok(l) => {
                ok += 1;
                assert!(l.events.len() < 26);
            }
            Err(
                Error::Truncated { .. }
                | Error::Malformed { .. }
                | Error::TooLarge { .. }
                | Error::TrailingData { .. },
            ) => {}
            Err(e) => panic!("unexpected error at {len}: {e}"),
        }
    }
    assert_eq!(ok, 26, "exactly the cuts at event boundaries parse");
    // Not crypto-agile: the first event is not a Spec ID event.
    let mut sha1_log = bytes.clone();
    sha1_log[32..48].copy_from_slice(b"Spec ID Event02\0");
    assert!(matches!(
        EventLog::parse(&sha1_log),
        Err(Error::Malformed { .. })
    ));
    // An event size far beyond the input.
    let mut big = bytes.clone();
    let first_event_size_at = 32 + 33 + 4 + 4 + 4 + 2 + 32;
    big[first_event_size_at..first_event_size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(EventLog::parse(&big), Err(Error::TooLarge { .. })));
}
