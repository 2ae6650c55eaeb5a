//! Declarative device management on the device side: what it holds, how it decides what is
//! active, and the status reports it sends (full first, then incremental).
//!
//! ```text
//! tokens ──DeclarationsToken changed?──▶ declaration-items ──▶ declaration/<kind>/<id> for
//!   each new or changed ServerToken ──▶ Ddm::apply ──▶ activations evaluated against the
//!   device's status (ddm::Predicate on a ddm::StatusSnapshot) ──▶ Ddm::status_report
//! ```

use std::collections::BTreeMap;

use ddm::{Declaration, Kind, StatusSnapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::commands::Model;
use crate::error::{Error, Result};

/// One declaration the device holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Held {
    /// The kind word (`activation`, `configuration`, `asset`, `management`).
    pub kind: String,
    /// `Identifier`.
    pub identifier: String,
    /// `ServerToken`.
    pub server_token: String,
    /// `Type`.
    pub declaration_type: String,
    /// `Payload`.
    pub payload: Map<String, Value>,
}

/// The device's DDM state (kept in the state directory).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ddm {
    /// The last `DeclarationsToken` synced.
    pub token: Option<String>,
    /// Declarations held, by `kind/identifier`.
    pub held: BTreeMap<String, Held>,
    /// The status entry last reported per declaration (`kind/identifier`).
    pub reported: BTreeMap<String, Value>,
    /// Whether a full report went out since enrollment.
    pub full_sent: bool,
}

/// What `declaration-items` listed: (kind word, identifier, server token).
pub type Items = Vec<(String, String, String)>;

fn obj(body: &[u8], endpoint: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Error::malformed(endpoint, "not a JSON object")),
        Err(e) => Err(Error::malformed(endpoint, format!("not JSON: {e}"))),
    }
}

/// The `DeclarationsToken` of a TokensResponse (`{"SyncTokens": {"DeclarationsToken": ..}}`).
pub fn parse_tokens(body: &[u8]) -> Result<String> {
    let m = obj(body, "ddm-tokens")?;
    m.get("SyncTokens")
        .and_then(|s| s.get("DeclarationsToken"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| Error::malformed("ddm-tokens", "no SyncTokens.DeclarationsToken"))
}

/// The declarations a DeclarationItemsResponse lists.
pub fn parse_items(body: &[u8]) -> Result<(Items, Option<String>)> {
    let m = obj(body, "ddm-declaration-items")?;
    let decls = m
        .get("Declarations")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::malformed("ddm-declaration-items", "no Declarations object"))?;
    let mut out = Vec::new();
    for kind in Kind::ALL {
        let Some(list) = decls.get(kind.items_key()) else {
            continue;
        };
        let list = list.as_array().ok_or_else(|| {
            Error::malformed(
                "ddm-declaration-items",
                format!("{} is not an array", kind.items_key()),
            )
        })?;
        for item in list {
            let id = item.get("Identifier").and_then(Value::as_str);
            let token = item.get("ServerToken").and_then(Value::as_str);
            match (id, token) {
                (Some(i), Some(t)) => {
                    out.push((kind.as_str().to_owned(), i.to_owned(), t.to_owned()))
                }
                _ => {
                    return Err(Error::malformed(
                        "ddm-declaration-items",
                        "an item lacks Identifier or ServerToken",
                    ));
                }
            }
        }
    }
    let token = m
        .get("DeclarationsToken")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok((out, token))
}

/// Read one fetched declaration through `ddm`.
pub fn parse_declaration(body: &[u8]) -> Result<Held> {
    let d = Declaration::parse(body, &ddm::Limits::default())
        .map_err(|e| Error::malformed("ddm-declaration", e))?;
    Ok(Held {
        kind: d.kind().as_str().to_owned(),
        identifier: d.identifier().to_owned(),
        server_token: d.server_token().to_owned(),
        declaration_type: d.declaration_type().to_owned(),
        payload: d.payload().clone(),
    })
}

/// The status values of a device, by item path, for predicates and reports.
pub fn snapshot(model: &Model) -> StatusSnapshot {
    let mut s = StatusSnapshot::new();
    let family = if model.model_name.starts_with("iPad") {
        "iPadOS"
    } else {
        "iOS"
    };
    for (k, v) in [
        ("device.identifier.serial-number", model.serial.as_str()),
        ("device.identifier.udid", model.udid.as_str()),
        ("device.model.family", model.model_name.as_str()),
        ("device.model.identifier", model.product_name.as_str()),
        ("device.model.marketing-name", model.device_name.as_str()),
        ("device.operating-system.family", family),
        ("device.operating-system.version", model.os_version.as_str()),
        (
            "device.operating-system.build-version",
            model.build_version.as_str(),
        ),
    ] {
        s.set(k, Value::String(v.to_owned()));
    }
    s
}

