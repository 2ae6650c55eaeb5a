//! CMS EnvelopedData (RFC 5652 section 6): interop with `openssl cms` both ways, real SCEP and
//! ADE vectors, the RFC 3218 padding-oracle behaviour, and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pki::alg::{ContentCipher, HashAlg, KeyTransport, SignatureScheme};
use pki::cms::{EnvelopedData, OpenOptions, Recipient};
use pki::cms_types::content_info::ContentInfo;
use pki::cms_types::enveloped_data::RecipientIdentifier;
use pki::cms_types::signed_data::EncapsulatedContentInfo;
use pki::der::asn1::{ObjectIdentifier, OctetString};
use pki::der::{Any, Decode, Encode, Reader, SliceReader};
use pki::key::{Decrypter, KeySpec, PrivateKey, PublicKey};
use pki::provider::CryptoProvider;
use pki::spki::SubjectPublicKeyInfoOwned;
use pki::x509_cert::Certificate;
use pki::{Error, ber};
use rand_core::CryptoRng;

const CONTENT: &[u8] =
    b"RFC 5652 section 6: EnvelopedData content, long enough for several blocks.\n";

/// A recipient made by openssl in a temporary directory: RSA-2048 key and self-signed
/// certificate (with openssl's default subjectKeyIdentifier = SHA-1 of the key).
struct Party {
    key_pem: PathBuf,
    cert_pem: PathBuf,
    cert: Certificate,
    pkcs8: Vec<u8>,
}

fn party(dir: &Path, name: &str) -> Party {
    let key = format!("{name}.key");
    let crt = format!("{name}.crt");
    let subj = format!("/CN={name}");
    testkit::openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt,
            "-subj", &subj, "-days", "2",
        ],
    );
    let pkcs8 = testkit::openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", &key, "-outform", "DER",
        ],
    );
    let cert = cert_from_pem(&dir.join(&crt));
    Party {
        key_pem: dir.join(key),
        cert_pem: dir.join(crt),
        cert,
        pkcs8,
    }
}

fn cert_from_pem(path: &Path) -> Certificate {
    let pem = std::fs::read(path).unwrap();
    Certificate::from_der(&testkit::pem_to_der(&pem)).expect("certificate")
}

fn spki_of(cert: &Certificate) -> SubjectPublicKeyInfoOwned {
    cert.tbs_certificate().subject_public_key_info().clone()
}

/// Any private key file openssl reads (legacy PEM, PKCS#1, PKCS#8, DER), as PKCS#8 DER.
fn pkcs8_of(path: &Path, extra: &[&str]) -> Vec<u8> {
    let p = path.to_str().unwrap();
    let mut args = vec!["pkcs8", "-topk8", "-nocrypt", "-in", p, "-outform", "DER"];
    args.extend_from_slice(extra);
    testkit::openssl(path.parent().unwrap(), &args)
}

/// The eContent OCTET STRING of a SignedData ContentInfo, dug out with the `cms` crate's types
/// (certificates and signer infos are skipped unparsed).
fn signed_econtent(der: &[u8]) -> Vec<u8> {
    let ci = ContentInfo::from_der(der).expect("ContentInfo");
    assert_eq!(ci.content_type, pki::alg::oid::SIGNED_DATA);
    let sd = ci.content.to_der().unwrap();
    let mut r = SliceReader::new(&sd).unwrap();
    let eci = r
        .sequence(
            |r: &mut SliceReader<'_>| -> pki::der::Result<EncapsulatedContentInfo> {
                let _version: Any = r.decode()?;
                let _digest_algorithms: Any = r.decode()?;
                let eci: EncapsulatedContentInfo = r.decode()?;
                while !r.is_finished() {
                    let _: Any = r.decode()?;
                }
                Ok(eci)
            },
        )
        .expect("SignedData");
    let os: OctetString = eci.econtent.expect("eContent").decode_as().unwrap();
    os.into_bytes().into_vec()
}

/// `openssl cms -decrypt` of a DER EnvelopedData file: the independent answer.
fn openssl_decrypt(dir: &Path, env: &Path, key: &Path, cert: &Path, legacy: bool) -> Vec<u8> {
    let mut args = vec!["cms", "-decrypt", "-binary", "-inform", "DER"];
    if legacy {
        args.extend_from_slice(&["-provider", "legacy", "-provider", "default"]);
    }
    args.extend_from_slice(&[
        "-in",
        env.to_str().unwrap(),
        "-inkey",
        key.to_str().unwrap(),
        "-recip",
        cert.to_str().unwrap(),
    ]);
    testkit::openssl(dir, &args)
}

fn key(provider: &dyn CryptoProvider, pkcs8: &[u8]) -> Arc<dyn PrivateKey> {
    provider
        .private_key_from_pkcs8_der(pkcs8)
        .expect("private key")
}

fn with_cert(cert: &Certificate) -> OpenOptions {
    OpenOptions::new().recipient_certificate(cert.clone())
}

#[test]
fn every_compiled_provider_runs() {
    // Panics unless the compiled providers are exactly the ones this crate's features ask for.
    assert!(!common::providers().is_empty());
}

