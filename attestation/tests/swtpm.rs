//! Evidence from a real (software) TPM: `swtpm` started on 127.0.0.1 and driven by
//! `tpm2-tools`, checked with this crate, and this crate's credentials activated by the TPM.

mod common;

use attestation::Error;
use attestation::tpm::{
    CertifyEvidence, CreationData, EkCertificate, Name, PcrSelection, PcrValues, Public, Quirk,
    QuoteEvidence, Signature, Verifier, alg, ek_uri, make_credential,
};
use pki::verify::Policy;
use testkit::swtpm::Swtpm;

#[test]
fn ek_certificates_from_nv_bind_to_the_ek_and_give_openssl_ek_uris() {
    let tpm = Swtpm::start();
    let issuer_pem = std::fs::read(tpm.dir().join("ca/issuercert.pem")).expect("issuer");
    let issuer = pki::der::Decode::from_der(&testkit::pem_to_der(&issuer_pem))
        .map(|c: pki::x509_cert::Certificate| c)
        .expect("issuer cert");
    let mut eks = Vec::new();
    for (nv, handle) in [("0x01c00002", "0x81010001"), ("0x01c00016", "0x81010016")] {
        tpm.tool(&["tpm2_nvread", nv, "-o", "cert.der"]);
        tpm.tool(&["tpm2_readpublic", "-c", handle, "-o", "ek.pub"]);
        let blob = tpm.read("cert.der");
        let ek = Public::parse_2b(&tpm.read("ek.pub")).expect("EK public");
        assert_eq!(ek.encode_2b(), tpm.read("ek.pub"), "canonical re-encoding");
        let cert = EkCertificate::from_nv(&blob).expect("EK certificate");
        assert!(cert.quirks().is_empty(), "swtpm writes plain DER");
        let expected = testkit::openssl_ek_uri(&tpm.work(), cert.der());
        assert_eq!(cert.ek_uri().unwrap(), expected);
        assert_eq!(ek_uri(&ek.spki().unwrap()).unwrap(), expected);
        attestation::tpm::check_ek_uri(&expected, &ek.spki().unwrap()).unwrap();
        let lower = expected.to_lowercase();
        assert!(matches!(
            attestation::tpm::check_ek_uri(&lower, &ek.spki().unwrap()),
            Err(Error::EkUriMismatch { .. })
        ));
        let root = pki::cert::Cert::from_pem(
            &std::fs::read(tpm.dir().join("ca/swtpm-localca-rootca-cert.pem")).unwrap(),
        )
        .unwrap();
        let inter = pki::cert::Cert::from_pem(&issuer_pem).unwrap();
        let anchors = [root];
        let inters = [inter];
        for p in common::providers() {
            cert.verify_issued_by(&issuer, p, &Policy::default())
                .expect("EK cert signed by the swtpm local CA");
            let opts = pki::cert::path::Options::new(&anchors, std::time::SystemTime::now())
                .with_intermediates(&inters);
            let path = cert
                .validate_chain(p, &opts)
                .expect("EK cert chains to the swtpm local root");
            assert_eq!(path.chain().len(), 3);
        }
        // The lenient intake: a TCG header and 0xff padding to the NV size, built from the
        // real certificate; and non-padding trailing bytes.
        let der = cert.der().to_vec();
        let mut wrapped = vec![0x10, 0x01, 0x00];
        wrapped.extend_from_slice(&(der.len() as u16).to_be_bytes());
        wrapped.extend_from_slice(&der);
        wrapped.extend_from_slice(&[0xff; 300]);
        let w = EkCertificate::from_nv(&wrapped).expect("wrapped");
        assert_eq!(w.der(), &der[..]);
        assert_eq!(w.quirks(), &[Quirk::NvHeader]);
        let mut padded = der.clone();
        padded.extend_from_slice(&[0xff; 1024]);
        let w = EkCertificate::from_nv(&padded).expect("padded");
        assert_eq!(w.quirks(), &[Quirk::Padding { len: 1024 }]);
        let mut trailing = der.clone();
        trailing.extend_from_slice(b"\x01\x02junk");
        let w = EkCertificate::from_nv(&trailing).expect("trailing");
        assert_eq!(w.quirks(), &[Quirk::TrailingData { len: 6 }]);
        assert!(
            EkCertificate::from_der(&trailing).is_err(),
            "strict DER refuses it"
        );
        assert!(
            EkCertificate::from_nv(&der[..der.len() - 1]).is_err(),
            "truncated"
        );
        eks.push((cert, ek));
    }
    // The RSA EK recreated from its template is the persistent one.
    tpm.tool(&["tpm2_createek", "-c", "-", "-G", "rsa", "-u", "ek2.pub"]);
    let again = Public::parse_2b(&tpm.read("ek2.pub")).unwrap();
    assert_eq!(again, eks[0].1);
    // Binding: each certificate to its own EK, never to the other.
    let (rsa_cert, rsa_ek) = eks[0].clone();
    let (ecc_cert, ecc_ek) = eks[1].clone();
    assert!(matches!(
        rsa_cert.clone().bind(&ecc_ek),
        Err(Error::EkKeyMismatch)
    ));
    assert!(matches!(
        ecc_cert.clone().bind(&rsa_ek),
        Err(Error::EkKeyMismatch)
    ));
    let bound = rsa_cert.bind(&rsa_ek).expect("RSA EK bound");
    assert_eq!(bound.ek(), &rsa_ek);
    ecc_cert.bind(&ecc_ek).expect("ECC EK bound");
    assert!(
        matches!(ecc_ek.parameters, attestation::tpm::Parameters::Ecc(p) if p.curve_id == alg::ECC_NIST_P384)
    );
}

