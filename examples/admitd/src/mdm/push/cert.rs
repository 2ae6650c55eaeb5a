//! The APNs push certificate in the data directory.
//!
//! ```text
//! DATA/mdm/push.pem   the push certificate, then any chain certificates (PEM)
//! DATA/mdm/push.key   its private key, PKCS#8 PEM, mode 0600
//! ```
//!
//! The key is a 0600 file like the CA and TLS keys beside it, not sealed with
//! [`crate::secrets::Sealer`]: the sealing key lives in the same directory, so sealing would
//! add no protection against whoever can read the directory, and a database dump never holds
//! it either way. It is read when the pusher opens a connection, so a certificate imported while
//! the server runs is used from the next connection on.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

/// Why a push certificate could not be imported or loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `.p12` or PEM input is not a usable push certificate.
    #[error("{0}")]
    Invalid(String),
    /// No push certificate has been imported.
    #[error("no APNs push certificate; import one with `admitd mdm push-cert import FILE`")]
    Missing,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `DATA/mdm/push.pem`.
pub fn cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mdm").join("push.pem")
}

/// `DATA/mdm/push.key`.
pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("mdm").join("push.key")
}

/// A push certificate with its key, checked: the key belongs to the certificate and the
/// subject carries a topic.
pub struct PushIdentity {
    /// The certificate, then its chain (DER).
    pub chain: Vec<Vec<u8>>,
    /// The private key, PKCS#8 DER.
    pub key_pkcs8: Zeroizing<Vec<u8>>,
    /// `apns-topic`: the `UID` of the certificate's subject.
    pub topic: String,
    /// The certificate's notAfter.
    pub not_after: SystemTime,
    /// The certificate's subject (RFC 4514).
    pub subject: String,
}

impl core::fmt::Debug for PushIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PushIdentity")
            .field("topic", &self.topic)
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

fn not_after(cert: &pki::cert::Cert) -> SystemTime {
    let t = cert
        .certificate()
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration();
    SystemTime::UNIX_EPOCH + t
}

fn invalid(what: impl std::fmt::Display) -> CertError {
    CertError::Invalid(what.to_string())
}

impl PushIdentity {
    /// Read a `.p12` (certificate and key, opened with `password`).
    pub fn from_pkcs12(
        p12: &[u8],
        password: &str,
        provider: &dyn pki::provider::CryptoProvider,
    ) -> Result<Self, CertError> {
        let p = mdm_proto::apns::PushCertificate::from_pkcs12(p12, password, provider)
            .map_err(|e| invalid(format!("not a usable push certificate .p12: {e}")))?;
        let mut chain = vec![p.certificate().der().to_vec()];
        chain.extend(p.chain().iter().map(|c| c.der().to_vec()));
        Ok(PushIdentity {
            chain,
            key_pkcs8: Zeroizing::new(p.private_key_pkcs8_der().to_vec()),
            topic: p.topic().to_owned(),
            not_after: not_after(p.certificate()),
            subject: p.certificate().subject_string(),
        })
    }

