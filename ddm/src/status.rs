//! Status reports: the `status` endpoint's body, typed item by item, raw kept.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::declaration::Kind;
use crate::error::{Error, Result};
use crate::generated::protocol::status_report::Errors;
use crate::generated::status::StatusValue;
use crate::generated::status::management_declarations::Declaration as DeclarationStatus;
use crate::json::{self, Limits};
use crate::value::FromJson;

/// The status item that carries the declarations' state.
pub const DECLARATIONS_ITEM: &str = "management.declarations";

/// A status report as the device sent it.
///
/// ```text
/// {
///   StatusItems  <dictionary>  required   nested by item path: {"device": {"model": {"family": …}}}
///   Errors       <array>       required   [{StatusItem, Reasons: [{Code, Description, Details}]}]
///   FullReport   <boolean>     optional   true: the full state, not an increment
/// }
/// ```
/// Schema: `declarative/protocol/statusreport.yaml`; items: `declarative/status/*.yaml`.
///
/// Reports are incremental: an item the report does not carry is unchanged, and a report
/// without `management.declarations` says nothing about declarations.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    raw: Raw,
    items: Vec<(String, StatusValue)>,
    invalid: Vec<InvalidItem>,
    unknown: BTreeMap<String, Value>,
    declarations: Option<DeclarationsStatus>,
    errors: Vec<Errors>,
    full_report: Option<bool>,
}

/// The report as sent: its bytes, read into a JSON object on first use (the typed view is
/// built by taking a parse of them apart, so it does not hold one too), or the object itself
/// when the caller parsed it ([`StatusReport::from_object`]).
#[derive(Clone)]
struct Raw {
    bytes: Box<[u8]>,
    object: OnceLock<Map<String, Value>>,
}

impl Raw {
    fn object(&self) -> &Map<String, Value> {
        // The bytes parsed as an object once already, within stricter limits (depth) than
        // serde_json's own; the empty fallback is never reached.
        self.object
            .get_or_init(|| serde_json::from_slice(&self.bytes).unwrap_or_default())
    }
}

impl PartialEq for Raw {
    fn eq(&self, other: &Raw) -> bool {
        self.object() == other.object()
    }
}

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.object().fmt(f)
    }
}

/// A status item the schema knows whose value does not have the schema's shape. It is kept
/// (raw) so nothing is lost, and reported here so an operator can see it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidItem {
    /// Item path (`device.model.family`), or `management.declarations/<array>/<index>`.
    pub path: String,
    /// What did not match.
    pub message: String,
}

/// `management.declarations` as reported: per kind, `None` when the report leaves the array
/// out (nothing said), `Some` (possibly empty) when it carries it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeclarationsStatus {
    /// `activations`.
    pub activations: Option<Vec<DeclarationStatus>>,
    /// `assets`.
    pub assets: Option<Vec<DeclarationStatus>>,
    /// `configurations`.
    pub configurations: Option<Vec<DeclarationStatus>>,
    /// `management`.
    pub management: Option<Vec<DeclarationStatus>>,
}

impl DeclarationsStatus {
    /// The array for `kind`.
    pub fn of(&self, kind: Kind) -> Option<&[DeclarationStatus]> {
        match kind {
            Kind::Activation => self.activations.as_deref(),
            Kind::Asset => self.assets.as_deref(),
            Kind::Configuration => self.configurations.as_deref(),
            Kind::Management => self.management.as_deref(),
        }
    }

    /// Every reported declaration with its kind.
    pub fn iter(&self) -> impl Iterator<Item = (Kind, &DeclarationStatus)> {
        Kind::ALL
            .into_iter()
            .flat_map(move |k| self.of(k).unwrap_or_default().iter().map(move |d| (k, d)))
    }
}

/// The status item paths of the schema, and every proper prefix of them (`device`,
/// `device.model`), the nodes a report nests items under.
fn schema_paths() -> &'static (HashSet<&'static str>, HashSet<&'static str>) {
    static PATHS: OnceLock<(HashSet<&'static str>, HashSet<&'static str>)> = OnceLock::new();
    PATHS.get_or_init(|| {
        let items: HashSet<&'static str> = crate::generated::status::ALL
            .iter()
            .map(|e| e.name)
            .filter(|n| *n != "status-reason")
            .collect();
        let prefixes = items
            .iter()
            .flat_map(|n| n.match_indices('.').map(|(i, _)| &n[..i]))
            .collect();
        (items, prefixes)
    })
}

