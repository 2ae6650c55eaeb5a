//! Webhook events in the MicroMDM/NanoMDM JSON format, for every check-in and report.
//!
//! ```text
//! {"topic": "mdm.<MessageType>" | "mdm.Connect",
//!  "event_id": "...", "created_at": "<RFC 3339>",
//!  "checkin_event" | "acknowledge_event": {
//!     "udid" | "enrollment_id", "ids": {"id", "type", "parent_id"?},
//!     "status"?, "command_uuid"?,            (acknowledge_event)
//!     "raw_payload": base64(body), "url_params"?, "token_update_tally"? }}
//! ```
//!
//! The event ID and creation time are arguments (this crate reads no clock and draws no
//! randomness).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value as Json, json};

use crate::checkin::{Channel, CheckIn, CheckInRequest};
use crate::command::Report;

/// What the caller supplies for one event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EventContext {
    /// `event_id`.
    pub event_id: String,
    /// `created_at` (RFC 3339).
    pub created_at: String,
    /// `url_params`: the query parameters of the device's request, when the caller keeps them.
    pub url_params: Option<BTreeMap<String, String>>,
    /// `token_update_tally`: how many TokenUpdates this enrollment has sent (TokenUpdate only).
    pub token_update_tally: Option<u64>,
}

/// NanoMDM's name for an enrollment type.
pub fn enrollment_type(channel: &Channel) -> &'static str {
    match channel {
        Channel::Device { .. } => "Device",
        Channel::User { .. } => "User",
        Channel::UserEnrollmentDevice { .. } => "User Enrollment (Device)",
        Channel::UserEnrollmentUser { .. } => "User Enrollment",
        Channel::SharedIpadUser { .. } => "Shared iPad",
    }
}

fn ids(channel: &Channel) -> Json {
    let mut m = Map::new();
    m.insert("id".into(), Json::String(channel.id()));
    m.insert("type".into(), Json::String(enrollment_type(channel).into()));
    if channel.is_user() {
        m.insert(
            "parent_id".into(),
            Json::String(channel.device_id().to_owned()),
        );
    }
    Json::Object(m)
}

fn identity(m: &mut Map<String, Json>, channel: Option<&Channel>) {
    match channel {
        Some(
            c @ (Channel::Device { udid }
            | Channel::User { udid, .. }
            | Channel::SharedIpadUser { udid, .. }),
        ) => {
            m.insert("udid".into(), Json::String(udid.clone()));
            m.insert("ids".into(), ids(c));
        }
        Some(
            c @ (Channel::UserEnrollmentDevice { enrollment_id }
            | Channel::UserEnrollmentUser { enrollment_id, .. }),
        ) => {
            m.insert("enrollment_id".into(), Json::String(enrollment_id.clone()));
            m.insert("ids".into(), ids(c));
        }
        None => {}
    }
}

fn envelope(topic: String, ctx: &EventContext, key: &str, body: Map<String, Json>) -> Json {
    json!({
        "topic": topic,
        "event_id": ctx.event_id,
        "created_at": ctx.created_at,
        key: Json::Object(body),
    })
}

fn common(m: &mut Map<String, Json>, raw: &[u8], ctx: &EventContext) {
    m.insert(
        "raw_payload".into(),
        Json::String(base64::engine::general_purpose::STANDARD.encode(raw)),
    );
    if let Some(p) = &ctx.url_params {
        m.insert(
            "url_params".into(),
            Json::Object(
                p.iter()
                    .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                    .collect(),
            ),
        );
    }
}

/// The event for a check-in (`topic` `mdm.<MessageType>`).
pub fn checkin_event(req: &CheckInRequest, ctx: &EventContext) -> Json {
    let mut m = Map::new();
    identity(&mut m, req.channel.as_ref());
    common(&mut m, req.raw(), ctx);
    if let (CheckIn::TokenUpdate(_), Some(t)) = (&req.message, ctx.token_update_tally) {
        m.insert("token_update_tally".into(), Json::from(t));
    }
    envelope(
        format!("mdm.{}", req.message.message_type()),
        ctx,
        "checkin_event",
        m,
    )
}

/// The event for a command report (`topic` `mdm.Connect`).
pub fn report_event(report: &Report, ctx: &EventContext) -> Json {
    let mut m = Map::new();
    identity(&mut m, Some(&report.channel));
    m.insert("status".into(), Json::String(report.status.as_str().into()));
    if let Some(u) = &report.command_uuid {
        m.insert("command_uuid".into(), Json::String(u.clone()));
    }
    common(&mut m, report.raw(), ctx);
    envelope("mdm.Connect".into(), ctx, "acknowledge_event", m)
}
