//! `mdm_proto::queue::Queue::decide` (and so `Report::parse` and the typed result of the queued
//! command) on any bytes: a `Result`, never a panic; the queue is only read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_proto::Limits;
use mdm_proto::queue::Queue;

fuzz_target!(|data: &[u8]| {
    let mut q = Queue::default();
    q.push("C-1".into(), "DeviceInformation".into(), Vec::new());
    q.push("C-2".into(), "SecurityInfo".into(), Vec::new());
    if let Ok(d) = q.decide(data, &Limits::default()) {
        let _ = d.report.to_plist();
    }
});
