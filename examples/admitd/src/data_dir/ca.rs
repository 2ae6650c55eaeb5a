//! The CA (root, the intermediate that issues the server's own certificates, and the device CA
//! that issues device identities) and the HTTPS listener's certificate.
//!
//! Device identities (SCEP, and through it MDM) come from their own issuing CA, apart from the
//! intermediate that issues the TLS server certificate: a device certificate can then never pass
//! as the server, and a server that authenticates devices by client certificate trusts exactly
//! the device CA.

use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use pki::alg::Curve;
use pki::cert::SubjectAltNames;
use pki::cert::issue::{Template, intermediate_ca, issue, self_signed_ca};
use pki::der::Encode;
use pki::key::{KeySpec, PrivateKey};
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;
use pki::x509_cert::name::Name;
use rand_core::CryptoRng;

use super::{Error, Options, certs_pem, create_dir, read_certs, read_key, write_file, write_key};
use crate::config::CaKeyType;
use crate::storage::{IssuedCertificate, Storage};

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
/// notBefore is set this far in the past, for clients whose clocks run slow.
const BACKDATE: Duration = Duration::from_secs(3600);
/// The TLS certificate is reissued when it has less than this left (or a third of its
/// lifetime, when that is shorter).
const TLS_RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long before its end a TLS certificate of lifetime `validity` is renewed.
pub fn tls_renew_before(validity: Duration) -> Duration {
    TLS_RENEW_BEFORE.min(validity / 3)
}

const ROOT_SUBJECT: &str = "CN=admitd Root CA,O=admit";
const INTERMEDIATE_SUBJECT: &str = "CN=admitd Issuing CA,O=admit";
const DEVICE_SUBJECT: &str = "CN=admitd Device CA,O=admit";

/// The CA: a self-signed root and the intermediate that issues everything else.
pub struct Ca {
    /// The root certificate.
    pub root: Certificate,
    /// The issuing intermediate's certificate.
    pub intermediate: Certificate,
    /// The issuing intermediate's key.
    pub intermediate_key: Arc<dyn PrivateKey>,
    /// The device CA's certificate (issued by the root): it issues device identities only.
    pub device: Certificate,
    /// The device CA's key.
    pub device_key: Arc<dyn PrivateKey>,
    /// The provider the keys were loaded with.
    pub provider: &'static dyn CryptoProvider,
}

impl core::fmt::Debug for Ca {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ca")
            .field("root", &self.root.tbs_certificate().subject().to_string())
            .field(
                "intermediate",
                &self.intermediate.tbs_certificate().subject().to_string(),
            )
            .field(
                "device",
                &self.device.tbs_certificate().subject().to_string(),
            )
            .field("key", &self.intermediate_key.kind())
            .field("provider", &self.provider.name())
            .finish()
    }
}

fn pki_err(what: &'static str) -> impl FnOnce(pki::Error) -> Error {
    move |source| Error::Pki { what, source }
}

fn der_of(cert: &Certificate) -> Result<Vec<u8>, Error> {
    cert.to_der().map_err(|e| Error::Pki {
        what: "encoding a certificate",
        source: pki::Error::malformed("Certificate", e),
    })
}

fn name(s: &str) -> Result<Name, Error> {
    Name::from_str(s).map_err(|e| Error::Pki {
        what: "building a name",
        source: pki::Error::malformed("Name", e),
    })
}

fn record(storage: &Storage, cert: &Certificate, purpose: &str) -> Result<(), Error> {
    let tbs = cert.tbs_certificate();
    let der = der_of(cert)?;
    Ok(storage.record_issued(&IssuedCertificate {
        serial: hex::encode(tbs.serial_number().as_bytes()),
        subject: tbs.subject().to_string(),
        not_after: tbs.validity().not_after.to_date_time().to_string(),
        purpose: purpose.to_owned(),
        der,
    })?)
}

fn check_key_matches(
    key: &dyn PrivateKey,
    cert: &Certificate,
    key_path: &Path,
    cert_path: &Path,
) -> Result<(), Error> {
    if key.spki() != cert.tbs_certificate().subject_public_key_info() {
        return Err(Error::KeyMismatch {
            key: key_path.to_owned(),
            cert: cert_path.to_owned(),
        });
    }
    Ok(())
}

