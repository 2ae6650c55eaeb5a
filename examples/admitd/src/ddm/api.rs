//! The DDM admin API, under `/api/v1/ddm` (HTTPS, admin bearer token, JSON).
//!
//! | method | path | body | answer |
//! |---|---|---|---|
//! | GET | `/declarations` | | `{"declarations": [{identifier, type, server_token, sets}]}` |
//! | PUT | `/declarations/{identifier}` | the declaration (`Type`, `Identifier`, `Payload`, …) | `{identifier, type, server_token, channels}` |
//! | GET | `/declarations/{identifier}` | | the declaration as served |
//! | DELETE | `/declarations/{identifier}` | | `{deleted, channels}` (409 while in a set or referred to) |
//! | GET | `/sets` | | `{"sets": [{name, declarations, channels}]}` |
//! | PUT | `/sets/{name}` | `{"declarations": [identifier, …]}` | `{name, declarations, channels}` |
//! | GET | `/sets/{name}` | | `{name, declarations, channels: [channel IDs]}` |
//! | DELETE | `/sets/{name}` | | `{deleted, channels}` |
//! | PUT, DELETE | `/sets/{name}/channels/{channel_id}` | | `{set, channel_id, channels}` |
//! | GET | `/channels/{channel_id}` | | tokens and per-declaration state (`Server::channel_view`) |
//!
//! Path segments are percent-decoded (`%3A` for the `:` of a user channel, `%2F` for a `/`).
//! The `channels` array of a change lists each channel whose DeclarationsToken moved, with the
//! `command_uuid` of the DeclarativeManagement command queued for it, or `command_error`.
//! Errors are `{"error": "..."}`: 400 for a declaration `ddm` refuses (naming the problem),
//! 404 for unknown names, 409 for what is in use, 415 for a body that is not JSON.

use std::time::SystemTime;

use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::change::Op;
use super::{DdmError, Server};
use crate::admin::{self, Admin};
use crate::server::{Body, Listener};

/// Where the DDM admin API lives.
pub const BASE: &str = "/api/v1/ddm";

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SetBody {
    declarations: Vec<String>,
}

/// Decode `%XX` escapes; `None` when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = admin::error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
    r.headers_mut().insert(
        hyper::header::ALLOW,
        hyper::header::HeaderValue::from_static(allow),
    );
    r
}

fn answer(e: &DdmError) -> Response<Body> {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_server_error() {
        tracing::error!(error = %e, "DDM admin request failed");
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return admin::error(status, "internal error (see the server log)");
        }
    }
    admin::error(status, &e.to_string())
}

impl Server {
    /// Answer a request under [`BASE`]; `None` for any other path.
    pub fn handle(
        &self,
        admin: &Admin,
        listener: Listener,
        req: &Request<Bytes>,
    ) -> Option<Response<Body>> {
        let rest = req.uri().path().strip_prefix(BASE)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        if let Err(r) = admin.authorize(listener, req) {
            return Some(r);
        }
        let segs: Option<Vec<String>> = rest.split('/').skip(1).map(percent_decode).collect();
        let Some(segs) = segs else {
            return Some(admin::error(
                StatusCode::BAD_REQUEST,
                "a path segment has a malformed %-escape or is not UTF-8",
            ));
        };
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let m = req.method();
        let resp = match segs.as_slice() {
            ["declarations"] => match *m {
                Method::GET => self.list_declarations(),
                _ => not_allowed("GET"),
            },
            ["declarations", id] => match *m {
                Method::PUT => self.put_declaration(id, req),
                Method::GET => self.get_declaration(id),
                Method::DELETE => self.respond_change(
                    &Op::DeleteDeclaration((*id).to_owned()),
                    |_| json!({"deleted": id}),
                ),
                _ => not_allowed("GET, PUT, DELETE"),
            },
            ["sets"] => match *m {
                Method::GET => self.list_sets(),
                _ => not_allowed("GET"),
            },
            ["sets", name] => match *m {
                Method::PUT => match admin::body::<SetBody>(req) {
                    Ok(b) => self.respond_change(
                        &Op::PutSet {
                            name: (*name).to_owned(),
                            declarations: b.declarations,
                        },
                        |_| json!({"name": name}),
                    ),
                    Err(r) => r,
                },
                Method::GET => self.get_set(name),
                Method::DELETE => self.respond_change(
                    &Op::DeleteSet((*name).to_owned()),
                    |_| json!({"deleted": name}),
                ),
                _ => not_allowed("GET, PUT, DELETE"),
            },
            ["sets", name, "channels", channel] => {
                let (set, channel) = ((*name).to_owned(), (*channel).to_owned());
                let op = match *m {
                    Method::PUT => Op::Assign {
                        set: set.clone(),
                        channel: channel.clone(),
                    },
                    Method::DELETE => Op::Unassign {
                        set: set.clone(),
                        channel: channel.clone(),
                    },
                    _ => return Some(not_allowed("PUT, DELETE")),
                };
                self.respond_change(&op, |_| json!({"set": set, "channel_id": channel}))
            }
            ["channels", channel] => match *m {
                Method::GET => match self.channel_view(channel, SystemTime::now()) {
                    Ok(v) => admin::json(StatusCode::OK, &v),
                    Err(e) => answer(&e),
                },
                _ => not_allowed("GET"),
            },
            _ => admin::error(StatusCode::NOT_FOUND, "no such DDM resource"),
        };
        Some(resp)
    }

