//! `PUT /mdm/connect`: command reports in, the next command out.
//!
//! ```text
//! body ──▶ Report::parse ──(400)──▶ identity ──(401)──▶ the channel's queue (store)
//!      ──▶ mdm_proto::queue::decide ──▶ webhook event committed
//!      ──▶ queue changes + raw result + facts committed ──▶ next command (or empty 200)
//!      ──▶ result hooks (inventory, ...)
//! ```
//!
//! The queue rules (Idle, Acknowledged, Error, CommandFormatError, NotNow) are
//! `mdm_proto::queue`'s; this module stores what they decide. A report for a command the
//! queue does not hold changes nothing and is answered like any other.

use std::time::SystemTime;

use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use mdm_proto::command::{Report, Status};
use mdm_proto::plist;
use mdm_proto::queue::{Change, Queue};
use mdm_proto::webhook::EventContext;
use serde_json::{Map, Value as Json};

use super::checkin::{authorize, identify, internal, plain, transport};
use super::store::{Applied, Facts, State, unix};
use super::{CommandResult, inspect::to_json};
use crate::server::{AppState, Body, Listener};

/// Commands whose results are kept as the device's inventory facts.
pub const FACT_COMMANDS: &[&str] = &[
    "DeviceInformation",
    "SecurityInfo",
    "ProfileList",
    "CertificateList",
    "InstalledApplicationList",
    "ProvisioningProfileList",
];

/// The envelope keys of a report, which are not part of a result.
const ENVELOPE: &[&str] = &[
    "Status",
    "CommandUUID",
    "UDID",
    "UserID",
    "UserShortName",
    "UserLongName",
    "EnrollmentID",
    "EnrollmentUserID",
    "ErrorChain",
    "RequestType",
    "NotOnConsole",
];

/// The facts an Acknowledged result of `request_type` adds to the device's record.
pub fn facts(request_type: &str, report: &Report) -> Option<Facts> {
    if report.status != Status::Acknowledged || !FACT_COMMANDS.contains(&request_type) {
        return None;
    }
    let mut result = Map::new();
    if let plist::Value::Dictionary(d) = report.to_plist() {
        for (k, v) in d.iter().filter(|(k, _)| !ENVELOPE.contains(&k.as_str())) {
            result.insert(k.clone(), to_json(v));
        }
    }
    let mut f = Facts {
        merge: Map::new(),
        serial_number: None,
        model: None,
        os_version: None,
        device_name: None,
    };
    if request_type == "DeviceInformation"
        && let Some(Json::Object(q)) = result.get("QueryResponses")
    {
        let s = |k: &str| q.get(k).and_then(Json::as_str).map(str::to_owned);
        f.serial_number = s("SerialNumber");
        f.model = s("ModelName")
            .or_else(|| s("Model"))
            .or_else(|| s("ProductName"));
        f.os_version = s("OSVersion");
        f.device_name = s("DeviceName");
    }
    f.merge
        .insert(request_type.to_owned(), Json::Object(result));
    Some(f)
}

/// `PUT /mdm/connect`.
pub fn connect(state: &AppState, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
    if let Err(r) = transport(listener, req) {
        return r;
    }
    let mdm = &state.mdm;
    let report = match Report::parse(req.body(), &mdm.limits) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "bad command report");
            return plain(
                StatusCode::BAD_REQUEST,
                format!("bad command report: {e}\n"),
            );
        }
    };
    let who = match identify(state, req) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let channel = report.channel.clone();
    let channel_id = channel.id();
    if let Err(r) = authorize(state, &who, channel.device_id()) {
        return r;
    }
    let store = mdm.store();
    if channel.is_user() {
        match store.enrollment(&channel_id) {
            Ok(Some(e)) if e.state != State::CheckedOut => {}
            Ok(_) => {
                return plain(
                    StatusCode::UNAUTHORIZED,
                    "no enrollment for this user channel; send TokenUpdate first\n",
                );
            }
            Err(e) => return internal("reading an enrollment", &e),
        }
    }
    let queue = match store.queue(&channel_id) {
        Ok(items) => Queue { items },
        Err(e) => return internal("reading a command queue", &e),
    };
    let decision = match queue.decide_report(report) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(error = %e, channel = %channel_id, "command result does not decode");
            return plain(
                StatusCode::BAD_REQUEST,
                format!("bad command result: {e}\n"),
            );
        }
    };
    if mdm.hooks().events.is_some() {
        let ctx = EventContext {
            event_id: {
                let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
                mdm_proto::command::new_uuid(&mut rng)
            },
            created_at: plist::Date::from(SystemTime::now()).to_xml_format(),
            url_params: None,
            token_update_tally: None,
        };
        let event = mdm_proto::webhook::report_event(&decision.report, &ctx);
        if let Err(e) = mdm.record_event(&event) {
            return internal("recording a webhook event", &e);
        }
    }
    let finished = decision.changes.iter().find_map(|c| match c {
        Change::Finish { command_uuid, .. } => queue
            .items
            .iter()
            .find(|q| &q.command_uuid == command_uuid)
            .map(|q| (q.command_uuid.clone(), q.request_type.clone())),
        _ => None,
    });
    let facts = finished
        .as_ref()
        .and_then(|(_, rt)| facts(rt, &decision.report));
    let applied = Applied {
        channel_id: &channel_id,
        changes: &decision.changes,
        raw: decision.report.raw(),
        facts,
    };
    if let Err(e) = store.apply(&applied, unix(SystemTime::now())) {
        return internal("storing a command report", &e);
    }
    if let Some((uuid, rt)) = &finished {
        for hook in &mdm.hooks().results {
            hook.on_result(CommandResult {
                channel_id: &channel_id,
                command_uuid: uuid,
                request_type: rt,
                status: decision.report.status.as_str(),
                raw: decision.report.raw(),
            });
        }
    }
    match decision.next.as_deref().and_then(|u| queue.body(u)) {
        None => Response::new(Body::new(Bytes::new())),
        Some(body) => {
            let mut r = Response::new(Body::new(Bytes::copy_from_slice(body)));
            r.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(mdm_proto::command::CONTENT_TYPE),
            );
            r
        }
    }
}
