//! Whole protocol operations, once per compiled provider: the SCEP server PKIOperation, the
//! devauth auth request + token mint, and the TPM quote / certify / MakeCredential work of an
//! attestation server. Inputs are fixed: keys made by `openssl` at bench start, and the real
//! captures in the shared vectors (mender-client 3.4 auth requests, keylime's tpm2-tools
//! outputs, a Windows Hello registration), an Apple MDA chain built by `openssl` with
//! attestation's own test helper, and an ACME `tpm` statement built by attestation's `acme_tpm`
//! test helper (AIK certificate by `openssl`, TPM structures by hand, certInfo signed by
//! `openssl dgst`).
//!
//! Group = operation ([`benches::op`]), function = provider name.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use attestation::tpm::{
    Attest, Attested, Name, PcrValues, Public, QuoteEvidence, Signature, Verifier, make_credential,
};
use benches::pki::alg::{HashAlg, SignatureScheme};
use benches::pki::cert::csr::CsrBuilder;
use benches::pki::cert::issue::{self, Template};
use benches::pki::der::Decode;
use benches::pki::key::{Decrypter, PrivateKey, Signer};
use benches::pki::provider::CryptoProvider;
use benches::pki::verify::Policy;
use benches::pki::x509_cert::Certificate;
use benches::{keys, op, providers, rng, vector};
use criterion::Criterion;
use devauth::auth_request::AuthRequestVerifier;
use devauth::token::{Claims, mint};
use scep::challenge::StaticChallenge;
use scep::{CaCerts, Capabilities, Client, Identity, Incoming, Responder, http};

#[path = "../../attestation/tests/apple_support/mod.rs"]
mod apple_support;
#[path = "../../attestation/tests/tpm_support/mod.rs"]
mod tpm_support;

const DAY: Duration = Duration::from_secs(86_400);

/// The secret MakeCredential protects (a 32-byte credential, as keylime sends).
const CREDENTIAL: &[u8; 32] = b"0123456789abcdef0123456789abcdef";

fn name(s: &str) -> benches::pki::x509_cert::name::Name {
    s.parse().expect("fixed names parse")
}

/// What the SCEP bench works on.
struct ScepFixture {
    responder: Responder,
    ca_key: Arc<dyn PrivateKey>,
    ca_cert: Certificate,
    request: http::Request<Vec<u8>>,
}

/// A responder (an RSA-2048 CA that signs and decrypts itself), and one POST PKIOperation
/// PKCSReq made by our client for an RSA-2048 key with a self-signed certificate.
fn scep_setup(p: &'static dyn CryptoProvider) -> ScepFixture {
    let k = keys();
    let now = SystemTime::now();
    let ca_key: Arc<dyn PrivateKey> = p
        .private_key_from_pkcs8_der(&k.rsa2048)
        .expect("CA key loads");
    let ca_cert = issue::self_signed_ca(
        p,
        &*ca_key,
        name("CN=bench CA"),
        now - DAY,
        now + 3650 * DAY,
        None,
        &mut rng(1),
    )
    .expect("CA certificate");
    // The CA certificate allows only keyCertSign and cRLSign: the CA key answers under an
    // end-entity (RA) certificate of its own, as deployments with one key do.
    let ra_cert = issue::issue(
        p,
        &*ca_key,
        Some(&ca_cert),
        ca_key.spki(),
        &Template::end_entity(now - DAY, now + 365 * DAY).with_subject(name("CN=bench RA")),
        &mut rng(1),
    )
    .expect("RA certificate");
    let signer: Arc<dyn Signer> = ca_key.clone();
    let decrypter: Arc<dyn Decrypter> = ca_key.clone();
    let responder = Responder::new(
        p,
        std::slice::from_ref(&ca_cert),
        (signer, ra_cert.clone()),
        (decrypter, ra_cert),
        Arc::new(StaticChallenge::new("s3cret")),
    )
    .expect("responder");
    let get = |operation: &str| {
        let req = http::Request::get(format!("/scep?operation={operation}"))
            .body(Vec::new())
            .expect("request");
        match responder.handle(&req, now, &mut rng(2)) {
            Incoming::Answer(r) => r,
            other => panic!("{operation}: {other:?}"),
        }
    };
    let caps = Capabilities::parse(get("GetCACaps").body());
    let ca_certs = CaCerts::from_response(&get("GetCACert")).expect("GetCACert answer");
    let client = Client::new(p, caps.clone(), ca_certs);
    let dev_key = p
        .private_key_from_pkcs8_der(&k.rsa2048_client)
        .expect("client key loads");
    let t = Template::end_entity(now - DAY, now + DAY).with_subject(name("CN=bench device"));
    let dev_cert = issue::issue(p, &*dev_key, None, dev_key.spki(), &t, &mut rng(3))
        .expect("device certificate");
    let csr = CsrBuilder::new(name("CN=bench device"))
        .with_challenge_password("s3cret")
        .build(&*dev_key, &mut rng(4))
        .expect("CSR");
    let id = Identity {
        signer: &*dev_key,
        decrypter: &*dev_key,
        certificate: &dev_cert,
    };
    let tx = client
        .pkcs_req(id, &csr, None, &mut rng(5))
        .expect("PKCSReq");
    let base: http::Uri = "http://127.0.0.1/scep".parse().expect("URI");
    let request = tx.to_request(&base, caps.post()).expect("HTTP request");
    ScepFixture {
        responder,
        ca_key,
        ca_cert,
        request,
    }
}

