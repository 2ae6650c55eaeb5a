//! Tokens: the Go-generated RS256 and EdDSA vectors verify with our verifier, and since both
//! algorithms are deterministic our minted tokens over the same claims bytes equal them byte for
//! byte. Then ES256, the algorithm allow-list, expiry with leeway and revocation.

mod common;

use std::collections::HashSet;

use base64::Engine;
use common::*;
use devauth::Error;
use devauth::token::{
    Algorithm, Claims, IssuerConfig, NoRevocations, TokenVerifier, Verdict, load_signing_key, mint,
    mint_raw,
};
use testkit::rng;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn claims_bytes() -> Vec<u8> {
    let mut b = vector("generated/jwt-claims.json");
    while b.last() == Some(&b'\n') {
        b.pop();
    }
    b
}

fn token_vector(name: &str) -> String {
    String::from_utf8(vector(name))
        .expect("ascii")
        .trim()
        .to_owned()
}

const IAT: u64 = 1_700_000_000;
const EXP: u64 = 1_700_604_800;

#[test]
fn go_vectors_verify_and_our_tokens_match_them_byte_for_byte() {
    for provider in providers() {
        for (key_file, token_file, alg) in [
            (
                "deviceauth/testdata/jwt_testdata_rsa.pem",
                "generated/jwt-RS256.txt",
                Algorithm::Rs256,
            ),
            (
                "deviceauth/testdata/jwt_testdata_ed25519.pem",
                "generated/jwt-EdDSA.txt",
                Algorithm::EdDsa,
            ),
        ] {
            let pem = String::from_utf8(vector(key_file)).expect("pem");
            let key = load_signing_key(provider, &pem).expect(key_file);
            let want = token_vector(token_file);

            // The payload of the vector is exactly the claims file.
            let payload = want.split('.').nth(1).expect("payload");
            assert_eq!(B64.decode(payload).expect("b64"), claims_bytes());

            let verifier = TokenVerifier::new(provider, key.spki().clone()).expect("verifier");
            let t = verifier
                .verify(&want, IAT + 60, &NoRevocations)
                .unwrap_or_else(|e| panic!("{token_file} with {}: {e}", provider.name()));
            assert_eq!(t.algorithm(), alg);
            assert_eq!(t.claims().sub, "5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7f10");
            assert_eq!(t.claims().plan.as_deref(), Some("enterprise"));

            // Minting over the same bytes gives the same token.
            let ours = mint_raw(key.as_ref(), &claims_bytes(), &mut rng(5)).expect("mint");
            assert_eq!(ours, want, "{key_file} with {}", provider.name());

            // Our Claims type serialises in deviceauth's field order: same bytes again.
            let claims: Claims = serde_json::from_slice(&claims_bytes()).expect("claims");
            assert_eq!(serde_json::to_vec(&claims).expect("json"), claims_bytes());
            assert_eq!(
                mint(key.as_ref(), &claims, &mut rng(6)).expect("mint"),
                want
            );
        }
    }
}

#[test]
fn pkcs8_rsa_signing_key_mints_verifiable_tokens() {
    // deviceauth's rsa_pkcs8.pem is another key than rsa.pem: check it on its own.
    let pem =
        String::from_utf8(vector("deviceauth/testdata/jwt_testdata_rsa_pkcs8.pem")).expect("pem");
    for provider in providers() {
        let key = load_signing_key(provider, &pem).expect("key");
        let t = mint_raw(key.as_ref(), &claims_bytes(), &mut rng(2)).expect("mint");
        let v = TokenVerifier::new(provider, key.spki().clone()).expect("verifier");
        assert_eq!(
            v.verify(&t, IAT, &NoRevocations)
                .expect("valid")
                .algorithm(),
            Algorithm::Rs256
        );
        // Not valid under the other RSA key.
        let other =
            String::from_utf8(vector("deviceauth/testdata/jwt_testdata_rsa.pem")).expect("pem");
        let other = load_signing_key(provider, &other).expect("key");
        let v = TokenVerifier::new(provider, other.spki().clone()).expect("verifier");
        assert_eq!(
            v.verify(&t, IAT, &NoRevocations).unwrap_err(),
            Error::TokenSignature
        );
    }
}

#[test]
fn dsa_signing_key_is_refused() {
    let pem = String::from_utf8(vector("deviceauth/testdata/jwt_testdata_dsa.pem")).expect("pem");
    for provider in providers() {
        assert!(load_signing_key(provider, &pem).is_err());
    }
}

fn ed25519_setup(
    provider: &'static dyn pki::provider::CryptoProvider,
) -> (
    std::sync::Arc<dyn pki::key::PrivateKey>,
    TokenVerifier<'static>,
) {
    let pem =
        String::from_utf8(vector("deviceauth/testdata/jwt_testdata_ed25519.pem")).expect("pem");
    let key = load_signing_key(provider, &pem).expect("key");
    let v = TokenVerifier::new(provider, key.spki().clone()).expect("verifier");
    (key, v)
}

