//! Routing: path and method to handler.
//!
//! | path       | methods   | listeners   | answer     |
//! |------------|-----------|-------------|------------|
//! | `/healthz` | GET, HEAD | both        | 200 `ok`   |
//! | anything else |        |             | 404        |
//!
//! SCEP, MDM and device-auth routes are added here by the features that bring them.

use hyper::body::Bytes;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{AppState, Body, Listener, text};

/// Answer one request whose body has been read.
pub fn route(_state: &AppState, _listener: Listener, req: Request<Bytes>) -> Response<Body> {
    match req.uri().path() {
        "/healthz" => match *req.method() {
            Method::GET | Method::HEAD => text(StatusCode::OK, "ok"),
            _ => not_allowed("GET, HEAD"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
    resp.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    resp
}
