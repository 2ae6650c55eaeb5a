//! Differential test against the `tpm2-protocol` crate (an independent pure-Rust TPM 2.0
//! marshaller): on real structures, every truncation and every single-byte change, both
//! parsers agree on where a structure ends, and our re-encoding is byte-exact.

use attestation::tpm::{Attest, PcrSelection, Public, Signature};
use tpm2_protocol::TpmField;
use tpm2_protocol::data::{TpmlPcrSelection, TpmsAttest, TpmtPublic, TpmtSignature};

/// How many bytes `tpm2-protocol` consumes for a structure at the start of `b` (None: refused).
macro_rules! oracle {
    ($f:ident, $t:ty) => {
        fn $f(b: &[u8]) -> Option<usize> {
            <$t as TpmField>::cast_prefix_field(b)
                .ok()
                .map(|(_, rest)| b.len() - rest.len())
        }
    };
}
oracle!(o_public, TpmtPublic);
oracle!(o_attest, TpmsAttest);
oracle!(o_sig, TpmtSignature);
oracle!(o_sel, TpmlPcrSelection);

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    ours: fn(&[u8]) -> Option<Vec<u8>>,
    theirs: fn(&[u8]) -> Option<usize>,
}

fn ours_public(b: &[u8]) -> Option<Vec<u8>> {
    Public::parse(b).ok().map(|p| p.encode())
}
fn ours_attest(b: &[u8]) -> Option<Vec<u8>> {
    Attest::parse(b).ok().map(|a| a.encode())
}
fn ours_sig(b: &[u8]) -> Option<Vec<u8>> {
    Signature::parse(b).ok().map(|s| s.encode())
}
fn ours_sel(b: &[u8]) -> Option<Vec<u8>> {
    PcrSelection::parse(b).ok().map(|s| s.encode())
}

fn cases() -> Vec<Case> {
    let k = "attestation/tpm-attest/keylime-test-data";
    let w = "attestation/tpm-attest/webauthn-rs/win-hello-tpm-rsa.split";
    let inner = |rel: String| testkit::vector(&rel)[2..].to_vec();
    let quote = testkit::vector(&format!("{k}/quote.out"));
    // The TPML_PCR_SELECTION inside the keylime quote (after the fixed header and the
    // qualifiedSigner / extraData TPM2Bs), cut out by our own parse-free arithmetic.
    let signer = usize::from(u16::from_be_bytes([quote[6], quote[7]]));
    let extra_at = 8 + signer;
    let extra = usize::from(u16::from_be_bytes([quote[extra_at], quote[extra_at + 1]]));
    let sel_at = extra_at + 2 + extra + 17 + 8;
    let sel = quote[sel_at..sel_at + 10].to_vec();
    vec![
        Case {
            name: "keylime ak.pub",
            bytes: inner(format!("{k}/ak.pub")),
            ours: ours_public,
            theirs: o_public,
        },
        Case {
            name: "keylime ek.pub",
            bytes: inner(format!("{k}/ek.pub")),
            ours: ours_public,
            theirs: o_public,
        },
        Case {
            name: "win-hello pubArea",
            bytes: testkit::vector(&format!("{w}/pubArea.bin")),
            ours: ours_public,
            theirs: o_public,
        },
        Case {
            name: "keylime quote",
            bytes: quote.clone(),
            ours: ours_attest,
            theirs: o_attest,
        },
        Case {
            name: "win-hello certInfo",
            bytes: testkit::vector(&format!("{w}/certInfo.bin")),
            ours: ours_attest,
            theirs: o_attest,
        },
        Case {
            name: "keylime quote signature",
            bytes: testkit::vector(&format!("{k}/quotesig.out")),
            ours: ours_sig,
            theirs: o_sig,
        },
        Case {
            name: "keylime quote pcrSelect",
            bytes: sel,
            ours: ours_sel,
            theirs: o_sel,
        },
    ]
}

#[test]
fn real_structures_agree_with_tpm2_protocol() {
    for c in cases() {
        assert_eq!(
            (c.theirs)(&c.bytes),
            Some(c.bytes.len()),
            "{}: oracle",
            c.name
        );
        assert_eq!(
            (c.ours)(&c.bytes).as_deref(),
            Some(&c.bytes[..]),
            "{}: ours",
            c.name
        );
        // Every truncation: both refuse.
        for len in 0..c.bytes.len() {
            assert_eq!((c.ours)(&c.bytes[..len]), None, "{} cut at {len}", c.name);
            assert_ne!(
                (c.theirs)(&c.bytes[..len]),
                Some(len),
                "{} cut at {len} (oracle)",
                c.name
            );
        }
        // A trailing byte: we refuse, the oracle stops where the structure ends.
        let mut longer = c.bytes.clone();
        longer.push(0);
        assert_eq!((c.ours)(&longer), None, "{}: trailing", c.name);
        assert_eq!(
            (c.theirs)(&longer),
            Some(c.bytes.len()),
            "{}: trailing (oracle)",
            c.name
        );
    }
}

#[test]
fn single_byte_changes_agree_with_tpm2_protocol_where_both_accept() {
    let mut both = 0;
    let mut stricter_here = 0;
    let mut stricter_there = 0;
    for c in cases() {
        for i in 0..c.bytes.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut b = c.bytes.clone();
                b[i] ^= x;
                let ours = (c.ours)(&b);
                let theirs = (c.theirs)(&b) == Some(b.len());
                match (ours, theirs) {
                    (Some(enc), true) => {
                        // Both read a whole structure: ours re-encodes it exactly.
                        assert_eq!(enc, b, "{}: byte {i} ^ {x:#x}", c.name);
                        both += 1;
                    }
                    (Some(enc), false) => {
                        assert_eq!(enc, b, "{}: byte {i} ^ {x:#x}", c.name);
                        stricter_there += 1;
                    }
                    (None, true) => stricter_here += 1,
                    (None, false) => {}
                }
            }
        }
    }
    println!(
        "accepted by both {both}, only by tpm2-protocol {stricter_here}, only here {stricter_there}"
    );
    assert!(both > 100);
    // The differences are value checks each side makes differently: tpm2-protocol refuses
    // unknown TPM_ALG_IDs in hash positions (signature hash, PCR bank, scheme hash), this
    // crate refuses Names whose algorithm or size is not a known digest.
    assert!(
        stricter_here + stricter_there < both,
        "{stricter_here} / {stricter_there} / {both}"
    );
}
