//! HTTP shapes: the device endpoint's answers and the management API's requests and responses,
//! as `http::Request<Vec<u8>>` in and `http::Response<Vec<u8>>` out. The server wires storage
//! and routing; every status code and body comes from here.
//!
//! ```text
//! POST   /api/devices/v1/authentication/auth_requests      → 200 application/jwt | 400 | 401
//! base /api/management/v2/devauth:
//! GET    /devices?status=&id=&page=&per_page=               → 200 [Device] + Link
//! POST   /devices/search  {"status"?, "id"?: [..]}          → 200 [Device] + Link
//! GET    /devices/{id}                                      → 200 Device | 404
//! POST   /devices  {identity_data, pubkey, force}           → 201 Location | 409 Device
//! DELETE /devices/{id}                                      → 204 | 404  (decommission)
//! PUT    /devices/{id}/auth/{aid}/status {"status"}         → 204 | 400 | 404 | 422
//! GET    /devices/{id}/auth/{aid}/status                    → 200 {"status"} | 404
//! DELETE /devices/{id}/auth/{aid}                           → 204 | 404
//! GET    /devices/count?status=                             → 200 {"count"}
//! DELETE /tokens/{jti}                                      → 204
//! GET    /limits/max_devices                                → 200 {"limit"}
//! ```

use http::{Method, Response, StatusCode, header};
use serde_json::json;

use crate::admission::Preauthorized;
use crate::gojson::{self, Value};
use crate::identity::Identity;
use crate::model::{AuthSetId, AuthSetStatus, DeviceId, DeviceRecord, DeviceStatus, rfc3339};
use crate::pubkey::DevicePublicKey;
use crate::{Error, Result};

/// The management API's base path.
pub const MANAGEMENT_BASE: &str = "/api/management/v2/devauth";

/// Largest management request body accepted.
pub const MAX_MANAGEMENT_BODY: usize = 64 * 1024;

/// Default and largest page sizes.
pub const DEFAULT_PER_PAGE: u64 = 20;
/// The largest `per_page` accepted.
pub const MAX_PER_PAGE: u64 = 500;

pub(crate) fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Vec<u8>> {
    let mut r = Response::new(body.to_string().into_bytes());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn empty(status: StatusCode) -> Response<Vec<u8>> {
    let mut r = Response::new(Vec::new());
    *r.status_mut() = status;
    r
}

/// The device endpoint's answer: 200 with `Content-Type: application/jwt` and the token as the
/// body, or the error body with 400/401.
pub fn auth_response(result: &Result<String>, request_id: &str) -> Response<Vec<u8>> {
    match result {
        Ok(token) => {
            let mut r = Response::new(token.clone().into_bytes());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/jwt"),
            );
            r
        }
        Err(e) => e.to_response(request_id),
    }
}

/// Device JSON: `{id, identity_data, status, decommissioning, created_ts, updated_ts,
/// auth_sets: [{id, identity_data, pubkey, ts, status}]}`.
pub fn device_json(rec: &DeviceRecord) -> serde_json::Value {
    let sets: Vec<_> = rec
        .auth_sets
        .iter()
        .map(|s| {
            json!({
                "id": s.id.to_string(),
                "identity_data": s.identity.to_json(),
                "pubkey": s.pubkey.pem(),
                "ts": rfc3339(s.ts),
                "status": s.status.as_str(),
            })
        })
        .collect();
    json!({
        "id": rec.device.id.to_string(),
        "identity_data": rec.device.identity.to_json(),
        "status": rec.status().as_str(),
        "decommissioning": rec.device.decommissioning,
        "created_ts": rfc3339(rec.device.created_ts),
        "updated_ts": rfc3339(rec.device.updated_ts),
        "auth_sets": sets,
    })
}

/// 200 with one device.
pub fn device_response(rec: &DeviceRecord) -> Response<Vec<u8>> {
    json_response(StatusCode::OK, &device_json(rec))
}

/// A device listing query (`GET /devices` or `POST /devices/search`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceQuery {
    /// Only devices with this status.
    pub status: Option<DeviceStatus>,
    /// Only these devices (empty: any).
    pub ids: Vec<DeviceId>,
    /// Page number, from 1.
    pub page: u64,
    /// Page size.
    pub per_page: u64,
}