#[test]
fn openssl_encrypted_opens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = party(d, "alice");
    std::fs::write(d.join("msg"), CONTENT).unwrap();
    let cases: &[(&[&str], ContentCipher, KeyTransport)] = &[
        (
            &["-aes128"],
            ContentCipher::Aes128Cbc,
            KeyTransport::RsaPkcs1v15,
        ),
        (
            &["-aes192"],
            ContentCipher::Aes192Cbc,
            KeyTransport::RsaPkcs1v15,
        ),
        (
            &["-aes256"],
            ContentCipher::Aes256Cbc,
            KeyTransport::RsaPkcs1v15,
        ),
        (
            &["-des3"],
            ContentCipher::DesEde3Cbc,
            KeyTransport::RsaPkcs1v15,
        ),
        (
            &["-aes256", "-keyopt", "rsa_padding_mode:oaep"],
            ContentCipher::Aes256Cbc,
            KeyTransport::OAEP_SHA1,
        ),
        (
            &[
                "-aes128",
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
            ],
            ContentCipher::Aes128Cbc,
            KeyTransport::OAEP_SHA256,
        ),
    ];
    for (i, (flags, cipher, transport)) in cases.iter().enumerate() {
        let out = format!("env{i}.der");
        let mut args = vec![
            "cms", "-encrypt", "-binary", "-in", "msg", "-outform", "DER", "-out", &out,
        ];
        // -keyopt applies to the -recip before it.
        args.extend_from_slice(&flags[..1]);
        args.extend_from_slice(&["-recip", "alice.crt"]);
        args.extend_from_slice(&flags[1..]);
        testkit::openssl(d, &args);
        let der = std::fs::read(d.join(&out)).unwrap();
        let env = EnvelopedData::from_der(&der).unwrap();
        assert_eq!(env.content_cipher(), *cipher, "{flags:?}");
        assert_eq!(env.iv().len(), cipher.block_len());
        let block = cipher.block_len();
        assert_eq!(
            env.encrypted_content_len(),
            (CONTENT.len() / block + 1) * block
        );
        assert_eq!(env.content_type(), pki::alg::oid::DATA);
        assert_eq!(env.recipients().len(), 1);
        let r = &env.recipients()[0];
        assert_eq!(r.key_transport().unwrap(), *transport, "{flags:?}");
        assert!(matches!(
            r.rid(),
            RecipientIdentifier::IssuerAndSerialNumber(_)
        ));
        assert!(r.is_for_certificate(&alice.cert));
        for provider in common::providers() {
            let k = key(provider, &alice.pkcs8);
            let mut rng = testkit::rng(1);
            let got = env
                .open(provider, &*k, &with_cert(&alice.cert), &mut rng)
                .unwrap_or_else(|e| panic!("{} {flags:?}: {e}", provider.name()));
            assert_eq!(&got[..], CONTENT, "{} {flags:?}", provider.name());
            // Named by issuer and serial: without the certificate nothing matches.
            assert_eq!(
                env.open(provider, &*k, &OpenOptions::new(), &mut rng)
                    .unwrap_err(),
                Error::NotFound("recipient")
            );
        }
    }
}

#[test]
fn openssl_keyid_recipient_opens_without_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = party(d, "alice");
    std::fs::write(d.join("msg"), CONTENT).unwrap();
    let der = testkit::openssl(
        d,
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-keyid",
            "-aes128",
            "-in",
            "msg",
            "-outform",
            "DER",
            "alice.crt",
        ],
    );
    let env = EnvelopedData::from_der(&der).unwrap();
    let RecipientIdentifier::SubjectKeyIdentifier(ski) = env.recipients()[0].rid() else {
        panic!("openssl -keyid must name the recipient by subjectKeyIdentifier");
    };
    assert_eq!(
        ski.0.as_bytes(),
        pki::public_key::key_identifier(&spki_of(&alice.cert))
    );
    for provider in common::providers() {
        let k = key(provider, &alice.pkcs8);
        let mut rng = testkit::rng(2);
        for opts in [OpenOptions::new(), with_cert(&alice.cert)] {
            let got = env.open(provider, &*k, &opts, &mut rng).unwrap();
            assert_eq!(&got[..], CONTENT);
        }
    }
}

const SEAL_CIPHERS: [ContentCipher; 4] = [
    ContentCipher::Aes128Cbc,
    ContentCipher::Aes192Cbc,
    ContentCipher::Aes256Cbc,
    ContentCipher::DesEde3Cbc,
];
const TRANSPORTS: [KeyTransport; 3] = [
    KeyTransport::RsaPkcs1v15,
    KeyTransport::OAEP_SHA1,
    KeyTransport::OAEP_SHA256,
];

