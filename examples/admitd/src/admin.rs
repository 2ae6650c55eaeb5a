//! The admin API's shared parts: the bearer token check and JSON answers.
//!
//! Every admin route (`/api/v1/...`, `/api/management/...`) is served on the HTTPS listener
//! only and needs `Authorization: Bearer <admin token>`; the token is the one in
//! `devauth/admin-token` (or the config's `devauth.admin_token`). Errors are JSON objects
//! `{"error": "..."}` with a message an operator can act on.

use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use zeroize::Zeroizing;

use crate::server::{Body, Listener};

/// The admin token, checked in constant time.
pub struct Admin {
    token: Zeroizing<String>,
}

impl core::fmt::Debug for Admin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Admin(..)")
    }
}

impl Admin {
    /// Check requests against `token`.
    pub fn new(token: &str) -> Self {
        Admin {
            token: Zeroizing::new(token.trim().to_owned()),
        }
    }

    /// `Ok` when the request came over HTTPS with the admin bearer token; otherwise the answer
    /// to send (403 on plain HTTP, 401 with `WWW-Authenticate: Bearer` for a missing or wrong
    /// token).
    #[allow(clippy::result_large_err)]
    pub fn authorize(
        &self,
        listener: Listener,
        req: &Request<Bytes>,
    ) -> Result<(), Response<Body>> {
        if listener != Listener::Https {
            return Err(error(
                StatusCode::FORBIDDEN,
                "the admin API is served on the HTTPS listener only",
            ));
        }
        let ok = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| ct_eq(t.trim().as_bytes(), self.token.as_bytes()));
        if ok {
            return Ok(());
        }
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong admin bearer token",
        );
        r.headers_mut()
            .insert("www-authenticate", HeaderValue::from_static("Bearer"));
        Err(r)
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A JSON answer.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// A JSON error: `{"error": message}`.
pub fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &serde_json::json!({ "error": message }))
}

/// Parse a JSON request body, or the 400/415 answer naming what is wrong.
#[allow(clippy::result_large_err)]
pub fn body<T: serde::de::DeserializeOwned>(req: &Request<Bytes>) -> Result<T, Response<Body>> {
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ));
    }
    serde_json::from_slice(req.body())
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("bad JSON body: {e}")))
}
