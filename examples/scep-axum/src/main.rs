//! The `scep` responder inside an axum app: a SCEP server in one file.
//!
//! At start it makes a CA (P-256) and an RA identity (RSA-2048, which signs CertReps and opens
//! requests) in memory with `pki`, then serves `GET` and `POST /scep`:
//!
//! ```text
//! axum route /scep (body limit) ──▶ spawn_blocking ──▶ Responder::handle
//!     ├─ Answer   (GetCACaps, GetCACert, GetNextCACert)          ──▶ send
//!     ├─ Refused  (signed FAILURE CertRep, or 4xx text)          ──▶ send
//!     └─ Request  (verified PKCSReq / RenewalReq / CertPoll)
//!          lock the records ──▶ Responder::decide(req, records, now)
//!              Refuse ──▶ Responder::failure
//!              Resend ──▶ Responder::success(the certificate issued before)
//!              Issue  ──▶ pki::cert::issue ──▶ Responder::success ──▶ record ──▶ send
//! ```
//!
//! New enrollments need the static challenge given by `--challenge`. The rest is the crate's
//! default issuance policy: one-year certificates, renewal without a challenge (signed by the
//! current certificate) in its last 14 days, no certificate in the CA's or the RA's name. Records live in
//! a `Mutex<HashMap>`, the stand-in for a database: the lock is held from `decide` to the
//! record, which plays the part of the database transaction that must check the decision's
//! conditions. Keys are never written anywhere; `--ca-pem FILE` writes the CA certificate so a
//! client can trust it.
//!
//! ```sh
//! cargo run -p scep-axum -- --listen 127.0.0.1:8080 --challenge s3cret [--ca-pem ca.pem]
//! ```

#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use pki::cert::issue::{self, Template};
use pki::key::{Decrypter, KeySpec, PrivateKey, Signer};
use pki::x509_cert::Certificate;
use rand_core::{CryptoRng, UnwrapErr};
use scep::challenge::StaticChallenge;
use scep::issuance::{Conditions, IssuedRecord, TransactionRecord};
use scep::{
    Decision, FailInfo, Incoming, IssuancePolicy, Records, RequestBody, Responder, VerifiedRequest,
};

/// Largest request body the route reads (a PKCSReq with an RSA-4096 key is under 8 KiB).
const MAX_BODY: usize = 64 * 1024;

/// The example's stand-in for a database: transactions and the certificates issued.
#[derive(Default)]
struct Db {
    /// Keyed by transactionID.
    transactions: HashMap<String, TransactionRecord>,
    /// Keyed by serial number (magnitude octets, as `scep` reports them).
    issued: HashMap<Vec<u8>, Certificate>,
}

impl Db {
    /// What `Responder::decide` reads about a request.
    fn records(&self, req: &VerifiedRequest) -> Records {
        let transaction = self
            .transactions
            .get(req.transaction_id().as_str())
            .cloned();
        let signer = req.signer().issued_serial().and_then(|s| {
            let known = self.issued.contains_key(&s);
            known.then_some(IssuedRecord {
                for_scep: true,
                revoked: false,
            })
        });
        Records {
            transaction,
            signer,
            approved: false,
        }
    }

    /// Record an issuance. A database would check `conditions` here, in the same transaction;
    /// with one lock held since the records were read, they still hold (no challenge is spent
    /// and nothing is ever revoked in this example).
    fn commit(&mut self, conditions: &Conditions, cert: &Certificate) {
        let serial = cert.tbs_certificate().serial_number().as_bytes().to_vec();
        let binding = &conditions.transaction;
        self.transactions.insert(
            binding.id.as_str().to_owned(),
            TransactionRecord {
                key_sha256: binding.key_sha256,
                signer_cert_sha256: Some(binding.signer_cert_sha256),
                issued_serial: Some(serial.clone()),
            },
        );
        self.issued.insert(serial, cert.clone());
    }
}

/// Everything a request needs: the responder, the issuing CA and the records.
struct App {
    responder: Responder,
    provider: &'static dyn pki::provider::CryptoProvider,
    ca_key: Arc<dyn PrivateKey>,
    ca: Certificate,
    db: Mutex<Db>,
}

