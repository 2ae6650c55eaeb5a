//! `ddm` against the plain work underneath it, in the same run (goal: within 1.5x of each):
//!
//! - a real status report (KMFDDM's 2022 capture) parsed typed (size cap, one JSON pass that
//!   counts the depth cap as it goes, the parsed value taken apart into typed status items and
//!   declarations, the bytes kept as the raw report) against a plain `serde_json::Value` parse
//!   of the same bytes;
//! - the DeclarationsToken of a 10,000-declaration set against SHA-256 over the same ServerToken
//!   bytes concatenated (and KMFDDM's XXH64 mode beside them).
//!
//! Group = case, function = the baseline or `ddm`.

use std::hint::black_box;

use benches::vector;
use criterion::{Criterion, Throughput};
use ddm::{Channel, Declaration, DeclarationSet, Limits, StatusReport, TokenMode};
use sha2::{Digest, Sha256};

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let limits = Limits::default();
    let bytes = vector(
        "ddm/kmfddm/ddm/testdata/A047820F-FC6B-4104-BED0-466876D82BB8.20220628-103225.001918.status.json",
    );
    let mut g = c.benchmark_group("ddm status report");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("serde_json::Value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&bytes)).expect("parses"))
    });
    g.bench_function("ddm typed", |b| {
        b.iter(|| StatusReport::parse(black_box(&bytes), &limits).expect("parses"))
    });
    g.finish();

    let mut content = DeclarationSet::new(Channel::Device, TokenMode::Content);
    let mut kmfddm = DeclarationSet::new(Channel::Device, TokenMode::Kmfddm);
    for i in 0..10_000 {
        let d = Declaration::parse(
            format!(
                r#"{{"Type":"com.apple.configuration.management.test","Identifier":"com.example.{i:05}","Payload":{{"Echo":"{i}"}}}}"#
            )
            .as_bytes(),
            &limits,
        )
        .expect("declaration");
        content.insert(d.clone()).expect("insert");
        kmfddm.insert(d).expect("insert");
    }
    let concatenated: Vec<u8> = content
        .iter()
        .flat_map(|d| d.server_token().as_bytes().to_vec())
        .collect();
    let mut g = c.benchmark_group("ddm DeclarationsToken 10000");
    g.throughput(Throughput::Bytes(concatenated.len() as u64));
    g.bench_function("SHA-256 of ServerTokens", |b| {
        b.iter(|| hex_of(&Sha256::digest(black_box(&concatenated))))
    });
    g.bench_function("ddm content", |b| {
        b.iter(|| black_box(&content).declarations_token())
    });
    g.bench_function("ddm kmfddm", |b| {
        b.iter(|| black_box(&kmfddm).declarations_token())
    });
    g.finish();
    c.final_summary();
}

fn hex_of(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}