impl Default for DeviceQuery {
    fn default() -> Self {
        Self {
            status: None,
            ids: Vec::new(),
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl DeviceQuery {
    fn matches(&self, rec: &DeviceRecord) -> bool {
        self.status.is_none_or(|s| rec.status() == s)
            && (self.ids.is_empty() || self.ids.contains(&rec.device.id))
    }

    /// This query's page of `all` (in the store's order), and whether a next page exists.
    pub fn select<'r>(&self, all: &'r [DeviceRecord]) -> (Vec<&'r DeviceRecord>, bool) {
        let skip = (self.page.saturating_sub(1)).saturating_mul(self.per_page);
        let mut it = all
            .iter()
            .filter(|r| self.matches(r))
            .skip(usize::try_from(skip).unwrap_or(usize::MAX));
        let page: Vec<_> = it
            .by_ref()
            .take(usize::try_from(self.per_page).unwrap_or(usize::MAX))
            .collect();
        let more = it.next().is_some();
        (page, more)
    }

    /// 200 with the page as a JSON array and a `Link` header (`first`, `prev`, `next`).
    pub fn response(&self, page: &[&DeviceRecord], has_next: bool) -> Response<Vec<u8>> {
        let body: Vec<_> = page.iter().map(|r| device_json(r)).collect();
        let mut r = json_response(StatusCode::OK, &serde_json::Value::Array(body));
        let base = format!("{MANAGEMENT_BASE}/devices");
        let mut extra = String::new();
        if let Some(s) = self.status {
            extra.push_str("&status=");
            extra.push_str(s.as_str());
        }
        for id in &self.ids {
            extra.push_str(&format!("&id={id}"));
        }
        let link = |page: u64, rel: &str| {
            format!(
                "<{base}?page={page}&per_page={}{extra}>; rel=\"{rel}\"",
                self.per_page
            )
        };
        let mut links = vec![link(1, "first")];
        if self.page > 1 {
            links.push(link(self.page - 1, "prev"));
        }
        if has_next {
            links.push(link(self.page + 1, "next"));
        }
        if let Ok(v) = header::HeaderValue::from_str(&links.join(", ")) {
            r.headers_mut().insert(header::LINK, v);
        }
        r
    }
}

/// `POST /devices`: preauthorize a device.
#[derive(Debug, Clone)]
pub struct PreauthRequest {
    /// The identity (from `identity_data`, a JSON object).
    pub identity: Identity,
    /// The key (from `pubkey`, PKIX PEM).
    pub pubkey: DevicePublicKey,
    /// Add (or replace) the preauthorized set of an existing device.
    pub force: bool,
}

/// The preauthorization's answer: 201 with `Location`, or 409 with the conflicting device (pass
/// the snapshot's record), or the error.
pub fn preauthorize_response(
    result: &Result<Preauthorized>,
    existing: Option<&DeviceRecord>,
    request_id: &str,
) -> Response<Vec<u8>> {
    match (result, existing) {
        (Ok(p), _) => {
            let mut r = empty(StatusCode::CREATED);
            let loc = format!("{MANAGEMENT_BASE}/devices/{}", p.device_id);
            if let Ok(v) = header::HeaderValue::from_str(&loc) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        (Err(Error::Conflict { .. }), Some(rec)) => {
            json_response(StatusCode::CONFLICT, &device_json(rec))
        }
        (Err(e), _) => e.to_response(request_id),
    }
}

/// A parsed management request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ManagementRequest {
    /// `GET /devices`.
    ListDevices(DeviceQuery),
    /// `POST /devices/search`.
    SearchDevices(DeviceQuery),
    /// `GET /devices/{id}`.
    GetDevice(DeviceId),
    /// `POST /devices`.
    Preauthorize(PreauthRequest),
    /// `DELETE /devices/{id}`.
    Decommission(DeviceId),
    /// `PUT /devices/{id}/auth/{aid}/status`.
    SetStatus {
        /// The device.
        device: DeviceId,
        /// The auth set.
        auth_set: AuthSetId,
        /// The requested status.
        status: AuthSetStatus,
    },
    /// `GET /devices/{id}/auth/{aid}/status`.
    GetStatus {
        /// The device.
        device: DeviceId,
        /// The auth set.
        auth_set: AuthSetId,
    },
    /// `DELETE /devices/{id}/auth/{aid}`.
    DeleteAuthSet {
        /// The device.
        device: DeviceId,
        /// The auth set.
        auth_set: AuthSetId,
    },
    /// `GET /devices/count?status=`.
    Count(Option<DeviceStatus>),
    /// `DELETE /tokens/{jti}`.
    RevokeToken(String),
    /// `GET /limits/max_devices`.
    MaxDevices,
}

/// Decode one `application/x-www-form-urlencoded` component (`+` is a space).
fn percent_decode(s: &str) -> Result<String> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| Error::InvalidParameter {
            what: "query string",
            value: s.into(),
        })
}

