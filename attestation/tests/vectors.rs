//! Every real vector parses, re-encodes to the same bytes, and checks out where it carries a
//! signature or a Name; EK certificates chain to their vendor CAs link by link.

mod common;

use attestation::Error;
use attestation::tpm::{
    Attest, Attested, CredentialBlob, EkCertificate, Name, Public, Quirk, QuoteEvidence, Signature,
    Verifier, alg, st,
};
use pki::der::Decode;
use pki::verify::Policy;
use pki::x509_cert::Certificate;

const KEYLIME: &str = "attestation/tpm-attest/keylime-test-data";
const WIN_HELLO: &str = "attestation/tpm-attest/webauthn-rs/win-hello-tpm-rsa.split";

fn cert(rel: &str) -> Certificate {
    let bytes = testkit::vector(rel);
    let der = if bytes.starts_with(b"-----") {
        testkit::pem_to_der(&bytes)
    } else {
        bytes
    };
    Certificate::from_der(&der).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn keylime_tpm2_tools_outputs_parse_and_the_quote_verifies() {
    // Panics unless the compiled providers are exactly the ones this crate's features ask for.
    common::providers();
    let ak = Public::parse_2b(&testkit::vector(&format!("{KEYLIME}/ak.pub"))).unwrap();
    let ek = Public::parse_2b(&testkit::vector(&format!("{KEYLIME}/ek.pub"))).unwrap();
    for (p, file) in [(&ak, "ak.pub"), (&ek, "ek.pub")] {
        assert_eq!(p.encode_2b(), testkit::vector(&format!("{KEYLIME}/{file}")));
    }
    // ak.name is the Name tpm2-tools computed: ours agrees.
    let name = Name::parse(&testkit::vector(&format!("{KEYLIME}/ak.name"))).unwrap();
    // The PEM files are what tpm2-tools wrote for the same keys.
    let akpem = testkit::pem_to_der(&testkit::vector(&format!("{KEYLIME}/akpub.pem")));
    let ekpem = testkit::pem_to_der(&testkit::vector(&format!("{KEYLIME}/ekpub.pem")));
    assert_eq!(
        pki::der::Encode::to_der(&ak.spki().unwrap()).unwrap(),
        akpem
    );
    assert_eq!(
        pki::der::Encode::to_der(&ek.spki().unwrap()).unwrap(),
        ekpem
    );

    let msg = testkit::vector(&format!("{KEYLIME}/quote.out"));
    let attest = Attest::parse(&msg).unwrap();
    assert_eq!(attest.encode(), msg);
    assert_eq!(attest.attest_type(), st::QUOTE);
    let sig_bytes = testkit::vector(&format!("{KEYLIME}/quotesig.out"));
    let sig = Signature::parse(&sig_bytes).unwrap();
    assert_eq!(sig.encode(), sig_bytes);
    let (sel, pcrs) = attestation::tpm::PcrValues::parse_tpm2_tools(&testkit::vector(&format!(
        "{KEYLIME}/quotepcr.out"
    )))
    .unwrap();
    assert_eq!(
        sel.iter().collect::<Vec<_>>(),
        vec![(alg::SHA256, 15), (alg::SHA256, 16), (alg::SHA256, 22)]
    );
    let blob = CredentialBlob::parse_tpm2_tools(&testkit::vector(&format!("{KEYLIME}/mkcred.out")))
        .unwrap();
    assert_eq!(
        blob.to_tpm2_tools(),
        testkit::vector(&format!("{KEYLIME}/mkcred.out"))
    );
    assert_eq!(
        blob.secret.len(),
        256,
        "OAEP ciphertext for the RSA-2048 EK"
    );
    for p in common::providers() {
        assert!(name.matches(&ak, p).unwrap());
        let v = Verifier::new(p);
        let q = v
            .quote(
                &ak,
                QuoteEvidence {
                    attest: &msg,
                    signature: &sig,
                    nonce: &attest.extra_data,
                    pcrs: &pcrs,
                    required: &sel,
                },
            )
            .expect("keylime's quote verifies");
        assert_eq!(q.pcrs().0.len(), 3);
    }
}

#[test]
fn windows_hello_certify_names_its_key_and_is_signed_by_the_aik_certificate() {
    let pub_area = testkit::vector(&format!("{WIN_HELLO}/pubArea.bin"));
    let cert_info = testkit::vector(&format!("{WIN_HELLO}/certInfo.bin"));
    let sig = testkit::vector(&format!("{WIN_HELLO}/sig.bin"));
    let key = Public::parse(&pub_area).unwrap();
    assert_eq!(key.encode(), pub_area);
    let attest = Attest::parse(&cert_info).unwrap();
    assert_eq!(attest.encode(), cert_info);
    let Attested::Certify { name, .. } = &attest.attested else {
        panic!("certInfo is a certify attestation");
    };
    let aik = cert(&format!("{WIN_HELLO}/x5c-0.der"));
    let ca = cert(&format!("{WIN_HELLO}/x5c-1.der"));
    let root = cert("attestation/tpm-ca/microsoft-tpm-root-ca-2014.pem");
    for p in common::providers() {
        assert!(
            name.matches(&key, p).unwrap(),
            "attested name is Name(pubArea)"
        );
        // WebAuthn "tpm" RS1: RSASSA-PKCS1-v1_5 with SHA-1 over certInfo, by the AIK cert key.
        pki::verify::signature(
            p,
            &Policy::allowing_sha1(),
            aik.tbs_certificate().subject_public_key_info(),
            pki::alg::SignatureScheme::RsaPkcs1v15(pki::alg::HashAlg::Sha1),
            &cert_info,
            &sig,
        )
        .expect("certInfo signed by the AIK");
        attestation::tpm::ek::verify_issued_by(&aik, &ca, p, &Policy::default()).unwrap();
        attestation::tpm::ek::verify_issued_by(&ca, &root, p, &Policy::default()).unwrap();
        assert!(
            attestation::tpm::ek::verify_issued_by(&aik, &root, p, &Policy::default()).is_err()
        );
    }
}

#[test]
fn stmicro_ek_certificates_with_nv_padding_and_their_chains() {
    let rsa_blob = testkit::vector("attestation/tpm-ek-certs/keylime/stm-rsa-ek.der");
    let rsa = EkCertificate::from_nv(&rsa_blob).unwrap();
    // The "trailing bytes" python-cryptography refuses are 0xff padding to the NV size:
    // 1600 bytes in all, the certificate's outer SEQUENCE is 4 + 0x048d = 1169 of them.
    assert_eq!(rsa.quirks(), &[Quirk::Padding { len: 1600 - 1169 }]);
    assert_eq!(rsa.der().len(), 1169);
    assert!(
        EkCertificate::from_der(&rsa_blob).is_err(),
        "strict DER refuses it"
    );
    let ecc = EkCertificate::from_nv(&testkit::vector(
        "attestation/tpm-ek-certs/keylime/stm-ecc-ek.der",
    ))
    .unwrap();
    let store = "attestation/tpm-ca/keylime-tpm_cert_store";
    let rsa_i = cert(&format!("{store}/STM_RSA_05I.pem"));
    let rsa_rt = cert(&format!("{store}/STM_RSA_RT.pem"));
    let gs = cert(&format!("{store}/GS_TPM_RT.pem"));
    let ecc_i = cert(&format!("{store}/STM_ECC_01I.pem"));
    let ecc_rt = cert(&format!("{store}/STM_ECC_01RT.pem"));
    for p in common::providers() {
        let pol = Policy::default();
        rsa.verify_issued_by(&rsa_i, p, &pol).unwrap();
        attestation::tpm::ek::verify_issued_by(&rsa_i, &rsa_rt, p, &pol).unwrap();
        attestation::tpm::ek::verify_issued_by(&rsa_rt, &gs, p, &pol).unwrap();
        ecc.verify_issued_by(&ecc_i, p, &pol).unwrap();
        attestation::tpm::ek::verify_issued_by(&ecc_i, &ecc_rt, p, &pol).unwrap();
        assert!(rsa.verify_issued_by(&ecc_i, p, &pol).is_err());
        assert!(ecc.verify_issued_by(&rsa_i, p, &pol).is_err());
        // Another STM intermediate (same issuer name family, other key) does not verify it.
        let other = cert(&format!("{store}/STM_RSA_04I.pem"));
        assert!(matches!(
            rsa.verify_issued_by(&other, p, &pol),
            Err(Error::Pki(pki::Error::BadSignature))
        ));
    }
    assert!(rsa.ek_uri().unwrap().starts_with("urn:ek:sha256:"));
    let json = rsa.to_json();
    assert_eq!(json["quirks"].as_array().unwrap().len(), 1);
}

#[test]
fn gce_vtpm_ek_and_ak_certificates_chain_as_openssl_says() {
    let dir = tempfile::tempdir().unwrap();
    let gce = "attestation/tpm-ca/go-tpm-tools-gce";
    let chains = [
        (
            "pca",
            "gcp_ek_ak_ca_intermediate_v3.crt",
            "gcp_ek_ak_ca_root.crt",
        ),
        ("uca", "tpm_ek_intermediate_3.crt", "tpm_ek_root_1.cer"),
    ];
    for (prefix, inter, root) in chains {
        let inter_c = cert(&format!("{gce}/{inter}"));
        let root_c = cert(&format!("{gce}/{root}"));
        std::fs::write(
            dir.path().join("i.der"),
            testkit::vector(&format!("{gce}/{inter}")),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("r.der"),
            testkit::vector(&format!("{gce}/{root}")),
        )
        .unwrap();
        testkit::openssl(
            dir.path(),
            &["x509", "-inform", "DER", "-in", "i.der", "-out", "i.pem"],
        );
        testkit::openssl(
            dir.path(),
            &["x509", "-inform", "DER", "-in", "r.der", "-out", "r.pem"],
        );
        for kind in ["ecc_enc", "ecc_sign", "rsa_enc", "rsa_sign"] {
            let rel =
                format!("attestation/tpm-ek-certs/go-tpm-tools-gce/{prefix}_tpm_{kind}_cert.pem");
            let pem = testkit::vector(&rel);
            std::fs::write(dir.path().join("leaf.pem"), &pem).unwrap();
            let out = testkit::openssl(
                dir.path(),
                &[
                    "verify",
                    "-CAfile",
                    "r.pem",
                    "-untrusted",
                    "i.pem",
                    "leaf.pem",
                ],
            );
            assert!(String::from_utf8_lossy(&out).contains(": OK"));
            let ek = EkCertificate::from_nv(&testkit::pem_to_der(&pem)).unwrap();
            assert!(ek.quirks().is_empty());
            let want = testkit::openssl_ek_uri(dir.path(), ek.der());
            assert_eq!(ek.ek_uri().unwrap(), want, "{rel}");
            for p in common::providers() {
                ek.verify_issued_by(&inter_c, p, &Policy::default())
                    .unwrap();
                attestation::tpm::ek::verify_issued_by(&inter_c, &root_c, p, &Policy::default())
                    .unwrap();
                assert!(ek.verify_issued_by(&root_c, p, &Policy::default()).is_err());
            }
        }
    }
}

#[test]
fn every_vendor_ca_certificate_parses_as_an_ek_style_certificate() {
    let store = testkit::vectors().join("attestation/tpm-ca/keylime-tpm_cert_store");
    let mut n = 0;
    for entry in std::fs::read_dir(&store).unwrap() {
        let path = entry.unwrap().path();
        for der in testkit::pem_all(&std::fs::read(&path).unwrap()) {
            let c =
                EkCertificate::from_nv(&der).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                !c.to_json()["subject"].as_str().unwrap().is_empty()
                    || c.certificate().tbs_certificate().subject().is_empty()
            );
            n += 1;
        }
    }
    assert!(n >= 50, "{n} certificates");
}

