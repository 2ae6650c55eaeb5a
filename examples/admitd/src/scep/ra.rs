//! The SCEP RA identity: an RSA-2048 key and a certificate from the issuing CA with keyUsage
//! digitalSignature + keyEncipherment. Clients encrypt their requests to it and CertReps are
//! signed with it, so key transport is RSA even when the CA itself is ECDSA.
//!
//! ```text
//! admit-data/scep/ra.pem   RA certificate (issued by ca/device.pem)
//! admit-data/scep/ra.key   its key, PKCS#8 PEM (0600)
//! ```
//!
//! Created on first start; reissued (with a new key) when missing, not from the current
//! device CA, or within 30 days of expiry.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::cert::issue::{Template, issue};
use pki::der::Encode;
use pki::key::{KeySpec, PrivateKey};
use pki::x509_cert::Certificate;
use pki::x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use pki::x509_cert::name::Name;
use rand_core::CryptoRng;

use crate::data_dir::{self, Ca, Error};
use crate::storage::{IssuedCertificate, Storage};

/// Subject of the RA certificate.
pub const RA_SUBJECT: &str = "CN=admitd SCEP RA,O=admit";
/// How long a new RA certificate is valid (capped by the device CA's notAfter).
const RA_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);
/// Reissue the RA certificate at start when it has less than this left.
const RA_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// notBefore backdating, for clients whose clocks run slow.
const BACKDATE: Duration = Duration::from_secs(3600);

/// The RA key and certificate.
pub struct Ra {
    /// The RA certificate.
    pub certificate: Certificate,
    /// Its RSA-2048 key.
    pub key: Arc<dyn PrivateKey>,
}

impl core::fmt::Debug for Ra {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ra")
            .field(
                "subject",
                &self.certificate.tbs_certificate().subject().to_string(),
            )
            .finish_non_exhaustive()
    }
}

fn pki_err(what: &'static str) -> impl FnOnce(pki::Error) -> Error {
    move |source| Error::Pki { what, source }
}

impl Ra {
    /// Load `dir/ra.pem` and `dir/ra.key`, or create them from `ca`'s device CA.
    pub fn open_or_create(
        dir: &Path,
        ca: &Ca,
        storage: &Storage,
        rng: &mut dyn CryptoRng,
    ) -> Result<Ra, Error> {
        let cert_path = dir.join("ra.pem");
        let key_path = dir.join("ra.key");
        if cert_path.exists() && key_path.exists() {
            let certificate = data_dir::read_certs(&cert_path)?
                .into_iter()
                .next()
                .ok_or_else(|| Error::BadFile {
                    path: cert_path.clone(),
                    reason: "no certificate".into(),
                })?;
            let (key, _) = data_dir::read_key(&key_path, ca.provider)?;
            if key.spki() != certificate.tbs_certificate().subject_public_key_info() {
                return Err(Error::KeyMismatch {
                    key: key_path,
                    cert: cert_path,
                });
            }
            let from_this_ca = issued_by(&certificate, &ca.device, ca.provider);
            let not_after = certificate
                .tbs_certificate()
                .validity()
                .not_after
                .to_system_time();
            let fresh = SystemTime::now() + RA_RENEW_BEFORE < not_after;
            if from_this_ca && fresh {
                return Ok(Ra { certificate, key });
            }
            tracing::info!(from_this_ca, fresh, "reissuing the SCEP RA certificate");
        }
        data_dir::create_dir(dir)?;
        let key = ca
            .provider
            .generate_key(KeySpec::Rsa(2048), rng)
            .map_err(pki_err("generating the SCEP RA key"))?;
        let now = SystemTime::now();
        let ca_not_after = ca
            .device
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time();
        let template = Template::end_entity(now - BACKDATE, (now + RA_VALIDITY).min(ca_not_after))
            .with_subject(Name::from_str(RA_SUBJECT).map_err(|e| Error::Pki {
                what: "building a name",
                source: pki::Error::malformed("Name", e),
            })?)
            .with_key_usage(Some(KeyUsage(
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
            )));
        let certificate = issue(
            ca.provider,
            &*ca.device_key,
            Some(&ca.device),
            key.spki(),
            &template,
            rng,
        )
        .map_err(pki_err("issuing the SCEP RA certificate"))?;
        data_dir::write_key(&key_path, &*key)?;
        data_dir::write_file(
            &cert_path,
            data_dir::certs_pem(&[&certificate])?.as_bytes(),
            0o644,
        )?;
        let tbs = certificate.tbs_certificate();
        storage.record_issued(&IssuedCertificate {
            serial: hex::encode(tbs.serial_number().as_bytes()),
            subject: tbs.subject().to_string(),
            not_after: tbs.validity().not_after.to_date_time().to_string(),
            purpose: "scep-ra".into(),
            der: certificate.to_der().map_err(|e| Error::Pki {
                what: "encoding a certificate",
                source: pki::Error::malformed("Certificate", e),
            })?,
        })?;
        tracing::info!(path = %cert_path.display(), "issued the SCEP RA certificate");
        Ok(Ra { certificate, key })
    }
}

fn issued_by(
    cert: &Certificate,
    issuer: &Certificate,
    provider: &dyn pki::provider::CryptoProvider,
) -> bool {
    let issuer_tbs = issuer.tbs_certificate();
    cert.tbs_certificate().issuer() == issuer_tbs.subject()
        && pki::cert::Cert::from_certificate(cert)
            .and_then(|c| {
                c.verify_signed_by(
                    provider,
                    &pki::verify::Policy::default(),
                    issuer_tbs.subject_public_key_info(),
                )
            })
            .is_ok()
}
