//! Users and groups as JSON: intake (validation against the schema, canonical attribute
//! names), rendering with `attributes`/`excludedAttributes`, filters (RFC 7644 §3.4.2.2) and
//! PATCH (RFC 7644 §3.5.2).
//!
//! Resources stay JSON objects rather than typed structs so attributes no model knows
//! (extensions such as the enterprise User, custom POSIX schemas) are kept as sent. Names are
//! matched case-insensitively and stored in the schema's case. A PATCH is applied to a copy
//! and validated again as a whole before anything is written, so a failing operation leaves
//! the resource as it was.

use scim_v2::filter::{AttrExp, AttrPath, CompValue, CompareOp, Filter, PatchPath, ValFilter};
use serde_json::{Map, Value};

use super::schema::{Attr, Resource};

/// Most PATCH operations in one request.
pub const MAX_OPERATIONS: usize = 1000;
/// Most values of one multi-valued attribute (a group's members).
pub const MAX_VALUES: usize = 10_000;

/// A SCIM error (RFC 7644 §3.12).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimError {
    /// HTTP status.
    pub status: u16,
    /// `scimType`, for 400s that have one.
    pub scim_type: Option<&'static str>,
    /// What was wrong.
    pub detail: String,
}

impl ScimError {
    /// A 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> ScimError {
        ScimError {
            status: 400,
            scim_type: Some(scim_type),
            detail: detail.into(),
        }
    }

    /// Any status without a `scimType`.
    pub fn status(status: u16, detail: impl Into<String>) -> ScimError {
        ScimError {
            status,
            scim_type: None,
            detail: detail.into(),
        }
    }
}

fn get_ci<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).or_else(|| {
        m.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn key_ci(m: &Map<String, Value>, name: &str) -> Option<String> {
    m.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn is_urn(k: &str) -> bool {
    k.len() > 4 && k[..4].eq_ignore_ascii_case("urn:")
}

/// Validate one value against `attr` and return it in canonical form.
fn check_value(attr: &Attr, v: &Value, whole: bool) -> Result<Option<Value>, ScimError> {
    if v.is_null() {
        return Ok(None);
    }
    if attr.multi && whole {
        let items: Vec<Value> = match v {
            Value::Array(a) => a.clone(),
            // Lenient like the field: one value where an array belongs.
            other => vec![other.clone()],
        };
        if items.len() > MAX_VALUES {
            return Err(ScimError::status(
                413,
                format!("{} has more than {MAX_VALUES} values", attr.name),
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for i in &items {
            if let Some(c) = check_value(attr, i, false)? {
                out.push(c);
            }
        }
        return Ok((!out.is_empty()).then_some(Value::Array(out)));
    }
    let wrong = || {
        ScimError::bad(
            "invalidValue",
            format!("{} must be of type {}", attr.name, attr.ty),
        )
    };
    Ok(Some(match attr.ty.as_str() {
        "boolean" => match v {
            Value::Bool(_) => v.clone(),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            _ => return Err(wrong()),
        },
        "integer" => match v {
            Value::Number(n) if n.is_i64() => v.clone(),
            _ => return Err(wrong()),
        },
        "decimal" => match v {
            Value::Number(_) => v.clone(),
            _ => return Err(wrong()),
        },
        "complex" => {
            let Value::Object(o) = v else {
                return Err(wrong());
            };
            let mut out = Map::new();
            for (k, sv) in o {
                match attr.sub_attr(k) {
                    Some(sa) if sa.read_only() => {}
                    Some(sa) => {
                        if let Some(c) = check_value(sa, sv, true)? {
                            out.insert(sa.name.clone(), c);
                        }
                    }
                    // Sub-attributes the schema does not list (Okta's members.display) are
                    // kept as sent.
                    None => {
                        if !sv.is_null() {
                            out.insert(k.clone(), sv.clone());
                        }
                    }
                }
            }
            if out.is_empty() {
                return Ok(None);
            }
            Value::Object(out)
        }
        _ => match v {
            Value::String(_) => v.clone(),
            _ => return Err(wrong()),
        },
    }))
}

fn check_extension(attrs: &[Attr], urn: &str, v: &Value) -> Result<Option<Value>, ScimError> {
    let Value::Object(o) = v else {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("{urn} must be an object"),
        ));
    };
    let mut out = Map::new();
    for (k, sv) in o {
        // Some clients repeat the extension's `schemas` inside it.
        if k.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let Some(a) = attrs.iter().find(|a| a.name.eq_ignore_ascii_case(k)) else {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("unknown attribute {k:?} in {urn}"),
            ));
        };
        if a.read_only() {
            continue;
        }
        if let Some(c) = check_value(a, sv, true)? {
            out.insert(a.name.clone(), c);
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// Validate a resource body (POST, PUT, or a PATCH result) and return its attributes in
/// canonical form, without `schemas`, `id`, `meta` and read-only attributes. An attribute the
/// schema does not know is refused (400 `invalidSyntax`), except under an extension URN the
/// server does not know, which is kept as sent.
pub fn intake(rt: &Resource, body: &Value) -> Result<Map<String, Value>, ScimError> {
    let Value::Object(o) = body else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    };
    let mut out = Map::new();
    for (k, v) in o {
        if ["schemas", "id", "meta"]
            .iter()
            .any(|s| k.eq_ignore_ascii_case(s))
        {
            if k.eq_ignore_ascii_case("schemas") && !(v.is_array() || v.is_null()) {
                return Err(ScimError::bad("invalidSyntax", "schemas must be an array"));
            }
            continue;
        }
        if k.eq_ignore_ascii_case("externalId") {
            match v {
                Value::String(_) => {
                    out.insert("externalId".into(), v.clone());
                }
                Value::Null => {}
                _ => {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "externalId must be a string",
                    ));
                }
            }
            continue;
        }
        if is_urn(k) {
            if let Some((urn, attrs)) = rt.extension(k) {
                if let Some(c) = check_extension(attrs, urn, v)? {
                    out.insert(urn.to_owned(), c);
                }
            } else if k.eq_ignore_ascii_case(rt.core) {
                // Core attributes nested under the core URN: fold them in.
                let inner = intake(rt, v)?;
                out.extend(inner);
            } else if v.is_object() {
                out.insert(k.clone(), v.clone());
            } else if !v.is_null() {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    format!("{k} must be an object"),
                ));
            }
            continue;
        }
        let Some(a) = rt.attr(k) else {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("unknown attribute {k:?} for a {}", rt.name),
            ));
        };
        // Read-only attributes are the server's; write-only ones (the password) are never
        // stored: this server keeps no credentials.
        if a.read_only() || a.mutability == "writeOnly" {
            continue;
        }
        if let Some(c) = check_value(a, v, true)? {
            out.insert(a.name.clone(), c);
        }
    }
    for a in rt.attrs.iter().filter(|a| a.required) {
        match out.get(&a.name) {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(v) if !v.is_string() => {}
            _ => {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("{} is required", a.name),
                ));
            }
        }
    }
    Ok(out)
}

