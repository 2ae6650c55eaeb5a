//! One simulated device talking to a server: enrollment (SCEP, Authenticate, TokenUpdate),
//! command sessions on the device and user channels, DDM syncs, and CheckOut.
//!
//! ```text
//! Device::enroll ── GetCACaps, GetCACert, PKCSReq (challenge) ──▶ identity certificate
//!                ── Authenticate, TokenUpdate (CheckInURL) ──▶ enrolled
//! Device::session(channel) ── Idle ──▶ command ──answer──▶ report ──▶ next command ... empty
//! Device::ddm_sync(channel) ── tokens, declaration-items, declaration/… , status
//! Device::check_out ── CheckOut
//! every request: TLS client certificate = identity, or Mdm-Signature when SignMessage
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use mdm_proto::command::{Command, Status};
use mdm_proto::{Data, ToPlist};
use pki::cert::Cert;
use pki::cert::issue::{Template, issue};
use pki::key::PrivateKey;
use plist::{Dictionary, Value};
use scep::{CaCerts, Capabilities, CertRepOptions, CertRepOutcome, Client, Identity};

use crate::commands::{self, AttestationCa, Context, Effect, Reply};
use crate::declarative;
use crate::enrollment::Enrollment;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::state::{DeviceState, Keys};
use crate::transport::{Allowed, Tls, Transport};

/// Most commands one session answers before it stops asking (a server that sends commands
/// forever cannot hold a device).
pub const MAX_COMMANDS_PER_SESSION: usize = 256;

/// Most CertPoll rounds while SCEP says PENDING.
pub const MAX_SCEP_POLLS: usize = 5;

/// Where devices get their enrollment profile.
#[derive(Debug, Clone)]
pub enum Source {
    /// One profile for every device (its SCEP challenge must allow many uses).
    Profile(Arc<Enrollment>),
    /// Each device fetches its own profile from this URL when it enrolls (an invite URL: one
    /// use and one fresh SCEP challenge per device).
    Url(String),
}

/// What every device of a run shares.
pub struct Options {
    /// Where the enrollment profile comes from.
    pub source: Source,
    /// CA certificates (DER) trusted for the servers' TLS.
    pub roots: Vec<Vec<u8>>,
    /// The origins the run may contact.
    pub allowed: Arc<Allowed>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Where identity keys come from.
    pub keys: Keys,
    /// The CA that signs attestations, if any.
    pub attestation: Option<AttestationCa>,
    /// Shared figures.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("source", &self.source)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// A channel of the device: the device itself or one of its users (index into
/// `DeviceState::users`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    /// The device channel.
    Device,
    /// User `n`'s channel.
    User(usize),
}

/// A command the device answered, for comparing with the server's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// `mdm_proto::checkin::Channel::id` of the channel.
    pub channel_id: String,
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// The status sent.
    pub status: Status,
}

/// One simulated device.
pub struct Device {
    /// Its number in the fleet (its state file).
    pub index: usize,
    /// What it keeps between runs.
    pub state: DeviceState,
    /// Commands still to answer `NotNow` (a busy device).
    pub busy: u32,
    /// Every command answered in this run.
    pub answered: Vec<Answered>,
    /// Every status report sent (JSON), in order: (channel id, report).
    pub ddm_reports: Vec<(String, serde_json::Value)>,
    key: Option<Arc<dyn PrivateKey>>,
    cert: Option<Cert>,
    enrollment: Arc<Enrollment>,
    http: Transport,
    tls: Tls,
    opts: Arc<Options>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("index", &self.index)
            .field("udid", &self.state.model.udid)
            .field("enrolled", &self.state.enrolled)
            .finish_non_exhaustive()
    }
}

impl Device {
    /// A device from its saved (or new) state.
    pub fn new(index: usize, state: DeviceState, opts: Arc<Options>) -> Result<Device> {
        let enrollment = match (&state.enrollment, &opts.source) {
            (Some(e), _) => Arc::new(e.clone()),
            (None, Source::Profile(e)) => e.clone(),
            // Not enrolled yet: the profile comes with the enroll step.
            (None, Source::Url(_)) => Arc::new(Enrollment::placeholder()),
        };
        let mut roots = opts.roots.clone();
        roots.extend(enrollment.roots.iter().cloned());
        let tls = Tls::new(&roots, None)?;
        let http = Transport::new(tls.clone(), opts.allowed.clone(), opts.timeout);
        let mut d = Device {
            index,
            state,
            busy: 0,
            answered: Vec::new(),
            ddm_reports: Vec::new(),
            key: None,
            cert: None,
            enrollment,
            http,
            tls,
            opts,
        };
        if let (Some(k), Some(c)) = (d.state.key_der(), d.state.identity_der()) {
            let key = crate::provider()
                .private_key_from_pkcs8_der(&k)
                .map_err(|e| Error::State(format!("device {index}: key: {e}")))?;
            let cert = Cert::from_der(&c)
                .map_err(|e| Error::State(format!("device {index}: certificate: {e}")))?;
            d.use_identity(key, cert)?;
        }
        Ok(d)
    }

