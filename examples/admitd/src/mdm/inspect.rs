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
//! Signed forms (CMS SignedData over a profile, MachineInfo or OTA phase-2 attributes) are read
//! by [`recognise_signed`], which also checks the signature and, given roots, the signer's
//! path.
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

/// What `admitd inspect` checks signed MDM material against: trust anchors from `--root`
/// (none: the signature is checked against the signer's own certificate, and trust is reported
/// as not established).
#[derive(Debug, Clone, Default)]
pub struct SignedOptions {
    /// Trust anchors (Apple's device CA for MachineInfo and OTA phase 2; your profile
    /// signer's root for profiles).
    pub roots: Vec<pki::cert::Cert>,
}

/// The three signed MDM forms, told apart by the plist inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignedKind {
    /// A signed `.mobileconfig`.
    Profile,
    /// MachineInfo (`x-apple-aspen-deviceinfo`).
    MachineInfo,
    /// OTA enrollment phase 2 device attributes.
    OtaPhase2,
}

/// Describe `input` if it is CMS SignedData (DER or BER, or base64 of it, as the
/// `x-apple-aspen-deviceinfo` header carries it) over an MDM plist: a signed profile,
/// MachineInfo or OTA phase-2 device attributes. `None` if it is not SignedData over a plist.
///
/// ```text
/// { "signedProfile": { "signature", "payloadTypes", "fields" } }
/// { "machineInfo":   { "signature", "fields" } }
/// { "otaPhase2":     { "signature", "challenge", "fields" } }
/// (each beside "signedData", the CMS structure as `admitd inspect` prints it for any CMS)
/// "signature": { "signer", "signerIssuer", "verifies", "error"?, "trust": {
///                  "established", "anchor"?, "path"?, "reason"? } }
/// ```
///
/// The signature is checked with the signer certificate the message carries; trust (a path
/// from the signer to one of `options.roots`, validated now) is established only with roots.
/// The plist is decoded and printed whether or not the signature verifies, with `verifies`
/// saying which.
pub fn recognise_signed(input: &[u8], options: &SignedOptions) -> Option<Result<Value, Error>> {
    use base64::Engine as _;
    let limits = Limits::default();
    let ber = pki::ber::Limits::default();
    let (der, from_header) = match pki::cms::SignedData::from_ber(input, &ber) {
        Ok(_) => (input.to_vec(), false),
        Err(_) => {
            let text = std::str::from_utf8(input).ok()?;
            let compact: String = text.split_ascii_whitespace().collect();
            if compact.is_empty() {
                return None;
            }
            let der = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()?;
            pki::cms::SignedData::from_ber(&der, &ber).ok()?;
            (der, true)
        }
    };
    let sd = pki::cms::SignedData::from_ber(&der, &ber).ok()?;
    let content = sd.content()?.to_vec();
    let plist = mdm_proto::value::parse(&content, &limits).ok()?;
    let d = plist.as_dictionary()?;
    let kind = if d.contains_key("PayloadContent")
        || d.get("PayloadType").and_then(Plist::as_string) == Some("Configuration")
    {
        SignedKind::Profile
    } else if d.contains_key("CHALLENGE") {
        SignedKind::OtaPhase2
    } else if d.contains_key("UDID") && (from_header || d.contains_key("LANGUAGE")) {
        SignedKind::MachineInfo
    } else if d.contains_key("UDID") {
        SignedKind::OtaPhase2
    } else {
        return None;
    };
    Some(describe_signed(&der, &content, kind, options))
}

