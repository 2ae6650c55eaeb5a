//! Who gets a certificate for which name: the issuance policy, and the conditions the caller's
//! store must still find true when it commits.
//!
//! ```text
//! VerifiedRequest ──▶ caller reads its records (transaction, signer certificate)
//!        │                         │
//!        └──────▶ Responder::decide(request, records, now) ──▶ Decision
//!                   Resend{serial}   the same request again: answer with that certificate
//!                   Issue(Issuance)  template + Conditions ──▶ caller issues, builds the
//!                                    CertRep in memory, then in ONE store transaction checks
//!                                    and applies every condition and records the certificate,
//!                                    then sends
//!                   Refuse(error)    a signed FAILURE with error.fail_info()
//! ```
//!
//! A PKCSReq or RenewalReq is admitted in one of two ways:
//!
//! - **Renewal without a challenge**: the signer certificate chains to our CA and is valid now,
//!   the caller's records say we issued it for SCEP and it is not revoked, the CSR asks for
//!   exactly its subject and subjectAltNames, and `now` falls inside the renewal window (the
//!   last [`IssuancePolicy::renewal_window`] of its validity). The store must find it still
//!   unrevoked at commit ([`Conditions::signer_unrevoked`]).
//! - **Enrollment with a challenge**: anything else, whoever signed it (a self-signed request
//!   certificate, the RA's certificate, another device's), is admitted only by the challenge
//!   policy. A one-time challenge is spent at commit ([`Conditions::consume_challenge`]).
//!
//! Either way the requested key must meet [`KeyRules`], a SHA-1 CSR signature is refused unless
//! allowed, the subject comes from the [`SubjectRule`] (by default the CSR's, size-capped), and a
//! subject equal to one of the server's own names ([`IssuancePolicy::reserved_subjects`]) is
//! refused. A transactionID already bound to another key is a replay; the same transactionID
//! and key after a certificate was issued is a resend, answered with that certificate.

use std::time::{Duration, SystemTime};

use pki::alg::Curve;
use pki::cert::SubjectAltNames;
use pki::cert::issue::Template;
use pki::der::Encode;
use pki::der::asn1::ObjectIdentifier;
use pki::key::KeyKind;
use pki::x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use pki::x509_cert::name::Name;
use zeroize::Zeroizing;

use crate::Error;
use crate::challenge::{ChallengeContext, Verdict};
use crate::message::TransactionId;
use crate::request::{CertificationRequest, RequestBody, SignerStanding, VerifiedRequest};

/// id-kp-clientAuth (RFC 5280 section 4.2.1.12).
pub const CLIENT_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2");
/// sha1WithRSAEncryption (RFC 8017 appendix A.2.4).
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
/// ecdsa-with-SHA1 (RFC 3279 section 2.2.3).
const ECDSA_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

/// Which requested keys may be certified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyRules {
    /// Smallest RSA modulus, in bits. Default 2048. Apple's SCEP payload asks devices for 1024
    /// bits unless the profile sets `Keysize`, so a server for legacy fleets may lower this.
    pub min_rsa_bits: usize,
    /// EC curves accepted. Default P-256, P-384 and P-521.
    pub curves: Vec<Curve>,
    /// Whether Ed25519 keys are accepted. Default false (few SCEP clients make them, and
    /// Apple's MDM client cannot use them).
    pub ed25519: bool,
}

impl Default for KeyRules {
    fn default() -> Self {
        KeyRules {
            min_rsa_bits: 2048,
            curves: vec![Curve::P256, Curve::P384, Curve::P521],
            ed25519: false,
        }
    }
}

impl KeyRules {
    /// Accept RSA keys from `bits` bits (the default rules otherwise).
    pub fn with_min_rsa_bits(mut self, bits: usize) -> Self {
        self.min_rsa_bits = bits;
        self
    }

