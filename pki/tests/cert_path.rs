//! Path validation against real TPM CA chains and openssl-built chains.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use pki::cert::Cert;
use pki::cert::path::{self, Options};
use pki::der::{Decode, Encode};
use pki::{Error, PathError};

fn at(y: u16, m: u8, d: u8) -> SystemTime {
    pki::der::DateTime::new(y, m, d, 0, 0, 0)
        .unwrap()
        .to_system_time()
}

fn load(rel: &str) -> Cert {
    let bytes = testkit::vector(rel);
    if bytes.starts_with(b"-----") {
        Cert::from_pem(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
    } else {
        Cert::from_der(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

/// The one certificate at the start of a TPM NV blob: the outer SEQUENCE, padding dropped.
/// (An explicit intake step: the STMicro RSA EK certificate carries 0xFF padding.)
fn load_nv(rel: &str) -> Cert {
    let bytes = testkit::vector(rel);
    let mut reader = pki::der::SliceReader::new(&bytes).unwrap();
    let header = pki::der::Header::decode(&mut reader).unwrap();
    let len = usize::try_from((header.encoded_len().unwrap() + header.length()).unwrap()).unwrap();
    assert!(len < bytes.len(), "{rel} has no trailing padding any more");
    assert!(
        Cert::from_der(&bytes).is_err(),
        "trailing bytes must be refused"
    );
    Cert::from_der(&bytes[..len]).unwrap()
}

const GCE: &str = "attestation/tpm-ca/go-tpm-tools-gce";
const EK: &str = "attestation/tpm-ek-certs";
const STORE: &str = "attestation/tpm-ca/keylime-tpm_cert_store";

fn path_err(r: pki::Result<path::ValidatedPath>) -> PathError {
    match r {
        Err(Error::Path(p)) => p,
        other => panic!("expected a path error, got {other:?}"),
    }
}

#[test]
fn gce_vtpm_ek_and_ak_certs_validate_to_their_cas() {
    let now = at(2024, 6, 1);
    let pca_root = [load(&format!("{GCE}/gcp_ek_ak_ca_root.crt"))];
    let pca_inter = [load(&format!("{GCE}/gcp_ek_ak_ca_intermediate_v3.crt"))];
    let uca_root = [load(&format!("{GCE}/tpm_ek_root_1.cer"))];
    // Both intermediates carry the same issuer; the leaf's AKI picks _3 first.
    let uca_inters = [
        load(&format!("{GCE}/tpm_ek_intermediate_2.crt")),
        load(&format!("{GCE}/tpm_ek_intermediate_3.crt")),
    ];
    for provider in common::providers() {
        for kind in ["ecc_enc", "ecc_sign", "rsa_enc", "rsa_sign"] {
            let leaf = load(&format!("{EK}/go-tpm-tools-gce/pca_tpm_{kind}_cert.pem"));
            let opts = Options::new(&pca_root, now).with_intermediates(&pca_inter);
            let p = path::validate(provider, &leaf, &opts).unwrap();
            assert_eq!(p.chain().len(), 3);
            assert_eq!(p.anchor(), &pca_root[0]);
            assert_eq!(p.intermediates(), &pca_inter[..]);

            let leaf = load(&format!("{EK}/go-tpm-tools-gce/uca_tpm_{kind}_cert.pem"));
            let opts = Options::new(&uca_root, now).with_intermediates(&uca_inters);
            let p = path::validate(provider, &leaf, &opts).unwrap();
            assert_eq!(p.leaf(), &leaf);
            assert_eq!(p.intermediates(), &uca_inters[1..]);
            assert_eq!(p.anchor(), &uca_root[0]);
        }
    }
}

#[test]
fn openssl_agrees_on_the_gce_chains() {
    // The known answer for the test above, from an independent implementation.
    let dir = tempfile::tempdir().unwrap();
    let v = testkit::vectors();
    let write = |name: &str, cert: &Cert| std::fs::write(dir.path().join(name), pem(cert.der()));
    write("root.pem", &load(&format!("{GCE}/gcp_ek_ak_ca_root.crt"))).unwrap();
    write(
        "inter.pem",
        &load(&format!("{GCE}/gcp_ek_ak_ca_intermediate_v3.crt")),
    )
    .unwrap();
    let leaf = v.join(format!("{EK}/go-tpm-tools-gce/pca_tpm_rsa_sign_cert.pem"));
    testkit::openssl(
        dir.path(),
        &[
            "verify",
            "-attime",
            "1717200000",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "inter.pem",
            leaf.to_str().unwrap(),
        ],
    );
}

fn pem(der: &[u8]) -> String {
    pki::der::pem::encode_string("CERTIFICATE", pki::der::pem::LineEnding::LF, der).unwrap()
}

#[test]
fn stmicro_ek_certs_validate_with_partial_chain() {
    let now = at(2024, 6, 1);
    let ecc_root = [load(&format!("{STORE}/STM_ECC_01RT.pem"))];
    let ecc_inter = [load(&format!("{STORE}/STM_ECC_01I.pem"))];
    let rsa_root = [load(&format!("{STORE}/STM_RSA_RT.pem"))];
    let rsa_inters: Vec<Cert> = (1..=7)
        .map(|i| load(&format!("{STORE}/STM_RSA_0{i}I.pem")))
        .collect();
    let ecc_leaf = load(&format!("{EK}/keylime/stm-ecc-ek.der"));
    let rsa_leaf = load_nv(&format!("{EK}/keylime/stm-rsa-ek.der"));
    for provider in common::providers() {
        // The STM roots are issued by GlobalSign (not in the store): partial chain needed.
        let opts = Options::new(&ecc_root, now)
            .with_intermediates(&ecc_inter)
            .with_partial_chain(true);
        let p = path::validate(provider, &ecc_leaf, &opts).unwrap();
        assert_eq!(p.chain().len(), 3);

        let strict = Options::new(&ecc_root, now).with_intermediates(&ecc_inter);
        assert!(matches!(
            path_err(path::validate(provider, &ecc_leaf, &strict)),
            PathError::UnknownIssuer { issuer } if issuer.contains("GlobalSign")
        ));

        let opts = Options::new(&rsa_root, now)
            .with_intermediates(&rsa_inters)
            .with_partial_chain(true);
        let p = path::validate(provider, &rsa_leaf, &opts).unwrap();
        assert_eq!(p.intermediates(), &rsa_inters[4..5]);

        // The intermediate itself as the anchor.
        let opts = Options::new(&rsa_inters[4..5], now).with_partial_chain(true);
        let p = path::validate(provider, &rsa_leaf, &opts).unwrap();
        assert_eq!(p.chain().len(), 2);
    }
}

#[test]
fn intel_ek_intermediate_validates_to_its_root() {
    let root = [load(&format!("{STORE}/INTEL_RT.pem"))];
    let inter = load(&format!("{STORE}/INTEL_I.pem"));
    for provider in common::providers() {
        let p = path::validate(provider, &inter, &Options::new(&root, at(2024, 6, 1))).unwrap();
        assert_eq!(p.chain().len(), 2);
    }
}

#[test]
fn expiry_wrong_anchor_tampering_and_budget_fail_with_their_own_errors() {
    let root = [load(&format!("{GCE}/gcp_ek_ak_ca_root.crt"))];
    let inter = [load(&format!("{GCE}/gcp_ek_ak_ca_intermediate_v3.crt"))];
    let leaf = load(&format!("{EK}/go-tpm-tools-gce/pca_tpm_rsa_sign_cert.pem"));
    // Independent reading of the leaf's dates: `openssl x509 -dates` gives
    // notBefore=Nov 23 18:33:43 2022 GMT, notAfter=Nov 15 18:33:42 2052 GMT.
    let not_after = pki::der::DateTime::new(2052, 11, 15, 18, 33, 42)
        .unwrap()
        .to_system_time();
    let not_before = pki::der::DateTime::new(2022, 11, 23, 18, 33, 43)
        .unwrap()
        .to_system_time();
    for provider in common::providers() {
        let late = not_after + Duration::from_secs(1);
        let e = path_err(path::validate(
            provider,
            &leaf,
            &Options::new(&root, late).with_intermediates(&inter),
        ));
        assert_eq!(
            e,
            PathError::CertExpired {
                subject: leaf.subject_string(),
                not_after,
                now: late
            }
        );
        // The last valid second still validates.
        path::validate(
            provider,
            &leaf,
            &Options::new(&root, not_after).with_intermediates(&inter),
        )
        .unwrap();
        let early = not_before - Duration::from_secs(1);
        assert!(matches!(
            path_err(path::validate(provider, &leaf, &Options::new(&root, early).with_intermediates(&inter))),
            PathError::NotYetValid { not_before: nb, now, .. } if nb == not_before && now == early
        ));

        // Wrong anchor.
        let other_root = [load(&format!("{GCE}/tpm_ek_root_1.cer"))];
        let now = at(2024, 6, 1);
        assert!(matches!(
            path_err(path::validate(provider, &leaf, &Options::new(&other_root, now).with_intermediates(&inter))),
            PathError::UnknownIssuer { issuer } if issuer.contains("EK/AK CA Root")
        ));
        // No intermediate: the leaf's issuer is unknown.
        assert!(matches!(
            path_err(path::validate(provider, &leaf, &Options::new(&root, now))),
            PathError::UnknownIssuer { issuer } if issuer.contains("EK/AK CA Intermediate")
        ));

        // Tampered signature (last byte of the signature BIT STRING).
        let mut der = leaf.der().to_vec();
        let last = der.len() - 1;
        der[last] ^= 1;
        let tampered = Cert::from_der(&der).unwrap();
        assert!(matches!(
            path_err(path::validate(provider, &tampered, &Options::new(&root, now).with_intermediates(&inter))),
            PathError::BadSignature { issuer, .. } if issuer.contains("EK/AK CA Intermediate")
        ));
        // Tampered tbsCertificate (a byte of the subject's CN).
        let mut der = leaf.der().to_vec();
        let pos = der
            .windows(18)
            .position(|w| w == b"218557372616137117")
            .unwrap();
        der[pos] = b'3';
        let tampered = Cert::from_der(&der).unwrap();
        assert!(matches!(
            path_err(path::validate(
                provider,
                &tampered,
                &Options::new(&root, now).with_intermediates(&inter)
            )),
            PathError::BadSignature { .. }
        ));

        // Budget: one candidate is not enough for leaf → intermediate → root.
        let opts = Options::new(&root, now)
            .with_intermediates(&inter)
            .with_max_candidates(1);
        assert_eq!(
            path_err(path::validate(provider, &leaf, &opts)),
            PathError::BudgetExceeded { budget: 1 }
        );
        // Depth: two certificates are not enough either.
        let opts = Options::new(&root, now)
            .with_intermediates(&inter)
            .with_max_depth(2);
        assert_eq!(
            path_err(path::validate(provider, &leaf, &opts)),
            PathError::TooLong { max_depth: 2 }
        );
        // SHA-1 policy does not matter here, but the RSA minimum does.
        let opts = Options::new(&root, now)
            .with_intermediates(&inter)
            .with_policy(pki::verify::Policy::default().with_min_rsa_bits(8192));
        assert!(matches!(
            path::validate(provider, &leaf, &opts),
            Err(Error::AlgorithmNotAllowed { .. })
        ));
    }
}

#[test]
fn truncated_certificates_are_typed_errors() {
    let leaf = load(&format!("{EK}/go-tpm-tools-gce/uca_tpm_ecc_sign_cert.pem"));
    let der = leaf.der();
    for n in 0..der.len() {
        assert!(
            matches!(Cert::from_der(&der[..n]), Err(Error::Malformed { .. })),
            "prefix {n}"
        );
    }
    let mut long = der.to_vec();
    long.push(0);
    assert!(matches!(
        Cert::from_der(&long),
        Err(Error::Malformed { .. } | Error::TrailingData { .. })
    ));
    assert!(matches!(
        Cert::from_der(&vec![0x30; pki::cert::MAX_DER_LEN + 1]),
        Err(Error::TooLarge { .. })
    ));
    assert_eq!(
        leaf.fingerprint_sha256(),
        pki::cert::fingerprint_sha256(leaf.certificate()).unwrap()
    );
}

// --- chains built by openssl -------------------------------------------------------------

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    fn path(&self) -> &Path {
        self.0.path()
    }
    fn run(&self, args: &[&str]) {
        testkit::openssl(self.path(), args);
    }
    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path().join(name), text).unwrap();
    }
    fn cert(&self, name: &str) -> Cert {
        Cert::from_pem(&std::fs::read(self.path().join(name)).unwrap()).unwrap()
    }
    fn key(&self, name: &str, alg: &str) {
        match alg {
            "ec" => self.run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ]),
            _ => self.run(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                name,
            ]),
        }
    }
    /// A self-signed root `name`.pem with key `key`.
    fn root(&self, name: &str, key: &str, subj: &str, ext: &str) {
        self.write(&format!("{name}.ext"), ext);
        self.run(&[
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            subj,
            "-out",
            &format!("{name}.csr"),
        ]);
        self.run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-key",
            key,
            "-days",
            "30",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
    /// `name`.pem for key `key`, issued by `ca`.pem / `ca_key`.
    fn issue(&self, name: &str, key: &str, subj: &str, ca: &str, ca_key: &str, ext: &str) {
        self.write(&format!("{name}.ext"), ext);
        self.run(&[
            "req",
            "-new",
            "-key",
            key,
            "-subj",
            subj,
            "-out",
            &format!("{name}.csr"),
        ]);
        self.run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-days",
            "10",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
}

const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
const LEAF_EXT: &str = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:device.example\n";

#[test]
fn openssl_built_chains_validate_and_violations_fail_precisely() {
    let d = Dir::new();
    d.key("root.key", "rsa");
    d.key("inter.key", "ec");
    d.key("leaf.key", "ec");
    d.root("root", "root.key", "/CN=Test Root/O=Admit", CA_EXT);
    d.issue(
        "inter",
        "inter.key",
        "/CN=Test Inter/O=Admit",
        "root",
        "root.key",
        CA_EXT,
    );
    d.issue(
        "leaf",
        "leaf.key",
        "/CN=device",
        "inter",
        "inter.key",
        LEAF_EXT,
    );
    // pathlen:0 root over an intermediate: one intermediate too many.
    d.root(
        "root0",
        "root.key",
        "/CN=Test Root/O=Admit",
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n",
    );
    // An intermediate that is not a CA, and one without keyCertSign.
    d.issue(
        "notca",
        "inter.key",
        "/CN=Test Inter/O=Admit",
        "root",
        "root.key",
        "basicConstraints=critical,CA:FALSE\nsubjectKeyIdentifier=hash\n",
    );
    d.issue(
        "noku",
        "inter.key",
        "/CN=Test Inter/O=Admit",
        "root",
        "root.key",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\n",
    );
    // Same key as the root, other name: the AKI matches, the name does not.
    d.root("rootb", "root.key", "/CN=Other Root/O=Admit", CA_EXT);
    // A leaf with an unknown critical extension.
    d.issue(
        "crit",
        "leaf.key",
        "/CN=device",
        "inter",
        "inter.key",
        "basicConstraints=critical,CA:FALSE\n1.3.6.1.4.1.55555.1=critical,ASN1:UTF8String:x\n",
    );

    d.key("other.key", "ec");
    d.issue(
        "impostor",
        "other.key",
        "/CN=Test Inter/O=Admit",
        "root",
        "root.key",
        CA_EXT,
    );

    let root = [d.cert("root.pem")];
    let inter = [d.cert("inter.pem")];
    let leaf = d.cert("leaf.pem");
    let now = SystemTime::now();
    // The CA files openssl itself accepts.
    d.run(&[
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "inter.pem",
        "leaf.pem",
    ]);
    let (ok, _) = testkit::openssl_status(
        d.path(),
        &[
            "verify",
            "-CAfile",
            "root0.pem",
            "-untrusted",
            "inter.pem",
            "leaf.pem",
        ],
    );
    assert!(!ok, "openssl must refuse the pathlen:0 chain too");

    for provider in common::providers() {
        let opts = Options::new(&root, now).with_intermediates(&inter);
        let p = path::validate(provider, &leaf, &opts).unwrap();
        assert_eq!(p.chain().len(), 3);
        assert_eq!(
            p.leaf().subject_alt_names().unwrap().unwrap().dns,
            vec!["device.example".to_string()]
        );

        // EKU.
        path::validate(
            provider,
            &leaf,
            &opts.clone().with_required_eku(path::EKU_SERVER_AUTH),
        )
        .unwrap();
        assert!(matches!(
            path_err(path::validate(provider, &leaf, &opts.clone().with_required_eku(path::EKU_CLIENT_AUTH))),
            PathError::KeyUsage { reason, .. } if reason.contains("1.3.6.1.5.5.7.3.2")
        ));

        // pathLen.
        let root0 = [d.cert("root0.pem")];
        let e = path_err(path::validate(
            provider,
            &leaf,
            &Options::new(&root0, now).with_intermediates(&inter),
        ));
        assert!(
            matches!(e, PathError::PathLenExceeded { path_len: 0, .. }),
            "{e}"
        );
        // The same root issuing the intermediate directly is fine.
        path::validate(provider, &inter[0], &Options::new(&root0, now)).unwrap();

        // Not a CA; no keyCertSign.
        let notca = [d.cert("notca.pem")];
        let e = path_err(path::validate(
            provider,
            &leaf,
            &Options::new(&root, now).with_intermediates(&notca),
        ));
        assert!(matches!(e, PathError::NotCa { .. }), "{e}");
        let noku = [d.cert("noku.pem")];
        let e = path_err(path::validate(
            provider,
            &leaf,
            &Options::new(&root, now).with_intermediates(&noku),
        ));
        assert!(matches!(e, PathError::KeyUsage { .. }), "{e}");

        // Name mismatch: only the other-named root with the same key is trusted.
        let rootb = [d.cert("rootb.pem")];
        let e = path_err(path::validate(
            provider,
            &leaf,
            &Options::new(&rootb, now).with_intermediates(&inter),
        ));
        assert!(
            matches!(&e, PathError::NameMismatch { candidate, .. } if candidate.contains("Other Root")),
            "{e}"
        );

        // Unknown critical extension, then handled by the caller.
        let crit = d.cert("crit.pem");
        let e = path_err(path::validate(provider, &crit, &opts));
        assert!(
            matches!(&e, PathError::UnknownCriticalExtension { oid, .. } if oid == "1.3.6.1.4.1.55555.1"),
            "{e}"
        );
        let handled = [pki::der::asn1::ObjectIdentifier::new_unwrap(
            "1.3.6.1.4.1.55555.1",
        )];
        path::validate(
            provider,
            &crit,
            &opts.clone().with_handled_critical_extensions(&handled),
        )
        .unwrap();

        // A bad signature on a name-matched issuer beats "unknown issuer": an impostor
        // intermediate with the right name and another key.
        let impostor = [d.cert("impostor.pem")];
        let e = path_err(path::validate(
            provider,
            &leaf,
            &Options::new(&root, now).with_intermediates(&impostor),
        ));
        assert!(matches!(e, PathError::BadSignature { .. }), "{e}");
        let both = [impostor[0].clone(), inter[0].clone()];
        let p = path::validate(
            provider,
            &leaf,
            &Options::new(&root, now).with_intermediates(&both),
        )
        .unwrap();
        assert_eq!(p.intermediates(), &inter[..]);

        // Loops: root and intermediate offered as intermediates as well as anchors.
        let all = [inter[0].clone(), root[0].clone(), leaf.clone()];
        path::validate(
            provider,
            &leaf,
            &Options::new(&root, now).with_intermediates(&all),
        )
        .unwrap();
    }
}

#[test]
fn cross_signed_cycle_terminates_with_unknown_issuer() {
    // Two CAs that issued each other: a loop the search must not follow forever.
    let d = Dir::new();
    d.key("a.key", "ec");
    d.key("b.key", "ec");
    d.key("leaf.key", "ec");
    d.root("a0", "a.key", "/CN=CA A", CA_EXT);
    d.root("b0", "b.key", "/CN=CA B", CA_EXT);
    d.issue("a", "a.key", "/CN=CA A", "b0", "b.key", CA_EXT);
    d.issue("b", "b.key", "/CN=CA B", "a0", "a.key", CA_EXT);
    d.issue("leaf", "leaf.key", "/CN=leaf", "a0", "a.key", LEAF_EXT);
    d.key("z.key", "ec");
    d.root("z", "z.key", "/CN=Unrelated", CA_EXT);
    let anchors = [d.cert("z.pem")];
    let inters = [d.cert("a.pem"), d.cert("b.pem")];
    for provider in common::providers() {
        let e = path_err(path::validate(
            provider,
            &d.cert("leaf.pem"),
            &Options::new(&anchors, SystemTime::now()).with_intermediates(&inters),
        ));
        assert!(matches!(e, PathError::UnknownIssuer { .. }), "{e}");
        // With A's self-signed certificate trusted, the path is leaf → A.
        let anchors = [d.cert("a0.pem")];
        let p = path::validate(
            provider,
            &d.cert("leaf.pem"),
            &Options::new(&anchors, SystemTime::now()).with_intermediates(&inters),
        )
        .unwrap();
        assert_eq!(p.chain().len(), 2);
    }
}