fn query_pairs(q: Option<&str>) -> Result<Vec<(String, String)>> {
    let mut v = Vec::new();
    for part in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, val) = part.split_once('=').unwrap_or((part, ""));
        v.push((percent_decode(k)?, percent_decode(val)?));
        if v.len() > 1000 {
            return Err(Error::InvalidParameter {
                what: "query string",
                value: "more than 1000 parameters".into(),
            });
        }
    }
    Ok(v)
}

fn parse_status(s: &str) -> Result<DeviceStatus> {
    DeviceStatus::parse(s).ok_or_else(|| Error::InvalidParameter {
        what: "status",
        value: s.into(),
    })
}

fn parse_device_id(s: &str) -> Result<DeviceId> {
    DeviceId::parse(s).ok_or(Error::NotFound("device"))
}

fn parse_number(what: &'static str, s: &str, max: u64) -> Result<u64> {
    s.parse::<u64>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| Error::InvalidParameter {
            what,
            value: s.into(),
        })
}

fn device_query(pairs: &[(String, String)]) -> Result<DeviceQuery> {
    let mut q = DeviceQuery::default();
    for (k, v) in pairs {
        match k.as_str() {
            "status" => q.status = Some(parse_status(v)?),
            "id" => q
                .ids
                .push(DeviceId::parse(v).ok_or_else(|| Error::InvalidParameter {
                    what: "id",
                    value: v.clone(),
                })?),
            "page" => q.page = parse_number("page", v, u64::from(u32::MAX))?,
            "per_page" => q.per_page = parse_number("per_page", v, MAX_PER_PAGE)?,
            _ => {}
        }
    }
    Ok(q)
}

fn body_object(body: &[u8]) -> Result<std::collections::BTreeMap<String, Value>> {
    if body.len() > MAX_MANAGEMENT_BODY {
        return Err(Error::BodyTooLarge {
            len: body.len(),
            limit: MAX_MANAGEMENT_BODY,
        });
    }
    match gojson::parse(body).map_err(|e| Error::MalformedBody(e.0))? {
        Value::Object(m) => Ok(m),
        other => Err(Error::MalformedBody(format!(
            "expected a JSON object, found a JSON {}",
            other.go_kind()
        ))),
    }
}

