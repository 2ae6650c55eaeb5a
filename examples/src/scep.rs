//! `/scep`: SCEP (RFC 8894) on both listeners, issuing from the data directory's intermediate.
//!
//! ```text
//! GET/POST /scep ──▶ scep::Responder::handle (RA: scep/ra.pem, RSA-2048)
//!                      ├─ GetCACaps, GetCACert (RA + intermediate + root), GetNextCACert (404)
//!                      ├─ refused ──▶ signed FAILURE CertRep, or 4xx text
//!                      └─ verified request ──▶ Service::decide
//!                           PKCSReq / RenewalReq ──▶ issue (intermediate) ──▶ SUCCESS
//!                           CertPoll ──▶ the certificate issued in that transaction
//!                           GetCert  ──▶ a certificate issued over SCEP, by serial
//!                           GetCRL   ──▶ FAILURE badRequest (no CRL published)
//! transaction log: scep_transactions (replay rule: a transactionID stays bound to its key)
//! issued certificates: issued_certificates, purpose "scep"
//! ```
//!
//! Challenge policy: a static secret when `scep_challenge` is set, else one-time challenges
//! from `admitd scep challenge`, each consumed by one conditional `DELETE` ([`store`]). A
//! request signed by a valid certificate this CA issued (a renewal, whether sent as RenewalReq
//! or as a PKCSReq signed by the old certificate) needs no challenge.
//!
//! Every request is answered at once (no manual approval, so no PENDING).

pub mod inspect;
pub mod ra;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::scep::challenge::{ChallengePolicy, OneTimeChallenge, StaticChallenge};
use ::scep::http;
use ::scep::{FailInfo, RequestBody, RequestPolicy, Responder, TransactionId, VerifiedRequest};
use pki::cert::issue::{Template, issue};
use pki::der::Encode;
use pki::key::{Decrypter, PrivateKey, Signer};
use pki::x509_cert::Certificate;
use rand_core::CryptoRng;

use crate::data_dir::{self, DataDir};
use crate::storage::{IssuedCertificate, Storage};

/// Validity of certificates issued over SCEP (capped by the intermediate's notAfter).
pub const CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// notBefore backdating for certificates issued over SCEP.
const BACKDATE: Duration = Duration::from_secs(3600);
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
    ca_key: Arc<dyn PrivateKey>,
    intermediate: Certificate,
    db: Arc<Storage>,
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

impl Service {
    /// Open the RA identity (creating it on first start) and the database for the CA in
    /// `data`; `challenge` chooses the static policy, `None` the one-time policy.
    pub fn open(
        data: &DataDir,
        challenge: Option<&StaticSecret>,
    ) -> Result<Service, data_dir::Error> {
        let ca = &data.ca;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let ra = ra::Ra::open_or_create(&data.path.join("scep"), ca, &data.storage, &mut rng)?;
        // A connection of its own: the challenge policy and the transaction log use it from
        // request handlers.
        let db = Arc::new(Storage::open(&database_path(&data.path))?);
        let policy: Arc<dyn ChallengePolicy> = match challenge {
            Some(s) => Arc::new(StaticChallenge::new(s.expose())),
            None => Arc::new(OneTimeChallenge(store::SqliteChallenges(db.clone()))),
        };
        let signer: Arc<dyn Signer> = ra.key.clone();
        let decrypter: Arc<dyn Decrypter> = ra.key.clone();
        let responder = Responder::new(
            ca.provider,
            &[ca.intermediate.clone(), ca.root.clone()],
            (signer, ra.certificate.clone()),
            (decrypter, ra.certificate.clone()),
            policy,
        )
        .map_err(|e| data_dir::Error::BadFile {
            path: data.path.join("scep").join("ra.pem"),
            reason: format!("cannot serve SCEP with it: {e}"),
        })?
        .with_policy(RequestPolicy::default().with_renewal_skipping_challenge(true));
        tracing::info!(
            challenge = if challenge.is_some() {
                "static"
            } else {
                "one-time"
            },
            "SCEP ready"
        );
        Ok(Service {
            responder,
            provider: ca.provider,
            ca_key: ca.intermediate_key.clone(),
            intermediate: ca.intermediate.clone(),
            db,
        })
    }

    /// Answer one SCEP HTTP request.
    pub fn handle(&self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let now = SystemTime::now();
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        // A database error fails closed: a fingerprint no key has, so the request is refused
        // as a replay rather than let through unchecked.
        let log = |id: &TransactionId| match store::transaction(&self.db, id) {
            Ok(t) => t.map(|t| t.key_sha256),
            Err(e) => {
                tracing::warn!(error = %e, "reading the SCEP transaction log failed");
                Some([0; 32])
            }
        };
        match self.responder.handle(req, now, &log, &mut rng) {
            ::scep::Incoming::Answer(r) => r,
            ::scep::Incoming::Refused { response, error } => {
                tracing::info!(%error, status = response.status().as_u16(), "SCEP request refused");
                response
            }
            ::scep::Incoming::Request(vr) => self.decide(&vr, now, &mut rng),
        }
    }

