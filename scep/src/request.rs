//! What a verified request holds: the PKCS#10, the signer, and the message-specific body
//! (RFC 8894 sections 3.3.1 to 3.3.4).

use pki::alg::{ContentCipher, HashAlg, SignatureScheme};
use pki::cert::csr::Csr;
use pki::cert::path::ValidatedPath;
use pki::der::asn1::{AnyRef, BitStringRef};
use pki::der::{Decode, Encode, Header, Reader, SliceReader};
use pki::provider::CryptoProvider;
use pki::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use pki::verify::Policy;
use pki::x509_cert::Certificate;
use pki::x509_cert::name::Name;

use crate::Error;
use crate::message::{MessageType, Nonce, TransactionId};

/// A PKCS#10 request (RFC 2986) whose self-signature verified over the bytes as received.
///
/// ```text
/// CertificationRequest ::= SEQUENCE {
///      certificationRequestInfo CertificationRequestInfo,  -- version INTEGER { v1(0) }
///      signatureAlgorithm AlgorithmIdentifier,
///      signature          BIT STRING }
/// ```
///
/// **Lenient step, documented:** Apple devices send their PKCSReq CSR with version 2, which
/// RFC 2986 and `x509-cert` refuse. When a request fails the strict parse and its version is a
/// small non-zero INTEGER, the signature is checked over the `certificationRequestInfo` bytes
/// exactly as received, and only then is the version read as v1 to decode the other fields.
/// [`CertificationRequest::version_as_received`] tells the caller it happened. Issue from such a
/// request with [`pki::cert::issue::issue`] and [`CertificationRequest::public_key`]
/// (`issue::from_csr` re-verifies the strict form and refuses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificationRequest {
    der: Vec<u8>,
    csr: Csr,
    version: u8,
}

impl CertificationRequest {
    /// Parse and verify `der` under `policy`.
    pub fn verify(
        provider: &dyn CryptoProvider,
        policy: &Policy,
        der: &[u8],
    ) -> Result<Self, Error> {
        match Csr::from_der(der) {
            Ok(csr) => {
                csr.verify(provider, policy)?;
                Ok(CertificationRequest {
                    der: der.to_vec(),
                    csr,
                    version: 0,
                })
            }
            Err(strict) => match Self::lenient(provider, policy, der)? {
                Some(r) => Ok(r),
                None => Err(strict.into()),
            },
        }
    }

    /// The version-other-than-v1 path; `Ok(None)` when the version is not the problem.
    fn lenient(
        provider: &dyn CryptoProvider,
        policy: &Policy,
        der: &[u8],
    ) -> Result<Option<Self>, Error> {
        let malformed = |e: pki::der::Error| Error::Pki(pki::Error::malformed("PKCS#10", e));
        let mut r = SliceReader::new(der).map_err(malformed)?;
        let outer = Header::decode(&mut r).map_err(malformed)?;
        let outer_len = usize::try_from(outer.encoded_len().map_err(malformed)?)
            .map_err(|_| Error::Malformed("PKCS#10 length".into()))?;
        let info: AnyRef<'_> = r.decode().map_err(malformed)?;
        let alg: AlgorithmIdentifierOwned = r.decode().map_err(malformed)?;
        let sig: BitStringRef<'_> = r.decode().map_err(malformed)?;
        if !r.is_finished() {
            return Ok(None);
        }
        let info_der = info.to_der().map_err(malformed)?;
        let info_hdr = info_der.len() - info.value().len();
        // certificationRequestInfo: SEQUENCE { version INTEGER (one octet), ... }
        let at = outer_len + info_hdr;
        let version = match (der.get(at), der.get(at + 1), der.get(at + 2)) {
            (Some(0x02), Some(0x01), Some(&v)) if (1..=9).contains(&v) => v,
            _ => return Ok(None),
        };
        if der.get(outer_len..outer_len + info_der.len()) != Some(info_der.as_slice()) {
            return Ok(None);
        }
        let scheme = SignatureScheme::from_algorithm_identifier(&alg, None)?;
        let sig = sig
            .as_bytes()
            .ok_or_else(|| Error::Malformed("PKCS#10 signature is not whole bytes".into()))?;
        let spki = info_spki(info.value())?;
        pki::verify::signature(provider, policy, &spki, scheme, &info_der, sig)?;
        let mut patched = der.to_vec();
        if let Some(b) = patched.get_mut(at + 2) {
            *b = 0;
        }
        let csr = Csr::from_der(&patched)?;
        Ok(Some(CertificationRequest {
            der: der.to_vec(),
            csr,
            version,
        }))
    }

