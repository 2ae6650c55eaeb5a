//! WebAuthn `apple` anonymous attestation (W3C Web Authentication Level 2, section 8.8).

use der::Decode;
use der::asn1::OctetString;
use pki::cert::path::{self, ValidatedPath};
use pki::provider::CryptoProvider;
use sha2::Digest as _;
use spki::SubjectPublicKeyInfoOwned;
use subtle::ConstantTimeEq;

use super::{AttStmt, Options, WebAuthnError, apple_webauthn_root, same_key, x5c_certs};
use crate::Result;
use crate::apple::oid::WEBAUTHN_NONCE;

/// The nonce extension's value.
///
/// ```text
/// AppleAnonymousAttestation ::= SEQUENCE {
///     nonce [1] EXPLICIT OCTET STRING }   -- SHA-256(authData || clientDataHash)
/// ```
#[derive(der::Sequence)]
struct NonceExtension {
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT")]
    nonce: OctetString,
}

pub(super) fn verify(
    provider: &dyn CryptoProvider,
    stmt: &AttStmt,
    to_be_signed: &[u8],
    credential_key: &SubjectPublicKeyInfoOwned,
    options: &Options<'_>,
) -> Result<ValidatedPath> {
    super::only_fields(stmt, &["alg", "x5c"])?;
    let certs = x5c_certs(stmt)?;
    let (leaf, intermediates) = certs.split_first().ok_or(WebAuthnError::NoCertificates)?;
    let default_anchor;
    let anchors = match options.apple_roots {
        Some(a) => a,
        None => {
            default_anchor = [apple_webauthn_root().clone()];
            &default_anchor[..]
        }
    };
    let handled = [WEBAUTHN_NONCE];
    let opts = path::Options::new(anchors, options.now)
        .with_intermediates(intermediates)
        .with_policy(options.chain_policy)
        .with_handled_critical_extensions(&handled);
    let path = path::validate(provider, leaf, &opts).map_err(WebAuthnError::Chain)?;

    let ext = leaf
        .extensions()
        .iter()
        .find(|e| e.extn_id == WEBAUTHN_NONCE)
        .ok_or(WebAuthnError::NonceMissing)?;
    let value = NonceExtension::from_der(ext.extn_value.as_bytes())
        .map_err(|e| WebAuthnError::NonceMalformed(e.to_string()))?;
    let expected = sha2::Sha256::digest(to_be_signed);
    let nonce = value.nonce.as_bytes();
    if nonce.len() != expected.len() || !bool::from(nonce.ct_eq(&expected)) {
        return Err(WebAuthnError::NonceMismatch("the nonce extension").into());
    }
    let cert_key = leaf
        .certificate()
        .tbs_certificate()
        .subject_public_key_info();
    // `alg` is not part of the format, but a statement that names one must name the key's.
    if let Some(alg) = stmt.alg {
        super::cose::check_alg_fits_key(alg, cert_key)?;
    }
    if !same_key(cert_key, credential_key) {
        return Err(WebAuthnError::KeyMismatch("the credential certificate's key").into());
    }
    Ok(path)
}