struct AkCase {
    key: &'static str,
    scheme: &'static str,
}

const AK_CASES: [AkCase; 3] = [
    AkCase {
        key: "rsa",
        scheme: "rsassa",
    },
    AkCase {
        key: "rsa",
        scheme: "rsapss",
    },
    AkCase {
        key: "ecc256",
        scheme: "ecdsa",
    },
];

fn flip(b: &[u8], i: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[i] ^= 0x01;
    v
}

#[test]
fn quotes_over_sha1_and_sha256_verify_and_fail_on_any_change() {
    let tpm = Swtpm::start();
    tpm.create_rsa_ek();
    tpm.tool(&[
        "tpm2_pcrextend",
        &format!("7:sha1={},sha256={}", "ab".repeat(20), "cd".repeat(32)),
    ]);
    for (n, case) in AK_CASES.iter().enumerate() {
        tpm.create_ak("ek.ctx", case.key, case.scheme);
        let nonce = format!("{:02x}112233445566778899", n);
        tpm.tool(&[
            "tpm2_quote",
            "-c",
            "ak.ctx",
            "-l",
            "sha1:0,1,7+sha256:0,7,16",
            "-q",
            &nonce,
            "-m",
            "quote.msg",
            "-s",
            "quote.sig",
            "-o",
            "quote.pcrs",
            "-g",
            "sha256",
            "--scheme",
            case.scheme,
        ]);
        let ak = Public::parse_2b(&tpm.read("ak.pub")).unwrap();
        let name = Name::parse(&tpm.read("ak.name")).unwrap();
        let msg = tpm.read("quote.msg");
        let sig_bytes = tpm.read("quote.sig");
        let sig = Signature::parse(&sig_bytes).unwrap();
        assert_eq!(sig.encode(), sig_bytes);
        let (sel, pcrs) = PcrValues::parse_tpm2_tools(&tpm.read("quote.pcrs")).unwrap();
        assert_eq!(pcrs.0.len(), 6);
        assert_eq!(
            pcrs.get(alg::SHA256, 16),
            Some(&[0u8; 32][..]),
            "PCR 16 is reset to zeros"
        );
        let nonce = hex::decode(&nonce).unwrap();
        let none = PcrSelection::default();
        for p in common::providers() {
            assert!(name.matches(&ak, p).unwrap(), "ak.name is the AK's Name");
            let v = Verifier::new(p);
            let ev = QuoteEvidence {
                attest: &msg,
                signature: &sig,
                nonce: &nonce,
                pcrs: &pcrs,
                required: &sel,
            };
            let ok = v.quote(&ak, ev).expect("quote verifies");
            assert_eq!(ok.selection(), &sel);
            assert_eq!(ok.attest().extra_data, nonce);
            // Every byte of the signed message and of the signature matters.
            for i in 0..msg.len() {
                let m = flip(&msg, i);
                assert!(
                    v.quote(&ak, QuoteEvidence { attest: &m, ..ev }).is_err(),
                    "attest byte {i}"
                );
            }
            for i in 0..sig_bytes.len() {
                let s = flip(&sig_bytes, i);
                if let Ok(s) = Signature::parse(&s) {
                    assert!(
                        v.quote(
                            &ak,
                            QuoteEvidence {
                                signature: &s,
                                ..ev
                            }
                        )
                        .is_err(),
                        "sig byte {i}"
                    );
                }
            }
            // Nonce.
            let other = flip(&nonce, 0);
            assert!(matches!(
                v.quote(
                    &ak,
                    QuoteEvidence {
                        nonce: &other,
                        ..ev
                    }
                ),
                Err(Error::NonceMismatch)
            ));
            // Every byte of every PCR value.
            for (&(bank, index), value) in &pcrs.0 {
                for i in 0..value.len() {
                    let mut t = pcrs.clone();
                    t.0.insert((bank, index), flip(value, i));
                    assert!(matches!(
                        v.quote(&ak, QuoteEvidence { pcrs: &t, ..ev }),
                        Err(Error::PcrDigestMismatch)
                    ));
                }
            }
            // A supplied PCR that is not quoted; a quoted PCR without a value; a required PCR
            // that is not quoted.
            let mut extra = pcrs.clone();
            extra.0.insert((alg::SHA256, 1), vec![0; 32]);
            assert!(matches!(
                v.quote(&ak, QuoteEvidence { pcrs: &extra, ..ev }),
                Err(Error::PcrNotCovered { index: 1, .. })
            ));
            let mut missing = pcrs.clone();
            missing.0.remove(&(alg::SHA1, 7));
            assert!(matches!(
                v.quote(
                    &ak,
                    QuoteEvidence {
                        pcrs: &missing,
                        required: &none,
                        ..ev
                    }
                ),
                Err(Error::PcrValueMissing { index: 7, .. })
            ));
            let req = PcrSelection(vec![
                attestation::tpm::PcrSelect::new(alg::SHA256, &[0, 8]).unwrap(),
            ]);
            assert!(matches!(
                v.quote(
                    &ak,
                    QuoteEvidence {
                        required: &req,
                        ..ev
                    }
                ),
                Err(Error::PcrSelectionMismatch(_))
            ));
            // The Name changes with any byte of the AK public area.
            let enc = ak.encode();
            for i in [0usize, 3, 9, enc.len() - 1] {
                if let Ok(t) = Public::parse(&flip(&enc, i)) {
                    assert!(!name.matches(&t, p).unwrap(), "public byte {i}");
                }
            }
            // A modulus / point change makes the signature fail.
            let mut t = ak.clone();
            match &mut t.unique {
                attestation::tpm::Unique::Rsa(n) => n[10] ^= 1,
                attestation::tpm::Unique::Ecc { x, .. } => x[31] ^= 1,
                _ => unreachable!(),
            }
            assert!(v.quote(&t, ev).is_err());
        }
    }
}

