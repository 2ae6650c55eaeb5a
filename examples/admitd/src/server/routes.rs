//! Routing: path and method to handler.
//!
//! | path       | methods   | listeners   | answer     |
//! |------------|-----------|-------------|------------|
//! | `/healthz` | GET, HEAD | both        | 200 `ok`   |
//! | `/api/devices/v1/authentication/...`, `/api/internal/v1/devauth/...` | see `devauth` | both | |
//! | `/api/management/v2/devauth/...` | see `devauth` | HTTPS | |
//! | `/scep`    | GET, POST | both        | SCEP (RFC 8894), see [`crate::scep`] |
//! | `/crl/device.crl` | GET | both      | the device CA's CRL (DER) |
//! | `/scim/v2/...` | see [`crate::scim`] | HTTPS | SCIM 2.0 users and groups |
//! | `/api/v1/collections/...`, `/api/v1/inventory/...` | see [`crate::inventory`] | HTTPS | device inventory |
//! | `/api/v1/ade/...` | see [`crate::ade`] | HTTPS | ADE tokens, sync, devices (admin) |
//! | `/mdm/enroll/ade` | GET, POST | HTTPS | ADE enrollment: MachineInfo checked, see [`crate::ade::enroll`] |
//! | `/mdm/enroll`, `/mdm/ota`, `/mdm/ota/phase2` | GET, POST | HTTPS | enrollment, see [`crate::mdm::enroll`] |
//! | `/mdm/checkin`, `/mdm/connect` | PUT | HTTPS | MDM, see [`crate::mdm::checkin`], [`crate::mdm::connect`] |
//! | `/api/v1/mdm/...` | see there | HTTPS | MDM admin API, see [`crate::mdm::api`] |
//! | `/api/v1/ddm/...` | see [`crate::ddm::api`] | HTTPS | DDM admin API |
//! | `/api/v1/mdm/push-cert`, `/api/v1/mdm/devices/{id}/push`, `.../pushes` | see [`crate::mdm::push`] | HTTPS (admin) | |
//! | anything else |        |             | 404        |
//!
//! SCEP, MDM and device-auth routes are added here by the features that bring them.

use hyper::body::Bytes;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{AppState, Body, Listener, text};

/// The largest body a route takes (the configured `max_body_bytes` caps it further): a
/// SCEP PKIMessage carries a CSR and certificates; device-auth requests and the management
/// API carry small JSON; everything else takes no body worth reading.
pub fn body_limit(path: &str) -> usize {
    match path {
        "/scep" | "/cgi-bin/pkiclient.exe" => 256 * 1024,
        // A declaration may be as large as `ddm` takes one (1 MiB).
        p if p.starts_with("/api/v1/ddm/declarations/") => 1024 * 1024 + 4096,
        crate::inventory::api::IMPORT_PATH => 2 * 1024 * 1024,
        // Command results (installed applications, profiles) can be large.
        "/mdm/connect" => 4 << 20,
        "/mdm/checkin" => 1 << 20,
        "/mdm/ota/phase2" => 64 * 1024,
        crate::ade::enroll::PATH => crate::ade::enroll::MAX_BODY,
        p if p.starts_with("/api/") => 64 * 1024,
        p if p.starts_with(crate::scim::BASE) => 1024 * 1024,
        _ => 1024,
    }
}

/// Answer one request whose body has been read.
pub fn route(state: &AppState, listener: Listener, req: Request<Bytes>) -> Response<Body> {
    if let Some(resp) = state.devauth.handle(listener, &req) {
        return resp;
    }
    if let Some(resp) = state.scim.handle(listener, &req) {
        return resp;
    }
    if let Some(resp) = state.inventory.handle(&state.admin, listener, &req) {
        return resp;
    }
    if let Some(resp) = state.ade.handle(&state.admin, listener, &req) {
        return resp;
    }
    if let Some(resp) = state.ddm.handle(&state.admin, listener, &req) {
        return resp;
    }
    if let Some(resp) = crate::mdm::push::handle(state, listener, &req) {
        return resp;
    }
    let path = req.uri().path();
    if path.starts_with(crate::mdm::api::PREFIX) {
        return crate::mdm::api::handle(state, listener, &req);
    }
    match path {
        "/mdm/checkin" => crate::mdm::checkin::checkin(state, listener, &req),
        "/mdm/connect" => crate::mdm::connect::connect(state, listener, &req),
        "/mdm/enroll" => crate::mdm::enroll::enroll(state, listener, &req),
        crate::ade::enroll::PATH => crate::ade::enroll::enroll(state, listener, &req),
        "/mdm/ota" => crate::mdm::enroll::ota_phase1(state, listener, &req),
        "/mdm/ota/phase2" => crate::mdm::enroll::ota_phase2(state, listener, &req),
        "/scep" | "/cgi-bin/pkiclient.exe" => scep(state, req),
        crate::scep::CRL_PATH => match *req.method() {
            Method::GET | Method::HEAD => {
                let (parts, body) = state.scep.crl_response().into_parts();
                Response::from_parts(parts, Body::new(Bytes::from(body)))
            }
            _ => not_allowed("GET, HEAD"),
        },
        "/healthz" => match *req.method() {
            Method::GET | Method::HEAD => text(StatusCode::OK, "ok"),
            _ => not_allowed("GET, HEAD"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// SCEP: the request (body already read) to `scep::Responder` and back.
fn scep(state: &AppState, req: Request<Bytes>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let resp = state
        .scep
        .handle(&Request::from_parts(parts, body.to_vec()));
    let (parts, body) = resp.into_parts();
    Response::from_parts(parts, Body::new(Bytes::from(body)))
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}
