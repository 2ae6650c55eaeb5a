//! A minimal MDM server for admit-sim's tests, built from our protocol crates (the `scep`
//! responder, `mdm-proto` check-ins and reports, `ddm` declaration sets, `attestation`), so
//! the simulator is tested against an independent server side before `admitd` has its MDM
//! core. It records what it saw; tests compare that with what the devices say they did.
//!
//! ```text
//! GET  /mdm/enroll?invite=good   signed enrollment profile (403 otherwise)
//! GET/POST /scep                 SCEP (static challenge)
//! PUT  /mdm/checkin              identity: TLS client cert, or Mdm-Signature (SignMessage)
//! PUT  /mdm/connect              reports typed by the queued command's RequestType
//! ```

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use admit_sim::commands::AttestationCa;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use mdm_proto::checkin::{CheckIn, CheckInRequest};
use mdm_proto::command::{Command, Report, Status};
use mdm_proto::generated::commands as gc;
use mdm_proto::profile::{CertificatePayload, EnrollmentProfile, IdentityPayload};
use pki::cert::issue::{Template, issue, self_signed_ca};
use pki::cert::{Cert, SubjectAltNames};
use pki::der::Encode;
use pki::key::{Decrypter, KeySpec, PrivateKey, Signer};
use pki::x509_cert::Certificate;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use scep::challenge::StaticChallenge;
use scep::{Decision, Incoming as ScepIncoming, IssuancePolicy, Records as ScepRecords, Responder};

/// The SCEP challenge the profile carries.
pub const CHALLENGE: &str = "sim-challenge";
/// The push topic.
pub const TOPIC: &str = "com.apple.mgmt.External.0f5c1a2e-sim";

/// One report the server received.
#[derive(Debug, Clone)]
pub struct SeenReport {
    pub channel_id: String,
    pub command_uuid: String,
    pub request_type: String,
    pub status: Status,
    /// `Ok` when the result decoded as mdm-proto's typed result (or the status has none).
    pub typed: Result<(), String>,
}

/// What the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    /// UDID → (SerialNumber, identity certificate DER).
    pub authenticated: HashMap<String, (String, Vec<u8>)>,
    /// Channel ID → push token.
    pub tokens: HashMap<String, Vec<u8>>,
    /// Channel ID → PushMagic.
    pub magics: HashMap<String, String>,
    pub checked_out: Vec<String>,
    /// Channel IDs, once per Idle report.
    pub idles: Vec<String>,
    pub reports: Vec<SeenReport>,
    /// Channel ID → commands waiting.
    pub queues: HashMap<String, VecDeque<Command>>,
    /// CommandUUID → (channel, RequestType, attestation nonce).
    pub sent: HashMap<String, (String, String, Option<Vec<u8>>)>,
    pub attestations_verified: Vec<String>,
    pub ddm_requests: Vec<(String, String)>,
    pub ddm_reports: Vec<(String, serde_json::Value)>,
    pub scep_issued: usize,
    /// Anything the server refused or found wrong.
    pub problems: Vec<String>,
}

struct Ctx {
    sign_message: bool,
    responder: Responder,
    device_ca_key: Arc<dyn PrivateKey>,
    device_ca: Certificate,
    attest_root: Cert,
    set: ddm::DeclarationSet,
    profile: Vec<u8>,
    seen: Mutex<Seen>,
    queue_batch: bool,
}

/// The running server.
pub struct Mini {
    pub addr: SocketAddr,
    /// Its TLS CA (DER), for the devices to trust (the profile carries it too).
    pub tls_ca: Vec<u8>,
    /// The enrollment profile (XML, unsigned).
    pub profile_xml: Vec<u8>,
    /// The CA that signs device attestations.
    pub attestation: AttestationCa,
    ctx: Arc<Ctx>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mini {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn provider() -> &'static dyn pki::provider::CryptoProvider {
    admit_sim::provider()
}

fn der(c: &Certificate) -> Vec<u8> {
    c.to_der().unwrap()
}

/// A profile to install with InstallProfile.
pub fn wifi_profile() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/wifi.mobileconfig"
    ))
    .unwrap()
}