/// The resource as served: `schemas`, `id`, the attributes (without `returned: never`
/// ones), `extra` (computed attributes such as a user's `groups`) and `meta`.
pub fn render(
    rt: &Resource,
    id: &str,
    attrs: &Map<String, Value>,
    extra: Map<String, Value>,
    meta: Value,
) -> Value {
    let mut schemas = vec![Value::String(rt.core.into())];
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.into()));
    for (k, v) in attrs {
        if is_urn(k) {
            schemas.push(Value::String(k.clone()));
            out.insert(k.clone(), v.clone());
        } else if rt.attr(k).is_none_or(|a| a.returned != "never") {
            out.insert(k.clone(), v.clone());
        }
    }
    out.extend(extra);
    out.insert("meta".into(), meta);
    out.insert("schemas".into(), Value::Array(schemas));
    Value::Object(out)
}

/// A path in `attributes` / `excludedAttributes` / filters: extension URN, attribute,
/// sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    urn: Option<String>,
    attr: Option<String>,
    sub: Option<String>,
}

fn split_path(rt: &Resource, path: &str) -> Target {
    let path = path.trim();
    for (urn, _) in &rt.extensions {
        if path.eq_ignore_ascii_case(urn) {
            return Target {
                urn: Some((*urn).into()),
                attr: None,
                sub: None,
            };
        }
        if path.len() > urn.len()
            && path[..urn.len()].eq_ignore_ascii_case(urn)
            && path.as_bytes()[urn.len()] == b':'
        {
            let (attr, sub) = split_dot(&path[urn.len() + 1..]);
            return Target {
                urn: Some((*urn).into()),
                attr: Some(attr),
                sub,
            };
        }
    }
    let rest = if path.len() > rt.core.len()
        && path[..rt.core.len()].eq_ignore_ascii_case(rt.core)
        && path.as_bytes()[rt.core.len()] == b':'
    {
        &path[rt.core.len() + 1..]
    } else {
        path
    };
    let (attr, sub) = split_dot(rest);
    Target {
        urn: None,
        attr: Some(attr),
        sub,
    }
}

