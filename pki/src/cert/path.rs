//! Certificate path validation (RFC 5280 section 6), with time as an argument.
//!
//! What is checked, for every certificate from the leaf up to a trust anchor:
//!
//! - the signature, through the provider and the caller's [`Policy`];
//! - validity at `now` (anchors included, as OpenSSL does);
//! - issuer/subject chaining by [`names_match`] (DER equality, or the simple RFC 4518
//!   comparison for PrintableString/UTF8String);
//! - for issuers: basicConstraints cA (an anchor without basicConstraints is accepted, as a v1
//!   root), pathLenConstraint, and keyUsage keyCertSign when keyUsage is present;
//! - critical extensions: basicConstraints, keyUsage, extKeyUsage, subjectKeyIdentifier,
//!   authorityKeyIdentifier, subjectAltName and certificatePolicies are understood; any other
//!   critical extension fails unless the caller lists it in
//!   [`Options::handled_critical_extensions`] (name constraints and policy constraints are not
//!   processed, so they fall in this class);
//! - optionally an extended key usage, on the leaf and on every issuer that restricts EKUs.
//!
//! Authority/subject key identifiers only order the candidates; they are not required to match.
//! The search is depth-first over anchors and intermediates, never reuses a certificate in one
//! path, stops at [`Options::max_depth`] certificates, and gives up with
//! [`PathError::BudgetExceeded`] after [`Options::max_candidates`] candidate issuers. Revocation
//! is out of scope.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use x509_cert::time::Time;

use super::Cert;
use super::ext::Parsed;
use super::name::names_match;
use crate::provider::CryptoProvider;
use crate::verify::Policy;
use crate::{Error, PathError, Result};

/// anyExtendedKeyUsage (RFC 5280 section 4.2.1.12).
pub const ANY_EXTENDED_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");
/// id-kp-serverAuth.
pub const EKU_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth.
pub const EKU_CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");

/// Default for [`Options::max_candidates`].
pub const DEFAULT_MAX_CANDIDATES: usize = 100;
/// Default for [`Options::max_depth`] (leaf and anchor included).
pub const DEFAULT_MAX_DEPTH: usize = 8;

/// What a validation trusts and accepts.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options<'a> {
    /// Trust anchors. A self-issued anchor always ends a path; one that is not self-issued (an
    /// intermediate) ends a path only with [`Options::partial_chain`], and is otherwise used as
    /// an intermediate.
    pub anchors: &'a [Cert],
    /// Untrusted certificates that may complete the path (the peer's chain, a CA bundle).
    pub intermediates: &'a [Cert],
    /// The validation time.
    pub now: SystemTime,
    /// Signature policy applied to every signature on the path.
    pub policy: Policy,
    /// Let an anchor that is not self-issued terminate the path (OpenSSL's `-partial_chain`).
    pub partial_chain: bool,
    /// Critical extensions the caller processes itself; they do not fail validation.
    pub handled_critical_extensions: &'a [ObjectIdentifier],
    /// How many candidate issuers may be tried in all before giving up.
    pub max_candidates: usize,
    /// The longest path accepted, leaf and anchor included.
    pub max_depth: usize,
    /// An extended key usage the leaf must allow (for example [`EKU_CLIENT_AUTH`]).
    pub required_eku: Option<ObjectIdentifier>,
}

impl<'a> Options<'a> {
    /// Trust `anchors` at `now`, with the default policy, no intermediates, no partial chains,
    /// [`DEFAULT_MAX_CANDIDATES`] and [`DEFAULT_MAX_DEPTH`].
    pub fn new(anchors: &'a [Cert], now: SystemTime) -> Self {
        Self {
            anchors,
            intermediates: &[],
            now,
            policy: Policy::default(),
            partial_chain: false,
            handled_critical_extensions: &[],
            max_candidates: DEFAULT_MAX_CANDIDATES,
            max_depth: DEFAULT_MAX_DEPTH,
            required_eku: None,
        }
    }

    /// Set the intermediates.
    pub fn with_intermediates(mut self, intermediates: &'a [Cert]) -> Self {
        self.intermediates = intermediates;
        self
    }

    /// Set the signature policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Allow or refuse partial chains.
    pub fn with_partial_chain(mut self, allow: bool) -> Self {
        self.partial_chain = allow;
        self
    }

    /// Set the critical extensions the caller handles.
    pub fn with_handled_critical_extensions(mut self, oids: &'a [ObjectIdentifier]) -> Self {
        self.handled_critical_extensions = oids;
        self
    }

    /// Set the candidate budget.
    pub fn with_max_candidates(mut self, n: usize) -> Self {
        self.max_candidates = n;
        self
    }

    /// Set the maximum depth.
    pub fn with_max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Require an extended key usage on the leaf.
    pub fn with_required_eku(mut self, eku: ObjectIdentifier) -> Self {
        self.required_eku = Some(eku);
        self
    }
}

/// A path that validated: the leaf first, the trust anchor last. Only [`validate`] builds one.
#[derive(Debug, Clone)]
pub struct ValidatedPath {
    chain: Vec<Cert>,
}

