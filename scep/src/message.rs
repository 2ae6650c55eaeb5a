//! The small value types of a SCEP pkiMessage (RFC 8894 section 3.2.1).
//!
//! ```text
//! messageType    PrintableString  "3" CertRep, "17" RenewalReq, "19" PKCSReq,
//!                                 "20" CertPoll, "21" GetCert, "22" GetCRL
//! pkiStatus      PrintableString  "0" SUCCESS, "2" FAILURE, "3" PENDING
//! failInfo       PrintableString  "0" badAlg, "1" badMessageCheck, "2" badRequest,
//!                                 "3" badTime, "4" badCertID
//! senderNonce    OCTET STRING     16 bytes (Apple devices send 8)
//! recipientNonce OCTET STRING     16 bytes
//! transactionID  PrintableString  opaque
//! ```

use crate::Error;

/// The messageType signed attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageType {
    /// `3`: the server's response.
    CertRep,
    /// `17`: renewal of an existing certificate.
    RenewalReq,
    /// `19`: initial enrolment (also sent for renewal by certmonger, sscep and Apple).
    PkcsReq,
    /// `20`: poll for a pending request (GetCertInitial in older drafts).
    CertPoll,
    /// `21`: fetch a certificate by issuer and serial.
    GetCert,
    /// `22`: fetch a CRL.
    GetCrl,
}

impl MessageType {
    /// The decimal string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::CertRep => "3",
            MessageType::RenewalReq => "17",
            MessageType::PkcsReq => "19",
            MessageType::CertPoll => "20",
            MessageType::GetCert => "21",
            MessageType::GetCrl => "22",
        }
    }

    /// Parse the wire value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "3" => MessageType::CertRep,
            "17" => MessageType::RenewalReq,
            "19" => MessageType::PkcsReq,
            "20" => MessageType::CertPoll,
            "21" => MessageType::GetCert,
            "22" => MessageType::GetCrl,
            other => return Err(Error::UnknownMessageType(other.to_owned())),
        })
    }
}

/// The pkiStatus signed attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkiStatus {
    /// `0`: the request was granted.
    Success,
    /// `2`: the request was rejected (failInfo says why).
    Failure,
    /// `3`: the request awaits manual approval; poll with CertPoll.
    Pending,
}

impl PkiStatus {
    /// The decimal string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            PkiStatus::Success => "0",
            PkiStatus::Failure => "2",
            PkiStatus::Pending => "3",
        }
    }

    /// Parse the wire value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "0" => PkiStatus::Success,
            "2" => PkiStatus::Failure,
            "3" => PkiStatus::Pending,
            other => {
                return Err(Error::BadAttribute {
                    name: "pkiStatus",
                    reason: format!("unknown value {other:?}"),
                });
            }
        })
    }
}

/// The failInfo signed attribute: why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailInfo {
    /// `0`: unrecognized or unsupported algorithm.
    BadAlg,
    /// `1`: integrity check (signature) failed.
    BadMessageCheck,
    /// `2`: transaction not permitted or supported.
    BadRequest,
    /// `3`: signingTime too far from the server's time.
    BadTime,
    /// `4`: no certificate could be identified matching the criteria.
    BadCertId,
}

impl FailInfo {
    /// The decimal string on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailInfo::BadAlg => "0",
            FailInfo::BadMessageCheck => "1",
            FailInfo::BadRequest => "2",
            FailInfo::BadTime => "3",
            FailInfo::BadCertId => "4",
        }
    }

    /// Parse the wire value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "0" => FailInfo::BadAlg,
            "1" => FailInfo::BadMessageCheck,
            "2" => FailInfo::BadRequest,
            "3" => FailInfo::BadTime,
            "4" => FailInfo::BadCertId,
            other => {
                return Err(Error::BadAttribute {
                    name: "failInfo",
                    reason: format!("unknown value {other:?}"),
                });
            }
        })
    }
}