fn split_dot(s: &str) -> (String, Option<String>) {
    match s.split_once('.') {
        Some((a, b)) => (a.to_owned(), Some(b.to_owned())),
        None => (s.to_owned(), None),
    }
}

/// Apply `attributes` (keep only these, plus `id` and `schemas`) or `excludedAttributes`
/// (drop these) to a rendered resource.
pub fn project(rt: &Resource, full: Value, attributes: &[String], excluded: &[String]) -> Value {
    let Value::Object(full) = full else {
        return full;
    };
    if !attributes.is_empty() {
        let mut out = Map::new();
        for k in ["schemas", "id"] {
            if let Some(v) = full.get(k) {
                out.insert(k.into(), v.clone());
            }
        }
        for p in attributes {
            let t = split_path(rt, p);
            copy_target(&full, &mut out, &t);
        }
        return Value::Object(out);
    }
    let mut out = full;
    for p in excluded {
        let t = split_path(rt, p);
        if t.urn.is_none()
            && t.attr
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case("id") || a.eq_ignore_ascii_case("schemas"))
        {
            continue;
        }
        remove_target(&mut out, &t);
    }
    Value::Object(out)
}

fn copy_target(from: &Map<String, Value>, to: &mut Map<String, Value>, t: &Target) {
    let (src, dst): (&Map<String, Value>, &mut Map<String, Value>) = match &t.urn {
        Some(urn) => {
            let Some(Value::Object(ext)) = get_ci(from, urn) else {
                return;
            };
            let Some(attr) = &t.attr else {
                to.insert(urn.clone(), Value::Object(ext.clone()));
                return;
            };
            let _ = attr;
            let slot = to
                .entry(urn.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(slot) = slot else { return };
            (ext, slot)
        }
        None => (from, to),
    };
    let Some(attr) = &t.attr else { return };
    let Some(key) = key_ci(src, attr) else { return };
    let v = &src[&key];
    match &t.sub {
        None => {
            dst.insert(key, v.clone());
        }
        Some(sub) => {
            let pick = |o: &Value| -> Option<Value> {
                let o = o.as_object()?;
                let k = key_ci(o, sub)?;
                let mut m = Map::new();
                m.insert(k.clone(), o[&k].clone());
                Some(Value::Object(m))
            };
            let picked = match v {
                Value::Array(a) => {
                    let items: Vec<Value> = a.iter().filter_map(pick).collect();
                    (!items.is_empty()).then_some(Value::Array(items))
                }
                other => pick(other),
            };
            if let Some(p) = picked {
                // Merge with what an earlier path picked from the same attribute.
                match (dst.get_mut(&key), p) {
                    (Some(Value::Object(d)), Value::Object(p)) => d.extend(p),
                    (_, p) => {
                        dst.insert(key, p);
                    }
                }
            }
        }
    }
}

fn remove_target(out: &mut Map<String, Value>, t: &Target) {
    let container = match &t.urn {
        Some(urn) => {
            let Some(k) = key_ci(out, urn) else { return };
            if t.attr.is_none() {
                out.remove(&k);
                return;
            }
            match out.get_mut(&k) {
                Some(Value::Object(o)) => o,
                _ => return,
            }
        }
        None => out,
    };
    let Some(attr) = &t.attr else { return };
    let Some(key) = key_ci(container, attr) else {
        return;
    };
    match &t.sub {
        None => {
            container.remove(&key);
        }
        Some(sub) => match container.get_mut(&key) {
            Some(Value::Object(o)) => {
                if let Some(k) = key_ci(o, sub) {
                    o.remove(&k);
                }
            }
            Some(Value::Array(a)) => {
                for o in a.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(k) = key_ci(o, sub) {
                        o.remove(&k);
                    }
                }
            }
            _ => {}
        },
    }
}

// ---------------------------------------------------------------------------------------
// Filters

