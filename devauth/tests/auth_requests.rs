//! Auth requests: every captured and generated vector verifies, every negative case is refused
//! with its documented answer, and bad input is refused before any crypto runs.

mod common;

use base64::Engine;
use common::*;
use devauth::Error;
use devauth::auth_request::{AuthRequestVerifier, Limits};
use devauth::http::StatusCode;
use testkit::vectors;

fn positive_dirs() -> Vec<std::path::PathBuf> {
    let mut v = case_dirs("mender-client-3.4", "");
    v.extend(case_dirs("generated", "authreq-"));
    assert_eq!(v.len(), 9, "6 captures and 3 generated requests");
    v
}

#[test]
fn every_captured_and_generated_request_verifies() {
    for provider in providers() {
        let verifier = AuthRequestVerifier::new(provider);
        for dir in positive_dirs() {
            let body = read(&dir.join("body.bin"));
            let sig = String::from_utf8(read(&dir.join("x-men-signature.b64"))).expect("ascii");
            let v = verifier
                .verify_parts(&headers(&sig), &body)
                .unwrap_or_else(|e| panic!("{} with {}: {e}", dir.display(), provider.name()));
            // The key in the body is the one beside it (same DER, whatever the PEM layout).
            let pem = String::from_utf8(read(&dir.join("pubkey.pem"))).expect("pem");
            let beside = devauth::pubkey::DevicePublicKey::from_pem(&pem).expect("pubkey.pem");
            assert_eq!(v.pubkey(), &beside, "{}", dir.display());
            assert_eq!(v.tenant_token(), "");
            // Captures carry id_data.txt, already sorted by the Go client; its hash is the name
            // of the file's content in the README (b3c06781...).
            if let Ok(id) = std::fs::read_to_string(dir.join("id_data.txt")) {
                assert_eq!(v.identity().normalized(), id.trim_end());
                assert!(v.identity().hash_hex().starts_with("b3c067812a9f9a1d"));
            }
        }
    }
}

#[test]
fn signature_header_name_is_case_insensitive_and_request_form_works() {
    let dir = vectors().join("devauth/mender-client-3.4/ed25519");
    let body = read(&dir.join("body.bin"));
    let sig = String::from_utf8(read(&dir.join("x-men-signature.b64"))).expect("ascii");
    for name in ["X-MEN-Signature", "x-men-signature", "X-Men-Signature"] {
        let req = devauth::http::Request::builder()
            .method("POST")
            .uri(devauth::auth_request::PATH)
            .header(name, sig.trim())
            .body(body.clone())
            .expect("request");
        AuthRequestVerifier::new(providers()[0])
            .verify(&req)
            .expect("verifies");
    }
}

#[test]
fn negative_vectors_are_refused_with_the_documented_answer() {
    for provider in providers() {
        let verifier = AuthRequestVerifier::new(provider);
        for dir in case_dirs("generated", "authreq-") {
            let sig = String::from_utf8(read(&dir.join("x-men-signature.b64"))).expect("ascii");
            // Dropped trailing newline: still valid JSON, so the signature check refuses it (401).
            let body = read(&dir.join("negative-body-no-trailing-newline.bin"));
            let e = verifier.verify_parts(&headers(&sig), &body).unwrap_err();
            assert_eq!(e, Error::SignatureInvalid, "{}", dir.display());
            assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
            // The flipped byte is the closing quote of "pubkey": the body is no longer JSON, so
            // no key can be read and the request is malformed (400), as Mender answers.
            let body = read(&dir.join("negative-body-tampered.bin"));
            let e = verifier.verify_parts(&headers(&sig), &body).unwrap_err();
            assert!(
                matches!(e, Error::MalformedBody(_)),
                "{}: {e:?}",
                dir.display()
            );
            assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        }

        // Raw r||s instead of DER: the signature does not verify (401).
        let d = vectors().join("devauth/generated/negative-ecdsa-p256-raw-rs");
        let sig = String::from_utf8(read(&d.join("x-men-signature.b64"))).expect("ascii");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sig.trim())
            .expect("b64");
        assert_eq!(raw.len(), 64);
        let e = verifier
            .verify_parts(&headers(&sig), &read(&d.join("body.bin")))
            .unwrap_err();
        assert_eq!(e, Error::SignatureInvalid);
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);

        // PKCS#1 "RSA PUBLIC KEY": 400 with a message that names the problem.
        let d = vectors().join("devauth/generated/negative-pkcs1-rsa-public-key");
        let sig = String::from_utf8(read(&d.join("x-men-signature.b64"))).expect("ascii");
        let e = verifier
            .verify_parts(&headers(&sig), &read(&d.join("body.bin")))
            .unwrap_err();
        assert_eq!(e, Error::Pkcs1PublicKey);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.to_string().contains("RSA PUBLIC KEY"), "{e}");
        assert!(e.to_string().contains("PUBLIC KEY\" form"), "{e}");
    }
}

