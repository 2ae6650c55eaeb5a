//! The client side: read GetCACert answers, build PKCSReq, RenewalReq and CertPoll messages,
//! and read CertReps (RFC 8894 sections 3.3, 4.2, 4.3).
//!
//! ```text
//! GetCACaps body ──▶ Capabilities ─┐
//! GetCACert answer ──▶ CaCerts ────┴▶ Client ──pkcs_req / renewal_req / cert_poll──▶ Transaction
//!                                                                           │ to_request
//!                       CertRep body ──▶ Client::read_cert_rep(&Transaction) ──▶ CertRepOutcome
//!                                        (signature by a GetCACert certificate, transactionID,
//!                                         recipientNonce = our senderNonce, envelope opened)
//! ```

use pki::alg::{ContentCipher, HashAlg, KeyTransport};
use pki::cms::{EnvelopedData, OpenOptions, Recipient, SignedData, VerifyOptions};
use pki::der::Encode;
use pki::key::{Decrypter, Signer};
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use pki::x509_cert::Certificate;
use pki::x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use pki::x509_cert::name::Name;
use rand_core::CryptoRng;

use crate::attributes::ScepAttributes;
use crate::caps::Capabilities;
use crate::message::{FailInfo, MessageType, Nonce, PkiStatus, TransactionId};
use crate::pki_message::{self, PkiMessage};
use crate::responder::content_type;
use crate::{Error, http};

/// Most certificates read from a GetCACert answer.
const MAX_CA_CERTS: usize = 16;

/// The certificates a GetCACert answer gave: the CA alone, or RA certificates and the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCerts {
    certs: Vec<Certificate>,
}

fn is_ca(c: &Certificate) -> bool {
    matches!(
        c.tbs_certificate().get_extension::<BasicConstraints>(),
        Ok(Some((_, bc))) if bc.ca
    )
}

fn usage(c: &Certificate) -> Option<KeyUsage> {
    c.tbs_certificate()
        .get_extension::<KeyUsage>()
        .ok()
        .flatten()
        .map(|(_, k)| k)
}

impl CaCerts {
    /// Read a GetCACert answer by its content type: `application/x-x509-ca-cert` is one DER
    /// certificate, `application/x-x509-ca-ra-cert` a degenerate SignedData (BER accepted).
    pub fn from_response(resp: &http::Response<Vec<u8>>) -> Result<Self, Error> {
        if resp.status() != http::StatusCode::OK {
            return Err(Error::HttpStatus(resp.status().as_u16()));
        }
        let ct = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        Self::from_body(&ct, resp.body())
    }

    /// Read a GetCACert body of content type `content_type`.
    pub fn from_body(content_type: &str, body: &[u8]) -> Result<Self, Error> {
        match content_type {
            content_type::CA_CERT => Ok(CaCerts {
                certs: vec![pki::cert::Cert::from_der(body)?.certificate().clone()],
            }),
            content_type::CA_RA_CERT => {
                let sd = SignedData::from_ber(body, &pki::ber::Limits::default())?;
                let certs = sd.certificates().to_vec();
                if certs.is_empty() {
                    return Err(Error::Malformed(
                        "GetCACert answer holds no certificate".into(),
                    ));
                }
                if certs.len() > MAX_CA_CERTS {
                    return Err(Error::Malformed(format!(
                        "GetCACert answer holds {} certificates, over {MAX_CA_CERTS}",
                        certs.len()
                    )));
                }
                Ok(CaCerts { certs })
            }
            other => Err(Error::WrongContentType(other.to_owned())),
        }
    }

    /// The certificates as received.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certs
    }

    /// The certificate requests are encrypted to (RFC 8894 section 3.1): a non-CA (RA)
    /// certificate allowing keyEncipherment, else a single certificate, else the first CA.
    pub fn recipient(&self) -> Option<&Certificate> {
        let ra = self
            .certs
            .iter()
            .find(|c| !is_ca(c) && usage(c).is_none_or(|k| k.key_encipherment()));
        ra.or(match self.certs.as_slice() {
            [one] => Some(one),
            _ => self.certs.iter().find(|c| is_ca(c)),
        })
    }
}