    /// Check a requested key of `kind`.
    pub fn check(&self, kind: KeyKind) -> Result<(), Error> {
        let ok = match kind {
            KeyKind::Rsa { bits } => bits >= self.min_rsa_bits,
            KeyKind::Ec(c) => self.curves.contains(&c),
            KeyKind::Ed25519 => self.ed25519,
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::KeyNotAllowed(match kind {
                KeyKind::Rsa { bits } => format!(
                    "RSA-{bits} is below the minimum of {} bits",
                    self.min_rsa_bits
                ),
                other => format!("{other:?} keys are not accepted"),
            }))
        }
    }
}

/// The subject and subjectAltNames a new certificate gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The subject name.
    pub name: Name,
    /// The subjectAltNames (empty: none written).
    pub san: SubjectAltNames,
}

/// Decides the subject of a new certificate (not a renewal, which keeps the old one) from the
/// request and the challenge that admitted it, so a challenge can be bound to one device or
/// name. `Err` carries a reason for the failInfoText.
pub trait SubjectRule: Send + Sync {
    /// The subject for `csr`, admitted with `challenge`.
    fn subject(
        &self,
        csr: &CertificationRequest,
        challenge: Option<&str>,
    ) -> Result<Subject, String>;
}

/// The default [`SubjectRule`]: the CSR's subject and requested subjectAltNames as they are,
/// refused when the subject's DER is over `max_subject_der` octets or names nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyRequested {
    /// Largest subject DER accepted, in octets.
    pub max_subject_der: usize,
}

impl Default for CopyRequested {
    fn default() -> Self {
        CopyRequested {
            max_subject_der: 512,
        }
    }
}

impl SubjectRule for CopyRequested {
    fn subject(&self, csr: &CertificationRequest, _: Option<&str>) -> Result<Subject, String> {
        let name = csr.subject().clone();
        let len = name
            .to_der()
            .map_err(|e| format!("the subject cannot be encoded: {e}"))?
            .len();
        if len > self.max_subject_der {
            return Err(format!(
                "the subject is {len} octets, over the limit of {}",
                self.max_subject_der
            ));
        }
        if name.is_empty() {
            return Err("the request names no subject".into());
        }
        let san = csr
            .csr()
            .requested_san()
            .map_err(|e| format!("the requested subjectAltNames are malformed: {e}"))?
            .unwrap_or_default();
        Ok(Subject { name, san })
    }
}

/// What the issuing CA accepts: renewal window, lifetime, keys, names.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuancePolicy {
    /// A renewal without a challenge is accepted only in the last `renewal_window` of the old
    /// certificate's validity. Default 14 days. [`Duration::ZERO`] accepts it at any time.
    pub renewal_window: Duration,
    /// Lifetime of issued certificates (capped by the issuing CA's own notAfter). Default 365
    /// days.
    pub validity: Duration,
    /// How far notBefore is set back from `now`, for clients with slow clocks. Default 1 hour.
    pub backdate: Duration,
    /// Which requested keys may be certified.
    pub keys: KeyRules,
    /// Accept CSRs signed with SHA-1. Default false. (The outer SCEP signature may still use
    /// SHA-1: that is [`crate::RequestPolicy::signatures`].)
    pub allow_sha1_csr: bool,
    /// Subjects no client may obtain: the server's own names (CA, RA, TLS). A request for one
    /// of them is refused whatever admits it.
    pub reserved_subjects: Vec<Name>,
}

impl Default for IssuancePolicy {
    fn default() -> Self {
        IssuancePolicy {
            renewal_window: Duration::from_secs(14 * 24 * 3600),
            validity: Duration::from_secs(365 * 24 * 3600),
            backdate: Duration::from_secs(3600),
            keys: KeyRules::default(),
            allow_sha1_csr: false,
            reserved_subjects: Vec::new(),
        }
    }
}

impl IssuancePolicy {
    /// Use this renewal window ([`Duration::ZERO`]: any time).
    pub fn with_renewal_window(mut self, window: Duration) -> Self {
        self.renewal_window = window;
        self
    }

    /// Issue certificates valid for `validity`.
    pub fn with_validity(mut self, validity: Duration) -> Self {
        self.validity = validity;
        self
    }

    /// Use these key rules.
    pub fn with_keys(mut self, keys: KeyRules) -> Self {
        self.keys = keys;
        self
    }

