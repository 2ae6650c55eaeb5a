//! `attestation::tpm::EventLog::parse` on any bytes: a `Result`, never a panic. A log that
//! parses is replayed into PCR values.
#![no_main]

use attestation::tpm::EventLog;
use libfuzzer_sys::fuzz_target;
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    if let Ok(log) = EventLog::parse(data) {
        let _ = log.replay(&PROVIDER);
        let _ = log.to_json();
    }
});
