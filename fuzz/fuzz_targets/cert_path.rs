//! `pki::cert::path::validate` on certificates cut from any bytes: the input is a sequence of
//! (2-byte big-endian length, DER) chunks; the first is the leaf, the last the anchor, the ones
//! between the intermediates (those that do not parse as certificates are dropped). Validation
//! runs at a fixed time with a small candidate budget: a `Result`, never a panic.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use pki::cert::Cert;
use pki::cert::path::{Options, validate};
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let mut certs = Vec::new();
    let mut rest = data;
    while certs.len() < 6 {
        let Some((len, tail)) = rest.split_first_chunk::<2>() else {
            break;
        };
        let len = usize::from(u16::from_be_bytes(*len)).min(tail.len());
        let (der, tail) = tail.split_at(len);
        rest = tail;
        if let Ok(c) = Cert::from_der(der) {
            certs.push(c);
        }
    }
    let (Some(leaf), Some(anchor)) = (certs.first(), certs.last()) else {
        return;
    };
    let intermediates = certs
        .get(1..certs.len().saturating_sub(1))
        .unwrap_or_default();
    let anchors = [anchor.clone()];
    // 2025-01-01T00:00:00Z: a fixed time, so runs are reproducible.
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_600);
    let opts = Options::new(&anchors, now)
        .with_intermediates(intermediates)
        .with_partial_chain(true)
        .with_max_candidates(8)
        .with_max_depth(6);
    if let Ok(path) = validate(&PROVIDER, leaf, &opts) {
        // A path starts at the leaf given and ends at the one anchor given.
        assert_eq!(path.leaf().der(), leaf.der());
        assert_eq!(path.anchor().der(), anchor.der());
    }
});