/// One whole PKIOperation, as a server runs it: verify the request (signature, envelope,
/// CSR), decide it, issue the certificate, answer with a sealed SUCCESS CertRep.
fn scep_pki_operation(
    p: &dyn CryptoProvider,
    f: &ScepFixture,
    r: &mut dyn rand_core::CryptoRng,
) -> http::Response<Vec<u8>> {
    let now = SystemTime::now();
    let verified = match f.responder.handle(black_box(&f.request), now, r) {
        Incoming::Request(v) => v,
        other => panic!("PKIOperation refused: {other:?}"),
    };
    let csr = verified
        .certification_request()
        .expect("a PKCSReq carries a CSR");
    let scep::Decision::Issue(issuance) =
        f.responder
            .decide(&verified, &scep::Records::default(), now)
    else {
        panic!("PKCSReq not admitted")
    };
    let issued = issue::issue(
        p,
        &*f.ca_key,
        Some(&f.ca_cert),
        csr.public_key(),
        &issuance.template,
        r,
    )
    .expect("issue");
    f.responder
        .success(&verified, &[issued, f.ca_cert.clone()], r)
        .expect("CertRep")
}

fn scep(c: &mut Criterion) {
    for p in providers() {
        let f = scep_setup(p);
        let mut r = rng(6);
        let resp = scep_pki_operation(p, &f, &mut r);
        assert_eq!(resp.status(), 200, "{}", p.name());
        c.benchmark_group(op::SCEP_PKIOPERATION)
            .sample_size(20)
            .bench_function(p.name(), |b| b.iter(|| scep_pki_operation(p, &f, &mut r)));
    }
}

fn devauth(c: &mut Criterion) {
    let cases = [
        (op::DEVAUTH_RSA3072, "rsa3072-client-generated"),
        (op::DEVAUTH_P256, "ecdsa-p256"),
        (op::DEVAUTH_ED25519, "ed25519"),
    ];
    for (group, dir) in cases {
        let body = vector(&format!("devauth/mender-client-3.4/{dir}/body.bin"));
        let sig = vector(&format!(
            "devauth/mender-client-3.4/{dir}/x-men-signature.b64"
        ));
        for p in providers() {
            let token_key = p
                .private_key_from_pkcs8_der(&keys().rsa2048)
                .expect("token key loads");
            let verifier = AuthRequestVerifier::new(p);
            let mut r = rng(7);
            let mut once = || {
                let verified = verifier
                    .verify_bytes(black_box(&sig), black_box(&body))
                    .unwrap_or_else(|e| {
                        panic!("{}: mender-client's {dir} request verifies: {e}", p.name())
                    });
                let now = 1_735_689_600;
                let claims = Claims {
                    jti: "0193c3c5-8f3a-7d3e-9d2f-5b0c1f4e2a11".into(),
                    sub: verified.identity().hash_hex(),
                    iss: "Mender".into(),
                    exp: now + 7 * 86_400,
                    iat: now,
                    tenant: None,
                    device: true,
                    plan: None,
                    trial: None,
                    addons: None,
                };
                mint(&*token_key, &claims, &mut r).expect("mint")
            };
            let token = once();
            assert_eq!(token.split('.').count(), 3);
            c.benchmark_group(group)
                .bench_function(p.name(), |b| b.iter(&mut once));
        }
    }
}

const KEYLIME: &str = "attestation/tpm-attest/keylime-test-data";
const WIN_HELLO: &str = "attestation/tpm-attest/webauthn-rs/win-hello-tpm-rsa.split";

