//! `/scep`: SCEP (RFC 8894) on both listeners, issuing from the data directory's device CA
//! (never from the intermediate that issues the server's TLS certificate).
//!
//! ```text
//! GET/POST /scep ──▶ scep::Responder::handle (RA: scep/ra.pem, RSA-2048)
//!                      ├─ GetCACaps, GetCACert (RA + device CA + root), GetNextCACert (404)
//!                      ├─ refused ──▶ signed FAILURE CertRep, or 4xx text
//!                      └─ verified request (no storage read yet)
//!                           GetCert  ──▶ a certificate issued over SCEP, by serial
//!                           GetCRL   ──▶ FAILURE badRequest (no CRL published)
//!                           PKCSReq / RenewalReq / CertPoll
//!                             ──▶ records (transaction, signer certificate) ──▶ Responder::decide
//!                                   Resend  ──▶ the certificate already issued (never a second)
//!                                   Refuse  ──▶ FAILURE with failInfo and a reason
//!                                   Issue   ──▶ issue + SUCCESS built in memory
//!                                               ──▶ store::commit_issuance (one transaction:
//!                                                   challenge, transaction, renewed cert still
//!                                                   unrevoked, new cert) ──▶ send
//! ```
//!
//! Challenge policy: a static secret when `scep_challenge` is set, else one-time challenges
//! from `admitd scep challenge`, consumed inside the issuing transaction. A request signed by a
//! certificate this CA issued renews without a challenge only when `scep::issuance` says so:
//! issued over SCEP, unrevoked, the same names, inside the renewal window
//! (`scep_renewal_window_s`). Anything else needs a challenge; the server's own names (root,
//! intermediate, device CA, RA, TLS) are never issued. Requests that issue nothing write nothing.
//!
//! Every request is answered at once (no manual approval, so no PENDING). A fault of ours
//! (database, signing) answers 500 with a generic body and logs the cause.

pub mod inspect;
pub mod postgres;
pub mod ra;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::scep::challenge::{ChallengePolicy, OneTimeChallenge, StaticChallenge};
use ::scep::http;
use ::scep::issuance::{Admission, TransactionRecord};
use ::scep::{
    Decision, FailInfo, IssuancePolicy, Records, RequestBody, Responder, VerifiedRequest,
};
use pki::cert::issue::issue;
use pki::der::Encode;
use pki::key::{Decrypter, PrivateKey, Signer};
use pki::x509_cert::Certificate;
use rand_core::CryptoRng;

use crate::data_dir::{self, DataDir};
use crate::storage::{IssuedCertificate, Storage};

/// Validity of certificates issued over SCEP (capped by the device CA's notAfter).
pub const CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// failInfoText when a one-time challenge is gone by the time the request commits.
const CHALLENGE_GONE: &str = "the challenge password was refused (unknown, used or expired)";
/// failInfoText when a transactionID is bound to another key.
const TRANSACTION_TAKEN: &str = "this transactionID was used before with a different key";

/// How long a CRL from `/crl/device.crl` or GetCRL is valid (its nextUpdate).
pub const CRL_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How long a CRL that was made is served again before a new one is made.
pub const CRL_REUSE: Duration = Duration::from_secs(60);
/// The path the device CA's CRL is served at, on both listeners.
pub const CRL_PATH: &str = "/crl/device.crl";
/// `purpose` of SCEP-issued certificates in `issued_certificates`.
pub const PURPOSE: &str = "scep";

/// The static SCEP challenge from the settings; `Debug` does not show it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct StaticSecret(String);

impl TryFrom<String> for StaticSecret {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl StaticSecret {
    /// The secret.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for StaticSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StaticSecret(..)")
    }
}

impl core::str::FromStr for StaticSecret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("the SCEP challenge must not be empty".into());
        }
        Ok(StaticSecret(s.to_owned()))
    }
}