#[test]
fn tampering_that_keeps_the_json_valid_fails_the_signature() {
    for provider in providers() {
        let verifier = AuthRequestVerifier::new(provider);
        for dir in positive_dirs() {
            let sig = String::from_utf8(read(&dir.join("x-men-signature.b64"))).expect("ascii");
            let mut body = read(&dir.join("body.bin"));
            // Change one character of the identity: "mac" becomes "mad".
            let pos = body
                .windows(3)
                .position(|w| w == b"mac")
                .expect("a mac attribute");
            body[pos + 2] = b'd';
            let e = verifier.verify_parts(&headers(&sig), &body).unwrap_err();
            assert_eq!(e, Error::SignatureInvalid, "{}", dir.display());
            // A signature from another device's key does not verify either.
            let other = vectors().join("devauth/mender-client-3.4/rsa2048/x-men-signature.b64");
            if !dir.ends_with("rsa2048") {
                let other = String::from_utf8(read(&other)).expect("ascii");
                let e = verifier
                    .verify_parts(&headers(&other), &read(&dir.join("body.bin")))
                    .unwrap_err();
                assert_eq!(e, Error::SignatureInvalid, "{}", dir.display());
            }
        }
    }
}

#[test]
fn deviceauth_negative_keys_are_refused() {
    let provider = providers()[0];
    let dev = TestDevice::ed25519(provider, 7, r#"{"mac":"02:00:00:00:00:09"}"#);
    for (file, want) in [
        ("deviceauth/derived/utils-TestDSAPublic.pem", "unsupported"),
        (
            "deviceauth/derived/utils-TestRSAPublicBadPEM.txt",
            "not a PEM block",
        ),
        ("deviceauth/derived/utils-TestRSAPublicBadContent.txt", ""),
    ] {
        let pem = String::from_utf8(vector(file)).expect("utf8");
        let body = format!(
            "{}\n",
            serde_json::json!({"id_data": dev.id_data, "pubkey": pem})
        );
        let e = AuthRequestVerifier::new(provider)
            .verify(&dev.signed(body.into_bytes()))
            .unwrap_err();
        assert!(matches!(e, Error::BadPublicKey(_)), "{file}: {e:?}");
        assert!(e.to_string().contains(want), "{file}: {e}");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
    // The deviceauth PKIX keys parse, whatever their trailing newline.
    for file in [
        "deviceauth/derived/utils-TestECDSAPublic-p521.pem",
        "deviceauth/derived/utils-TestRSAPublic.pem",
        "deviceauth/testdata/api_http_testdata_public.pem",
    ] {
        let pem = String::from_utf8(vector(file)).expect("utf8");
        devauth::pubkey::DevicePublicKey::from_pem(&pem).expect(file);
    }
}

/// A provider that fails the test if any crypto runs.
#[derive(Debug)]
struct NoCrypto;

impl pki::provider::CryptoProvider for NoCrypto {
    fn name(&self) -> &'static str {
        "no-crypto"
    }
    fn digest(&self, _: pki::alg::HashAlg, _: &[u8]) -> Vec<u8> {
        panic!("crypto ran")
    }
    fn verify(
        &self,
        _: &pki::spki::SubjectPublicKeyInfoOwned,
        _: pki::alg::SignatureScheme,
        _: &[u8],
        _: &[u8],
    ) -> pki::Result<()> {
        panic!("crypto ran")
    }
    fn key_transport_encrypt(
        &self,
        _: &pki::spki::SubjectPublicKeyInfoOwned,
        _: pki::alg::KeyTransport,
        _: &[u8],
        _: &mut dyn rand_core::CryptoRng,
    ) -> pki::Result<Vec<u8>> {
        panic!("crypto ran")
    }
    fn cipher_encrypt(
        &self,
        _: pki::alg::ContentCipher,
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> pki::Result<Vec<u8>> {
        panic!("crypto ran")
    }
    fn cipher_decrypt(
        &self,
        _: pki::alg::ContentCipher,
        _: &[u8],
        _: &[u8],
        _: &[u8],
    ) -> pki::Result<Vec<u8>> {
        panic!("crypto ran")
    }
    fn rsa_oaep_encrypt(
        &self,
        _: &pki::spki::SubjectPublicKeyInfoOwned,
        _: pki::alg::HashAlg,
        _: &[u8],
        _: &[u8],
        _: &mut dyn rand_core::CryptoRng,
    ) -> pki::Result<Vec<u8>> {
        panic!("crypto ran")
    }
    fn hmac(&self, _: pki::alg::HashAlg, _: &[u8], _: &[&[u8]]) -> pki::Result<Vec<u8>> {
        panic!("crypto ran")
    }
    fn ecdh_ephemeral(
        &self,
        _: pki::alg::Curve,
        _: &[u8],
        _: &mut dyn rand_core::CryptoRng,
    ) -> pki::Result<pki::provider::EphemeralAgreement> {
        panic!("crypto ran")
    }
    fn aes_cfb_encrypt(&self, _: &[u8], _: &[u8; 16], _: &mut [u8]) -> pki::Result<()> {
        panic!("crypto ran")
    }
    fn private_key_from_pkcs8_der(
        &self,
        _: &[u8],
    ) -> pki::Result<std::sync::Arc<dyn pki::key::PrivateKey>> {
        panic!("crypto ran")
    }
    fn generate_key(
        &self,
        _: pki::key::KeySpec,
        _: &mut dyn rand_core::CryptoRng,
    ) -> pki::Result<std::sync::Arc<dyn pki::key::PrivateKey>> {
        panic!("crypto ran")
    }
}

#[test]
fn bad_input_is_refused_before_crypto() {
    static NO_CRYPTO: NoCrypto = NoCrypto;
    let verifier = AuthRequestVerifier::new(&NO_CRYPTO);
    let dir = vectors().join("devauth/mender-client-3.4/rsa3072-client-generated");
    let body = read(&dir.join("body.bin"));
    let sig = String::from_utf8(read(&dir.join("x-men-signature.b64"))).expect("ascii");

    // Oversized body (a valid request padded with whitespace).
    let mut big = body.clone();
    big.resize(Limits::default().max_body + 1, b' ');
    let e = verifier.verify_parts(&headers(&sig), &big).unwrap_err();
    assert_eq!(
        e,
        Error::BodyTooLarge {
            len: 16 * 1024 + 1,
            limit: 16 * 1024
        }
    );
    assert_eq!(e.status(), StatusCode::BAD_REQUEST);

    // Oversized signature header.
    let e = verifier
        .verify_bytes("A".repeat(4096).as_bytes(), &body)
        .unwrap_err();
    assert!(matches!(e, Error::SignatureHeader(_)));

    // Missing, empty, repeated or non-base64 header.
    let e = verifier
        .verify_parts(&devauth::http::HeaderMap::new(), &body)
        .unwrap_err();
    assert_eq!(e, Error::SignatureHeader("missing"));
    let mut two = headers(&sig);
    two.append(
        "X-MEN-SIGNATURE",
        devauth::http::HeaderValue::from_static("AAAA"),
    );
    assert_eq!(
        verifier.verify_parts(&two, &body).unwrap_err(),
        Error::SignatureHeader("repeated")
    );
    assert_eq!(
        verifier.verify_bytes(b"", &body).unwrap_err(),
        Error::SignatureHeader("empty")
    );
    assert_eq!(
        verifier.verify_bytes(b"@@@@", &body).unwrap_err(),
        Error::SignatureHeader("not standard base64")
    );
    assert_eq!(
        verifier.verify_bytes(b"AAA", &body).unwrap_err(),
        Error::SignatureHeader("not standard base64")
    );

    // Truncated JSON at every length: refused, never a panic, never crypto.
    for n in 0..body.len() - 2 {
        let e = verifier
            .verify_parts(&headers(&sig), &body[..n])
            .unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST, "prefix {n}: {e:?}");
    }

    // Wrong types and missing fields.
    let key = String::from_utf8(read(&dir.join("pubkey.pem"))).expect("pem");
    let cases: Vec<(String, Error)> = vec![
        (
            serde_json::json!({"id_data": {"mac": "x"}, "pubkey": key}).to_string(),
            Error::WrongType {
                field: "id_data",
                expected: "a JSON object encoded as a string",
                found: "object",
            },
        ),
        (
            serde_json::json!({"id_data": "{\"mac\":\"x\"}", "pubkey": 5}).to_string(),
            Error::WrongType {
                field: "pubkey",
                expected: "a PEM string",
                found: "number",
            },
        ),
        (
            serde_json::json!({"pubkey": key}).to_string(),
            Error::MissingField("id_data"),
        ),
        (
            serde_json::json!({"id_data": "{\"mac\":\"x\"}", "pubkey": ""}).to_string(),
            Error::MissingField("pubkey"),
        ),
        (
            serde_json::json!({"id_data": "{\"mac\":\"x\"}", "tenant_token": [], "pubkey": key})
                .to_string(),
            Error::WrongType {
                field: "tenant_token",
                expected: "a string",
                found: "array",
            },
        ),
        (
            "[1,2,3]".into(),
            Error::MalformedBody("expected a JSON object, found a JSON array".into()),
        ),
        (
            format!(
                "{{\"pubkey\":{},\"PUBKEY\":{}}}",
                serde_json::json!(key),
                serde_json::json!(key)
            ),
            Error::MalformedBody("field pubkey appears more than once".into()),
        ),
    ];
    for (body, want) in cases {
        let e = verifier
            .verify_parts(&headers(&sig), body.as_bytes())
            .unwrap_err();
        assert_eq!(e, want, "{body}");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}

#[test]
fn identity_is_checked_only_after_the_signature() {
    for provider in providers() {
        let verifier = AuthRequestVerifier::new(provider);
        // A validly signed request whose id_data is not an object: 400 after verification.
        for (id_data, reason) in [
            (
                "[\"mac\",\"x\"]",
                "json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
            ("null", "the identity is null"),
            ("{}", "the identity has no attributes"),
            ("{\"mac\":", "unexpected end of JSON input"),
        ] {
            let dev = TestDevice::ed25519(provider, 3, id_data);
            let e = verifier.verify(&dev.request()).unwrap_err();
            assert_eq!(
                e,
                Error::BadIdentity {
                    reason: reason.into()
                },
                "{id_data}"
            );
            // The same body with a bad signature is a signature failure, not an identity one.
            let mut req = dev.request();
            req.headers_mut().insert(
                "x-men-signature",
                devauth::http::HeaderValue::from_static(
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
                ),
            );
            assert_eq!(verifier.verify(&req).unwrap_err(), Error::SignatureInvalid);
        }
        // Unknown fields are ignored; field names match in any case, like Go's decoder.
        let dev = TestDevice::ed25519(provider, 4, r#"{"serial":"SN-9"}"#);
        let body = format!(
            "{{\"Pubkey\":{},\"extra\":{{\"x\":[1,2]}},\"ID_DATA\":\"{{\\\"serial\\\":\\\"SN-9\\\"}}\",\"tenant_token\":\"t\"}}",
            serde_json::json!(dev.pubkey_pem())
        );
        let v = verifier
            .verify(&dev.signed(body.into_bytes()))
            .expect("verifies");
        assert_eq!(v.identity().normalized(), r#"{"serial":"SN-9"}"#);
        assert_eq!(v.tenant_token(), "t");
    }
}
