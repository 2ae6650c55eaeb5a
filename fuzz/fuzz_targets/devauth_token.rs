//! `devauth::token::TokenVerifier::verify` on any text, with a fixed Ed25519 verification key:
//! a `Result`, never a panic (the header JSON, the algorithm check and the base64url parts are
//! reached; the signature cannot be forged).
#![no_main]

use devauth::token::{NoRevocations, TokenVerifier};
use libfuzzer_sys::fuzz_target;
use pki::der::Decode;
use pki::provider::rustcrypto::PROVIDER;
use pki::spki::SubjectPublicKeyInfoOwned;

/// SubjectPublicKeyInfo of an Ed25519 key (RFC 8410 section 4 layout, public key = RFC 8032
/// section 7.1 TEST 1).
const ED25519_SPKI: [u8; 44] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0xd7, 0x5a, 0x98, 0x01,
    0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3,
    0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let key = SubjectPublicKeyInfoOwned::from_der(&ED25519_SPKI).expect("fixed SPKI parses");
    let verifier = TokenVerifier::new(&PROVIDER, key).expect("Ed25519 keys verify tokens");
    let _ = verifier.check(token, 1_735_689_600, &NoRevocations);
});
