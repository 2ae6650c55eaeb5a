//! Helpers shared by the integration tests of `devauth` (the crate-independent ones are in
//! `testkit`).
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use devauth::http;
use devauth::pubkey::DevicePublicKey;
use pki::alg::{EcdsaEncoding, HashAlg, SignatureScheme};
use pki::key::{KeyKind, PrivateKey};

/// Read a file below `vectors/devauth/`.
pub fn vector(rel: &str) -> Vec<u8> {
    testkit::vector(&format!("devauth/{rel}"))
}

/// Sub-folders of `vectors/devauth/<dir>` whose names start with `prefix`, sorted.
pub fn case_dirs(dir: &str, prefix: &str) -> Vec<PathBuf> {
    let root = testkit::vectors().join("devauth").join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("listing {}: {e}", root.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| {
            p.is_dir()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no {prefix}* cases under {}", root.display());
    v
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Every provider compiled into this build, checked against this crate's features.
pub fn providers() -> Vec<&'static dyn pki::provider::CryptoProvider> {
    testkit::providers!(pki)
}

/// Headers carrying `sig` (standard base64) as `X-Men-Signature`.
pub fn headers(sig_b64: &str) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        "X-Men-Signature",
        http::HeaderValue::from_str(sig_b64.trim()).expect("header value"),
    );
    h
}

/// The scheme a Mender client signs with for a key of this kind.
pub fn client_scheme(kind: KeyKind) -> SignatureScheme {
    match kind {
        KeyKind::Ec(_) => SignatureScheme::Ecdsa {
            hash: HashAlg::Sha256,
            encoding: EcdsaEncoding::Der,
        },
        KeyKind::Ed25519 => SignatureScheme::Ed25519,
        _ => SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
    }
}

/// A device with a key, signing auth requests the way the Mender client does.
pub struct TestDevice {
    pub key: Arc<dyn PrivateKey>,
    pub id_data: String,
}

impl TestDevice {
    pub fn ed25519(provider: &dyn pki::provider::CryptoProvider, seed: u64, id_data: &str) -> Self {
        let key = provider
            .generate_key(pki::key::KeySpec::Ed25519, &mut testkit::rng(seed))
            .expect("generate");
        Self {
            key,
            id_data: id_data.into(),
        }
    }

    pub fn pubkey_pem(&self) -> String {
        use pki::der::Encode;
        let der = self.key.spki().to_der().expect("spki der");
        DevicePublicKey::from_der(&der)
            .expect("key")
            .pem()
            .to_owned()
    }

    /// Body bytes (Go client layout, trailing newline) and headers.
    pub fn request(&self) -> http::Request<Vec<u8>> {
        let body = format!(
            "{}\n",
            serde_json::json!({"id_data": self.id_data, "tenant_token": "", "pubkey": self.pubkey_pem()})
        )
        .into_bytes();
        self.signed(body)
    }

    pub fn signed(&self, body: Vec<u8>) -> http::Request<Vec<u8>> {
        use base64::Engine;
        let sig = self
            .key
            .sign(client_scheme(self.key.kind()), &body, &mut testkit::rng(1))
            .expect("sign");
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig);
        http::Request::builder()
            .method("POST")
            .uri(devauth::auth_request::PATH)
            .header("x-men-signature", b64)
            .body(body)
            .expect("request")
    }
}
