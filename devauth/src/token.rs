//! Device auth tokens: JWTs (RFC 7519) signed with JWS compact serialization (RFC 7515).
//!
//! ```text
//! base64url({"alg":"RS256","typ":"JWT"}) . base64url(claims) . base64url(signature)
//! claims: {"jti": auth set id, "sub": device id, "iss", "exp", "iat",
//!          "mender.tenant"?, "mender.device": true, "mender.plan"?, "mender.trial"?,
//!          "mender.addons"?}
//! ```
//!
//! Minting goes through [`pki::key::Signer`], so the server's key may live in an HSM.
//! Verification allows only the algorithms the caller lists (never `none`, never HMAC), checks
//! the signature through `pki`, then `exp` with a leeway, then the token's standing in the
//! caller's records ([`Revocations`]): its auth set (`jti`) must still be accepted and its
//! tokens not revoked since `iat`.

use std::collections::HashSet;
use std::sync::Arc;

use base64::Engine as _;
use pki::alg::{Curve, EcdsaEncoding, HashAlg, SignatureScheme};
use pki::key::{KeyKind, PrivateKey, Signer};
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use spki::SubjectPublicKeyInfoOwned;

use crate::admission::TokenGrant;
use crate::model::Timestamp;
use crate::{Error, Result};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// One week, Mender's default token lifetime.
pub const DEFAULT_LIFETIME: u64 = 7 * 24 * 3600;

/// Largest token accepted for verification.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// A JWS algorithm this crate mints and verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 section 3.3).
    Rs256,
    /// ECDSA P-256 with SHA-256, `r || s` (RFC 7518 section 3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl Algorithm {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
        }
    }

    fn from_name(name: &str) -> Result<Self> {
        match name {
            "RS256" => Ok(Algorithm::Rs256),
            "ES256" => Ok(Algorithm::Es256),
            "EdDSA" => Ok(Algorithm::EdDsa),
            "none" => Err(Error::TokenAlgorithm("\"none\" is never accepted".into())),
            n if n.starts_with("HS") => Err(Error::TokenAlgorithm(format!(
                "{n:?}: HMAC is never accepted"
            ))),
            n => Err(Error::TokenAlgorithm(format!("{n:?} is not supported"))),
        }
    }

    /// The algorithm that goes with a signing key of this kind: RS256 for RSA, ES256 for
    /// P-256, EdDSA for Ed25519.
    pub fn for_key(kind: KeyKind) -> Result<Self> {
        match kind {
            KeyKind::Rsa { .. } => Ok(Algorithm::Rs256),
            KeyKind::Ec(Curve::P256) => Ok(Algorithm::Es256),
            KeyKind::Ed25519 => Ok(Algorithm::EdDsa),
            other => Err(Error::TokenAlgorithm(format!(
                "no JWS algorithm for a {other:?} key"
            ))),
        }
    }

    fn fits(self, kind: KeyKind) -> bool {
        Self::for_key(kind).ok() == Some(self)
    }

    fn scheme(self) -> SignatureScheme {
        match self {
            Algorithm::Rs256 => SignatureScheme::RsaPkcs1v15(HashAlg::Sha256),
            Algorithm::Es256 => SignatureScheme::Ecdsa {
                hash: HashAlg::Sha256,
                encoding: EcdsaEncoding::Fixed,
            },
            Algorithm::EdDsa => SignatureScheme::Ed25519,
        }
    }
}

/// A `mender.addons` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addon {
    /// The add-on's name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
}

/// The claims of a device token, serialised in Mender's field order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The auth set id.
    pub jti: String,
    /// The device id.
    pub sub: String,
    /// The issuer.
    pub iss: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time, seconds since the epoch.
    pub iat: u64,
    /// The tenant id.
    #[serde(
        rename = "mender.tenant",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tenant: Option<String>,
    /// Always true in a device token.
    #[serde(rename = "mender.device", default)]
    pub device: bool,
    /// The tenant's plan.
    #[serde(
        rename = "mender.plan",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub plan: Option<String>,
    /// Whether the tenant is on a trial.
    #[serde(
        rename = "mender.trial",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub trial: Option<bool>,
    /// Enabled add-ons.
    #[serde(
        rename = "mender.addons",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub addons: Option<Vec<Addon>>,
}