impl Ca {
    /// Load the CA in `dir`, or create it when none of its files exist.
    pub(crate) fn open_or_create(
        dir: &Path,
        opts: &Options<'_>,
        storage: &Storage,
        rng: &mut dyn CryptoRng,
    ) -> Result<Ca, Error> {
        // The root key is not needed to run: once the intermediate and the device CA exist it
        // may be kept offline (see the README).
        let files = ["root.pem", "intermediate.pem", "intermediate.key"];
        let present: Vec<bool> = files.iter().map(|f| dir.join(f).exists()).collect();
        if present.iter().all(|p| *p) {
            return Self::load(dir, opts.provider, storage, rng);
        }
        if present.iter().any(|p| *p) || dir.join("root.key").exists() {
            let missing = files
                .iter()
                .zip(&present)
                .find(|(_, p)| !**p)
                .map(|(f, _)| (*f).to_owned())
                .unwrap_or_default();
            return Err(Error::IncompleteCa {
                dir: dir.to_owned(),
                missing,
            });
        }
        Self::create(dir, opts, storage, rng)
    }

    fn load(
        dir: &Path,
        provider: &'static dyn CryptoProvider,
        storage: &Storage,
        rng: &mut dyn CryptoRng,
    ) -> Result<Ca, Error> {
        let root_path = dir.join("root.pem");
        let int_path = dir.join("intermediate.pem");
        let int_key_path = dir.join("intermediate.key");
        let root = first_cert(&root_path)?;
        let intermediate = first_cert(&int_path)?;
        let (intermediate_key, _) = read_key(&int_key_path, provider)?;
        check_key_matches(&*intermediate_key, &intermediate, &int_key_path, &int_path)?;
        if !signed_by(&intermediate, &root, provider) {
            return Err(Error::BadFile {
                path: int_path,
                reason: "not issued by the root in root.pem".into(),
            });
        }
        let (device, device_key) = load_or_add_device_ca(dir, &root, provider, storage, rng)?;
        tracing::info!(
            root = %root.tbs_certificate().subject(),
            provider = provider.name(),
            "loaded CA"
        );
        Ok(Ca {
            root,
            intermediate,
            intermediate_key,
            device,
            device_key,
            provider,
        })
    }

    fn create(
        dir: &Path,
        opts: &Options<'_>,
        storage: &Storage,
        rng: &mut dyn CryptoRng,
    ) -> Result<Ca, Error> {
        create_dir(dir)?;
        let provider = opts.provider;
        let spec = match opts.ca_key_type {
            CaKeyType::Ecdsa => KeySpec::Ec(Curve::P256),
            CaKeyType::Rsa => KeySpec::Rsa(2048),
        };
        let now = SystemTime::now();
        let not_before = now - BACKDATE;

        let root_key = provider
            .generate_key(spec, rng)
            .map_err(pki_err("generating the root CA key"))?;
        let root = self_signed_ca(
            provider,
            &*root_key,
            name(ROOT_SUBJECT)?,
            not_before,
            now + 20 * YEAR,
            Some(1),
            rng,
        )
        .map_err(pki_err("issuing the root CA certificate"))?;

        let int_key = provider
            .generate_key(spec, rng)
            .map_err(pki_err("generating the intermediate CA key"))?;
        let intermediate = intermediate_ca(
            provider,
            &*root_key,
            &root,
            int_key.spki(),
            name(INTERMEDIATE_SUBJECT)?,
            not_before,
            now + 10 * YEAR,
            Some(0),
            rng,
        )
        .map_err(pki_err("issuing the intermediate CA certificate"))?;

        let (device, device_key) =
            create_device_ca(dir, &root, &*root_key, spec, provider, storage, rng)?;
        write_key(&dir.join("root.key"), &*root_key)?;
        write_key(&dir.join("intermediate.key"), &*int_key)?;
        write_file(
            &dir.join("root.pem"),
            certs_pem(&[&root])?.as_bytes(),
            0o644,
        )?;
        write_file(
            &dir.join("chain.pem"),
            certs_pem(&[&intermediate, &root])?.as_bytes(),
            0o644,
        )?;
        // Written last: its presence marks a complete CA.
        write_file(
            &dir.join("intermediate.pem"),
            certs_pem(&[&intermediate])?.as_bytes(),
            0o644,
        )?;
        record(storage, &root, "root")?;
        record(storage, &intermediate, "intermediate")?;
        tracing::info!(
            dir = %dir.display(),
            key = ?spec,
            provider = provider.name(),
            "created a new CA"
        );
        Ok(Ca {
            root,
            intermediate,
            intermediate_key: int_key,
            device,
            device_key,
            provider,
        })
    }

    /// SHA-256 of the root certificate's DER (what `openssl x509 -fingerprint -sha256` shows).
    pub fn root_fingerprint_sha256(&self) -> Result<[u8; 32], Error> {
        pki::cert::fingerprint_sha256(&self.root).map_err(pki_err("encoding the root"))
    }
}