/// Whether the rendered resource `res` matches `filter`.
pub fn matches(rt: &Resource, filter: &Filter, res: &Value) -> bool {
    match filter {
        Filter::Attr(e) => attr_exp(rt, e, res, None),
        Filter::ValuePath(vp) => values_at(rt, &vp.attr, res)
            .iter()
            .any(|el| val_filter(rt, &vp.filter, el, Some(&vp.attr.name))),
        Filter::Not(f) => !matches(rt, f, res),
        Filter::And(fs) => fs.iter().all(|f| matches(rt, f, res)),
        Filter::Or(fs) => fs.iter().any(|f| matches(rt, f, res)),
    }
}

fn val_filter(rt: &Resource, f: &ValFilter, el: &Value, parent: Option<&str>) -> bool {
    match f {
        ValFilter::Attr(e) => attr_exp(rt, e, el, parent),
        ValFilter::Not(f) => !val_filter(rt, f, el, parent),
        ValFilter::And(fs) => fs.iter().all(|f| val_filter(rt, f, el, parent)),
        ValFilter::Or(fs) => fs.iter().any(|f| val_filter(rt, f, el, parent)),
    }
}

/// The values a path names in `res` (flattened over multi-valued attributes).
fn values_at(rt: &Resource, p: &AttrPath, res: &Value) -> Vec<Value> {
    let base = match &p.uri {
        Some(u) if !u.eq_ignore_ascii_case(rt.core) => {
            match res.as_object().and_then(|o| get_ci(o, u)) {
                Some(b) => b,
                None => return Vec::new(),
            }
        }
        _ => res,
    };
    let Some(v) = base.as_object().and_then(|o| get_ci(o, &p.name)) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    match &p.sub_attr {
        Some(sub) => items
            .into_iter()
            .filter_map(|i| i.as_object().and_then(|o| get_ci(o, sub)).cloned())
            .collect(),
        None => items.into_iter().cloned().collect(),
    }
}

fn case_exact(rt: &Resource, p: &AttrPath, parent: Option<&str>) -> bool {
    let name = p.name.as_str();
    if parent.is_none()
        && (name.eq_ignore_ascii_case("id") || name.eq_ignore_ascii_case("externalId"))
    {
        return true;
    }
    let attr = match parent {
        Some(parent) => rt.attr(parent).and_then(|a| a.sub_attr(name)),
        None => rt.attr(name).map(|a| match &p.sub_attr {
            Some(s) => a.sub_attr(s).unwrap_or(a),
            None => a,
        }),
    };
    attr.is_some_and(|a| a.case_exact)
}

fn attr_exp(rt: &Resource, e: &AttrExp, res: &Value, parent: Option<&str>) -> bool {
    match e {
        AttrExp::Present(p) => values_at(rt, p, res).iter().any(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            Value::Array(a) => !a.is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        }),
        AttrExp::Comparison(p, op, want) => {
            let mut vals = values_at(rt, p, res);
            // `emails eq "x"` compares the values' `value` sub-attribute.
            vals = vals
                .into_iter()
                .map(|v| match v {
                    Value::Object(ref o) => get_ci(o, "value").cloned().unwrap_or(v),
                    v => v,
                })
                .collect();
            let exact = case_exact(rt, p, parent);
            match op {
                CompareOp::Ne => !vals.iter().any(|v| compare(v, &CompareOp::Eq, want, exact)),
                op => vals.iter().any(|v| compare(v, op, want, exact)),
            }
        }
    }
}

