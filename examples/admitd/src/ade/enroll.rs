//! `GET|POST /mdm/enroll/ade`: the enrollment URL of the ADE profile (`[ade.profile] url`).
//!
//! ```text
//! Setup Assistant ──▶ x-apple-aspen-deviceinfo (or the SignedData body)
//!     ──▶ Service::check_enrollment (device CA, known serial) ── refused ──▶ 403 + reason
//!     ──▶ ticket { source: "ade", udid: the verified UDID } ──▶ the signed enrollment profile
//! ```
//!
//! No invite is needed: the MachineInfo signed by the device CA, for a device Apple assigned
//! to this server, is the entitlement.

use std::time::SystemTime;

use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::mdm::enroll::PROFILE_CONTENT_TYPE;
use crate::mdm::store::Ticket;
use crate::server::{AppState, Body, Listener, text};

/// The path of the ADE enrollment URL.
pub const PATH: &str = "/mdm/enroll/ade";

/// Largest body taken (a signed MachineInfo is a few KiB).
pub const MAX_BODY: usize = super::gate::MAX_MACHINE_INFO;

/// Answer the ADE enrollment URL.
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
    let device = match state
        .ade
        .check_enrollment(req.headers(), req.body(), &[], SystemTime::now())
    {
        Ok(d) => d,
        Err(refusal) => {
            tracing::info!(reason = %refusal, "ADE enrollment refused");
            return refusal.response();
        }
    };
    let ticket = Ticket {
        owner: None,
        source: "ade".into(),
        udid: Some(device.udid().to_owned()),
    };
    match state.mdm.enrollment_profile(&state.scep, &ticket) {
        Ok(bytes) => {
            tracing::info!(
                serial = device.serial(),
                udid = device.udid(),
                "ADE enrollment profile served"
            );
            let mut r = Response::new(Body::new(Bytes::from(bytes)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROFILE_CONTENT_TYPE));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "making an ADE enrollment profile failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
        }
    }
}
