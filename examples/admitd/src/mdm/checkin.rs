//! `PUT /mdm/checkin`: every check-in message type.
//!
//! ```text
//! body ──▶ CheckInRequest::parse_http ──(400)──▶ identity (TLS cert | Mdm-Signature) ──(401)
//!      ──▶ may this certificate speak for the channel's device? ──(401)
//!      ──▶ webhook event committed ──▶ state change committed ──▶ answer
//! ```
//!
//! Binding rules. Authenticate binds the device channel to the certificate that sent it. A
//! device already bound to another certificate is taken over only when the old binding is
//! released (CheckOut, an admin release, or an enrollment that never completed) or the new
//! certificate proves it is the same device (a SCEP renewal signed with the bound
//! certificate, or a profile made for this UDID after the device's own signature showed it).
//! Every other message must come with the bound certificate; a SCEP renewal of it is bound
//! in its place on first use, after which the old certificate gets 401.

use std::time::SystemTime;

use hyper::body::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use mdm_proto::Data;
use mdm_proto::checkin::{Answer, Channel, CheckIn, CheckInRequest};
use mdm_proto::generated::checkin::ReturnToServiceResponse;
use mdm_proto::generated::checkin::return_to_service::ReturnToServiceResponseReturnToService;
use mdm_proto::plist;
use mdm_proto::webhook::EventContext;

use super::Service;
use super::identity::{DeviceIdentity, IdentifyError, MDM_SIGNATURE, PeerCertificate, Verifier};
use super::store::{Authenticated, Bind, Enrollment, State, Ticket, TokenUpdated, unix};
use crate::server::{AppState, Body, Listener};

/// A plain-text answer with a message of our own.
pub(crate) fn plain(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from(msg.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

pub(crate) fn internal(what: &str, e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "{what}");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
}

fn unauthorized(msg: impl Into<String>) -> Response<Body> {
    let msg = msg.into();
    tracing::info!(reason = %msg, "MDM request refused");
    plain(StatusCode::UNAUTHORIZED, format!("{msg}\n"))
}

pub(crate) fn answer(a: &Answer) -> Response<Body> {
    let (parts, body) = a.to_http().into_parts();
    Response::from_parts(parts, Body::new(Bytes::from(body)))
}

/// The transport checks every MDM endpoint shares: HTTPS, PUT.
#[allow(clippy::result_large_err)]
pub(crate) fn transport(listener: Listener, req: &Request<Bytes>) -> Result<(), Response<Body>> {
    if listener != Listener::Https {
        return Err(plain(
            StatusCode::FORBIDDEN,
            "MDM is served over HTTPS only\n",
        ));
    }
    if *req.method() != Method::PUT {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("PUT"),
        );
        return Err(r);
    }
    Ok(())
}

/// Who sent the request (401 or 500 otherwise).
#[allow(clippy::result_large_err)]
pub(crate) fn identify(
    state: &AppState,
    req: &Request<Bytes>,
) -> Result<DeviceIdentity, Response<Body>> {
    let mdm = &state.mdm;
    let verifier = Verifier {
        anchors: &mdm.anchors,
        intermediates: &mdm.intermediates,
        provider: state.scep.provider(),
        records: &state.scep,
    };
    let signature = req
        .headers()
        .get(MDM_SIGNATURE)
        .and_then(|v| v.to_str().ok());
    verifier
        .identify(
            req.extensions().get::<PeerCertificate>(),
            signature,
            req.body(),
            SystemTime::now(),
        )
        .map_err(|e| match e {
            IdentifyError::Refused(r) => unauthorized(r.to_string()),
            IdentifyError::Storage(e) => internal("reading certificate records", &e),
        })
}