    fn respond_change(
        &self,
        op: &Op,
        base: impl FnOnce(&super::Outcome) -> Value,
    ) -> Response<Body> {
        match self.change(op) {
            Ok(outcome) => {
                let mut v = base(&outcome);
                if let Value::Object(o) = &mut v {
                    o.insert("channels".into(), outcome.channels_json());
                }
                admin::json(StatusCode::OK, &v)
            }
            Err(e) => answer(&e),
        }
    }

    fn put_declaration(&self, id: &str, req: &Request<Bytes>) -> Response<Body> {
        // The content type and JSON syntax are checked the way every admin body is.
        if let Err(r) = admin::body::<serde::de::IgnoredAny>(req) {
            return r;
        }
        let d = match ddm::Declaration::parse(req.body(), &ddm::Limits::default()) {
            Ok(d) => d,
            Err(e) => return answer(&DdmError::Invalid(e)),
        };
        if d.identifier() != id {
            return answer(&DdmError::BadRequest(format!(
                "the body's Identifier {:?} is not the one in the path ({id:?})",
                d.identifier()
            )));
        }
        self.respond_change(&Op::PutDeclaration(Box::new(d)), |o| {
            let s = o.stored.as_ref();
            json!({
                "identifier": id,
                "type": s.map(|s| s.declaration_type.clone()),
                "server_token": s.map(|s| s.server_token.clone()),
            })
        })
    }

    fn get_declaration(&self, id: &str) -> Response<Body> {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => return answer(&e),
        };
        match snap.declarations.get(id) {
            Some(d) => {
                let v: Value = serde_json::from_str(&d.body).unwrap_or(Value::Null);
                admin::json(StatusCode::OK, &v)
            }
            None => answer(&DdmError::UnknownDeclaration(id.to_owned())),
        }
    }

    fn list_declarations(&self) -> Response<Body> {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => return answer(&e),
        };
        let list: Vec<Value> = snap
            .declarations
            .values()
            .map(|d| {
                let sets: Vec<&String> = snap
                    .sets
                    .iter()
                    .filter(|(_, s)| s.declarations.contains(&d.identifier))
                    .map(|(n, _)| n)
                    .collect();
                json!({"identifier": d.identifier, "type": d.declaration_type,
                       "server_token": d.server_token, "sets": sets})
            })
            .collect();
        admin::json(StatusCode::OK, &json!({ "declarations": list }))
    }

    fn get_set(&self, name: &str) -> Response<Body> {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => return answer(&e),
        };
        match snap.sets.get(name) {
            Some(s) => admin::json(
                StatusCode::OK,
                &json!({"name": name, "declarations": s.declarations, "channels": s.channels}),
            ),
            None => answer(&DdmError::UnknownSet(name.to_owned())),
        }
    }

    fn list_sets(&self) -> Response<Body> {
        let snap = match self.snapshot() {
            Ok(s) => s,
            Err(e) => return answer(&e),
        };
        let list: Vec<Value> = snap
            .sets
            .iter()
            .map(
                |(n, s)| json!({"name": n, "declarations": s.declarations, "channels": s.channels}),
            )
            .collect();
        admin::json(StatusCode::OK, &json!({ "sets": list }))
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab").as_deref(), Some("a:b"));
        assert_eq!(
            percent_decode("com.example%2Fx").as_deref(),
            Some("com.example/x")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
