//! `mdm_proto::profile::Profile::parse` on any bytes, and the signed-profile reader (CMS parse
//! and signature check): a `Result`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mdm_proto::Limits;
use mdm_proto::profile::Profile;
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Profile::parse(data, &Limits::default()) {
        let _ = p.to_xml();
    }
    let _ = mdm_proto::signed::read_signed_profile(
        data,
        &PROVIDER,
        &Default::default(),
        None,
        &Limits::default(),
    );
});
