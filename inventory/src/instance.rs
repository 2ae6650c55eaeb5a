//! Instance IDs: the permanent identifier a device can prove.
//!
//! ```text
//! apple serial  = 8*20 (ALPHA / DIGIT)            e.g. C02XK1ABJG5J (stored upper-case)
//! EK URI        = "urn:ek:sha256:" base64(SHA-256(EK SubjectPublicKeyInfo DER))
//!                 standard alphabet, padded: 44 characters decoding to 32 bytes
//! ```
//!
//! The EK URI form is Smallstep's (and the `attestation` crate's `tpm::ek::ek_uri`). A URI
//! whose base64 is unpadded, URL-safe, non-canonical or not 32 bytes is refused, so one TPM
//! has exactly one spelling and a lookup by ID cannot miss.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::Error;

/// The prefix of an EK URI.
pub const EK_URI_PREFIX: &str = "urn:ek:sha256:";

/// A validated instance ID in its canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstanceId {
    /// An Apple serial number (upper-case ASCII letters and digits).
    Serial(String),
    /// A TPM EK URI.
    EkUri(String),
}

fn bad(id: &str, reason: &'static str) -> Error {
    Error::BadInstanceId {
        id: id.chars().take(80).collect(),
        reason,
    }
}

impl InstanceId {
    /// Parse an instance ID: an EK URI when it starts with `urn:`, otherwise a serial number
    /// (8 to 20 ASCII letters and digits; lower case is folded to upper case).
    pub fn parse(s: &str) -> Result<InstanceId, Error> {
        if s.len() >= 4 && s[..4].eq_ignore_ascii_case("urn:") {
            let Some(b64) = s.strip_prefix(EK_URI_PREFIX) else {
                return Err(bad(s, "the only URI form is urn:ek:sha256:<base64>"));
            };
            let digest = STANDARD
                .decode(b64)
                .map_err(|_| bad(s, "the EK digest is not standard padded base64"))?;
            if digest.len() != 32 {
                return Err(bad(s, "the EK digest is not 32 bytes (SHA-256)"));
            }
            return Ok(InstanceId::EkUri(s.to_owned()));
        }
        if !(8..=20).contains(&s.len()) {
            return Err(bad(s, "a serial number has 8 to 20 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad(s, "a serial number has only ASCII letters and digits"));
        }
        Ok(InstanceId::Serial(s.to_ascii_uppercase()))
    }

    /// The EK URI of an EK whose SubjectPublicKeyInfo hashes (SHA-256) to `digest`.
    pub fn from_ek_digest(digest: &[u8; 32]) -> InstanceId {
        InstanceId::EkUri(format!("{EK_URI_PREFIX}{}", STANDARD.encode(digest)))
    }

    /// The canonical spelling, as stored and compared.
    pub fn as_str(&self) -> &str {
        match self {
            InstanceId::Serial(s) | InstanceId::EkUri(s) => s,
        }
    }

    /// `serial` or `ek`.
    pub fn kind(&self) -> &'static str {
        match self {
            InstanceId::Serial(_) => "serial",
            InstanceId::EkUri(_) => "ek",
        }
    }
}

impl core::fmt::Display for InstanceId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest as _;

    #[test]
    fn ek_uri_of_a_digest_parses_back() {
        // SHA-256 of an arbitrary SPKI-shaped blob; the URI must survive a round trip.
        let d: [u8; 32] = sha2::Sha256::digest(b"\x30\x59\x30\x13").into();
        let id = InstanceId::from_ek_digest(&d);
        assert!(id.as_str().starts_with("urn:ek:sha256:"));
        assert_eq!(id.as_str().len(), EK_URI_PREFIX.len() + 44);
        assert_eq!(InstanceId::parse(id.as_str()).unwrap(), id);
    }

    #[test]
    fn bad_ek_uris_refused() {
        let good = InstanceId::from_ek_digest(&[0xfb; 32]);
        let b64 = good.as_str().strip_prefix(EK_URI_PREFIX).unwrap();
        assert!(b64.contains('+') || b64.contains('/'));
        for bad in [
            // unpadded
            format!("{EK_URI_PREFIX}{}", b64.trim_end_matches('=')),
            // URL-safe alphabet
            format!("{EK_URI_PREFIX}{}", b64.replace('+', "-").replace('/', "_")),
            // 31 bytes
            format!("{EK_URI_PREFIX}{}", STANDARD.encode([1u8; 31])),
            // not base64 at all
            format!("{EK_URI_PREFIX}!!!!"),
            // another hash
            format!("urn:ek:sha384:{b64}"),
            "urn:uuid:1234".to_owned(),
        ] {
            assert!(
                matches!(InstanceId::parse(&bad), Err(Error::BadInstanceId { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn non_canonical_trailing_bits_refused() {
        // 32 bytes need 43 base64 digits + '='; the last digit carries 2 spare bits that
        // must be zero. "B" instead of "A" sets one of them.
        let s = format!("{EK_URI_PREFIX}{}B=", "A".repeat(42));
        assert!(InstanceId::parse(&s).is_err());
        let ok = format!("{EK_URI_PREFIX}{}A=", "A".repeat(42));
        assert!(InstanceId::parse(&ok).is_ok());
    }

    #[test]
    fn serials() {
        assert_eq!(
            InstanceId::parse("c02xk1abjg5j").unwrap(),
            InstanceId::Serial("C02XK1ABJG5J".into())
        );
        for bad in [
            "",
            "SHORT",
            "C02XK1AB-JG5J",
            "C02XK1ABJG5JC02XK1ABJG5J",
            "C02 XK1ABJG5J",
        ] {
            assert!(InstanceId::parse(bad).is_err(), "{bad}");
        }
    }
}