/// The client's own key and certificate (self-signed for enrolment, the current certificate
/// for renewal), behind the `pki` key traits so a TPM or HSM key works.
#[derive(Clone, Copy)]
pub struct Identity<'a> {
    /// Signs the pkiMessage.
    pub signer: &'a dyn Signer,
    /// Opens the CertRep envelope.
    pub decrypter: &'a dyn Decrypter,
    /// The certificate of that key.
    pub certificate: &'a Certificate,
}

impl core::fmt::Debug for Identity<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.certificate.tbs_certificate().subject())
            .finish_non_exhaustive()
    }
}

/// A request sent (or about to be): the message and what its CertRep must echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    message_type: MessageType,
    transaction_id: TransactionId,
    sender_nonce: Nonce,
    message: Vec<u8>,
}

impl Transaction {
    /// Recover a transaction from a pkiMessage we sent (structure only, nothing verified).
    pub fn from_message(message: &[u8]) -> Result<Self, Error> {
        let m = PkiMessage::parse(message)?;
        Ok(Transaction {
            message_type: m.message_type(),
            transaction_id: m.transaction_id().clone(),
            sender_nonce: m
                .attributes()
                .sender_nonce
                .ok_or(Error::MissingAttribute("senderNonce"))?,
            message: message.to_vec(),
        })
    }

    /// The pkiMessage DER.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// messageType.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// transactionID.
    pub fn transaction_id(&self) -> &TransactionId {
        &self.transaction_id
    }

    /// Our senderNonce.
    pub fn sender_nonce(&self) -> Nonce {
        self.sender_nonce
    }

    /// The HTTP request to the SCEP endpoint `base` (POST when `post`, else GET).
    pub fn to_request(
        &self,
        base: &http::Uri,
        post: bool,
    ) -> Result<http::Request<Vec<u8>>, Error> {
        crate::Operation::PkiOperation(self.message.clone()).to_request(base, post)
    }
}

/// Options for reading a CertRep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertRepOptions {
    /// Signature policy for the CertRep. Default: SHA-1 allowed (many servers sign with it),
    /// RSA keys from 2048 bits.
    pub signatures: Policy,
    /// Open SUCCESS envelopes encrypted with single DES-CBC (micromdm's and step-ca's default).
    /// Off by default.
    pub allow_single_des: bool,
}

impl Default for CertRepOptions {
    fn default() -> Self {
        CertRepOptions {
            signatures: Policy::allowing_sha1(),
            allow_single_des: false,
        }
    }
}

impl CertRepOptions {
    /// Allow (or refuse) single DES-CBC envelopes.
    pub fn allowing_single_des(mut self, allow: bool) -> Self {
        self.allow_single_des = allow;
        self
    }
}

/// What a CertRep said.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertRepOutcome {
    /// SUCCESS: the certificates of the degenerate SignedData (issued certificate and any
    /// chain, in the order received).
    Success(Vec<Certificate>),
    /// FAILURE with its failInfo and failInfoText.
    Failure {
        /// Why.
        fail_info: FailInfo,
        /// The server's words, if any.
        text: Option<String>,
    },
    /// PENDING: poll again later with [`Client::cert_poll`].
    Pending,
    /// SUCCESS answering a GetCRL: the CRL (a DER CertificateList) from the degenerate
    /// SignedData's `crls` field.
    Crl(Vec<u8>),
}

impl CertRepOutcome {
    /// For SUCCESS, the certificate holding `spki` (the key we asked a certificate for).
    pub fn certificate_for(
        &self,
        spki: &pki::spki::SubjectPublicKeyInfoOwned,
    ) -> Option<&Certificate> {
        match self {
            CertRepOutcome::Success(certs) => certs
                .iter()
                .find(|c| c.tbs_certificate().subject_public_key_info() == spki),
            _ => None,
        }
    }
}

/// A SCEP client for one server: its capabilities and GetCACert certificates.
pub struct Client {
    provider: &'static dyn CryptoProvider,
    capabilities: Capabilities,
    ca: CaCerts,
    key_transport: KeyTransport,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("provider", &self.provider.name())
            .field("capabilities", &self.capabilities)
            .field("ca", &self.ca)
            .field("key_transport", &self.key_transport)
            .finish()
    }
}

impl Client {
    /// A client for a server that offered `capabilities` and answered GetCACert with `ca`.
    /// Key transport is RSA PKCS#1 v1.5 (what every SCEP server opens) unless changed.
    pub fn new(
        provider: &'static dyn CryptoProvider,
        capabilities: Capabilities,
        ca: CaCerts,
    ) -> Self {
        Client {
            provider,
            capabilities,
            ca,
            key_transport: KeyTransport::RsaPkcs1v15,
        }
    }