impl Ddm {
    /// Which held declarations must be fetched (new or changed ServerToken), dropping the ones
    /// no longer listed.
    pub fn plan(&mut self, items: &Items) -> Vec<(String, String)> {
        let listed: Vec<String> = items.iter().map(|(k, i, _)| format!("{k}/{i}")).collect();
        self.held.retain(|key, _| listed.contains(key));
        items
            .iter()
            .filter(|(k, i, t)| {
                self.held
                    .get(&format!("{k}/{i}"))
                    .is_none_or(|h| h.server_token != *t)
            })
            .map(|(k, i, _)| (k.clone(), i.clone()))
            .collect()
    }

    /// Hold a fetched declaration.
    pub fn hold(&mut self, d: Held) {
        self.held.insert(format!("{}/{}", d.kind, d.identifier), d);
    }

    /// Each held declaration's status entry under `snapshot`: activations active when their
    /// predicate holds (or they have none); configurations active when an active activation
    /// names them; assets and management always active; unknown types invalid.
    pub fn statuses(&self, snapshot: &StatusSnapshot) -> BTreeMap<String, Value> {
        let mut referenced: Vec<String> = Vec::new();
        let mut out = BTreeMap::new();
        for (key, h) in &self.held {
            if h.kind != "activation" {
                continue;
            }
            let (active, reason) = match h.payload.get("Predicate").and_then(Value::as_str) {
                None => (true, None),
                Some(p) => match ddm::predicate::parse(p) {
                    Ok(pred) if pred.evaluate(snapshot) => (true, None),
                    Ok(_) => (
                        false,
                        Some(("Info.ActivationPredicateFailed", "The predicate is false.")),
                    ),
                    Err(_) => (
                        false,
                        Some(("Error.InvalidPredicate", "The predicate cannot be parsed.")),
                    ),
                },
            };
            if active
                && let Some(list) = h
                    .payload
                    .get("StandardConfigurations")
                    .and_then(Value::as_array)
            {
                referenced.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            out.insert(key.clone(), entry(h, active, reason));
        }
        for (key, h) in &self.held {
            if h.kind == "activation" {
                continue;
            }
            let known = ddm::schema_entry(&h.declaration_type).is_some();
            let e = if !known {
                let mut e = entry(
                    h,
                    false,
                    Some((
                        ddm::reconcile::UNKNOWN_TYPE_CODE,
                        "Unknown declaration type.",
                    )),
                );
                e["valid"] = json!("invalid");
                e
            } else if h.kind == "configuration" && !referenced.contains(&h.identifier) {
                entry(
                    h,
                    false,
                    Some((
                        "Info.NotReferencedByActivation",
                        "No active activation references it.",
                    )),
                )
            } else {
                entry(h, true, None)
            };
            out.insert(key.clone(), e);
        }
        out
    }

    /// The next status report: full (device items and every declaration) the first time,
    /// then only the declarations whose status changed; `None` when nothing changed.
    pub fn status_report(&mut self, model: &Model) -> Option<Value> {
        let snap = snapshot(model);
        let now = self.statuses(&snap);
        let full = !self.full_sent;
        let changed = now != self.reported;
        if !full && !changed {
            return None;
        }
        let mut lists: Map<String, Value> = Map::new();
        for kind in Kind::ALL {
            let name = kind.items_key().to_ascii_lowercase();
            let entries: Vec<Value> = now
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{}/", kind.as_str())))
                .map(|(_, v)| v.clone())
                .collect();
            lists.insert(name, Value::Array(entries));
        }
        let mut items = json!({ "management": { "declarations": lists } });
        if full {
            items["device"] = json!({
                "identifier": {
                    "serial-number": model.serial,
                    "udid": model.udid,
                },
                "model": {
                    "family": model.model_name,
                    "identifier": model.product_name,
                    "marketing-name": model.device_name,
                },
                "operating-system": {
                    "family": snap.get("device.operating-system.family").cloned().unwrap_or(Value::Null),
                    "version": model.os_version,
                    "build-version": model.build_version,
                },
            });
        }
        self.reported = now;
        self.full_sent = true;
        Some(json!({ "StatusItems": items, "Errors": [], "FullReport": full }))
    }
}

fn entry(h: &Held, active: bool, reason: Option<(&str, &str)>) -> Value {
    let mut e = json!({
        "identifier": h.identifier,
        "server-token": h.server_token,
        "active": active,
        "valid": "valid",
    });
    if let Some((code, description)) = reason {
        e["reasons"] = json!([{ "code": code, "description": description }]);
    }
    e
}
