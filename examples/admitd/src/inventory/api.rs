//! The inventory's admin API (HTTPS, admin bearer token; see [`crate::admin`]).

use ::inventory::{Approval, Assurance, Collection, InstanceId, Owner, Source};
use hyper::body::Bytes;
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::store::{self, Column};
use super::{Error, Outcome, Record, Service};
use crate::admin::{self, error};
use crate::records::rfc3339;
use crate::server::{Body, Listener};

/// Most rows one bulk import takes; more is 413 and nothing is imported.
pub const MAX_IMPORT_ROWS: usize = 10_000;
/// The bulk import path.
pub const IMPORT_PATH: &str = "/api/v1/inventory/import";
const COLLECTIONS: &str = "/api/v1/collections/";
const DASHBOARD: &str = "/api/v1/inventory/dashboard";

/// A device as the API shows it.
pub fn device_json(r: &Record) -> Value {
    let d = &r.device;
    json!({
        "instance_id": d.instance_id.as_str(),
        "kind": d.instance_id.kind(),
        "owner": d.owner.as_ref().map(Owner::as_str),
        "collection": d.collection.as_str(),
        "source": d.source.as_str(),
        "approval": d.approval.as_str(),
        "assurance": d.assurance.as_str(),
        "attested_at": r.attested_at.map(rfc3339),
        "created_at": rfc3339(r.created_at),
        "updated_at": rfc3339(r.updated_at),
    })
}

fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Rule(::inventory::Error::SourceDisabled { .. }) => StatusCode::FORBIDDEN,
        Error::Rule(::inventory::Error::InstanceMismatch { .. }) => StatusCode::FORBIDDEN,
        Error::Rule(_) => StatusCode::BAD_REQUEST,
        Error::OtherCollection { .. } => StatusCode::CONFLICT,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn fail(e: &Error) -> Response<Body> {
    let status = status_of(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "inventory request failed");
        return error(status, "internal error");
    }
    error(status, &e.to_string())
}

impl Service {
    /// Answer an inventory admin request, or `None` when the path is not the inventory's.
    pub fn handle(
        &self,
        admin: &crate::admin::Admin,
        listener: Listener,
        req: &Request<Bytes>,
    ) -> Option<Response<Body>> {
        let path = req.uri().path();
        if path == super::tpm::CHALLENGE_PATH || path == super::tpm::VERIFY_PATH {
            return Some(self.tpm_route(listener, req));
        }
        if !(path.starts_with(COLLECTIONS) || path == IMPORT_PATH || path == DASHBOARD) {
            return None;
        }
        if let Err(resp) = admin.authorize(listener, req) {
            return Some(resp);
        }
        Some(self.handle_admin(req))
    }

    fn handle_admin(&self, req: &Request<Bytes>) -> Response<Body> {
        let path = req.uri().path();
        match (req.method(), path) {
            (&Method::GET, DASHBOARD) => self.dashboard(),
            (&Method::POST, IMPORT_PATH) => self.bulk(req),
            (_, DASHBOARD) | (_, IMPORT_PATH) => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => self.instance(req),
        }
    }