/// The SCEP service: responder, issuing CA and database.
pub struct Service {
    responder: Responder,
    provider: &'static dyn pki::provider::CryptoProvider,
    /// The device CA's key and certificate.
    ca_key: Arc<dyn PrivateKey>,
    issuer: Certificate,
    db: Arc<dyn store::ScepStore>,
    manual_approval: bool,
    /// The URL written as each new certificate's CRL distribution point.
    crl_url: std::sync::OnceLock<String>,
    /// The last CRL made, and when.
    crl_cache: std::sync::Mutex<Option<(SystemTime, Vec<u8>)>>,
    /// The RA key and certificate, which also sign enrollment profiles.
    ra_signer: (Arc<dyn pki::key::Signer>, Certificate),
}

impl core::fmt::Debug for Service {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Service")
            .field("responder", &self.responder)
            .finish_non_exhaustive()
    }
}

/// The database file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admit.sqlite3")
}

/// What `/scep` issues and to whom, from the settings.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// The static challenge; `None` selects one-time challenges.
    pub challenge: Option<&'a StaticSecret>,
    /// Lifetime of issued certificates.
    pub cert_validity: Duration,
    /// Renewal without a challenge only in this last part of a certificate's life (zero: any
    /// time).
    pub renewal_window: Duration,
    /// Hold new enrollments (not renewals) as PENDING until `admitd scep approve` or `reject`.
    pub manual_approval: bool,
    /// A PostgreSQL URL: keep SCEP's records there instead of the data directory's SQLite.
    pub database: Option<&'a str>,
}

impl Default for Settings<'_> {
    fn default() -> Self {
        Settings {
            challenge: None,
            cert_validity: CERT_VALIDITY,
            renewal_window: Duration::from_secs(14 * 24 * 3600),
            manual_approval: false,
            database: None,
        }
    }
}

/// Our own answer to a fault of ours (storage, signing): 500 with a generic body. The cause is
/// logged, never sent.
fn internal_error(what: &str, cause: &dyn std::fmt::Display) -> http::Response<Vec<u8>> {
    tracing::error!(error = %cause, "{what}");
    let mut r = http::Response::new(b"internal error\n".to_vec());
    *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    r
}

impl Service {
    /// Open the RA identity (creating it on first start) and the database for the CA in
    /// `data`, issuing under `settings`.
    pub fn open(data: &DataDir, settings: &Settings<'_>) -> Result<Service, data_dir::Error> {
        let ca = &data.ca;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let ra = ra::Ra::open_or_create(&data.path.join("scep"), ca, &data.storage, &mut rng)?;
        // A connection of its own for the request handlers, or a PostgreSQL pool.
        let db: Arc<dyn store::ScepStore> = match settings.database {
            Some(url) => Arc::new(postgres::PgStore::open(url, 16)?),
            None => Arc::new(Storage::open(&database_path(&data.path))?),
        };
        let policy: Arc<dyn ChallengePolicy> = match settings.challenge {
            Some(s) => Arc::new(StaticChallenge::new(s.expose())),
            None => Arc::new(OneTimeChallenge),
        };
        // No client may obtain a certificate in one of the server's own names.
        let mut reserved = vec![
            ca.root.tbs_certificate().subject().clone(),
            ca.intermediate.tbs_certificate().subject().clone(),
            ca.device.tbs_certificate().subject().clone(),
            ra.certificate.tbs_certificate().subject().clone(),
        ];
        reserved.extend(
            data.tls
                .chain
                .first()
                .map(|c| c.tbs_certificate().subject().clone()),
        );
        let issuance = IssuancePolicy::default()
            .with_validity(settings.cert_validity)
            .with_renewal_window(settings.renewal_window)
            .with_reserved_subjects(reserved);
        let signer: Arc<dyn Signer> = ra.key.clone();
        let ra_signer = (signer.clone(), ra.certificate.clone());
        let decrypter: Arc<dyn Decrypter> = ra.key.clone();
        let responder = Responder::new(
            ca.provider,
            &[ca.device.clone(), ca.root.clone()],
            (signer, ra.certificate.clone()),
            (decrypter, ra.certificate.clone()),
            policy,
        )
        .map_err(|e| data_dir::Error::BadFile {
            path: data.path.join("scep").join("ra.pem"),
            reason: format!("cannot serve SCEP with it: {e}"),
        })?
        .with_issuance(issuance);
        tracing::info!(
            challenge = if settings.challenge.is_some() {
                "static"
            } else {
                "one-time"
            },
            renewal_window_s = settings.renewal_window.as_secs(),
            manual_approval = settings.manual_approval,
            "SCEP ready"
        );
        Ok(Service {
            responder,
            provider: ca.provider,
            ca_key: ca.device_key.clone(),
            issuer: ca.device.clone(),
            db,
            manual_approval: settings.manual_approval,
            crl_url: std::sync::OnceLock::new(),
            crl_cache: std::sync::Mutex::new(None),
            ra_signer,
        })
    }

