//! The DDM output of `cargo xtask gen-apple`: `ddm/src/generated/` from `declarative/`.
//!
//! Same YAML model, names and lowering (`Lowering`, `Ty`, `ItemKind`) as the `mdm-proto`
//! output; only the emission differs, because DDM is JSON: structs derive serde with
//! `#[serde(flatten)] unknown` so unlisted keys round-trip, open string/integer enums keep
//! unlisted values in `Other`, `<data>` and `<date>` stay strings. Each declaration type also
//! carries its `allowed-scopes` per OS and the key paths that name assets (`assettypes`).
//! Apple's prose is never read.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_norway::Value as Yaml;

use super::{
    Item, ItemKind, Key, Lowering, OSES, Ty, count_keys, describe_supported_os, header, list_yaml,
    lit, pascal, read_commits, snake,
};

#[derive(Deserialize)]
struct DdmDoc {
    title: String,
    payload: DdmPayload,
    #[serde(default)]
    payloadkeys: Vec<Key>,
}

#[derive(Deserialize)]
struct DdmPayload {
    declarationtype: Option<String>,
    statusitemtype: Option<String>,
    credentialtype: Option<String>,
    requesttype: Option<String>,
    #[serde(rename = "supportedOS")]
    supported_os: Option<BTreeMap<String, Yaml>>,
}

/// Which kind of DDM schema file.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DdmKind {
    Declaration,
    Credential,
    Status,
    Protocol,
}

struct Out {
    /// Module (snake) and type (Pascal) name.
    module: String,
    top: String,
    /// The declaration type, status item type, credential type or protocol object name.
    tag: String,
    file: String,
    commit: String,
    title: String,
    availability: String,
    scopes: Vec<(String, String, bool, bool)>,
    asset_refs: Vec<(String, Vec<String>)>,
    keys: Vec<(String, String, bool)>,
    n_keys: usize,
    code: String,
}

fn ty_json(t: &Ty) -> String {
    match t {
        Ty::Str | Ty::Data | Ty::Date => "String".into(),
        Ty::Int => "i64".into(),
        Ty::Real => "f64".into(),
        Ty::Bool => "bool".into(),
        Ty::Any => "serde_json::Value".into(),
        Ty::Dict => "serde_json::Map<String, serde_json::Value>".into(),
        Ty::Vec(t) => format!("Vec<{}>", ty_json(t)),
        Ty::Map(t) => format!("BTreeMap<String, {}>", ty_json(t)),
        Ty::Named(n) => n.clone(),
    }
}