#[test]
fn expiry_leeway_and_revocation() {
    for provider in providers() {
        let (key, v) = ed25519_setup(provider);
        let token = token_vector("generated/jwt-EdDSA.txt");
        assert!(matches!(
            v.check(&token, EXP, &NoRevocations),
            Verdict::Valid(_)
        ));
        assert_eq!(
            v.check(&token, EXP + 1, &NoRevocations),
            Verdict::Expired {
                exp: EXP,
                now: EXP + 1
            }
        );
        let lenient = v.clone().with_leeway(30);
        assert!(matches!(
            lenient.check(&token, EXP + 30, &NoRevocations),
            Verdict::Valid(_)
        ));
        assert!(matches!(
            lenient.check(&token, EXP + 31, &NoRevocations),
            Verdict::Expired { .. }
        ));
        // Issued in the future.
        assert!(matches!(
            v.check(&token, IAT - 1, &NoRevocations),
            Verdict::Invalid(_)
        ));

        let revoked: HashSet<String> = ["0b1d7a2e-6a3f-4a7e-9a55-5d7f5c0b9c11".to_string()].into();
        assert_eq!(
            v.check(&token, IAT + 1, &revoked),
            Verdict::Invalid(Error::TokenRevoked)
        );
        // Issuer pinning.
        assert!(
            v.clone()
                .with_issuer("Mender")
                .verify(&token, IAT, &NoRevocations)
                .is_ok()
        );
        assert!(
            v.clone()
                .with_issuer("other")
                .verify(&token, IAT, &NoRevocations)
                .is_err()
        );

        // Default issuing: one week, device claim set.
        let grant = devauth::admission::TokenGrant {
            device_id: devauth::model::DeviceId::parse("5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7f10")
                .expect("id"),
            auth_set_id: devauth::model::AuthSetId::parse("0b1d7a2e-6a3f-4a7e-9a55-5d7f5c0b9c11")
                .expect("id"),
            tenant_token: None,
        };
        let claims = IssuerConfig::default().claims(&grant, None, IAT);
        assert_eq!(claims.exp - claims.iat, 604_800);
        let t = mint(key.as_ref(), &claims, &mut rng(1)).expect("mint");
        let got = v.verify(&t, IAT, &NoRevocations).expect("valid");
        assert_eq!(got.claims(), &claims);
        let short = IssuerConfig::default()
            .with_lifetime(60)
            .claims(&grant, None, IAT);
        assert_eq!(short.exp, IAT + 60);
    }
}