    /// Store a fresh one-time challenge valid for `ttl` (what an enrollment profile carries).
    pub fn mint_challenge(&self, ttl: Duration) -> Result<String, crate::storage::Error> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        self.db.add_challenge(SystemTime::now(), ttl, &mut rng)
    }

    /// What the records say of the certificate with this serial (lowercase hex of the DER
    /// INTEGER contents): issued over SCEP, revoked; `None` when we never issued it.
    pub fn certificate_record(
        &self,
        serial_hex: &str,
    ) -> Result<Option<::scep::issuance::IssuedRecord>, crate::storage::Error> {
        self.db.issued_record(serial_hex)
    }

    /// SHA-256 of the certificate whose signed request obtained `serial_hex` (for a renewal:
    /// the certificate it replaces).
    pub fn renewed_from(&self, serial_hex: &str) -> Result<Option<Vec<u8>>, crate::storage::Error> {
        self.db.issued_by_request_signed_with(serial_hex)
    }

    /// The key and certificate that sign what the server hands out (SCEP replies,
    /// enrollment profiles): the RA identity, issued by the device CA.
    pub fn signer(&self) -> (&dyn pki::key::Signer, &Certificate) {
        (&*self.ra_signer.0, &self.ra_signer.1)
    }

    /// The device CA's certificate (the issuer of device identities).
    pub fn device_ca(&self) -> &Certificate {
        &self.issuer
    }

    /// The crypto provider.
    pub fn provider(&self) -> &'static dyn pki::provider::CryptoProvider {
        self.provider
    }

    /// Answer one SCEP HTTP request: verify, read the records, decide, issue and build the
    /// reply in memory, commit in one transaction, then return the reply.
    pub fn handle(&self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let now = SystemTime::now();
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        match self.responder.handle(req, now, &mut rng) {
            ::scep::Incoming::Answer(r) => r,
            ::scep::Incoming::Refused { response, error } => {
                tracing::info!(%error, status = response.status().as_u16(), "SCEP request refused");
                response
            }
            ::scep::Incoming::Request(vr) => self.answer(req, &vr, now, &mut rng),
        }
    }

    fn answer(
        &self,
        http_req: &http::Request<Vec<u8>>,
        req: &VerifiedRequest,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> http::Response<Vec<u8>> {
        let fail = |fail: FailInfo, text: &str, rng: &mut dyn CryptoRng| {
            tracing::info!(
                transaction = req.transaction_id().as_str(),
                ?fail,
                text,
                "SCEP FAILURE"
            );
            self.responder
                .failure(req, fail, Some(text), rng)
                .unwrap_or_else(|e| internal_error("building a FAILURE CertRep failed", &e))
        };
        match req.body() {
            RequestBody::PkcsReq(_) | RequestBody::RenewalReq(_) | RequestBody::CertPoll { .. } => {
            }
            RequestBody::GetCert { issuer, serial } => {
                if issuer != self.issuer.tbs_certificate().subject() {
                    return fail(FailInfo::BadCertId, "not an issuer this CA knows", rng);
                }
                return self.resend(req, &hex::encode(serial), rng);
            }
            RequestBody::GetCrl { issuer, .. } => {
                if issuer != self.issuer.tbs_certificate().subject() {
                    return fail(FailInfo::BadCertId, "not an issuer this CA knows", rng);
                }
                return match self.crl(now, rng) {
                    Ok(crl) => self
                        .responder
                        .success_crl(req, &crl, rng)
                        .unwrap_or_else(|e| internal_error("building a CRL CertRep failed", &e)),
                    Err(e) => internal_error("building the CRL failed", &e),
                };
            }
            _ => return fail(FailInfo::BadRequest, "unsupported request", rng),
        }
        // A request held for approval answers for itself until an administrator decides.
        let held = match self.db.pending(req.transaction_id()) {
            Ok(p) => p,
            Err(e) => return internal_error("reading pending SCEP requests failed", &e),
        };
        if let Some(p) = held {
            if p.key_sha256 != req.key_fingerprint() && p.key_sha256 != req.signer_fingerprint() {
                return fail(FailInfo::BadRequest, TRANSACTION_TAKEN, rng);
            }
            match p.status.as_str() {
                "pending" => {
                    return self.responder.pending(req, rng).unwrap_or_else(|e| {
                        internal_error("building a PENDING CertRep failed", &e)
                    });
                }
                "approved" => {
                    // Verify the held request again and issue from it, answering this one.
                    let original = match self.responder.verify_request(&p.request, now, rng) {
                        Ok(o) => o,
                        Err(rejection) => {
                            let text = format!(
                                "the approved request no longer verifies: {}",
                                rejection.error()
                            );
                            return fail(FailInfo::BadRequest, &text, rng);
                        }
                    };
                    let mut records = match self.records(&original) {
                        Ok(r) => r,
                        Err(e) => return internal_error("reading SCEP records failed", &e),
                    };
                    records.approved = true;
                    return self.issue(req, &original, &records, None, now, rng);
                }
                _ => {
                    let text = match &p.reason {
                        Some(r) => format!("rejected by an administrator: {r}"),
                        None => "rejected by an administrator".to_owned(),
                    };
                    return fail(FailInfo::BadRequest, &text, rng);
                }
            }
        }
        let records = match self.records(req) {
            Ok(r) => r,
            Err(e) => return internal_error("reading SCEP records failed", &e),
        };
        let hold = if self.manual_approval {
            Some(http_req)
        } else {
            None
        };
        self.issue(req, req, &records, hold, now, rng)
    }

    /// Decide `source` over `records` and answer `reply_to` (the same request, or a CertPoll
    /// for an approved one): resend, refuse, hold for approval (when `hold` carries the HTTP
    /// request and the admission was by challenge), or issue, build the reply and commit.
    fn issue(
        &self,
        reply_to: &VerifiedRequest,
        source: &VerifiedRequest,
        records: &Records,
        hold: Option<&http::Request<Vec<u8>>>,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> http::Response<Vec<u8>> {
        let req = reply_to;
        let fail = |fail: FailInfo, text: &str, rng: &mut dyn CryptoRng| {
            tracing::info!(
                transaction = req.transaction_id().as_str(),
                ?fail,
                text,
                "SCEP FAILURE"
            );
            self.responder
                .failure(req, fail, Some(text), rng)
                .unwrap_or_else(|e| internal_error("building a FAILURE CertRep failed", &e))
        };
        let issuance = match self.responder.decide(source, records, now) {
            Decision::Refuse(e) => return fail(e.fail_info(), &e.to_string(), rng),
            Decision::Resend { serial } => return self.resend(req, &hex::encode(serial), rng),
            Decision::Issue(i) => i,
            other => {
                return internal_error("unexpected SCEP decision", &format!("{other:?}"));
            }
        };
        if let Some(http_req) = hold
            && issuance.admission == Admission::Challenge
        {
            let bytes = match ::scep::Operation::from_request(http_req, &::scep::Limits::default())
            {
                Ok(::scep::Operation::PkiOperation(b)) => b,
                _ => return internal_error("re-reading a verified request failed", &"no body"),
            };
            let subject = issuance
                .template
                .subject
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default();
            return match self.db.hold(&issuance.conditions, &bytes, &subject, now) {
                Ok(store::Hold::Held) => {
                    tracing::info!(
                        transaction = req.transaction_id().as_str(),
                        subject,
                        "SCEP request held for approval"
                    );
                    self.responder
                        .pending(req, rng)
                        .unwrap_or_else(|e| internal_error("building a PENDING CertRep failed", &e))
                }
                Ok(store::Hold::ChallengeGone) => fail(FailInfo::BadRequest, CHALLENGE_GONE, rng),
                Ok(store::Hold::Replayed) => fail(FailInfo::BadRequest, TRANSACTION_TAKEN, rng),
                Err(e) => internal_error("holding a SCEP request failed", &e),
            };
        }
        let Some(csr) = source.certification_request() else {
            return internal_error("an issuance without a CSR", &"decide() broke its contract");
        };
        // Issue and build the reply in memory; nothing is written yet.
        let mut template = issuance.template.clone();
        if let Some(url) = self.crl_url.get() {
            match pki::cert::crl::distribution_point(url) {
                Ok(ext) => template = template.with_extension(ext),
                Err(e) => return internal_error("encoding the CRL distribution point failed", &e),
            }
        }
        let cert = match issue(
            self.provider,
            &*self.ca_key,
            Some(&self.issuer),
            csr.public_key(),
            &template,
            rng,
        ) {
            Ok(c) => c,
            Err(e) => return internal_error("issuing a certificate failed", &e),
        };
        let tbs = cert.tbs_certificate();
        let serial = hex::encode(tbs.serial_number().as_bytes());
        let der = match cert.to_der() {
            Ok(d) => d,
            Err(e) => return internal_error("encoding a certificate failed", &e),
        };
        let reply = match self
            .responder
            .success(req, &[cert.clone(), self.issuer.clone()], rng)
        {
            Ok(r) => r,
            Err(e) => return internal_error("building a SUCCESS CertRep failed", &e),
        };
        let record = IssuedCertificate {
            serial: serial.clone(),
            subject: tbs.subject().to_string(),
            not_after: tbs.validity().not_after.to_date_time().to_string(),
            purpose: PURPOSE.into(),
            der,
        };
        // One transaction: the challenge, the transaction binding, the renewed certificate's
        // standing and the new certificate, all or nothing.
        let mt = req.message_type().as_str();
        match self
            .db
            .commit_issuance(&issuance.conditions, mt, &record, now)
        {
            Ok(store::Commit::Done) => {
                tracing::info!(
                    transaction = req.transaction_id().as_str(),
                    subject = %tbs.subject(),
                    serial,
                    admission = ?issuance.admission,
                    "SCEP certificate issued"
                );
                reply
            }
            Ok(store::Commit::ChallengeGone) => fail(FailInfo::BadRequest, CHALLENGE_GONE, rng),
            Ok(store::Commit::AlreadyIssued(serial)) => self.resend(req, &serial, rng),
            Ok(store::Commit::Replayed) => fail(FailInfo::BadRequest, TRANSACTION_TAKEN, rng),
            Ok(store::Commit::SignerRevoked) => fail(
                FailInfo::BadRequest,
                "the certificate being renewed is revoked",
                rng,
            ),
            Err(e) => internal_error("committing a SCEP issuance failed", &e),
        }
    }

    /// The device CA's current CRL (DER). Anyone may fetch it, so it is made at most once per
    /// [`CRL_REUSE`] (a revocation shows within that time) instead of costing a database read
    /// and a signature per request.
    pub fn crl(
        &self,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        let mut cached = self.crl_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((made, der)) = cached.as_ref()
            && now.duration_since(*made).is_ok_and(|age| age < CRL_REUSE)
        {
            return Ok(der.clone());
        }
        let der = self.make_crl(now, rng)?;
        *cached = Some((now, der.clone()));
        Ok(der)
    }

    /// A new CRL: every revoked SCEP certificate, valid for [`CRL_VALIDITY`], numbered by the
    /// time it was made.
    fn make_crl(
        &self,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        let revoked = self
            .db
            .revoked()?
            .into_iter()
            .map(|(serial, at)| {
                Ok(pki::cert::crl::Revoked {
                    serial: hex::decode(serial)?,
                    at: SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(at)?),
                })
            })
            .collect::<Result<Vec<_>, Box<dyn std::error::Error + Send + Sync>>>()?;
        let number = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let contents = pki::cert::crl::CrlContents {
            this_update: now.checked_sub(Duration::from_secs(300)).unwrap_or(now),
            next_update: now + CRL_VALIDITY,
            number,
            revoked,
        };
        Ok(pki::cert::crl::build(
            self.provider,
            &*self.ca_key,
            &self.issuer,
            &contents,
            rng,
        )?)
    }

    /// `GET /crl/device.crl`: the CRL as DER (`application/pkix-crl`, RFC 5280 section 4.2.1.13
    /// and RFC 2585); 500 with a generic body if it cannot be made.
    pub fn crl_response(&self) -> http::Response<Vec<u8>> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        match self.crl(SystemTime::now(), &mut rng) {
            Ok(der) => {
                let mut r = http::Response::new(der);
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/pkix-crl"),
                );
                r
            }
            Err(e) => internal_error("building the CRL failed", &e),
        }
    }

    /// Name `url` as the CRL distribution point of every certificate issued from now on
    /// (called once the HTTP listener's address is known, unless the settings named one).
    pub fn set_crl_url(&self, url: String) {
        if self.crl_url.set(url).is_err() {
            tracing::debug!("the CRL URL was set already");
        }
    }

    /// What the store says about `req`: its transaction, and the signer certificate if it
    /// chains to our CA.
    fn records(&self, req: &VerifiedRequest) -> Result<Records, crate::storage::Error> {
        let transaction = self
            .db
            .transaction(req.transaction_id())?
            .map(|t| TransactionRecord {
                key_sha256: t.key_sha256,
                signer_cert_sha256: t.signer_cert_sha256,
                issued_serial: t.serial.and_then(|s| hex::decode(s).ok()),
            });
        let signer = match req.signer().issued_serial() {
            Some(serial) => self.db.issued_record(&hex::encode(serial))?,
            None => None,
        };
        Ok(Records {
            transaction,
            signer,
            approved: false,
        })
    }

    /// SUCCESS with the SCEP-issued certificate `serial` (hex), or FAILURE badCertId.
    fn resend(
        &self,
        req: &VerifiedRequest,
        serial: &str,
        rng: &mut dyn CryptoRng,
    ) -> http::Response<Vec<u8>> {
        use pki::der::Decode as _;
        let der = match self.db.issued_der(serial, PURPOSE) {
            Ok(Some(d)) => d,
            Ok(None) => {
                return self
                    .responder
                    .failure(req, FailInfo::BadCertId, Some("no such certificate"), rng)
                    .unwrap_or_else(|e| internal_error("building a FAILURE CertRep failed", &e));
            }
            Err(e) => return internal_error("reading issued certificates failed", &e),
        };
        let cert = match Certificate::from_der(&der) {
            Ok(c) => c,
            Err(e) => return internal_error("a stored certificate does not parse", &e),
        };
        self.responder
            .success(req, &[cert, self.issuer.clone()], rng)
            .unwrap_or_else(|e| internal_error("building a SUCCESS CertRep failed", &e))
    }
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The data directory has no database yet.
    #[error("{0}: no database; start admitd once with this data directory first")]
    NoDatabase(PathBuf),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    /// The serial is not hex.
    #[error("{0:?} is not a hexadecimal serial number")]
    BadSerial(String),
    /// No request with this transactionID is waiting for a decision.
    #[error("no request with transactionID {0:?} is pending")]
    NotPending(String),
    /// No unrevoked certificate issued over SCEP has this serial.
    #[error("no unrevoked certificate issued over SCEP has serial {0}")]
    NoSuchCertificate(String),
}

