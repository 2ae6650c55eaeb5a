//! The MDM admin API (HTTPS, admin bearer token; see [`crate::admin`]).
//!
//! | method, path                                   | what                                   |
//! |------------------------------------------------|----------------------------------------|
//! | `POST /api/v1/mdm/invites`                     | `{"owner"?, "uses"?, "ttl_s"?}` → invite and URLs |
//! | `GET  /api/v1/mdm/enrollment-profile[?owner=]` | a signed enrollment profile            |
//! | `GET  /api/v1/mdm/devices`                     | `?state=&serial=&owner=&after=&limit=` |
//! | `GET  /api/v1/mdm/devices/{id}`                | one device, its facts and user channels |
//! | `POST /api/v1/mdm/devices/{id}/release`        | check the enrollment out (re-enrollment with a new identity) |
//! | `POST /api/v1/mdm/devices/{id}/attest`         | ask for Managed Device Attestation (fresh nonce); the inventory checks the answer |
//! | `POST /api/v1/mdm/commands`                    | `{"channels": [...], "command": {...}}` or `{"channels", "plist"}` |
//! | `GET  /api/v1/mdm/commands/{uuid}`             | status and result per channel          |

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use mdm_proto::command::{Command, Payload};
use mdm_proto::generated::commands::CommandPayload;
use mdm_proto::plist;
use serde_json::{Value as Json, json};

use super::store::{DeviceFilter, Enrollment, State, Ticket, unix};
use super::{Commands as _, EnqueueError, NewCommand};
use crate::admin::{self, error};
use crate::server::{AppState, Body, Listener};

/// The path prefix.
pub const PREFIX: &str = "/api/v1/mdm/";

/// Most devices one page lists.
pub const MAX_PAGE: u32 = 500;

/// Most channels one command is queued on in one request.
pub const MAX_CHANNELS: usize = 1000;

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// The percent-decoded value of query parameter `name`.
pub(crate) fn query(req: &Request<Bytes>, name: &str) -> Option<String> {
    req.uri().query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| decode(&v.replace('+', " ")))
    })
}

fn internal(e: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %e, "MDM admin API failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; see the server log",
    )
}

/// A device or channel as JSON.
pub fn enrollment_json(e: &Enrollment) -> Json {
    json!({
        "id": e.id,
        "device_id": e.device_id,
        "kind": e.kind,
        "state": e.state.as_str(),
        "serial_number": e.serial_number,
        "model": e.model,
        "os_version": e.os_version,
        "device_name": e.device_name,
        "owner": e.owner,
        "source": e.source,
        "topic": e.topic,
        "push_token": e.has_push_token,
        "token_dead": e.token_dead,
        "token_update_tally": e.token_update_tally,
        "cert_serial": e.cert_serial,
        "created_at": e.created_at,
        "updated_at": e.updated_at,
    })
}

/// Answer an admin request under [`PREFIX`].
pub fn handle(state: &AppState, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
    if let Err(r) = state.admin.authorize(listener, req) {
        return r;
    }
    let rest = &req.uri().path()[PREFIX.len()..];
    let parts: Vec<&str> = rest.split('/').collect();
    match (req.method(), parts.as_slice()) {
        (&Method::POST, ["invites"]) => invite(state, req),
        (&Method::GET, ["enrollment-profile"]) => profile(state, req),
        (&Method::GET, ["devices"]) => devices(state, req),
        (&Method::GET, ["devices", id]) => device(state, &decode(id)),
        (&Method::POST, ["devices", id, "release"]) => release(state, &decode(id)),
        (&Method::POST, ["devices", id, "attest"]) => attest(state, &decode(id)),
        (&Method::POST, ["commands"]) => enqueue(state, req),
        (&Method::GET, ["commands", uuid]) => command(state, &decode(uuid)),
        _ => error(StatusCode::NOT_FOUND, "no such MDM admin endpoint"),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    owner: Option<String>,
    uses: Option<u32>,
    ttl_s: Option<u64>,
}

fn invite(state: &AppState, req: &Request<Bytes>) -> Response<Body> {
    let b: InviteBody = if req.body().is_empty() {
        InviteBody {
            owner: None,
            uses: None,
            ttl_s: None,
        }
    } else {
        match admin::body(req) {
            Ok(b) => b,
            Err(r) => return r,
        }
    };
    let uses = b.uses.unwrap_or(1);
    if uses == 0 || uses > 10_000 {
        return error(StatusCode::BAD_REQUEST, "uses must be between 1 and 10000");
    }
    let ttl = b.ttl_s.unwrap_or(state.mdm.settings().invite_ttl_s);
    if ttl == 0 || ttl > 365 * 24 * 3600 {
        return error(
            StatusCode::BAD_REQUEST,
            "ttl_s must be between 1 and 31536000",
        );
    }
    if let Some(o) = &b.owner
        && (o.is_empty() || o.len() > 320 || !o.contains('@'))
    {
        return error(StatusCode::BAD_REQUEST, "owner must be an email address");
    }
    match state
        .mdm
        .create_invite(b.owner, uses, Duration::from_secs(ttl))
    {
        Ok(i) => admin::json(StatusCode::CREATED, &json!(i)),
        Err(e) => internal(&e),
    }
}

fn profile(state: &AppState, req: &Request<Bytes>) -> Response<Body> {
    let owner = query(req, "owner");
    let ticket = Ticket {
        source: if owner.is_some() {
            "invite-owner"
        } else {
            "admin"
        }
        .into(),
        owner,
        udid: None,
    };
    match state.mdm.enrollment_profile(&state.scep, &ticket) {
        Ok(p) => {
            let mut r = Response::new(Body::new(Bytes::from(p)));
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(super::enroll::PROFILE_CONTENT_TYPE),
            );
            r
        }
        Err(e) => internal(&e),
    }
}