    /// The request as received.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The parsed request (read as v1 when [`Self::version_as_received`] is not 0).
    pub fn csr(&self) -> &Csr {
        &self.csr
    }

    /// The version INTEGER as received (0 = v1; Apple sends 2).
    pub fn version_as_received(&self) -> u8 {
        self.version
    }

    /// The requester's public key.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        self.csr.public_key()
    }

    /// The requested subject.
    pub fn subject(&self) -> &Name {
        self.csr.subject()
    }

    /// The challengePassword, if present.
    pub fn challenge_password(&self) -> Option<&str> {
        self.csr.challenge_password()
    }
}

/// The subjectPKInfo of a certificationRequestInfo's contents.
fn info_spki(info_value: &[u8]) -> Result<SubjectPublicKeyInfoOwned, Error> {
    let malformed = |e: pki::der::Error| Error::Pki(pki::Error::malformed("PKCS#10", e));
    let mut r = SliceReader::new(info_value).map_err(malformed)?;
    let _version: AnyRef<'_> = r.decode().map_err(malformed)?;
    let _subject: AnyRef<'_> = r.decode().map_err(malformed)?;
    r.decode().map_err(malformed)
}

/// How the request's signer certificate stands with our CA.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SignerStanding {
    /// Self-signed (issuer name = subject name): an initial enrolment.
    SelfSigned,
    /// Valid under our CA at the request time: a renewal (whatever the messageType).
    Issued(Box<ValidatedPath>),
}

/// The certificate that signed a request.
#[derive(Debug, Clone)]
pub struct RequestSigner {
    pub(crate) der: Vec<u8>,
    pub(crate) certificate: Option<Certificate>,
    pub(crate) public_key: SubjectPublicKeyInfoOwned,
    pub(crate) standing: SignerStanding,
}

impl RequestSigner {
    /// The certificate's DER as received.
    pub fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate, when it fits `x509-cert`'s RFC 5280 profile (certmonger's self-signed
    /// request certificate, with its 33-octet serial number, does not).
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// The signing key.
    pub fn public_key(&self) -> &SubjectPublicKeyInfoOwned {
        &self.public_key
    }

    /// Self-signed, or issued by our CA.
    pub fn standing(&self) -> &SignerStanding {
        &self.standing
    }

    /// The serial number (magnitude octets) of the signer certificate when it chains to our
    /// CA, to look up in the caller's records ([`crate::issuance::Records::signer`]).
    pub fn issued_serial(&self) -> Option<Vec<u8>> {
        match (&self.standing, &self.certificate) {
            (SignerStanding::Issued(_), Some(c)) => {
                Some(c.tbs_certificate().serial_number().as_bytes().to_vec())
            }
            _ => None,
        }
    }

    /// Whether the signer is a valid certificate our CA issued.
    pub fn is_issued_by_us(&self) -> bool {
        matches!(self.standing, SignerStanding::Issued(_))
    }
}