/// One item's type and its `FromJson`; `owned`: with a `from_json_owned` that takes the value
/// apart (status items and protocol objects, which a status report reads once and keeps typed;
/// declarations keep their raw JSON, so copying is what they need).
fn emit_item_json(out: &mut String, item: &Item, schema_file: &str, owned: bool) {
    let key = item.path.rsplit('/').next().unwrap_or_default();
    match &item.kind {
        ItemKind::Struct {
            fields, constants, ..
        } => {
            let _ = writeln!(
                out,
                "/// `{}` in `{schema_file}`.\n///\n/// ```text\n/// {{",
                item.path
            );
            for (k, v) in constants {
                let _ = writeln!(out, "///   {k:<28} <string>      = {v}");
            }
            for f in fields {
                let p = if f.schema_required {
                    "required"
                } else {
                    "optional"
                };
                let _ = writeln!(out, "///   {:<28} {:<13} {p}", f.key, f.schema_type);
            }
            let _ = writeln!(
                out,
                "/// }}\n/// ```\n#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]\n\
                 pub struct {} {{",
                item.name
            );
            for (k, v) in constants {
                let _ = writeln!(
                    out,
                    "/// `{k}`: `<string>`, always `{v}`.\n#[serde(rename = {})]\npub {}: String,",
                    lit(k),
                    snake(k)
                );
            }
            for f in fields {
                let avail = if f.availability.is_empty() {
                    String::new()
                } else {
                    format!(" Availability: {}.", f.availability)
                };
                if f.required {
                    let _ = writeln!(
                        out,
                        "/// `{}`: `{}`, required.{avail}\n#[serde(rename = {})]\npub {}: {},",
                        f.key,
                        f.schema_type,
                        lit(&f.key),
                        f.name,
                        ty_json(&f.ty)
                    );
                } else {
                    let presence = if f.schema_required {
                        "required where available"
                    } else {
                        "optional"
                    };
                    let _ = writeln!(
                        out,
                        "/// `{}`: `{}`, {presence}.{avail}\n\
                         #[serde(rename = {}, default, skip_serializing_if = \"Option::is_none\")]\n\
                         pub {}: Option<{}>,",
                        f.key,
                        f.schema_type,
                        lit(&f.key),
                        f.name,
                        ty_json(&f.ty)
                    );
                }
            }
            let _ = writeln!(
                out,
                "/// Keys the schema does not list, kept as sent and written back unchanged.\n\
                 #[serde(flatten)]\npub unknown: serde_json::Map<String, serde_json::Value>,\n}}"
            );
            emit_from_json(out, &item.name, fields, constants, owned);
        }
        ItemKind::StrEnum(variants) => {
            let _ = writeln!(
                out,
                "/// Values of `{key}` (`<string>`, an open list: unlisted values are kept in \
                 `Other`).\n///\n/// Schema: `{schema_file}`, `{}`.\n\
                 #[derive(Debug, Clone, PartialEq, Eq, Hash)]\npub enum {} {{",
                item.path, item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "/// `{v}`.\n{id},");
            }
            let _ = writeln!(
                out,
                "/// A value the schema does not list.\nOther(String),\n}}\n\
                 impl {n} {{\n/// The string as sent.\npub fn as_str(&self) -> &str {{ match self {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "Self::{id} => {},", lit(v));
            }
            let _ = writeln!(
                out,
                "Self::Other(s) => s, }} }}\n}}\n\
                 impl From<String> for {n} {{ fn from(s: String) -> Self {{ match s.as_str() {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "{} => Self::{id},", lit(v));
            }
            let _ = writeln!(
                out,
                "_ => Self::Other(s), }} }} }}\n\
                 impl Serialize for {n} {{ fn serialize<S: serde::Serializer>(&self, s: S) -> \
                 std::result::Result<S::Ok, S::Error> {{ s.serialize_str(self.as_str()) }} }}\n\
                 impl<'de> Deserialize<'de> for {n} {{ fn deserialize<D: serde::Deserializer<'de>>(d: D) \
                 -> std::result::Result<Self, D::Error> {{ String::deserialize(d).map(Self::from) }} }}\n\
                 impl FromJson for {n} {{ fn from_json(v: &serde_json::Value) -> Result<Self, JsonError> \
                 {{ String::from_json(v).map(Self::from) }} {owned_fn} }}",
                n = item.name,
                owned_fn = if owned {
                    "fn from_json_owned(v: serde_json::Value) -> Result<Self, JsonError> \
                     { String::from_json_owned(v).map(Self::from) }"
                } else {
                    ""
                }
            );
        }
        ItemKind::IntEnum(variants) => {
            let _ = writeln!(
                out,
                "/// Values of `{key}` (`<integer>`, an open list: unlisted values are kept in \
                 `Other`).\n///\n/// Schema: `{schema_file}`, `{}`.\n\
                 #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum {} {{",
                item.path, item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "/// `{v}`.\n{id},");
            }
            let _ = writeln!(
                out,
                "/// A value the schema does not list.\nOther(i64),\n}}\n\
                 impl {n} {{\n/// The integer as sent.\npub fn value(&self) -> i64 {{ match self {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "Self::{id} => {v},");
            }
            let _ = writeln!(
                out,
                "Self::Other(v) => *v, }} }}\n}}\n\
                 impl From<i64> for {n} {{ fn from(v: i64) -> Self {{ match v {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "{v} => Self::{id},");
            }
            let _ = writeln!(
                out,
                "_ => Self::Other(v), }} }} }}\n\
                 impl Serialize for {n} {{ fn serialize<S: serde::Serializer>(&self, s: S) -> \
                 std::result::Result<S::Ok, S::Error> {{ s.serialize_i64(self.value()) }} }}\n\
                 impl<'de> Deserialize<'de> for {n} {{ fn deserialize<D: serde::Deserializer<'de>>(d: D) \
                 -> std::result::Result<Self, D::Error> {{ i64::deserialize(d).map(Self::from) }} }}\n\
                 impl FromJson for {n} {{ fn from_json(v: &serde_json::Value) -> Result<Self, JsonError> \
                 {{ i64::from_json(v).map(Self::from) }} }}",
                n = item.name
            );
        }
        ItemKind::Union { tag, .. } => {
            let _ = writeln!(
                out,
                "/// One element of `{key}`: a dictionary whose `{tag}` key names its shape, kept \
                 as JSON.\n///\n/// Schema: `{schema_file}`, `{}`.\npub type {} = serde_json::Value;",
                item.path, item.name
            );
        }
    }
}