#[test]
fn certify_and_ak_creation_evidence() {
    let tpm = Swtpm::start();
    tpm.create_rsa_ek();
    tpm.create_ak("ek.ctx", "ecc256", "ecdsa");
    tpm.tool(&[
        "tpm2_createprimary",
        "-C",
        "o",
        "-G",
        "ecc256",
        "-c",
        "prim.ctx",
    ]);
    tpm.tool(&[
        "tpm2_create",
        "-C",
        "prim.ctx",
        "-G",
        "ecc256",
        "-u",
        "key.pub",
        "-r",
        "key.priv",
    ]);
    tpm.tool(&[
        "tpm2_load",
        "-C",
        "prim.ctx",
        "-u",
        "key.pub",
        "-r",
        "key.priv",
        "-c",
        "key.ctx",
    ]);
    tpm.tool(&[
        "tpm2_certify",
        "-c",
        "key.ctx",
        "-C",
        "ak.ctx",
        "-g",
        "sha256",
        "-o",
        "certify.out",
        "-s",
        "certify.sig",
    ]);
    // An AK with creation evidence: created under the owner primary, then certified by itself.
    tpm.tool(&[
        "tpm2_create",
        "-C",
        "prim.ctx",
        "-G",
        "rsa2048:rsassa-sha256:null",
        "-a",
        "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign",
        "-u",
        "cak.pub",
        "-r",
        "cak.priv",
        "--creation-data",
        "cd.bin",
        "--creation-ticket",
        "tk.bin",
        "--creation-hash",
        "ch.bin",
    ]);
    tpm.tool(&[
        "tpm2_load",
        "-C",
        "prim.ctx",
        "-u",
        "cak.pub",
        "-r",
        "cak.priv",
        "-c",
        "cak.ctx",
    ]);
    tpm.tool(&[
        "tpm2_certifycreation",
        "-C",
        "cak.ctx",
        "-c",
        "cak.ctx",
        "-d",
        "ch.bin",
        "-t",
        "tk.bin",
        "-g",
        "sha256",
        "--attestation",
        "cattest.out",
        "-o",
        "csig.out",
        "-s",
        "rsassa",
        "-q",
        "0102",
    ]);

    let ak = Public::parse_2b(&tpm.read("ak.pub")).unwrap();
    let key = Public::parse_2b(&tpm.read("key.pub")).unwrap();
    let attest = tpm.read("certify.out");
    let sig = Signature::parse(&tpm.read("certify.sig")).unwrap();
    let cak = Public::parse_2b(&tpm.read("cak.pub")).unwrap();
    let cd = CreationData::parse_2b(&tpm.read("cd.bin")).unwrap();
    let cattest = tpm.read("cattest.out");
    let csig = Signature::parse(&tpm.read("csig.out")).unwrap();
    for p in common::providers() {
        let v = Verifier::new(p);
        let ev = CertifyEvidence {
            key: &key,
            attest: &attest,
            signature: &sig,
            // tpm2_certify (tpm2-tools 5.4) has no option for qualifyingData and sends the
            // fixed bytes 00 ff 55 aa.
            qualifying_data: &[0x00, 0xff, 0x55, 0xaa],
        };
        let ok = v.certify(&ak, ev).expect("certify verifies");
        assert_eq!(ok.name(), &key.name(p).unwrap());
        for i in 0..attest.len() {
            let m = flip(&attest, i);
            assert!(
                v.certify(&ak, CertifyEvidence { attest: &m, ..ev })
                    .is_err(),
                "byte {i}"
            );
        }
        assert!(matches!(
            v.certify(
                &ak,
                CertifyEvidence {
                    qualifying_data: b"x",
                    ..ev
                }
            ),
            Err(Error::NonceMismatch)
        ));
        // Another key's public area: its Name is not the attested one.
        assert!(matches!(
            v.certify(&ak, CertifyEvidence { key: &ak, ..ev }),
            Err(Error::NameMismatch { .. })
        ));
        // The key certified by a non-AK signer (an unrestricted key) is refused.
        assert!(matches!(
            v.certify(&key, ev),
            Err(Error::KeyNotAcceptable(_))
        ));

        let ok = v
            .ak_creation(&cak, &cd, &cattest, &csig, &cak, Some(&[1, 2]))
            .expect("creation evidence verifies");
        assert_eq!(ok.name(), &cak.name(p).unwrap());
        assert!(matches!(
            v.ak_creation(&cak, &cd, &cattest, &csig, &cak, Some(&[1, 3])),
            Err(Error::NonceMismatch)
        ));
        // Creation data from elsewhere: the creation hash does not match.
        let mut other = tpm.read("cd.bin");
        let last = other.len() - 1;
        other[last] ^= 1;
        if let Ok(other) = CreationData::parse_2b(&other) {
            assert!(matches!(
                v.ak_creation(&cak, &other, &cattest, &csig, &cak, None),
                Err(Error::CreationHashMismatch)
            ));
        }
        for i in 0..cattest.len() {
            let m = flip(&cattest, i);
            assert!(
                v.ak_creation(&cak, &cd, &m, &csig, &cak, None).is_err(),
                "byte {i}"
            );
        }
        // The ECC AK from tpm2_createak meets the AK requirements; the unrestricted key not.
        attestation::tpm::check_ak_attributes(&ak).unwrap();
        assert!(matches!(
            attestation::tpm::check_ak_attributes(&key),
            Err(Error::KeyNotAcceptable(_))
        ));
        // A restricted AK over the wrong name: the creation evidence of `cak` for `ak`.
        assert!(
            v.ak_creation(&ak, &cd, &cattest, &csig, &cak, None)
                .is_err()
        );
        // SHA-1 signatures are refused unless the policy allows them (see the quote test for
        // the accepted path): a policy object is honoured.
        let _ = v.with_policy(Policy::allowing_sha1());
    }
}