    /// The TPM agent's two steps: HTTPS, no admin token (the TPM's evidence is the proof).
    fn tpm_route(&self, listener: Listener, req: &Request<Bytes>) -> Response<Body> {
        use super::tpm::TpmError;
        if listener != Listener::Https {
            return error(
                StatusCode::FORBIDDEN,
                "attestation is served on the HTTPS listener only",
            );
        }
        if req.method() != Method::POST {
            return error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let body: Value = match admin::body(req) {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        let result = if req.uri().path() == super::tpm::CHALLENGE_PATH {
            self.tpm_challenge(&body)
        } else {
            self.tpm_verify(&body).map(|r| device_json(&r))
        };
        match result {
            Ok(v) => admin::json(StatusCode::OK, &v),
            Err(TpmError::Bad(m)) => error(StatusCode::BAD_REQUEST, &m),
            Err(TpmError::NotFound(m)) => error(StatusCode::NOT_FOUND, &m),
            Err(TpmError::Refused(m)) => error(StatusCode::FORBIDDEN, &m),
            Err(TpmError::Db(e)) => fail(&Error::Db(e)),
        }
    }

    /// `/api/v1/collections/{slug}/instances/{id}[/approve]`.
    fn instance(&self, req: &Request<Bytes>) -> Response<Body> {
        let rest = &req.uri().path()[COLLECTIONS.len()..];
        let parts: Vec<&str> = rest.split('/').collect();
        let (slug, id, action) = match parts.as_slice() {
            [slug, "instances", id] => (*slug, *id, None),
            [slug, "instances", id, action] => (*slug, *id, Some(*action)),
            _ => return error(StatusCode::NOT_FOUND, "no such inventory path"),
        };
        let collection = match Collection::parse(slug) {
            Ok(c) => c,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let Ok(raw) = percent_decode_str(id).decode_utf8() else {
            return error(
                StatusCode::BAD_REQUEST,
                "the instance ID is not UTF-8 once decoded",
            );
        };
        let id = match InstanceId::parse(&raw) {
            Ok(id) => id,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        match (req.method(), action) {
            (&Method::PUT, None) => self.put(req, &collection, &id),
            (&Method::GET, None) => match self.device(&id) {
                Ok(Some(r)) if r.device.collection == collection => {
                    admin::json(StatusCode::OK, &device_json(&r))
                }
                Ok(_) => error(StatusCode::NOT_FOUND, &format!("no device {id} in {slug}")),
                Err(e) => fail(&Error::Db(e)),
            },
            (&Method::POST, Some("approve")) => match self.device(&id) {
                Ok(Some(r)) if r.device.collection == collection => match self.approve(&id) {
                    Ok(r) => admin::json(StatusCode::OK, &device_json(&r)),
                    Err(e) => fail(&e),
                },
                Ok(_) => error(StatusCode::NOT_FOUND, &format!("no device {id} in {slug}")),
                Err(e) => fail(&Error::Db(e)),
            },
            (_, Some("approve")) | (_, None) => {
                error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
            }
            _ => error(StatusCode::NOT_FOUND, "no such inventory path"),
        }
    }

    fn owner_from_data(
        &self,
        data: &serde_json::Map<String, Value>,
    ) -> Result<Option<Owner>, String> {
        let key = format!("{}:identity", self.settings.org);
        if let Some(k) = data.keys().find(|k| **k != key) {
            return Err(format!("unknown data key {k:?}; the owner goes in {key:?}"));
        }
        match data.get(&key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Owner::parse(s).map(Some).map_err(|e| e.to_string()),
            Some(_) => Err(format!("{key:?} must be a string (an email address)")),
        }
    }

    fn put(
        &self,
        req: &Request<Bytes>,
        collection: &Collection,
        id: &InstanceId,
    ) -> Response<Body> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Put {
            #[serde(default)]
            data: serde_json::Map<String, Value>,
        }
        let body: Put = match admin::body(req) {
            Ok(b) => b,
            Err(resp) => return resp,
        };
        let owner = match self.owner_from_data(&body.data) {
            Ok(o) => o,
            Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
        };
        match self.import(collection, id, owner) {
            Ok((r, Outcome::Created)) => admin::json(StatusCode::CREATED, &device_json(&r)),
            Ok((r, Outcome::Updated)) => admin::json(StatusCode::OK, &device_json(&r)),
            Err(e) => fail(&e),
        }
    }

    fn dashboard(&self) -> Response<Body> {
        let read = || -> Result<Value, crate::records::DbError> {
            let count = |c| -> Result<Value, crate::records::DbError> {
                Ok(Value::Object(
                    store::counts(&self.db, c)?
                        .into_iter()
                        .map(|(k, n)| (k, json!(n)))
                        .collect(),
                ))
            };
            let mut by_approval = count(Column::Approval)?;
            let mut by_source = count(Column::Source)?;
            let mut by_assurance = count(Column::Assurance)?;
            // Every state appears, with zero when no device has it.
            for (map, names) in [
                (
                    &mut by_approval,
                    Approval::ALL.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                ),
                (
                    &mut by_source,
                    Source::ALL.iter().map(|a| a.as_str()).collect(),
                ),
                (
                    &mut by_assurance,
                    Assurance::ALL.iter().map(|a| a.as_str()).collect(),
                ),
            ] {
                if let Value::Object(m) = map {
                    for n in names {
                        m.entry(n).or_insert(json!(0));
                    }
                }
            }
            let total: i64 = by_approval
                .as_object()
                .map_or(0, |m| m.values().filter_map(Value::as_i64).sum());
            let recent: Vec<Value> = store::recent(&self.db, 20)?
                .iter()
                .map(device_json)
                .collect();
            Ok(json!({
                "total": total,
                "by_approval": by_approval,
                "by_source": by_source,
                "by_assurance": by_assurance,
                "recent": recent,
            }))
        };
        match read() {
            Ok(v) => admin::json(StatusCode::OK, &v),
            Err(e) => fail(&Error::Db(e)),
        }
    }

    fn bulk(&self, req: &Request<Bytes>) -> Response<Body> {
        let default_collection = req
            .uri()
            .query()
            .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("collection=")))
            .map(|c| percent_decode_str(c).decode_utf8_lossy().into_owned());
        let default_collection = match default_collection.as_deref().map(Collection::parse) {
            None => Collection::default(),
            Some(Ok(c)) => c,
            Some(Err(e)) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        };
        let ct = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        let rows = match ct.as_str() {
            "text/csv" => parse_csv(req.body()),
            "application/json" => parse_json(req.body()),
            _ => {
                return error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "send the rows as text/csv or application/json",
                );
            }
        };
        let rows = match rows {
            Ok(r) => r,
            Err(msg) => return error(StatusCode::BAD_REQUEST, &msg),
        };
        if rows.len() > MAX_IMPORT_ROWS {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("at most {MAX_IMPORT_ROWS} rows per import; nothing was imported"),
            );
        }
        let mut seen = std::collections::HashSet::new();
        let (mut created, mut updated, mut rejected) = (0u64, 0u64, 0u64);
        let mut report = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let result = self.import_row(row, &default_collection, &mut seen);
            let line = match &result {
                Ok((r, o)) => {
                    match o {
                        Outcome::Created => created += 1,
                        Outcome::Updated => updated += 1,
                    }
                    json!({
                        "row": i + 1,
                        "instance_id": r.device.instance_id.as_str(),
                        "result": if *o == Outcome::Created { "created" } else { "updated" },
                    })
                }
                Err(reason) => {
                    rejected += 1;
                    json!({"row": i + 1, "instance_id": row.instance_id, "result": "rejected", "reason": reason})
                }
            };
            report.push(line);
        }
        admin::json(
            StatusCode::OK,
            &json!({"created": created, "updated": updated, "rejected": rejected, "rows": report}),
        )
    }

    fn import_row(
        &self,
        row: &Row,
        default_collection: &Collection,
        seen: &mut std::collections::HashSet<InstanceId>,
    ) -> Result<(Record, Outcome), String> {
        let id = InstanceId::parse(&row.instance_id).map_err(|e| e.to_string())?;
        let collection = match &row.collection {
            Some(c) if !c.is_empty() => Collection::parse(c).map_err(|e| e.to_string())?,
            _ => default_collection.clone(),
        };
        let owner = match &row.identity {
            Some(o) if !o.is_empty() => Some(Owner::parse(o).map_err(|e| e.to_string())?),
            _ => None,
        };
        if !seen.insert(id.clone()) {
            return Err(format!("duplicate instance ID {id} in this import"));
        }
        self.import(&collection, &id, owner).map_err(|e| match e {
            Error::Db(db) => {
                tracing::error!(error = %db, "inventory import row failed");
                "internal error".to_owned()
            }
            e => e.to_string(),
        })
    }
}

