//! Every compiled crypto provider against known answers, against openssl, and against each
//! other.
//!
//! Run with `cargo test -p pki --features aws-lc --test provider` to cover both providers.
//! Keys come from `openssl genpkey` (made once per run, in a temporary directory), so the
//! expensive RSA key generation happens in C, not in a debug build.

mod common;

use std::path::Path;
use std::sync::{Arc, OnceLock};

use pki::Error;
use pki::alg::{ContentCipher, Curve, EcdsaEncoding, HashAlg, KeyTransport, SignatureScheme};
use pki::der::Encode;
use pki::key::{KeyKind, KeySpec, PrivateKey};
use pki::provider::CryptoProvider;
use pki::spki::SubjectPublicKeyInfoOwned;
use pki::verify::Policy;

// ---------------------------------------------------------------------------------------------
// Fixtures

/// PKCS#8 DER private keys made by `openssl genpkey` (and `openssl pkcs8 -topk8`).
struct Keys {
    rsa2048: Vec<u8>,
    rsa1024: Vec<u8>,
    p256: Vec<u8>,
    p384: Vec<u8>,
    p521: Vec<u8>,
    ed25519: Vec<u8>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let gen_key = |name: &str, args: &[&str]| {
            // genpkey writes PKCS#8 in PEM (in DER it would write the key type's own format).
            let pem = format!("{name}.pem");
            let out = format!("{name}.der");
            let mut all = vec!["genpkey"];
            all.extend_from_slice(args);
            all.extend_from_slice(&["-out", &pem]);
            testkit::openssl(d, &all);
            testkit::openssl(
                d,
                &[
                    "pkcs8", "-topk8", "-nocrypt", "-in", &pem, "-outform", "DER", "-out", &out,
                ],
            );
            std::fs::read(d.join(&out)).unwrap()
        };
        Keys {
            rsa2048: gen_key(
                "rsa2048",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            ),
            rsa1024: gen_key(
                "rsa1024",
                &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
            ),
            p256: gen_key(
                "p256",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            ),
            p384: gen_key(
                "p384",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            ),
            p521: gen_key(
                "p521",
                &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
            ),
            ed25519: gen_key("ed25519", &["-algorithm", "ED25519"]),
        }
    })
}

/// Write `der` (PKCS#8) as `<name>.pem`, and its public key as `<name>.pub.pem` and
/// `<name>.pub.der`, all by openssl. Returns the public key openssl derived.
fn materialize(dir: &Path, name: &str, der: &[u8]) -> SubjectPublicKeyInfoOwned {
    let der_file = format!("{name}.der");
    std::fs::write(dir.join(&der_file), der).unwrap();
    let pem = format!("{name}.pem");
    testkit::openssl(
        dir,
        &["pkey", "-inform", "DER", "-in", &der_file, "-out", &pem],
    );
    let pub_pem = format!("{name}.pub.pem");
    testkit::openssl(dir, &["pkey", "-in", &pem, "-pubout", "-out", &pub_pem]);
    let pub_der = format!("{name}.pub.der");
    testkit::openssl(
        dir,
        &[
            "pkey", "-in", &pem, "-pubout", "-outform", "DER", "-out", &pub_der,
        ],
    );
    pki::public_key::from_der(&std::fs::read(dir.join(&pub_der)).unwrap()).unwrap()
}

fn load(p: &dyn CryptoProvider, der: &[u8]) -> Arc<dyn PrivateKey> {
    p.private_key_from_pkcs8_der(der)
        .unwrap_or_else(|e| panic!("{}: loading an openssl key: {e}", p.name()))
}