/// The device CA in `dir` (`device.pem`, `device.key`), created under the root when absent (a
/// data directory from before the device CA existed gets one at its next start, as long as the
/// root key is still there).
fn load_or_add_device_ca(
    dir: &Path,
    root: &Certificate,
    provider: &'static dyn CryptoProvider,
    storage: &Storage,
    rng: &mut dyn CryptoRng,
) -> Result<(Certificate, Arc<dyn PrivateKey>), Error> {
    let cert_path = dir.join("device.pem");
    let key_path = dir.join("device.key");
    match (cert_path.exists(), key_path.exists()) {
        (true, true) => {
            let device = first_cert(&cert_path)?;
            let (key, _) = read_key(&key_path, provider)?;
            check_key_matches(&*key, &device, &key_path, &cert_path)?;
            if !signed_by(&device, root, provider) {
                return Err(Error::BadFile {
                    path: cert_path,
                    reason: "not issued by the root in root.pem".into(),
                });
            }
            Ok((device, key))
        }
        (true, false) | (false, true) => Err(Error::IncompleteCa {
            dir: dir.to_owned(),
            missing: if cert_path.exists() {
                "device.key".into()
            } else {
                "device.pem".into()
            },
        }),
        (false, false) => {
            let root_key_path = dir.join("root.key");
            if !root_key_path.exists() {
                return Err(Error::BadFile {
                    path: root_key_path,
                    reason: "the device CA (device.pem, device.key) is missing and the root key \
                             is not here to issue one: bring the root key back for one start"
                        .into(),
                });
            }
            let (root_key, _) = read_key(&root_key_path, provider)?;
            check_key_matches(&*root_key, root, &root_key_path, &dir.join("root.pem"))?;
            let spec = match root_key.kind() {
                pki::key::KeyKind::Rsa { .. } => KeySpec::Rsa(2048),
                _ => KeySpec::Ec(Curve::P256),
            };
            tracing::info!("adding a device CA to an existing CA");
            create_device_ca(dir, root, &*root_key, spec, provider, storage, rng)
        }
    }
}

/// Issue the device CA under the root and write it to `dir`.
fn create_device_ca(
    dir: &Path,
    root: &Certificate,
    root_key: &dyn PrivateKey,
    spec: KeySpec,
    provider: &'static dyn CryptoProvider,
    storage: &Storage,
    rng: &mut dyn CryptoRng,
) -> Result<(Certificate, Arc<dyn PrivateKey>), Error> {
    let now = SystemTime::now();
    let key = provider
        .generate_key(spec, rng)
        .map_err(pki_err("generating the device CA key"))?;
    let root_not_after = root.tbs_certificate().validity().not_after.to_system_time();
    let device = intermediate_ca(
        provider,
        root_key,
        root,
        key.spki(),
        name(DEVICE_SUBJECT)?,
        now - BACKDATE,
        (now + 10 * YEAR).min(root_not_after),
        Some(0),
        rng,
    )
    .map_err(pki_err("issuing the device CA certificate"))?;
    write_key(&dir.join("device.key"), &*key)?;
    // Written last: its presence marks a complete device CA.
    write_file(
        &dir.join("device.pem"),
        certs_pem(&[&device])?.as_bytes(),
        0o644,
    )?;
    record(storage, &device, "device-ca")?;
    Ok((device, key))
}