/// `FromJson` for a struct: one pass over the object's keys, known keys read into their types
/// (errors carry the key path), the others kept in `unknown`; no serde buffering. `from_json`
/// reads a borrowed value (copying); with `owned`, `from_json_owned` takes the value apart
/// (moving its strings, arrays and maps) with the same checks and the same errors.
fn emit_from_json(
    out: &mut String,
    name: &str,
    fields: &[super::Field],
    constants: &[(String, String)],
    owned: bool,
) {
    if fields.is_empty() && constants.is_empty() {
        let _ = writeln!(
            out,
            "impl FromJson for {name} {{\nfn from_json(v: &serde_json::Value) -> Result<Self, JsonError> {{\n\
             Ok(Self {{ unknown: expect_object(v)?.clone() }})\n}}"
        );
        if owned {
            let _ = writeln!(
                out,
                "fn from_json_owned(v: serde_json::Value) -> Result<Self, JsonError> {{\n\
                 Ok(Self {{ unknown: into_object(v)? }})\n}}"
            );
        }
        let _ = writeln!(out, "}}");
        return;
    }
    let _ = writeln!(out, "impl FromJson for {name} {{");
    emit_from_json_body(out, fields, constants, false);
    if owned {
        emit_from_json_body(out, fields, constants, true);
    }
    let _ = writeln!(out, "}}");
}

/// One `FromJson` method of [`emit_from_json`]: borrowed (`from_json`) or owned
/// (`from_json_owned`).
fn emit_from_json_body(
    out: &mut String,
    fields: &[super::Field],
    constants: &[(String, String)],
    owned: bool,
) {
    let (sig, obj, field, optional, key, keep) = if owned {
        (
            "fn from_json_owned(v: serde_json::Value) -> Result<Self, JsonError>",
            "into_object(v)?",
            "field_owned",
            "optional_field_owned",
            "&k",
            "unknown.insert(k, v);",
        )
    } else {
        (
            "fn from_json(v: &serde_json::Value) -> Result<Self, JsonError>",
            "expect_object(v)?",
            "field",
            "optional_field",
            "k",
            "unknown.insert(k.clone(), v.clone());",
        )
    };
    let _ = writeln!(
        out,
        "{sig} {{\nlet m = {obj};\nlet mut unknown = serde_json::Map::new();"
    );
    let local = |n: &str| format!("f_{}", n.trim_end_matches('_'));
    for (k, _) in constants {
        let _ = writeln!(out, "let mut {}: Option<String> = None;", local(&snake(k)));
    }
    for f in fields {
        let _ = writeln!(
            out,
            "let mut {}: Option<{}> = None;",
            local(&f.name),
            ty_json(&f.ty)
        );
    }
    let _ = writeln!(out, "for (k, v) in m {{\nmatch k.as_str() {{");
    for (k, _) in constants {
        let _ = writeln!(
            out,
            "{} => {} = Some({field}(v, {key})?),",
            lit(k),
            local(&snake(k))
        );
    }
    for f in fields {
        let read = if f.required {
            format!("Some({field}(v, {key})?)")
        } else {
            format!("{optional}(v, {key})?")
        };
        let _ = writeln!(out, "{} => {} = {read},", lit(&f.key), local(&f.name));
    }
    let _ = writeln!(out, "_ => {{ {keep} }}\n}}\n}}\nOk(Self {{");
    for (k, _) in constants {
        let _ = writeln!(
            out,
            "{}: required({}, {})?,",
            snake(k),
            local(&snake(k)),
            lit(k)
        );
    }
    for f in fields {
        if f.required {
            let _ = writeln!(
                out,
                "{}: required({}, {})?,",
                f.name,
                local(&f.name),
                lit(&f.key)
            );
        } else {
            let _ = writeln!(out, "{}: {},", f.name, local(&f.name));
        }
    }
    let _ = writeln!(out, "unknown,\n}})\n}}");
}