/// Call `f(path, value, known)` for every status item below `obj`: the schema's items (`known`)
/// and, for anything else, the largest subtree that is not on the way to a known item.
fn walk<'a>(
    obj: &'a Map<String, Value>,
    path: &mut String,
    f: &mut impl FnMut(&str, &'a Value, bool),
) {
    let (items, prefixes) = schema_paths();
    for (k, v) in obj {
        let len = path.len();
        if len > 0 {
            path.push('.');
        }
        path.push_str(k);
        if items.contains(path.as_str()) {
            f(path, v, true);
        } else if let (Value::Object(m), true) = (v, prefixes.contains(path.as_str())) {
            walk(m, path, f);
        } else {
            f(path, v, false);
        }
        path.truncate(len);
    }
}

impl StatusReport {
    /// Parse a status report (the JSON inside the `status` check-in's `Data`).
    ///
    /// One pass of the JSON parser (the depth cap counted as it goes), then the parsed value
    /// is taken apart into the typed view; the bytes are kept as the raw report.
    ///
    /// # Errors
    /// Not JSON, not an object, over `limits`, `StatusItems` missing or not an object,
    /// `Errors` not an array of error objects. Items whose value does not match the schema do
    /// not fail the report: they are listed in [`StatusReport::invalid`].
    pub fn parse(bytes: &[u8], limits: &Limits) -> Result<StatusReport> {
        let object = json::parse_object(bytes, "status report", limits.max_bytes, limits)?;
        StatusReport::typed(
            object,
            Raw {
                bytes: bytes.into(),
                object: OnceLock::new(),
            },
        )
    }

    /// [`StatusReport::parse`] from an already parsed JSON object.
    ///
    /// # Errors
    /// As [`StatusReport::parse`], except the caps.
    pub fn from_object(raw: Map<String, Value>) -> Result<StatusReport> {
        StatusReport::typed(
            raw.clone(),
            Raw {
                bytes: Box::default(),
                object: OnceLock::from(raw),
            },
        )
    }