/// Check that `who` may speak for the device channel `device_id`; its record.
#[allow(clippy::result_large_err)]
pub(crate) fn authorize(
    state: &AppState,
    who: &DeviceIdentity,
    device_id: &str,
) -> Result<Enrollment, Response<Body>> {
    let store = state.mdm.store();
    let device = match store.enrollment(device_id) {
        Ok(Some(d)) if d.kind == "device" => d,
        Ok(_) => {
            return Err(unauthorized(
                "no enrollment for this device; send Authenticate first",
            ));
        }
        Err(e) => return Err(internal("reading an enrollment", &e)),
    };
    if device.state == State::CheckedOut {
        return Err(unauthorized("this enrollment has checked out"));
    }
    let bound = device.cert_sha256.as_deref().unwrap_or_default();
    if bound == who.cert_sha256.as_slice() {
        return Ok(device);
    }
    // A SCEP renewal of the bound certificate takes its place.
    match state.scep.renewed_from(&who.serial_hex) {
        Ok(Some(prev)) if prev == bound => {
            let now = unix(SystemTime::now());
            match store.rebind(device_id, bound, &who.cert_sha256, &who.serial_hex, now) {
                Ok(true) => {
                    tracing::info!(device = device_id, serial = %who.serial_hex, "renewed identity certificate bound");
                    Ok(device)
                }
                Ok(false) => Err(unauthorized(
                    "the enrollment's certificate changed meanwhile",
                )),
                Err(e) => Err(internal("rebinding an enrollment", &e)),
            }
        }
        Ok(_) => Err(unauthorized(
            "this certificate does not belong to this device's enrollment",
        )),
        Err(e) => Err(internal("reading certificate records", &e)),
    }
}

fn now_rfc3339() -> String {
    plist::Date::from(SystemTime::now()).to_xml_format()
}

fn new_event_id() -> String {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    mdm_proto::command::new_uuid(&mut rng)
}

impl Service {
    /// Record the webhook event for a check-in (committed before the state change it reports).
    fn checkin_event(
        &self,
        msg: &CheckInRequest,
        tally: Option<u64>,
    ) -> Result<(), crate::storage::Error> {
        if self.hooks().events.is_none() {
            return Ok(());
        }
        let ctx = EventContext {
            event_id: new_event_id(),
            created_at: now_rfc3339(),
            url_params: None,
            token_update_tally: tally,
        };
        self.record_event(&mdm_proto::webhook::checkin_event(msg, &ctx))
    }
}