/// Whether `issuer`'s key signed `cert` (names chain and the signature verifies).
fn signed_by(cert: &Certificate, issuer: &Certificate, provider: &dyn CryptoProvider) -> bool {
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

fn first_cert(path: &Path) -> Result<Certificate, Error> {
    read_certs(path)?
        .into_iter()
        .next()
        .ok_or_else(|| Error::BadFile {
            path: path.to_owned(),
            reason: "no certificate".into(),
        })
}

/// The HTTPS listener's certificate chain (server certificate, then the intermediate) and key.
pub struct TlsIdentity {
    /// Server certificate then intermediate.
    pub chain: Vec<Certificate>,
    key_pkcs8: zeroize::Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field(
                "subject",
                &self
                    .chain
                    .first()
                    .map(|c| c.tbs_certificate().subject().to_string()),
            )
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Load `dir/server.pem` and `dir/server.key`, or issue a new pair from the intermediate
    /// when they are missing, not from this CA, due for renewal ([`tls_renew_before`]), or
    /// not for exactly the configured names.
    pub(crate) fn open_or_create(
        dir: &Path,
        ca: &Ca,
        opts: &Options<'_>,
        storage: &Storage,
        rng: &mut dyn CryptoRng,
    ) -> Result<TlsIdentity, Error> {
        let cert_path = dir.join("server.pem");
        let key_path = dir.join("server.key");
        if cert_path.exists() && key_path.exists() {
            let chain = read_certs(&cert_path)?;
            let (key, key_pkcs8) = read_key(&key_path, ca.provider)?;
            let leaf = chain.first().ok_or_else(|| Error::BadFile {
                path: cert_path.clone(),
                reason: "no certificate".into(),
            })?;
            check_key_matches(&*key, leaf, &key_path, &cert_path)?;
            let from_this_ca = chain.get(1) == Some(&ca.intermediate)
                && signed_by(leaf, &ca.intermediate, ca.provider);
            let not_after = leaf.tbs_certificate().validity().not_after.to_system_time();
            let fresh = SystemTime::now() + tls_renew_before(opts.tls_validity) < not_after;
            let names_match = names_of(leaf) == Some(wanted_names(opts));
            if from_this_ca && fresh && names_match {
                return Ok(TlsIdentity { chain, key_pkcs8 });
            }
            tracing::info!(
                from_this_ca,
                fresh,
                names_match,
                "reissuing the TLS server certificate"
            );
        }
        create_dir(dir)?;
        let key = ca
            .provider
            .generate_key(KeySpec::Ec(Curve::P256), rng)
            .map_err(pki_err("generating the TLS server key"))?;
        let now = SystemTime::now();
        let mut san = SubjectAltNames::new();
        for dns in opts.tls_dns_names {
            san = san.with_dns(*dns);
        }
        for ip in opts.tls_ips {
            san = san.with_ip(*ip);
        }
        let cn = opts.tls_dns_names.first().copied().unwrap_or("admitd");
        let template = Template::end_entity(now - BACKDATE, now + opts.tls_validity)
            .with_subject(name(&format!("CN={cn}"))?)
            .with_san(san)
            .with_key_usage(Some(pki::x509_cert::ext::pkix::KeyUsage(
                pki::x509_cert::ext::pkix::KeyUsages::DigitalSignature.into(),
            )))
            .with_eku(const_oid::db::rfc5280::ID_KP_SERVER_AUTH);
        let leaf = issue(
            ca.provider,
            &*ca.intermediate_key,
            Some(&ca.intermediate),
            key.spki(),
            &template,
            rng,
        )
        .map_err(pki_err("issuing the TLS server certificate"))?;
        let chain = vec![leaf, ca.intermediate.clone()];
        write_key(&key_path, &*key)?;
        write_file(
            &cert_path,
            certs_pem(&chain.iter().collect::<Vec<_>>())?.as_bytes(),
            0o644,
        )?;
        if let Some(leaf) = chain.first() {
            record(storage, leaf, "tls-server")?;
        }
        let key_pkcs8 = key
            .to_pkcs8_der()
            .map_err(pki_err("encoding the TLS server key"))?;
        tracing::info!(path = %cert_path.display(), "issued a TLS server certificate");
        Ok(TlsIdentity { chain, key_pkcs8 })
    }

    /// The chain and key in the form rustls serves (aws-lc-rs).
    pub fn certified_key(&self) -> Result<Arc<rustls::sign::CertifiedKey>, Error> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let chain = self
            .chain
            .iter()
            .map(|c| der_of(c).map(CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.to_vec()));
        let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key).map_err(|e| {
            Error::BadFile {
                path: "tls/server.key".into(),
                reason: format!("rustls: {e}"),
            }
        })?;
        Ok(Arc::new(rustls::sign::CertifiedKey::new(chain, signing)))
    }

    /// When the server certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.chain.first().map_or(SystemTime::UNIX_EPOCH, |c| {
            c.tbs_certificate().validity().not_after.to_system_time()
        })
    }

    /// A rustls server configuration serving this identity (aws-lc-rs, TLS 1.2 and 1.3, ALPN
    /// h2 and http/1.1). The server itself uses [`crate::server::tls::CertSlot`] instead, so
    /// it can swap in a renewed certificate while running.
    pub fn rustls_config(&self) -> Result<rustls::ServerConfig, Error> {
        let slot = Arc::new(crate::server::tls::CertSlot::new(self)?);
        crate::server::tls::server_config(slot, None)
    }
}

/// The names the configuration asks a TLS certificate to carry, in a comparable form.
fn wanted_names(opts: &Options<'_>) -> (Vec<String>, Vec<IpAddr>) {
    let mut dns: Vec<String> = opts
        .tls_dns_names
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let mut ip = opts.tls_ips.to_vec();
    dns.sort();
    dns.dedup();
    ip.sort();
    ip.dedup();
    (dns, ip)
}

/// The DNS names and IP addresses a certificate carries, in the form of [`wanted_names`].
fn names_of(cert: &Certificate) -> Option<(Vec<String>, Vec<IpAddr>)> {
    let san = pki::cert::Cert::from_certificate(cert)
        .ok()?
        .subject_alt_names()
        .ok()??;
    let mut dns: Vec<String> = san.dns.iter().map(|s| s.to_ascii_lowercase()).collect();
    let mut ip = san.ip;
    dns.sort();
    dns.dedup();
    ip.sort();
    ip.dedup();
    Some((dns, ip))
}