/// How tokens are issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerConfig {
    /// The `iss` claim.
    pub issuer: String,
    /// Lifetime in seconds (`exp - iat`).
    pub lifetime: u64,
    /// The `mender.plan` claim, if any.
    pub plan: Option<String>,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            issuer: "Mender".into(),
            lifetime: DEFAULT_LIFETIME,
            plan: None,
        }
    }
}

impl IssuerConfig {
    /// The default configuration with another lifetime.
    pub fn with_lifetime(mut self, seconds: u64) -> Self {
        self.lifetime = seconds;
        self
    }

    /// The claims for a grant, issued at `now`.
    pub fn claims(&self, grant: &TokenGrant, tenant: Option<String>, now: Timestamp) -> Claims {
        Claims {
            jti: grant.auth_set_id.to_string(),
            sub: grant.device_id.to_string(),
            iss: self.issuer.clone(),
            exp: now.saturating_add(self.lifetime),
            iat: now,
            tenant,
            device: true,
            plan: self.plan.clone(),
            trial: None,
            addons: None,
        }
    }
}

/// Mint a token over `claims` with `signer` (its kind picks the algorithm).
pub fn mint(signer: &dyn Signer, claims: &Claims, rng: &mut dyn CryptoRng) -> Result<String> {
    let payload = serde_json::to_vec(claims)
        .map_err(|e| Error::TokenMalformed(format!("claims encoding: {e}")))?;
    mint_raw(signer, &payload, rng)
}

/// Mint a token over claims given as exact JSON bytes (for claims this crate does not model).
pub fn mint_raw(
    signer: &dyn Signer,
    claims_json: &[u8],
    rng: &mut dyn CryptoRng,
) -> Result<String> {
    let alg = Algorithm::for_key(signer.kind())?;
    let header = format!("{{\"alg\":\"{}\",\"typ\":\"JWT\"}}", alg.name());
    let mut token = B64.encode(header);
    token.push('.');
    token.push_str(&B64.encode(claims_json));
    let sig = signer.sign(alg.scheme(), token.as_bytes(), rng)?;
    token.push('.');
    token.push_str(&B64.encode(sig));
    Ok(token)
}

/// Load a token-signing key from PEM: PKCS#8 `PRIVATE KEY`, or PKCS#1 `RSA PRIVATE KEY` (the
/// format of Mender's `server_priv_key_path`), converted to PKCS#8 first.
pub fn load_signing_key(provider: &dyn CryptoProvider, pem: &str) -> Result<Arc<dyn PrivateKey>> {
    let (label, der) = der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| pki::Error::BadPrivateKey(format!("not a PEM block: {e}")))?;
    let pkcs8 = match label {
        "PRIVATE KEY" => der,
        "RSA PRIVATE KEY" => {
            use der::Encode as _;
            let info = pkcs8::PrivateKeyInfoOwned::new(
                spki::AlgorithmIdentifierOwned {
                    oid: pki::alg::oid::RSA_ENCRYPTION,
                    parameters: Some(der::asn1::Null.into()),
                },
                der::asn1::OctetString::new(der)
                    .map_err(|e| pki::Error::BadPrivateKey(e.to_string()))?,
            );
            info.to_der()
                .map_err(|e| pki::Error::BadPrivateKey(e.to_string()))?
        }
        other => {
            return Err(pki::Error::BadPrivateKey(format!(
                "expected a \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" PEM block, found \"{other}\""
            ))
            .into());
        }
    };
    Ok(provider.private_key_from_pkcs8_der(&pkcs8)?)
}

/// What the records say of a token that verified cryptographically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Its auth set is accepted and its tokens were not revoked since it was issued.
    Good,
    /// Its tokens were revoked at or after its `iat` (rejected, deleted, decommissioned).
    Revoked,
    /// Its auth set or device is not (or no longer) accepted, whatever the clocks say: this
    /// refuses a token even if the clock stepped back past the revocation.
    NotAccepted,
}

