//! `admitd inspect` on Apple MDM plists (XML or binary): check-ins, command reports, commands,
//! configuration profiles and MachineInfo, each decoded through `mdm-proto`'s typed reader (so
//! a message `mdm-proto` refuses is reported as refused, with its reason) and printed as JSON.
//!
//! ```text
//! { "mdmCheckIn": { "messageType", "channel": { "id", "deviceId", "user" }, "fields" } }
//! { "mdmReport":  { "status", "commandUUID", "requestType", "channel", "errorChain", "fields" } }
//! { "mdmCommand": { "requestType", "commandUUID", "fields" } }
//! { "profile":    { "payloadTypes", "fields" } }
//! { "machineInfo": { "fields" } }
//! ```
//!
//! `fields` is every key of the message as decoded (typed, then re-encoded), so unknown keys
//! appear too. A DeclarativeManagement check-in also gets `ddm`: its endpoint and its `Data`
//! typed by [`crate::ddm::inspect`]. Data values are lowercase hex, dates RFC 3339 in UTC.

use mdm_proto::plist::Value as Plist;
use mdm_proto::{Limits, ToPlist};
use serde_json::{Map, Value, json};

use crate::inspect::Error;

/// Whether `input` looks like a plist (binary, or XML after optional whitespace).
fn is_plist(input: &[u8]) -> bool {
    if input.starts_with(b"bplist00") {
        return true;
    }
    let start = input
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(input.len());
    let head = &input[start..];
    head.starts_with(b"<?xml")
        || head.starts_with(b"<!DOCTYPE plist")
        || head.starts_with(b"<plist")
}

/// A plist value as JSON: dictionaries as objects, data as hex, dates as RFC 3339.
pub fn to_json(v: &Plist) -> Value {
    match v {
        Plist::Dictionary(d) => Value::Object(
            d.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<String, Value>>(),
        ),
        Plist::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Plist::Boolean(b) => json!(b),
        Plist::Data(d) => json!(hex::encode(d)),
        Plist::Date(d) => json!(d.to_xml_format()),
        Plist::Real(r) => json!(r),
        Plist::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(s), _) => json!(s),
            (None, Some(u)) => json!(u),
            _ => Value::Null,
        },
        Plist::String(s) => json!(s),
        Plist::Uid(u) => json!({ "uid": u.get() }),
        _ => Value::Null,
    }
}

fn channel(c: &mdm_proto::checkin::Channel) -> Value {
    json!({ "id": c.id(), "deviceId": c.device_id(), "user": c.is_user() })
}

fn refused(what: &'static str, e: mdm_proto::Error) -> Error {
    Error::Malformed {
        what,
        reason: e.to_string(),
    }
}

/// Describe `input` if it is an MDM plist; `None` if it is not a plist at all.
pub fn recognise(input: &[u8]) -> Option<Result<Value, Error>> {
    if !is_plist(input) {
        return None;
    }
    Some(describe(input))
}

fn describe(input: &[u8]) -> Result<Value, Error> {
    let limits = Limits::default();
    let value = mdm_proto::value::parse(input, &limits).map_err(|e| refused("plist", e))?;
    let Plist::Dictionary(d) = &value else {
        return Err(Error::Unrecognised(
            "a plist that is not a dictionary".into(),
        ));
    };
    let has = |k: &str| d.contains_key(k);
    if has("MessageType") {
        let m = mdm_proto::checkin::CheckInRequest::parse(input, &limits)
            .map_err(|e| refused("MDM check-in", e))?;
        let mut out = json!({ "mdmCheckIn": {
            "messageType": m.message.message_type(),
            "channel": m.channel.as_ref().map(channel),
            "fields": to_json(&m.message.to_plist()),
        }});
        // A DeclarativeManagement check-in: its endpoint and its Data, typed by `ddm`.
        if let (mdm_proto::checkin::CheckIn::DeclarativeManagement(dm), Value::Object(o)) =
            (&m.message, &mut out["mdmCheckIn"])
        {
            o.insert("ddm".into(), crate::ddm::inspect::check_in(dm));
        }
        return Ok(out);
    }
    if has("Status") && (has("UDID") || has("EnrollmentID") || has("CommandUUID")) {
        let mut r = mdm_proto::command::Report::parse(input, &limits)
            .map_err(|e| refused("MDM command report", e))?;
        let fields = to_json(&r.to_plist());
        // With a RequestType (as NanoMDM's stored reports carry), type the result.
        let typed = match r.request_type.clone() {
            Some(rt) => match r.type_result(&rt) {
                Ok(t) => json!(t.is_some()),
                Err(e) => return Err(refused("MDM command result", e)),
            },
            None => Value::Null,
        };
        return Ok(json!({ "mdmReport": {
            "status": r.status.as_str(),
            "commandUUID": r.command_uuid,
            "requestType": r.request_type,
            "typedResult": typed,
            "channel": channel(&r.channel),
            "errorChain": r.error_chain.as_ref().map(|c| c.len()),
            "fields": fields,
        }}));
    }
    if has("Command") && has("CommandUUID") {
        let c = mdm_proto::command::Command::parse(input, &limits)
            .map_err(|e| refused("MDM command", e))?;
        return Ok(json!({ "mdmCommand": {
            "requestType": c.request_type(),
            "commandUUID": c.command_uuid,
            "fields": to_json(&c.to_plist()),
        }}));
    }
    if has("PayloadContent")
        || d.get("PayloadType").and_then(Plist::as_string) == Some("Configuration")
    {
        let p = mdm_proto::profile::Profile::parse(input, &limits)
            .map_err(|e| refused("configuration profile", e))?;
        let plist = p.to_plist();
        let types: Vec<Value> = match plist
            .as_dictionary()
            .and_then(|d| d.get("PayloadContent"))
            .and_then(Plist::as_array)
        {
            Some(items) => items
                .iter()
                .filter_map(|i| i.as_dictionary()?.get("PayloadType")?.as_string())
                .map(|t| json!(t))
                .collect(),
            None => Vec::new(),
        };
        return Ok(json!({ "profile": { "payloadTypes": types, "fields": to_json(&plist) } }));
    }
    if has("UDID") && (has("SERIAL") || has("PRODUCT")) {
        return Ok(json!({ "machineInfo": { "fields": to_json(&value) } }));
    }
    Err(Error::Unrecognised(
        "a plist that is no MDM check-in, report, command, profile or MachineInfo".into(),
    ))
}