/// `PUT /mdm/checkin`.
pub fn checkin(state: &AppState, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
    if let Err(r) = transport(listener, req) {
        return r;
    }
    let mdm = &state.mdm;
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let msg = match CheckInRequest::parse_http(ct, req.body(), &mdm.limits) {
        Ok(m) => m,
        Err(e) => {
            tracing::info!(error = %e, "bad check-in");
            return plain(StatusCode::BAD_REQUEST, format!("bad check-in: {e}\n"));
        }
    };
    let who = match identify(state, req) {
        Ok(w) => w,
        Err(r) => return r,
    };
    if let CheckIn::Authenticate(a) = &msg.message {
        return authenticate(state, &who, &msg, a);
    }
    // The device this message speaks for: its channel, or (Setup Assistant's bootstrap token
    // messages, which carry none) the device bound to the certificate.
    let device_id = match &msg.channel {
        Some(c) => c.device_id().to_owned(),
        None => match mdm.store().device_by_cert(&who.cert_sha256) {
            Ok(Some(d)) => d.id,
            Ok(None) => return unauthorized("no enrollment is bound to this certificate"),
            Err(e) => return internal("reading an enrollment", &e),
        },
    };
    let device = match authorize(state, &who, &device_id) {
        Ok(d) => d,
        Err(r) => return r,
    };
    // The tally is only for the webhook event: no read when no webhooks are set up.
    let tally = match &msg.message {
        CheckIn::TokenUpdate(_) if mdm.hooks().events.is_some() => {
            let id = msg.channel.as_ref().map_or(device_id.clone(), Channel::id);
            let current = if id == device.id {
                Some(device.token_update_tally)
            } else {
                mdm.store()
                    .enrollment(&id)
                    .ok()
                    .flatten()
                    .map(|e| e.token_update_tally)
            };
            Some(u64::try_from(current.unwrap_or(0)).unwrap_or(0) + 1)
        }
        _ => None,
    };
    if let Err(e) = mdm.checkin_event(&msg, tally) {
        return internal("recording a webhook event", &e);
    }
    let now = unix(SystemTime::now());
    let store = mdm.store();
    let result: Result<Answer, Response<Body>> = match &msg.message {
        CheckIn::Authenticate(_) => unreachable!("handled above"),
        CheckIn::TokenUpdate(t) => {
            let Some(channel) = &msg.channel else {
                return plain(StatusCode::BAD_REQUEST, "TokenUpdate without a channel\n");
            };
            let unlock = t
                .unlock_token
                .as_ref()
                .map(|u| state.sealer.seal(&format!("unlock:{device_id}"), &u.0));
            store
                .token_update(
                    &TokenUpdated {
                        id: channel.id(),
                        device_id: device_id.clone(),
                        kind: if channel.is_user() { "user" } else { "device" },
                        token: t.token.0.clone(),
                        push_magic: t.push_magic.clone(),
                        topic: t.topic.clone(),
                        unlock_token: unlock,
                    },
                    now,
                )
                .map(|_| Answer::Empty)
                .map_err(|e| internal("storing a TokenUpdate", &e))
        }
        CheckIn::CheckOut(_) => {
            let id = msg.channel.as_ref().map_or(device_id.clone(), Channel::id);
            store
                .check_out(&id, now)
                .map(|()| Answer::Empty)
                .map_err(|e| internal("storing a CheckOut", &e))
        }
        CheckIn::UserAuthenticate(_) if !mdm.settings.user_channels => {
            Ok(Answer::UserAuthenticateDeclined)
        }
        // User channels on: no password digest is asked for.
        CheckIn::UserAuthenticate(_) => Ok(Answer::Empty),
        CheckIn::SetBootstrapToken(b) => {
            let sealed = b
                .bootstrap_token
                .as_ref()
                .filter(|t| !t.0.is_empty())
                .map(|t| state.sealer.seal(&format!("bootstrap:{device_id}"), &t.0));
            store
                .set_bootstrap_token(&device_id, sealed.as_deref())
                .map(|()| Answer::Empty)
                .map_err(|e| internal("storing a BootstrapToken", &e))
        }
        CheckIn::GetBootstrapToken(_) => match store.bootstrap_token(&device_id) {
            Ok(None) => Ok(Answer::BootstrapToken(None)),
            Ok(Some(sealed)) => match state
                .sealer
                .open(&format!("bootstrap:{device_id}"), &sealed)
            {
                Ok(t) => Ok(Answer::BootstrapToken(Some(Data(t.to_vec())))),
                Err(e) => Err(internal("opening a BootstrapToken", &e)),
            },
            Err(e) => Err(internal("reading a BootstrapToken", &e)),
        },
        CheckIn::DeclarativeManagement(d) => {
            let id = msg.channel.as_ref().map_or(device_id.clone(), Channel::id);
            match &mdm.hooks().declarative {
                None => Err(plain(
                    StatusCode::NOT_FOUND,
                    "declarative management is not set up on this server\n",
                )),
                Some(ddm) => {
                    match ddm.checkin(&id, &d.endpoint, d.data.as_ref().map(|x| x.0.as_slice())) {
                        Ok(json) => Ok(Answer::DeclarativeManagement(json)),
                        Err((status, msg)) => Err(plain(
                            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                            format!("{msg}\n"),
                        )),
                    }
                }
            }
        }
        CheckIn::GetToken(g) => Err(plain(
            StatusCode::BAD_REQUEST,
            format!(
                "no token service is configured for TokenServiceType {:?}\n",
                g.token_service_type
            ),
        )),
        CheckIn::ReturnToService(_) => Ok(Answer::ReturnToService(ReturnToServiceResponse {
            preserve_data_plan: None,
            return_to_service: ReturnToServiceResponseReturnToService {
                enabled: false,
                wi_fi_profile_data: None,
                mdm_profile_data: None,
                bootstrap_token: None,
                should_retry_enrollment: None,
                unknown: Default::default(),
            },
            unknown: Default::default(),
        })),
    };
    match result {
        Ok(a) => answer(&a),
        Err(r) => r,
    }
}