    /// Wrap the content-encryption key with `transport` (e.g. RSA-OAEP) instead.
    pub fn with_key_transport(mut self, transport: KeyTransport) -> Self {
        self.key_transport = transport;
        self
    }

    /// The content cipher requests use: from the capabilities (AES-128, else 3DES).
    pub fn content_cipher(&self) -> Result<ContentCipher, Error> {
        self.capabilities
            .content_cipher()
            .ok_or(Error::Pki(pki::Error::AlgorithmNotAllowed {
                what: "the server offers neither AES nor DES3 (single DES is never sent)".into(),
            }))
    }

    /// The digest requests use: the strongest the capabilities offer.
    pub fn digest(&self) -> HashAlg {
        self.capabilities.digest()
    }

    /// A PKCSReq for the PKCS#10 `csr_der`, signed by `identity`. The transactionID is the hex
    /// SHA-256 of the request's public key unless one is given.
    pub fn pkcs_req(
        &self,
        identity: Identity<'_>,
        csr_der: &[u8],
        transaction_id: Option<TransactionId>,
        rng: &mut dyn CryptoRng,
    ) -> Result<Transaction, Error> {
        let id = match transaction_id {
            Some(t) => t,
            None => self.transaction_id_for(csr_der)?,
        };
        self.request(MessageType::PkcsReq, identity, csr_der, id, rng)
    }

    /// A RenewalReq for `csr_der`, signed by `identity` holding the current certificate.
    pub fn renewal_req(
        &self,
        identity: Identity<'_>,
        csr_der: &[u8],
        transaction_id: Option<TransactionId>,
        rng: &mut dyn CryptoRng,
    ) -> Result<Transaction, Error> {
        let id = match transaction_id {
            Some(t) => t,
            None => self.transaction_id_for(csr_der)?,
        };
        self.request(MessageType::RenewalReq, identity, csr_der, id, rng)
    }

    /// A CertPoll for the pending request `transaction_id` whose subject is `subject`, to the
    /// CA named `issuer`.
    pub fn cert_poll(
        &self,
        identity: Identity<'_>,
        issuer: &Name,
        subject: &Name,
        transaction_id: TransactionId,
        rng: &mut dyn CryptoRng,
    ) -> Result<Transaction, Error> {
        let enc = |e: pki::der::Error| Error::Pki(pki::Error::malformed("IssuerAndSubject", e));
        let mut body = issuer.to_der().map_err(enc)?;
        body.extend(subject.to_der().map_err(enc)?);
        let ias = pki::der::asn1::AnyRef::new(pki::der::Tag::Sequence, &body)
            .and_then(|a| a.to_der())
            .map_err(enc)?;
        self.request(MessageType::CertPoll, identity, &ias, transaction_id, rng)
    }

    fn transaction_id_for(&self, csr_der: &[u8]) -> Result<TransactionId, Error> {
        let csr = pki::cert::csr::Csr::from_der(csr_der)?;
        let spki = csr
            .public_key()
            .to_der()
            .map_err(|e| Error::Pki(pki::Error::malformed("SubjectPublicKeyInfo", e)))?;
        let d = self.provider.digest(HashAlg::Sha256, &spki);
        Ok(TransactionId(
            d.iter().map(|b| format!("{b:02X}")).collect(),
        ))
    }

    /// Encrypt `content` to the server and sign it as a `message_type` pkiMessage.
    pub fn request(
        &self,
        message_type: MessageType,
        identity: Identity<'_>,
        content: &[u8],
        transaction_id: TransactionId,
        rng: &mut dyn CryptoRng,
    ) -> Result<Transaction, Error> {
        let to = self.ca.recipient().ok_or(Error::ApiMisuse(
            "GetCACert gave no certificate to encrypt to",
        ))?;
        let envelope = EnvelopedData::seal(
            self.provider,
            content,
            &[Recipient::from_certificate(to, self.key_transport)],
            self.content_cipher()?,
            rng,
        )?;
        let sender_nonce = Nonce::random(rng);
        let attributes = ScepAttributes {
            message_type,
            transaction_id: transaction_id.clone(),
            sender_nonce: Some(sender_nonce),
            recipient_nonce: None,
            pki_status: None,
            fail_info: None,
            fail_info_text: None,
        };
        let message = pki_message::sign(
            self.provider,
            identity.signer,
            identity.certificate,
            self.digest(),
            &attributes,
            &envelope,
            rng,
        )?;
        Ok(Transaction {
            message_type,
            transaction_id,
            sender_nonce,
            message,
        })
    }