#[test]
fn algorithm_allow_list_and_tampering() {
    for provider in providers() {
        let (_, v) = ed25519_setup(provider);
        let token = token_vector("generated/jwt-EdDSA.txt");
        let parts: Vec<&str> = token.split('.').collect();
        let with_header = |h: &str, sig: &str| format!("{}.{}.{}", B64.encode(h), parts[1], sig);
        // alg none, HMAC, an RSA alg for an Ed25519 key, unknown alg.
        for (h, want) in [
            (r#"{"alg":"none","typ":"JWT"}"#, "never"),
            (r#"{"alg":"HS256","typ":"JWT"}"#, "HMAC"),
            (r#"{"alg":"RS256","typ":"JWT"}"#, "does not fit"),
            (r#"{"alg":"PS256","typ":"JWT"}"#, "not supported"),
        ] {
            for sig in ["", parts[2]] {
                match v.verify(&with_header(h, sig), IAT, &NoRevocations) {
                    Err(Error::TokenAlgorithm(m)) => assert!(m.contains(want), "{h}: {m}"),
                    other => panic!("{h}: {other:?}"),
                }
            }
        }
        // Changed payload: signature fails.
        let claims = String::from_utf8(claims_bytes())
            .expect("utf8")
            .replace("1700604800", "1900604800");
        let forged = format!("{}.{}.{}", parts[0], B64.encode(claims), parts[2]);
        assert_eq!(
            v.verify(&forged, IAT, &NoRevocations).unwrap_err(),
            Error::TokenSignature
        );
        // Structural garbage.
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &format!("{}.{}.", parts[0], parts[1]),
        ] {
            assert!(
                matches!(v.check(bad, IAT, &NoRevocations), Verdict::Invalid(_)),
                "{bad:?}"
            );
        }
        let huge = "a".repeat(devauth::token::MAX_TOKEN_LEN + 1);
        assert!(matches!(
            v.verify(&huge, IAT, &NoRevocations),
            Err(Error::TokenMalformed(_))
        ));
        // Truncations of a valid token never verify.
        for n in 0..token.len() {
            assert!(v.verify(&token[..n], IAT, &NoRevocations).is_err());
        }
        // An RS256 token does not verify against the Ed25519 key.
        let rs = token_vector("generated/jwt-RS256.txt");
        assert!(matches!(
            v.verify(&rs, IAT, &NoRevocations),
            Err(Error::TokenAlgorithm(_))
        ));
    }
}

#[test]
fn es256_round_trip() {
    for provider in providers() {
        let key = provider
            .generate_key(pki::key::KeySpec::Ec(pki::alg::Curve::P256), &mut rng(9))
            .expect("key");
        let claims: Claims = serde_json::from_slice(&claims_bytes()).expect("claims");
        let t = mint(key.as_ref(), &claims, &mut rng(10)).expect("mint");
        let header = B64
            .decode(t.split('.').next().expect("header"))
            .expect("b64");
        assert_eq!(header, br#"{"alg":"ES256","typ":"JWT"}"#);
        // JOSE ECDSA signatures are r || s, 64 bytes for P-256.
        assert_eq!(
            B64.decode(t.split('.').nth(2).expect("sig"))
                .expect("b64")
                .len(),
            64
        );
        let v = TokenVerifier::new(provider, key.spki().clone()).expect("verifier");
        let got = v.verify(&t, IAT, &NoRevocations).expect("valid");
        assert_eq!(got.algorithm(), Algorithm::Es256);
        // P-384 keys have no JWS algorithm here.
        let p384 = provider
            .generate_key(pki::key::KeySpec::Ec(pki::alg::Curve::P384), &mut rng(11))
            .expect("key");
        assert!(mint(p384.as_ref(), &claims, &mut rng(12)).is_err());
    }
}

/// A tenant token made by the `openssl` CLI (RS256 = RSASSA-PKCS1-v1_5 with SHA-256 over
/// `header.payload`), not by this crate.
fn openssl_tenant_token(dir: &std::path::Path, key: &std::path::Path, claims: &str) -> String {
    let header = B64.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let signing_input = format!("{header}.{}", B64.encode(claims));
    let input = dir.join("input");
    std::fs::write(&input, &signing_input).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .arg(&input)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{signing_input}.{}", B64.encode(out.stdout))
}

fn openssl_rsa_key(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, pki::spki::SubjectPublicKeyInfoOwned) {
    use pki::der::DecodePem as _;
    let key = dir.join(format!("{name}.key"));
    let st = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let out = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .output()
        .unwrap();
    let spki = pki::spki::SubjectPublicKeyInfoOwned::from_pem(&out.stdout).expect("spki");
    (key, spki)
}

#[test]
fn tenant_tokens_verify_only_against_the_tenant_key() {
    use devauth::token::TenantVerifier;
    let dir = tempfile::tempdir().unwrap();
    let (key, spki) = openssl_rsa_key(dir.path(), "tenant");
    let (other_key, _) = openssl_rsa_key(dir.path(), "other");
    let good = openssl_tenant_token(
        dir.path(),
        &key,
        r#"{"mender.tenant":"tenant-1","iss":"Mender","sub":"tenant-1"}"#,
    );
    let expired = openssl_tenant_token(
        dir.path(),
        &key,
        &format!(r#"{{"mender.tenant":"tenant-1","exp":{}}}"#, IAT - 1),
    );
    let forged = openssl_tenant_token(dir.path(), &other_key, r#"{"mender.tenant":"tenant-1"}"#);
    let no_tenant = openssl_tenant_token(dir.path(), &key, r#"{"sub":"tenant-1"}"#);
    for provider in providers() {
        let v = TenantVerifier::new(provider, spki.clone()).expect("verifier");
        assert_eq!(v.verify(&good, IAT).expect("authentic"), "tenant-1");
        for (what, t) in [
            ("expired", expired.as_str()),
            ("signed by another key", forged.as_str()),
            ("without mender.tenant", no_tenant.as_str()),
            ("not a JWT", "tenant-1"),
        ] {
            let e = v.verify(t, IAT).expect_err(what);
            assert!(matches!(e, Error::TenantToken(_)), "{what}: {e:?}");
            assert_eq!(e.status(), 401, "{what}");
        }
        // A tampered payload (the tenant swapped) fails the signature.
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[1] = B64.encode(r#"{"mender.tenant":"tenant-2","iss":"Mender","sub":"tenant-1"}"#);
        assert!(v.verify(&parts.join("."), IAT).is_err());
    }
}

/// A store that cannot answer.
struct BrokenStore;

impl devauth::token::Revocations for BrokenStore {
    fn standing(&self, _: &str, _: &str, _: u64) -> devauth::Result<devauth::token::Standing> {
        Err(Error::Store("database is locked".into()))
    }
}

#[test]
fn a_store_failure_is_a_500_with_a_generic_body_never_a_401() {
    let provider = providers()[0];
    let pem = String::from_utf8(vector("deviceauth/testdata/jwt_testdata_ed25519.pem")).unwrap();
    let key = load_signing_key(provider, &pem).unwrap();
    let v = TokenVerifier::new(provider, key.spki().clone()).unwrap();
    let t = token_vector("generated/jwt-EdDSA.txt");
    let e = v.verify(&t, IAT + 1, &BrokenStore).unwrap_err();
    assert_eq!(e.status(), 500);
    let resp = e.to_response("rid-1");
    assert_eq!(resp.status(), 500);
    let body: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"], "internal error");
    assert!(!String::from_utf8_lossy(resp.body()).contains("locked"));
}
