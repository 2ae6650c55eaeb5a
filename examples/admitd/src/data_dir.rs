//! The data directory: CA, TLS identity and database, created on first start and reused after.
//!
//! ```text
//! admit-data/                      (0700)
//! ├── ca/root.pem                  root CA certificate (give this to clients)
//! ├── ca/root.key                  root CA key, PKCS#8 PEM (0600)
//! ├── ca/intermediate.pem          issuing CA certificate
//! ├── ca/intermediate.key          issuing CA key, PKCS#8 PEM (0600)
//! ├── ca/chain.pem                 intermediate then root
//! ├── ca/device.pem                device CA certificate: issues device identities (SCEP)
//! ├── ca/device.key                device CA key, PKCS#8 PEM (0600)
//! ├── scep/ra.pem, scep/ra.key     SCEP RA identity, issued by the device CA
//! ├── tls/server.pem               TLS server certificate then intermediate
//! ├── tls/server.key               TLS server key, PKCS#8 PEM (0600)
//! └── admit.sqlite3                the database (see `storage`) (0600)
//! ```
//!
//! Private keys are written to a fresh file created with mode 0600 and renamed into place, so
//! a key is never readable by others, not even briefly, and never half-written.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pki::der::{Decode, Encode};
use pki::key::PrivateKey;
use pki::provider::CryptoProvider;
use pki::x509_cert::Certificate;

use crate::config::CaKeyType;
use crate::storage::Storage;

pub mod ca;

pub use ca::{Ca, TlsIdentity};

/// What went wrong with the data directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A PEM file does not hold what it should.
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Some CA files exist and others do not: refusing to guess.
    #[error(
        "{dir}: incomplete CA ({missing} is missing); restore it from a backup, or remove the \
         whole ca/ directory to create a new CA (clients will then need the new root)"
    )]
    IncompleteCa {
        /// The CA directory.
        dir: PathBuf,
        /// The first missing file.
        missing: String,
    },
    /// A key does not belong to its certificate.
    #[error("{key} does not match the public key in {cert}")]
    KeyMismatch {
        /// The key file.
        key: PathBuf,
        /// The certificate file.
        cert: PathBuf,
    },
    /// The crypto library refused an operation.
    #[error("{what}: {source}")]
    Pki {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: pki::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The opened data directory.
#[derive(Debug)]
pub struct DataDir {
    /// Where it is.
    pub path: PathBuf,
    /// The CA.
    pub ca: Ca,
    /// The HTTPS listener's certificate chain and key.
    pub tls: TlsIdentity,
    /// The database.
    pub storage: Storage,
}

/// How [`DataDir::open`] creates what is missing.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Provider for key generation and signing.
    pub provider: &'static dyn CryptoProvider,
    /// Key type for a new CA.
    pub ca_key_type: CaKeyType,
    /// Hostnames put into a new TLS certificate's subjectAltName.
    pub tls_dns_names: &'a [&'a str],
    /// IP addresses put into a new TLS certificate's subjectAltName.
    pub tls_ips: &'a [std::net::IpAddr],
    /// Lifetime of a new TLS certificate.
    pub tls_validity: std::time::Duration,
}

impl DataDir {
    /// Open the data directory at `path`, creating the directory, CA, TLS identity and database
    /// where they do not exist yet.
    pub fn open(path: &Path, opts: &Options<'_>) -> Result<DataDir, Error> {
        create_dir(path)?;
        check_dir_mode(path)?;
        let db = path.join("admit.sqlite3");
        // Created empty with 0600 first: SQLite would use the umask, and its journal files
        // copy the database file's mode.
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&db)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&db)(e)),
        }
        let storage = Storage::open(&db)?;
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let ca = Ca::open_or_create(&path.join("ca"), opts, &storage, &mut rng)?;
        let tls = TlsIdentity::open_or_create(&path.join("tls"), &ca, opts, &storage, &mut rng)?;
        Ok(DataDir {
            path: path.to_owned(),
            ca,
            tls,
            storage,
        })
    }

    /// The root CA certificate file clients should trust.
    pub fn root_pem_path(&self) -> PathBuf {
        self.path.join("ca").join("root.pem")
    }

    /// A rustls server configuration for the TLS identity (ALPN h2 and http/1.1), using
    /// aws-lc-rs.
    pub fn rustls_config(&self) -> Result<rustls::ServerConfig, Error> {
        self.tls.rustls_config()
    }

    /// Reissue the TLS identity if it is due (what the start does for this
    /// directory); what the renewal task calls.
    pub fn renew_tls(&self, opts: &Options<'_>) -> Result<TlsIdentity, Error> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        TlsIdentity::open_or_create(
            &self.path.join("tls"),
            &self.ca,
            opts,
            &self.storage,
            &mut rng,
        )
    }
}

