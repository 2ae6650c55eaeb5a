//! `pki::ber::to_der` on any bytes: a `Result`, never a panic, within the default limits; its
//! output is DER, which comes back unchanged when converted again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki::ber::{Limits, to_der};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(der) = to_der(data, &limits) {
        assert_eq!(
            to_der(&der, &limits).as_ref(),
            Ok(&der),
            "DER in, same DER out"
        );
    }
});