fn compare(v: &Value, op: &CompareOp, want: &CompValue, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, want) {
        (Value::String(a), CompValue::Str(b)) => {
            let (a, b) = if exact {
                (a.clone(), b.clone())
            } else {
                (a.to_lowercase(), b.to_lowercase())
            };
            match op {
                CompareOp::Co => return a.contains(&b),
                CompareOp::Sw => return a.starts_with(&b),
                CompareOp::Ew => return a.ends_with(&b),
                _ => Some(a.cmp(&b)),
            }
        }
        (Value::Bool(a), CompValue::True) => Some(a.cmp(&true)),
        (Value::Bool(a), CompValue::False) => Some(a.cmp(&false)),
        (Value::Number(a), CompValue::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::Null, CompValue::Null) => Some(Ordering::Equal),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Parse a filter (400 `invalidFilter` when it does not parse).
pub fn parse_filter(s: &str) -> Result<Filter, ScimError> {
    s.parse::<Filter>()
        .map_err(|e| ScimError::bad("invalidFilter", format!("filter {s:?}: {e}")))
}

// ---------------------------------------------------------------------------------------
// PATCH

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// Apply a PatchOp request body to `attrs` (a resource's stored attributes). On error
/// `attrs` is unchanged. The result is validated as a whole with [`intake`].
pub fn patch(rt: &Resource, attrs: &mut Map<String, Value>, body: &Value) -> Result<(), ScimError> {
    let Some(o) = body.as_object() else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a PatchOp object",
        ));
    };
    if let Some(s) = get_ci(o, "schemas")
        && !s.as_array().is_some_and(|a| {
            a.iter()
                .any(|u| u == "urn:ietf:params:scim:api:messages:2.0:PatchOp")
        })
    {
        return Err(ScimError::bad(
            "invalidSyntax",
            "schemas must name urn:ietf:params:scim:api:messages:2.0:PatchOp",
        ));
    }
    let Some(Value::Array(ops)) = get_ci(o, "Operations") else {
        return Err(ScimError::bad(
            "invalidSyntax",
            "Operations must be an array",
        ));
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::status(
            413,
            format!("at most {MAX_OPERATIONS} operations per PATCH"),
        ));
    }
    let mut work = attrs.clone();
    for op in ops {
        let Some(op) = op.as_object() else {
            return Err(ScimError::bad(
                "invalidSyntax",
                "an operation must be an object",
            ));
        };
        let kind = match get_ci(op, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("add") => Op::Add,
            Some("replace") => Op::Replace,
            Some("remove") => Op::Remove,
            _ => {
                return Err(ScimError::bad(
                    "invalidSyntax",
                    "op must be add, replace or remove",
                ));
            }
        };
        let path = match get_ci(op, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => return Err(ScimError::bad("invalidPath", "path must be a string")),
        };
        let value = get_ci(op, "value");
        apply(rt, &mut work, kind, path, value)?;
    }
    // Validate the whole result (types, required attributes) before accepting it.
    let checked = intake(rt, &Value::Object(work))?;
    *attrs = checked;
    Ok(())
}

fn apply(
    rt: &Resource,
    res: &mut Map<String, Value>,
    op: Op,
    path: Option<&str>,
    value: Option<&Value>,
) -> Result<(), ScimError> {
    let Some(path) = path else {
        if op == Op::Remove {
            return Err(ScimError::bad("noTarget", "remove needs a path"));
        }
        let Some(Value::Object(v)) = value else {
            return Err(ScimError::bad(
                "invalidValue",
                "without a path, value must be an object",
            ));
        };
        for (k, sv) in v {
            if ["schemas", "id", "meta"]
                .iter()
                .any(|s| k.eq_ignore_ascii_case(s))
            {
                continue;
            }
            if let (Some((urn, _)), Value::Object(inner)) = (rt.extension(k), sv) {
                for (ik, iv) in inner {
                    apply(rt, res, op, Some(&format!("{urn}:{ik}")), Some(iv))?;
                }
                continue;
            }
            apply(rt, res, op, Some(k), Some(sv))?;
        }
        return Ok(());
    };
    let path = path.trim();
    // An extension as a whole, or an attribute inside one.
    for (urn, _) in &rt.extensions {
        if path.eq_ignore_ascii_case(urn) {
            return match op {
                Op::Remove => {
                    res.remove(*urn);
                    Ok(())
                }
                _ => match value {
                    Some(Value::Object(v)) => {
                        let slot = res
                            .entry((*urn).to_owned())
                            .or_insert_with(|| Value::Object(Map::new()));
                        if op == Op::Replace || !slot.is_object() {
                            *slot = Value::Object(Map::new());
                        }
                        if let Value::Object(s) = slot {
                            for (k, sv) in v {
                                s.insert(k.clone(), sv.clone());
                            }
                        }
                        Ok(())
                    }
                    _ => Err(ScimError::bad(
                        "invalidValue",
                        format!("{urn} takes an object"),
                    )),
                },
            };
        }
        if path.len() > urn.len()
            && path[..urn.len()].eq_ignore_ascii_case(urn)
            && path.as_bytes()[urn.len()] == b':'
        {
            let rest = &path[urn.len() + 1..];
            let attrs = rt.extension(urn).map(|(_, a)| a).unwrap_or(&[]);
            let mut ext = match res.remove(*urn) {
                Some(Value::Object(o)) => o,
                _ => Map::new(),
            };
            let r = apply_in(attrs, &mut ext, op, rest, value, urn);
            if !ext.is_empty() {
                res.insert((*urn).to_owned(), Value::Object(ext));
            }
            return r;
        }
    }
    let rest = if path.len() > rt.core.len()
        && path[..rt.core.len()].eq_ignore_ascii_case(rt.core)
        && path.as_bytes()[rt.core.len()] == b':'
    {
        &path[rt.core.len() + 1..]
    } else {
        path
    };
    if rest.eq_ignore_ascii_case("externalId") {
        match op {
            Op::Remove => {
                res.remove("externalId");
            }
            _ => match value {
                Some(Value::String(s)) => {
                    res.insert("externalId".into(), Value::String(s.clone()));
                }
                _ => return Err(ScimError::bad("invalidValue", "externalId takes a string")),
            },
        }
        return Ok(());
    }
    if ["id", "meta", "schemas"].iter().any(|s| {
        rest.eq_ignore_ascii_case(s) || rest.to_ascii_lowercase().starts_with(&format!("{s}."))
    }) {
        return Err(ScimError::bad(
            "mutability",
            format!("{rest} cannot be changed"),
        ));
    }
    apply_in(&rt.attrs, res, op, rest, value, rt.name)
}