#[test]
fn sealed_opens_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = party(d, "alice");
    for provider in common::providers() {
        let mut rng = testkit::rng(3);
        for cipher in SEAL_CIPHERS {
            for transport in TRANSPORTS {
                let recipient = Recipient::from_certificate(&alice.cert, transport);
                let der =
                    EnvelopedData::seal(provider, CONTENT, &[recipient], cipher, &mut rng).unwrap();
                let path = d.join("ours.der");
                std::fs::write(&path, &der).unwrap();
                let plain = openssl_decrypt(d, &path, &alice.key_pem, &alice.cert_pem, false);
                assert_eq!(
                    plain,
                    CONTENT,
                    "{} {cipher:?} {transport:?}",
                    provider.name()
                );

                let env = EnvelopedData::from_der(&der).unwrap();
                assert_eq!(env.as_asn1().version as u8, 0);
                assert_eq!(env.content_cipher(), cipher);
                assert_eq!(env.recipients()[0].key_transport().unwrap(), transport);
            }
        }
    }
}

#[test]
fn sealed_to_key_identifier_and_two_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alice = party(d, "alice");
    let bob = party(d, "bob");
    for provider in common::providers() {
        let mut rng = testkit::rng(4);
        let alice_spki = spki_of(&alice.cert);
        let recipients = [
            Recipient::from_spki(
                alice_spki.clone(),
                &pki::public_key::key_identifier(&alice_spki),
                KeyTransport::OAEP_SHA256,
            )
            .unwrap(),
            Recipient::from_certificate(&bob.cert, KeyTransport::RsaPkcs1v15),
        ];
        let der = EnvelopedData::seal(
            provider,
            CONTENT,
            &recipients,
            ContentCipher::Aes256Cbc,
            &mut rng,
        )
        .unwrap();
        let path = d.join("two.der");
        std::fs::write(&path, &der).unwrap();
        // openssl matches the subjectKeyIdentifier rid against alice's SKI extension.
        assert_eq!(
            openssl_decrypt(d, &path, &alice.key_pem, &alice.cert_pem, false),
            CONTENT
        );
        assert_eq!(
            openssl_decrypt(d, &path, &bob.key_pem, &bob.cert_pem, false),
            CONTENT
        );

        let env = EnvelopedData::from_der(&der).unwrap();
        // RFC 5652 section 6.1: a v2 RecipientInfo makes the EnvelopedData v2.
        assert_eq!(env.as_asn1().version as u8, 2);
        assert_eq!(env.recipients().len(), 2);
        let alice_key = key(provider, &alice.pkcs8);
        let bob_key = key(provider, &bob.pkcs8);
        let got = env
            .open(provider, &*alice_key, &OpenOptions::new(), &mut rng)
            .unwrap();
        assert_eq!(&got[..], CONTENT);
        let got = env
            .open(provider, &*bob_key, &with_cert(&bob.cert), &mut rng)
            .unwrap();
        assert_eq!(&got[..], CONTENT);
        // Bob is named by issuer and serial only.
        assert_eq!(
            env.open(provider, &*bob_key, &OpenOptions::new(), &mut rng)
                .unwrap_err(),
            Error::NotFound("recipient")
        );
        // A certificate that does not hold the key is the caller's mistake.
        assert!(matches!(
            env.open(provider, &*bob_key, &with_cert(&alice.cert), &mut rng),
            Err(Error::ApiMisuse(_))
        ));
    }
}

#[test]
fn seal_refuses_single_des_and_no_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    for provider in common::providers() {
        let mut rng = testkit::rng(5);
        let r = Recipient::from_certificate(&alice.cert, KeyTransport::RsaPkcs1v15);
        assert!(matches!(
            EnvelopedData::seal(provider, CONTENT, &[r], ContentCipher::DesCbc, &mut rng),
            Err(Error::AlgorithmNotAllowed { .. })
        ));
        assert!(matches!(
            EnvelopedData::seal(provider, CONTENT, &[], ContentCipher::Aes128Cbc, &mut rng),
            Err(Error::ApiMisuse(_))
        ));
    }
}

#[test]
fn smallstep_pkcsreq_opens_with_ca_key_3des() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let env_der = signed_econtent(&testkit::vector("scep/smallstep-scep/testdata/PKCSReq.der"));
    let env_path = d.join("env.der");
    std::fs::write(&env_path, &env_der).unwrap();
    let key_path = testkit::vector_file("scep/smallstep-scep/testdata/testca/ca.key");
    let cert_path = testkit::vector_file("scep/smallstep-scep/testdata/testca/ca.pem");
    let pkcs8 = pkcs8_of(&key_path, &["-passin", "pass:"]);
    // openssl cms reads no empty password from the command line: give it the key unencrypted.
    let plain_key = d.join("ca.p8.pem");
    testkit::openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-passin",
            "pass:",
            "-in",
            key_path.to_str().unwrap(),
            "-out",
            plain_key.to_str().unwrap(),
        ],
    );
    let cert = cert_from_pem(&cert_path);
    let expected = openssl_decrypt(d, &env_path, &plain_key, &cert_path, false);

    let env = EnvelopedData::from_der(&env_der).unwrap();
    assert_eq!(env.content_cipher(), ContentCipher::DesEde3Cbc);
    assert_eq!(
        env.recipients()[0].key_transport().unwrap(),
        KeyTransport::RsaPkcs1v15
    );
    assert!(env.recipients()[0].is_for_certificate(&cert));
    for provider in common::providers() {
        let k = key(provider, &pkcs8);
        let mut rng = testkit::rng(6);
        let got = env
            .open(provider, &*k, &with_cert(&cert), &mut rng)
            .unwrap();
        assert_eq!(&got[..], &expected[..], "{}", provider.name());
        // The content is the device's CSR, with Apple's default subject (read by openssl:
        // x509-cert refuses an INTEGER in this 2016 Apple CSR).
        std::fs::write(d.join("csr.der"), &got[..]).unwrap();
        let subject = testkit::openssl(
            d,
            &[
                "req", "-inform", "DER", "-in", "csr.der", "-noout", "-subject",
            ],
        );
        let subject = String::from_utf8(subject).unwrap();
        assert!(
            subject.contains("com.apple.security.scep."),
            "subject {subject}"
        );
    }
}

