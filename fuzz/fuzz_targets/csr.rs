//! `pki::cert::csr::Csr::from_der` on any bytes: a `Result`, never a panic. A request that
//! parses also has its signature checked and its requested SAN read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki::cert::csr::Csr;
use pki::provider::rustcrypto::PROVIDER;
use pki::verify::Policy;

fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = Csr::from_der(data) {
        let _ = csr.challenge_password();
        let _ = csr.requested_san();
        let _ = csr.verify(&PROVIDER, &Policy::default());
    }
});