/// Apply one operation at `path` (no URN prefix) inside `res`, whose attributes are `defs`.
fn apply_in(
    defs: &[Attr],
    res: &mut Map<String, Value>,
    op: Op,
    path: &str,
    value: Option<&Value>,
    owner: &str,
) -> Result<(), ScimError> {
    let parsed: PatchPath = path
        .parse()
        .map_err(|e| ScimError::bad("invalidPath", format!("path {path:?}: {e}")))?;
    let (name, filter, sub) = match &parsed {
        PatchPath::Attr(a) => (a.name.as_str(), None, a.sub_attr.as_deref()),
        PatchPath::Value(vp) => (
            vp.attr.name.as_str(),
            Some(&vp.filter),
            vp.sub_attr.as_deref(),
        ),
    };
    let Some(def) = defs.iter().find(|a| a.name.eq_ignore_ascii_case(name)) else {
        return Err(ScimError::bad(
            "invalidPath",
            format!("{owner} has no attribute {name:?}"),
        ));
    };
    if def.read_only() {
        return Err(ScimError::bad(
            "mutability",
            format!("{} is read-only", def.name),
        ));
    }
    if let Some(s) = sub
        && def.sub_attr(s).is_none()
        && !(def.ty == "complex" && s.eq_ignore_ascii_case("display"))
    {
        return Err(ScimError::bad(
            "invalidPath",
            format!("{} has no sub-attribute {s:?}", def.name),
        ));
    }
    let key = def.name.clone();
    if let Some(f) = filter {
        if !def.multi {
            return Err(ScimError::bad(
                "invalidPath",
                format!("{} is not multi-valued", def.name),
            ));
        }
        let items = match res.get_mut(&key) {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(ScimError::bad(
                    "noTarget",
                    format!("{path} matches no value"),
                ));
            }
        };
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, el)| val_filter_defs(def, f, el))
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            return Err(ScimError::bad(
                "noTarget",
                format!("{path} matches no value"),
            ));
        }
        match (op, sub) {
            (Op::Remove, None) => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            (Op::Remove, Some(s)) => {
                for &i in &hits {
                    if let Some(o) = items[i].as_object_mut()
                        && let Some(k) = key_ci(o, s)
                    {
                        o.remove(&k);
                    }
                }
            }
            (_, None) => {
                let Some(v) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "add and replace need a value",
                    ));
                };
                for &i in &hits {
                    match (op, &mut items[i], v) {
                        (Op::Add, Value::Object(el), Value::Object(nv)) => {
                            for (k, x) in nv {
                                el.insert(k.clone(), x.clone());
                            }
                        }
                        (_, el, v) => *el = v.clone(),
                    }
                }
            }
            (_, Some(s)) => {
                let Some(v) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "add and replace need a value",
                    ));
                };
                let canon = def.sub_attr(s).map_or(s.to_owned(), |a| a.name.clone());
                for &i in &hits {
                    if let Some(o) = items[i].as_object_mut() {
                        if let Some(k) = key_ci(o, s) {
                            o.remove(&k);
                        }
                        o.insert(canon.clone(), v.clone());
                    }
                }
            }
        }
        if items.is_empty() {
            res.remove(&key);
        }
        return Ok(());
    }
    if let Some(s) = sub {
        let canon = def.sub_attr(s).map_or(s.to_owned(), |a| a.name.clone());
        match (op, res.get_mut(&key)) {
            (Op::Remove, Some(Value::Object(o))) => {
                if let Some(k) = key_ci(o, s) {
                    o.remove(&k);
                }
                if o.is_empty() {
                    res.remove(&key);
                }
            }
            (Op::Remove, Some(Value::Array(a))) => {
                for o in a.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(k) = key_ci(o, s) {
                        o.remove(&k);
                    }
                }
            }
            (Op::Remove, _) => {}
            (_, slot) => {
                let Some(v) = value else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        "add and replace need a value",
                    ));
                };
                match slot {
                    Some(Value::Object(o)) => {
                        if let Some(k) = key_ci(o, s) {
                            o.remove(&k);
                        }
                        o.insert(canon, v.clone());
                    }
                    Some(Value::Array(a)) if !a.is_empty() => {
                        for o in a.iter_mut().filter_map(Value::as_object_mut) {
                            if let Some(k) = key_ci(o, s) {
                                o.remove(&k);
                            }
                            o.insert(canon.clone(), v.clone());
                        }
                    }
                    _ => {
                        let mut o = Map::new();
                        o.insert(canon, v.clone());
                        res.insert(
                            key,
                            if def.multi {
                                Value::Array(vec![Value::Object(o)])
                            } else {
                                Value::Object(o)
                            },
                        );
                    }
                }
            }
        }
        return Ok(());
    }
    match op {
        Op::Remove => {
            match (value, res.get_mut(&key)) {
                // `{"op": "remove", "path": "members", "value": [{"value": "id"}]}` removes
                // those values only.
                (Some(Value::Array(gone)), Some(Value::Array(items))) if def.multi => {
                    let ids: Vec<&Value> = gone.iter().filter_map(|g| g.get("value")).collect();
                    let before = items.len();
                    items.retain(|el| !el.get("value").is_some_and(|v| ids.contains(&v)));
                    if items.len() == before && !ids.is_empty() {
                        return Err(ScimError::bad("noTarget", format!("{path}: no such value")));
                    }
                    if items.is_empty() {
                        res.remove(&key);
                    }
                }
                _ => {
                    res.remove(&key);
                }
            }
        }
        Op::Add | Op::Replace => {
            let Some(v) = value else {
                return Err(ScimError::bad(
                    "invalidValue",
                    "add and replace need a value",
                ));
            };
            if v.is_null() {
                res.remove(&key);
                return Ok(());
            }
            if def.multi {
                let new: Vec<Value> = match v {
                    Value::Array(a) => a.clone(),
                    other => vec![other.clone()],
                };
                let takes_primary = new
                    .iter()
                    .any(|n| n.get("primary") == Some(&Value::Bool(true)));
                let mut items = match (op, res.remove(&key)) {
                    (Op::Add, Some(Value::Array(a))) => a,
                    _ => Vec::new(),
                };
                if takes_primary {
                    for el in items.iter_mut().filter_map(Value::as_object_mut) {
                        if el.contains_key("primary") {
                            el.insert("primary".into(), Value::Bool(false));
                        }
                    }
                }
                for n in new {
                    if !items.contains(&n) {
                        items.push(n);
                    }
                }
                if items.len() > MAX_VALUES {
                    return Err(ScimError::status(
                        413,
                        format!("{} would have more than {MAX_VALUES} values", def.name),
                    ));
                }
                if !items.is_empty() {
                    res.insert(key, Value::Array(items));
                }
            } else if def.ty == "complex" {
                let Value::Object(nv) = v else {
                    return Err(ScimError::bad(
                        "invalidValue",
                        format!("{} takes an object", def.name),
                    ));
                };
                let slot = res.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(o) = slot {
                    for (k, x) in nv {
                        if let Some(old) = key_ci(o, k) {
                            o.remove(&old);
                        }
                        o.insert(k.clone(), x.clone());
                    }
                }
            } else {
                res.insert(key, v.clone());
            }
        }
    }
    Ok(())
}

