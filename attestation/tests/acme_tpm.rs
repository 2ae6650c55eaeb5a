//! ACME device-attest-01 `tpm`: statements built by `tpm_support` (AIK certificates minted
//! by `openssl` in the AIK profile, TPM structures marshalled by hand, certInfo signed by
//! `openssl dgst -sign`), verified and tampered with.

mod apple_support;
mod tpm_support;

use apple_support::providers;
use attestation::Error;
use attestation::acme::{self, AcmeError, Challenge, Evidence, Options};
use attestation::pki::{Error as PkiError, PathError};
use attestation::webauthn::{AikError, WebAuthnError};
use tpm_support::{
    EK_URI, Fixture, KEY_AUTH, PERM_ID, Stmt, challenge, clone, now, sha256, statement,
};

#[test]
fn tpm_payload_verifies_with_rsa_and_ecc_aiks() {
    let fx = Fixture::new();
    let roots = [fx.root.clone()];
    for (name, alg) in [("aikrsa", "rsa"), ("aikec", "ec")] {
        let aik = fx.aik(name, alg, "/", "2.23.133.8.3");
        let body = statement(&fx, name, alg, &aik, KEY_AUTH).payload();
        for p in providers() {
            let opts = Options::new(now(), &roots);
            let v = acme::verify(p, &body, &challenge(), &opts)
                .unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(v.format(), "tpm");
            assert_eq!(v.permanent_identifier(), PERM_ID);
            assert_eq!(v.ek_uri(), Some(EK_URI));
            assert_eq!(v.key_fingerprint(), sha256(&fx.key_spki()));
            let Evidence::Tpm { aik, .. } = v.evidence() else {
                panic!("tpm evidence expected")
            };
            assert_eq!(aik.tpm_manufacturer(), "id:53575450");
            assert_eq!(aik.tpm_model(), "swtpm");
            assert_eq!(aik.tpm_version(), "id:20191023");
        }
    }
}

#[test]
fn tpm_payload_failures() {
    let fx = Fixture::new();
    let roots = [fx.root.clone()];
    let aik = fx.aik("aik", "rsa", "/", "2.23.133.8.3");
    let good = statement(&fx, "aik", "rsa", &aik, KEY_AUTH);
    let p = providers()[0];
    let opts = Options::new(now(), &roots);
    let run = |s: &Stmt| acme::verify(p, &s.payload(), &challenge(), &opts).unwrap_err();
    let wa = |e: Error| match e {
        Error::WebAuthn(w) => w,
        other => panic!("expected a WebAuthn error, got {other:?}"),
    };

    // Another key authorization (another account or challenge).
    let other = statement(&fx, "aik", "rsa", &aik, "another.keyauth");
    assert_eq!(run(&other), Error::NonceMismatch);
    // The order asks for another identifier.
    let c = Challenge {
        permanent_identifier: "TPM-SERIAL-9999",
        ..challenge()
    };
    assert!(matches!(
        acme::verify(p, &good.payload(), &c, &opts).unwrap_err(),
        Error::Acme(AcmeError::IdentifierMismatch { .. })
    ));
    // alg: RS1 refused unless allowed, unknown refused, ES256 with an RSA signature refused.
    let mut s = Stmt {
        alg: -65535,
        ..clone(&good)
    };
    assert_eq!(run(&s), Error::Acme(AcmeError::AlgorithmNotAllowed(-65535)));
    s.alg = -37;
    assert_eq!(run(&s), Error::Acme(AcmeError::AlgorithmNotAllowed(-37)));
    s.alg = -7;
    assert!(matches!(
        run(&s),
        Error::Acme(AcmeError::SignatureAlgorithmMismatch { alg: -7, .. })
    ));
    // ver.
    let s = Stmt {
        ver: "1.2",
        ..clone(&good)
    };
    assert_eq!(wa(run(&s)), WebAuthnError::WrongVersion("1.2".into()));
    // Tampered signature, certInfo, pubArea.
    let mut s = clone(&good);
    let n = s.sig.len();
    s.sig[n - 1] ^= 1;
    assert_eq!(
        wa(run(&s)),
        WebAuthnError::Signature(PkiError::BadSignature)
    );
    let mut s = clone(&good);
    s.cert_info[20] ^= 1;
    assert_eq!(
        wa(run(&s)),
        WebAuthnError::Signature(PkiError::BadSignature)
    );
    let mut s = clone(&good);
    let n = s.pub_area.len();
    s.pub_area[n - 1] ^= 1;
    assert!(matches!(run(&s), Error::NameMismatch { .. }));
    // Truncated TPMT_SIGNATURE.
    let mut s = clone(&good);
    s.sig.truncate(10);
    assert!(matches!(
        run(&s),
        Error::Truncated { .. } | Error::Malformed { .. }
    ));
    // Untrusted chain and no roots.
    let other_fx = Fixture::new();
    let other_roots = [other_fx.root.clone()];
    let o = Options::new(now(), &other_roots);
    let err = wa(acme::verify(p, &good.payload(), &challenge(), &o).unwrap_err());
    assert!(
        matches!(
            err,
            WebAuthnError::Chain(PkiError::Path(PathError::BadSignature { .. }))
        ),
        "{err:?}"
    );
    let none = Options::new(now(), &[]);
    assert!(matches!(
        acme::verify(p, &good.payload(), &challenge(), &none).unwrap_err(),
        Error::ApiMisuse(_)
    ));
    // AIK profile: a subject, and an EK-certificate EKU instead of the AIK one.
    let named = fx.aik("named", "rsa", "/CN=not empty", "2.23.133.8.3");
    let s = statement(&fx, "named", "rsa", &named, KEY_AUTH);
    assert!(matches!(
        wa(run(&s)),
        WebAuthnError::Aik(AikError::SubjectNotEmpty { .. })
    ));
    let ekcert = fx.aik("ekeku", "rsa", "/", "2.23.133.8.1");
    let s = statement(&fx, "ekeku", "rsa", &ekcert, KEY_AUTH);
    assert_eq!(wa(run(&s)), WebAuthnError::Aik(AikError::EkuLacksAik));
}