/// `allowed-scopes` per OS: (OS, introduced, system, user). An OS entry without the key states
/// no restriction (assets, activations and management declarations carry none), so both scopes
/// are allowed; a Shared iPad entry's scopes count too.
fn scopes(m: Option<&BTreeMap<String, Yaml>>) -> Vec<(String, String, bool, bool)> {
    let mut out = Vec::new();
    let Some(m) = m else { return out };
    for (yk, _, label) in OSES {
        let Some(v) = m.get(*yk) else { continue };
        let introduced = v
            .get("introduced")
            .and_then(super::yaml_str)
            .unwrap_or_default();
        if introduced == "n/a" {
            continue;
        }
        let list = |v: &Yaml| -> Option<Vec<String>> {
            v.get("allowed-scopes")
                .and_then(Yaml::as_sequence)
                .map(|s| {
                    s.iter()
                        .filter_map(super::yaml_str)
                        .collect::<Vec<String>>()
                })
        };
        let mut all = list(v).unwrap_or_else(|| vec!["system".to_owned(), "user".to_owned()]);
        if let Some(sp) = v.get("sharedipad") {
            all.extend(list(sp).unwrap_or_default());
        }
        out.push((
            label.to_string(),
            introduced,
            all.iter().any(|s| s == "system"),
            all.iter().any(|s| s == "user"),
        ));
    }
    out
}

/// Key paths (from the payload, `/`-separated, arrays transparent) whose value names an asset,
/// with the asset types the schema allows there.
fn asset_refs(keys: &[Yaml], prefix: &str, out: &mut Vec<(String, Vec<String>)>) {
    for k in keys {
        let Some(name) = k.get("key").and_then(super::yaml_str) else {
            continue;
        };
        let is_array_item = prefix.ends_with("[]");
        let path = if is_array_item {
            prefix.to_owned()
        } else if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if let Some(types) = k.get("assettypes").and_then(Yaml::as_sequence) {
            out.push((
                path.trim_end_matches("[]").to_owned(),
                types.iter().filter_map(super::yaml_str).collect(),
            ));
        }
        if let Some(sub) = k.get("subkeys").and_then(Yaml::as_sequence) {
            let array = k.get("type").and_then(super::yaml_str).as_deref() == Some("<array>");
            let next = if array {
                format!("{path}[]")
            } else {
                path.trim_end_matches("[]").to_owned()
            };
            asset_refs(sub, &next, out);
        }
    }
}