impl ValidatedPath {
    /// The certificates from the leaf to the anchor, both included.
    pub fn chain(&self) -> &[Cert] {
        &self.chain
    }

    /// The leaf.
    pub fn leaf(&self) -> &Cert {
        // A path has at least the leaf.
        &self.chain[0]
    }

    /// The trust anchor that ended the path.
    pub fn anchor(&self) -> &Cert {
        &self.chain[self.chain.len() - 1]
    }

    /// The certificates between the leaf and the anchor.
    pub fn intermediates(&self) -> &[Cert] {
        let n = self.chain.len();
        if n <= 2 { &[] } else { &self.chain[1..n - 1] }
    }
}

/// Validate `leaf` up to one of `options.anchors`.
pub fn validate(
    provider: &dyn CryptoProvider,
    leaf: &Cert,
    options: &Options<'_>,
) -> Result<ValidatedPath> {
    if options.anchors.is_empty() {
        return Err(Error::ApiMisuse(
            "path validation needs at least one trust anchor",
        ));
    }
    let leaf_ext = Parsed::from_extensions(leaf.extensions())?;
    check_time(leaf, options.now)?;
    check_critical(leaf, &leaf_ext, options)?;
    check_eku(leaf, &leaf_ext, options)?;
    if options.anchors.iter().any(|a| a.der() == leaf.der()) {
        return Ok(ValidatedPath {
            chain: vec![leaf.clone()],
        });
    }

    let mut pool = Vec::with_capacity(options.anchors.len() + options.intermediates.len());
    for a in options.anchors {
        let tbs = a.certificate().tbs_certificate();
        let terminal = options.partial_chain || names_match(tbs.subject(), tbs.issuer());
        pool.push(Candidate {
            cert: a,
            ext: Parsed::from_extensions(a.extensions()),
            anchor: terminal,
        });
    }
    for i in options.intermediates {
        pool.push(Candidate {
            cert: i,
            ext: Parsed::from_extensions(i.extensions()),
            anchor: false,
        });
    }

    let mut search = Search {
        provider,
        options,
        pool: &pool,
        tried: 0,
        best: None,
    };
    let mut path = Vec::new();
    match search.extend(leaf, &leaf_ext, &mut path)? {
        true => {
            let mut chain = Vec::with_capacity(path.len() + 1);
            chain.push(leaf.clone());
            chain.extend(path.iter().map(|&i| pool[i].cert.clone()));
            Ok(ValidatedPath { chain })
        }
        false => Err(search
            .best
            .map(|(_, e)| e)
            .unwrap_or_else(|| unknown_issuer(leaf))),
    }
}

struct Candidate<'a> {
    cert: &'a Cert,
    ext: Result<Parsed>,
    anchor: bool,
}

struct Search<'s, 'a> {
    provider: &'s dyn CryptoProvider,
    options: &'s Options<'a>,
    pool: &'s [Candidate<'a>],
    tried: usize,
    best: Option<(u8, Error)>,
}

impl Search<'_, '_> {
    /// Remember `err` if it is more specific than what we have.
    fn record(&mut self, err: Error) {
        let rank = match &err {
            Error::Path(PathError::UnknownIssuer { .. }) => 0,
            Error::Path(PathError::TooLong { .. }) => 1,
            Error::Path(PathError::NameMismatch { .. }) => 2,
            _ => 3,
        };
        if self.best.as_ref().is_none_or(|(r, _)| rank > *r) {
            self.best = Some((rank, err));
        }
    }

    /// Find an issuer for `child` (the leaf, or the last certificate of `path`), extending
    /// `path` with pool indices. `Ok(true)` when an anchor was reached; `Err` only for the
    /// budget.
    fn extend(&mut self, child: &Cert, child_ext: &Parsed, path: &mut Vec<usize>) -> Result<bool> {
        let child_tbs = child.certificate().tbs_certificate();
        // Anchors first, then candidates whose subjectKeyIdentifier matches the child's
        // authorityKeyIdentifier.
        let mut order: Vec<(bool, bool, usize)> = Vec::new();
        for (i, c) in self.pool.iter().enumerate() {
            let key_match = match (
                &child_ext.aki,
                c.ext.as_ref().ok().and_then(|e| e.ski.as_ref()),
            ) {
                (Some(aki), Some(ski)) => aki == ski,
                _ => false,
            };
            order.push((!c.anchor, !key_match, i));
        }
        order.sort();

        let mut any_named = false;
        for (_, no_key_match, i) in order {
            let cand = &self.pool[i];
            if path.contains(&i)
                || cand.cert.der() == child.der()
                || path
                    .iter()
                    .any(|&p| self.pool[p].cert.der() == cand.cert.der())
            {
                continue;
            }
            let cand_tbs = cand.cert.certificate().tbs_certificate();
            if !names_match(cand_tbs.subject(), child_tbs.issuer()) {
                if !no_key_match {
                    any_named = true;
                    self.record(
                        PathError::NameMismatch {
                            subject: child.subject_string(),
                            issuer: child_tbs.issuer().to_string(),
                            candidate: cand.cert.subject_string(),
                        }
                        .into(),
                    );
                }
                continue;
            }
            any_named = true;
            self.tried += 1;
            if self.tried > self.options.max_candidates {
                return Err(PathError::BudgetExceeded {
                    budget: self.options.max_candidates,
                }
                .into());
            }
            // The path would hold the leaf, `path`, and this candidate.
            if path.len() + 2 > self.options.max_depth {
                self.record(
                    PathError::TooLong {
                        max_depth: self.options.max_depth,
                    }
                    .into(),
                );
                continue;
            }
            if let Err(e) = self.check_issuer(cand, child, path) {
                self.record(e);
                continue;
            }
            if cand.anchor {
                path.push(i);
                return Ok(true);
            }
            let Ok(cand_ext) = cand.ext.as_ref() else {
                continue;
            };
            path.push(i);
            if self.extend(cand.cert, cand_ext, path)? {
                return Ok(true);
            }
            path.pop();
        }
        if !any_named {
            self.record(unknown_issuer(child));
        }
        Ok(false)
    }

