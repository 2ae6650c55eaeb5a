//! `admitd inspect` on DDM JSON: declarations, status reports and the protocol bodies
//! (TokensResponse, DeclarationItemsResponse), each decoded through `ddm`'s typed readers (so a
//! body `ddm` refuses is reported as refused, with its reason) and printed as JSON.
//!
//! ```text
//! { "ddmDeclaration": { "type", "kind", "identifier", "serverToken", "serverTokenGiven",
//!                       "contentServerToken", "schema", "availability", "payload" } }
//! { "ddmStatusReport": { "items", "unknown", "invalid", "errors", "full_report" } }
//! { "ddmTokensResponse": { "SyncTokens": { "DeclarationsToken", "Timestamp" } } }
//! { "ddmDeclarationItems": { "Declarations": { "Activations", "Assets", "Configurations",
//!                            "Management" }, "DeclarationsToken" } }
//! ```
//! `payload` is the typed payload re-encoded (`typed: true`) or the raw one for a type the
//! schema lacks (`typed: false`); status items are typed by path, unknown ones kept by path.

use ddm::generated::protocol::{DeclarationItemsResponse, TokensResponse};
use ddm::{Declaration, Limits, StatusReport};
use serde_json::{Map, Value, json};

use crate::inspect::Error;

fn refused(what: &'static str, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        what,
        reason: e.to_string(),
    }
}

/// Describe `input` if it is a DDM JSON body; `None` if it is not JSON with DDM's top-level
/// keys.
pub fn recognise(input: &[u8]) -> Option<Result<Value, Error>> {
    let trimmed = input.trim_ascii();
    if !trimmed.starts_with(b"{") {
        return None;
    }
    let v: Map<String, Value> = serde_json::from_slice(trimmed).ok()?;
    let has = |k: &str| v.contains_key(k);
    let limits = Limits::default();
    if has("Type") && has("Identifier") && has("Payload") {
        return Some(declaration(trimmed, &limits));
    }
    if has("StatusItems") {
        return Some(
            StatusReport::parse(trimmed, &limits)
                .map(|r| json!({ "ddmStatusReport": r.to_typed_json() }))
                .map_err(|e| refused("DDM status report", e)),
        );
    }
    if has("SyncTokens") {
        return Some(
            serde_json::from_slice::<TokensResponse>(trimmed)
                .map(|t| json!({ "ddmTokensResponse": t }))
                .map_err(|e| refused("DDM TokensResponse", e)),
        );
    }
    if has("Declarations") && has("DeclarationsToken") {
        return Some(
            serde_json::from_slice::<DeclarationItemsResponse>(trimmed)
                .map(|t| json!({ "ddmDeclarationItems": t }))
                .map_err(|e| refused("DDM DeclarationItemsResponse", e)),
        );
    }
    None
}

/// The `ddm` part of a DeclarativeManagement check-in: `{ "endpoint", "data" }`, where `data`
/// is the decoded `Data` described as [`recognise`] does (or `{ "error": … }` when `ddm`
/// refuses the check-in or its `Data`).
pub fn check_in(m: &mdm_proto::generated::checkin::DeclarativeManagement) -> Value {
    let endpoint = match ddm::Endpoint::parse(&m.endpoint) {
        Ok(e) => e.as_string(),
        Err(e) => return json!({ "error": e.to_string() }),
    };
    let data = match &m.data {
        None => Value::Null,
        Some(d) => match recognise(&d.0) {
            Some(Ok(v)) => v,
            Some(Err(e)) => json!({ "error": e.to_string() }),
            None => json!({ "error": "Data is not a DDM JSON body" }),
        },
    };
    json!({ "endpoint": endpoint, "data": data })
}

fn declaration(input: &[u8], limits: &Limits) -> Result<Value, Error> {
    let d = Declaration::parse(input, limits).map_err(|e| refused("DDM declaration", e))?;
    let payload = match d.typed() {
        Some(t) => t.to_json(),
        None => Value::Object(d.payload().clone()),
    };
    let schema = d.schema();
    Ok(json!({ "ddmDeclaration": {
        "type": d.declaration_type(),
        "kind": d.kind().as_str(),
        "identifier": d.identifier(),
        "serverToken": d.server_token(),
        "serverTokenGiven": d.token_given(),
        "contentServerToken": ddm::server_token(d.raw()),
        "typed": d.typed().is_some(),
        "schema": schema.map(|s| s.schema_path),
        "availability": schema.map(|s| s.availability),
        "payload": payload,
    }}))
}
