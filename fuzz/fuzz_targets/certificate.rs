//! `pki::cert::Cert::from_der` on any bytes: a `Result`, never a panic. A certificate that
//! parses also has its SAN read, its self-signature checked and a path built with itself as the
//! only anchor (time, critical-extension and EKU checks).
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use pki::cert::Cert;
use pki::cert::path::{Options, validate};
use pki::provider::rustcrypto::PROVIDER;
use pki::verify::Policy;

fuzz_target!(|data: &[u8]| {
    let Ok(cert) = Cert::from_der(data) else {
        return;
    };
    let _ = cert.subject_alt_names();
    let _ = cert.subject_string();
    let spki = cert
        .certificate()
        .tbs_certificate()
        .subject_public_key_info()
        .clone();
    let _ = cert.verify_signed_by(&PROVIDER, &Policy::default(), &spki);
    // 2025-01-01T00:00:00Z: a fixed time, so runs are reproducible.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600);
    let anchors = [cert.clone()];
    let _ = validate(&PROVIDER, &cert, &Options::new(&anchors, now));
});