/// The records a token's standing is read from.
pub trait Revocations {
    /// The standing of the token for auth set `jti` on device `sub`, issued at `iat`. A store
    /// that cannot answer returns [`Error::Store`]: never a made-up "good" or "revoked".
    fn standing(&self, jti: &str, sub: &str, iat: Timestamp) -> Result<Standing>;
}

/// No records: every authentic, unexpired token is good (for gateways that only check
/// signatures).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRevocations;

impl Revocations for NoRevocations {
    fn standing(&self, _: &str, _: &str, _: Timestamp) -> Result<Standing> {
        Ok(Standing::Good)
    }
}

/// Every token with one of these `jti` values is revoked, whenever issued.
impl Revocations for HashSet<String> {
    fn standing(&self, jti: &str, _: &str, _: Timestamp) -> Result<Standing> {
        Ok(if self.contains(jti) {
            Standing::Revoked
        } else {
            Standing::Good
        })
    }
}

/// Verifies tenant tokens, the JWTs a device sends in `tenant_token` to say which tenant it
/// belongs to. Only a tenant token signed by the tenant service's key may set a device token's
/// `mender.tenant` claim; without this verifier a server has no tenants and ignores the field.
#[derive(Debug, Clone)]
pub struct TenantVerifier<'a> {
    provider: &'a dyn CryptoProvider,
    key: SubjectPublicKeyInfoOwned,
    kind: KeyKind,
    algorithms: Vec<Algorithm>,
}

#[derive(Deserialize)]
struct TenantClaims {
    #[serde(rename = "mender.tenant")]
    tenant: String,
    #[serde(default)]
    exp: Option<u64>,
}

impl<'a> TenantVerifier<'a> {
    /// A verifier for tenant tokens signed by `key`, with the one algorithm that fits it.
    pub fn new(provider: &'a dyn CryptoProvider, key: SubjectPublicKeyInfoOwned) -> Result<Self> {
        let kind = pki::public_key::kind(&key).map_err(|e| Error::BadPublicKey(e.to_string()))?;
        let alg = Algorithm::for_key(kind)?;
        Ok(Self {
            provider,
            key,
            kind,
            algorithms: vec![alg],
        })
    }

    /// The tenant id of an authentic tenant token (not expired at `now`, when it carries an
    /// `exp`).
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<String> {
        let refused = |why: String| Error::TenantToken(why);
        let (_, payload) = verify_jws(self.provider, &self.key, self.kind, &self.algorithms, token)
            .map_err(|e| refused(e.to_string()))?;
        let claims: TenantClaims =
            serde_json::from_slice(&payload).map_err(|e| refused(format!("claims: {e}")))?;
        if claims.exp.is_some_and(|exp| now > exp) {
            return Err(refused("expired".into()));
        }
        if claims.tenant.is_empty() || claims.tenant.len() > 128 {
            return Err(refused("mender.tenant must be 1 to 128 characters".into()));
        }
        Ok(claims.tenant)
    }
}

/// A token whose signature, algorithm, expiry and revocation status were checked. Only
/// [`TokenVerifier`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    claims: Claims,
    algorithm: Algorithm,
}

impl VerifiedToken {
    /// The claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The algorithm it was signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// A gateway's answer about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Authentic, current, not revoked.
    Valid(VerifiedToken),
    /// Authentic but expired.
    Expired {
        /// The `exp` claim.
        exp: u64,
        /// The time of the check.
        now: u64,
    },
    /// Anything else: malformed, wrong algorithm, bad signature, revoked, not a device token.
    Invalid(Error),
}

