//! Bad input gets a typed error: truncated, oversized, malformed, wrong magic or algorithm,
//! tampered. Inputs are real vectors with one field changed.

mod common;

use attestation::Error;
use attestation::tpm::{
    Attest, CreationData, CredentialBlob, EkCertificate, Name, PcrSelection, PcrValues, Public,
    Signature, alg,
};

const KEYLIME: &str = "attestation/tpm-attest/keylime-test-data";

fn quote() -> Vec<u8> {
    testkit::vector(&format!("{KEYLIME}/quote.out"))
}

#[test]
fn attest() {
    let q = quote();
    let mut bad = q.clone();
    bad[0] = 0;
    assert!(matches!(
        Attest::parse(&bad),
        Err(Error::NotTpmGenerated { found: 0x0054_4347 })
    ));
    let mut bad = q.clone();
    bad[5] = 0x1b; // 0x801b is not a TPMI_ST_ATTEST
    assert!(matches!(
        Attest::parse(&bad),
        Err(Error::Malformed {
            what: "TPMS_ATTEST.type",
            ..
        })
    ));
    // qualifiedSigner claims 0x0100 bytes, over the TPM2B_NAME limit.
    let mut bad = q.clone();
    bad[6] = 0x01;
    assert!(matches!(Attest::parse(&bad), Err(Error::TooLarge { .. })));
    let mut longer = q.clone();
    longer.push(0);
    assert!(matches!(
        Attest::parse(&longer),
        Err(Error::TrailingData { len: 1, .. })
    ));
    assert!(matches!(
        Attest::parse(&q[..10]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        Attest::parse(&vec![0; 5000]),
        Err(Error::TooLarge { limit: 4096, .. })
    ));
    // TPM2B_ATTEST wrapper.
    let mut wrapped = (q.len() as u16).to_be_bytes().to_vec();
    wrapped.extend_from_slice(&q);
    assert_eq!(
        Attest::parse_2b(&wrapped).unwrap(),
        Attest::parse(&q).unwrap()
    );
    // The safe flag is a TPMI_YES_NO.
    let signer = usize::from(u16::from_be_bytes([q[6], q[7]]));
    let extra_at = 8 + signer;
    let extra = usize::from(u16::from_be_bytes([q[extra_at], q[extra_at + 1]]));
    let safe_at = extra_at + 2 + extra + 16;
    let mut bad = q.clone();
    bad[safe_at] = 2;
    assert!(matches!(
        Attest::parse(&bad),
        Err(Error::Malformed {
            what: "TPMS_CLOCK_INFO.safe",
            ..
        })
    ));
    let json = Attest::parse(&q).unwrap().to_json();
    assert_eq!(json["type"], "quote");
    assert_eq!(json["attested"]["quote"]["pcrSelect"][0]["hash"], "sha256");
}

#[test]
fn public() {
    let ak = testkit::vector(&format!("{KEYLIME}/ak.pub"));
    let inner = &ak[2..];
    let mut bad = inner.to_vec();
    bad[1] = 0x99; // object type 0x0099
    assert!(matches!(
        Public::parse(&bad),
        Err(Error::UnsupportedAlgorithm {
            what: "object type",
            alg: 0x0099
        })
    ));
    let mut bad = inner.to_vec();
    bad[3] = 0x99; // nameAlg 0x0099
    assert!(matches!(
        Public::parse(&bad),
        Err(Error::UnsupportedAlgorithm {
            what: "nameAlg",
            ..
        })
    ));
    // A SHA3-256 nameAlg parses but has no Name here.
    let mut sha3 = inner.to_vec();
    sha3[3] = 0x27;
    let p = Public::parse(&sha3).unwrap();
    assert!(matches!(
        p.name(common::providers()[0]),
        Err(Error::UnsupportedAlgorithm {
            alg: alg::SHA3_256,
            ..
        })
    ));
    // The modulus TPM2B claims 0x0201 bytes: over MAX_RSA_KEY_BYTES.
    let n_at = inner.len() - 258;
    let mut bad = inner.to_vec();
    bad[n_at] = 0x02;
    bad[n_at + 1] = 0x01;
    assert!(matches!(Public::parse(&bad), Err(Error::TooLarge { .. })));
    assert!(matches!(
        Public::parse_2b(&ak[..ak.len() - 1]),
        Err(Error::Truncated { .. })
    ));
    let mut longer = ak.clone();
    longer.push(0);
    assert!(matches!(
        Public::parse_2b(&longer),
        Err(Error::TrailingData { .. })
    ));
    let json = Public::parse(inner)
        .unwrap()
        .to_json(common::providers()[0]);
    assert_eq!(json["type"], "rsa");
    assert_eq!(json["nameAlg"], "sha256");
    assert!(json["name"].as_str().unwrap().starts_with("000b"));
}

#[test]
fn signature_selection_name_and_files() {
    let sig = testkit::vector(&format!("{KEYLIME}/quotesig.out"));
    let mut bad = sig.clone();
    bad[1] = 0x05; // TPM_ALG_HMAC
    assert!(matches!(
        Signature::parse(&bad),
        Err(Error::UnsupportedAlgorithm { alg: alg::HMAC, .. })
    ));
    assert!(matches!(
        Signature::parse(&sig[..100]),
        Err(Error::Truncated { .. })
    ));

    assert!(matches!(
        PcrSelection::parse(&[0, 0, 0, 17]),
        Err(Error::TooLarge {
            what: "TPML_PCR_SELECTION.count",
            ..
        })
    ));
    assert!(matches!(
        PcrSelection::parse(&[0, 0, 0, 1, 0, 0x0b, 5, 0, 0, 0, 0, 0]),
        Err(Error::TooLarge {
            what: "TPMS_PCR_SELECTION.sizeofSelect",
            ..
        })
    ));

    assert!(Name::parse(&[0x40, 0, 0, 1]).is_ok(), "a handle Name");
    assert!(matches!(
        Name::parse(&[0, 0x0b, 1, 2, 3]),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        Name::parse(&[0, 0x99, 1, 2, 3]),
        Err(Error::UnsupportedAlgorithm { .. })
    ));
    assert!(matches!(Name::parse(&[0; 67]), Err(Error::TooLarge { .. })));

    let pcrs = testkit::vector(&format!("{KEYLIME}/quotepcr.out"));
    assert!(matches!(
        PcrValues::parse_tpm2_tools(&pcrs[..600]),
        Err(Error::Truncated { .. })
    ));
    let mut bad = pcrs.clone();
    bad[0] = 17;
    assert!(matches!(
        PcrValues::parse_tpm2_tools(&bad),
        Err(Error::TooLarge { .. })
    ));
    let mut bad = pcrs.clone();
    bad[0x8c] = 0x21; // a 33-byte SHA-256 PCR value
    assert!(matches!(
        PcrValues::parse_tpm2_tools(&bad),
        Err(Error::Malformed { .. })
    ));
    let (sel, _) = PcrValues::parse_tpm2_tools(&pcrs).unwrap();
    assert!(matches!(
        PcrValues::from_concatenated(&sel, &[0; 95]),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        PcrValues::from_concatenated(&sel, &[0; 97]),
        Err(Error::TrailingData { .. })
    ));
    assert_eq!(
        PcrValues::from_concatenated(&sel, &[0; 96])
            .unwrap()
            .0
            .len(),
        3
    );

    let cred = testkit::vector(&format!("{KEYLIME}/mkcred.out"));
    let mut bad = cred.clone();
    bad[0] = 0;
    assert!(matches!(
        CredentialBlob::parse_tpm2_tools(&bad),
        Err(Error::Malformed { .. })
    ));
    let mut bad = cred.clone();
    bad[7] = 2;
    assert!(matches!(
        CredentialBlob::parse_tpm2_tools(&bad),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        CredentialBlob::parse_tpm2_tools(&cred[..cred.len() - 1]),
        Err(Error::Truncated { .. })
    ));

    assert!(matches!(
        CreationData::parse(&[0, 0, 0, 0]),
        Err(Error::Truncated { .. })
    ));
}

#[test]
fn ek_intake() {
    let der = testkit::vector("attestation/tpm-ek-certs/keylime/stm-ecc-ek.der");
    // A header claiming more bytes than there are.
    let mut blob = vec![0x10, 0x01, 0x00, 0xff, 0xff];
    blob.extend_from_slice(&der);
    assert!(matches!(
        EkCertificate::from_nv(&blob),
        Err(Error::Truncated { .. })
    ));
    assert!(matches!(
        EkCertificate::from_nv(&[0x31, 0x03, 1, 2, 3]),
        Err(Error::Malformed { .. })
    ));
    assert!(matches!(
        EkCertificate::from_nv(&vec![0xff; 20_000]),
        Err(Error::TooLarge { .. })
    ));
    assert!(matches!(
        EkCertificate::from_nv(&[]),
        Err(Error::Malformed { .. })
    ));
    // A tampered certificate body no longer parses or no longer verifies; never panics.
    for i in 0..der.len() {
        let mut b = der.clone();
        b[i] ^= 0x55;
        let _ = EkCertificate::from_nv(&b);
    }
}