fn authenticate(
    state: &AppState,
    who: &DeviceIdentity,
    msg: &CheckInRequest,
    a: &mdm_proto::generated::checkin::Authenticate,
) -> Response<Body> {
    let mdm = &state.mdm;
    let store = mdm.store();
    let id = match &msg.channel {
        Some(c @ (Channel::Device { .. } | Channel::UserEnrollmentDevice { .. })) => c.id(),
        _ => {
            return plain(
                StatusCode::BAD_REQUEST,
                "Authenticate must come on a device channel\n",
            );
        }
    };
    let ticket = match who.common_name.as_deref().map(|cn| store.ticket(cn)) {
        Some(Ok(Some(t))) => t,
        Some(Err(e)) => return internal("reading an enrollment ticket", &e),
        _ => Ticket {
            owner: None,
            source: "scep".into(),
            udid: None,
        },
    };
    match store.enrollment(&id) {
        Err(e) => return internal("reading an enrollment", &e),
        Ok(Some(e))
            if e.state == State::Enrolled
                && e.cert_sha256.as_deref() != Some(who.cert_sha256.as_slice()) =>
        {
            let bound = e.cert_sha256.clone().unwrap_or_default();
            let same_device = ticket.udid.as_deref() == Some(id.as_str())
                || matches!(state.scep.renewed_from(&who.serial_hex), Ok(Some(p)) if p == bound);
            if !same_device {
                return unauthorized(format!(
                    "device {id} is enrolled with another identity certificate; release it \
                     (POST /api/v1/mdm/devices/{id}/release) to enroll it again"
                ));
            }
        }
        Ok(_) => {}
    }
    // The inventory learns of the device (an invite naming its owner counts as an import and is
    // approved; one without, as self-enrollment; ADE, as an MDM sync), then decides whether it
    // may enroll (when the inventory enforces MDM enrollment).
    if let Some(serial) = a.serial_number.as_deref() {
        let recorded = if ticket.source == "ade" {
            ::inventory::InstanceId::parse(serial)
                .map_err(crate::inventory::Error::from)
                .and_then(|i| {
                    state
                        .inventory
                        .record_arrival(&i, None, ::inventory::Source::MdmSync)
                })
        } else {
            state
                .inventory
                .record_mdm_enrollment(serial, ticket.owner.as_deref())
        };
        match recorded {
            Ok(_) => {}
            Err(crate::inventory::Error::Db(e)) => return internal("recording a device", &e),
            Err(e) => {
                tracing::info!(device = %id, error = %e, "device not recorded in the inventory")
            }
        }
    }
    let candidates: Vec<String> = a.serial_number.iter().cloned().collect();
    match state
        .inventory
        .gate(&candidates, ::inventory::Purpose::MdmEnrollment)
    {
        crate::inventory::Gate::Allow => {}
        crate::inventory::Gate::Refuse(why) => {
            tracing::info!(device = %id, reason = %why, "MDM enrollment refused by the inventory");
            return plain(
                StatusCode::FORBIDDEN,
                format!("enrollment refused: {why}\n"),
            );
        }
        crate::inventory::Gate::Failed(e) => return internal("asking the inventory", &e),
    }
    if let Err(e) = mdm.checkin_event(msg, None) {
        return internal("recording a webhook event", &e);
    }
    let rec = Authenticated {
        id: id.clone(),
        cert_sha256: who.cert_sha256.clone(),
        cert_serial: who.serial_hex.clone(),
        serial_number: a.serial_number.clone(),
        model: a.model.clone().or_else(|| a.product_name.clone()),
        os_version: a.os_version.clone(),
        device_name: a.device_name.clone(),
        topic: a.topic.clone(),
        owner: ticket.owner.clone(),
        source: ticket.source.clone(),
    };
    match store.authenticate(&rec, unix(SystemTime::now())) {
        Ok(Bind::Bound) => {
            tracing::info!(device = %id, source = %ticket.source, "Authenticate: enrollment pending");
            answer(&Answer::Empty)
        }
        Ok(Bind::CertificateInUse) => {
            unauthorized("this certificate is bound to another device's enrollment")
        }
        Err(e) => internal("storing an Authenticate", &e),
    }
}