/// A fault of ours (signing, encoding): 500 with a generic body; the cause goes to the log.
fn internal_error(cause: &dyn std::fmt::Display) -> scep::http::Response<Vec<u8>> {
    eprintln!("internal error: {cause}");
    let mut r = scep::http::Response::new(b"internal error\n".to_vec());
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

impl App {
    /// Answer one SCEP request (blocking: RSA and ECDSA work, and the records' lock).
    fn answer(&self, req: &scep::http::Request<Vec<u8>>) -> scep::http::Response<Vec<u8>> {
        let now = SystemTime::now();
        let mut rng = UnwrapErr(getrandom::SysRng);
        let req = match self.responder.handle(req, now, &mut rng) {
            Incoming::Answer(response) => return response,
            Incoming::Refused { response, error } => {
                eprintln!("refused ({}): {error}", response.status());
                return response;
            }
            Incoming::Request(req) => req,
        };
        // decide() takes PKCSReq, RenewalReq and CertPoll; this example serves no GetCert or
        // GetCRL.
        if req.certification_request().is_none()
            && !matches!(req.body(), RequestBody::CertPoll { .. })
        {
            return self.failure(
                &req,
                FailInfo::BadRequest,
                "GetCert and GetCRL are not served",
                &mut rng,
            );
        }
        let mut db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        let issuance = match self.responder.decide(&req, &db.records(&req), now) {
            Decision::Issue(issuance) => issuance,
            // The transaction was answered before (a lost reply, a CertPoll): the same
            // certificate again, never a second one.
            Decision::Resend { serial } => {
                return match db.issued.get(&serial) {
                    Some(cert) => self.success(&req, cert, &mut rng),
                    None => {
                        self.failure(&req, FailInfo::BadCertId, "no such certificate", &mut rng)
                    }
                };
            }
            Decision::Refuse(e) => {
                return self.failure(&req, e.fail_info(), &e.to_string(), &mut rng);
            }
            other => return internal_error(&format!("unexpected decision {other:?}")),
        };
        let Some(csr) = req.certification_request() else {
            return internal_error(&"an issuance without a CSR");
        };
        let (key, template) = (csr.public_key(), &issuance.template);
        let cert = match issue::issue(
            self.provider,
            &*self.ca_key,
            Some(&self.ca),
            key,
            template,
            &mut rng,
        ) {
            Ok(cert) => cert,
            Err(e) => return internal_error(&e),
        };
        // Build the reply before recording, so a failure to build it records nothing.
        let response = self.success(&req, &cert, &mut rng);
        if response.status().is_success() {
            db.commit(&issuance.conditions, &cert);
            eprintln!(
                "issued {} ({:?})",
                cert.tbs_certificate().subject(),
                issuance.admission
            );
        }
        response
    }

    /// A SUCCESS CertRep carrying `cert`, then the CA.
    fn success(
        &self,
        req: &VerifiedRequest,
        cert: &Certificate,
        rng: &mut dyn CryptoRng,
    ) -> scep::http::Response<Vec<u8>> {
        let certs = [cert.clone(), self.ca.clone()];
        self.responder
            .success(req, &certs, rng)
            .unwrap_or_else(|e| internal_error(&e))
    }

    /// A signed FAILURE CertRep with `info` and `text`.
    fn failure(
        &self,
        req: &VerifiedRequest,
        info: FailInfo,
        text: &str,
        rng: &mut dyn CryptoRng,
    ) -> scep::http::Response<Vec<u8>> {
        eprintln!("FAILURE {info:?}: {text}");
        let reply = self.responder.failure(req, info, Some(text), rng);
        reply.unwrap_or_else(|e| internal_error(&e))
    }
}

/// The axum handler for `GET` and `POST /scep`: rebuild the request `scep` reads, answer it on
/// the blocking pool.
async fn scep_route(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut req = scep::http::Request::new(body.to_vec());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    match tokio::task::spawn_blocking(move || app.answer(&req)).await {
        Ok(response) => response.map(Body::from),
        Err(e) => internal_error(&e).map(Body::from).into_response(),
    }
}

/// Make the CA and the RA identity, and the responder over them.
fn build_app(challenge: &str) -> Result<App, Box<dyn std::error::Error>> {
    let provider = *pki::provider::compiled()
        .first()
        .ok_or("no crypto provider compiled in")?;
    let mut rng = UnwrapErr(getrandom::SysRng);
    let now = SystemTime::now();
    let (not_before, not_after) = (
        now - Duration::from_secs(3600),
        now + Duration::from_secs(10 * 365 * 86_400),
    );
    let ca_key = provider.generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)?;
    let ca_name = "CN=scep-axum example CA".parse()?;
    let ca = issue::self_signed_ca(
        provider,
        &*ca_key,
        ca_name,
        not_before,
        not_after,
        Some(0),
        &mut rng,
    )?;
    let ra_key = provider.generate_key(KeySpec::Rsa(2048), &mut rng)?;
    let ra_name: pki::x509_cert::name::Name = "CN=scep-axum example RA".parse()?;
    let ra_template = Template::end_entity(not_before, not_after).with_subject(ra_name);
    let ra = issue::issue(
        provider,
        &*ca_key,
        Some(&ca),
        ra_key.spki(),
        &ra_template,
        &mut rng,
    )?;
    let (signer, decrypter): (Arc<dyn Signer>, Arc<dyn Decrypter>) = (ra_key.clone(), ra_key);
    // No device may obtain a certificate in the CA's or the RA's name.
    let reserved = [&ca, &ra].map(|c| c.tbs_certificate().subject().clone());
    let responder = Responder::new(
        provider,
        std::slice::from_ref(&ca),
        (signer, ra.clone()),
        (decrypter, ra),
        Arc::new(StaticChallenge::new(challenge)),
    )?
    .with_issuance(IssuancePolicy::default().with_reserved_subjects(reserved));
    Ok(App {
        responder,
        provider,
        ca_key,
        ca,
        db: Mutex::default(),
    })
}

/// `--listen ADDR --challenge SECRET [--ca-pem FILE]`.
fn parse_args() -> Result<(SocketAddr, String, Option<String>), String> {
    let (mut listen, mut challenge, mut ca_pem) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value.parse().map_err(|e| format!("--listen: {e}"))?),
            "--challenge" => challenge = Some(value),
            "--ca-pem" => ca_pem = Some(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let listen = listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let challenge = challenge
        .filter(|c| !c.is_empty())
        .ok_or("--challenge SECRET is required")?;
    Ok((listen, challenge, ca_pem))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (listen, challenge, ca_pem) = parse_args().map_err(|e| {
        format!("{e}\nusage: scep-axum --listen ADDR --challenge SECRET [--ca-pem FILE]")
    })?;
    // Key generation blocks, but nothing else runs yet.
    let app = Arc::new(build_app(&challenge)?);
    if let Some(path) = ca_pem {
        use pki::der::EncodePem as _;
        std::fs::write(&path, app.ca.to_pem(pki::der::pem::LineEnding::LF)?)?;
    }
    let router = Router::new()
        .route("/scep", get(scep_route).post(scep_route))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening {}", listener.local_addr()?);
    axum::serve(listener, router).await?;
    Ok(())
}