/// The command batch queued on each device channel's first TokenUpdate: one of every command
/// the simulator answers, plus one it does not run (Error) and one the schema lacks
/// (CommandFormatError).
pub fn batch(set: &ddm::DeclarationSet, nonce: &[u8]) -> Vec<Command> {
    let mut rng = admit_sim::rng();
    use gc::device_information::QueriesItem as Q;
    let mut v = vec![
        Command::new(
            gc::DeviceInformation {
                queries: vec![
                    Q::UDID,
                    Q::SerialNumber,
                    Q::DeviceName,
                    Q::OSVersion,
                    Q::BuildVersion,
                    Q::ModelName,
                    Q::ProductName,
                    Q::WiFiMAC,
                    Q::IsSupervised,
                    Q::BatteryLevel,
                    Q::DevicePropertiesAttestation,
                ],
                device_attestation_nonce: Some(mdm_proto::Data(nonce.to_vec())),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::SecurityInfo::default(), &mut rng),
        Command::new(gc::ProfileList::default(), &mut rng),
        Command::new(
            gc::InstallProfile {
                payload: mdm_proto::Data(wifi_profile()),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::ProfileList::default(), &mut rng),
        Command::new(
            gc::RemoveProfile {
                identifier: "com.example.wifi".into(),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::CertificateList::default(), &mut rng),
        Command::new(gc::InstalledApplicationList::default(), &mut rng),
        ddm::command(set, SystemTime::now(), &mut rng),
        Command::new(gc::RestartDevice::default(), &mut rng),
        Command::new(
            gc::DeviceLock {
                message: Some("Locked by admit-sim test".into()),
                ..Default::default()
            },
            &mut rng,
        ),
        Command::new(gc::EraseDevice::default(), &mut rng),
        Command::new(gc::ShutDownDevice::default(), &mut rng),
    ];
    v.push(Command::from_dictionary(
        "FrobnicateDevice",
        plist::Dictionary::new(),
        &mut rng,
    ));
    v
}

fn declaration_set() -> ddm::DeclarationSet {
    let mut set = ddm::DeclarationSet::new(ddm::Channel::Device, ddm::TokenMode::Content);
    for json in [
        r#"{"Type":"com.apple.activation.simple","Identifier":"act.iphone","Payload":{"StandardConfigurations":["cfg.passcode"],"Predicate":"@status(device.model.family) == \"iPhone\""}}"#,
        r#"{"Type":"com.apple.configuration.passcode.settings","Identifier":"cfg.passcode","Payload":{"MinimumLength":6}}"#,
        r#"{"Type":"com.apple.configuration.passcode.settings","Identifier":"cfg.unreferenced","Payload":{"MinimumLength":8}}"#,
        r#"{"Type":"com.apple.management.properties","Identifier":"mgmt.props","Payload":{"fleet":"sim"}}"#,
    ] {
        set.insert(ddm::Declaration::parse(json.as_bytes(), &ddm::Limits::default()).unwrap())
            .unwrap();
    }
    set.validate().unwrap();
    set
}

impl Mini {
    /// Start on 127.0.0.1; `sign_message` picks the profile's SignMessage; `queue_batch`
    /// queues [`batch`] on each device's first TokenUpdate.
    pub async fn start(sign_message: bool, queue_batch: bool) -> Mini {
        let p = provider();
        let mut rng = admit_sim::rng();
        let now = SystemTime::now();
        let (nb, na) = (
            now - Duration::from_secs(3600),
            now + Duration::from_secs(86400),
        );
        // TLS: a CA and a leaf for 127.0.0.1.
        let tls_ca_key = p
            .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
            .unwrap();
        let tls_ca = self_signed_ca(
            p,
            &*tls_ca_key,
            "CN=mini MDM TLS CA".parse().unwrap(),
            nb,
            na,
            Some(0),
            &mut rng,
        )
        .unwrap();
        let tls_key = p
            .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
            .unwrap();
        let mut san = SubjectAltNames::new();
        san.ip.push(IpAddr::from([127, 0, 0, 1]));
        let tls_leaf = issue(
            p,
            &*tls_ca_key,
            Some(&tls_ca),
            tls_key.spki(),
            &Template::end_entity(nb, na)
                .with_subject("CN=127.0.0.1".parse().unwrap())
                .with_san(san)
                .with_eku(const_oid::db::rfc5280::ID_KP_SERVER_AUTH),
            &mut rng,
        )
        .unwrap();
        // Device CA and SCEP RA.
        let device_ca_key = p
            .generate_key(KeySpec::Ec(pki::alg::Curve::P256), &mut rng)
            .unwrap();
        let device_ca = self_signed_ca(
            p,
            &*device_ca_key,
            "CN=mini MDM device CA".parse().unwrap(),
            nb,
            na,
            Some(0),
            &mut rng,
        )
        .unwrap();
        let ra_key = p.generate_key(KeySpec::Rsa(2048), &mut rng).unwrap();
        let ra = issue(
            p,
            &*device_ca_key,
            Some(&device_ca),
            ra_key.spki(),
            &Template::end_entity(nb, na).with_subject("CN=mini MDM RA".parse().unwrap()),
            &mut rng,
        )
        .unwrap();
        let (signer, decrypter): (Arc<dyn Signer>, Arc<dyn Decrypter>) = (ra_key.clone(), ra_key);
        let responder = Responder::new(
            p,
            std::slice::from_ref(&device_ca),
            (signer, ra.clone()),
            (decrypter, ra),
            Arc::new(StaticChallenge::new(CHALLENGE)),
        )
        .unwrap()
        .with_issuance(IssuancePolicy::default());
        // Attestation: a root and an issuing CA, both P-384 like Apple's.
        let att_root_key = p
            .generate_key(KeySpec::Ec(pki::alg::Curve::P384), &mut rng)
            .unwrap();
        let att_root = self_signed_ca(
            p,
            &*att_root_key,
            "CN=Test Enterprise Attestation Root CA".parse().unwrap(),
            nb,
            na,
            Some(1),
            &mut rng,
        )
        .unwrap();
        let att_sub_key = p
            .generate_key(KeySpec::Ec(pki::alg::Curve::P384), &mut rng)
            .unwrap();
        let att_sub = issue(
            p,
            &*att_root_key,
            Some(&att_root),
            att_sub_key.spki(),
            &Template::ca(
                "CN=Test Enterprise Attestation Sub CA 1".parse().unwrap(),
                nb,
                na,
                Some(0),
            ),
            &mut rng,
        )
        .unwrap();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("https://{addr}");
        let profile = EnrollmentProfile {
            identifier: "com.example.mdm.sim".into(),
            display_name: "Mini MDM".into(),
            organization: Some("admit tests".into()),
            server_url: format!("{base}/mdm/connect"),
            check_in_url: Some(format!("{base}/mdm/checkin")),
            topic: TOPIC.into(),
            access_rights: 8191,
            sign_message,
            check_out_when_removed: true,
            per_user_connections: true,
            bootstrap_token: false,
            identity: IdentityPayload::Scep(Box::new(
                mdm_proto::generated::profiles::security_scep::PayloadContent {
                    url: Some(format!("{base}/scep")),
                    challenge: Some(CHALLENGE.into()),
                    subject: Some(vec![
                        vec![vec!["O".into(), "admit".into()]],
                        vec![vec!["CN".into(), "sim device".into()]],
                    ]),
                    ..Default::default()
                },
            )),
            certificates: vec![CertificatePayload::Root(der(&tls_ca))],
        }
        .build(&mut rng);
        let profile_xml = profile.to_xml();
        let signed = mdm_proto::signed::sign_profile(
            &profile_xml,
            &*tls_key,
            &Cert::from_certificate(&tls_leaf).unwrap(),
            p,
            &mut rng,
        )
        .unwrap();

        let ctx = Arc::new(Ctx {
            sign_message,
            responder,
            device_ca_key,
            device_ca: device_ca.clone(),
            attest_root: Cert::from_certificate(&att_root).unwrap(),
            set: declaration_set(),
            profile: signed,
            seen: Mutex::new(Seen::default()),
            queue_batch,
        });

        let rp = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(der(&device_ca))).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            rp.clone(),
        )
        .allow_unauthenticated()
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(rp)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from(der(&tls_leaf))],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                    tls_key.to_pkcs8_der().unwrap().to_vec(),
                )),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let c2 = ctx.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let ctx = c2.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let peer = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| c.to_vec());
                    let service =
                        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                            let ctx = ctx.clone();
                            let peer = peer.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let req = http::Request::from_parts(parts, body);
                                let resp = tokio::task::spawn_blocking(move || {
                                    ctx.handle(&req, peer.as_deref())
                                })
                                .await
                                .unwrap_or_else(|_| status(500));
                                Ok::<_, std::convert::Infallible>(
                                    resp.map(|b| Full::new(Bytes::from(b))),
                                )
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let attestation = AttestationCa {
            key: att_sub_key,
            chain: vec![Cert::from_certificate(&att_sub).unwrap()],
        };
        Mini {
            addr,
            tls_ca: der(&tls_ca),
            profile_xml,
            attestation,
            ctx,
            task,
        }
    }

    /// What the server saw so far.
    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.ctx.seen.lock().unwrap()
    }

    /// The attestation root the server trusts.
    pub fn attestation_root(&self) -> Cert {
        self.ctx.attest_root.clone()
    }

    /// Queue `cmd` on `channel_id`.
    pub fn enqueue(&self, channel_id: &str, cmd: Command) {
        let mut s = self.seen();
        s.sent.insert(
            cmd.command_uuid.clone(),
            (channel_id.into(), cmd.request_type().into(), None),
        );
        s.queues
            .entry(channel_id.into())
            .or_default()
            .push_back(cmd);
    }

    /// The URL of this server's path `p`.
    pub fn url(&self, p: &str) -> String {
        format!("https://{}{p}", self.addr)
    }
}