impl ManagementRequest {
    /// Route and parse a request under [`MANAGEMENT_BASE`]. An unknown path is
    /// [`Error::NotFound`], a known path with another method [`Error::MethodNotAllowed`].
    pub fn parse(req: &http::Request<Vec<u8>>) -> Result<Self> {
        let path = req
            .uri()
            .path()
            .strip_prefix(MANAGEMENT_BASE)
            .ok_or(Error::NotFound("route"))?;
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let pairs = query_pairs(req.uri().query())?;
        let m = req.method();
        let wrong = || Err(Error::MethodNotAllowed);
        match segs.as_slice() {
            ["devices"] => match *m {
                Method::GET => Ok(Self::ListDevices(device_query(&pairs)?)),
                Method::POST => Self::preauth(req.body()),
                _ => wrong(),
            },
            ["devices", "search"] => match *m {
                Method::POST => {
                    let mut q = device_query(&pairs)?;
                    let body = body_object(req.body())?;
                    match body.get("status") {
                        None | Some(Value::Null) => {}
                        Some(Value::String(s)) => q.status = Some(parse_status(s)?),
                        Some(v) => {
                            return Err(Error::WrongType {
                                field: "status",
                                expected: "a string",
                                found: v.go_kind(),
                            });
                        }
                    }
                    match body.get("id") {
                        None | Some(Value::Null) => {}
                        Some(Value::Array(ids)) => {
                            for id in ids {
                                let Value::String(s) = id else {
                                    return Err(Error::WrongType {
                                        field: "id",
                                        expected: "an array of strings",
                                        found: id.go_kind(),
                                    });
                                };
                                q.ids.push(DeviceId::parse(s).ok_or_else(|| {
                                    Error::InvalidParameter {
                                        what: "id",
                                        value: s.clone(),
                                    }
                                })?);
                            }
                        }
                        Some(v) => {
                            return Err(Error::WrongType {
                                field: "id",
                                expected: "an array of strings",
                                found: v.go_kind(),
                            });
                        }
                    }
                    Ok(Self::SearchDevices(q))
                }
                _ => wrong(),
            },
            ["devices", "count"] => match *m {
                Method::GET => {
                    let status = pairs
                        .iter()
                        .find(|(k, _)| k == "status")
                        .map(|(_, v)| parse_status(v))
                        .transpose()?;
                    Ok(Self::Count(status))
                }
                _ => wrong(),
            },
            ["devices", id] => match *m {
                Method::GET => Ok(Self::GetDevice(parse_device_id(id)?)),
                Method::DELETE => Ok(Self::Decommission(parse_device_id(id)?)),
                _ => wrong(),
            },
            ["devices", id, "auth", aid] => {
                let device = parse_device_id(id)?;
                let auth_set = AuthSetId::parse(aid).ok_or(Error::NotFound("auth set"))?;
                match *m {
                    Method::DELETE => Ok(Self::DeleteAuthSet { device, auth_set }),
                    _ => wrong(),
                }
            }
            ["devices", id, "auth", aid, "status"] => {
                let device = parse_device_id(id)?;
                let auth_set = AuthSetId::parse(aid).ok_or(Error::NotFound("auth set"))?;
                match *m {
                    Method::GET => Ok(Self::GetStatus { device, auth_set }),
                    Method::PUT => {
                        let body = body_object(req.body())?;
                        let status = match body.get("status") {
                            Some(Value::String(s)) => match s.as_str() {
                                "accepted" | "rejected" | "pending" => {
                                    AuthSetStatus::parse(s).ok_or(Error::MissingField("status"))?
                                }
                                _ => {
                                    return Err(Error::InvalidParameter {
                                        what: "status",
                                        value: s.clone(),
                                    });
                                }
                            },
                            None | Some(Value::Null) => return Err(Error::MissingField("status")),
                            Some(v) => {
                                return Err(Error::WrongType {
                                    field: "status",
                                    expected: "a string",
                                    found: v.go_kind(),
                                });
                            }
                        };
                        Ok(Self::SetStatus {
                            device,
                            auth_set,
                            status,
                        })
                    }
                    _ => wrong(),
                }
            }
            ["tokens", jti] => match *m {
                Method::DELETE => Ok(Self::RevokeToken((*jti).to_owned())),
                _ => wrong(),
            },
            ["limits", "max_devices"] => match *m {
                Method::GET => Ok(Self::MaxDevices),
                _ => wrong(),
            },
            _ => Err(Error::NotFound("route")),
        }
    }

    fn preauth(body: &[u8]) -> Result<Self> {
        let mut body = body_object(body)?;
        let identity = match body.remove("identity_data") {
            None | Some(Value::Null) => return Err(Error::MissingField("identity_data")),
            Some(v @ Value::Object(_)) => Identity::from_value(v)?,
            Some(v) => {
                return Err(Error::WrongType {
                    field: "identity_data",
                    expected: "a JSON object",
                    found: v.go_kind(),
                });
            }
        };
        let pubkey = match body.get("pubkey") {
            None | Some(Value::Null) => return Err(Error::MissingField("pubkey")),
            Some(Value::String(s)) => DevicePublicKey::from_pem(s)?,
            Some(v) => {
                return Err(Error::WrongType {
                    field: "pubkey",
                    expected: "a PEM string",
                    found: v.go_kind(),
                });
            }
        };
        let force = match body.get("force") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(Error::WrongType {
                    field: "force",
                    expected: "a boolean",
                    found: v.go_kind(),
                });
            }
        };
        Ok(Self::Preauthorize(PreauthRequest {
            identity,
            pubkey,
            force,
        }))
    }
}

/// 204 No Content (status changes, deletions, decommissioning, token revocation).
pub fn no_content() -> Response<Vec<u8>> {
    empty(StatusCode::NO_CONTENT)
}

/// 200 `{"status": "..."}` for an auth set.
pub fn status_response(status: AuthSetStatus) -> Response<Vec<u8>> {
    json_response(StatusCode::OK, &json!({ "status": status.as_str() }))
}

/// 200 `{"count": n}`.
pub fn count_response(count: u64) -> Response<Vec<u8>> {
    json_response(StatusCode::OK, &json!({ "count": count }))
}

/// 200 `{"limit": n}` (0 when there is no limit, as Mender answers).
pub fn limit_response(limit: Option<u64>) -> Response<Vec<u8>> {
    json_response(StatusCode::OK, &json!({ "limit": limit.unwrap_or(0) }))
}

/// The answer for a management decision with no body: 204, or the error.
pub fn unit_response(result: &Result<()>, request_id: &str) -> Response<Vec<u8>> {
    match result {
        Ok(()) => no_content(),
        Err(e) => e.to_response(request_id),
    }
}