fn tpm(c: &mut Criterion) {
    let ak = Public::parse_2b(&vector(&format!("{KEYLIME}/ak.pub"))).expect("ak.pub");
    let ek = Public::parse_2b(&vector(&format!("{KEYLIME}/ek.pub"))).expect("ek.pub");
    let ak_name = Name::parse(&vector(&format!("{KEYLIME}/ak.name"))).expect("ak.name");
    let quote = vector(&format!("{KEYLIME}/quote.out"));
    let nonce = Attest::parse(&quote).expect("quote.out").extra_data;
    let quote_sig =
        Signature::parse(&vector(&format!("{KEYLIME}/quotesig.out"))).expect("quotesig.out");
    let (sel, pcrs) = PcrValues::parse_tpm2_tools(&vector(&format!("{KEYLIME}/quotepcr.out")))
        .expect("quotepcr.out");

    let pub_area = vector(&format!("{WIN_HELLO}/pubArea.bin"));
    let cert_info = vector(&format!("{WIN_HELLO}/certInfo.bin"));
    let certify_sig = vector(&format!("{WIN_HELLO}/sig.bin"));
    let aik =
        Certificate::from_der(&vector(&format!("{WIN_HELLO}/x5c-0.der"))).expect("AIK certificate");
    let aik_spki = aik.tbs_certificate().subject_public_key_info().clone();
    let sha1 = Policy::allowing_sha1();

    for p in providers() {
        let v = Verifier::new(p);
        let ev = QuoteEvidence {
            attest: &quote,
            signature: &quote_sig,
            nonce: &nonce,
            pcrs: &pcrs,
            required: &sel,
        };
        v.quote(&ak, ev).expect("keylime's quote verifies");
        c.benchmark_group(op::TPM_QUOTE_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| v.quote(&ak, black_box(ev)).expect("quote verifies"))
            });

        let certify = || {
            let key = Public::parse(black_box(&pub_area)).expect("pubArea");
            let attest = Attest::parse(black_box(&cert_info)).expect("certInfo");
            let Attested::Certify { name, .. } = &attest.attested else {
                panic!("certInfo is a certify attestation");
            };
            assert!(name.matches(&key, p).expect("name algorithm"));
            benches::pki::verify::signature(
                p,
                &sha1,
                &aik_spki,
                SignatureScheme::RsaPkcs1v15(HashAlg::Sha1),
                &cert_info,
                &certify_sig,
            )
            .expect("certInfo signed by the AIK");
            attest
        };
        certify();
        c.benchmark_group(op::TPM_CERTIFY_VERIFY)
            .bench_function(p.name(), |b| b.iter(certify));

        let mut r = rng(8);
        make_credential(p, &ek, &ak_name, CREDENTIAL, &mut r).expect("make_credential");
        c.benchmark_group(op::TPM_MAKE_CREDENTIAL)
            .bench_function(p.name(), |b| {
                b.iter(|| {
                    make_credential(p, black_box(&ek), &ak_name, CREDENTIAL, &mut r)
                        .expect("make_credential")
                })
            });
    }
}

fn acme_apple(c: &mut Criterion) {
    use apple_support::{TestCa, mda_lines, sha256};
    use attestation::acme::{self, Challenge, Options};
    use base64::Engine as _;
    use ciborium::Value;

    const SERIAL: &str = "C02XK1ABJGH5";
    const UDID: &str = "00008103-000A1B2C3D4E5F60";
    const TOKEN: &str = "DGyRejmCefe7v4NfDGDKfA";
    let ca = TestCa::new("Bench Enterprise Attestation Root CA");
    let leaf = ca.leaf(
        "leaf",
        "P-384",
        7,
        &mda_lines(SERIAL, UDID, Some(&sha256(TOKEN.as_bytes()))),
    );
    let stmt = Value::Map(vec![(
        Value::Text("x5c".into()),
        Value::Array(
            [&leaf.cert, &ca.sub]
                .iter()
                .map(|c| Value::Bytes(c.der().to_vec()))
                .collect(),
        ),
    )]);
    let obj = Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("apple".into())),
        (Value::Text("attStmt".into()), stmt),
    ]);
    let mut cbor = Vec::new();
    ciborium::ser::into_writer(&obj, &mut cbor).expect("CBOR");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&cbor);
    let body = serde_json::to_vec(&serde_json::json!({ "attObj": b64 })).expect("JSON");
    let roots = [ca.root.clone()];
    let challenge = Challenge {
        token: TOKEN,
        key_authorization: "unused-for-apple",
        permanent_identifier: SERIAL,
    };
    for p in providers() {
        let opts = Options::new(SystemTime::now(), &[]).with_apple_roots(&roots);
        let v = acme::verify(p, &body, &challenge, &opts).expect("apple payload verifies");
        assert_eq!(v.permanent_identifier(), SERIAL);
        c.benchmark_group(op::ACME_APPLE_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| acme::verify(p, black_box(&body), &challenge, &opts).expect("verify"))
            });
    }
}

fn acme_tpm(c: &mut Criterion) {
    use attestation::acme::{self, Options};
    use tpm_support::{Fixture, KEY_AUTH, PERM_ID, challenge, now, statement};

    // An RSA-2048 AIK in the AIK profile under an RSA-2048 CA, certifying a P-256 key.
    let fx = Fixture::new();
    let aik = fx.aik("aik", "rsa", "/", "2.23.133.8.3");
    let body = statement(&fx, "aik", "rsa", &aik, KEY_AUTH).payload();
    let roots = [fx.root.clone()];
    let challenge = challenge();
    for p in providers() {
        let opts = Options::new(now(), &roots);
        let v = acme::verify(p, &body, &challenge, &opts).expect("tpm payload verifies");
        assert_eq!(v.format(), "tpm");
        assert_eq!(v.permanent_identifier(), PERM_ID);
        c.benchmark_group(op::ACME_TPM_VERIFY)
            .bench_function(p.name(), |b| {
                b.iter(|| acme::verify(p, black_box(&body), &challenge, &opts).expect("verify"))
            });
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    scep(&mut c);
    devauth(&mut c);
    tpm(&mut c);
    acme_apple(&mut c);
    acme_tpm(&mut c);
    c.final_summary();
}