/// Where the admin commands find SCEP's records: the data directory's SQLite database, or
/// the PostgreSQL database named by `--database`.
#[derive(Debug, Clone, Copy)]
pub struct AdminTarget<'a> {
    /// The data directory.
    pub data_dir: &'a Path,
    /// The PostgreSQL URL, when SCEP's records live there.
    pub database: Option<&'a str>,
}

fn admin_store(target: AdminTarget<'_>) -> Result<Box<dyn store::ScepStore>, AdminError> {
    if let Some(url) = target.database {
        return Ok(Box::new(postgres::PgStore::open(url, 2)?));
    }
    let path = database_path(target.data_dir);
    if !path.is_file() {
        return Err(AdminError::NoDatabase(path));
    }
    Ok(Box::new(Storage::open(&path)?))
}

/// `admitd scep pending`: the requests held for approval.
pub fn pending(target: AdminTarget<'_>) -> Result<Vec<store::Pending>, AdminError> {
    Ok(admin_store(target)?.list_pending()?)
}

/// `admitd scep approve` / `reject`: decide a held request.
pub fn decide_pending(
    target: AdminTarget<'_>,
    transaction_id: &str,
    approve: bool,
    reason: Option<&str>,
) -> Result<(), AdminError> {
    if admin_store(target)?.decide_pending(transaction_id, approve, reason)? {
        tracing::info!(transaction_id, approve, "SCEP request decided");
        Ok(())
    } else {
        Err(AdminError::NotPending(transaction_id.to_owned()))
    }
}