/// A senderNonce or recipientNonce. RFC 8894 fixes 16 bytes and [`Nonce::random`] makes
/// those; reading is lenient (Apple devices send 8 bytes), taking 1 to [`Nonce::MAX_LEN`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Nonce {
    bytes: [u8; Nonce::MAX_LEN],
    len: u8,
}

impl core::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Nonce(")?;
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl Nonce {
    /// The longest nonce read.
    pub const MAX_LEN: usize = 64;

    /// A fresh 16-byte nonce from the caller's RNG.
    pub fn random(rng: &mut dyn rand_core::CryptoRng) -> Self {
        let mut n = [0u8; 16];
        rng.fill_bytes(&mut n);
        Self::from_array(n)
    }

    /// A 16-byte nonce.
    pub const fn from_array(n: [u8; 16]) -> Self {
        let mut bytes = [0u8; Nonce::MAX_LEN];
        let mut i = 0;
        while i < 16 {
            bytes[i] = n[i];
            i += 1;
        }
        Nonce { bytes, len: 16 }
    }

    /// Parse the OCTET STRING contents: 1 to [`Nonce::MAX_LEN`] bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Self, Error> {
        if b.is_empty() || b.len() > Self::MAX_LEN {
            return Err(Error::BadAttribute {
                name: "nonce",
                reason: format!("{} bytes, expected 1 to {}", b.len(), Self::MAX_LEN),
            });
        }
        let mut bytes = [0u8; Nonce::MAX_LEN];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Nonce {
            bytes,
            len: b.len() as u8,
        })
    }

    /// The nonce's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The transactionID: an opaque string chosen by the client (hex of a key hash from Apple, a long
/// decimal number from certmonger, base64 from NDES). Compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub String);

impl TransactionId {
    /// The string as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// OIDs of the SCEP signed attributes (VeriSign arc, RFC 8894 section 3.2.1) and
/// id-pkix-failInfoText (section 3.2.1.4.5).
pub mod oid {
    use pki::der::asn1::ObjectIdentifier as O;

    /// id-messageType
    pub const MESSAGE_TYPE: O = O::new_unwrap("2.16.840.1.113733.1.9.2");
    /// id-pkiStatus
    pub const PKI_STATUS: O = O::new_unwrap("2.16.840.1.113733.1.9.3");
    /// id-failInfo
    pub const FAIL_INFO: O = O::new_unwrap("2.16.840.1.113733.1.9.4");
    /// id-senderNonce
    pub const SENDER_NONCE: O = O::new_unwrap("2.16.840.1.113733.1.9.5");
    /// id-recipientNonce
    pub const RECIPIENT_NONCE: O = O::new_unwrap("2.16.840.1.113733.1.9.6");
    /// id-transactionID
    pub const TRANSACTION_ID: O = O::new_unwrap("2.16.840.1.113733.1.9.7");
    /// id-scep-failInfoText
    pub const FAIL_INFO_TEXT: O = O::new_unwrap("1.3.6.1.5.5.7.24.1");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for t in [
            MessageType::CertRep,
            MessageType::RenewalReq,
            MessageType::PkcsReq,
            MessageType::CertPoll,
            MessageType::GetCert,
            MessageType::GetCrl,
        ] {
            assert_eq!(MessageType::parse(t.as_str()).unwrap(), t);
        }
        assert!(matches!(
            MessageType::parse("18"),
            Err(Error::UnknownMessageType(s)) if s == "18"
        ));
        for f in [
            FailInfo::BadAlg,
            FailInfo::BadMessageCheck,
            FailInfo::BadRequest,
            FailInfo::BadTime,
            FailInfo::BadCertId,
        ] {
            assert_eq!(FailInfo::parse(f.as_str()).unwrap(), f);
        }
        assert!(PkiStatus::parse("1").is_err());
        assert!(Nonce::from_bytes(&[]).is_err());
        assert!(Nonce::from_bytes(&[0; 65]).is_err());
        assert_eq!(Nonce::from_bytes(&[7; 8]).unwrap().as_bytes(), [7; 8]);
    }
}
