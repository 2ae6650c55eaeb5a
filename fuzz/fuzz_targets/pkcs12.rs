//! PKCS#12: `pki::pkcs12::Pkcs12::parse` on any bytes with the seeds' password (the seeds
//! include a file without MAC or encryption, so mutations reach the bag and certificate
//! parsing): a `Result`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki::pkcs12::Pkcs12;
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let _ = Pkcs12::parse(data, "fuzz", &PROVIDER);
});
