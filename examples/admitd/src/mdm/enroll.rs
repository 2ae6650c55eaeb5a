//! Enrollment: invites, and the signed enrollment profile they unlock.
//!
//! ```text
//! admin: POST /api/v1/mdm/invites ──▶ invite token (stored as SHA-256; owner, uses, expiry)
//! device: GET /mdm/enroll?invite=T ──▶ one use spent ──▶ ticket + one-time SCEP challenge
//!                                  ──▶ signed profile: root CA, SCEP (Subject CN = ticket), MDM
//! over the air: GET /mdm/ota?invite=T ──▶ signed Profile Service payload (Challenge = ticket)
//!               POST /mdm/ota/phase2 (device attributes signed by the device)
//!                                  ──▶ ticket checked ──▶ the same enrollment profile
//! ```
//!
//! A profile carries a working challenge, so none is served without an invite (or the admin
//! token, for `GET /api/v1/mdm/enrollment-profile`). The ticket in the identity certificate's
//! subject is how Authenticate learns the owner the invite named.

use std::time::{Duration, SystemTime};

use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use mdm_proto::generated::profiles::security_scep::{Keysize, PayloadContent};
use mdm_proto::plist;
use mdm_proto::profile::{CertificatePayload, EnrollmentProfile, IdentityPayload, ProfileService};
use sha2::{Digest as _, Sha256};

use super::Service;
use super::store::{NewInvite, Ticket, unix};
use crate::server::{AppState, Body, Listener, text};

/// The content type of a (signed) configuration profile.
pub const PROFILE_CONTENT_TYPE: &str = "application/x-apple-aspen-config";

/// A new invite, as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Invite {
    /// The secret to hand to the enrolling user (shown once; stored as its SHA-256).
    pub invite: String,
    /// The enrollment URL carrying it.
    pub url: String,
    /// The over-the-air enrollment URL carrying it.
    pub ota_url: String,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
    /// How many profiles it may fetch.
    pub uses: u32,
    /// The owner the enrolled device will belong to.
    pub owner: Option<String>,
}