    /// Accept (or not) CSRs signed with SHA-1.
    pub fn with_sha1_csr(mut self, allow: bool) -> Self {
        self.allow_sha1_csr = allow;
        self
    }

    /// Add subjects no client may obtain (the server's own names).
    pub fn with_reserved_subjects(mut self, names: impl IntoIterator<Item = Name>) -> Self {
        self.reserved_subjects.extend(names);
        self
    }
}

/// A transaction as the caller's store recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    /// SHA-256 of the SubjectPublicKeyInfo the transactionID is bound to
    /// ([`VerifiedRequest::key_fingerprint`]).
    pub key_sha256: [u8; 32],
    /// SHA-256 of the certificate that signed the request that issued
    /// ([`VerifiedRequest::signer_cert_fingerprint`]), if recorded.
    pub signer_cert_sha256: Option<[u8; 32]>,
    /// Serial number (magnitude octets) of the certificate issued in it, if one was.
    pub issued_serial: Option<Vec<u8>>,
}

/// The caller's record of a certificate that our CA issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedRecord {
    /// Issued over SCEP (not, say, the server's TLS certificate or the RA's).
    pub for_scep: bool,
    /// Revoked.
    pub revoked: bool,
}

/// What the caller's store says about a request, read before deciding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// The transaction recorded under the request's transactionID, if any.
    pub transaction: Option<TransactionRecord>,
    /// For a request signed by a certificate that chains to our CA
    /// ([`crate::RequestSigner::issued_serial`]): our record of that certificate, `None` when
    /// we hold none.
    pub signer: Option<IssuedRecord>,
    /// An administrator approved this request after the caller held it as pending (manual
    /// approval): it needs no challenge. The caller sets this only for the request it stored
    /// when it answered PENDING.
    pub approved: bool,
}

/// What must still hold when the caller commits an issuance, checked and applied in the same
/// store transaction that records the certificate. If any fails the caller rolls back and
/// answers FAILURE (or, for a transaction that turned out to be issued meanwhile, the resend).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conditions {
    /// The transaction binding to check and record.
    pub transaction: TransactionBinding,
    /// A one-time challenge to delete; the commit fails if it is no longer there.
    pub consume_challenge: Option<Zeroizing<String>>,
    /// The serial of the certificate being renewed, which must still be unrevoked.
    pub signer_unrevoked: Option<Vec<u8>>,
}

/// A compare-and-set on the transaction record: at commit the record under `id` must still be
/// absent or bound to `key_sha256`, and its issued serial must still be `issued_serial` (what
/// the decision saw). The commit then records the key, the signer certificate and the new
/// serial. If the serial changed meanwhile and the record's signer is this request's, a
/// concurrent copy of this request won: answer with its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionBinding {
    /// The transactionID.
    pub id: TransactionId,
    /// The key it is bound to.
    pub key_sha256: [u8; 32],
    /// The certificate that signed this request.
    pub signer_cert_sha256: [u8; 32],
    /// The issued serial the decision saw (`None`: nothing issued yet).
    pub issued_serial: Option<Vec<u8>>,
}

impl Conditions {
    /// Conditions as [`crate::Responder::decide`] makes them; for stores that test their commit
    /// on their own.
    pub fn new(
        transaction: TransactionBinding,
        consume_challenge: Option<Zeroizing<String>>,
        signer_unrevoked: Option<Vec<u8>>,
    ) -> Self {
        Conditions {
            transaction,
            consume_challenge,
            signer_unrevoked,
        }
    }
}

impl core::fmt::Debug for Conditions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Conditions")
            .field("transaction", &self.transaction.id)
            .field("consume_challenge", &self.consume_challenge.is_some())
            .field("signer_unrevoked", &self.signer_unrevoked)
            .finish()
    }
}

/// How a request was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admission {
    /// A renewal of a certificate we issued, inside the renewal window, without a challenge.
    Renewal,
    /// A new enrollment admitted by the challenge policy.
    Challenge,
    /// A request an administrator approved ([`Records::approved`]).
    Approved,
}

/// A certificate to issue, and what must hold when it is recorded.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Issuance {
    /// How the request was admitted.
    pub admission: Admission,
    /// What to issue (subject, names, validity, key usage, clientAuth).
    pub template: Template,
    /// What the commit must check and apply.
    pub conditions: Conditions,
}