fn lower(schema: &Path, rel: &str, kind: DdmKind, commit: &str) -> Result<Out> {
    let text = std::fs::read_to_string(schema.join(rel)).with_context(|| rel.to_owned())?;
    let doc: DdmDoc = serde_norway::from_str(&text).with_context(|| format!("parsing {rel}"))?;
    let raw: Yaml = serde_norway::from_str(&text).with_context(|| format!("parsing {rel}"))?;
    let p = &doc.payload;
    let tag = match kind {
        DdmKind::Declaration => p.declarationtype.clone(),
        DdmKind::Credential => p.credentialtype.clone(),
        DdmKind::Status => p.statusitemtype.clone().or(p.declarationtype.clone()),
        DdmKind::Protocol => p.requesttype.clone(),
    };
    let Some(tag) = tag else {
        bail!("{rel}: no type in `payload`");
    };
    let top = pascal(tag.strip_prefix("com.apple.").unwrap_or(&tag));
    let module = snake(&top);
    let mut l = Lowering {
        items: Vec::new(),
        schema_file: rel.to_owned(),
    };
    let mut code = String::new();
    let _ = writeln!(
        code,
        "/// `{tag}`: {} (from `{rel}`, upstream `{commit}`).\npub mod {module} {{\n\
         #![allow(unused_imports)]\nuse super::*;",
        doc.title.replace('`', "'")
    );
    let owned = matches!(kind, DdmKind::Status | DdmKind::Protocol);
    let mut keys = Vec::new();
    if kind == DdmKind::Status && tag != "status-reason" {
        // One key named like the item: its value is the status item's value.
        let Some(k) = doc.payloadkeys.first() else {
            bail!("{rel}: a status item without its value key");
        };
        let ty = l.lower_ty(&top, k, "payloadkeys");
        for it in &l.items {
            emit_item_json(&mut code, it, rel, owned);
        }
        let _ = writeln!(
            code,
            "/// The value of status item `{tag}` (`{}`).\npub type ItemValue = {};",
            k.ty,
            ty_json(&ty)
        );
        keys.push((k.key.clone(), k.ty.clone(), true));
    } else {
        l.reserve(&top, "payloadkeys");
        let kind_ = l.lower_struct(&top, &doc.payloadkeys, "payloadkeys");
        for it in &mut l.items {
            if it.name == top {
                it.kind = kind_.clone();
            }
        }
        for it in &l.items {
            emit_item_json(&mut code, it, rel, owned);
        }
        for k in &doc.payloadkeys {
            if !k.key.starts_with("ANY") {
                keys.push((
                    k.key.clone(),
                    k.ty.clone(),
                    k.presence.as_deref() == Some("required"),
                ));
            }
        }
    }
    let _ = writeln!(code, "}}");
    let mut refs = Vec::new();
    if let Some(pk) = raw.get("payloadkeys").and_then(Yaml::as_sequence) {
        asset_refs(pk, "", &mut refs);
    }
    Ok(Out {
        module,
        top,
        tag,
        file: rel.to_owned(),
        commit: commit.to_owned(),
        title: doc.title,
        availability: p
            .supported_os
            .as_ref()
            .map(describe_supported_os)
            .unwrap_or_default(),
        scopes: scopes(p.supported_os.as_ref()),
        asset_refs: refs,
        keys,
        n_keys: count_keys(&doc.payloadkeys),
        code,
    })
}

const PRELUDE: &str = "use std::collections::BTreeMap;\n\
    use serde::{Deserialize, Serialize};\n\
    use crate::schema::{KeyInfo, OsScopes, SchemaEntry};\n\
    use crate::value::{FromJson, JsonError, expect_object, field, field_owned, into_object, \
    optional_field, optional_field_owned, required};\n";

fn emit_entry(o: &Out) -> String {
    let keys: Vec<String> = o
        .keys
        .iter()
        .map(|(k, t, r)| {
            format!(
                "KeyInfo {{ name: {}, schema_type: {}, required: {r} }}",
                lit(k),
                lit(t)
            )
        })
        .collect();
    let scopes: Vec<String> = o
        .scopes
        .iter()
        .map(|(os, i, s, u)| {
            format!(
                "OsScopes {{ os: {}, introduced: {}, system: {s}, user: {u} }}",
                lit(os),
                lit(i)
            )
        })
        .collect();
    let refs: Vec<String> = o
        .asset_refs
        .iter()
        .map(|(p, t)| {
            let t: Vec<String> = t.iter().map(|x| lit(x)).collect();
            format!("({}, &[{}])", lit(p), t.join(", "))
        })
        .collect();
    format!(
        "SchemaEntry {{ name: {}, schema_path: {}, title: {}, availability: {}, keys: &[{}], \
         scopes: &[{}], asset_references: &[{}] }},",
        lit(&o.tag),
        lit(&o.file),
        lit(&o.title),
        lit(&o.availability),
        keys.join(", "),
        scopes.join(", "),
        refs.join(", ")
    )
}

struct Cat {
    module: &'static str,
    doc: &'static str,
    kind: DdmKind,
    files: Vec<String>,
    /// Name of the dispatch enum (`None`: no enum, only the table).
    dispatch: Option<&'static str>,
}