fn describe_signed(
    der: &[u8],
    content: &[u8],
    kind: SignedKind,
    options: &SignedOptions,
) -> Result<Value, Error> {
    use mdm_proto::FromPlist;
    let limits = Limits::default();
    let signature = signature(der, options);
    let structure = crate::inspect::content_info(der)
        .ok()
        .and_then(|ci| ci.get("signedData").cloned());
    let plist = mdm_proto::value::parse(content, &limits).map_err(|e| refused("plist", e))?;
    let mut out = match kind {
        SignedKind::Profile => {
            let p = mdm_proto::profile::Profile::parse(content, &limits)
                .map_err(|e| refused("signed configuration profile", e))?;
            let plist = p.to_plist();
            json!({ "signedProfile": {
                "signature": signature,
                "payloadTypes": payload_types(&plist),
                "fields": to_json(&plist),
            }})
        }
        SignedKind::MachineInfo => {
            let mi = mdm_proto::generated::other::MachineInfo::from_plist(plist)
                .map_err(|e| refused("MachineInfo", e))?;
            json!({ "machineInfo": {
                "signature": signature,
                "fields": to_json(&mi.to_plist()),
            }})
        }
        SignedKind::OtaPhase2 => {
            let challenge = plist
                .as_dictionary()
                .and_then(|d| d.get("CHALLENGE"))
                .map(to_json);
            json!({ "otaPhase2": {
                "signature": signature,
                "challenge": challenge,
                "fields": to_json(&plist),
            }})
        }
    };
    if let Some(sd) = structure {
        out["signedData"] = sd;
    }
    Ok(out)
}

/// The payload types of a profile's `PayloadContent`, in order.
fn payload_types(profile: &Plist) -> Vec<Value> {
    match profile
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
    }
}

/// Check the signature (and, with roots, the signer's path) and say what holds.
fn signature(der: &[u8], options: &SignedOptions) -> Value {
    let provider = pki::provider::compiled()[0];
    let policy = pki::verify::Policy::default();
    let (signer, issuer) = signer_names(der);
    let mut out = json!({ "signer": signer, "signerIssuer": issuer });
    match mdm_proto::signed::verify(der, None, provider, &policy, None) {
        Ok(_) => out["verifies"] = json!(true),
        Err(e) => {
            out["verifies"] = json!(false);
            out["error"] = json!(e.to_string());
        }
    }
    out["trust"] = if options.roots.is_empty() {
        json!({
            "established": false,
            "reason": "no --root given: the signer's certificate is not checked against any anchor",
        })
    } else {
        let trust = mdm_proto::signed::Trust {
            anchors: &options.roots,
            now: std::time::SystemTime::now(),
            policy,
        };
        match mdm_proto::signed::verify(der, None, provider, &policy, Some(&trust)) {
            Ok(v) => {
                let chain: Vec<Value> = v
                    .path()
                    .map(|p| {
                        p.chain()
                            .iter()
                            .map(|c| json!(c.subject_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({ "established": true, "anchor": chain.last(), "path": chain })
            }
            Err(e) => json!({ "established": false, "reason": e.to_string() }),
        }
    };
    out
}

/// The subject and issuer of the certificate the (first) signer names, found among the
/// message's certificates; `null`s when it is not there.
fn signer_names(der: &[u8]) -> (Value, Value) {
    use pki::cms::SignerId;
    use pki::der::Encode as _;
    let none = (Value::Null, Value::Null);
    let Ok(sd) = pki::cms::SignedData::from_ber(der, &pki::ber::Limits::default()) else {
        return none;
    };
    let Some(si) = sd.signer_infos().first() else {
        return none;
    };
    let found = sd.certificates().iter().find(|c| {
        let tbs = c.tbs_certificate();
        match si.sid() {
            SignerId::IssuerAndSerialNumber { issuer, serial } => {
                tbs.issuer().to_der().is_ok_and(|d| &d == issuer)
                    && tbs.serial_number().to_der().is_ok_and(|d| &d == serial)
            }
            SignerId::SubjectKeyIdentifier(_) => false,
        }
    });
    match found {
        Some(c) => (
            json!(c.tbs_certificate().subject().to_string()),
            json!(c.tbs_certificate().issuer().to_string()),
        ),
        None => none,
    }
}