fn status(code: u16) -> http::Response<Vec<u8>> {
    let mut r = http::Response::new(Vec::new());
    *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
    r
}

impl Ctx {
    fn problem(&self, p: String) -> http::Response<Vec<u8>> {
        self.seen.lock().unwrap().problems.push(p);
        status(400)
    }

    fn handle(&self, req: &http::Request<Vec<u8>>, peer: Option<&[u8]>) -> http::Response<Vec<u8>> {
        match req.uri().path() {
            "/scep" => self.scep(req),
            "/mdm/enroll" => {
                if req.uri().query() == Some("invite=good") {
                    let mut r = http::Response::new(self.profile.clone());
                    r.headers_mut().insert(
                        "content-type",
                        "application/x-apple-aspen-config".parse().unwrap(),
                    );
                    r
                } else {
                    status(403)
                }
            }
            "/mdm/checkin" | "/mdm/connect" => {
                let identity = match self.identity(req, peer) {
                    Ok(i) => i,
                    Err(e) => {
                        self.seen.lock().unwrap().problems.push(e);
                        return status(401);
                    }
                };
                if req.uri().path() == "/mdm/checkin" {
                    self.checkin(req, identity)
                } else {
                    self.connect(req, identity)
                }
            }
            _ => status(404),
        }
    }