/// `admitd scep revoke SERIAL`: revoke the SCEP-issued certificate with this serial (hex, any
/// case, colons allowed, leading zero octets as in the certificate or not).
pub fn revoke(target: AdminTarget<'_>, serial: &str) -> Result<(), AdminError> {
    let cleaned: String = serial
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    let bytes = hex::decode(&cleaned).map_err(|_| AdminError::BadSerial(serial.to_owned()))?;
    // The database keeps the DER INTEGER contents: a leading zero octet when the top bit is
    // set, none otherwise.
    let mut magnitude: &[u8] = &bytes;
    while magnitude.len() > 1 && magnitude[0] == 0 {
        magnitude = &magnitude[1..];
    }
    let mut stored = magnitude.to_vec();
    if stored.first().is_some_and(|b| b & 0x80 != 0) {
        stored.insert(0, 0);
    }
    if admin_store(target)?.revoke(&hex::encode(&stored), SystemTime::now())? {
        tracing::info!(serial = hex::encode(&stored), "SCEP certificate revoked");
        Ok(())
    } else {
        Err(AdminError::NoSuchCertificate(serial.to_owned()))
    }
}

/// `admitd scep challenge`: store a new one-time challenge valid for `ttl` and return it.
pub fn new_challenge(target: AdminTarget<'_>, ttl: Duration) -> Result<String, AdminError> {
    let store = admin_store(target)?;
    let now = SystemTime::now();
    let purged = store.purge_expired_challenges(now)?;
    if purged > 0 {
        tracing::debug!(purged, "removed expired SCEP challenges");
    }
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    Ok(store.add_challenge(now, ttl, &mut rng)?)
}