#[test]
fn certmonger_requests_open_with_ca_key_aes256() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0";
    let key_path = testkit::vector_file(&format!("{base}/ca.key.pem"));
    let cert_path = testkit::vector_file(&format!("{base}/ca.pem"));
    let pkcs8 = pkcs8_of(&key_path, &[]);
    let cert = cert_from_pem(&cert_path);
    for file in [
        "certmonger-pkcsreq.der",
        "certmonger-renew-pkcsreq-signed-by-old-cert.der",
        "certmonger-rekey-pkcsreq-signed-by-old-cert.der",
    ] {
        let env_der = signed_econtent(&testkit::vector(&format!("{base}/{file}")));
        let env_path = d.join("env.der");
        std::fs::write(&env_path, &env_der).unwrap();
        let expected = openssl_decrypt(d, &env_path, &key_path, &cert_path, false);
        let env = EnvelopedData::from_der(&env_der).unwrap();
        assert_eq!(env.content_cipher(), ContentCipher::Aes256Cbc, "{file}");
        for provider in common::providers() {
            let k = key(provider, &pkcs8);
            let mut rng = testkit::rng(7);
            let got = env
                .open(provider, &*k, &with_cert(&cert), &mut rng)
                .unwrap();
            assert_eq!(&got[..], &expected[..], "{file} {}", provider.name());
            pki::x509_cert::request::CertReq::from_der(&got).expect("a PKCS#10 CSR");
        }
    }
}

#[test]
fn scepserver_single_des_certrep_needs_the_legacy_option() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0";
    let key_path = testkit::vector_file(&format!("{base}/peer-openssl-pkcsreq.key.pem"));
    let pkcs8 = pkcs8_of(&key_path, &[]);
    // The first CertRep is encrypted to the self-signed request signer, the renewal's to the
    // certificate issued by the first (same key).
    for (file, recip) in [
        (
            "scepserver-certrep-success-des.der",
            "peer-openssl-pkcsreq.signer.pem",
        ),
        (
            "scepserver-certrep-renewal-success-des.der",
            "peer-openssl-pkcsreq.issued.pem",
        ),
    ] {
        let cert_path = testkit::vector_file(&format!("{base}/{recip}"));
        let cert = cert_from_pem(&cert_path);
        let env_der = signed_econtent(&testkit::vector(&format!("{base}/{file}")));
        let env_path = d.join("env.der");
        std::fs::write(&env_path, &env_der).unwrap();
        let expected = openssl_decrypt(d, &env_path, &key_path, &cert_path, true);
        let env = EnvelopedData::from_der(&env_der).unwrap();
        assert_eq!(env.content_cipher(), ContentCipher::DesCbc);
        for provider in common::providers() {
            let k = key(provider, &pkcs8);
            let mut rng = testkit::rng(8);
            assert!(matches!(
                env.open(provider, &*k, &with_cert(&cert), &mut rng),
                Err(Error::AlgorithmNotAllowed { .. })
            ));
            let got = env
                .open(
                    provider,
                    &*k,
                    &with_cert(&cert).allow_single_des(true),
                    &mut rng,
                )
                .unwrap();
            assert_eq!(&got[..], &expected[..], "{file} {}", provider.name());
        }
    }
}

const ADE: &str = "ade/petarov-apple-mdm-clients/device-assignment-client/src/test/resources";

