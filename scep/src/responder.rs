//! The server side: answer GetCACaps, GetCACert and GetNextCACert, verify PKIOperation
//! requests, decide them, and build CertReps (RFC 8894 sections 3.3, 4.2 to 4.7).
//!
//! ```text
//! http::Request ──▶ Responder::handle ──▶ Incoming::Answer(response)      GetCACaps, GetCACert,
//!                                    │                                    GetNextCACert
//!                                    ├──▶ Incoming::Refused{response,..}  400/413 text, or a
//!                                    │                                    signed FAILURE CertRep
//!                                    └──▶ Incoming::Request(VerifiedRequest)
//!                                              │  caller reads its records
//!                       Responder::decide ──▶ Decision (crate::issuance)
//!                                              │  caller issues, builds the reply, commits
//!            Responder::success / failure / pending ──▶ signed CertRep (200)
//! ```
//!
//! Verification (PKIOperation) checks, in order: size; BER intake and structure; SCEP
//! attributes (from here on every failure is answered with a signed FAILURE); the outer
//! signature (SHA-1 to SHA-512; RSA keys of 1024 bits and more by default, because Apple devices
//! sign with a 1024-bit self-signed certificate); the signer's standing (self-signed, or valid
//! under our CA at `now`, else refused); the envelope (PKCS#1 v1.5 or OAEP, AES or 3DES; single
//! DES is badAlg); the PKCS#10 or the poll/fetch body. It reads no storage and spends nothing.
//! The replay rule, renewal rules, key rules, subject rule and challenge policy are
//! [`Responder::decide`]'s, over records the caller supplies (see [`crate::issuance`]).

use std::sync::Arc;
use std::time::SystemTime;

use pki::alg::{ContentCipher, HashAlg, KeyTransport};
use pki::cert::Cert;
use pki::cert::path;
use pki::cms::{EnvelopedData, OpenOptions, Recipient, VerifyOptions};
use pki::der::asn1::{AnyRef, UintRef};
use pki::der::{Decode, Reader, SliceReader};
use pki::key::{Decrypter, Signer};
use pki::provider::CryptoProvider;
use pki::verify::Policy;
use pki::x509_cert::Certificate;
use pki::x509_cert::ext::pkix::KeyUsage;
use pki::x509_cert::name::Name;
use rand_core::CryptoRng;

use crate::attributes::ScepAttributes;
use crate::caps::Capabilities;
use crate::challenge::ChallengePolicy;
use crate::issuance::{self, CopyRequested, Decision, IssuancePolicy, Records, SubjectRule};
use crate::message::{FailInfo, MessageType, Nonce, PkiStatus, TransactionId};
use crate::operation::{Limits, Operation};
use crate::pki_message::{self, PkiMessage};
use crate::request::{
    CertificationRequest, RequestBody, RequestSigner, SignerStanding, VerifiedRequest,
};
use crate::{Error, http};

/// Content types of the answers (RFC 8894 section 4).
pub mod content_type {
    /// GetCACaps.
    pub const CAPS: &str = "text/plain";
    /// GetCACert with a single CA certificate.
    pub const CA_CERT: &str = "application/x-x509-ca-cert";
    /// GetCACert with an RA or a chain (degenerate SignedData).
    pub const CA_RA_CERT: &str = "application/x-x509-ca-ra-cert";
    /// GetNextCACert.
    pub const NEXT_CA_CERT: &str = "application/x-x509-next-ca-cert";
    /// PKIOperation requests and CertReps.
    pub const PKI_MESSAGE: &str = "application/x-pki-message";
}

/// What the responder accepts beyond the safe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestPolicy {
    /// Signature policy for request signatures, CSRs and renewal paths. Default: SHA-1 allowed
    /// (SCEP clients still sign with it) and RSA keys from 1024 bits (Apple's self-signed
    /// request signer is 1024-bit RSA).
    pub signatures: Policy,
}

impl Default for RequestPolicy {
    fn default() -> Self {
        RequestPolicy {
            signatures: Policy::allowing_sha1().with_min_rsa_bits(1024),
        }
    }
}

