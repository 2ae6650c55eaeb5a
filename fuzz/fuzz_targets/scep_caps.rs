//! `scep::Capabilities::parse` on any bytes (it is infallible: it must not panic), and its
//! encoding reads back to the same capabilities.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scep::Capabilities;

fuzz_target!(|data: &[u8]| {
    let caps = Capabilities::parse(data);
    let _ = (caps.content_cipher(), caps.digest(), caps.post());
    let encoded = caps.encode();
    let again = Capabilities::parse(encoded.as_bytes());
    assert_eq!(again.encode(), encoded);
});