/// The base64 body of the S/MIME `.p7m` after its header block.
fn smime_body(p7m: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let text = std::str::from_utf8(p7m).unwrap();
    let text = text.replace("\r\n", "\n");
    let (headers, body) = text.split_once("\n\n").expect("MIME header block");
    assert!(headers.contains("application/pkcs7-mime"));
    assert!(headers.contains("Content-Transfer-Encoding: base64"));
    let b64: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

#[test]
fn apple_server_token_opens_through_from_ber() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ber_bytes = smime_body(&testkit::vector(&format!(
        "{ADE}/apple-mdm-client-tests-1-server-token.p7m"
    )));
    assert_eq!(
        ber_bytes,
        testkit::vector("ade/derived/petarov-token/cms-envelopeddata.ber")
    );
    // Indefinite lengths: not DER.
    assert!(matches!(
        EnvelopedData::from_der(&ber_bytes),
        Err(Error::Malformed { .. })
    ));
    let env = EnvelopedData::from_ber(&ber_bytes, &ber::Limits::default()).unwrap();
    let cert = cert_from_pem(&testkit::vector_file(&format!(
        "{ADE}/apple-mdm-client-tests-1.crt"
    )));
    assert_eq!(env.recipients().len(), 1);
    let r = &env.recipients()[0];
    assert!(r.is_for_certificate(&cert));
    let RecipientIdentifier::IssuerAndSerialNumber(ias) = r.rid() else {
        panic!("expected issuerAndSerialNumber");
    };
    assert_eq!(
        ias.serial_number.as_bytes(),
        hex::decode("70FEDDC7D5AFA393").unwrap()
    );
    assert_eq!(r.key_transport().unwrap(), KeyTransport::RsaPkcs1v15);
    assert_eq!(r.encrypted_key().len(), 256);
    assert_eq!(env.content_cipher(), ContentCipher::Aes128Cbc);
    assert_eq!(
        env.iv(),
        hex::decode("14b38ca00a66edac18833f9c3041a42b").unwrap()
    );
    // [0] IMPLICIT constructed, one 512-byte segment.
    assert_eq!(env.encrypted_content_len(), 512);

    let pkcs8 = pkcs8_of(
        &testkit::vector_file(&format!("{ADE}/apple-mdm-client-tests-1.der")),
        &["-inform", "DER"],
    );
    let expected = testkit::vector("ade/derived/petarov-token/decrypted-content.mime");
    let other = party(d, "other");
    for provider in common::providers() {
        let k = key(provider, &pkcs8);
        let mut rng = testkit::rng(9);
        let got = env
            .open(provider, &*k, &with_cert(&cert), &mut rng)
            .unwrap();
        assert_eq!(&got[..], &expected[..], "{}", provider.name());
        // Another key is not named by the message.
        let wrong = key(provider, &other.pkcs8);
        assert_eq!(
            env.open(provider, &*wrong, &with_cert(&other.cert), &mut rng)
                .unwrap_err(),
            Error::NotFound("recipient")
        );
    }
}

/// A provider that records every key given to `cipher_decrypt`.
#[derive(Debug)]
struct Recording {
    inner: &'static dyn CryptoProvider,
    keys: Mutex<Vec<Vec<u8>>>,
}

impl Recording {
    fn new(inner: &'static dyn CryptoProvider) -> Self {
        Recording {
            inner,
            keys: Mutex::new(Vec::new()),
        }
    }
    fn take(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.keys.lock().unwrap())
    }
}