fn categories(schema: &Path) -> Result<Vec<Cat>> {
    let d = "declarative/declarations";
    let mut decl = Vec::new();
    for sub in ["activations", "assets", "configurations", "management"] {
        decl.extend(list_yaml(schema, &format!("{d}/{sub}"))?);
    }
    Ok(vec![
        Cat {
            module: "declarations",
            doc: "Every declaration type in `declarative/declarations` (activations, assets, \
                  configurations, management): its `Payload`.",
            kind: DdmKind::Declaration,
            files: decl,
            dispatch: Some("DeclarationPayload"),
        },
        Cat {
            module: "credentials",
            doc: "The credential schemas in `declarative/declarations/assets/credentials` (the \
                  data a credential asset points to).",
            kind: DdmKind::Credential,
            files: list_yaml(schema, &format!("{d}/assets/credentials"))?,
            dispatch: None,
        },
        Cat {
            module: "status",
            doc: "Every status item in `declarative/status`, and the status reason \
                  (`statusreason.yaml`).",
            kind: DdmKind::Status,
            files: list_yaml(schema, "declarative/status")?,
            dispatch: Some("StatusValue"),
        },
        Cat {
            module: "protocol",
            doc: "The protocol objects in `declarative/protocol`: TokensResponse, \
                  DeclarationItemsResponse, StatusReport.",
            kind: DdmKind::Protocol,
            files: list_yaml(schema, "declarative/protocol")?,
            dispatch: None,
        },
    ])
}

fn emit(cat: &Cat, outs: &[Out]) -> String {
    let inputs: Vec<(String, String)> = outs
        .iter()
        .map(|o| (o.file.clone(), o.commit.clone()))
        .collect();
    let mut s = header(&inputs);
    let _ = writeln!(
        s,
        "\n//! {}\n//!\n//! {} schema files, {} keys.\n\n\
         #![allow(unused_imports, clippy::large_enum_variant)]\n\n{PRELUDE}",
        cat.doc,
        outs.len(),
        outs.iter().map(|o| o.n_keys).sum::<usize>()
    );
    for o in outs {
        s.push_str(&o.code);
        if cat.kind != DdmKind::Status {
            let _ = writeln!(s, "pub use {}::{};", o.module, o.top);
        }
    }
    let _ = writeln!(
        s,
        "/// Every schema file in this module: its type, keys, scopes and asset references.\n\
         pub const ALL: &[SchemaEntry] = &["
    );
    for o in outs {
        s.push_str(&emit_entry(o));
    }
    let _ = writeln!(s, "];");
    let Some(name) = cat.dispatch else { return s };
    let outs: Vec<&Out> = outs.iter().filter(|o| o.tag != "status-reason").collect();
    let ty = |o: &Out| {
        if cat.kind == DdmKind::Status {
            format!("{}::ItemValue", o.module)
        } else {
            o.top.clone()
        }
    };
    let _ = writeln!(
        s,
        "/// A typed value for any type in this module.\n\
         #[derive(Debug, Clone, PartialEq)]\npub enum {name} {{"
    );
    for o in &outs {
        let _ = writeln!(s, "/// `{}`.\n{}({}),", o.tag, o.top, ty(o));
    }
    let _ = writeln!(
        s,
        "}}\nimpl {name} {{\n\
         /// Decode `value` as the type named `name`; `Ok(None)` when the schema has no such type.\n\
         ///\n/// # Errors\n/// The value does not have the schema's shape (a required key is \
         missing, a value has the wrong JSON type); the error names the key path.\n\
         pub fn decode(name: &str, value: &serde_json::Value) -> Result<Option<Self>, JsonError> {{\n\
         Ok(Some(match name {{"
    );
    for o in &outs {
        let _ = writeln!(
            s,
            "{} => Self::{}(FromJson::from_json(value)?),",
            lit(&o.tag),
            o.top
        );
    }
    let _ = writeln!(s, "_ => return Ok(None),\n}}))\n}}");
    if cat.kind == DdmKind::Status {
        let _ = writeln!(
            s,
            "/// [`{name}::decode`] taking `value` apart instead of copying it: the same checks \
             and errors.\n\
             ///\n/// # Errors\n/// As [`{name}::decode`].\n\
             pub fn decode_owned(name: &str, value: serde_json::Value) -> Result<Option<Self>, JsonError> {{\n\
             Ok(Some(match name {{"
        );
        for o in &outs {
            let _ = writeln!(
                s,
                "{} => Self::{}(FromJson::from_json_owned(value)?),",
                lit(&o.tag),
                o.top
            );
        }
        let _ = writeln!(s, "_ => return Ok(None),\n}}))\n}}");
    }
    let _ = writeln!(
        s,
        "/// The type name (declaration type or status item path).\n\
         pub fn name(&self) -> &'static str {{ match self {{"
    );
    for o in &outs {
        let _ = writeln!(s, "Self::{}(_) => {},", o.top, lit(&o.tag));
    }
    let _ = writeln!(
        s,
        "}} }}\n/// The value as JSON.\npub fn to_json(&self) -> serde_json::Value {{ match self {{"
    );
    for o in &outs {
        let _ = writeln!(
            s,
            "Self::{}(x) => serde_json::to_value(x).unwrap_or(serde_json::Value::Null),",
            o.top
        );
    }
    let _ = writeln!(s, "}} }}\n}}");
    s
}

