//! `scep::PkiMessage::parse` and `scep::PkiMessage::parse_without_envelope` on any bytes: a
//! `Result`, never a panic. A message that parses has its attributes and envelope read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scep::{Limits, PkiMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = PkiMessage::parse(data) {
        let _ = format!("{m:?}");
    }
    if let Ok(m) = PkiMessage::parse_without_envelope(data, &Limits::default()) {
        let _ = format!("{m:?}");
    }
});