impl CryptoProvider for Recording {
    fn name(&self) -> &'static str {
        "recording"
    }
    fn digest(&self, alg: HashAlg, data: &[u8]) -> Vec<u8> {
        self.inner.digest(alg, data)
    }
    fn verify(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        scheme: SignatureScheme,
        msg: &[u8],
        sig: &[u8],
    ) -> pki::Result<()> {
        self.inner.verify(spki, scheme, msg, sig)
    }
    fn key_transport_encrypt(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        transport: KeyTransport,
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> pki::Result<Vec<u8>> {
        self.inner
            .key_transport_encrypt(spki, transport, plaintext, rng)
    }
    fn cipher_encrypt(
        &self,
        cipher: ContentCipher,
        key: &[u8],
        iv: &[u8],
        plaintext: &[u8],
    ) -> pki::Result<Vec<u8>> {
        self.inner.cipher_encrypt(cipher, key, iv, plaintext)
    }
    fn cipher_decrypt(
        &self,
        cipher: ContentCipher,
        key: &[u8],
        iv: &[u8],
        ciphertext: &[u8],
    ) -> pki::Result<Vec<u8>> {
        self.keys.lock().unwrap().push(key.to_vec());
        self.inner.cipher_decrypt(cipher, key, iv, ciphertext)
    }
    fn rsa_oaep_encrypt(
        &self,
        spki: &SubjectPublicKeyInfoOwned,
        hash: HashAlg,
        label: &[u8],
        plaintext: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> pki::Result<Vec<u8>> {
        self.inner
            .rsa_oaep_encrypt(spki, hash, label, plaintext, rng)
    }
    fn hmac(&self, hash: HashAlg, key: &[u8], parts: &[&[u8]]) -> pki::Result<Vec<u8>> {
        self.inner.hmac(hash, key, parts)
    }
    fn ecdh_ephemeral(
        &self,
        curve: pki::alg::Curve,
        peer: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> pki::Result<pki::provider::EphemeralAgreement> {
        self.inner.ecdh_ephemeral(curve, peer, rng)
    }
    fn aes_cfb_encrypt(&self, key: &[u8], iv: &[u8; 16], buf: &mut [u8]) -> pki::Result<()> {
        self.inner.aes_cfb_encrypt(key, iv, buf)
    }
    fn private_key_from_pkcs8_der(&self, der: &[u8]) -> pki::Result<Arc<dyn PrivateKey>> {
        self.inner.private_key_from_pkcs8_der(der)
    }
    fn generate_key(
        &self,
        spec: KeySpec,
        rng: &mut dyn CryptoRng,
    ) -> pki::Result<Arc<dyn PrivateKey>> {
        self.inner.generate_key(spec, rng)
    }
}

/// A decrypter whose unwrap always fails (an HSM refusing, a padding error).
struct FailingDecrypter(SubjectPublicKeyInfoOwned);
/// A decrypter whose unwrap "succeeds" with a 5-byte key.
struct ShortKeyDecrypter(SubjectPublicKeyInfoOwned);

impl PublicKey for FailingDecrypter {
    fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.0
    }
}
impl Decrypter for FailingDecrypter {
    fn decrypt(&self, _: KeyTransport, _: &[u8], _: &mut dyn CryptoRng) -> pki::Result<Vec<u8>> {
        Err(Error::Backend("unwrap refused".into()))
    }
}
impl PublicKey for ShortKeyDecrypter {
    fn spki(&self) -> &SubjectPublicKeyInfoOwned {
        &self.0
    }
}
impl Decrypter for ShortKeyDecrypter {
    fn decrypt(&self, _: KeyTransport, _: &[u8], _: &mut dyn CryptoRng) -> pki::Result<Vec<u8>> {
        Ok(vec![0x55; 5])
    }
}

/// Seal to `to`'s key but name the recipient by `named`'s key identifier, so that `named`'s
/// key is chosen and unwraps with the wrong private key.
fn seal_misnamed(
    provider: &dyn CryptoProvider,
    to: &Party,
    named: &Party,
    transport: KeyTransport,
    cipher: ContentCipher,
    seed: u64,
) -> Vec<u8> {
    let named_id = pki::public_key::key_identifier(&spki_of(&named.cert));
    let r = Recipient::from_spki(spki_of(&to.cert), &named_id, transport).unwrap();
    EnvelopedData::seal(provider, CONTENT, &[r], cipher, &mut testkit::rng(seed)).unwrap()
}

#[test]
fn failed_unwrap_still_decrypts_with_a_random_key() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    let bob = party(dir.path(), "bob");
    let alice_spki = spki_of(&alice.cert);
    let alice_id = pki::public_key::key_identifier(&alice_spki);
    for provider in common::providers() {
        let recording = Recording::new(provider);
        let cipher = ContentCipher::Aes256Cbc;
        for transport in [KeyTransport::RsaPkcs1v15, KeyTransport::OAEP_SHA256] {
            let r = Recipient::from_spki(alice_spki.clone(), &alice_id, transport).unwrap();
            let der = EnvelopedData::seal(provider, CONTENT, &[r], cipher, &mut testkit::rng(10))
                .unwrap();
            let env = EnvelopedData::from_der(&der).unwrap();
            let opts = OpenOptions::new();

            // The real key: records the real CEK.
            let alice_key = key(provider, &alice.pkcs8);
            let got = env
                .open(&recording, &*alice_key, &opts, &mut testkit::rng(11))
                .unwrap();
            assert_eq!(&got[..], CONTENT);
            let real = recording.take();
            assert_eq!(real.len(), 1);
            let real_cek = &real[0];
            assert_eq!(real_cek.len(), cipher.key_len());

            // A wrong private key (message names bob, wraps for alice).
            let misnamed = seal_misnamed(provider, &alice, &bob, transport, cipher, 12);
            let bob_key = key(provider, &bob.pkcs8);
            let wrong_key_err = EnvelopedData::from_der(&misnamed)
                .unwrap()
                .open(&recording, &*bob_key, &opts, &mut testkit::rng(13))
                .unwrap_err();
            assert_eq!(wrong_key_err, Error::DecryptionFailed);
            let wrong = recording.take();
            assert_eq!(
                wrong.len(),
                1,
                "content decryption must run with a wrong key"
            );
            assert_eq!(wrong[0].len(), cipher.key_len());

            // Unwrap errors, and unwrap yields 5 bytes: both go on to decrypt the content.
            let doubles: [(&str, &dyn Decrypter); 2] = [
                ("failing", &FailingDecrypter(alice_spki.clone())),
                ("short key", &ShortKeyDecrypter(alice_spki.clone())),
            ];
            for (name, double) in doubles {
                let mut seen = Vec::new();
                for seed in [14, 15] {
                    let err = env
                        .open(&recording, double, &opts, &mut testkit::rng(seed))
                        .unwrap_err();
                    assert_eq!(err, wrong_key_err, "{name} {}", provider.name());
                    let keys = recording.take();
                    assert_eq!(keys.len(), 1, "{name}: cipher_decrypt was not invoked");
                    assert_eq!(keys[0].len(), cipher.key_len(), "{name}");
                    assert_ne!(&keys[0], real_cek, "{name}");
                    assert_ne!(keys[0], vec![0x55; 5], "{name}");
                    seen.push(keys[0].clone());
                }
                // Fresh from the rng each time, not a constant.
                assert_ne!(seen[0], seen[1], "{name}");
            }
        }
    }
}