/// One row of a bulk import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The instance ID as given.
    pub instance_id: String,
    /// The owner's email.
    #[serde(default)]
    pub identity: Option<String>,
    /// The collection (default: the request's `collection` or `default`).
    #[serde(default)]
    pub collection: Option<String>,
}

fn parse_json(body: &[u8]) -> Result<Vec<Row>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Import {
        devices: Vec<Row>,
    }
    serde_json::from_slice::<Import>(body)
        .map(|i| i.devices)
        .map_err(|e| format!("bad JSON body (want {{\"devices\": [{{\"instance_id\", \"identity\", \"collection\"}}]}}): {e}"))
}

/// CSV (RFC 4180): a header naming `instance_id` and optionally `identity` and `collection`,
/// then one device per line. Quoted fields may hold commas and doubled quotes.
fn parse_csv(body: &[u8]) -> Result<Vec<Row>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the CSV is not UTF-8".to_owned())?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = csv_fields(lines.next().ok_or("the CSV is empty")?)?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
    };
    let id_col = col("instance_id").ok_or("the CSV header has no instance_id column")?;
    let (owner_col, coll_col) = (col("identity"), col("collection"));
    if let Some(h) = header.iter().find(|h| {
        !["instance_id", "identity", "collection"].contains(&h.trim().to_ascii_lowercase().as_str())
    }) {
        return Err(format!("unknown CSV column {h:?}"));
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        if n >= MAX_IMPORT_ROWS {
            // One more than the cap is enough to refuse the import.
            rows.push(Row {
                instance_id: String::new(),
                identity: None,
                collection: None,
            });
            break;
        }
        let f = csv_fields(line)?;
        let get = |i: Option<usize>| i.and_then(|i| f.get(i)).map(|s| s.trim().to_owned());
        rows.push(Row {
            instance_id: get(Some(id_col)).unwrap_or_default(),
            identity: get(owner_col),
            collection: get(coll_col),
        });
    }
    Ok(rows)
}

fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (false, '"') if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (false, ',') => out.push(std::mem::take(&mut cur)),
            (_, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(format!("unterminated quote in CSV line {line:?}"));
    }
    out.push(cur);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows() {
        let rows = parse_csv(
            b"instance_id,identity\nC02XK1ABJG5J,ada@example.com\n\"urn:ek:sha256:a+b/c=\",\"x, \"\"y\"\"\"\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].instance_id, "urn:ek:sha256:a+b/c=");
        assert_eq!(rows[1].identity.as_deref(), Some("x, \"y\""));
        assert!(parse_csv(b"serial\nX\n").is_err());
        assert!(parse_csv(b"instance_id,colour\nX,red\n").is_err());
        assert!(parse_csv(b"instance_id\n\"open\n").is_err());
    }
}