#[test]
fn credentials_made_here_are_activated_by_the_tpm() {
    let tpm = Swtpm::start();
    tpm.tool(&[
        "tpm2_createek",
        "-c",
        "ek-rsa.ctx",
        "-G",
        "rsa",
        "-u",
        "ek-rsa.pub",
    ]);
    tpm.tool(&[
        "tpm2_createek",
        "-c",
        "ek-p256.ctx",
        "-G",
        "ecc",
        "-u",
        "ek-p256.pub",
    ]);
    // swtpm's own P-384 EK (0x81010016) uses the high-range template, whose policy is a
    // PolicyOR including PolicyAuthorizeNV that tpm2-tools cannot satisfy. This P-384 storage
    // key in the endorsement hierarchy has the same algorithms (nameAlg SHA-384, AES-256-CFB,
    // restricted decrypt) with password authorization, and its AK is made by hand.
    tpm.tool(&[
        "tpm2_createprimary",
        "-C",
        "e",
        "-g",
        "sha384",
        "-G",
        "ecc384:aes256cfb",
        "-a",
        "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|decrypt",
        "-c",
        "ek-p384.ctx",
    ]);
    tpm.tool(&["tpm2_readpublic", "-c", "ek-p384.ctx", "-o", "ek-p384.pub"]);
    let cases = [
        ("ek-rsa.ctx", "ek-rsa.pub", true),
        ("ek-p256.ctx", "ek-p256.pub", true),
        ("ek-p384.ctx", "ek-p384.pub", false),
    ];
    let mut rng = testkit::rng(7);
    for (n, (ek_ctx, ek_pub, ek_policy)) in cases.iter().enumerate() {
        if *ek_policy {
            tpm.create_ak(ek_ctx, "rsa", "rsassa");
        } else {
            tpm.tool(&[
                "tpm2_create",
                "-C",
                ek_ctx,
                "-G",
                "rsa2048:rsassa-sha256:null",
                "-a",
                "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign",
                "-u",
                "ak.pub",
                "-r",
                "ak.priv",
            ]);
            tpm.tool(&[
                "tpm2_load",
                "-C",
                ek_ctx,
                "-u",
                "ak.pub",
                "-r",
                "ak.priv",
                "-c",
                "ak.ctx",
                "-n",
                "ak.name",
            ]);
        }
        let ek = Public::parse_2b(&tpm.read(ek_pub)).unwrap();
        if !*ek_policy {
            assert_eq!(ek.name_alg, alg::SHA384);
        }
        let name = Name::parse(&tpm.read("ak.name")).unwrap();
        for (k, p) in common::providers().into_iter().enumerate() {
            let secret = format!("secret {n}/{k} for the AK");
            let secret = &secret.as_bytes()[..secret.len().min(32)];
            let blob = make_credential(p, &ek, &name, secret, &mut rng).unwrap();
            tpm.write("cred.bin", &blob.to_tpm2_tools());
            let parsed =
                attestation::tpm::CredentialBlob::parse_tpm2_tools(&tpm.read("cred.bin")).unwrap();
            assert_eq!(parsed, blob);
            let out = activate(&tpm, ek_ctx, *ek_policy);
            assert!(out.ok, "activation failed for {ek_pub}: {}", out.stderr);
            assert_eq!(tpm.read("out.bin"), secret, "{ek_pub}");
            // A credential for another Name is refused by the TPM.
            let mut wrong = name.as_bytes().to_vec();
            wrong[5] ^= 1;
            let wrong = Name::parse(&wrong).unwrap();
            let blob = make_credential(p, &ek, &wrong, secret, &mut rng).unwrap();
            tpm.write("cred.bin", &blob.to_tpm2_tools());
            assert!(
                !activate(&tpm, ek_ctx, *ek_policy).ok,
                "{ek_pub}: wrong name activated"
            );
        }
    }
}

fn activate(tpm: &Swtpm, ek_ctx: &str, ek_policy: bool) -> testkit::Run {
    let _ = std::fs::remove_file(tpm.path("out.bin"));
    let args = [
        "tpm2_activatecredential",
        "-c",
        "ak.ctx",
        "-C",
        ek_ctx,
        "-i",
        "cred.bin",
        "-o",
        "out.bin",
    ];
    if !ek_policy {
        return tpm.try_tool(&args);
    }
    tpm.tool(&["tpm2_startauthsession", "--policy-session", "-S", "s.ctx"]);
    let r = tpm.try_tool(&["tpm2_policysecret", "-S", "s.ctx", "-c", "e"]);
    assert!(r.ok, "policysecret: {}", r.stderr);
    let mut with_session = args.to_vec();
    with_session.extend(["-P", "session:s.ctx"]);
    let out = tpm.try_tool(&with_session);
    let _ = tpm.try_tool(&["tpm2_flushcontext", "s.ctx"]);
    out
}