#[test]
fn wrong_recipient_key_is_decryption_failed() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    let bob = party(dir.path(), "bob");
    for provider in common::providers() {
        let bob_key = key(provider, &bob.pkcs8);
        for (i, transport) in TRANSPORTS.into_iter().enumerate() {
            for cipher in SEAL_CIPHERS {
                let der = seal_misnamed(provider, &alice, &bob, transport, cipher, 20 + i as u64);
                let env = EnvelopedData::from_der(&der).unwrap();
                let err = env
                    .open(
                        provider,
                        &*bob_key,
                        &OpenOptions::new(),
                        &mut testkit::rng(21),
                    )
                    .unwrap_err();
                assert_eq!(err, Error::DecryptionFailed, "{transport:?} {cipher:?}");
            }
        }
    }
}

/// A freshly sealed message and the key that opens it.
fn sealed_fixture(provider: &dyn CryptoProvider, alice: &Party) -> Vec<u8> {
    let r = Recipient::from_certificate(&alice.cert, KeyTransport::RsaPkcs1v15);
    EnvelopedData::seal(
        provider,
        CONTENT,
        &[r],
        ContentCipher::Aes128Cbc,
        &mut testkit::rng(30),
    )
    .unwrap()
}

#[test]
fn tampered_ciphertext_is_decryption_failed() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    for provider in common::providers() {
        let der = sealed_fixture(provider, &alice);
        let env = EnvelopedData::from_der(&der).unwrap();
        let ct = env.encrypted_content().unwrap().to_vec();
        // Flip the low bit of the byte that XORs into the last padding byte: the padding is
        // then invalid whatever its value was.
        let at = ct.len() - env.content_cipher().block_len() - 1;
        let pos = der
            .windows(ct.len())
            .position(|w| w == ct)
            .expect("ciphertext in the message");
        let mut bad = der.clone();
        bad[pos + at] ^= 1;
        let env = EnvelopedData::from_der(&bad).unwrap();
        let k = key(provider, &alice.pkcs8);
        let err = env
            .open(
                provider,
                &*k,
                &with_cert(&alice.cert),
                &mut testkit::rng(31),
            )
            .unwrap_err();
        assert_eq!(err, Error::DecryptionFailed);
    }
}

#[test]
fn every_prefix_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    let der = sealed_fixture(common::providers()[0], &alice);
    for n in 0..der.len() {
        match EnvelopedData::from_der(&der[..n]) {
            Err(Error::Malformed { .. } | Error::TrailingData { .. }) => {}
            other => panic!("prefix {n}: {other:?}"),
        }
    }
    let ber_bytes = testkit::vector("ade/derived/petarov-token/cms-envelopeddata.ber");
    for n in 0..ber_bytes.len() {
        assert!(
            EnvelopedData::from_ber(&ber_bytes[..n], &ber::Limits::default()).is_err(),
            "BER prefix {n} parsed"
        );
    }
    // Trailing bytes after the ContentInfo.
    let mut long = der.clone();
    long.push(0);
    assert_eq!(
        EnvelopedData::from_der(&long).unwrap_err(),
        Error::TrailingData {
            what: "ContentInfo",
            len: 1
        }
    );
}

#[test]
fn wrong_content_type() {
    let signed = testkit::vector("scep/smallstep-scep/testdata/PKCSReq.der");
    assert_eq!(
        EnvelopedData::from_der(&signed).unwrap_err(),
        Error::WrongContentType {
            expected: "1.2.840.113549.1.7.3".into(),
            found: "1.2.840.113549.1.7.2".into(),
        }
    );
}

/// Decode a sealed message, let `edit` change its ASN.1, and encode it again.
fn edited(
    der: &[u8],
    edit: impl FnOnce(&mut pki::cms_types::enveloped_data::EnvelopedData),
) -> Vec<u8> {
    let mut ci = ContentInfo::from_der(der).unwrap();
    let mut ed: pki::cms_types::enveloped_data::EnvelopedData = ci.content.decode_as().unwrap();
    edit(&mut ed);
    ci.content = Any::encode_from(&ed).unwrap();
    ci.to_der().unwrap()
}