    /// The run's shared figures.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.opts.metrics.clone()
    }

    /// The device's UDID.
    pub fn udid(&self) -> &str {
        &self.state.model.udid
    }

    /// The channel ID of `on` (as `mdm_proto::checkin::Channel::id`).
    pub fn channel_id(&self, on: On) -> String {
        match on {
            On::Device => self.state.model.udid.clone(),
            On::User(i) => {
                let u = &self.state.users[i];
                if u.user_id == mdm_proto::checkin::SHARED_IPAD_USER_ID {
                    format!("{}:{}", self.state.model.udid, u.short_name)
                } else {
                    format!("{}:{}", self.state.model.udid, u.user_id)
                }
            }
        }
    }

    fn use_identity(&mut self, key: Arc<dyn PrivateKey>, cert: Cert) -> Result<()> {
        if !self.enrollment.sign_message {
            let der = key.to_pkcs8_der().map_err(Error::internal)?;
            let tls = self
                .tls
                .with_identity(vec![cert.der().to_vec()], der.to_vec())?;
            self.http.set_tls(tls);
        }
        self.key = Some(key);
        self.cert = Some(cert);
        Ok(())
    }

    /// Send one request, timing it under `endpoint`.
    async fn send(
        &mut self,
        endpoint: &str,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<Vec<u8>>> {
        let start = Instant::now();
        match self.http.send(endpoint, req).await {
            Ok(r) => {
                self.opts.metrics.answered(endpoint, start.elapsed());
                Ok(r)
            }
            Err(e) => {
                self.opts.metrics.failed(endpoint);
                Err(e)
            }
        }
    }

    /// `PUT` a plist to `url`, signed when the profile says `SignMessage`; the answer must be
    /// 200.
    async fn put(
        &mut self,
        endpoint: &str,
        url: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>> {
        let mut b = http::Request::put(url).header(http::header::CONTENT_TYPE, content_type);
        if self.enrollment.sign_message {
            b = b.header("Mdm-Signature", self.mdm_signature(&body)?);
        }
        let req = b.body(body).map_err(|e| Error::Config(e.to_string()))?;
        let resp = self.send(endpoint, req).await?;
        if resp.status() != http::StatusCode::OK {
            let body = String::from_utf8_lossy(&resp.body()[..resp.body().len().min(200)])
                .trim()
                .to_owned();
            return Err(Error::Status {
                endpoint: endpoint.to_owned(),
                status: resp.status().as_u16(),
                body,
            });
        }
        Ok(resp.into_body())
    }

    /// The `Mdm-Signature` header: base64 of a detached CMS SignedData over `body` by the
    /// identity.
    pub fn mdm_signature(&self, body: &[u8]) -> Result<String> {
        let (Some(key), Some(cert)) = (&self.key, &self.cert) else {
            return Err(Error::internal("Mdm-Signature before enrollment"));
        };
        let der = pki::cms::SignedDataBuilder::new(pki::alg::oid::DATA, body)
            .detached()
            .certificate(cert.certificate().clone())
            .signer(pki::cms::SignerInfoBuilder::new(
                &**key,
                cert.certificate(),
                key.default_scheme(),
            ))
            .build(crate::provider(), &mut crate::rng())
            .map_err(Error::internal)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(der))
    }

    /// The identifying keys of a message on `on`.
    fn ids(&self, on: On) -> Dictionary {
        let mut d = Dictionary::new();
        d.insert("UDID".into(), Value::String(self.state.model.udid.clone()));
        if let On::User(i) = on {
            let u = &self.state.users[i];
            d.insert("UserID".into(), Value::String(u.user_id.clone()));
            d.insert("UserShortName".into(), Value::String(u.short_name.clone()));
            d.insert("UserLongName".into(), Value::String(u.long_name.clone()));
        }
        d
    }

    /// Send a check-in message of `message_type` with `keys` on `on`; returns the answer body.
    pub async fn check_in(
        &mut self,
        on: On,
        message_type: &str,
        keys: Dictionary,
    ) -> Result<Vec<u8>> {
        let mut d = self.ids(on);
        d.insert("MessageType".into(), Value::String(message_type.into()));
        for (k, v) in keys {
            d.insert(k, v);
        }
        let body = mdm_proto::value::to_xml(&Value::Dictionary(d));
        let url = self.enrollment.check_in_url.clone();
        let endpoint = format!("checkin:{message_type}");
        self.put(&endpoint, &url, mdm_proto::checkin::CONTENT_TYPE, body)
            .await
    }

    /// Enroll: SCEP (unless the state already holds an identity), then Authenticate and
    /// TokenUpdate. Returns `false` when the device was already enrolled (a resumed run).
    pub async fn enroll(&mut self) -> Result<bool> {
        if self.state.enrolled && !self.state.checked_out && self.cert.is_some() {
            return Ok(false);
        }
        if self.state.checked_out {
            // A checked-out enrollment is over: a new profile, a new identity.
            self.state.checked_out = false;
            self.state.enrollment = None;
            self.state.identity = None;
            self.state.key_pkcs8 = None;
            self.key = None;
            self.cert = None;
        }
        if self.state.enrollment.is_none() {
            let e = match &self.opts.source {
                Source::Profile(e) => e.clone(),
                Source::Url(url) => {
                    let url = url.clone();
                    let req = http::Request::get(&url)
                        .body(Vec::new())
                        .map_err(|e| Error::Config(e.to_string()))?;
                    let resp = self.send("enroll", req).await?;
                    if resp.status() != http::StatusCode::OK {
                        return Err(Error::Status {
                            endpoint: "enroll".into(),
                            status: resp.status().as_u16(),
                            body: String::from_utf8_lossy(
                                &resp.body()[..resp.body().len().min(200)],
                            )
                            .trim()
                            .to_owned(),
                        });
                    }
                    Arc::new(Enrollment::parse(resp.body())?)
                }
            };
            let mut roots = self.opts.roots.clone();
            roots.extend(e.roots.iter().cloned());
            self.tls = Tls::new(&roots, None)?;
            self.http.set_tls(self.tls.clone());
            self.state.enrollment = Some((*e).clone());
            self.enrollment = e;
        }
        if self.cert.is_none() {
            let (key, cert) = self.scep().await?;
            self.state
                .set_key(&key.to_pkcs8_der().map_err(Error::internal)?);
            self.state.set_identity(cert.der());
            self.use_identity(key, cert)?;
        }
        let e = self.enrollment.clone();
        let m = self.state.model.clone();
        let mut auth = Dictionary::new();
        for (k, v) in [
            ("Topic", e.topic.as_str()),
            ("DeviceName", m.device_name.as_str()),
            ("Model", m.model.as_str()),
            ("ModelName", m.model_name.as_str()),
            ("OSVersion", m.os_version.as_str()),
            ("BuildVersion", m.build_version.as_str()),
            ("ProductName", m.product_name.as_str()),
            ("SerialNumber", m.serial.as_str()),
            ("IMEI", m.imei.as_str()),
        ] {
            auth.insert(k.into(), Value::String(v.into()));
        }
        self.check_in(On::Device, "Authenticate", auth).await?;
        self.token_update(On::Device).await?;
        self.state.enrolled = true;
        self.state.checked_out = false;
        self.state.ddm = declarative::Ddm::default();
        // The MDM profile itself is the first profile a device lists.
        if !self
            .state
            .inventory
            .profiles
            .iter()
            .any(|p| p.identifier == e.identifier)
        {
            self.state.inventory.profiles.insert(
                0,
                commands::InstalledProfile {
                    identifier: e.identifier.clone(),
                    uuid: e.uuid.clone(),
                    display_name: e.display_name.clone(),
                    organization: None,
                    version: 1,
                    payloads: vec![(
                        "com.apple.mdm".into(),
                        format!("{}.mdm", e.identifier),
                        None,
                    )],
                    managed: true,
                },
            );
        }
        Ok(true)
    }

    /// TokenUpdate on `on` (a user channel's first TokenUpdate enrolls that channel).
    pub async fn token_update(&mut self, on: On) -> Result<()> {
        let topic = self.enrollment.topic.clone();
        let mut d = Dictionary::new();
        d.insert("Topic".into(), Value::String(topic));
        let (token, magic) = match on {
            On::Device => (self.state.push_token.clone(), self.state.push_magic.clone()),
            On::User(i) => (
                self.state.users[i].push_token.clone(),
                self.state.users[i].push_magic.clone(),
            ),
        };
        d.insert(
            "Token".into(),
            Data(hex::decode(token).unwrap_or_default()).to_plist(),
        );
        d.insert("PushMagic".into(), Value::String(magic));
        if on == On::Device {
            d.insert(
                "UnlockToken".into(),
                Data(hex::decode(&self.state.unlock_token).unwrap_or_default()).to_plist(),
            );
            d.insert("AwaitingConfiguration".into(), Value::Boolean(false));
        }
        self.check_in(on, "TokenUpdate", d).await?;
        if let On::User(i) = on {
            self.state.users[i].enrolled = true;
        }
        Ok(())
    }

    async fn scep_get(&mut self, op: &str) -> Result<http::Response<Vec<u8>>> {
        let base: http::Uri = self
            .enrollment
            .scep_url
            .parse()
            .map_err(|e| Error::Profile(format!("bad SCEP URL: {e}")))?;
        let operation = if op == "GetCACaps" {
            scep::Operation::GetCaCaps { ca_ident: None }
        } else {
            scep::Operation::GetCaCert { ca_ident: None }
        };
        let req = operation
            .to_request(&base, false)
            .map_err(|e| Error::Scep(e.to_string()))?;
        let resp = self.send(&format!("scep:{op}"), req).await?;
        if resp.status() != http::StatusCode::OK {
            return Err(Error::Status {
                endpoint: format!("scep:{op}"),
                status: resp.status().as_u16(),
                body: String::new(),
            });
        }
        Ok(resp)
    }

    /// Get an identity certificate over SCEP with the profile's challenge.
    async fn scep(&mut self) -> Result<(Arc<dyn PrivateKey>, Cert)> {
        let e = self.enrollment.clone();
        let caps = self.scep_get("GetCACaps").await?;
        let caps = Capabilities::parse(caps.body());
        let ca = self.scep_get("GetCACert").await?;
        let ca =
            CaCerts::from_response(&ca).map_err(|err| Error::malformed("scep:GetCACert", err))?;
        let post = caps.post();
        // CertPoll names the issuing CA: the last certificate of GetCACert (RA certificates
        // come first).
        let issuer = ca
            .certificates()
            .last()
            .map(|c| c.tbs_certificate().subject().clone())
            .ok_or_else(|| Error::malformed("scep:GetCACert", "no certificate"))?;
        let client = Client::new(crate::provider(), caps, ca);
        let provider = crate::provider();
        let key = self.opts.keys.take(e.key_bits)?;
        let subject_text = e
            .subject
            .clone()
            .unwrap_or_else(|| format!("CN={}", self.state.model.udid));
        let subject: pki::x509_cert::name::Name = subject_text
            .parse()
            .map_err(|err| Error::Profile(format!("SCEP Subject {subject_text:?}: {err}")))?;
        let mut rng = crate::rng();
        let now = SystemTime::now();
        let self_signed = issue(
            provider,
            &*key,
            None,
            key.spki(),
            &Template::end_entity(
                now - Duration::from_secs(300),
                now + Duration::from_secs(86400),
            )
            .with_subject(subject.clone()),
            &mut rng,
        )
        .map_err(Error::internal)?;
        let mut csr = pki::cert::csr::CsrBuilder::new(subject.clone());
        if let Some(c) = &e.challenge {
            csr = csr.with_challenge_password(c.clone());
        }
        let csr = csr.build(&*key, &mut rng).map_err(Error::internal)?;
        let identity = Identity {
            signer: &*key,
            decrypter: &*key,
            certificate: &self_signed,
        };
        let base: http::Uri = e
            .scep_url
            .parse()
            .map_err(|err| Error::Profile(format!("bad SCEP URL: {err}")))?;
        let mut tx = client
            .pkcs_req(identity, &csr, None, &mut rng)
            .map_err(|err| Error::Scep(err.to_string()))?;
        for poll in 0..=MAX_SCEP_POLLS {
            let req = tx
                .to_request(&base, post)
                .map_err(|err| Error::Scep(err.to_string()))?;
            let resp = self.send("scep:PKIOperation", req).await?;
            if resp.status() != http::StatusCode::OK {
                return Err(Error::Status {
                    endpoint: "scep:PKIOperation".into(),
                    status: resp.status().as_u16(),
                    body: String::from_utf8_lossy(&resp.body()[..resp.body().len().min(200)])
                        .into_owned(),
                });
            }
            let outcome = client
                .read_cert_rep(
                    &tx,
                    identity,
                    resp.body(),
                    &CertRepOptions::default(),
                    &mut rng,
                )
                .map_err(|err| Error::malformed("scep:PKIOperation", err))?;
            match outcome {
                CertRepOutcome::Success(_) => {
                    let cert = outcome.certificate_for(key.spki()).ok_or_else(|| {
                        Error::Scep("the CertRep holds no certificate for our key".into())
                    })?;
                    let cert = Cert::from_certificate(cert).map_err(Error::internal)?;
                    return Ok((key, cert));
                }
                CertRepOutcome::Failure { fail_info, text } => {
                    return Err(Error::Scep(format!(
                        "FAILURE {fail_info:?}{}",
                        text.map(|t| format!(": {t}")).unwrap_or_default()
                    )));
                }
                CertRepOutcome::Pending if poll < MAX_SCEP_POLLS => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    tx = client
                        .cert_poll(
                            identity,
                            &issuer,
                            &subject,
                            tx.transaction_id().clone(),
                            &mut rng,
                        )
                        .map_err(|err| Error::Scep(err.to_string()))?;
                }
                CertRepOutcome::Pending => {
                    return Err(Error::Scep(format!(
                        "still PENDING after {MAX_SCEP_POLLS} polls"
                    )));
                }
                _ => return Err(Error::malformed("scep:PKIOperation", "unexpected CertRep")),
            }
        }
        Err(Error::Scep("no certificate".into()))
    }

    /// One command session on `on`: Idle, then answer every command until the server has
    /// none (or [`MAX_COMMANDS_PER_SESSION`]). DeclarativeManagement commands trigger a DDM
    /// sync after the session.
    pub async fn session(&mut self, on: On) -> Result<usize> {
        let mut report = self.ids(on);
        report.insert("Status".into(), Value::String("Idle".into()));
        let mut answered = 0;
        let mut syncs = Vec::new();
        loop {
            let body = mdm_proto::value::to_xml(&Value::Dictionary(report));
            let url = self.enrollment.server_url.clone();
            let resp = self
                .put("connect", &url, "application/x-apple-aspen-mdm", body)
                .await?;
            if resp.is_empty() || answered >= MAX_COMMANDS_PER_SESSION {
                break;
            }
            let cmd = match Command::parse(&resp, &mdm_proto::Limits::default()) {
                Ok(c) => c,
                Err(e) => {
                    // A command we cannot read: CommandFormatError when it names itself,
                    // else the server sent something that is not a command at all.
                    let uuid = plist::Value::from_reader(std::io::Cursor::new(&resp))
                        .ok()
                        .and_then(|v| {
                            v.as_dictionary()
                                .and_then(|d| d.get("CommandUUID"))
                                .and_then(Value::as_string)
                                .map(str::to_owned)
                        });
                    match uuid {
                        Some(u) => {
                            self.opts.metrics.count("commands.format_error", 1);
                            report = self.report(on, &u, &Reply::format_error());
                            answered += 1;
                            continue;
                        }
                        None => return Err(Error::malformed("connect", e)),
                    }
                }
            };
            let reply = if self.busy > 0 {
                self.busy -= 1;
                Reply::not_now()
            } else {
                let identity = self.state.identity_der();
                let token = match on {
                    On::Device => self.state.push_token_bytes(),
                    On::User(i) => hex::decode(&self.state.users[i].push_token).unwrap_or_default(),
                };
                let model = self.state.model.clone();
                let cx = Context {
                    model: &model,
                    push_token: &token,
                    identity: identity.as_deref(),
                    attestation: self.opts.attestation.as_ref(),
                    now: SystemTime::now(),
                };
                commands::answer(&cmd, &mut self.state.inventory, &cx)
            };
            let m = &self.opts.metrics;
            m.count("commands.answered", 1);
            m.count(&format!("commands.status.{}", reply.status.as_str()), 1);
            m.count(&format!("commands.type.{}", cmd.request_type()), 1);
            if let Effect::DdmSync(_) = &reply.effect {
                syncs.push(on);
            }
            self.answered.push(Answered {
                channel_id: self.channel_id(on),
                command_uuid: cmd.command_uuid.clone(),
                request_type: cmd.request_type().to_owned(),
                status: reply.status,
            });
            report = self.report(on, &cmd.command_uuid, &reply);
            answered += 1;
        }
        for on in syncs {
            self.ddm_sync(on).await?;
        }
        Ok(answered)
    }

    fn report(&self, on: On, uuid: &str, reply: &Reply) -> Dictionary {
        let mut d = self.ids(on);
        d.insert("Status".into(), Value::String(reply.status.as_str().into()));
        d.insert("CommandUUID".into(), Value::String(uuid.into()));
        if !reply.error_chain.is_empty() {
            d.insert(
                "ErrorChain".into(),
                Value::Array(reply.error_chain.iter().map(ToPlist::to_plist).collect()),
            );
        }
        for (k, v) in &reply.result {
            d.insert(k.clone(), v.clone());
        }
        d
    }

    async fn ddm(&mut self, on: On, endpoint: &str, data: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let mut d = Dictionary::new();
        d.insert("Endpoint".into(), Value::String(endpoint.into()));
        if let Some(data) = data {
            d.insert("Data".into(), Data(data).to_plist());
        }
        let label = match endpoint.split('/').next() {
            Some("declaration") => "ddm:declaration".to_owned(),
            Some(other) => format!("ddm:{other}"),
            None => "ddm".to_owned(),
        };
        let mut body = self.ids(on);
        body.insert(
            "MessageType".into(),
            Value::String("DeclarativeManagement".into()),
        );
        for (k, v) in d {
            body.insert(k, v);
        }
        let bytes = mdm_proto::value::to_xml(&Value::Dictionary(body));
        let url = self.enrollment.check_in_url.clone();
        self.put(&label, &url, mdm_proto::checkin::CONTENT_TYPE, bytes)
            .await
    }

    /// Sync declarations on `on` and send a status report (full the first time, then only
    /// what changed). User channels keep no DDM state of their own here: they sync the same
    /// way and report declarations only.
    pub async fn ddm_sync(&mut self, on: On) -> Result<()> {
        let tokens = self.ddm(on, "tokens", None).await?;
        let token = declarative::parse_tokens(&tokens)?;
        let mut ddm = std::mem::take(&mut self.state.ddm);
        let result = self.ddm_fetch(on, &mut ddm, token).await;
        let report = result
            .as_ref()
            .ok()
            .and_then(|()| ddm.status_report(&self.state.model));
        self.state.ddm = ddm;
        result?;
        if let Some(report) = report {
            let bytes = serde_json::to_vec(&report).map_err(Error::internal)?;
            self.ddm(on, "status", Some(bytes)).await?;
            self.opts.metrics.count("ddm.status_reports", 1);
            self.ddm_reports.push((self.channel_id(on), report));
        }
        Ok(())
    }

    async fn ddm_fetch(&mut self, on: On, ddm: &mut declarative::Ddm, token: String) -> Result<()> {
        if ddm.token.as_deref() == Some(token.as_str()) {
            return Ok(());
        }
        let items = self.ddm(on, "declaration-items", None).await?;
        let (items, _) = declarative::parse_items(&items)?;
        for (kind, id) in ddm.plan(&items) {
            let body = self
                .ddm(on, &format!("declaration/{kind}/{id}"), None)
                .await?;
            let held = declarative::parse_declaration(&body)?;
            if held.identifier != id || held.kind != kind {
                return Err(Error::malformed(
                    "ddm:declaration",
                    format!(
                        "asked for {kind}/{id}, got {}/{}",
                        held.kind, held.identifier
                    ),
                ));
            }
            ddm.hold(held);
        }
        ddm.token = Some(token);
        Ok(())
    }

    /// CheckOut (the MDM profile is removed).
    pub async fn check_out(&mut self) -> Result<()> {
        let topic = self.enrollment.topic.clone();
        let mut d = Dictionary::new();
        d.insert("Topic".into(), Value::String(topic));
        self.check_in(On::Device, "CheckOut", d).await?;
        self.state.checked_out = true;
        self.state.enrolled = false;
        Ok(())
    }
}
