//! `admitd inspect` for device-auth blobs: a signed auth request (the body file plus
//! `--signature`, the `X-MEN-Signature` value) or a JWT (its compact form).
//!
//! ```text
//! { "authRequest": { "signature": "verified", "scheme", "identity", "identityHash",
//!                    "pubkey": { "keyKind", "sha256Fingerprint", "pem" }, "tenantToken" } }
//! { "jwt": { "signature": "verified", "algorithm", "header", "claims", "expiresIn" } }
//! ```
//!
//! Both are verified, the request against the key it carries, the token against the key given
//! with `--key` or the data directory's `devauth/jwt.pub.pem`; a failure is the `devauth`
//! crate's typed error, printed as such.

use std::path::Path;

use ::devauth::auth_request::AuthRequestVerifier;
use ::devauth::token::{NoRevocations, TokenVerifier};
use base64::Engine as _;
use serde_json::{Value, json};

/// Why a device-auth blob was not inspected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `devauth` crate refused it (the typed verification error).
    #[error(transparent)]
    Devauth(#[from] ::devauth::Error),
    /// No key to verify a token with.
    #[error(
        "no key to verify the token: give --key PUBLIC-KEY-PEM, or --data-dir with a \
         devauth/jwt.pub.pem"
    )]
    NoKey,
    /// The key file could not be read or is not a PKIX `PUBLIC KEY` PEM.
    #[error("{path}: {reason}")]
    Key {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The input is not UTF-8 text.
    #[error("a JWT must be ASCII text")]
    NotText,
}

/// Whether `input` looks like a compact JWS (`eyJ...` `.` `...` `.` `...`).
pub fn looks_like_jwt(input: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(input) else {
        return false;
    };
    let s = s.trim();
    s.starts_with("eyJ")
        && s.split('.').count() == 3
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn provider() -> &'static dyn pki::provider::CryptoProvider {
    // The default provider (RustCrypto) is always compiled in.
    pki::provider::compiled()[0]
}

/// Verify an auth request: `body` is the exact body bytes, `signature` the `X-MEN-Signature`
/// value (standard base64).
pub fn auth_request(body: &[u8], signature: &str) -> Result<Value, Error> {
    let req =
        AuthRequestVerifier::new(provider()).verify_bytes(signature.trim().as_bytes(), body)?;
    let key = req.pubkey();
    Ok(json!({
        "authRequest": {
            "signature": "verified",
            "scheme": format!("{:?}", key.auth_request_scheme()),
            "identity": req.identity().to_json(),
            "identityHash": req.identity().hash_hex(),
            "pubkey": {
                "keyKind": format!("{:?}", key.kind()),
                "sha256Fingerprint": hex::encode(
                    <sha2::Sha256 as sha2::Digest>::digest(key.der())
                ),
                "pem": key.pem(),
            },
            "tenantToken": req.tenant_token(),
        }
    }))
}

/// Verify a JWT with the PKIX public key in `key_file`, or else the data directory's
/// `devauth/jwt.pub.pem`, at time `now`.
pub fn jwt(
    token: &[u8],
    key_file: Option<&Path>,
    data_dir: &Path,
    now: u64,
) -> Result<Value, Error> {
    let token = std::str::from_utf8(token)
        .map_err(|_| Error::NotText)?
        .trim();
    let default = super::jwt_public_key_path(data_dir);
    let path = match key_file {
        Some(p) => p.to_owned(),
        None if default.exists() => default,
        None => return Err(Error::NoKey),
    };
    let key_err = |reason: String| Error::Key {
        path: path.display().to_string(),
        reason,
    };
    let pem = std::fs::read_to_string(&path).map_err(|e| key_err(e.to_string()))?;
    let key =
        ::devauth::pubkey::DevicePublicKey::from_pem(&pem).map_err(|e| key_err(e.to_string()))?;
    let verified =
        TokenVerifier::new(provider(), key.spki().clone())?.verify(token, now, &NoRevocations)?;
    let header = token
        .split('.')
        .next()
        .and_then(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .unwrap_or(Value::Null);
    let claims = verified.claims();
    Ok(json!({
        "jwt": {
            "signature": "verified",
            "algorithm": verified.algorithm().name(),
            "key": path.display().to_string(),
            "header": header,
            "claims": claims,
            "expiresIn": claims.exp.saturating_sub(now),
            "revocation": "not checked (inspect does not open the database)",
        }
    }))
}

/// Route `admitd inspect` input to the device-auth inspectors: `Some` for an auth request
/// (`signature` given) or a JWT, `None` for anything else.
pub fn dispatch(
    input: &[u8],
    signature: Option<&str>,
    key_file: Option<&Path>,
    data_dir: &Path,
) -> Option<Result<Value, Error>> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match signature {
        Some(sig) => Some(auth_request(input, sig)),
        None if looks_like_jwt(input) => Some(jwt(input, key_file, data_dir, now)),
        None => None,
    }
}
