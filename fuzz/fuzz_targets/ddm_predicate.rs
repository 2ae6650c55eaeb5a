//! `ddm::predicate::parse` and evaluation on any UTF-8 string: a `Result`, never a panic.
#![no_main]

use ddm::StatusSnapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = ddm::predicate::parse(s) {
        let mut snap = StatusSnapshot::new();
        snap.set("device.model.family", "iPad".into());
        snap.set("device.operating-system.version", "17.4".into());
        let _ = p.evaluate(&snap);
    }
});