#[test]
fn unsupported_algorithms_and_missing_parts() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    let provider = common::providers()[0];
    let der = sealed_fixture(provider, &alice);
    let k = key(provider, &alice.pkcs8);
    let opts = with_cert(&alice.cert);

    // rc2-cbc (RFC 8018): a content-encryption algorithm we do not speak.
    let rc2 = ObjectIdentifier::new_unwrap("1.2.840.113549.3.2");
    let bad = edited(&der, |ed| ed.encrypted_content.content_enc_alg.oid = rc2);
    assert_eq!(
        EnvelopedData::from_der(&bad).unwrap_err(),
        Error::UnsupportedAlgorithm {
            what: "content-encryption algorithm",
            oid: rc2.to_string(),
        }
    );

    // An IV of the wrong length.
    let bad = edited(&der, |ed| {
        ed.encrypted_content.content_enc_alg.parameters =
            Some(Any::encode_from(&OctetString::new(vec![0u8; 8]).unwrap()).unwrap());
    });
    assert!(matches!(
        EnvelopedData::from_der(&bad),
        Err(Error::BadLength { what: "IV", .. })
    ));

    // An unknown key-transport algorithm parses, and fails to open with UnsupportedAlgorithm.
    let sha256_oid = HashAlg::Sha256.oid();
    let bad = edited(&der, |ed| {
        let mut infos: Vec<_> = ed.recip_infos.0.iter().cloned().collect();
        if let pki::cms_types::enveloped_data::RecipientInfo::Ktri(k) = &mut infos[0] {
            k.key_enc_alg.oid = sha256_oid;
        }
        ed.recip_infos = infos.try_into().unwrap();
    });
    let env = EnvelopedData::from_der(&bad).unwrap();
    assert!(matches!(
        env.open(provider, &*k, &opts, &mut testkit::rng(40)),
        Err(Error::UnsupportedAlgorithm { .. })
    ));

    // Detached (absent) encrypted content.
    let bad = edited(&der, |ed| ed.encrypted_content.encrypted_content = None);
    let env = EnvelopedData::from_der(&bad).unwrap();
    assert_eq!(env.encrypted_content_len(), 0);
    assert_eq!(
        env.open(provider, &*k, &opts, &mut testkit::rng(41))
            .unwrap_err(),
        Error::Content("absent")
    );

    // No RecipientInfos at all.
    let bad = edited(&der, |ed| ed.recip_infos = Vec::new().try_into().unwrap());
    assert!(matches!(
        EnvelopedData::from_der(&bad),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn ber_segmented_encrypted_content_opens() {
    let dir = tempfile::tempdir().unwrap();
    let alice = party(dir.path(), "alice");
    let provider = common::providers()[0];
    let der = sealed_fixture(provider, &alice);
    let ci = ContentInfo::from_der(&der).unwrap();
    let ed: pki::cms_types::enveloped_data::EnvelopedData = ci.content.decode_as().unwrap();
    let eci = &ed.encrypted_content;
    let ct = eci.encrypted_content.as_ref().unwrap().as_bytes();
    let (a, b) = ct.split_at(40);
    // Indefinite lengths everywhere, and `[0] IMPLICIT` EncryptedContent constructed from two
    // OCTET STRING segments (X.690 section 8.7.3).
    let mut ber_bytes = vec![0x30, 0x80];
    ber_bytes.extend(ci.content_type.to_der().unwrap());
    ber_bytes.extend([0xa0, 0x80, 0x30, 0x80]);
    ber_bytes.extend(ed.version.to_der().unwrap());
    ber_bytes.extend(ed.recip_infos.to_der().unwrap());
    ber_bytes.extend([0x30, 0x80]);
    ber_bytes.extend(eci.content_type.to_der().unwrap());
    ber_bytes.extend(eci.content_enc_alg.to_der().unwrap());
    ber_bytes.extend([0xa0, 0x80]);
    ber_bytes.extend(OctetString::new(a).unwrap().to_der().unwrap());
    ber_bytes.extend(OctetString::new(b).unwrap().to_der().unwrap());
    ber_bytes.extend([0u8; 10]);
    let env = EnvelopedData::from_ber(&ber_bytes, &ber::Limits::default()).unwrap();
    assert_eq!(env.encrypted_content(), Some(ct));
    let k = key(provider, &alice.pkcs8);
    let got = env
        .open(
            provider,
            &*k,
            &with_cert(&alice.cert),
            &mut testkit::rng(50),
        )
        .unwrap();
    assert_eq!(&got[..], CONTENT);
}

/// certmonger signs its SCEP requests with a self-signed certificate whose serial number has
/// 33 octets, which the `cms` types cannot hold; a reply must still be sealed to it. The
/// certificate is taken out of the captured request by `openssl cms -verify -signer`, and
/// `openssl cms -decrypt` opens what we sealed.
#[test]
fn sealed_to_a_33_octet_serial_opens_with_openssl() {
    const CM: &str = "scep/local-capture/certmonger-0.79.17_scepserver-2.1.0";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let req = testkit::vector_file(&format!("{CM}/certmonger-pkcsreq.der"));
    testkit::openssl(
        d,
        &[
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            req.to_str().unwrap(),
            "-signer",
            "signer.pem",
            "-out",
            "env.der",
        ],
    );
    let signer_der = testkit::pem_to_der(&std::fs::read(d.join("signer.pem")).unwrap());
    // The RFC 5280 profile refuses it; the raw constructor does not.
    assert!(Certificate::from_der(&signer_der).is_err());
    let key_pem = testkit::vector_file(&format!("{CM}/certmonger-key1.pem"));
    for provider in common::providers() {
        let mut rng = testkit::rng(33);
        for transport in TRANSPORTS {
            let r = Recipient::from_certificate_der(&signer_der, transport).unwrap();
            assert!(r.rid().is_none());
            let der =
                EnvelopedData::seal(provider, CONTENT, &[r], ContentCipher::Aes256Cbc, &mut rng)
                    .unwrap();
            let path = d.join("sealed.der");
            std::fs::write(&path, &der).unwrap();
            let plain = openssl_decrypt(d, &path, &key_pem, &d.join("signer.pem"), false);
            assert_eq!(plain, CONTENT, "{} {transport:?}", provider.name());
        }
    }
    assert!(
        Recipient::from_certificate_der(&signer_der[..100], KeyTransport::RsaPkcs1v15).is_err()
    );
}