    /// Whether `cand` may issue `child` with `path` (the CAs already above the leaf) below it.
    fn check_issuer(&self, cand: &Candidate<'_>, child: &Cert, path: &[usize]) -> Result<()> {
        let ext = cand.ext.as_ref().map_err(Clone::clone)?;
        let cert = cand.cert;
        let subject = || cert.subject_string();
        check_time(cert, self.options.now)?;
        check_critical(cert, ext, self.options)?;
        match &ext.basic_constraints {
            Some(bc) if !bc.ca => return Err(PathError::NotCa { subject: subject() }.into()),
            None if !cand.anchor => return Err(PathError::NotCa { subject: subject() }.into()),
            Some(bc) => {
                if let Some(n) = bc.path_len_constraint {
                    // Non-self-issued intermediates between this issuer and the leaf.
                    let below = path
                        .iter()
                        .filter(|&&p| {
                            let t = self.pool[p].cert.certificate().tbs_certificate();
                            !names_match(t.subject(), t.issuer())
                        })
                        .count();
                    if below > usize::from(n) {
                        return Err(PathError::PathLenExceeded {
                            subject: subject(),
                            path_len: n,
                        }
                        .into());
                    }
                }
            }
            None => {}
        }
        if ext.key_usage.as_ref().is_some_and(|ku| !ku.key_cert_sign()) {
            return Err(PathError::KeyUsage {
                subject: subject(),
                reason: "keyUsage lacks keyCertSign".into(),
            }
            .into());
        }
        check_eku(cert, ext, self.options)?;
        let spki = cert
            .certificate()
            .tbs_certificate()
            .subject_public_key_info();
        child
            .verify_signed_by(self.provider, &self.options.policy, spki)
            .map_err(|e| match e {
                Error::BadSignature => PathError::BadSignature {
                    subject: child.subject_string(),
                    issuer: subject(),
                }
                .into(),
                other => other,
            })
    }
}

fn unknown_issuer(cert: &Cert) -> Error {
    PathError::UnknownIssuer {
        issuer: cert.certificate().tbs_certificate().issuer().to_string(),
    }
    .into()
}

fn to_system_time(t: &Time) -> SystemTime {
    t.to_system_time()
}

fn check_time(cert: &Cert, now: SystemTime) -> Result<()> {
    let validity = cert.certificate().tbs_certificate().validity();
    let not_before = to_system_time(&validity.not_before);
    let not_after = to_system_time(&validity.not_after);
    if now < not_before {
        return Err(PathError::NotYetValid {
            subject: cert.subject_string(),
            not_before,
            now,
        }
        .into());
    }
    if now > not_after {
        return Err(PathError::CertExpired {
            subject: cert.subject_string(),
            not_after,
            now,
        }
        .into());
    }
    Ok(())
}

fn check_critical(cert: &Cert, ext: &Parsed, options: &Options<'_>) -> Result<()> {
    match ext
        .unknown_critical
        .iter()
        .find(|oid| !options.handled_critical_extensions.contains(oid))
    {
        Some(oid) => Err(PathError::UnknownCriticalExtension {
            subject: cert.subject_string(),
            oid: oid.to_string(),
        }
        .into()),
        None => Ok(()),
    }
}

fn check_eku(cert: &Cert, ext: &Parsed, options: &Options<'_>) -> Result<()> {
    let (Some(required), Some(eku)) = (options.required_eku, &ext.ext_key_usage) else {
        return Ok(());
    };
    if eku
        .0
        .iter()
        .any(|o| *o == required || *o == ANY_EXTENDED_KEY_USAGE)
    {
        Ok(())
    } else {
        Err(PathError::KeyUsage {
            subject: cert.subject_string(),
            reason: format!("extKeyUsage does not allow {required}"),
        }
        .into())
    }
}