/// Why no profile could be made (our side: 500).
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The records could not be written.
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    /// Signing failed.
    #[error("signing the profile: {0}")]
    Sign(#[from] mdm_proto::Error),
    /// A certificate could not be used.
    #[error("certificate: {0}")]
    Pki(#[from] pki::Error),
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS random source failed");
    hex::encode(b)
}

/// SHA-256 of an invite token, as stored.
pub fn invite_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Service {
    /// Issue an invite: `uses` profiles within `ttl`, for `owner` if named.
    pub fn create_invite(
        &self,
        owner: Option<String>,
        uses: u32,
        ttl: Duration,
    ) -> Result<Invite, crate::storage::Error> {
        let token = random_hex(24);
        let now = unix(SystemTime::now());
        let expires_at = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        self.store.add_invite(
            &NewInvite {
                token_sha256: invite_hash(&token),
                owner: owner.clone(),
                uses,
                expires_at,
            },
            now,
        )?;
        Ok(Invite {
            url: format!("{}/mdm/enroll?invite={token}", self.base_url()),
            ota_url: format!("{}/mdm/ota?invite={token}", self.base_url()),
            invite: token,
            expires_at,
            uses,
            owner,
        })
    }

    /// A signed enrollment profile for a device enrolling under `ticket`: records the ticket,
    /// mints a one-time SCEP challenge (or uses the static one), and signs with the RA
    /// identity.
    pub fn enrollment_profile(
        &self,
        scep: &crate::scep::Service,
        ticket: &Ticket,
    ) -> Result<Vec<u8>, ProfileError> {
        let id = random_hex(16);
        let now = SystemTime::now();
        self.store.add_ticket(&id, ticket, unix(now))?;
        let challenge = scep.mint_challenge(Duration::from_secs(self.settings.challenge_ttl_s))?;
        self.sign(scep, &self.profile_for(&id, challenge))
    }

    fn profile_for(&self, ticket: &str, challenge: String) -> EnrollmentProfile {
        let s = &self.settings;
        let base = self.base_url();
        let keysize = match s.scep_key_size {
            1024 => Keysize::V1024,
            4096 => Keysize::V4096,
            _ => Keysize::V2048,
        };
        let scep = PayloadContent {
            url: Some(format!("{base}/scep")),
            name: Some("admitd".into()),
            subject: Some(vec![
                vec![vec!["O".into(), s.organization.clone()]],
                vec![vec!["CN".into(), ticket.to_owned()]],
            ]),
            challenge: Some(challenge),
            keysize: Some(keysize),
            key_type: Some("RSA".into()),
            // Signing and encryption (1 | 4).
            key_usage: Some(5),
            ..PayloadContent::default()
        };
        EnrollmentProfile {
            identifier: s.identifier.clone(),
            display_name: format!("{} device management", s.organization),
            organization: Some(s.organization.clone()),
            server_url: format!("{base}/mdm/connect"),
            check_in_url: Some(format!("{base}/mdm/checkin")),
            topic: s.topic.clone(),
            access_rights: s.access_rights,
            sign_message: s.sign_message,
            check_out_when_removed: s.check_out_when_removed,
            per_user_connections: s.user_channels,
            bootstrap_token: s.bootstrap_token,
            identity: IdentityPayload::Scep(Box::new(scep)),
            certificates: vec![CertificatePayload::Root(self.root_der.clone())],
        }
    }

    fn sign(
        &self,
        scep: &crate::scep::Service,
        profile: &EnrollmentProfile,
    ) -> Result<Vec<u8>, ProfileError> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let xml = profile.build(&mut rng).to_xml();
        self.sign_xml(scep, &xml)
    }

    fn sign_xml(&self, scep: &crate::scep::Service, xml: &[u8]) -> Result<Vec<u8>, ProfileError> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let (key, cert) = scep.signer();
        let cert = pki::cert::Cert::from_certificate(cert)?;
        Ok(mdm_proto::signed::sign_profile_with_chain(
            xml,
            key,
            &cert,
            &self.intermediates,
            scep.provider(),
            &mut rng,
        )?)
    }
}

fn profile_response(bytes: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from(bytes)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(PROFILE_CONTENT_TYPE));
    r
}

fn internal(e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "making an enrollment profile failed");
    text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

/// Spend one use of the request's invite; the ticket it grants, or the 403 to send.
#[allow(clippy::result_large_err)]
fn redeem(mdm: &Service, req: &Request<Bytes>) -> Result<Ticket, Response<Body>> {
    let Some(token) = super::api::query(req, "invite").filter(|t| !t.is_empty()) else {
        return Err(text(
            StatusCode::FORBIDDEN,
            "an enrollment invite is required (ask an administrator for an enrollment link)\n",
        ));
    };
    match mdm
        .store
        .take_invite(&invite_hash(&token), unix(SystemTime::now()))
    {
        Ok(Some(owner)) => Ok(Ticket {
            source: if owner.is_some() {
                "invite-owner".into()
            } else {
                "invite".into()
            },
            owner,
            udid: None,
        }),
        Ok(None) => Err(text(
            StatusCode::FORBIDDEN,
            "this enrollment invite is unknown, used up or expired\n",
        )),
        Err(e) => Err(internal(&e)),
    }
}