/// Generate every DDM output file: (path relative to the output folder, contents).
pub fn generate(schema: &Path) -> Result<Vec<(String, String)>> {
    let commits = read_commits(schema)?;
    let mut files = Vec::new();
    let mut mods = Vec::new();
    let mut all_inputs = Vec::new();
    for cat in categories(schema)? {
        let mut outs = Vec::new();
        for rel in &cat.files {
            let commit = commits
                .get(rel)
                .with_context(|| format!("{rel}: no upstream commit in the schema README"))?;
            outs.push(lower(schema, rel, cat.kind, commit)?);
            all_inputs.push((rel.clone(), commit.clone()));
        }
        files.push((format!("{}.rs", cat.module), emit(&cat, &outs)));
        mods.push((cat.module, cat.doc));
    }
    let mut m = header(&all_inputs);
    m.push_str(
        "\n//! Types generated from Apple's declarative schema (see the header for inputs).\n\n",
    );
    for (module, doc) in mods {
        let _ = writeln!(m, "/// {doc}\npub mod {module};");
    }
    files.push(("mod.rs".to_owned(), m));
    Ok(files)
}

/// Generate into `out` and format with rustfmt.
pub fn write(schema: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    super::write_files(out, generate(schema)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed `ddm/src/generated` equals a fresh run of the generator.
    #[test]
    fn ddm_generated_code_is_fresh() {
        let vectors = crate::vectors_dir().expect("vectors");
        let schema = vectors.join(super::super::SCHEMA_DIR);
        let tmp = std::env::temp_dir().join(format!("admit-gen-ddm-{}", std::process::id()));
        let paths = write(&schema, &tmp).expect("generate");
        let committed = crate::repo_root().join("ddm/src/generated");
        let mut stale = Vec::new();
        for p in &paths {
            let name = p.file_name().unwrap_or_default();
            let fresh = std::fs::read_to_string(p).unwrap_or_default();
            let old = std::fs::read_to_string(committed.join(name)).unwrap_or_default();
            if fresh != old {
                stale.push(name.to_string_lossy().into_owned());
            }
        }
        let _ = std::fs::remove_dir_all(&tmp);
        assert!(
            stale.is_empty(),
            "ddm/src/generated is stale ({stale:?}): run `cargo xtask gen-apple` and commit"
        );
    }

    #[test]
    fn asset_reference_paths() {
        let vectors = crate::vectors_dir().expect("vectors");
        let schema = vectors.join(super::super::SCHEMA_DIR);
        let o = lower(
            &schema,
            "declarative/declarations/configurations/account.caldav.yaml",
            DdmKind::Declaration,
            "x",
        )
        .expect("lower");
        assert_eq!(
            o.asset_refs,
            vec![(
                "AuthenticationCredentialsAssetReference".to_owned(),
                vec!["com.apple.asset.credential.userpassword".to_owned()]
            )]
        );
        assert!(o.scopes.iter().any(|s| s.0 == "macOS" && s.3));
    }
}