/// Create a directory (and parents) with mode 0700 if it does not exist.
pub(crate) fn create_dir(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io(path))
}

/// Refuse a data directory that others may write to: whoever can replace its files can
/// replace the CA.
pub(crate) fn check_dir_mode(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o022 != 0 {
        return Err(Error::BadFile {
            path: path.to_owned(),
            reason: format!(
                "the data directory is writable by group or others (mode {mode:o}); \
                 run `chmod go-w {}`",
                path.display()
            ),
        });
    }
    Ok(())
}

/// Refuse a private key file that group or others can read or write (a copied key keeps
/// the mode of wherever it came from; a key readable by others is no longer private).
fn check_key_mode(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::BadFile {
            path: path.to_owned(),
            reason: format!(
                "private key is accessible to group or others (mode {mode:o}); \
                 run `chmod 600 {}`",
                path.display()
            ),
        });
    }
    Ok(())
}

/// Write `contents` to `path` atomically: a new temporary file created with `mode`, synced,
/// then renamed over `path`.
pub(crate) fn write_file(path: &Path, contents: &[u8], mode: u32) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    // A stale temporary file from a crash is ours to remove.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&tmp)(e)),
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(contents).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io(path))
}

/// Write a private key as PKCS#8 PEM, mode 0600.
pub(crate) fn write_key(path: &Path, key: &dyn PrivateKey) -> Result<(), Error> {
    let der = key.to_pkcs8_der().map_err(|source| Error::Pki {
        what: "encoding a private key",
        source,
    })?;
    let pem = zeroize::Zeroizing::new(
        pki::der::pem::encode_string("PRIVATE KEY", pki::der::pem::LineEnding::LF, &der).map_err(
            |e| Error::BadFile {
                path: path.to_owned(),
                reason: format!("PEM encoding: {e}"),
            },
        )?,
    );
    write_file(path, pem.as_bytes(), 0o600)
}

/// A key loaded by a provider, with the PKCS#8 DER it came from.
pub(crate) type LoadedKey = (Arc<dyn PrivateKey>, zeroize::Zeroizing<Vec<u8>>);

/// Read a PKCS#8 PEM private key through `provider`.
pub(crate) fn read_key(path: &Path, provider: &dyn CryptoProvider) -> Result<LoadedKey, Error> {
    check_key_mode(path)?;
    let text = zeroize::Zeroizing::new(fs::read(path).map_err(io(path))?);
    let (label, der) = pki::der::pem::decode_vec(&text).map_err(|e| Error::BadFile {
        path: path.to_owned(),
        reason: format!("not PEM: {e}"),
    })?;
    let der = zeroize::Zeroizing::new(der);
    if label != "PRIVATE KEY" {
        return Err(Error::BadFile {
            path: path.to_owned(),
            reason: format!("PEM label is {label:?}, expected \"PRIVATE KEY\" (PKCS#8)"),
        });
    }
    let key = provider
        .private_key_from_pkcs8_der(&der)
        .map_err(|source| Error::Pki {
            what: "loading a private key",
            source,
        })?;
    Ok((key, der))
}

/// PEM-encode certificates one after another.
pub(crate) fn certs_pem(certs: &[&Certificate]) -> Result<String, Error> {
    let mut out = String::new();
    for c in certs {
        let der = c.to_der().map_err(|e| Error::Pki {
            what: "encoding a certificate",
            source: pki::Error::malformed("Certificate", e),
        })?;
        out.push_str(
            &pki::der::pem::encode_string("CERTIFICATE", pki::der::pem::LineEnding::LF, &der)
                .map_err(|e| Error::Pki {
                    what: "encoding a certificate",
                    source: pki::Error::malformed("Certificate", e),
                })?,
        );
    }
    Ok(out)
}

/// Read the PEM certificates in `path`, in order.
pub(crate) fn read_certs(path: &Path) -> Result<Vec<Certificate>, Error> {
    let text = fs::read(path).map_err(io(path))?;
    let bad = |reason: String| Error::BadFile {
        path: path.to_owned(),
        reason,
    };
    let certs = Certificate::load_pem_chain(&text).map_err(|e| bad(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(bad("no certificate".into()));
    }
    // Re-encode to catch anything the PEM reader accepted but DER would not round-trip.
    for c in &certs {
        let der = c.to_der().map_err(|e| bad(e.to_string()))?;
        Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
    }
    Ok(certs)
}
