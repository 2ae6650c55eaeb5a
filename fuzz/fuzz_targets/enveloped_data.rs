//! `pki::cms::EnvelopedData::from_der` on any bytes: a `Result`, never a panic; what parses
//! answers its accessors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki::cms::EnvelopedData;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = EnvelopedData::from_der(data) {
        for r in env.recipients() {
            let _ = r.key_transport();
        }
        let _ = (env.content_cipher(), env.iv(), env.encrypted_content_len());
    }
});