    fn decide(
        &self,
        req: &VerifiedRequest,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> http::Response<Vec<u8>> {
        let id = req.transaction_id();
        let mt = req.message_type().as_str();
        let outcome = match req.body() {
            RequestBody::PkcsReq(csr) | RequestBody::RenewalReq(csr) => {
                self.enrol(req, csr, now, rng)
            }
            RequestBody::CertPoll { .. } => self.poll(id),
            RequestBody::GetCert { issuer, serial } => {
                if issuer != self.intermediate.tbs_certificate().subject() {
                    Err((
                        FailInfo::BadCertId,
                        "not an issuer this CA knows".to_owned(),
                    ))
                } else {
                    self.lookup(&hex::encode(serial))
                }
            }
            RequestBody::GetCrl { .. } => Err((
                FailInfo::BadRequest,
                "this CA publishes no CRL over SCEP".to_owned(),
            )),
            _ => Err((FailInfo::BadRequest, "unsupported request".to_owned())),
        };
        let sent = match outcome {
            Ok((certs, serial)) => {
                if let Some(serial) = &serial
                    && let Err(e) = store::record_transaction(
                        &self.db,
                        id,
                        &req.key_fingerprint(),
                        mt,
                        "issued",
                        Some(serial),
                    )
                {
                    tracing::warn!(error = %e, "recording a SCEP transaction failed");
                }
                self.responder.success(req, &certs, rng)
            }
            Err((fail, text)) => {
                if let Err(e) = store::record_transaction(
                    &self.db,
                    id,
                    &req.key_fingerprint(),
                    mt,
                    "failed",
                    None,
                ) {
                    tracing::warn!(error = %e, "recording a SCEP transaction failed");
                }
                tracing::info!(transaction = id.as_str(), ?fail, text, "SCEP FAILURE");
                self.responder.failure(req, fail, Some(&text), rng)
            }
        };
        sent.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "building a CertRep failed");
            ::scep::responder::error_response(&e)
        })
    }

    /// Issue for a verified PKCSReq or RenewalReq: subject and key from the request, the
    /// end-entity profile (digitalSignature + keyEncipherment), [`CERT_VALIDITY`].
    #[allow(clippy::type_complexity)]
    fn enrol(
        &self,
        req: &VerifiedRequest,
        csr: &::scep::CertificationRequest,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> Result<(Vec<Certificate>, Option<String>), (FailInfo, String)> {
        let ca_not_after = self
            .intermediate
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time();
        let template =
            Template::end_entity(now - BACKDATE, (now + CERT_VALIDITY).min(ca_not_after))
                .with_subject(csr.subject().clone());
        let cert = issue(
            self.provider,
            &*self.ca_key,
            Some(&self.intermediate),
            csr.public_key(),
            &template,
            rng,
        )
        .map_err(|e| (FailInfo::BadRequest, format!("cannot issue: {e}")))?;
        let tbs = cert.tbs_certificate();
        let serial = hex::encode(tbs.serial_number().as_bytes());
        let der = cert
            .to_der()
            .map_err(|e| (FailInfo::BadRequest, format!("cannot encode: {e}")))?;
        self.db
            .record_issued(&IssuedCertificate {
                serial: serial.clone(),
                subject: tbs.subject().to_string(),
                not_after: tbs.validity().not_after.to_date_time().to_string(),
                purpose: PURPOSE.into(),
                der,
            })
            .map_err(|e| {
                tracing::warn!(error = %e, "recording an issued certificate failed");
                (
                    FailInfo::BadRequest,
                    "the CA could not record the certificate".to_owned(),
                )
            })?;
        tracing::info!(
            transaction = req.transaction_id().as_str(),
            subject = %tbs.subject(),
            serial,
            renewal = req.is_renewal(),
            "SCEP certificate issued"
        );
        Ok((vec![cert, self.intermediate.clone()], Some(serial)))
    }

    #[allow(clippy::type_complexity)]
    fn poll(
        &self,
        id: &TransactionId,
    ) -> Result<(Vec<Certificate>, Option<String>), (FailInfo, String)> {
        match store::transaction(&self.db, id) {
            Ok(Some(store::Transaction {
                serial: Some(serial),
                ..
            })) => self.lookup(&serial),
            Ok(_) => Err((
                FailInfo::BadCertId,
                "no certificate was issued in this transaction".to_owned(),
            )),
            Err(e) => {
                tracing::warn!(error = %e, "reading the SCEP transaction log failed");
                Err((
                    FailInfo::BadRequest,
                    "the CA could not read its log".to_owned(),
                ))
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn lookup(
        &self,
        serial: &str,
    ) -> Result<(Vec<Certificate>, Option<String>), (FailInfo, String)> {
        use pki::der::Decode as _;
        let der = store::issued_der(&self.db, serial, PURPOSE)
            .map_err(|e| {
                tracing::warn!(error = %e, "reading issued certificates failed");
                (
                    FailInfo::BadRequest,
                    "the CA could not read its records".to_owned(),
                )
            })?
            .ok_or((FailInfo::BadCertId, "no such certificate".to_owned()))?;
        let cert = Certificate::from_der(&der)
            .map_err(|e| (FailInfo::BadRequest, format!("stored certificate: {e}")))?;
        Ok((vec![cert, self.intermediate.clone()], None))
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
}

/// `admitd scep challenge`: store a new one-time challenge valid for `ttl` and return it.
pub fn new_challenge(data_dir: &Path, ttl: Duration) -> Result<String, AdminError> {
    let path = database_path(data_dir);
    if !path.is_file() {
        return Err(AdminError::NoDatabase(path));
    }
    let storage = Storage::open(&path)?;
    let now = SystemTime::now();
    let purged = store::purge_expired_challenges(&storage, now)?;
    if purged > 0 {
        tracing::debug!(purged, "removed expired SCEP challenges");
    }
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    Ok(store::add_challenge(&storage, now, ttl, &mut rng)?)
}
