//! APNs: the push certificate, the pusher that wakes channels, and their admin routes.
//!
//! ```text
//!  admitd mdm push-cert import FILE ──▶ cert::import ──▶ DATA/mdm/push.pem + push.key (0600)
//!  MDM core: enqueue committed ──▶ Wake::wake ──▶ Pusher ──HTTP/2 + client cert──▶ APNs
//!                                                  └──▶ mdm_push_results (every attempt)
//!  GET  /api/v1/mdm/push-cert              topic, subject, expiry of the imported certificate
//!  GET  /api/v1/mdm/devices/{id}/pushes    the channel's latest push results (?limit=N, ≤ 500)
//!  POST /api/v1/mdm/devices/{id}/push      push now (202), 409 when it has no push target
//! ```
//!
//! Apple documents MDM pushes as `POST /3/device/<token>` with `apns-topic` (the certificate's
//! UID), `apns-push-type: mdm` and the body `{"mdm":"<PushMagic>"}`; the request is built by
//! [`mdm_proto::apns::Push`] and the answer read by [`mdm_proto::apns::Outcome`].

pub mod cert;
pub mod pusher;
pub mod store;

pub use cert::{CertError, PushIdentity};
pub use pusher::{ApnsEndpoint, PushSettings, Pusher};
pub use store::{MemTargets, NoTargets, PushResult, PushResults};

use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};

use crate::admin;
use crate::mdm::Wake as _;
use crate::server::{AppState, Body, Listener};

/// The most results `GET .../pushes` returns.
pub const MAX_RESULTS: usize = 500;

/// The push admin routes; `None` when the path is not one of them.
pub fn handle(
    state: &AppState,
    listener: Listener,
    req: &Request<Bytes>,
) -> Option<Response<Body>> {
    let path = req.uri().path();
    if path == "/api/v1/mdm/push-cert" {
        return Some(admin_only(state, listener, req, push_cert));
    }
    let rest = path.strip_prefix("/api/v1/mdm/devices/")?;
    let (id, tail) = rest.split_once('/')?;
    if id.is_empty() || id.len() > 256 {
        return None;
    }
    let id = id.to_owned();
    match tail {
        "pushes" => Some(admin_only(state, listener, req, |s, r| pushes(s, r, &id))),
        "push" => Some(admin_only(state, listener, req, |s, r| push_now(s, r, &id))),
        _ => None,
    }
}

fn admin_only(
    state: &AppState,
    listener: Listener,
    req: &Request<Bytes>,
    f: impl FnOnce(&AppState, &Request<Bytes>) -> Response<Body>,
) -> Response<Body> {
    match state.admin.authorize(listener, req) {
        Ok(()) => f(state, req),
        Err(resp) => resp,
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = admin::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    r
}

fn internal(what: &str, e: impl std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "{what}");
    admin::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

fn push_cert(state: &AppState, req: &Request<Bytes>) -> Response<Body> {
    if req.method() != Method::GET {
        return method_not_allowed("GET");
    }
    match state.push.identity() {
        Ok(id) => admin::json(StatusCode::OK, &id.describe()),
        Err(CertError::Missing) => {
            admin::error(StatusCode::NOT_FOUND, &CertError::Missing.to_string())
        }
        Err(e) => internal("reading the push certificate", e),
    }
}

fn pushes(state: &AppState, req: &Request<Bytes>, id: &str) -> Response<Body> {
    if req.method() != Method::GET {
        return method_not_allowed("GET");
    }
    let mut limit = 50;
    for pair in req.uri().query().unwrap_or("").split('&') {
        if let Some(v) = pair.strip_prefix("limit=") {
            match v.parse::<usize>() {
                Ok(n) if (1..=MAX_RESULTS).contains(&n) => limit = n,
                _ => {
                    return admin::error(
                        StatusCode::BAD_REQUEST,
                        &format!("limit must be a number from 1 to {MAX_RESULTS}"),
                    );
                }
            }
        }
    }
    match state.push.results(id, limit) {
        Ok(results) => admin::json(StatusCode::OK, &serde_json::json!({ "pushes": results })),
        Err(e) => internal("reading push results", e),
    }
}

fn push_now(state: &AppState, req: &Request<Bytes>, id: &str) -> Response<Body> {
    if req.method() != Method::POST {
        return method_not_allowed("POST");
    }
    match state.push.target(id) {
        Ok(Some(_)) => {
            state.push.wake(&[id.to_owned()]);
            admin::json(StatusCode::ACCEPTED, &serde_json::json!({ "queued": id }))
        }
        Ok(None) => admin::error(
            StatusCode::CONFLICT,
            "this device has no push target: it has sent no TokenUpdate, has checked out, or \
             APNs said its token is gone",
        ),
        Err(e) => internal("reading the push target", e),
    }
}