impl RequestPolicy {
    /// Use this signature policy.
    pub fn with_signatures(mut self, policy: Policy) -> Self {
        self.signatures = policy;
        self
    }
}

/// The SCEP server's state: CA chain, RA identities, capabilities, limits and policies.
pub struct Responder {
    provider: &'static dyn CryptoProvider,
    ca_chain: Vec<Cert>,
    signer: Arc<dyn Signer>,
    signer_cert: Certificate,
    decrypter: Arc<dyn Decrypter>,
    decrypter_cert: Certificate,
    capabilities: Capabilities,
    limits: Limits,
    policy: RequestPolicy,
    challenge: Arc<dyn ChallengePolicy>,
    issuance: IssuancePolicy,
    subjects: Arc<dyn SubjectRule>,
    next_ca_chain: Vec<Certificate>,
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field("provider", &self.provider.name())
            .field("ca", &self.ca_chain.first().map(Cert::subject_string))
            .field("capabilities", &self.capabilities)
            .field("limits", &self.limits)
            .field("policy", &self.policy)
            .field("issuance", &self.issuance)
            .finish_non_exhaustive()
    }
}

fn key_usage(cert: &Certificate) -> Result<Option<KeyUsage>, Error> {
    match cert.tbs_certificate().get_extension::<KeyUsage>() {
        Ok(ku) => Ok(ku.map(|(_, k)| k)),
        Err(e) => Err(Error::Pki(pki::Error::malformed("keyUsage", e))),
    }
}

impl Responder {
    /// A responder for the CA whose chain is `ca_chain` (issuing CA first), signing CertReps
    /// with `signer` (its certificate must allow digitalSignature) and opening requests with
    /// `decrypter` (an RSA key and its certificate). The two may be the
    /// same key and certificate, and may be the CA's own. Capabilities, limits and policy start
    /// at their defaults.
    pub fn new(
        provider: &'static dyn CryptoProvider,
        ca_chain: &[Certificate],
        signer: (Arc<dyn Signer>, Certificate),
        decrypter: (Arc<dyn Decrypter>, Certificate),
        challenge: Arc<dyn ChallengePolicy>,
    ) -> Result<Self, Error> {
        if ca_chain.is_empty() {
            return Err(Error::ApiMisuse("the CA chain is empty"));
        }
        let ca_chain = ca_chain
            .iter()
            .map(Cert::from_certificate)
            .collect::<Result<Vec<_>, _>>()?;
        let (signer, signer_cert) = signer;
        let (decrypter, decrypter_cert) = decrypter;
        if signer.spki() != signer_cert.tbs_certificate().subject_public_key_info() {
            return Err(Error::ApiMisuse(
                "the CertRep signing key does not match its certificate",
            ));
        }
        if decrypter.spki() != decrypter_cert.tbs_certificate().subject_public_key_info() {
            return Err(Error::ApiMisuse(
                "the decryption key does not match its certificate",
            ));
        }
        if key_usage(&signer_cert)?.is_some_and(|k| !k.digital_signature()) {
            return Err(Error::ApiMisuse(
                "the CertRep signing certificate does not allow digitalSignature",
            ));
        }
        // The decryption certificate's keyUsage is not checked: clients encrypt to whatever
        // GetCACert gives them, and deployed CA certificates used this way often list only
        // keyCertSign.
        if !matches!(
            pki::public_key::kind(decrypter.spki())?,
            pki::key::KeyKind::Rsa { .. }
        ) {
            return Err(Error::ApiMisuse(
                "SCEP key transport needs an RSA decryption key",
            ));
        }
        Ok(Responder {
            provider,
            ca_chain,
            signer,
            signer_cert,
            decrypter,
            decrypter_cert,
            capabilities: Capabilities::default(),
            limits: Limits::default(),
            policy: RequestPolicy::default(),
            challenge,
            issuance: IssuancePolicy::default(),
            subjects: Arc::new(CopyRequested::default()),
            next_ca_chain: Vec::new(),
        })
    }

