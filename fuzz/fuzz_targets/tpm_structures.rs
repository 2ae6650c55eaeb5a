//! The small TPM 2.0 parsers of `attestation::tpm` on any bytes, the first byte choosing which:
//! `Attest::parse`, `Public::parse`, `Public::parse_2b`, `Signature::parse`,
//! `PcrSelection::parse`, `PcrValues::parse_tpm2_tools`, `CreationData::parse`,
//! `CredentialBlob::parse_tpm2_tools`, `Name::parse`, `EkCertificate::from_nv`. Each returns a
//! `Result`, never panics; the structures with an encoder (TPM marshalling is canonical)
//! re-encode to the bytes they were parsed from.
#![no_main]

use attestation::tpm::{
    Attest, CreationData, CredentialBlob, EkCertificate, Name, PcrSelection, PcrValues, Public,
    Signature,
};
use libfuzzer_sys::fuzz_target;
use pki::provider::rustcrypto::PROVIDER;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 10 {
        0 => {
            if let Ok(a) = Attest::parse(bytes) {
                assert_eq!(a.encode(), bytes);
                let _ = a.to_json();
            }
        }
        1 => {
            if let Ok(p) = Public::parse(bytes) {
                assert_eq!(p.encode(), bytes);
                let _ = p.spki();
                let _ = p.to_json(&PROVIDER);
            }
        }
        2 => {
            if let Ok(p) = Public::parse_2b(bytes) {
                assert_eq!(p.encode_2b(), bytes);
            }
        }
        3 => {
            if let Ok(s) = Signature::parse(bytes) {
                assert_eq!(s.encode(), bytes);
                let _ = s.to_json();
            }
        }
        4 => {
            if let Ok(s) = PcrSelection::parse(bytes) {
                assert_eq!(s.encode(), bytes);
            }
        }
        5 => {
            if let Ok((sel, values)) = PcrValues::parse_tpm2_tools(bytes) {
                let _ = (sel.to_json(), values.to_json());
            }
        }
        6 => {
            if let Ok(c) = CreationData::parse(bytes) {
                let _ = c.to_json();
            }
        }
        7 => {
            if let Ok(b) = CredentialBlob::parse_tpm2_tools(bytes) {
                assert_eq!(b.to_tpm2_tools(), bytes);
            }
        }
        8 => {
            if let Ok(n) = Name::parse(bytes) {
                let _ = n.alg();
            }
        }
        _ => {
            if let Ok(ek) = EkCertificate::from_nv(bytes) {
                let _ = (ek.ek_uri(), ek.aia_urls(), ek.to_json());
            }
        }
    }
});