    fn identity(
        &self,
        req: &http::Request<Vec<u8>>,
        peer: Option<&[u8]>,
    ) -> Result<Vec<u8>, String> {
        if self.sign_message {
            let h = req
                .headers()
                .get("Mdm-Signature")
                .and_then(|v| v.to_str().ok())
                .ok_or("no Mdm-Signature")?;
            let anchors = [Cert::from_certificate(&self.device_ca).unwrap()];
            let trust = mdm_proto::signed::Trust {
                anchors: &anchors,
                now: SystemTime::now(),
                policy: pki::verify::Policy::default(),
            };
            let v = mdm_proto::signed::mdm_signature(
                h,
                req.body(),
                provider(),
                &pki::verify::Policy::default(),
                Some(&trust),
            )
            .map_err(|e| format!("Mdm-Signature: {e}"))?;
            Ok(v.signer_der().to_vec())
        } else {
            peer.map(<[u8]>::to_vec)
                .ok_or_else(|| "no client certificate".to_owned())
        }
    }

    fn scep(&self, req: &http::Request<Vec<u8>>) -> http::Response<Vec<u8>> {
        let now = SystemTime::now();
        let mut rng = admit_sim::rng();
        let vreq = match self.responder.handle(req, now, &mut rng) {
            ScepIncoming::Answer(r) => return r,
            ScepIncoming::Refused { response, .. } => return response,
            ScepIncoming::Request(r) => r,
        };
        let records = ScepRecords {
            transaction: None,
            signer: None,
            approved: false,
        };
        match self.responder.decide(&vreq, &records, now) {
            Decision::Issue(issuance) => {
                let csr = vreq.certification_request().unwrap();
                let cert = issue(
                    provider(),
                    &*self.device_ca_key,
                    Some(&self.device_ca),
                    csr.public_key(),
                    &issuance.template,
                    &mut rng,
                )
                .unwrap();
                self.seen.lock().unwrap().scep_issued += 1;
                self.responder
                    .success(&vreq, &[cert, self.device_ca.clone()], &mut rng)
                    .unwrap()
            }
            Decision::Refuse(e) => self
                .responder
                .failure(&vreq, e.fail_info(), Some(&e.to_string()), &mut rng)
                .unwrap(),
            other => self.problem(format!("SCEP decision {other:?}")),
        }
    }