fn sha(h: HashAlg) -> &'static str {
    match h {
        HashAlg::Sha1 => "sha1",
        HashAlg::Sha224 => "sha224",
        HashAlg::Sha256 => "sha256",
        HashAlg::Sha384 => "sha384",
        HashAlg::Sha512 => "sha512",
        other => panic!("no openssl name for {other:?}"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn tampered(sig: &[u8]) -> Vec<u8> {
    let mut bad = sig.to_vec();
    let i = bad.len() / 2;
    bad[i] ^= 0x01;
    bad
}

const MSG: &[u8] =
    b"admit: a message to sign, long enough to span more than one block of any digest \
                     we use, so that the padding and length encoding of the digests matter too.";

// ---------------------------------------------------------------------------------------------
// Providers

#[test]
fn the_expected_providers_ran() {
    // `providers()` panics unless these are exactly the ones this crate's features ask for.
    let ran: Vec<&str> = common::providers().iter().map(|p| p.name()).collect();
    for name in ran {
        assert_eq!(pki::provider::by_name(name).unwrap().name(), name);
    }
    assert!(pki::provider::by_name("no-such-provider").is_none());
}

// ---------------------------------------------------------------------------------------------
// Digests

/// FIPS 180-2 appendix examples for the one-block message "abc" and the two-block message
/// "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq" (SHA-1, SHA-224, SHA-256), plus
/// `openssl dgst` over the same and other inputs.
#[test]
fn digests_match_fips_180_and_openssl() {
    let abc: [(HashAlg, &str); 5] = [
        (HashAlg::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            HashAlg::Sha224,
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
        ),
        (
            HashAlg::Sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            HashAlg::Sha384,
            "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded163\
             1a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7",
        ),
        (
            HashAlg::Sha512,
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    ];
    let two_block = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let two_block_answers: [(HashAlg, &str); 3] = [
        (HashAlg::Sha1, "84983e441c3bd26ebaae4aa1f95129e5e54670f1"),
        (
            HashAlg::Sha224,
            "75388b16512776cc5dba5da1fd890150b0c6455cb4f58b1952522525",
        ),
        (
            HashAlg::Sha256,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let million_a = vec![b'a'; 1_000_000];
    let inputs: [&[u8]; 5] = [b"abc", two_block, b"", MSG, &million_a];
    for (i, input) in inputs.iter().enumerate() {
        std::fs::write(d.join(format!("in{i}")), input).unwrap();
    }
    for p in common::providers() {
        for (h, answer) in abc {
            assert_eq!(p.digest(h, b"abc"), hex(answer), "{} {h:?}", p.name());
        }
        for (h, answer) in two_block_answers {
            assert_eq!(p.digest(h, two_block), hex(answer), "{} {h:?}", p.name());
        }
        for h in HashAlg::ALL {
            for (i, input) in inputs.iter().enumerate() {
                let theirs = testkit::openssl(
                    d,
                    &[
                        "dgst",
                        &format!("-{}", sha(h)),
                        "-binary",
                        &format!("in{i}"),
                    ],
                );
                let ours = p.digest(h, input);
                assert_eq!(ours, theirs, "{} {h:?} input {i}", p.name());
                assert_eq!(ours.len(), h.output_len());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Signatures

/// The schemes each kind of key is exercised with, and whether openssl can check them
/// (openssl knows no fixed-size ECDSA encoding).
fn schemes_for(kind: KeyKind) -> Vec<SignatureScheme> {
    let ecdsa = |hash, encoding| SignatureScheme::Ecdsa { hash, encoding };
    let pss = |hash: HashAlg, salt_len| SignatureScheme::RsaPss { hash, salt_len };
    match kind {
        KeyKind::Rsa { .. } => vec![
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha1),
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha224),
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha384),
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha512),
            pss(HashAlg::Sha256, 32),
            pss(HashAlg::Sha384, 48),
            pss(HashAlg::Sha512, 64),
            // A salt length other than the digest length, as some signers use.
            pss(HashAlg::Sha256, 20),
        ],
        KeyKind::Ec(Curve::P256) => vec![
            ecdsa(HashAlg::Sha256, EcdsaEncoding::Der),
            ecdsa(HashAlg::Sha256, EcdsaEncoding::Fixed),
            ecdsa(HashAlg::Sha384, EcdsaEncoding::Der),
            ecdsa(HashAlg::Sha1, EcdsaEncoding::Der),
        ],
        KeyKind::Ec(Curve::P384) => vec![
            ecdsa(HashAlg::Sha384, EcdsaEncoding::Der),
            ecdsa(HashAlg::Sha384, EcdsaEncoding::Fixed),
            // What Mender does: SHA-256 whatever the curve.
            ecdsa(HashAlg::Sha256, EcdsaEncoding::Der),
            ecdsa(HashAlg::Sha256, EcdsaEncoding::Fixed),
        ],
        KeyKind::Ec(Curve::P521) => vec![
            ecdsa(HashAlg::Sha512, EcdsaEncoding::Der),
            ecdsa(HashAlg::Sha512, EcdsaEncoding::Fixed),
            ecdsa(HashAlg::Sha256, EcdsaEncoding::Der),
            ecdsa(HashAlg::Sha256, EcdsaEncoding::Fixed),
        ],
        KeyKind::Ed25519 => vec![SignatureScheme::Ed25519],
        other => panic!("no schemes for {other:?}"),
    }
}

fn signing_keys() -> [(&'static str, &'static [u8], KeyKind); 5] {
    let k = keys();
    [
        ("rsa2048", &k.rsa2048, KeyKind::Rsa { bits: 2048 }),
        ("p256", &k.p256, KeyKind::Ec(Curve::P256)),
        ("p384", &k.p384, KeyKind::Ec(Curve::P384)),
        ("p521", &k.p521, KeyKind::Ec(Curve::P521)),
        ("ed25519", &k.ed25519, KeyKind::Ed25519),
    ]
}

/// Every provider signs with every key kind and scheme; every provider verifies the result;
/// a tampered signature or message is `BadSignature` everywhere.
#[test]
fn sign_then_verify_across_providers() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = testkit::rng(1);
    for (name, der, kind) in signing_keys() {
        let openssl_spki = materialize(dir.path(), name, der);
        for signer in common::providers() {
            let key = load(signer, der);
            assert_eq!(key.kind(), kind, "{} {name}", signer.name());
            assert_eq!(
                key.spki(),
                &openssl_spki,
                "{} {name}: public key differs from openssl's",
                signer.name()
            );
            for scheme in schemes_for(kind) {
                let ctx = format!("{name} {scheme:?} signed by {}", signer.name());
                let sig = key
                    .sign(scheme, MSG, &mut rng)
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                match (kind, scheme) {
                    (
                        KeyKind::Ec(c),
                        SignatureScheme::Ecdsa {
                            encoding: EcdsaEncoding::Fixed,
                            ..
                        },
                    ) => assert_eq!(sig.len(), 2 * c.scalar_len(), "{ctx}"),
                    (KeyKind::Rsa { bits }, _) => assert_eq!(sig.len(), bits / 8, "{ctx}"),
                    (KeyKind::Ed25519, _) => assert_eq!(sig.len(), 64, "{ctx}"),
                    _ => {}
                }
                for verifier in common::providers() {
                    let ctx = format!("{ctx}, verified by {}", verifier.name());
                    verifier
                        .verify(&openssl_spki, scheme, MSG, &sig)
                        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!(
                        verifier.verify(&openssl_spki, scheme, MSG, &tampered(&sig)),
                        Err(Error::BadSignature),
                        "{ctx}: tampered signature"
                    );
                    assert_eq!(
                        verifier.verify(&openssl_spki, scheme, b"another message", &sig),
                        Err(Error::BadSignature),
                        "{ctx}: other message"
                    );
                }
            }
        }
    }
}

/// A PSS signature checked with the wrong salt length, and an ECDSA signature checked in the
/// other encoding, do not verify.
#[test]
fn scheme_parameters_are_checked() {
    let k = keys();
    let mut rng = testkit::rng(2);
    for p in common::providers() {
        let rsa = load(p, &k.rsa2048);
        let sig = rsa
            .sign(
                SignatureScheme::RsaPss {
                    hash: HashAlg::Sha256,
                    salt_len: 32,
                },
                MSG,
                &mut rng,
            )
            .unwrap();
        for q in common::providers() {
            for wrong in [
                SignatureScheme::RsaPss {
                    hash: HashAlg::Sha256,
                    salt_len: 20,
                },
                SignatureScheme::RsaPss {
                    hash: HashAlg::Sha384,
                    salt_len: 32,
                },
                SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
            ] {
                assert_eq!(
                    q.verify(rsa.spki(), wrong, MSG, &sig),
                    Err(Error::BadSignature),
                    "{} signed, {} verified with {wrong:?}",
                    p.name(),
                    q.name()
                );
            }
        }
        let ec = load(p, &k.p256);
        let der_sig = ec
            .sign(SignatureScheme::ecdsa(HashAlg::Sha256), MSG, &mut rng)
            .unwrap();
        for q in common::providers() {
            let fixed = SignatureScheme::Ecdsa {
                hash: HashAlg::Sha256,
                encoding: EcdsaEncoding::Fixed,
            };
            assert_eq!(
                q.verify(ec.spki(), fixed, MSG, &der_sig),
                Err(Error::BadSignature),
                "{} / {}",
                p.name(),
                q.name()
            );
            assert_eq!(
                q.verify(
                    ec.spki(),
                    SignatureScheme::ecdsa(HashAlg::Sha384),
                    MSG,
                    &der_sig
                ),
                Err(Error::BadSignature),
                "{} / {}",
                p.name(),
                q.name()
            );
        }
    }
}

/// The openssl options that make `openssl dgst` produce or check `scheme`.
fn dgst_args(scheme: SignatureScheme) -> Vec<String> {
    match scheme {
        SignatureScheme::RsaPkcs1v15(h) => vec![format!("-{}", sha(h))],
        SignatureScheme::RsaPss { hash, salt_len } => vec![
            format!("-{}", sha(hash)),
            "-sigopt".into(),
            "rsa_padding_mode:pss".into(),
            "-sigopt".into(),
            format!("rsa_pss_saltlen:{salt_len}"),
            "-sigopt".into(),
            format!("rsa_mgf1_md:{}", sha(hash)),
        ],
        SignatureScheme::Ecdsa { hash, .. } => vec![format!("-{}", sha(hash))],
        other => panic!("not a dgst scheme: {other:?}"),
    }
}

fn openssl_can_check(scheme: SignatureScheme) -> bool {
    !matches!(
        scheme,
        SignatureScheme::Ecdsa {
            encoding: EcdsaEncoding::Fixed,
            ..
        }
    )
}

/// Signatures made by openssl verify with every provider (and fail when tampered with).
#[test]
fn openssl_signatures_verify_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), MSG).unwrap();
    for (name, der, kind) in signing_keys() {
        let spki = materialize(d, name, der);
        let key_pem = format!("{name}.pem");
        for scheme in schemes_for(kind)
            .into_iter()
            .filter(|s| openssl_can_check(*s))
        {
            if scheme == SignatureScheme::Ed25519 {
                testkit::openssl(
                    d,
                    &[
                        "pkeyutl", "-sign", "-inkey", &key_pem, "-rawin", "-in", "msg", "-out",
                        "sig",
                    ],
                );
            } else {
                let mut args: Vec<String> = vec!["dgst".into()];
                args.extend(dgst_args(scheme));
                args.extend(["-sign", &key_pem, "-out", "sig", "msg"].map(String::from));
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                testkit::openssl(d, &args);
            }
            let sig = std::fs::read(d.join("sig")).unwrap();
            for p in common::providers() {
                p.verify(&spki, scheme, MSG, &sig)
                    .unwrap_or_else(|e| panic!("{} {name} {scheme:?}: {e}", p.name()));
                assert_eq!(
                    p.verify(&spki, scheme, MSG, &tampered(&sig)),
                    Err(Error::BadSignature),
                    "{} {name} {scheme:?}",
                    p.name()
                );
            }
        }
    }
}

/// Signatures made by every provider verify with `openssl dgst -verify` (and a tampered one
/// does not).
#[test]
fn our_signatures_verify_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), MSG).unwrap();
    let mut rng = testkit::rng(3);
    for (name, der, kind) in signing_keys() {
        materialize(d, name, der);
        let pub_pem = format!("{name}.pub.pem");
        for p in common::providers() {
            let key = load(p, der);
            for scheme in schemes_for(kind)
                .into_iter()
                .filter(|s| openssl_can_check(*s))
            {
                let sig = key.sign(scheme, MSG, &mut rng).unwrap();
                for (sig, should_pass) in [(sig.clone(), true), (tampered(&sig), false)] {
                    std::fs::write(d.join("sig"), &sig).unwrap();
                    let (ok, stderr) = if scheme == SignatureScheme::Ed25519 {
                        testkit::openssl_status(
                            d,
                            &[
                                "pkeyutl", "-verify", "-pubin", "-inkey", &pub_pem, "-rawin",
                                "-in", "msg", "-sigfile", "sig",
                            ],
                        )
                    } else {
                        let mut args: Vec<String> = vec!["dgst".into()];
                        args.extend(dgst_args(scheme));
                        args.extend(
                            ["-verify", &pub_pem, "-signature", "sig", "msg"].map(String::from),
                        );
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        testkit::openssl_status(d, &args)
                    };
                    assert_eq!(
                        ok,
                        should_pass,
                        "{} {name} {scheme:?} (tampered: {}): openssl said {stderr}",
                        p.name(),
                        !should_pass
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RSA key transport

const CEK: &[u8] = &[
    0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2, 0xe1, 0xf0,
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
];

/// The transports we check, with the `openssl pkeyutl` options for each.
fn transports() -> Vec<(KeyTransport, Vec<&'static str>)> {
    let oaep = |hash, mgf_hash| KeyTransport::RsaOaep { hash, mgf_hash };
    vec![
        (
            KeyTransport::RsaPkcs1v15,
            vec!["-pkeyopt", "rsa_padding_mode:pkcs1"],
        ),
        (
            KeyTransport::OAEP_SHA1,
            vec![
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha1",
                "-pkeyopt",
                "rsa_mgf1_md:sha1",
            ],
        ),
        (
            KeyTransport::OAEP_SHA256,
            vec![
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
            ],
        ),
        (
            // Different digests for the label and MGF1 (RustCrypto on both providers).
            oaep(HashAlg::Sha256, HashAlg::Sha1),
            vec![
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha1",
            ],
        ),
    ]
}

/// Our encryption opens with `openssl pkeyutl -decrypt`, and openssl's opens with our keys, for
/// RSA-2048 and RSA-1024 (which aws-lc-rs refuses and the aws-lc provider hands to RustCrypto).
#[test]
fn key_transport_interoperates_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("cek"), CEK).unwrap();
    let mut rng = testkit::rng(4);
    let k = keys();
    for (name, der) in [("rsa2048", &k.rsa2048), ("rsa1024", &k.rsa1024)] {
        let spki = materialize(d, name, der);
        let key_pem = format!("{name}.pem");
        let pub_pem = format!("{name}.pub.pem");
        for (transport, opts) in transports() {
            // openssl encrypts, every provider decrypts.
            let mut args = vec![
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-inkey",
                &pub_pem,
                "-in",
                "cek",
                "-out",
                "ct.openssl",
            ];
            args.extend(&opts);
            testkit::openssl(d, &args);
            let theirs = std::fs::read(d.join("ct.openssl")).unwrap();
            for p in common::providers() {
                let ctx = format!("{} {name} {transport:?}", p.name());
                let key = load(p, der);
                assert_eq!(
                    key.decrypt(transport, &theirs, &mut rng)
                        .unwrap_or_else(|e| panic!("{ctx}: decrypting openssl's: {e}")),
                    CEK,
                    "{ctx}"
                );

                // Every provider encrypts, openssl decrypts.
                let ours = p
                    .key_transport_encrypt(&spki, transport, CEK, &mut rng)
                    .unwrap_or_else(|e| panic!("{ctx}: encrypting: {e}"));
                assert_eq!(ours.len() * 8, if name == "rsa2048" { 2048 } else { 1024 });
                std::fs::write(d.join("ct.ours"), &ours).unwrap();
                let mut args = vec![
                    "pkeyutl", "-decrypt", "-inkey", &key_pem, "-in", "ct.ours", "-out", "pt",
                ];
                args.extend(&opts);
                testkit::openssl(d, &args);
                assert_eq!(std::fs::read(d.join("pt")).unwrap(), CEK, "{ctx}");

                // And our own keys open it, whichever provider encrypted.
                for q in common::providers() {
                    assert_eq!(
                        load(q, der).decrypt(transport, &ours, &mut rng).unwrap(),
                        CEK,
                        "{ctx}, decrypted by {}",
                        q.name()
                    );
                }
            }
        }
    }
}

/// OAEP ciphertexts for another key, or damaged, are `DecryptionFailed`; PKCS#1 v1.5 never
/// yields the original key from a damaged ciphertext (RustCrypto answers with implicit
/// rejection, aws-lc with `DecryptionFailed`).
#[test]
fn key_transport_rejects_wrong_or_damaged_ciphertexts() {
    let k = keys();
    let mut rng = testkit::rng(5);
    for p in common::providers() {
        let rsa = load(p, &k.rsa2048);
        let other = load(p, &k.rsa1024);
        for transport in [KeyTransport::OAEP_SHA1, KeyTransport::OAEP_SHA256] {
            let ct = p
                .key_transport_encrypt(rsa.spki(), transport, CEK, &mut rng)
                .unwrap();
            assert_eq!(
                rsa.decrypt(transport, &tampered(&ct), &mut rng),
                Err(Error::DecryptionFailed),
                "{} {transport:?}",
                p.name()
            );
            assert_eq!(
                other.decrypt(transport, &ct, &mut rng),
                Err(Error::DecryptionFailed),
                "{} {transport:?}",
                p.name()
            );
            assert_eq!(
                rsa.decrypt(transport, &ct[..ct.len() - 1], &mut rng),
                Err(Error::DecryptionFailed),
                "{} {transport:?} truncated",
                p.name()
            );
        }
        let ct = p
            .key_transport_encrypt(rsa.spki(), KeyTransport::RsaPkcs1v15, CEK, &mut rng)
            .unwrap();
        assert_ne!(
            rsa.decrypt(KeyTransport::RsaPkcs1v15, &tampered(&ct), &mut rng),
            Ok(CEK.to_vec()),
            "{}",
            p.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Content ciphers

/// `openssl enc -K -iv` known answers, both directions, for every cipher and several lengths
/// (including empty and whole blocks, which get a full padding block).
#[test]
fn content_ciphers_match_openssl_enc() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_material = hex(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
         c0c1c2c3c4c5c6c7",
    );
    let iv_material = hex("f0e0d0c0b0a090807060504030201000");
    let plaintexts: Vec<Vec<u8>> = [0usize, 1, 7, 8, 15, 16, 17, 100]
        .iter()
        .map(|n| (0..*n).map(|i| (i * 7 + 3) as u8).collect())
        .collect();
    for (cipher, name) in [
        (ContentCipher::Aes128Cbc, "aes-128-cbc"),
        (ContentCipher::Aes192Cbc, "aes-192-cbc"),
        (ContentCipher::Aes256Cbc, "aes-256-cbc"),
        (ContentCipher::DesEde3Cbc, "des-ede3-cbc"),
    ] {
        let key = &key_material[..cipher.key_len()];
        let iv = &iv_material[..cipher.block_len()];
        let (key_hex, iv_hex) = (hex::encode(key), hex::encode(iv));
        for pt in &plaintexts {
            std::fs::write(d.join("pt"), pt).unwrap();
            let enc = [
                "enc",
                "-e",
                &format!("-{name}"),
                "-K",
                &key_hex,
                "-iv",
                &iv_hex,
                "-in",
                "pt",
                "-out",
                "ct",
            ];
            testkit::openssl(d, &enc);
            let theirs = std::fs::read(d.join("ct")).unwrap();
            for p in common::providers() {
                let ctx = format!("{} {cipher:?} {} bytes", p.name(), pt.len());
                let ours = p.cipher_encrypt(cipher, key, iv, pt).unwrap();
                assert_eq!(ours, theirs, "{ctx}: encryption");
                assert_eq!(
                    p.cipher_decrypt(cipher, key, iv, &theirs).unwrap(),
                    *pt,
                    "{ctx}: decryption"
                );
            }
            // openssl opens what the last provider sealed (all produced the same bytes).
            let dec = [
                "enc",
                "-d",
                &format!("-{name}"),
                "-K",
                &key_hex,
                "-iv",
                &iv_hex,
                "-in",
                "ct",
                "-out",
                "pt2",
            ];
            testkit::openssl(d, &dec);
            assert_eq!(std::fs::read(d.join("pt2")).unwrap(), *pt);
        }
    }
}

/// Single DES-CBC (opened only behind a legacy option by the CMS layer) against the CBC example
/// of FIPS 81 appendix C: key 0123456789abcdef, IV 1234567890abcdef, "Now is the time for all ".
#[test]
fn single_des_matches_fips_81() {
    let key = hex("0123456789abcdef");
    let iv = hex("1234567890abcdef");
    let pt = b"Now is the time for all ";
    let answer = hex("e5c7cdde872bf27c43e934008c389c0f683788499a7c05f6");
    for p in common::providers() {
        let ct = p
            .cipher_encrypt(ContentCipher::DesCbc, &key, &iv, pt)
            .unwrap();
        // 24 bytes of message, then one block of PKCS#7 padding.
        assert_eq!(ct.len(), 32, "{}", p.name());
        assert_eq!(ct[..24], answer[..], "{}", p.name());
        assert_eq!(
            p.cipher_decrypt(ContentCipher::DesCbc, &key, &iv, &ct)
                .unwrap(),
            pt,
            "{}",
            p.name()
        );
    }
}

/// Padding that is not PKCS#7, ragged or empty ciphertexts are `DecryptionFailed`; keys and IVs
/// of the wrong length are `BadLength`.
#[test]
fn content_cipher_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (cipher, name) in [
        (ContentCipher::Aes128Cbc, "aes-128-cbc"),
        (ContentCipher::Aes256Cbc, "aes-256-cbc"),
        (ContentCipher::DesEde3Cbc, "des-ede3-cbc"),
    ] {
        let key = vec![0x42; cipher.key_len()];
        let iv = vec![0x24; cipher.block_len()];
        // Blocks whose last byte is not valid padding, encrypted by openssl without padding:
        // a final byte of 0, a final byte larger than the block, and an inconsistent run.
        let b = cipher.block_len();
        let mut bad_pads = vec![vec![0u8; b], vec![0xffu8; b]];
        let mut inconsistent = vec![3u8; b];
        inconsistent[b - 2] = 2;
        bad_pads.push(inconsistent);
        for (i, block) in bad_pads.iter().enumerate() {
            std::fs::write(d.join("pt"), block).unwrap();
            testkit::openssl(
                d,
                &[
                    "enc",
                    "-e",
                    &format!("-{name}"),
                    "-nopad",
                    "-K",
                    &hex::encode(&key),
                    "-iv",
                    &hex::encode(&iv),
                    "-in",
                    "pt",
                    "-out",
                    "ct",
                ],
            );
            let ct = std::fs::read(d.join("ct")).unwrap();
            assert_eq!(ct.len(), b);
            for p in common::providers() {
                assert_eq!(
                    p.cipher_decrypt(cipher, &key, &iv, &ct),
                    Err(Error::DecryptionFailed),
                    "{} {cipher:?} bad padding {i}",
                    p.name()
                );
            }
        }
        for p in common::providers() {
            let ctx = format!("{} {cipher:?}", p.name());
            let good = p
                .cipher_encrypt(cipher, &key, &iv, b"some content")
                .unwrap();
            for ragged in [&good[..good.len() - 1], &good[..0], &good[..3]] {
                assert_eq!(
                    p.cipher_decrypt(cipher, &key, &iv, ragged),
                    Err(Error::DecryptionFailed),
                    "{ctx}: {} bytes",
                    ragged.len()
                );
            }
            let short_key = &key[..key.len() - 1];
            let long_iv = [iv.as_slice(), &[0]].concat();
            let expected_key = Err(Error::BadLength {
                cipher,
                what: "key",
                expected: cipher.key_len(),
                got: cipher.key_len() - 1,
            });
            let expected_iv = Err(Error::BadLength {
                cipher,
                what: "IV",
                expected: cipher.block_len(),
                got: cipher.block_len() + 1,
            });
            assert_eq!(
                p.cipher_encrypt(cipher, short_key, &iv, b"x"),
                expected_key,
                "{ctx}"
            );
            assert_eq!(
                p.cipher_decrypt(cipher, short_key, &iv, &good),
                expected_key,
                "{ctx}"
            );
            assert_eq!(
                p.cipher_encrypt(cipher, &key, &long_iv, b"x"),
                expected_iv,
                "{ctx}"
            );
            assert_eq!(
                p.cipher_decrypt(cipher, &key, &long_iv, &good),
                expected_iv,
                "{ctx}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Private keys

/// `to_pkcs8_der` loads back (in both providers) to the same public key, and openssl reads it
/// and derives that same public key.
#[test]
fn pkcs8_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let k = keys();
    let mut all = signing_keys().to_vec();
    all.push(("rsa1024", &k.rsa1024, KeyKind::Rsa { bits: 1024 }));
    for (name, der, kind) in all {
        for p in common::providers() {
            let key = load(p, der);
            let ours = key.to_pkcs8_der().unwrap();
            let ctx = format!("{} {name}", p.name());
            for q in common::providers() {
                let back = q
                    .private_key_from_pkcs8_der(&ours)
                    .unwrap_or_else(|e| panic!("{ctx} reloaded by {}: {e}", q.name()));
                assert_eq!(back.spki(), key.spki(), "{ctx} reloaded by {}", q.name());
                assert_eq!(back.kind(), kind, "{ctx}");
            }
            let openssl_spki = materialize(d, "ours", &ours);
            assert_eq!(&openssl_spki, key.spki(), "{ctx}: openssl pkey disagrees");
        }
    }
}

/// Generated keys sign and verify in every provider, and openssl accepts their PKCS#8. RSA
/// generation is limited to one 2048-bit key per provider (slow in debug builds).
#[test]
fn generated_keys_work() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = testkit::rng(6);
    for p in common::providers() {
        for (spec, kind) in [
            (KeySpec::Ec(Curve::P256), KeyKind::Ec(Curve::P256)),
            (KeySpec::Ec(Curve::P384), KeyKind::Ec(Curve::P384)),
            (KeySpec::Ec(Curve::P521), KeyKind::Ec(Curve::P521)),
            (KeySpec::Ed25519, KeyKind::Ed25519),
            (KeySpec::Rsa(2048), KeyKind::Rsa { bits: 2048 }),
        ] {
            let ctx = format!("{} {spec:?}", p.name());
            let key = p
                .generate_key(spec, &mut rng)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(key.kind(), kind, "{ctx}");
            let scheme = key.default_scheme();
            let sig = key.sign(scheme, MSG, &mut rng).unwrap();
            for q in common::providers() {
                q.verify(key.spki(), scheme, MSG, &sig)
                    .unwrap_or_else(|e| panic!("{ctx}, verified by {}: {e}", q.name()));
            }
            let openssl_spki = materialize(dir.path(), "gen", &key.to_pkcs8_der().unwrap());
            assert_eq!(&openssl_spki, key.spki(), "{ctx}");
        }
    }
}

/// Garbage, truncated or damaged PKCS#8 is `BadPrivateKey`; an unknown algorithm is
/// `UnsupportedAlgorithm`.
#[test]
fn bad_pkcs8_is_refused() {
    let k = keys();
    let truncated = &k.p256[..k.p256.len() - 5];
    // A valid PKCS#8 whose algorithm OID is unknown: Ed25519's 1.3.101.112 becomes 1.3.101.113.
    let mut unknown_alg = k.ed25519.clone();
    let ed_oid = pki::alg::oid::ED25519.to_der().unwrap();
    let at = unknown_alg
        .windows(ed_oid.len())
        .position(|w| w == ed_oid)
        .unwrap();
    unknown_alg[at + ed_oid.len() - 1] = 0x71;
    // An EC key whose private scalar is zero (parses as DER, refused as a key).
    let mut zero_scalar = k.p256.clone();
    let scalar_at = zero_scalar
        .windows(4)
        .position(|w| w == [0x02, 0x01, 0x01, 0x04])
        .expect("ECPrivateKey version 1 then the scalar's OCTET STRING")
        + 4;
    assert_eq!(zero_scalar[scalar_at], 32);
    zero_scalar[scalar_at + 1..scalar_at + 33].fill(0);
    for p in common::providers() {
        for (what, der) in [
            ("garbage", b"definitely not a key".as_slice()),
            ("empty", b"".as_slice()),
            ("truncated", truncated),
            ("zero scalar", &zero_scalar),
        ] {
            assert!(
                matches!(
                    p.private_key_from_pkcs8_der(der),
                    Err(Error::BadPrivateKey(_))
                ),
                "{} {what}",
                p.name()
            );
        }
        assert!(
            matches!(
                p.private_key_from_pkcs8_der(&unknown_alg),
                Err(Error::UnsupportedAlgorithm { .. })
            ),
            "{}",
            p.name()
        );
    }
}

/// A `SubjectPublicKeyInfo` where a PKCS#8 private key belongs is `BadPrivateKey`.
#[test]
fn public_key_as_pkcs8_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let spki = materialize(dir.path(), "p256", &k.p256).to_der().unwrap();
    for p in common::providers() {
        assert!(
            matches!(
                p.private_key_from_pkcs8_der(&spki),
                Err(Error::BadPrivateKey(_))
            ),
            "{}",
            p.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Wrong key types and misuse

#[test]
fn wrong_key_types() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let rsa = materialize(dir.path(), "rsa", &k.rsa2048);
    let p256 = materialize(dir.path(), "p256", &k.p256);
    let ed = materialize(dir.path(), "ed", &k.ed25519);
    let mut rng = testkit::rng(7);
    let sig = [0u8; 64];
    for p in common::providers() {
        for (spki, scheme) in [
            (&p256, SignatureScheme::RsaPkcs1v15(HashAlg::Sha256)),
            (
                &ed,
                SignatureScheme::RsaPss {
                    hash: HashAlg::Sha256,
                    salt_len: 32,
                },
            ),
            (&rsa, SignatureScheme::ecdsa(HashAlg::Sha256)),
            (&ed, SignatureScheme::ecdsa(HashAlg::Sha384)),
            (&rsa, SignatureScheme::Ed25519),
            (&p256, SignatureScheme::Ed25519),
        ] {
            assert!(
                matches!(
                    p.verify(spki, scheme, MSG, &sig),
                    Err(Error::BadPublicKey(_))
                ),
                "{} {scheme:?} with {}",
                p.name(),
                spki.algorithm.oid
            );
        }
        for spki in [&p256, &ed] {
            assert!(
                matches!(
                    p.key_transport_encrypt(spki, KeyTransport::OAEP_SHA256, CEK, &mut rng),
                    Err(Error::BadPublicKey(_))
                ),
                "{}",
                p.name()
            );
        }
        // EC and Ed25519 keys cannot decrypt; keys refuse schemes of another family.
        for der in [&k.p256, &k.ed25519] {
            let key = load(p, der);
            assert!(
                matches!(
                    key.decrypt(KeyTransport::RsaPkcs1v15, &[0; 256], &mut rng),
                    Err(Error::BadPrivateKey(_))
                ),
                "{}",
                p.name()
            );
            assert!(
                matches!(
                    key.sign(SignatureScheme::RsaPkcs1v15(HashAlg::Sha256), MSG, &mut rng),
                    Err(Error::ApiMisuse(_))
                ),
                "{}",
                p.name()
            );
        }
        let key = load(p, &k.rsa2048);
        assert!(
            matches!(
                key.sign(SignatureScheme::Ed25519, MSG, &mut rng),
                Err(Error::ApiMisuse(_))
            ),
            "{}",
            p.name()
        );
    }
}

/// A damaged public key is `BadPublicKey`, not a panic: a P-256 point off the curve and an
/// Ed25519 key of the wrong length.
#[test]
fn damaged_public_keys() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys();
    let p256 = materialize(dir.path(), "p256", &k.p256);
    let ed = materialize(dir.path(), "ed", &k.ed25519);
    let mut off_curve = p256.clone();
    let mut point = p256.subject_public_key.raw_bytes().to_vec();
    let last = point.len() - 1;
    point[last] ^= 1;
    off_curve.subject_public_key = pki::der::asn1::BitString::from_bytes(&point).unwrap();
    let mut short_ed = ed.clone();
    short_ed.subject_public_key =
        pki::der::asn1::BitString::from_bytes(&ed.subject_public_key.raw_bytes()[..31]).unwrap();
    for p in common::providers() {
        assert!(
            matches!(
                p.verify(
                    &off_curve,
                    SignatureScheme::ecdsa(HashAlg::Sha256),
                    MSG,
                    &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01]
                ),
                Err(Error::BadPublicKey(_))
            ),
            "{}",
            p.name()
        );
        assert!(
            matches!(
                p.verify(&short_ed, SignatureScheme::Ed25519, MSG, &[0; 64]),
                Err(Error::BadPublicKey(_))
            ),
            "{}",
            p.name()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Policy

/// `pki::verify::signature` refuses SHA-1 and RSA-1024 by default and accepts them when the
/// caller opts in; signatures made by openssl.
#[test]
fn policy_gates_sha1_and_small_rsa() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), MSG).unwrap();
    let k = keys();
    let rsa2048 = materialize(d, "rsa2048", &k.rsa2048);
    let rsa1024 = materialize(d, "rsa1024", &k.rsa1024);
    let sign = |key: &str, md: &str| {
        testkit::openssl(
            d,
            &[
                "dgst",
                &format!("-{md}"),
                "-sign",
                &format!("{key}.pem"),
                "-out",
                "sig",
                "msg",
            ],
        );
        std::fs::read(d.join("sig")).unwrap()
    };
    let sha1_sig = sign("rsa2048", "sha1");
    let small_sig = sign("rsa1024", "sha256");
    let small_sha1_sig = sign("rsa1024", "sha1");
    let sha1 = SignatureScheme::RsaPkcs1v15(HashAlg::Sha1);
    let sha256 = SignatureScheme::RsaPkcs1v15(HashAlg::Sha256);
    for p in common::providers() {
        let check = |policy: &Policy, spki, scheme, sig: &[u8]| {
            pki::verify::signature(p, policy, spki, scheme, MSG, sig)
        };
        assert!(
            matches!(
                check(&Policy::default(), &rsa2048, sha1, &sha1_sig),
                Err(Error::AlgorithmNotAllowed { .. })
            ),
            "{}",
            p.name()
        );
        check(&Policy::allowing_sha1(), &rsa2048, sha1, &sha1_sig).unwrap();
        assert!(
            matches!(
                check(&Policy::default(), &rsa1024, sha256, &small_sig),
                Err(Error::AlgorithmNotAllowed { .. })
            ),
            "{}",
            p.name()
        );
        let legacy_size = Policy::default().with_min_rsa_bits(1024);
        check(&legacy_size, &rsa1024, sha256, &small_sig).unwrap();
        assert!(matches!(
            check(&legacy_size, &rsa1024, sha1, &small_sha1_sig),
            Err(Error::AlgorithmNotAllowed { .. })
        ));
        let both = Policy::allowing_sha1().with_min_rsa_bits(1024);
        check(&both, &rsa1024, sha1, &small_sha1_sig).unwrap();
        // The policy is only a gate: a bad signature is still bad once allowed.
        assert_eq!(
            check(&both, &rsa1024, sha1, &tampered(&small_sha1_sig)),
            Err(Error::BadSignature)
        );
    }
}

/// RSA-1024 keys (refused by aws-lc-rs) sign, verify and decrypt in every provider.
#[test]
fn rsa_1024_works_everywhere() {
    let k = keys();
    let mut rng = testkit::rng(8);
    for p in common::providers() {
        let key = load(p, &k.rsa1024);
        assert_eq!(key.kind(), KeyKind::Rsa { bits: 1024 });
        for scheme in [
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
            SignatureScheme::RsaPkcs1v15(HashAlg::Sha384),
            SignatureScheme::RsaPss {
                hash: HashAlg::Sha256,
                salt_len: 32,
            },
        ] {
            let sig = key.sign(scheme, MSG, &mut rng).unwrap();
            for q in common::providers() {
                q.verify(key.spki(), scheme, MSG, &sig)
                    .unwrap_or_else(|e| panic!("{} -> {} {scheme:?}: {e}", p.name(), q.name()));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Which backend does the work

/// Randomness shows which backend signed. RustCrypto's ECDSA is deterministic (RFC 6979) and
/// its PSS salt comes from the caller's `rng`; AWS-LC draws its own randomness and ignores
/// `rng`. So in the aws-lc provider, P-256/SHA-256 and PSS signatures differ between two runs
/// with the same seed (AWS-LC did the work), while P-384/SHA-256 (a pair aws-lc-rs does not
/// offer) is the RustCrypto fallback's deterministic signature, byte for byte.
#[test]
fn randomness_shows_which_backend_signed() {
    let k = keys();
    let p384_sha256 = SignatureScheme::ecdsa(HashAlg::Sha256);
    // RustCrypto's deterministic signature, when that provider is compiled in.
    let reference = pki::provider::by_name("rustcrypto").map(|rc| {
        load(rc, &k.p384)
            .sign(p384_sha256, MSG, &mut testkit::rng(9))
            .unwrap()
    });
    for p in common::providers() {
        let aws_lc_signs = match p.name() {
            "rustcrypto" => false,
            "aws-lc" => true,
            other => panic!("no expectation for provider {other}"),
        };
        let twice = |der: &[u8], scheme| {
            let key = load(p, der);
            let a = key.sign(scheme, MSG, &mut testkit::rng(10)).unwrap();
            let b = key.sign(scheme, MSG, &mut testkit::rng(10)).unwrap();
            (a, b)
        };
        let (a, b) = twice(&k.p256, SignatureScheme::ecdsa(HashAlg::Sha256));
        assert_eq!(a != b, aws_lc_signs, "{} P-256/SHA-256", p.name());
        let pss = SignatureScheme::RsaPss {
            hash: HashAlg::Sha256,
            salt_len: 32,
        };
        let (a, b) = twice(&k.rsa2048, pss);
        assert_eq!(a != b, aws_lc_signs, "{} PSS", p.name());

        // The fallback pair is RustCrypto's signature in both providers.
        let (a, b) = twice(&k.p384, p384_sha256);
        assert_eq!(a, b, "{} P-384/SHA-256", p.name());
        if let Some(reference) = &reference {
            assert_eq!(&a, reference, "{} P-384/SHA-256", p.name());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The primitives TPM credential protection needs: labelled OAEP, HMAC, ECDH, AES-CFB

/// HMAC against `openssl mac` over the same key and data, for every digest; the data given in
/// pieces gives the same tag as given whole.
#[test]
fn hmac_matches_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = b"a 20-byte HMAC key!!".as_slice();
    std::fs::write(d.join("data.bin"), MSG).unwrap();
    let key_hex = format!("hexkey:{}", hex::encode(key));
    for h in [
        HashAlg::Sha1,
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
    ] {
        let digest = format!("digest:{}", sha(h));
        let expected = testkit::openssl(
            d,
            &[
                "mac", "-macopt", &digest, "-macopt", &key_hex, "-binary", "-in", "data.bin",
                "HMAC",
            ],
        );
        assert_eq!(expected.len(), h.output_len());
        for p in common::providers() {
            let whole = p.hmac(h, key, &[MSG]).unwrap();
            assert_eq!(whole, expected, "{} {h:?}", p.name());
            let (a, b) = MSG.split_at(17);
            assert_eq!(
                p.hmac(h, key, &[a, &[], b]).unwrap(),
                expected,
                "{} {h:?} in pieces",
                p.name()
            );
        }
    }
}

/// AES-CFB128 against NIST SP 800-38A F.3.13 (CFB128-AES128.Encrypt, first two blocks), and
/// against `openssl enc -aes-*-cfb` for every key size at a length that is not a whole block.
#[test]
fn aes_cfb_matches_sp800_38a_and_openssl() {
    let key = hex("2b7e151628aed2a6abf7158809cf4f3c");
    let iv: [u8; 16] = hex("000102030405060708090a0b0c0d0e0f").try_into().unwrap();
    let pt = hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51");
    let ct = hex("3b3fd92eb72dad20333449f8e83cfb4ac8a64537a0b3a93fcde3cdad9f1ce58b");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data: Vec<u8> = MSG[..45].to_vec();
    std::fs::write(d.join("pt.bin"), &data).unwrap();
    for p in common::providers() {
        let mut buf = pt.clone();
        p.aes_cfb_encrypt(&key, &iv, &mut buf).unwrap();
        assert_eq!(buf, ct, "{} SP 800-38A F.3.13", p.name());

        for bits in [128, 192, 256] {
            let key: Vec<u8> = (0..bits / 8).map(|i| (i * 7 + 1) as u8).collect();
            let cipher = format!("-aes-{bits}-cfb");
            let expected = testkit::openssl(
                d,
                &[
                    "enc",
                    &cipher,
                    "-K",
                    &hex::encode(&key),
                    "-iv",
                    &hex::encode(iv),
                    "-in",
                    "pt.bin",
                ],
            );
            let mut buf = data.clone();
            p.aes_cfb_encrypt(&key, &iv, &mut buf).unwrap();
            assert_eq!(buf, expected, "{} AES-{bits}-CFB", p.name());
        }
        let mut buf = data.clone();
        assert!(matches!(
            p.aes_cfb_encrypt(&[0u8; 20], &iv, &mut buf),
            Err(Error::ApiMisuse(_))
        ));
    }
}

/// RSA-OAEP with a label, decrypted by `openssl pkeyutl` with the same label: it opens, and
/// with another label it does not.
#[test]
fn labelled_oaep_opens_in_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let spki = materialize(d, "rsa2048", &keys().rsa2048);
    let label = b"IDENTITY\0";
    let seed: Vec<u8> = (0u8..32).collect();
    let mut rng = testkit::rng(21);
    for p in common::providers() {
        for h in [HashAlg::Sha1, HashAlg::Sha256, HashAlg::Sha384] {
            let ct = p
                .rsa_oaep_encrypt(&spki, h, label, &seed, &mut rng)
                .unwrap();
            assert_eq!(ct.len(), 256);
            std::fs::write(d.join("ct.bin"), &ct).unwrap();
            let md = format!("rsa_oaep_md:{}", sha(h));
            let mgf = format!("rsa_mgf1_md:{}", sha(h));
            let decrypt = |label: &[u8]| {
                let label = format!("rsa_oaep_label:{}", hex::encode(label));
                testkit::openssl_status(
                    d,
                    &[
                        "pkeyutl",
                        "-decrypt",
                        "-inkey",
                        "rsa2048.pem",
                        "-in",
                        "ct.bin",
                        "-out",
                        "pt.bin",
                        "-pkeyopt",
                        "rsa_padding_mode:oaep",
                        "-pkeyopt",
                        &md,
                        "-pkeyopt",
                        &mgf,
                        "-pkeyopt",
                        &label,
                    ],
                )
                .0
            };
            assert!(decrypt(label), "{} {h:?}: openssl refused", p.name());
            assert_eq!(std::fs::read(d.join("pt.bin")).unwrap(), seed);
            assert!(!decrypt(b"DUPLICATE\0"), "{} {h:?}: wrong label", p.name());
        }
        // Not an RSA key.
        let ec = materialize(d, "p256", &keys().p256);
        assert!(matches!(
            p.rsa_oaep_encrypt(&ec, HashAlg::Sha256, label, &seed, &mut rng),
            Err(Error::BadPublicKey(_))
        ));
    }
}

/// A DER SubjectPublicKeyInfo (id-ecPublicKey on `curve`) for a SEC1 point, for openssl.
fn sec1_point_spki(curve: Curve, point: &[u8]) -> Vec<u8> {
    use pki::der::asn1::BitString;
    use pki::spki::AlgorithmIdentifierOwned;
    SubjectPublicKeyInfoOwned {
        algorithm: AlgorithmIdentifierOwned {
            oid: pki::alg::oid::EC_PUBLIC_KEY,
            parameters: Some(pki::der::Any::from(&curve.oid())),
        },
        subject_public_key: BitString::from_bytes(point).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// Ephemeral ECDH on every curve: `openssl pkeyutl -derive` with the static private key and
/// our ephemeral public key finds the same Z. A point off the curve is refused.
#[test]
fn ecdh_ephemeral_matches_openssl_derive() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut rng = testkit::rng(22);
    for (curve, der, name) in [
        (Curve::P256, &keys().p256, "p256"),
        (Curve::P384, &keys().p384, "p384"),
        (Curve::P521, &keys().p521, "p521"),
    ] {
        let spki = materialize(d, name, der);
        let point = spki.subject_public_key.as_bytes().unwrap();
        for p in common::providers() {
            let a = p.ecdh_ephemeral(curve, point, &mut rng).unwrap();
            assert_eq!(
                a.shared_x.len(),
                curve.scalar_len(),
                "{} {curve:?}",
                p.name()
            );
            assert_eq!(a.ephemeral_public.len(), 1 + 2 * curve.scalar_len());
            std::fs::write(
                d.join("eph.der"),
                sec1_point_spki(curve, &a.ephemeral_public),
            )
            .unwrap();
            let pem = format!("{name}.pem");
            let z = testkit::openssl(
                d,
                &[
                    "pkeyutl",
                    "-derive",
                    "-inkey",
                    &pem,
                    "-peerkey",
                    "eph.der",
                    "-peerform",
                    "DER",
                ],
            );
            assert_eq!(*a.shared_x, z, "{} {curve:?}", p.name());

            let mut off_curve = point.to_vec();
            let last = off_curve.len() - 1;
            off_curve[last] ^= 1;
            assert!(
                matches!(
                    p.ecdh_ephemeral(curve, &off_curve, &mut rng),
                    Err(Error::BadPublicKey(_))
                ),
                "{} {curve:?}: a point off the curve",
                p.name()
            );
        }
    }
}