/// Check a JWS compact token's shape, header, algorithm (one of `algorithms`, fitting the key)
/// and signature; the algorithm and the decoded payload.
fn verify_jws(
    provider: &dyn CryptoProvider,
    key: &SubjectPublicKeyInfoOwned,
    kind: KeyKind,
    algorithms: &[Algorithm],
    token: &str,
) -> Result<(Algorithm, Vec<u8>)> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Error::TokenMalformed(format!(
            "token is {} bytes, over the limit of {MAX_TOKEN_LEN}",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::TokenMalformed(
            "expected three dot-separated parts".into(),
        ));
    };
    let b64 = |what: &str, part: &str| {
        B64.decode(part)
            .map_err(|_| Error::TokenMalformed(format!("{what} is not base64url")))
    };
    let header: Header = serde_json::from_slice(&b64("header", h)?)
        .map_err(|e| Error::TokenMalformed(format!("header: {e}")))?;
    let alg = Algorithm::from_name(&header.alg)?;
    if !algorithms.contains(&alg) || !alg.fits(kind) {
        return Err(Error::TokenAlgorithm(format!(
            "{} does not fit the verification key",
            alg.name()
        )));
    }
    if header.crit.is_some() {
        return Err(Error::TokenMalformed("unsupported \"crit\" header".into()));
    }
    let sig = b64("signature", s)?;
    let signed_len = h.len() + 1 + p.len();
    let signed = token.as_bytes().get(..signed_len).unwrap_or_default();
    pki::verify::signature(
        provider,
        &Policy::default(),
        key,
        alg.scheme(),
        signed,
        &sig,
    )
    .map_err(|_| Error::TokenSignature)?;
    let payload = b64("claims", p)?;
    Ok((alg, payload))
}

/// Verifies device tokens against one public key.
#[derive(Debug, Clone)]
pub struct TokenVerifier<'a> {
    provider: &'a dyn CryptoProvider,
    key: SubjectPublicKeyInfoOwned,
    kind: KeyKind,
    algorithms: Vec<Algorithm>,
    leeway: u64,
    issuer: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

impl<'a> TokenVerifier<'a> {
    /// A verifier for tokens signed by the key in `key`, allowing the one algorithm that fits
    /// it, no leeway and any issuer.
    pub fn new(provider: &'a dyn CryptoProvider, key: SubjectPublicKeyInfoOwned) -> Result<Self> {
        let kind = pki::public_key::kind(&key).map_err(|e| Error::BadPublicKey(e.to_string()))?;
        let alg = Algorithm::for_key(kind)?;
        Ok(Self {
            provider,
            key,
            kind,
            algorithms: vec![alg],
            leeway: 0,
            issuer: None,
        })
    }

    /// Allow `exp` to be this many seconds in the past (clock skew).
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Require this `iss`.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Verify `token` at `now`.
    pub fn verify(
        &self,
        token: &str,
        now: Timestamp,
        revoked: &dyn Revocations,
    ) -> Result<VerifiedToken> {
        let (alg, payload) =
            verify_jws(self.provider, &self.key, self.kind, &self.algorithms, token)?;
        let claims: Claims = serde_json::from_slice(&payload)
            .map_err(|e| Error::TokenMalformed(format!("claims: {e}")))?;
        if !claims.device {
            return Err(Error::TokenMalformed("not a device token".into()));
        }
        if let Some(iss) = &self.issuer
            && *iss != claims.iss
        {
            return Err(Error::TokenMalformed(format!(
                "issuer {:?} is not {iss:?}",
                claims.iss
            )));
        }
        if now > claims.exp.saturating_add(self.leeway) {
            return Err(Error::TokenExpired {
                exp: claims.exp,
                now,
            });
        }
        if claims.iat > now.saturating_add(self.leeway) {
            return Err(Error::TokenMalformed("issued in the future".into()));
        }
        match revoked.standing(&claims.jti, &claims.sub, claims.iat)? {
            Standing::Good => {}
            Standing::Revoked | Standing::NotAccepted => return Err(Error::TokenRevoked),
        }
        Ok(VerifiedToken {
            claims,
            algorithm: alg,
        })
    }

    /// The gateway's three-way answer.
    pub fn check(&self, token: &str, now: Timestamp, revoked: &dyn Revocations) -> Verdict {
        match self.verify(token, now, revoked) {
            Ok(t) => Verdict::Valid(t),
            Err(Error::TokenExpired { exp, now }) => Verdict::Expired { exp, now },
            Err(e) => Verdict::Invalid(e),
        }
    }
}
