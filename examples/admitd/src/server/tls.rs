//! The HTTPS listener's certificate: served from a slot that a background task refills with a
//! renewed certificate before the current one runs out, without a restart and without
//! dropping a connection.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::data_dir::{Error, TlsIdentity};

/// The certificate the HTTPS listener presents now.
#[derive(Debug)]
pub struct CertSlot {
    current: RwLock<(Arc<CertifiedKey>, SystemTime)>,
}

impl CertSlot {
    /// A slot holding `identity`.
    pub fn new(identity: &TlsIdentity) -> Result<CertSlot, Error> {
        Ok(CertSlot {
            current: RwLock::new((identity.certified_key()?, identity.not_after())),
        })
    }

    /// Serve `identity` from the next handshake on.
    pub fn replace(&self, identity: &TlsIdentity) -> Result<(), Error> {
        let next = (identity.certified_key()?, identity.not_after());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(())
    }

    /// When the certificate served now expires.
    pub fn not_after(&self) -> SystemTime {
        self.current.read().unwrap_or_else(|p| p.into_inner()).1
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .0
                .clone(),
        )
    }
}

/// Asks every client for a certificate and accepts any, or none: the TLS layer checks only
/// that a client holds the key of the certificate it sends. Whether the certificate means
/// anything is decided per route (MDM: [`crate::mdm::identity`]), so a device with a wrong
/// certificate gets an HTTP 401 rather than a failed handshake, and other routes ignore it.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    hints: Vec<rustls::DistinguishedName>,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A rustls server configuration presenting whatever `slot` holds (aws-lc-rs, TLS 1.2 and
/// 1.3, ALPN h2 and http/1.1). Clients may send a certificate; `client_ca_subject` (DER of
/// the device CA's subject) is offered as the hint for which one.
pub fn server_config(
    slot: Arc<CertSlot>,
    client_ca_subject: Option<Vec<u8>>,
) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(AnyClientCertificate {
        algorithms: provider.signature_verification_algorithms,
        hints: client_ca_subject
            .into_iter()
            .map(rustls::DistinguishedName::from)
            .collect(),
    });
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::BadFile {
            path: "tls/server.pem".into(),
            reason: format!("rustls: {e}"),
        })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(slot);
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}

/// How often the renewal task looks at a certificate of lifetime `validity`.
pub fn check_interval(validity: Duration) -> Duration {
    (validity / 6).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Keep `slot` renewed: every [`check_interval`], when the certificate is within
/// [`crate::data_dir::ca::tls_renew_before`] of its end, `renew` (which reissues and
/// writes the files, on a blocking thread) and swap the result in. A failed renewal is logged
/// and tried again at the next check; the current certificate keeps being served meanwhile.
pub async fn keep_renewed<F>(slot: Arc<CertSlot>, validity: Duration, renew: F)
where
    F: Fn() -> Result<TlsIdentity, Error> + Send + Sync + Clone + 'static,
{
    let before = crate::data_dir::ca::tls_renew_before(validity);
    loop {
        tokio::time::sleep(check_interval(validity)).await;
        if SystemTime::now() + before < slot.not_after() {
            continue;
        }
        let renew = renew.clone();
        let renewed = tokio::task::spawn_blocking(renew).await;
        match renewed {
            Ok(Ok(identity)) => match slot.replace(&identity) {
                Ok(()) => tracing::info!("renewed the TLS server certificate"),
                Err(e) => tracing::error!(error = %e, "renewed TLS certificate not usable"),
            },
            Ok(Err(e)) => tracing::error!(error = %e, "renewing the TLS certificate failed"),
            Err(e) => tracing::error!(error = %e, "the TLS renewal task panicked"),
        }
    }
}