    /// The typed view of `object`, taken apart; `raw` is what the report keeps as sent.
    fn typed(mut object: Map<String, Value>, raw: Raw) -> Result<StatusReport> {
        let items_obj = match object.remove("StatusItems") {
            Some(Value::Object(m)) => m,
            Some(other) => {
                return Err(Error::WrongType {
                    path: "/StatusItems".into(),
                    expected: "object",
                    found: json::type_name(&other),
                });
            }
            None => {
                return Err(Error::MissingKey {
                    path: "/StatusItems".into(),
                });
            }
        };
        let errors = match object.remove("Errors") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => Vec::<Errors>::from_json_owned(v).map_err(|e| Error::Schema {
                path: "/Errors".into(),
                message: e.to_string(),
            })?,
        };
        let full_report = object.get("FullReport").and_then(Value::as_bool);
        let mut r = StatusReport {
            raw,
            items: Vec::new(),
            invalid: Vec::new(),
            unknown: BTreeMap::new(),
            declarations: None,
            errors,
            full_report,
        };
        r.walk(items_obj, &mut String::new());
        Ok(r)
    }

    /// Sort every value below `obj` as [`walk`] does, taking the values apart into the
    /// typed items, the declarations and the unknown items.
    fn walk(&mut self, obj: Map<String, Value>, path: &mut String) {
        let (items, prefixes) = schema_paths();
        for (k, v) in obj {
            let len = path.len();
            if len > 0 {
                path.push('.');
            }
            path.push_str(&k);
            if items.contains(path.as_str()) {
                self.known_item(path, v);
            } else {
                match v {
                    Value::Object(m) if prefixes.contains(path.as_str()) => self.walk(m, path),
                    v => {
                        self.unknown.insert(path.clone(), v);
                    }
                }
            }
            path.truncate(len);
        }
    }

    /// A status item the schema knows, at `path`.
    fn known_item(&mut self, path: &str, v: Value) {
        if path == DECLARATIONS_ITEM {
            // Read leniently (an incremental report may leave arrays out), element by
            // element, into its one home: `declarations()`.
            self.declarations = Some(self.declarations_status(v));
            return;
        }
        match StatusValue::decode_owned(path, v) {
            Ok(Some(t)) => self.items.push((path.to_owned(), t)),
            Ok(None) => {}
            Err(e) => self.invalid.push(InvalidItem {
                path: path.to_owned(),
                message: e.to_string(),
            }),
        }
    }

    fn declarations_status(&mut self, v: Value) -> DeclarationsStatus {
        let mut out = DeclarationsStatus::default();
        let mut m = match v {
            Value::Object(m) => m,
            v => {
                self.invalid.push(InvalidItem {
                    path: DECLARATIONS_ITEM.into(),
                    message: format!("expected object, found {}", json::type_name(&v)),
                });
                return out;
            }
        };
        for (key, slot) in [
            ("activations", &mut out.activations),
            ("assets", &mut out.assets),
            ("configurations", &mut out.configurations),
            ("management", &mut out.management),
        ] {
            let Some(arr) = m.remove(key) else { continue };
            let arr = match arr {
                Value::Array(arr) => arr,
                arr => {
                    self.invalid.push(InvalidItem {
                        path: format!("{DECLARATIONS_ITEM}/{key}"),
                        message: format!("expected array, found {}", json::type_name(&arr)),
                    });
                    continue;
                }
            };
            let mut list = Vec::with_capacity(arr.len());
            for (i, d) in arr.into_iter().enumerate() {
                match DeclarationStatus::from_json_owned(d) {
                    Ok(d) => list.push(d),
                    Err(e) => self.invalid.push(InvalidItem {
                        path: format!("{DECLARATIONS_ITEM}/{key}/{i}"),
                        message: e.to_string(),
                    }),
                }
            }
            *slot = Some(list);
        }
        out
    }

    /// Typed status items, by path, in report order; `management.declarations` is read into
    /// [`StatusReport::declarations`] instead.
    pub fn items(&self) -> &[(String, StatusValue)] {
        &self.items
    }

    /// The typed value of the item at `path`.
    pub fn item(&self, path: &str) -> Option<&StatusValue> {
        self.items.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    /// Known items whose value does not match the schema (kept raw in [`StatusReport::values`]).
    pub fn invalid(&self) -> &[InvalidItem] {
        &self.invalid
    }

    /// Values at paths the schema does not list, kept as sent.
    pub fn unknown(&self) -> &BTreeMap<String, Value> {
        &self.unknown
    }

    /// Every value the report carries, by item path, raw (known, invalid and unknown alike).
    pub fn values(&self) -> Vec<(String, &Value)> {
        let mut out = Vec::new();
        if let Some(Value::Object(items)) = self.raw().get("StatusItems") {
            walk(items, &mut String::new(), &mut |path, v, _| {
                out.push((path.to_owned(), v));
            });
        }
        out
    }

    /// `management.declarations`, `None` when the report does not carry it.
    pub fn declarations(&self) -> Option<&DeclarationsStatus> {
        self.declarations.as_ref()
    }

    /// `Errors`: status items the device could not report.
    pub fn errors(&self) -> &[Errors] {
        &self.errors
    }

    /// `FullReport`.
    pub fn full_report(&self) -> Option<bool> {
        self.full_report
    }

    /// The report as sent. After [`StatusReport::parse`] the kept bytes are read into this
    /// object on the first call (one more JSON parse), not during the parse.
    pub fn raw(&self) -> &Map<String, Value> {
        self.raw.object()
    }

    /// A typed JSON view: items by path (typed values re-serialized), unknown items, invalid
    /// items and errors. What `admitd inspect` prints.
    pub fn to_typed_json(&self) -> Value {
        let mut items: Map<String, Value> = self
            .items
            .iter()
            .map(|(p, v)| (p.clone(), v.to_json()))
            .collect();
        if let Some(ds) = &self.declarations {
            let mut m = Map::new();
            for kind in Kind::ALL {
                if let Some(list) = ds.of(kind) {
                    m.insert(
                        kind.items_key().to_ascii_lowercase(),
                        serde_json::to_value(list).unwrap_or(Value::Null),
                    );
                }
            }
            items.insert(DECLARATIONS_ITEM.into(), Value::Object(m));
        }
        let invalid: Vec<Value> = self
            .invalid
            .iter()
            .map(|i| serde_json::json!({"path": i.path, "message": i.message}))
            .collect();
        serde_json::json!({
            "items": items,
            "unknown": self.unknown,
            "invalid": invalid,
            "errors": serde_json::to_value(&self.errors).unwrap_or(Value::Null),
            "full_report": self.full_report,
        })
    }
}
