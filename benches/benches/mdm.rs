//! `mdm-proto` typed decoding against a plain `plist::Value` parse of the same bytes, in the same
//! run: a real Authenticate and TokenUpdate check-in and a DeviceInformation result from the
//! shared vectors (nanomdm's captures). The typed decode includes the caps pre-scan, the
//! `plist::Value` parse, `MessageType`/`Status` dispatch, channel resolution and the conversion
//! into generated types; the goal is to stay within 1.3x of the raw parse.
//!
//! Group = message, function = `plist::Value`, `capped parse` or `typed`.

use std::hint::black_box;
use std::io::Cursor;

use benches::vector;
use criterion::{Criterion, Throughput};
use mdm_proto::Limits;
use mdm_proto::checkin::CheckInRequest;
use mdm_proto::command::Report;
use mdm_proto::plist::Value;

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let limits = Limits::default();
    let cases: [(&str, &str, bool); 3] = [
        (
            "mdm Authenticate",
            "mdm/nanomdm/mdm/testdata/Authenticate.2.plist",
            true,
        ),
        (
            "mdm TokenUpdate",
            "mdm/nanomdm/mdm/testdata/TokenUpdate.1.plist",
            true,
        ),
        (
            "mdm DeviceInformation result",
            "mdm/nanomdm/mdm/testdata/DeviceInformation.1.plist",
            false,
        ),
    ];
    for (group, rel, checkin) in cases {
        let bytes = vector(rel);
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("plist::Value", |b| {
            b.iter(|| {
                Value::from_reader(Cursor::new(black_box(&bytes[..]))).expect("vector parses")
            })
        });
        // The capped reader alone (size check, depth/value pre-scan, then the same parse), to
        // split the typed decode's overhead between the caps and the typed conversion.
        g.bench_function("capped parse", |b| {
            b.iter(|| mdm_proto::value::parse(black_box(&bytes), &limits).expect("vector parses"))
        });
        if checkin {
            g.bench_function("typed", |b| {
                b.iter(|| {
                    CheckInRequest::parse(black_box(&bytes), &limits).expect("vector decodes")
                })
            });
        } else {
            g.bench_function("typed", |b| {
                b.iter(|| {
                    // The vector echoes RequestType, so parsing also types the result.
                    let r = Report::parse(black_box(&bytes), &limits).expect("vector decodes");
                    r.typed.is_some()
                })
            });
        }
        g.finish();
    }
    c.final_summary();
}
