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

/// A rustls server configuration presenting whatever `slot` holds (aws-lc-rs, TLS 1.2 and
/// 1.3, ALPN h2 and http/1.1).
pub fn server_config(slot: Arc<CertSlot>) -> Result<rustls::ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::BadFile {
            path: "tls/server.pem".into(),
            reason: format!("rustls: {e}"),
        })?
        .with_no_client_auth()
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