/// 2025-01-01T00:00:00Z: inside every vendor certificate's validity used below.
fn fixed_now() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_735_689_600)
}

fn pki_cert(rel: &str) -> pki::cert::Cert {
    let bytes = testkit::vector(rel);
    if bytes.starts_with(b"-----") {
        pki::cert::Cert::from_pem(&bytes).unwrap()
    } else {
        pki::cert::Cert::from_der(&bytes).unwrap()
    }
}

#[test]
fn ek_certificates_validate_as_x509_paths_to_vendor_roots() {
    use pki::cert::path::Options;
    let store = "attestation/tpm-ca/keylime-tpm_cert_store";
    let gce = "attestation/tpm-ca/go-tpm-tools-gce";
    let stm_rsa = EkCertificate::from_nv(&testkit::vector(
        "attestation/tpm-ek-certs/keylime/stm-rsa-ek.der",
    ))
    .unwrap();
    let stm_ecc = EkCertificate::from_nv(&testkit::vector(
        "attestation/tpm-ek-certs/keylime/stm-ecc-ek.der",
    ))
    .unwrap();
    let gs = [pki_cert(&format!("{store}/GS_TPM_RT.pem"))];
    let stm_rsa_inter = [
        pki_cert(&format!("{store}/STM_RSA_05I.pem")),
        pki_cert(&format!("{store}/STM_RSA_RT.pem")),
        pki_cert(&format!("{store}/STM_RSA_04I.pem")),
    ];
    // STM's ECC root is signed by GlobalSign's ECC root, which the vectors lack: the STM ECC
    // root is a partial-chain anchor.
    let stm_ecc_root = [pki_cert(&format!("{store}/STM_ECC_01RT.pem"))];
    let stm_ecc_inter = [pki_cert(&format!("{store}/STM_ECC_01I.pem"))];
    let gce_roots = [
        pki_cert(&format!("{gce}/tpm_ek_root_1.cer")),
        pki_cert(&format!("{gce}/gcp_ek_ak_ca_root.crt")),
    ];
    let gce_inter = [
        pki_cert(&format!("{gce}/tpm_ek_intermediate_2.crt")),
        pki_cert(&format!("{gce}/tpm_ek_intermediate_3.crt")),
        pki_cert(&format!("{gce}/gcp_ek_ak_ca_intermediate_v3.crt")),
    ];
    for p in common::providers() {
        let path = stm_rsa
            .validate_chain(
                p,
                &Options::new(&gs, fixed_now()).with_intermediates(&stm_rsa_inter),
            )
            .expect("STM RSA EK to GlobalSign");
        assert_eq!(path.chain().len(), 4);
        let path = stm_ecc
            .validate_chain(
                p,
                &Options::new(&stm_ecc_root, fixed_now())
                    .with_intermediates(&stm_ecc_inter)
                    .with_partial_chain(true),
            )
            .expect("STM ECC EK to the STM ECC root");
        assert_eq!(path.chain().len(), 3);
        // Without partial chains the non-self-issued STM root cannot end the path.
        assert!(
            stm_ecc
                .validate_chain(
                    p,
                    &Options::new(&stm_ecc_root, fixed_now()).with_intermediates(&stm_ecc_inter)
                )
                .is_err()
        );
        // Outside the EK certificate's validity (it ends in 2028).
        let late = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_900_000_000);
        assert!(
            stm_ecc
                .validate_chain(
                    p,
                    &Options::new(&stm_ecc_root, late)
                        .with_intermediates(&stm_ecc_inter)
                        .with_partial_chain(true)
                )
                .is_err()
        );
        for prefix in ["pca", "uca"] {
            for kind in ["ecc_enc", "ecc_sign", "rsa_enc", "rsa_sign"] {
                let rel = format!(
                    "attestation/tpm-ek-certs/go-tpm-tools-gce/{prefix}_tpm_{kind}_cert.pem"
                );
                let ek =
                    EkCertificate::from_nv(&testkit::pem_to_der(&testkit::vector(&rel))).unwrap();
                let path = ek
                    .validate_chain(
                        p,
                        &Options::new(&gce_roots, fixed_now()).with_intermediates(&gce_inter),
                    )
                    .unwrap_or_else(|e| panic!("{rel}: {e}"));
                assert_eq!(path.chain().len(), 3, "{rel}");
                // Not to the STM roots.
                assert!(
                    ek.validate_chain(
                        p,
                        &Options::new(&gs, fixed_now()).with_intermediates(&gce_inter)
                    )
                    .is_err()
                );
            }
        }
    }
}

#[test]
fn a_ber_encoded_ek_certificate_is_re_encoded_and_reported() {
    // The real STMicro ECC EK certificate with its outer length written in a non-minimal
    // form (0x83 00 xx xx instead of 0x82 xx xx): BER, not DER.
    let der = testkit::vector("attestation/tpm-ek-certs/keylime/stm-ecc-ek.der");
    assert_eq!(der[1], 0x82);
    let mut ber = vec![0x30, 0x83, 0x00];
    ber.extend_from_slice(&der[2..]);
    assert!(EkCertificate::from_der(&ber).is_err());
    let ek = EkCertificate::from_nv(&ber).unwrap();
    assert_eq!(ek.quirks(), &[Quirk::NotDer]);
    assert_eq!(ek.der(), &der[..]);
    // The signed part is untouched, so the link still verifies.
    let inter = cert("attestation/tpm-ca/keylime-tpm_cert_store/STM_ECC_01I.pem");
    for p in common::providers() {
        ek.verify_issued_by(&inter, p, &Policy::default()).unwrap();
    }
}