    /// Answer GetCACaps with these capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.capabilities = caps;
        self
    }

    /// Apply these size limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Apply this request policy.
    pub fn with_policy(mut self, policy: RequestPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Apply this issuance policy (renewal window, lifetime, keys, reserved names).
    pub fn with_issuance(mut self, policy: IssuancePolicy) -> Self {
        self.issuance = policy;
        self
    }

    /// Decide subjects of new certificates with `rule` instead of [`CopyRequested`].
    pub fn with_subject_rule(mut self, rule: Arc<dyn SubjectRule>) -> Self {
        self.subjects = rule;
        self
    }

    /// The issuance policy in force.
    pub fn issuance(&self) -> &IssuancePolicy {
        &self.issuance
    }

    /// Answer GetNextCACert with this chain (the next CA first), and advertise GetNextCACert.
    /// Without one, GetNextCACert is not advertised and answers 404.
    pub fn with_next_ca_chain(mut self, chain: Vec<Certificate>) -> Self {
        if !chain.is_empty() {
            self.capabilities.add(crate::Capability::GetNextCaCert);
        }
        self.next_ca_chain = chain;
        self
    }

    /// The capabilities in force.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    /// Route one HTTP request: answer what needs no decision, verify PKIOperations.
    pub fn handle(
        &self,
        req: &http::Request<Vec<u8>>,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> Incoming {
        let refused = |error: Error| Incoming::Refused {
            response: error_response(&error),
            error,
        };
        match Operation::from_request(req, &self.limits) {
            Err(e) => refused(e),
            Ok(Operation::GetCaCaps { .. }) => Incoming::Answer(self.get_ca_caps()),
            Ok(Operation::GetCaCert { .. }) => match self.get_ca_cert() {
                Ok(r) => Incoming::Answer(r),
                Err(e) => refused(e),
            },
            Ok(Operation::GetNextCaCert { .. }) => match self.get_next_ca_cert(rng) {
                Ok(r) => Incoming::Answer(r),
                Err(e) => refused(e),
            },
            Ok(Operation::PkiOperation(bytes)) => match self.verify_request(&bytes, now, rng) {
                Ok(r) => Incoming::Request(Box::new(r)),
                Err(rejection) => Incoming::Refused {
                    response: self.refuse(&rejection, rng),
                    error: rejection.0.error,
                },
            },
        }
    }

    /// The GetCACaps answer (`text/plain`).
    pub fn get_ca_caps(&self) -> http::Response<Vec<u8>> {
        ok(content_type::CAPS, self.capabilities.encode().into_bytes())
    }

    /// The GetCACert answer: the CA certificate alone when it is also both RA identities and
    /// has no chain, else a degenerate SignedData with the RA certificates and the chain.
    pub fn get_ca_cert(&self) -> Result<http::Response<Vec<u8>>, Error> {
        let ca = &self.ca_chain[0];
        if self.ca_chain.len() == 1
            && &self.signer_cert == ca.certificate()
            && &self.decrypter_cert == ca.certificate()
        {
            return Ok(ok(content_type::CA_CERT, ca.der().to_vec()));
        }
        let mut certs = vec![self.signer_cert.clone()];
        if self.decrypter_cert != self.signer_cert {
            certs.push(self.decrypter_cert.clone());
        }
        for c in &self.ca_chain {
            if !certs.contains(c.certificate()) {
                certs.push(c.certificate().clone());
            }
        }
        Ok(ok(
            content_type::CA_RA_CERT,
            pki::cms::degenerate_in_order(&certs)?,
        ))
    }

    /// The GetNextCACert answer (RFC 8894 section 4.7): a SignedData by the RA signer whose
    /// content is a degenerate SignedData with the next chain; 404 when none is configured.
    pub fn get_next_ca_cert(
        &self,
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        if self.next_ca_chain.is_empty() {
            return Ok(text(http::StatusCode::NOT_FOUND, "no next CA certificate"));
        }
        let inner = pki::cms::degenerate(&self.next_ca_chain)?;
        let scheme = pki_message::scheme_for(self.signer.kind(), HashAlg::Sha256);
        let signed = pki::cms::SignedDataBuilder::new(pki::alg::oid::DATA, &inner)
            .certificate(self.signer_cert.clone())
            .signer(pki::cms::SignerInfoBuilder::new(
                &*self.signer,
                &self.signer_cert,
                scheme,
            ))
            .build(self.provider, rng)?;
        Ok(ok(content_type::NEXT_CA_CERT, signed))
    }

    /// Verify a PKIOperation message (BER or DER) at time `now`. See the module docs for the
    /// order of checks. A [`Rejection`] says why, and whether a signed FAILURE can answer it
    /// ([`Responder::refuse`]).
    pub fn verify_request(
        &self,
        bytes: &[u8],
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> Result<VerifiedRequest, Rejection> {
        let msg = PkiMessage::parse_parts(bytes, &self.limits, false).map_err(Rejection::bare)?;
        let attrs = msg.attributes();
        let reply = ReplyTo {
            transaction_id: attrs.transaction_id.clone(),
            sender_nonce: attrs.sender_nonce,
            digest: msg.digest().unwrap_or(HashAlg::Sha256),
        };
        let fail = |error: Error| Rejection::new(error, Some(reply.clone()));
        self.verify_parsed(&msg, now, rng).map_err(fail)
    }

    fn verify_parsed(
        &self,
        msg: &PkiMessage,
        now: SystemTime,
        rng: &mut dyn CryptoRng,
    ) -> Result<VerifiedRequest, Error> {
        let attrs = msg.attributes();
        let message_type = attrs.message_type;
        if message_type == MessageType::CertRep {
            return Err(Error::UnexpectedMessageType(message_type));
        }
        let digest = msg.digest()?;
        let verified = msg
            .signed_data()
            .verify(self.provider, &VerifyOptions::new(self.policy.signatures))?;
        let sender_nonce = attrs
            .sender_nonce
            .ok_or(Error::MissingAttribute("senderNonce"))?;
        let vs = verified
            .signers()
            .first()
            .ok_or(Error::Malformed("no signer".into()))?;
        let signer = RequestSigner {
            der: vs.certificate_der().to_vec(),
            certificate: vs.certificate().cloned(),
            public_key: vs.public_key().clone(),
            standing: self.standing(vs.certificate_der(), now)?,
        };
        if message_type == MessageType::RenewalReq && !signer.is_issued_by_us() {
            return Err(Error::RenewalNotAuthorized);
        }

        let content = verified.content();
        if content.is_empty() {
            return Err(Error::Malformed(
                "the request carries no pkcsPKIEnvelope".into(),
            ));
        }
        let ber_limits = pki::ber::Limits {
            max_len: self.limits.max_message,
            ..pki::ber::Limits::default()
        };
        let envelope = EnvelopedData::from_ber(content, &ber_limits)?;
        let cipher = envelope.content_cipher();
        let opts = OpenOptions::new().recipient_certificate(self.decrypter_cert.clone());
        let plain = envelope.open(self.provider, &*self.decrypter, &opts, rng)?;

        let body = match message_type {
            MessageType::PkcsReq => RequestBody::PkcsReq(CertificationRequest::verify(
                self.provider,
                &self.policy.signatures,
                &plain,
            )?),
            MessageType::RenewalReq => RequestBody::RenewalReq(CertificationRequest::verify(
                self.provider,
                &self.policy.signatures,
                &plain,
            )?),
            MessageType::CertPoll => {
                let (issuer, subject) = two_names(&plain)?;
                RequestBody::CertPoll { issuer, subject }
            }
            MessageType::GetCert => {
                let (issuer, serial) = issuer_and_serial(&plain)?;
                RequestBody::GetCert { issuer, serial }
            }
            MessageType::GetCrl => {
                let (issuer, serial) = issuer_and_serial(&plain)?;
                RequestBody::GetCrl { issuer, serial }
            }
            other => return Err(Error::UnexpectedMessageType(other)),
        };

        let signer_fp = pki::public_key::fingerprint_sha256(&signer.public_key)?;
        let signer_cert_fingerprint: [u8; 32] = self
            .provider
            .digest(HashAlg::Sha256, &signer.der)
            .try_into()
            .map_err(|_| Error::ApiMisuse("SHA-256 is 32 octets"))?;
        let key_fingerprint = match &body {
            RequestBody::PkcsReq(c) | RequestBody::RenewalReq(c) => {
                pki::public_key::fingerprint_sha256(c.public_key())?
            }
            _ => signer_fp,
        };
        Ok(VerifiedRequest {
            message_type,
            transaction_id: attrs.transaction_id.clone(),
            sender_nonce,
            digest,
            cipher,
            signer,
            body,
            key_fingerprint,
            signer_fingerprint: signer_fp,
            signer_cert_fingerprint,
        })
    }

    /// Decide a verified PKCSReq, RenewalReq or CertPoll against the caller's `records` at
    /// `now`: issue (with the conditions the commit must check), resend what was issued, or
    /// refuse. Pure: it reads and spends nothing. See [`crate::issuance`] for the rules.
    pub fn decide(&self, req: &VerifiedRequest, records: &Records, now: SystemTime) -> Decision {
        let issuer_not_after = self.ca_chain[0]
            .certificate()
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time();
        issuance::decide(
            &self.issuance,
            &*self.subjects,
            &*self.challenge,
            req,
            records,
            issuer_not_after,
            now,
        )
        .unwrap_or_else(Decision::Refuse)
    }

    /// Self-signed, or valid under our CA at `now`; anything else is refused.
    fn standing(&self, der: &[u8], now: SystemTime) -> Result<SignerStanding, Error> {
        let self_signed = issuer_is_subject(der)?;
        let path_error = match Cert::from_der(der) {
            Ok(cert) => {
                let opts = path::Options::new(&self.ca_chain, now)
                    .with_policy(self.policy.signatures)
                    .with_partial_chain(true);
                match path::validate(self.provider, &cert, &opts) {
                    Ok(p) => return Ok(SignerStanding::Issued(Box::new(p))),
                    Err(e) => e,
                }
            }
            Err(e) => e,
        };
        if self_signed {
            Ok(SignerStanding::SelfSigned)
        } else {
            Err(Error::UntrustedSigner(path_error))
        }
    }

    /// A SUCCESS CertRep for `req` carrying `certificates` in a degenerate SignedData, in the
    /// order given: the issued certificate first (RFC 8894 section 3.3.2.1; clients take the
    /// first as theirs), then its chain if wanted. Sealed to the request's signer with the
    /// request's own content cipher.
    pub fn success(
        &self,
        req: &VerifiedRequest,
        certificates: &[Certificate],
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        if certificates.is_empty() {
            return Err(Error::ApiMisuse("a SUCCESS CertRep needs a certificate"));
        }
        if req.cipher == ContentCipher::DesCbc {
            return Err(Error::Pki(pki::Error::AlgorithmNotAllowed {
                what: "single DES-CBC for the reply".into(),
            }));
        }
        let inner = pki::cms::degenerate_in_order(certificates)?;
        self.seal_success(req, &inner, rng)
    }

    /// A SUCCESS CertRep answering a GetCRL: `crl` (a DER CertificateList) in a degenerate
    /// SignedData's `crls` field (RFC 8894 section 3.3.2.2), sealed to the requester.
    pub fn success_crl(
        &self,
        req: &VerifiedRequest,
        crl: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let inner = pki::cms::degenerate_crls(&[crl.to_vec()])?;
        self.seal_success(req, &inner, rng)
    }

    fn seal_success(
        &self,
        req: &VerifiedRequest,
        inner: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        if req.cipher == ContentCipher::DesCbc {
            return Err(Error::Pki(pki::Error::AlgorithmNotAllowed {
                what: "single DES-CBC for the reply".into(),
            }));
        }
        let recipient =
            Recipient::from_certificate_der(&req.signer.der, KeyTransport::RsaPkcs1v15)?;
        let envelope = EnvelopedData::seal(self.provider, inner, &[recipient], req.cipher, rng)?;
        self.cert_rep(
            &req.reply_to(),
            PkiStatus::Success,
            None,
            None,
            &envelope,
            rng,
        )
    }

    /// A FAILURE CertRep for `req` with `fail_info` and an optional failInfoText.
    pub fn failure(
        &self,
        req: &VerifiedRequest,
        fail_info: FailInfo,
        text: Option<&str>,
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        self.cert_rep(
            &req.reply_to(),
            PkiStatus::Failure,
            Some(fail_info),
            text,
            &[],
            rng,
        )
    }

    /// A PENDING CertRep for `req`: the client polls with CertPoll.
    pub fn pending(
        &self,
        req: &VerifiedRequest,
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        self.cert_rep(&req.reply_to(), PkiStatus::Pending, None, None, &[], rng)
    }

    /// The answer to a refused request: a signed FAILURE CertRep when the request got far
    /// enough to be answered, else a text body with [`Error::http_status`]. Never 500.
    pub fn refuse(
        &self,
        rejection: &Rejection,
        rng: &mut dyn CryptoRng,
    ) -> http::Response<Vec<u8>> {
        if let Some(reply) = &rejection.0.reply {
            let text = rejection.0.error.to_string();
            if let Ok(r) = self.cert_rep(
                reply,
                PkiStatus::Failure,
                Some(rejection.0.error.fail_info()),
                Some(&text),
                &[],
                rng,
            ) {
                return r;
            }
        }
        error_response(&rejection.0.error)
    }

    fn cert_rep(
        &self,
        reply: &ReplyTo,
        status: PkiStatus,
        fail_info: Option<FailInfo>,
        text: Option<&str>,
        content: &[u8],
        rng: &mut dyn CryptoRng,
    ) -> Result<http::Response<Vec<u8>>, Error> {
        let attributes = ScepAttributes {
            message_type: MessageType::CertRep,
            transaction_id: reply.transaction_id.clone(),
            sender_nonce: Some(Nonce::random(rng)),
            recipient_nonce: reply.sender_nonce,
            pki_status: Some(status),
            fail_info,
            fail_info_text: text.map(str::to_owned),
        };
        let der = pki_message::sign(
            self.provider,
            &*self.signer,
            &self.signer_cert,
            reply.digest,
            &attributes,
            content,
            rng,
        )?;
        Ok(ok(content_type::PKI_MESSAGE, der))
    }
}

/// Where a reply goes: what a CertRep copies from its request.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTo {
    transaction_id: TransactionId,
    sender_nonce: Option<Nonce>,
    digest: HashAlg,
}

impl VerifiedRequest {
    fn reply_to(&self) -> ReplyTo {
        ReplyTo {
            transaction_id: self.transaction_id.clone(),
            sender_nonce: Some(self.sender_nonce),
            digest: self.digest,
        }
    }
}

/// A PKIOperation the responder refused, with what it needs to answer.
#[derive(Debug, Clone)]
pub struct Rejection(Box<RejectionInner>);

#[derive(Debug, Clone)]
struct RejectionInner {
    error: Error,
    reply: Option<ReplyTo>,
}

impl Rejection {
    fn new(error: Error, reply: Option<ReplyTo>) -> Self {
        Rejection(Box::new(RejectionInner { error, reply }))
    }

    fn bare(error: Error) -> Self {
        Rejection::new(error, None)
    }

    /// Why.
    pub fn error(&self) -> &Error {
        &self.0.error
    }

    /// Whether a signed FAILURE CertRep can answer it (the message's SCEP attributes were
    /// readable); otherwise the answer is HTTP [`Error::http_status`].
    pub fn answerable(&self) -> bool {
        self.0.reply.is_some()
    }

    /// The failInfo a FAILURE carries.
    pub fn fail_info(&self) -> FailInfo {
        self.0.error.fail_info()
    }
}

/// The outcome of [`Responder::handle`].
#[derive(Debug)]
pub enum Incoming {
    /// Fully answered (GetCACaps, GetCACert, GetNextCACert).
    Answer(http::Response<Vec<u8>>),
    /// Refused: the response is a signed FAILURE CertRep (200) or a 4xx text body.
    Refused {
        /// What to send.
        response: http::Response<Vec<u8>>,
        /// Why (for logs).
        error: Error,
    },
    /// A verified PKIOperation request awaiting the caller's decision.
    Request(Box<VerifiedRequest>),
}

fn ok(ct: &str, body: Vec<u8>) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(body);
    if let Ok(v) = http::HeaderValue::from_str(ct) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn text(status: http::StatusCode, body: &str) -> http::Response<Vec<u8>> {
    let mut r = ok("text/plain; charset=utf-8", body.as_bytes().to_vec());
    *r.status_mut() = status;
    r
}

/// The plain-text answer for an error that no CertRep can carry.
pub fn error_response(error: &Error) -> http::Response<Vec<u8>> {
    text(error.http_status(), &format!("{error}\n"))
}

/// Whether a certificate's issuer and subject Names are the same encoding.
fn issuer_is_subject(der: &[u8]) -> Result<bool, Error> {
    let malformed = |e: pki::der::Error| Error::Pki(pki::Error::malformed("Certificate", e));
    let mut r = SliceReader::new(der).map_err(malformed)?;
    r.sequence(|r| {
        let tbs: AnyRef<'_> = r.decode()?;
        let _alg: AnyRef<'_> = r.decode()?;
        let _sig: AnyRef<'_> = r.decode()?;
        let mut t = SliceReader::new(tbs.value())?;
        if t.peek_byte() == Some(0xa0) {
            let _version: AnyRef<'_> = t.decode()?;
        }
        let _serial: AnyRef<'_> = t.decode()?;
        let _sig_alg: AnyRef<'_> = t.decode()?;
        let issuer: AnyRef<'_> = t.decode()?;
        let _validity: AnyRef<'_> = t.decode()?;
        let subject: AnyRef<'_> = t.decode()?;
        Ok(issuer == subject)
    })
    .map_err(malformed)
}

/// `IssuerAndSubject ::= SEQUENCE { issuer Name, subject Name }`.
fn two_names(der: &[u8]) -> Result<(Name, Name), Error> {
    let malformed = |e: pki::der::Error| Error::Pki(pki::Error::malformed("IssuerAndSubject", e));
    let mut r = SliceReader::new(der).map_err(malformed)?;
    let out = r
        .sequence(|r| Ok((Name::decode(r)?, Name::decode(r)?)))
        .map_err(malformed)?;
    r.finish().map_err(malformed)?;
    Ok(out)
}

/// `IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }`, any length.
fn issuer_and_serial(der: &[u8]) -> Result<(Name, Vec<u8>), Error> {
    let malformed =
        |e: pki::der::Error| Error::Pki(pki::Error::malformed("IssuerAndSerialNumber", e));
    let mut r = SliceReader::new(der).map_err(malformed)?;
    let out = r
        .sequence(|r| {
            let issuer = Name::decode(r)?;
            let serial = UintRef::decode(r)?;
            Ok((issuer, serial.as_bytes().to_vec()))
        })
        .map_err(malformed)?;
    r.finish().map_err(malformed)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pki::der::Encode;

    #[test]
    fn bodies_refuse_trailing_and_short_input() {
        assert!(two_names(&[0x30, 0x00]).is_err());
        assert!(issuer_and_serial(&[0x30, 0x02, 0x30, 0x00]).is_err());
        assert!(issuer_is_subject(&[0x30, 0x80]).is_err());
        let name = Name::default().to_der().unwrap();
        let mut body = name.clone();
        body.extend([0x02, 0x01, 0x05]);
        let mut der = vec![0x30, body.len() as u8];
        der.extend(&body);
        assert_eq!(issuer_and_serial(&der).unwrap().1, vec![5]);
        der.push(0);
        assert!(issuer_and_serial(&der).is_err());
    }
}