    fn checkin(&self, req: &http::Request<Vec<u8>>, identity: Vec<u8>) -> http::Response<Vec<u8>> {
        let ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        let ci = match CheckInRequest::parse_http(ct, req.body(), &mdm_proto::Limits::default()) {
            Ok(c) => c,
            Err(e) => return self.problem(format!("check-in: {e}")),
        };
        let Some(channel) = ci.channel.clone() else {
            return self.problem("check-in without channel".into());
        };
        let udid = channel.device_id().to_owned();
        let mut s = self.seen.lock().unwrap();
        if !matches!(ci.message, CheckIn::Authenticate(_))
            && s.authenticated
                .get(&udid)
                .is_none_or(|(_, id)| *id != identity)
        {
            s.problems.push(format!(
                "{udid}: {} from an identity it did not authenticate with",
                ci.message.message_type()
            ));
            return status(401);
        }
        match ci.message {
            CheckIn::Authenticate(a) => {
                if a.topic != TOPIC {
                    s.problems.push(format!("Authenticate topic {}", a.topic));
                }
                s.authenticated
                    .insert(udid, (a.serial_number.unwrap_or_default(), identity));
                status(200)
            }
            CheckIn::TokenUpdate(t) => {
                let id = channel.id();
                let first = s.tokens.insert(id.clone(), t.token.0.clone()).is_none();
                s.magics.insert(id.clone(), t.push_magic.clone());
                if first && self.queue_batch {
                    let mut nonce = [0u8; 32];
                    rand_core::Rng::fill_bytes(&mut admit_sim::rng(), &mut nonce);
                    let cmds = if channel.is_user() {
                        vec![Command::new(
                            gc::ProfileList::default(),
                            &mut admit_sim::rng(),
                        )]
                    } else {
                        batch(&self.set, &nonce)
                    };
                    for c in cmds {
                        let n = (c.request_type() == "DeviceInformation").then(|| nonce.to_vec());
                        s.sent.insert(
                            c.command_uuid.clone(),
                            (id.clone(), c.request_type().into(), n),
                        );
                        s.queues.entry(id.clone()).or_default().push_back(c);
                    }
                }
                status(200)
            }
            CheckIn::CheckOut(_) => {
                s.checked_out.push(udid);
                status(200)
            }
            CheckIn::DeclarativeManagement(m) => {
                let c = match ddm::CheckIn::from_message(&m, &ddm::Limits::default()) {
                    Ok(c) => c,
                    Err(e) => {
                        s.problems.push(format!("DDM: {e}"));
                        return status(400);
                    }
                };
                s.ddm_requests.push((channel.id(), m.endpoint.clone()));
                if let Some(r) = &c.report {
                    s.ddm_reports
                        .push((channel.id(), serde_json::Value::Object(r.raw().clone())));
                }
                match c.respond(&self.set, SystemTime::now()) {
                    Ok(b) => {
                        let mut r = http::Response::new(b);
                        r.headers_mut()
                            .insert("content-type", "application/json".parse().unwrap());
                        r
                    }
                    Err(e) => {
                        s.problems.push(format!("DDM respond: {e}"));
                        status(404)
                    }
                }
            }
            other => {
                s.problems
                    .push(format!("unexpected check-in {}", other.message_type()));
                status(400)
            }
        }
    }