    /// Read a PEM certificate (chain after it, if any) and a PKCS#8 PEM key, and check that
    /// the key belongs to the certificate.
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        provider: &dyn pki::provider::CryptoProvider,
    ) -> Result<Self, CertError> {
        let certs = pki::cert::Cert::from_pem_chain(cert_pem)
            .map_err(|e| invalid(format!("certificate: {e}")))?;
        let first = certs
            .first()
            .ok_or_else(|| invalid("the certificate file holds no certificate"))?;
        let (label, der) = pki::der::pem::decode_vec(key_pem)
            .map_err(|e| invalid(format!("key: not PEM: {e}")))?;
        let der = Zeroizing::new(der);
        if label != "PRIVATE KEY" {
            return Err(invalid(format!(
                "key: PEM label is {label:?}, expected \"PRIVATE KEY\" (PKCS#8; convert with \
                 `openssl pkcs8 -topk8 -nocrypt`)"
            )));
        }
        let key = provider
            .private_key_from_pkcs8_der(&der)
            .map_err(|e| invalid(format!("key: {e}")))?;
        if key.spki()
            != first
                .certificate()
                .tbs_certificate()
                .subject_public_key_info()
        {
            return Err(invalid("the key does not belong to the certificate"));
        }
        let topic = mdm_proto::apns::topic(first.certificate())
            .map_err(|e| invalid(format!("no push topic in the certificate's subject: {e}")))?;
        Ok(PushIdentity {
            chain: certs.iter().map(|c| c.der().to_vec()).collect(),
            key_pkcs8: der,
            topic,
            not_after: not_after(first),
            subject: first.subject_string(),
        })
    }

    /// Refuse a certificate that has expired at `now`.
    pub fn check_current(&self, now: SystemTime) -> Result<(), CertError> {
        if self.not_after <= now {
            return Err(invalid(format!(
                "the push certificate expired at {} (Unix seconds); renew it in Apple's push \
                 certificates portal",
                unix(self.not_after)
            )));
        }
        Ok(())
    }

    /// Write it to the data directory (certificate file, then the key file 0600), replacing
    /// the one there.
    pub fn store(&self, data_dir: &Path) -> Result<(), CertError> {
        let dir = data_dir.join("mdm");
        crate::data_dir::create_dir(&dir).map_err(invalid)?;
        let mut pem = String::new();
        for der in &self.chain {
            pem.push_str(&pem_block("CERTIFICATE", der));
        }
        let key = Zeroizing::new(pem_block("PRIVATE KEY", &self.key_pkcs8));
        // The key first: a crash between the two leaves the old certificate with a key that
        // does not match, which `load` refuses, rather than a new certificate with an old key.
        crate::data_dir::write_file(&key_path(data_dir), key.as_bytes(), 0o600).map_err(invalid)?;
        crate::data_dir::write_file(&cert_path(data_dir), pem.as_bytes(), 0o644)
            .map_err(invalid)?;
        Ok(())
    }

    /// Load the imported certificate, checked as at import.
    pub fn load(
        data_dir: &Path,
        provider: &dyn pki::provider::CryptoProvider,
    ) -> Result<Self, CertError> {
        let cp = cert_path(data_dir);
        let cert = match std::fs::read(&cp) {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CertError::Missing),
            Err(e) => return Err(io(&cp)(e)),
        };
        let kp = key_path(data_dir);
        let key = Zeroizing::new(std::fs::read(&kp).map_err(io(&kp))?);
        Self::from_pem(&cert, &key, provider)
    }

    /// What the admin API shows: topic, subject, expiry.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "topic": self.topic,
            "subject": self.subject,
            "not_after": unix(self.not_after),
            "not_after_rfc3339": rfc3339(self.not_after),
        })
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC), as `der`'s `DateTime` prints it.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    pki::der::DateTime::from_unix_duration(d)
        .map_or_else(|_| unix(t).to_string(), |d| d.to_string())
}

fn pem_block(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// `admitd mdm push-cert import`: read a `.p12` (with `password`) or a PEM certificate with
/// `key`, check it, store it in `data_dir`, and describe what was stored.
pub fn import(
    data_dir: &Path,
    file: &Path,
    password: Option<&str>,
    key: Option<&Path>,
    provider: &dyn pki::provider::CryptoProvider,
    now: SystemTime,
) -> Result<PushIdentity, CertError> {
    let input = Zeroizing::new(std::fs::read(file).map_err(io(file))?);
    let identity = match key {
        Some(kp) => {
            let key = Zeroizing::new(std::fs::read(kp).map_err(io(kp))?);
            PushIdentity::from_pem(&input, &key, provider)?
        }
        None if input.trim_ascii_start().starts_with(b"-----BEGIN") => {
            return Err(invalid(
                "a PEM certificate needs its key: add --key KEYFILE (or import the .p12)",
            ));
        }
        None => PushIdentity::from_pkcs12(&input, password.unwrap_or(""), provider)?,
    };
    identity.check_current(now)?;
    identity.store(data_dir)?;
    Ok(identity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        let at = |s| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1709251199` = 2024-02-29 23:59:59 (a leap day).
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
    }
}