/// `GET /mdm/enroll?invite=...`: the signed enrollment profile.
pub fn enroll(state: &AppState, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
    if listener != Listener::Https {
        return text(
            StatusCode::FORBIDDEN,
            "enrollment is served over HTTPS only\n",
        );
    }
    if !matches!(*req.method(), Method::GET | Method::POST) {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let ticket = match redeem(&state.mdm, req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match state.mdm.enrollment_profile(&state.scep, &ticket) {
        Ok(p) => profile_response(p),
        Err(e) => internal(&e),
    }
}

/// `GET /mdm/ota?invite=...`: phase 1 of over-the-air enrollment, a signed Profile Service
/// payload whose challenge is a fresh ticket for phase 2.
pub fn ota_phase1(state: &AppState, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
    if listener != Listener::Https {
        return text(
            StatusCode::FORBIDDEN,
            "enrollment is served over HTTPS only\n",
        );
    }
    if *req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let ticket = match redeem(&state.mdm, req) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mdm = &state.mdm;
    // The phase-2 secret: a ticket of its own kind, spent in phase 2.
    let secret = random_hex(16);
    let phase2 = Ticket {
        owner: ticket.owner,
        source: format!("ota-{}", ticket.source),
        udid: None,
    };
    if let Err(e) = mdm
        .store
        .add_ticket(&format!("ota:{secret}"), &phase2, unix(SystemTime::now()))
    {
        return internal(&e);
    }
    let service = ProfileService {
        identifier: format!("{}.ota", mdm.settings.identifier),
        display_name: format!("{} enrollment", mdm.settings.organization),
        url: format!("{}/mdm/ota/phase2", mdm.base_url()),
        device_attributes: ProfileService::DEFAULT_ATTRIBUTES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        challenge: Some(secret),
    };
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    let xml = mdm_proto::value::to_xml(&service.to_plist(&mut rng));
    match mdm.sign_xml(&state.scep, &xml) {
        Ok(p) => profile_response(p),
        Err(e) => internal(&e),
    }
}

/// `POST /mdm/ota/phase2`: the device's signed attributes with the phase-1 challenge; the
/// answer is the enrollment profile.
pub fn ota_phase2(state: &AppState, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
    if listener != Listener::Https {
        return text(
            StatusCode::FORBIDDEN,
            "enrollment is served over HTTPS only\n",
        );
    }
    if *req.method() != Method::POST {
        return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    let mdm = &state.mdm;
    let policy = pki::verify::Policy::default();
    let verified = match &mdm.ota_anchors {
        Some(anchors) => mdm_proto::signed::ota_phase2(
            req.body(),
            state.scep.provider(),
            &mdm_proto::signed::Trust {
                anchors,
                now: SystemTime::now(),
                policy,
            },
            &mdm.limits,
        )
        .map(|v| v.attributes),
        // No device CA configured: the signature is checked, the signer's chain is not;
        // the one-time challenge is what authorizes.
        None => mdm_proto::signed::verify(req.body(), None, state.scep.provider(), &policy, None)
            .and_then(|v| {
                mdm_proto::value::expect_dict(mdm_proto::value::parse(v.content(), &mdm.limits)?)
            }),
    };
    let attrs = match verified {
        Ok(a) => a,
        Err(e) => {
            tracing::info!(error = %e, "OTA phase 2 refused");
            return text(
                StatusCode::BAD_REQUEST,
                "the device attributes are not a valid signed plist\n",
            );
        }
    };
    let attr = |k: &str| attrs.get(k).and_then(plist::Value::as_string);
    let Some(challenge) = attr("CHALLENGE").filter(|c| !c.is_empty()) else {
        return text(
            StatusCode::FORBIDDEN,
            "the device attributes carry no challenge\n",
        );
    };
    // Spent here, atomically: a replayed phase 2 finds nothing.
    let ticket = match mdm.store.take_ticket(&format!("ota:{challenge}")) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return text(
                StatusCode::FORBIDDEN,
                "unknown or spent enrollment challenge\n",
            );
        }
        Err(e) => return internal(&e),
    };
    tracing::info!(udid = attr("UDID").unwrap_or(""), "OTA enrollment phase 2");
    // With the device CA configured, the UDID is the device's own word.
    let ticket = Ticket {
        udid: mdm
            .ota_anchors
            .as_ref()
            .and(attr("UDID"))
            .map(str::to_owned),
        ..ticket
    };
    match mdm.enrollment_profile(&state.scep, &ticket) {
        Ok(p) => profile_response(p),
        Err(e) => internal(&e),
    }
}