/// The outcome of [`crate::Responder::decide`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Decision {
    /// Issue this certificate.
    Issue(Box<Issuance>),
    /// The request was answered before: send again the certificate with this serial
    /// (magnitude octets). Nothing is issued. CertPoll and resent PKCSReqs end here.
    Resend {
        /// Serial number of the certificate issued in this transaction.
        serial: Vec<u8>,
    },
    /// Refuse; answer with a FAILURE carrying `error.fail_info()` and the error's text.
    Refuse(Error),
}

/// Decide a verified request. See the module docs for the rules. `issuer_not_after` caps the
/// validity; `challenge` is the responder's challenge policy. `Err` is a refusal.
pub(crate) fn decide(
    policy: &IssuancePolicy,
    subjects: &dyn SubjectRule,
    challenge: &dyn crate::challenge::ChallengePolicy,
    req: &VerifiedRequest,
    records: &Records,
    issuer_not_after: SystemTime,
    now: SystemTime,
) -> Result<Decision, Error> {
    let id = req.transaction_id();
    let key = req.key_fingerprint();
    let signer_fp = req.signer_fingerprint();
    if let Some(t) = &records.transaction
        && t.key_sha256 != key
        && t.key_sha256 != signer_fp
    {
        return Err(Error::TransactionReplayed(id.as_str().to_owned()));
    }
    let issued_before = records
        .transaction
        .as_ref()
        .and_then(|t| t.issued_serial.clone());

    let csr = match req.body() {
        RequestBody::PkcsReq(c) | RequestBody::RenewalReq(c) => c,
        RequestBody::CertPoll { .. } => {
            return match issued_before {
                Some(serial) => Ok(Decision::Resend { serial }),
                None => Err(Error::NothingIssued),
            };
        }
        _ => {
            return Err(Error::ApiMisuse(
                "decide() handles PKCSReq, RenewalReq and CertPoll; answer GetCert and GetCRL from the records",
            ));
        }
    };
    if let Some(serial) = &issued_before {
        // The same transaction, key and signer again (a lost reply): never a second
        // certificate. The same transaction and key signed by another certificate is a renewal
        // (clients derive the transactionID from the key, and a renewal keeps the key).
        let same_signer = records
            .transaction
            .as_ref()
            .and_then(|t| t.signer_cert_sha256)
            .is_none_or(|s| s == req.signer_cert_fingerprint());
        if same_signer {
            return Ok(Decision::Resend {
                serial: serial.clone(),
            });
        }
    }

    // The requested key and the CSR's own signature.
    let kind = pki::public_key::kind(csr.public_key())?;
    policy.keys.check(kind)?;
    let csr_alg = &csr.csr().request().algorithm.oid;
    if !policy.allow_sha1_csr && (*csr_alg == SHA1_WITH_RSA || *csr_alg == ECDSA_WITH_SHA1) {
        return Err(Error::Pki(pki::Error::AlgorithmNotAllowed {
            what: "a SHA-1 signature on the certificate request".into(),
        }));
    }

    let (admission, consume) = match renewal_refusal(policy, req, csr, records, now) {
        Ok(()) => (Admission::Renewal, None),
        Err(_) if records.approved => (Admission::Approved, None),
        Err(why_not) => {
            let ctx = ChallengeContext {
                message_type: req.message_type(),
                transaction_id: id,
                signed_by_issued_cert: req.signer().is_issued_by_us(),
            };
            match challenge.check(csr.challenge_password(), &ctx) {
                // A RenewalReq or a PKCSReq signed by one of our certificates that is not a
                // valid renewal is an enrollment like any other from here on.
                Verdict::Admitted => (Admission::Challenge, None),
                Verdict::ConsumeOnCommit(c) => (Admission::Challenge, Some(c)),
                Verdict::Refused => {
                    return Err(match why_not {
                        // Signed by one of our certificates but not a valid renewal: say why.
                        Some(reason) => Error::RenewalRefused(reason),
                        None => Error::ChallengeRefused,
                    });
                }
            }
        }
    };
    let subject = match admission {
        // A renewal keeps the names of the certificate it renews.
        Admission::Renewal => {
            let cert = req.signer().certificate().ok_or(Error::ApiMisuse(
                "a renewal signer always has a parsed certificate",
            ))?;
            Subject {
                name: cert.tbs_certificate().subject().clone(),
                san: pki::cert::Cert::from_certificate(cert)?
                    .subject_alt_names()?
                    .unwrap_or_default(),
            }
        }
        Admission::Challenge | Admission::Approved => subjects
            .subject(csr, csr.challenge_password())
            .map_err(Error::SubjectRefused)?,
    };
    // Compared as RFC 4514 strings without regard to ASCII case, so a PrintableString or a
    // differently cased copy of a reserved name is caught as well as the exact DER.
    let wanted = subject.name.to_string();
    if policy
        .reserved_subjects
        .iter()
        .any(|r| r.to_string().eq_ignore_ascii_case(&wanted))
    {
        return Err(Error::SubjectRefused(format!(
            "{} is one of the server's own names",
            subject.name
        )));
    }

    let usage = match kind {
        KeyKind::Rsa { .. } => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
        _ => KeyUsages::DigitalSignature.into(),
    };
    let not_after = (now + policy.validity).min(issuer_not_after);
    let not_before = now.checked_sub(policy.backdate).unwrap_or(now);
    let template = Template::end_entity(not_before, not_after)
        .with_subject(subject.name)
        .with_san(subject.san)
        .with_key_usage(Some(KeyUsage(usage)))
        .with_eku(CLIENT_AUTH);
    let signer_unrevoked = match admission {
        Admission::Renewal => req.signer().issued_serial(),
        Admission::Challenge | Admission::Approved => None,
    };
    Ok(Decision::Issue(Box::new(Issuance {
        admission,
        template,
        conditions: Conditions {
            transaction: TransactionBinding {
                id: id.clone(),
                key_sha256: key,
                signer_cert_sha256: req.signer_cert_fingerprint(),
                issued_serial: issued_before,
            },
            consume_challenge: consume,
            signer_unrevoked,
        },
    })))
}