    fn connect(&self, req: &http::Request<Vec<u8>>, identity: Vec<u8>) -> http::Response<Vec<u8>> {
        let mut report = match Report::parse(req.body(), &mdm_proto::Limits::default()) {
            Ok(r) => r,
            Err(e) => return self.problem(format!("report: {e}")),
        };
        let id = report.channel.id();
        let udid = report.channel.device_id().to_owned();
        let mut s = self.seen.lock().unwrap();
        if s.authenticated
            .get(&udid)
            .is_none_or(|(_, i)| *i != identity)
        {
            s.problems.push(format!(
                "{udid}: report from an identity it did not authenticate with"
            ));
            return status(401);
        }
        if report.status == Status::Idle {
            s.idles.push(id.clone());
        }
        if let Some(uuid) = report.command_uuid.clone() {
            let Some((ch, rt, nonce)) = s.sent.get(&uuid).cloned() else {
                s.problems
                    .push(format!("report for unknown command {uuid}"));
                return status(400);
            };
            if ch != id {
                s.problems
                    .push(format!("report for {uuid} on {id}, sent on {ch}"));
            }
            let acked = report.status == Status::Acknowledged;
            let typed = match report.type_result(&rt) {
                Ok(Some(_)) => Ok(()),
                Ok(None) if !acked => Ok(()),
                Ok(None) if rt == "FrobnicateDevice" => Ok(()),
                Ok(None) => Err(format!("{rt}: no typed result")),
                Err(e) => Err(format!("{rt}: {e}")),
            };
            if let (Some(nonce), Some(gc::CommandResponse::DeviceInformation(di))) =
                (nonce, &report.typed)
            {
                let (serial, _) = s.authenticated.get(&udid).cloned().unwrap_or_default();
                let chain: Vec<Cert> = di
                    .query_responses
                    .device_properties_attestation
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|d| Cert::from_der(&d.0).unwrap())
                    .collect();
                let anchors = [self.attest_root.clone()];
                let opts = attestation::apple::Options::new(
                    SystemTime::now(),
                    attestation::apple::FreshnessCode::from_mdm_nonce(&nonce),
                )
                .with_anchors(&anchors)
                .with_expected_serial(&serial)
                .with_expected_udid(&udid);
                match attestation::apple::verify(provider(), &chain, &opts) {
                    Ok(_) => s.attestations_verified.push(udid.clone()),
                    Err(e) => s.problems.push(format!("{udid}: attestation: {e}")),
                }
            }
            s.reports.push(SeenReport {
                channel_id: id.clone(),
                command_uuid: uuid.clone(),
                request_type: rt,
                status: report.status,
                typed,
            });
            if report.status == Status::NotNow {
                // Send it again after the next Idle: to the back of the queue.
                if let Some(q) = s.queues.get_mut(&id)
                    && let Some(pos) = q.iter().position(|c| c.command_uuid == uuid)
                    && let Some(c) = q.remove(pos)
                {
                    q.push_back(c);
                }
                // Nothing more in this session.
                return status(200);
            } else if let Some(q) = s.queues.get_mut(&id) {
                q.retain(|c| c.command_uuid != uuid);
            }
        }
        match s.queues.get(&id).and_then(|q| q.front()) {
            Some(c) => {
                let mut r = http::Response::new(c.to_xml());
                r.headers_mut()
                    .insert("content-type", "application/xml".parse().unwrap());
                r
            }
            None => status(200),
        }
    }
}