    /// Read the CertRep `body` answering `tx`: it must be signed by a certificate from
    /// GetCACert, carry our transactionID and our senderNonce as recipientNonce; a SUCCESS
    /// envelope is opened with `identity`.
    pub fn read_cert_rep(
        &self,
        tx: &Transaction,
        identity: Identity<'_>,
        body: &[u8],
        opts: &CertRepOptions,
        rng: &mut dyn CryptoRng,
    ) -> Result<CertRepOutcome, Error> {
        let msg = PkiMessage::parse(body)?;
        let attrs = msg.attributes();
        if attrs.message_type != MessageType::CertRep {
            return Err(Error::UnexpectedMessageType(attrs.message_type));
        }
        let mut vopts =
            VerifyOptions::new(opts.signatures).with_extra_certificates(self.ca.certificates());
        if msg.signed_data().content().is_none() {
            vopts = vopts.with_detached_content(&[]);
        }
        let verified = msg.signed_data().verify(self.provider, &vopts)?;
        let signer_key = verified
            .signers()
            .first()
            .map(|s| s.public_key())
            .ok_or(Error::Malformed("no signer".into()))?;
        if !self
            .ca
            .certificates()
            .iter()
            .any(|c| c.tbs_certificate().subject_public_key_info() == signer_key)
        {
            return Err(Error::UntrustedSigner(pki::Error::NotFound(
                "CertRep signer among the GetCACert certificates",
            )));
        }
        if attrs.transaction_id != tx.transaction_id {
            return Err(Error::NotOurTransaction("transactionID differs"));
        }
        match attrs.recipient_nonce {
            Some(n) if n == tx.sender_nonce => {}
            Some(_) => {
                return Err(Error::NotOurTransaction(
                    "recipientNonce is not our senderNonce",
                ));
            }
            None => return Err(Error::MissingAttribute("recipientNonce")),
        }
        match attrs
            .pki_status
            .ok_or(Error::MissingAttribute("pkiStatus"))?
        {
            PkiStatus::Pending => Ok(CertRepOutcome::Pending),
            PkiStatus::Failure => Ok(CertRepOutcome::Failure {
                fail_info: attrs.fail_info.ok_or(Error::MissingAttribute("failInfo"))?,
                text: attrs.fail_info_text.clone(),
            }),
            PkiStatus::Success => {
                let env = msg.envelope().ok_or(Error::Malformed(
                    "a SUCCESS CertRep carries no pkcsPKIEnvelope".into(),
                ))?;
                let open = OpenOptions::new()
                    .recipient_certificate(identity.certificate.clone())
                    .allow_single_des(opts.allow_single_des);
                let plain = env.open(self.provider, identity.decrypter, &open, rng)?;
                let inner = SignedData::from_ber(&plain, &pki::ber::Limits::default())?;
                if tx.message_type == MessageType::GetCrl {
                    let malformed =
                        |e: pki::der::Error| Error::Pki(pki::Error::malformed("crls", e));
                    let field = inner.crls_der().ok_or(Error::Malformed(
                        "SUCCESS CertRep to GetCRL holds no CRL".into(),
                    ))?;
                    let set = <pki::der::asn1::AnyRef<'_> as pki::der::Decode>::from_der(field)
                        .map_err(malformed)?;
                    let mut r = pki::der::SliceReader::new(set.value()).map_err(malformed)?;
                    let first: pki::der::asn1::AnyRef<'_> =
                        pki::der::Reader::decode(&mut r).map_err(malformed)?;
                    return Ok(CertRepOutcome::Crl(first.to_der().map_err(malformed)?));
                }
                let certs = inner.certificates().to_vec();
                if certs.is_empty() {
                    return Err(Error::Malformed(
                        "SUCCESS CertRep holds no certificate".into(),
                    ));
                }
                Ok(CertRepOutcome::Success(certs))
            }
        }
    }
}