fn val_filter_defs(def: &Attr, f: &ValFilter, el: &Value) -> bool {
    match f {
        ValFilter::Attr(AttrExp::Present(p)) => el
            .as_object()
            .and_then(|o| get_ci(o, &p.name))
            .is_some_and(|v| !v.is_null()),
        ValFilter::Attr(AttrExp::Comparison(p, op, want)) => {
            let exact = def.sub_attr(&p.name).is_some_and(|a| a.case_exact)
                || (def.name == "members" && p.name.eq_ignore_ascii_case("value"));
            let Some(v) = el.as_object().and_then(|o| get_ci(o, &p.name)) else {
                return matches!(op, CompareOp::Ne);
            };
            match op {
                CompareOp::Ne => !compare(v, &CompareOp::Eq, want, exact),
                op => compare(v, op, want, exact),
            }
        }
        ValFilter::Not(f) => !val_filter_defs(def, f, el),
        ValFilter::And(fs) => fs.iter().all(|f| val_filter_defs(def, f, el)),
        ValFilter::Or(fs) => fs.iter().any(|f| val_filter_defs(def, f, el)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::schema;
    use serde_json::json;

    #[test]
    fn intake_canonicalizes_and_refuses_unknown() {
        let u = schema::user();
        let a = intake(u, &json!({"schemas": [schema::USER], "USERNAME": "Ada", "active": "True", "groups": [], "id": "x"})).unwrap();
        assert_eq!(Value::Object(a), json!({"userName": "Ada", "active": true}));
        assert_eq!(
            intake(u, &json!({"userName": "a", "shoeSize": 9}))
                .unwrap_err()
                .scim_type,
            Some("invalidSyntax")
        );
        assert_eq!(
            intake(u, &json!({"active": true})).unwrap_err().scim_type,
            Some("invalidValue")
        );
        // Unknown extensions are kept as sent.
        let a = intake(u, &json!({"userName": "a", "urn:x:y": {"k": 1}})).unwrap();
        assert_eq!(a["urn:x:y"], json!({"k": 1}));
    }

    #[test]
    fn okta_patches() {
        let g = schema::group();
        let mut m = intake(g, &json!({"displayName": "eng/backend", "members": [{"value": "a", "display": "A"}, {"value": "b"}]})).unwrap();
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "remove", "path": "members[value eq \"a\"]"},
            {"op": "add", "path": "members", "value": [{"value": "c"}]},
            {"op": "replace", "value": {"displayName": "eng/platform"}}
        ]});
        patch(g, &mut m, &body).unwrap();
        assert_eq!(
            Value::Object(m.clone()),
            json!({"displayName": "eng/platform", "members": [{"value": "b"}, {"value": "c"}]})
        );
        // A removal that matches nothing fails and changes nothing.
        let before = m.clone();
        let bad = json!({"Operations": [{"op": "add", "path": "members", "value": [{"value": "d"}]}, {"op": "remove", "path": "members[value eq \"zz\"]"}]});
        assert_eq!(
            patch(g, &mut m, &bad).unwrap_err().scim_type,
            Some("noTarget")
        );
        assert_eq!(m, before);
        let u = schema::user();
        let mut m = intake(u, &json!({"userName": "a", "active": true})).unwrap();
        patch(
            u,
            &mut m,
            &json!({"Operations": [{"op": "replace", "value": {"active": false}}]}),
        )
        .unwrap();
        assert_eq!(m["active"], json!(false));
        assert_eq!(
            patch(
                u,
                &mut m,
                &json!({"Operations": [{"op": "replace", "path": "nope", "value": 1}]})
            )
            .unwrap_err()
            .scim_type,
            Some("invalidPath")
        );
        assert_eq!(
            patch(
                u,
                &mut m,
                &json!({"Operations": [{"op": "replace", "path": "emails[type eq", "value": 1}]})
            )
            .unwrap_err()
            .scim_type,
            Some("invalidPath")
        );
    }

    #[test]
    fn filters_and_projection() {
        let u = schema::user();
        let res = json!({"id": "1", "userName": "Ada@Example.com", "emails": [{"value": "ada@example.com", "type": "work"}], "name": {"givenName": "Ada"}});
        for (f, want) in [
            ("userName eq \"ada@example.com\"", true),
            ("emails[type eq \"work\" and value co \"example\"]", true),
            ("emails.type eq \"home\"", false),
            ("name.givenName sw \"A\" and not (userName eq \"x\")", true),
            ("id eq \"1\"", true),
        ] {
            assert_eq!(matches(u, &parse_filter(f).unwrap(), &res), want, "{f}");
        }
        assert!(parse_filter("userName eq").is_err());
        let p = project(u, res.clone(), &["name.givenName".into()], &[]);
        assert_eq!(p, json!({"id": "1", "name": {"givenName": "Ada"}}));
        let p = project(u, res, &[], &["emails".into(), "id".into()]);
        assert!(p.get("emails").is_none() && p.get("id").is_some());
    }
}