/// `Ok` when `req` is a valid challenge-free renewal; else why not: `None` for a self-signed
/// signer (an ordinary enrollment), `Some(reason)` for a signer that chains to our CA.
fn renewal_refusal(
    policy: &IssuancePolicy,
    req: &VerifiedRequest,
    csr: &CertificationRequest,
    records: &Records,
    now: SystemTime,
) -> Result<(), Option<String>> {
    let SignerStanding::Issued(_) = req.signer().standing() else {
        return Err(None);
    };
    let refuse = |s: &str| Err(Some(s.to_owned()));
    let Some(cert) = req.signer().certificate() else {
        return refuse("the signer certificate cannot be read");
    };
    match records.signer {
        None => return refuse("the signer certificate was not issued over SCEP by this CA"),
        Some(r) if !r.for_scep => {
            return refuse("the signer certificate was not issued over SCEP by this CA");
        }
        Some(r) if r.revoked => return refuse("the signer certificate is revoked"),
        Some(_) => {}
    }
    let tbs = cert.tbs_certificate();
    if csr.subject() != tbs.subject() {
        return refuse("a renewal must ask for the subject of the certificate it renews");
    }
    let old_san = pki::cert::Cert::from_certificate(cert)
        .ok()
        .and_then(|c| c.subject_alt_names().ok())
        .flatten()
        .unwrap_or_default();
    let new_san = csr.csr().requested_san().ok().flatten().unwrap_or_default();
    if old_san != new_san {
        return refuse("a renewal must ask for the subjectAltNames of the certificate it renews");
    }
    if !policy.renewal_window.is_zero() {
        let not_after = tbs.validity().not_after.to_system_time();
        let opens = not_after
            .checked_sub(policy.renewal_window)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if now < opens {
            return refuse(&format!(
                "renewal is accepted only in the last {} days of the certificate's validity",
                policy.renewal_window.as_secs() / 86_400
            ));
        }
    }
    Ok(())
}
