//! Secrets at rest: BootstrapTokens, UnlockTokens, ADE server tokens and push keys are stored
//! sealed with AES-256-GCM under a key kept in the data directory (`secrets.key`, mode 0600),
//! apart from the database, so a database dump alone does not reveal them.
//!
//! ```text
//! sealed = version (1 byte, 1) ‖ nonce (12 random bytes) ‖ AES-256-GCM(key, nonce, aad, plaintext)
//! ```
//!
//! The associated data names what the secret belongs to (for example `bootstrap:UDID`), so a
//! sealed value copied to another row does not open there.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::data_dir::{self, Error};

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// Seals and opens secrets with the data directory's key.
pub struct Sealer {
    cipher: Aes256Gcm,
}

impl core::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// A sealed value that does not open: wrong key, wrong associated data, or altered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a sealed secret does not open with this data directory's key")]
pub struct Unsealable;

/// Where the key lives in a data directory.
pub fn key_path(data: &Path) -> PathBuf {
    data.join("secrets.key")
}

impl Sealer {
    /// Load the key from the data directory, creating it (0600) on first use.
    pub fn open_or_create(data: &Path) -> Result<Self, Error> {
        let path = key_path(data);
        let key: Zeroizing<Vec<u8>> = match std::fs::read(&path) {
            Ok(k) => Zeroizing::new(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = Zeroizing::new(vec![0u8; 32]);
                getrandom::fill(&mut k).map_err(|e| Error::Io {
                    path: path.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                data_dir::write_file(&path, &k, 0o600)?;
                tracing::info!(path = %path.display(), "created the key that seals secrets at rest");
                k
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        Self::from_key(&key).ok_or_else(|| Error::BadFile {
            path,
            reason: "expected 32 bytes".into(),
        })
    }

    /// A sealer over a 32-byte key.
    pub fn from_key(key: &[u8]) -> Option<Self> {
        Aes256Gcm::new_from_slice(key)
            .ok()
            .map(|cipher| Sealer { cipher })
    }

    /// Seal `plaintext`, bound to `aad`.
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS random source failed");
        let ct = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encrypts any message this small");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Open a value sealed with the same key and `aad`.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Unsealable> {
        let (&v, rest) = sealed.split_first().ok_or(Unsealable)?;
        if v != VERSION || rest.len() < NONCE_LEN {
            return Err(Unsealable);
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Unsealable)?;
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_key_and_aad() {
        let s = Sealer::from_key(&[7u8; 32]).unwrap();
        let sealed = s.seal("bootstrap:A", b"token bytes");
        assert!(!sealed.windows(11).any(|w| w == b"token bytes"));
        assert_eq!(&**s.open("bootstrap:A", &sealed).unwrap(), b"token bytes");
        assert_eq!(s.open("bootstrap:B", &sealed), Err(Unsealable));
        let other = Sealer::from_key(&[8u8; 32]).unwrap();
        assert_eq!(other.open("bootstrap:A", &sealed), Err(Unsealable));
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(s.open("bootstrap:A", &flipped), Err(Unsealable));
        assert_eq!(s.open("bootstrap:A", &[]), Err(Unsealable));
        assert_eq!(s.open("bootstrap:A", &sealed[..5]), Err(Unsealable));
    }

    #[test]
    fn the_key_file_is_made_once_and_kept_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let a = Sealer::open_or_create(dir.path()).unwrap();
        let sealed = a.seal("x", b"y");
        let b = Sealer::open_or_create(dir.path()).unwrap();
        assert_eq!(&**b.open("x", &sealed).unwrap(), b"y");
        let mode = std::fs::metadata(key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