/// The message-specific part of a verified request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RequestBody {
    /// PKCSReq (19): enrolment, or renewal when signed by an issued certificate.
    PkcsReq(CertificationRequest),
    /// RenewalReq (17).
    RenewalReq(CertificationRequest),
    /// CertPoll (20): `IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }`
    /// (RFC 8894 section 3.3.3).
    CertPoll {
        /// The CA's name.
        issuer: Name,
        /// The subject of the request being polled.
        subject: Name,
    },
    /// GetCert (21): an IssuerAndSerialNumber (RFC 8894 section 3.3.4).
    GetCert {
        /// The issuer.
        issuer: Name,
        /// The serial number's magnitude octets as sent.
        serial: Vec<u8>,
    },
    /// GetCRL (22): the IssuerAndSerialNumber of a certificate whose CRL is wanted.
    GetCrl {
        /// The issuer.
        issuer: Name,
        /// The serial number's magnitude octets as sent.
        serial: Vec<u8>,
    },
}

/// A request whose signature, signer standing, envelope and PKCS#10 checks passed. Only
/// [`crate::Responder::verify_request`] builds one; nothing about it was looked up in storage.
/// The caller reads its records and asks [`crate::Responder::decide`], then answers with
/// [`crate::Responder::success`], [`crate::Responder::failure`] or
/// [`crate::Responder::pending`].
#[derive(Debug, Clone)]
pub struct VerifiedRequest {
    pub(crate) message_type: MessageType,
    pub(crate) transaction_id: TransactionId,
    pub(crate) sender_nonce: Nonce,
    pub(crate) digest: HashAlg,
    pub(crate) cipher: ContentCipher,
    pub(crate) signer: RequestSigner,
    pub(crate) body: RequestBody,
    pub(crate) key_fingerprint: [u8; 32],
    pub(crate) signer_fingerprint: [u8; 32],
    pub(crate) signer_cert_fingerprint: [u8; 32],
}

impl VerifiedRequest {
    /// messageType.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// transactionID.
    pub fn transaction_id(&self) -> &TransactionId {
        &self.transaction_id
    }

    /// senderNonce (the reply's recipientNonce).
    pub fn sender_nonce(&self) -> Nonce {
        self.sender_nonce
    }

    /// The digest the requester signed with (the reply uses it too).
    pub fn digest(&self) -> HashAlg {
        self.digest
    }

    /// The content cipher the requester used (the reply uses it too).
    pub fn content_cipher(&self) -> ContentCipher {
        self.cipher
    }

    /// The signer.
    pub fn signer(&self) -> &RequestSigner {
        &self.signer
    }

    /// The message-specific content.
    pub fn body(&self) -> &RequestBody {
        &self.body
    }

    /// The PKCS#10 of a PKCSReq or RenewalReq.
    pub fn certification_request(&self) -> Option<&CertificationRequest> {
        match &self.body {
            RequestBody::PkcsReq(c) | RequestBody::RenewalReq(c) => Some(c),
            _ => None,
        }
    }

    /// Whether this asks to be a renewal: a RenewalReq, or a PKCSReq signed by a certificate
    /// we issued (as certmonger, sscep and Apple send them). Whether it is accepted as one is
    /// [`crate::Responder::decide`]'s call.
    pub fn is_renewal(&self) -> bool {
        match self.body {
            RequestBody::RenewalReq(_) => true,
            RequestBody::PkcsReq(_) => self.signer.is_issued_by_us(),
            _ => false,
        }
    }

    /// The key this transaction is bound to, as SHA-256 of its SubjectPublicKeyInfo DER: the
    /// requested key for PKCSReq and RenewalReq, the signer's otherwise. Record it with the
    /// transactionID ([`crate::issuance::TransactionRecord`]).
    pub fn key_fingerprint(&self) -> [u8; 32] {
        self.key_fingerprint
    }

    /// SHA-256 of the signer certificate's DER as received: tells a resend (same signer) from a
    /// renewal with the same key (signed by the certificate issued before).
    pub fn signer_cert_fingerprint(&self) -> [u8; 32] {
        self.signer_cert_fingerprint
    }

    /// SHA-256 of the signer's SubjectPublicKeyInfo DER. A transactionID bound to it (a poll or
    /// fetch signed by the requester) is not a replay.
    pub fn signer_fingerprint(&self) -> [u8; 32] {
        self.signer_fingerprint
    }
}