fn devices(state: &AppState, req: &Request<Bytes>) -> Response<Body> {
    let state_filter = match query(req, "state").as_deref() {
        None => None,
        Some("pending") => Some(State::Pending),
        Some("enrolled") => Some(State::Enrolled),
        Some("checked_out") => Some(State::CheckedOut),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "state must be pending, enrolled or checked_out",
            );
        }
    };
    let limit = match query(req, "limit").map(|l| l.parse::<u32>()) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
        Some(_) => return error(StatusCode::BAD_REQUEST, "limit must be between 1 and 500"),
    };
    let f = DeviceFilter {
        state: state_filter,
        serial_number: query(req, "serial"),
        owner: query(req, "owner"),
        after: query(req, "after"),
        limit,
    };
    match state.mdm.store().devices(&f) {
        Ok(list) => {
            let next = (list.len() == limit as usize)
                .then(|| list.last().map(|d| d.id.clone()))
                .flatten();
            admin::json(
                StatusCode::OK,
                &json!({
                    "devices": list.iter().map(enrollment_json).collect::<Vec<_>>(),
                    "next": next,
                }),
            )
        }
        Err(e) => internal(&e),
    }
}

fn device(state: &AppState, id: &str) -> Response<Body> {
    let store = state.mdm.store();
    match store.enrollment(id) {
        Ok(Some(e)) => {
            let users = match store.user_channels(&e.device_id) {
                Ok(u) => u,
                Err(err) => return internal(&err),
            };
            let mut j = enrollment_json(&e);
            j["facts"] = e.facts.clone();
            // The device's ADE record (profile status, assignment), when the sync lists it.
            if let Some(serial) = &e.serial_number {
                match state.ade.status_json(serial) {
                    Ok(ade) => j["ade"] = ade,
                    Err(err) => return internal(&err),
                }
            }
            j["user_channels"] = users.iter().map(enrollment_json).collect();
            admin::json(StatusCode::OK, &j)
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such device"),
        Err(e) => internal(&e),
    }
}

fn release(state: &AppState, id: &str) -> Response<Body> {
    let store = state.mdm.store();
    match store.enrollment(id) {
        Ok(Some(e)) if e.kind == "device" => match store.check_out(id, unix(SystemTime::now())) {
            Ok(()) => {
                tracing::info!(device = id, "enrollment released by an administrator");
                admin::json(StatusCode::OK, &json!({"id": id, "state": "checked_out"}))
            }
            Err(e) => internal(&e),
        },
        Ok(_) => error(StatusCode::NOT_FOUND, "no such device"),
        Err(e) => internal(&e),
    }
}

/// Queue a DeviceInformation query for `DevicePropertiesAttestation` with a fresh nonce; the
/// inventory's result hook verifies the answer against the device's record.
fn attest(state: &AppState, id: &str) -> Response<Body> {
    let device = match state.mdm.store().enrollment(id) {
        Ok(Some(e)) if e.kind == "device" && e.state != State::CheckedOut => e,
        Ok(_) => return error(StatusCode::NOT_FOUND, "no enrolled device with this ID"),
        Err(e) => return internal(&e),
    };
    let Some(serial) = device.serial_number.as_deref() else {
        return error(
            StatusCode::CONFLICT,
            "the device's serial number is not known yet (it comes with Authenticate or DeviceInformation)",
        );
    };
    let serial = match ::inventory::InstanceId::parse(serial) {
        Ok(s) => s,
        Err(e) => {
            return error(
                StatusCode::CONFLICT,
                &format!("the device's serial number is not an instance ID: {e}"),
            );
        }
    };
    match state.apple_attestation.request(&*state.mdm, id, &serial) {
        Ok(uuid) => admin::json(
            StatusCode::CREATED,
            &json!({"command_uuid": uuid, "request_type": "DeviceInformation"}),
        ),
        Err(EnqueueError::UnknownChannel(_)) => {
            error(StatusCode::NOT_FOUND, "no enrolled device with this ID")
        }
        Err(e) => internal(&e),
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    channels: Vec<String>,
    command: Option<serde_json::Map<String, Json>>,
    plist: Option<String>,
}

/// A command from its `RequestType` and the rest of its `Command` dictionary: typed (checked
/// against the schema) when the schema has the type, otherwise raw if `raw_ok`.
fn from_parts(rt: String, cmd: plist::Dictionary, raw_ok: bool) -> Result<Command, String> {
    let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
    match CommandPayload::decode(&rt, plist::Value::Dictionary(cmd.clone()))
        .map_err(|e| format!("command does not fit the {rt} schema: {e}"))?
    {
        Some(p) => Ok(Command::new(p, &mut rng)),
        None if raw_ok => Ok(Command::from_dictionary(rt, cmd, &mut rng)),
        None => Err(format!(
            "unknown RequestType {rt:?}; send commands outside the schema as \"plist\""
        )),
    }
}

/// Build the command from the request: typed JSON (validated against the schema) or a plist.
fn build(b: &CommandBody, limits: &mdm_proto::Limits) -> Result<Command, String> {
    let request_type = |d: &mut plist::Dictionary, what: &str| match d.remove("RequestType") {
        Some(plist::Value::String(s)) => Ok(s),
        _ => Err(format!("{what}.RequestType (a string) is required")),
    };
    match (&b.command, &b.plist) {
        (Some(cmd), None) => {
            let v = super::json::to_plist(&Json::Object(cmd.clone()))?;
            let mut d = v.into_dictionary().ok_or("command must be an object")?;
            let rt = request_type(&mut d, "command")?;
            from_parts(rt, d, false)
        }
        (None, Some(xml)) => match Command::parse(xml.as_bytes(), limits) {
            Ok(c) => Ok(c),
            // A bare Command dictionary without CommandUUID: give it one.
            Err(_) => {
                let v = mdm_proto::value::parse(xml.as_bytes(), limits)
                    .map_err(|e| format!("plist: {e}"))?;
                let mut d = v.into_dictionary().ok_or("plist must be a dictionary")?;
                let mut cmd = match d.remove("Command") {
                    Some(plist::Value::Dictionary(c)) => c,
                    _ => d,
                };
                let rt = request_type(&mut cmd, "plist: Command")?;
                from_parts(rt, cmd, true)
            }
        },
        _ => Err("send exactly one of \"command\" (JSON) and \"plist\"".into()),
    }
}

fn enqueue(state: &AppState, req: &Request<Bytes>) -> Response<Body> {
    let b: CommandBody = match admin::body(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if b.channels.is_empty() || b.channels.len() > MAX_CHANNELS {
        return error(
            StatusCode::BAD_REQUEST,
            "channels must list between 1 and 1000 channel IDs",
        );
    }
    let cmd = match build(&b, &state.mdm.limits) {
        Ok(c) => c,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let new = NewCommand {
        command_uuid: cmd.command_uuid.clone(),
        request_type: cmd.request_type().to_owned(),
        body: cmd.to_xml(),
    };
    let typed = matches!(cmd.payload, Payload::Typed(_));
    match state.mdm.enqueue(&b.channels, &new) {
        Ok(()) => admin::json(
            StatusCode::CREATED,
            &json!({
                "command_uuid": new.command_uuid,
                "request_type": new.request_type,
                "typed": typed,
                "channels": b.channels,
            }),
        ),
        Err(EnqueueError::UnknownChannel(c)) => error(
            StatusCode::NOT_FOUND,
            &format!("no enrolled channel {c:?}; nothing was queued"),
        ),
        Err(EnqueueError::Duplicate(u)) => error(
            StatusCode::CONFLICT,
            &format!("command {u} is already queued; nothing was queued"),
        ),
        Err(EnqueueError::Storage(e)) => internal(&e),
    }
}

fn command(state: &AppState, uuid: &str) -> Response<Body> {
    match state.mdm.store().command(uuid) {
        Ok(Some(c)) => {
            let limits = state.mdm.limits;
            let deliveries: Vec<Json> = c
                .deliveries
                .iter()
                .map(|d| {
                    let result = d.result.as_deref().map(|raw| {
                        match mdm_proto::value::parse(raw, &limits) {
                            Ok(v) => super::inspect::to_json(&v),
                            Err(_) => Json::Null,
                        }
                    });
                    json!({
                        "channel": d.channel_id,
                        "status": d.status,
                        "not_now": d.not_now,
                        "updated_at": d.updated_at,
                        "result": result,
                        "raw": d.result.as_deref().map(|r| base64::engine::general_purpose::STANDARD.encode(r)),
                    })
                })
                .collect();
            admin::json(
                StatusCode::OK,
                &json!({
                    "command_uuid": c.command_uuid,
                    "request_type": c.request_type,
                    "created_at": c.created_at,
                    "deliveries": deliveries,
                }),
            )
        }
        Ok(None) => error(StatusCode::NOT_FOUND, "no such command"),
        Err(e) => internal(&e),
    }
}
