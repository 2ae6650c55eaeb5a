//! `ddm::StatusReport::parse` then `reconcile` against a small set, on any bytes: a `Result`,
//! never a panic.
#![no_main]

use ddm::reconcile::{Event, Policy, State, reconcile};
use ddm::{Channel, Declaration, DeclarationSet, Limits, StatusReport, StatusSnapshot, TokenMode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(r) = StatusReport::parse(data, &limits) {
        let _ = r.to_typed_json();
        let mut set = DeclarationSet::new(Channel::Device, TokenMode::Content);
        if let Ok(d) = Declaration::parse(
            br#"{"Type":"com.apple.configuration.management.test","Identifier":"com.example.test","Payload":{"Echo":"x"}}"#,
            &limits,
        ) {
            let _ = set.insert(d);
        }
        let _ = reconcile(
            &set,
            &State::default(),
            Event::Report(&r),
            1,
            &Policy::default(),
        );
        let mut s = StatusSnapshot::new();
        s.apply(&r);
    }
});
