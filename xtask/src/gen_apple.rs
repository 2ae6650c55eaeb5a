//! `cargo xtask gen-apple`: Rust types from Apple's device-management YAML schema.
//!
//! Reads `<vectors>/apple-device-management-latest/` (per-file upstream commits from its
//! README) and writes `mdm-proto/src/generated/`, formatted with rustfmt. The generated code
//! carries names, types, presence and `supportedOS` data and points to the schema file; it never
//! copies Apple's prose (`content`, `description`, `notes` are not read).
//!
//! The pipeline is schema-kind neutral: [`Category`] says which files to read and how the
//! top-level types are named and wrapped, `lower_file` turns keys into an item list, and
//! `emit_category` writes items. A DDM output (declarations keyed by `declarationtype`, status items by
//! `statusitemtype`) is one more category table and one more output folder.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_norway::Value as Yaml;

pub mod ddm;

/// The schema folder below the vectors folder.
pub const SCHEMA_DIR: &str = "apple-device-management-latest";

// ---------------------------------------------------------------------------------------------
// YAML model (only the parts that carry structure; prose fields are ignored).

#[derive(Deserialize)]
struct Doc {
    title: String,
    payload: PayloadInfo,
    #[serde(default)]
    payloadkeys: Vec<Key>,
    #[serde(default)]
    responsekeys: Vec<Key>,
}

#[derive(Deserialize)]
struct PayloadInfo {
    requesttype: Option<String>,
    payloadtype: Option<String>,
    #[serde(rename = "supportedOS")]
    supported_os: Option<BTreeMap<String, Yaml>>,
}

#[derive(Deserialize, Clone)]
struct Key {
    key: String,
    #[serde(rename = "type")]
    ty: String,
    presence: Option<String>,
    rangelist: Option<Vec<Yaml>>,
    #[serde(default)]
    subkeys: Vec<Key>,
    subkeytype: Option<String>,
    #[serde(rename = "supportedOS")]
    supported_os: Option<BTreeMap<String, Yaml>>,
}

// ---------------------------------------------------------------------------------------------
// Categories.

/// How one schema folder becomes one generated module.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `mdm/commands`: request payload (`RequestType`) and response.
    Command,
    /// `mdm/checkin`: check-in message (`MessageType`) and its answer.
    CheckIn,
    /// `mdm/errors`, `mdm/profiles`, `other/`: one payload type per file.
    Payload,
}

/// One output module.
pub struct Category {
    /// Output file stem below the output folder.
    pub module: &'static str,
    /// Schema files, relative to the schema folder.
    pub files: Vec<String>,
    /// How top-level types are named.
    pub kind: Kind,
    /// Module doc line.
    pub doc: &'static str,
}

fn list_yaml(schema: &Path, dir: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(schema.join(dir)).with_context(|| format!("reading {dir}"))? {
        let name = e?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yaml") {
            out.push(format!("{dir}/{name}"));
        }
    }
    out.sort();
    Ok(out)
}

/// The categories of the `mdm-proto` output.
pub fn mdm_categories(schema: &Path) -> Result<Vec<Category>> {
    Ok(vec![
        Category {
            module: "commands",
            files: list_yaml(schema, "mdm/commands")?,
            kind: Kind::Command,
            doc: "Every MDM command in `mdm/commands`: request payload and response.",
        },
        Category {
            module: "checkin",
            files: list_yaml(schema, "mdm/checkin")?,
            kind: Kind::CheckIn,
            doc: "Every check-in message in `mdm/checkin`, and the answers that have keys.",
        },
        Category {
            module: "errors",
            files: list_yaml(schema, "mdm/errors")?,
            kind: Kind::Payload,
            doc: "Enrollment error bodies in `mdm/errors` (sent with HTTP 403 by a server).",
        },
        Category {
            module: "profiles",
            files: list_yaml(schema, "mdm/profiles")?,
            kind: Kind::Payload,
            doc: "Profile payloads in `mdm/profiles` (`TopLevel` is the profile itself).",
        },
        Category {
            module: "other",
            files: vec!["other/machineinfo.yaml".to_owned()],
            kind: Kind::Payload,
            doc: "`other/machineinfo.yaml`: the MachineInfo plist a device sends when it fetches \
                  an enrollment profile.",
        },
    ])
}

/// Per-file upstream commits from the schema README's "Per-file versions" table.
fn read_commits(schema: &Path) -> Result<BTreeMap<String, String>> {
    let readme = std::fs::read_to_string(schema.join("README.md")).context("schema README")?;
    let mut out = BTreeMap::new();
    for line in readme.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() >= 4 {
            let path = cells[1].trim_matches('`');
            let commit = cells[2].trim_matches('`');
            if path.ends_with(".yaml") && commit.len() == 12 {
                out.insert(path.to_owned(), commit.to_owned());
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Names.

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true", "type", "unsafe",
    "use", "where", "while", "abstract", "become", "box", "do", "final", "macro", "override",
    "priv", "try", "typeof", "unsized", "virtual", "yield",
];

fn words(s: &str) -> Vec<String> {
    // Split on non-alphanumerics and on lower→upper and ACRONYM→Word boundaries.
    let mut out = Vec::new();
    for part in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut cur = String::new();
        for i in 0..chars.len() {
            let c = chars[i];
            if i > 0 && !cur.is_empty() {
                let prev = chars[i - 1];
                // `UDIDList` splits before `List`; a plural acronym (`UUIDs`) does not split.
                let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
                    && !(chars.get(i + 1) == Some(&'s')
                        && chars.get(i + 2).is_none_or(|n| !n.is_ascii_lowercase()));
                let boundary = (c.is_ascii_uppercase()
                    && (prev.is_ascii_lowercase() || prev.is_ascii_digit()))
                    || (c.is_ascii_uppercase() && prev.is_ascii_uppercase() && next_lower);
                if boundary {
                    out.push(std::mem::take(&mut cur));
                }
            }
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

fn snake(s: &str) -> String {
    let w: Vec<String> = words(s).iter().map(|w| w.to_ascii_lowercase()).collect();
    let mut name = w.join("_");
    if name.is_empty() {
        name = "value".to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "n_");
    }
    if KEYWORDS.contains(&name.as_str()) {
        name.push('_');
    }
    name
}

fn pascal(s: &str) -> String {
    let mut name: String = words(s)
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    if name.is_empty() {
        name = "Empty".to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    if name == "Self" {
        name.push('_');
    }
    name
}

fn yaml_str(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

// ---------------------------------------------------------------------------------------------
// Intermediate representation.

#[derive(Clone, PartialEq, Eq, Debug)]
enum Ty {
    Str,
    Int,
    Real,
    Bool,
    Data,
    Date,
    Any,
    Dict,
    Vec(Box<Ty>),
    Map(Box<Ty>),
    Named(String),
}

impl Ty {
    fn rust(&self) -> String {
        match self {
            Ty::Str => "String".into(),
            Ty::Int => "i64".into(),
            Ty::Real => "f64".into(),
            Ty::Bool => "bool".into(),
            Ty::Data => "Data".into(),
            Ty::Date => "plist::Date".into(),
            Ty::Any => "plist::Value".into(),
            Ty::Dict => "plist::Dictionary".into(),
            Ty::Vec(t) => format!("Vec<{}>", t.rust()),
            Ty::Map(t) => format!("BTreeMap<String, {}>", t.rust()),
            Ty::Named(n) => n.clone(),
        }
    }
}

#[derive(Clone, PartialEq, Debug)]
struct Field {
    key: String,
    name: String,
    ty: Ty,
    required: bool,
    schema_required: bool,
    schema_type: String,
    supported_os: Option<String>,
    availability: String,
}

#[derive(Clone, PartialEq, Debug)]
enum ItemKind {
    Struct {
        fields: Vec<Field>,
        constants: Vec<(String, String)>,
        has_any: bool,
    },
    StrEnum(Vec<(String, String)>),
    IntEnum(Vec<(String, i64)>),
    Union {
        tag: String,
        variants: Vec<(String, String, String)>,
    },
}

#[derive(Clone, PartialEq, Debug)]
struct Item {
    name: String,
    /// Key path in the schema file, for docs (`responsekeys/QueryResponses`).
    path: String,
    kind: ItemKind,
}

struct Lowering {
    items: Vec<Item>,
    schema_file: String,
}

impl Lowering {
    /// Register an item under `candidates` (first free or identical wins); returns its name.
    fn register(&mut self, candidates: &[String], path: &str, kind: ItemKind) -> String {
        for c in candidates {
            match self.items.iter().find(|i| &i.name == c) {
                None => {
                    self.items.push(Item {
                        name: c.clone(),
                        path: path.to_owned(),
                        kind,
                    });
                    return c.clone();
                }
                Some(i) if i.kind == kind => return c.clone(),
                Some(_) => {}
            }
        }
        let base = candidates.last().cloned().unwrap_or_default();
        let mut n = 2;
        loop {
            let c = format!("{base}{n}");
            if !self.items.iter().any(|i| i.name == c) {
                self.items.push(Item {
                    name: c.clone(),
                    path: path.to_owned(),
                    kind,
                });
                return c;
            }
            n += 1;
        }
    }

    /// Reserve a name (top-level types) before nested types are lowered.
    fn reserve(&mut self, name: &str, path: &str) {
        self.items.push(Item {
            name: name.to_owned(),
            path: path.to_owned(),
            kind: ItemKind::Struct {
                fields: Vec::new(),
                constants: vec![("__reserved".into(), String::new())],
                has_any: false,
            },
        });
    }

    fn lower_ty(&mut self, parent: &str, key: &Key, path: &str) -> Ty {
        let here = format!("{path}/{}", key.key);
        let base = if key.key.starts_with("ANY") {
            format!("{parent}Value")
        } else {
            pascal(&key.key)
        };
        let candidates = |base: &str| vec![base.to_owned(), format!("{parent}{base}")];
        match key.ty.as_str() {
            "<string>" => {
                let values: Vec<String> = if let Some(r) = &key.rangelist {
                    r.iter().filter_map(yaml_str).collect()
                } else {
                    key.subkeys.iter().map(|k| k.key.clone()).collect()
                };
                if values.is_empty() {
                    return Ty::Str;
                }
                let mut seen = Vec::<String>::new();
                let mut variants = Vec::new();
                for v in values {
                    let mut id = pascal(&v);
                    if id == "Other" {
                        id = "OtherValue".into();
                    }
                    while seen.contains(&id) {
                        id.push('_');
                    }
                    seen.push(id.clone());
                    if !variants.iter().any(|(_, x): &(String, String)| x == &v) {
                        variants.push((id, v));
                    }
                }
                let name = self.register(&candidates(&base), &here, ItemKind::StrEnum(variants));
                Ty::Named(name)
            }
            "<integer>" => {
                let ints: Option<Vec<i64>> = key
                    .rangelist
                    .as_ref()
                    .map(|r| r.iter().filter_map(|v| v.as_i64()).collect::<Vec<i64>>());
                match ints {
                    Some(v)
                        if !v.is_empty()
                            && Some(v.len()) == key.rangelist.as_ref().map(Vec::len) =>
                    {
                        let variants = v
                            .iter()
                            .map(|i| {
                                let id = if *i < 0 {
                                    format!("Minus{}", i.unsigned_abs())
                                } else {
                                    format!("V{i}")
                                };
                                (id, *i)
                            })
                            .collect();
                        let name =
                            self.register(&candidates(&base), &here, ItemKind::IntEnum(variants));
                        Ty::Named(name)
                    }
                    _ => Ty::Int,
                }
            }
            "<real>" => Ty::Real,
            "<boolean>" => Ty::Bool,
            "<data>" => Ty::Data,
            "<date>" => Ty::Date,
            "<array>" => match key.subkeys.len() {
                0 => Ty::Vec(Box::new(Ty::Any)),
                1 => {
                    let item = &key.subkeys[0];
                    let t = self.lower_ty(&format!("{parent}{}", pascal(&key.key)), item, &here);
                    Ty::Vec(Box::new(t))
                }
                _ => {
                    // Alternatives (the Settings command): dictionaries told apart by `Item`.
                    let mut variants = Vec::new();
                    for alt in &key.subkeys {
                        let t = self.lower_ty(&base, alt, &here);
                        let Ty::Named(n) = t else {
                            return Ty::Vec(Box::new(Ty::Any));
                        };
                        variants.push((pascal(&alt.key), alt.key.clone(), n));
                    }
                    let name = self.register(
                        &candidates(&format!("{base}Item")),
                        &here,
                        ItemKind::Union {
                            tag: "Item".into(),
                            variants,
                        },
                    );
                    Ty::Vec(Box::new(Ty::Named(name)))
                }
            },
            "<dictionary>" => {
                let named: Vec<&Key> = key
                    .subkeys
                    .iter()
                    .filter(|k| !k.key.starts_with("ANY"))
                    .collect();
                let any = key.subkeys.iter().find(|k| k.key.starts_with("ANY"));
                if named.is_empty() {
                    return match any {
                        Some(a) => {
                            let t = self.lower_ty(&base, a, &here);
                            Ty::Map(Box::new(t))
                        }
                        None => Ty::Dict,
                    };
                }
                let mut c = Vec::new();
                if let Some(st) = &key.subkeytype {
                    c.push(st.clone());
                }
                c.extend(candidates(&base));
                let kind = self.lower_struct(&c[0], &key.subkeys, &here);
                let name = self.register(&c, &here, kind);
                Ty::Named(name)
            }
            _ => Ty::Any,
        }
    }

    fn lower_struct(&mut self, name: &str, keys: &[Key], path: &str) -> ItemKind {
        let mut fields: Vec<Field> = Vec::new();
        let mut constants = Vec::new();
        let mut has_any = false;
        for k in keys {
            if k.key.starts_with("ANY") {
                has_any = true;
                continue;
            }
            let schema_required = k.presence.as_deref() == Some("required");
            if schema_required
                && k.ty == "<string>"
                && let Some(v) = k
                    .rangelist
                    .as_ref()
                    .filter(|r| r.len() == 1)
                    .and_then(|r| yaml_str(&r[0]))
            {
                constants.push((k.key.clone(), v));
                continue;
            }
            // A key with its own supportedOS is required only where it applies (another OS,
            // another enrollment type), so in Rust it is optional; so are the errata keys.
            let conditional = k.supported_os.is_some()
                || ERRATA_OPTIONAL
                    .iter()
                    .any(|(f, p)| *f == self.schema_file && *p == format!("{path}/{}", k.key));
            let ty = self.lower_ty(name, k, path);
            let mut fname = snake(&k.key);
            while fname == "unknown" || fields.iter().any(|f| f.name == fname) {
                fname.push('_');
            }
            fields.push(Field {
                key: k.key.clone(),
                name: fname,
                ty,
                required: schema_required && !conditional,
                schema_required,
                schema_type: k.ty.clone(),
                supported_os: k.supported_os.as_ref().map(render_supported_os),
                availability: k
                    .supported_os
                    .as_ref()
                    .map(describe_supported_os)
                    .unwrap_or_default(),
            });
        }
        ItemKind::Struct {
            fields,
            constants,
            has_any,
        }
    }
}

/// Keys the schema marks required that devices leave out in one phase of the protocol: (schema
/// file, key path). They are generated as optional, and their docs say "required where available".
const ERRATA_OPTIONAL: &[(&str, &str)] = &[
    // The first UserAuthenticate of the digest exchange carries no DigestResponse.
    (
        "mdm/checkin/userauthenticate.yaml",
        "payloadkeys/DigestResponse",
    ),
];

// ---------------------------------------------------------------------------------------------
// supportedOS.

const OSES: &[(&str, &str, &str)] = &[
    ("iOS", "ios", "iOS"),
    ("macOS", "macos", "macOS"),
    ("tvOS", "tvos", "tvOS"),
    ("visionOS", "visionos", "visionOS"),
    ("watchOS", "watchos", "watchOS"),
];

fn render_mode(v: Option<&Yaml>) -> String {
    match v.and_then(yaml_str).as_deref() {
        Some("allowed") => "Some(Mode::Allowed)".into(),
        Some("required") => "Some(Mode::Required)".into(),
        Some("forbidden") => "Some(Mode::Forbidden)".into(),
        Some("ignored") => "Some(Mode::Ignored)".into(),
        _ => "None".into(),
    }
}

fn render_opt_str(v: Option<&Yaml>) -> String {
    match v.and_then(yaml_str) {
        Some(s) => format!("Some({})", lit(&s)),
        None => "None".into(),
    }
}

fn render_opt_bool(v: Option<&Yaml>) -> String {
    match v.and_then(Yaml::as_bool) {
        Some(b) => format!("Some({b})"),
        None => "None".into(),
    }
}

fn render_os(v: &Yaml) -> String {
    let g = |k: &str| v.get(k);
    let mut parts = Vec::new();
    for (yk, rk) in [
        ("introduced", "introduced"),
        ("deprecated", "deprecated"),
        ("removed", "removed"),
        ("accessrights", "access_rights"),
    ] {
        if g(yk).is_some() {
            parts.push(format!("{rk}: {}", render_opt_str(g(yk))));
        }
    }
    for (yk, rk) in [
        ("devicechannel", "device_channel"),
        ("userchannel", "user_channel"),
        ("supervised", "supervised"),
        ("requiresdep", "requires_dep"),
        ("userapprovedmdm", "user_approved_mdm"),
        ("multiple", "multiple"),
        ("allowmanualinstall", "allow_manual_install"),
    ] {
        if g(yk).is_some() {
            parts.push(format!("{rk}: {}", render_opt_bool(g(yk))));
        }
    }
    if let Some(s) = g("sharedipad") {
        parts.push(format!(
            "shared_ipad: Some(SharedIpad {{ mode: {}, device_channel: {}, user_channel: {} }})",
            render_mode(s.get("mode")),
            render_opt_bool(s.get("devicechannel")),
            render_opt_bool(s.get("userchannel"))
        ));
    }
    if let Some(u) = g("userenrollment") {
        parts.push(format!(
            "user_enrollment: Some(UserEnrollment {{ mode: {} }})",
            render_mode(u.get("mode"))
        ));
    }
    if parts.len() < 13 {
        parts.push("..OsSupport::EMPTY".into());
    }
    format!("OsSupport {{ {} }}", parts.join(", "))
}

fn render_supported_os(m: &BTreeMap<String, Yaml>) -> String {
    let mut parts = Vec::new();
    for (yk, rk, _) in OSES {
        if let Some(v) = m.get(*yk) {
            parts.push(format!("{rk}: Some({})", render_os(v)));
        }
    }
    if parts.len() < OSES.len() {
        parts.push("..SupportedOs::EMPTY".into());
    }
    format!("SupportedOs {{ {} }}", parts.join(", "))
}

/// A one-line summary: `iOS 4.0, macOS 10.7 (device channel), tvOS n/a`.
fn describe_supported_os(m: &BTreeMap<String, Yaml>) -> String {
    let mut parts = Vec::new();
    for (yk, _, label) in OSES {
        let Some(v) = m.get(*yk) else { continue };
        let mut s = label.to_string();
        if let Some(i) = v.get("introduced").and_then(yaml_str) {
            let _ = write!(s, " {i}");
        }
        let mut notes = Vec::new();
        if let Some(d) = v.get("deprecated").and_then(yaml_str) {
            notes.push(format!("deprecated {d}"));
        }
        if let Some(r) = v.get("removed").and_then(yaml_str) {
            notes.push(format!("removed {r}"));
        }
        if v.get("supervised").and_then(Yaml::as_bool) == Some(true) {
            notes.push("supervised".into());
        }
        if v.get("requiresdep").and_then(Yaml::as_bool) == Some(true) {
            notes.push("ADE".into());
        }
        if v.get("userchannel").and_then(Yaml::as_bool) == Some(true) {
            notes.push("user channel".into());
        }
        if v.get("devicechannel").and_then(Yaml::as_bool) == Some(false) {
            notes.push("not on the device channel".into());
        }
        if let Some(m) = v
            .get("userenrollment")
            .and_then(|u| u.get("mode"))
            .and_then(yaml_str)
        {
            notes.push(format!("user enrollment {m}"));
        }
        if !notes.is_empty() {
            let _ = write!(s, " ({})", notes.join(", "));
        }
        parts.push(s);
    }
    parts.join("; ")
}

// ---------------------------------------------------------------------------------------------
// Emission.

fn emit_item(out: &mut String, item: &Item, schema_file: &str, extra_doc: &str) {
    match &item.kind {
        ItemKind::Struct {
            fields,
            constants,
            has_any,
        } => emit_struct(
            out,
            &item.name,
            &item.path,
            fields,
            constants,
            *has_any,
            schema_file,
            extra_doc,
        ),
        ItemKind::StrEnum(variants) => {
            let _ = writeln!(
                out,
                "/// Values of `{}` (`<string>`, an open list: unlisted values are kept in `Other`).\n\
                 ///\n/// Schema: `{schema_file}`, `{}`.",
                item.path.rsplit('/').next().unwrap_or_default(),
                item.path
            );
            let _ = writeln!(
                out,
                "#[derive(Debug, Clone, PartialEq, Eq, Hash)]\npub enum {} {{",
                item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "/// `{v}`.\n{id},");
            }
            let _ = writeln!(
                out,
                "/// A value the schema does not list.\nOther(String),\n}}"
            );
            let _ = writeln!(
                out,
                "impl {n} {{\n/// The string as sent.\npub fn as_str(&self) -> &str {{ match self {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "Self::{id} => {},", lit(v));
            }
            let _ = writeln!(out, "Self::Other(s) => s, }} }}\n}}");
            let _ = writeln!(
                out,
                "impl From<String> for {n} {{ fn from(s: String) -> Self {{ match s.as_str() {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "{} => Self::{id},", lit(v));
            }
            let _ = writeln!(out, "_ => Self::Other(s), }} }} }}");
            let _ = writeln!(
                out,
                "impl FromPlist for {n} {{ fn from_plist(v: Value) -> Result<Self> {{ \
                 String::from_plist(v).map(Self::from) }} }}\n\
                 impl ToPlist for {n} {{ fn to_plist(&self) -> Value {{ \
                 Value::String(self.as_str().to_owned()) }} }}",
                n = item.name
            );
        }
        ItemKind::IntEnum(variants) => {
            let _ = writeln!(
                out,
                "/// Values of `{}` (`<integer>`, an open list: unlisted values are kept in `Other`).\n\
                 ///\n/// Schema: `{schema_file}`, `{}`.",
                item.path.rsplit('/').next().unwrap_or_default(),
                item.path
            );
            let _ = writeln!(
                out,
                "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]\npub enum {} {{",
                item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "/// `{v}`.\n{id},");
            }
            let _ = writeln!(
                out,
                "/// A value the schema does not list.\nOther(i64),\n}}"
            );
            let _ = writeln!(
                out,
                "impl {n} {{\n/// The integer as sent.\npub fn value(&self) -> i64 {{ match self {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "Self::{id} => {v},");
            }
            let _ = writeln!(out, "Self::Other(v) => *v, }} }}\n}}");
            let _ = writeln!(
                out,
                "impl From<i64> for {n} {{ fn from(v: i64) -> Self {{ match v {{",
                n = item.name
            );
            for (id, v) in variants {
                let _ = writeln!(out, "{v} => Self::{id},");
            }
            let _ = writeln!(out, "_ => Self::Other(v), }} }} }}");
            let _ = writeln!(
                out,
                "impl FromPlist for {n} {{ fn from_plist(v: Value) -> Result<Self> {{ \
                 i64::from_plist(v).map(Self::from) }} }}\n\
                 impl ToPlist for {n} {{ fn to_plist(&self) -> Value {{ \
                 Value::Integer(self.value().into()) }} }}",
                n = item.name
            );
        }
        ItemKind::Union { tag, variants } => {
            let _ = writeln!(
                out,
                "/// One element of `{}`: a dictionary whose `{tag}` key names its shape.\n\
                 ///\n/// Schema: `{schema_file}`, `{}`.",
                item.path.rsplit('/').next().unwrap_or_default(),
                item.path
            );
            let _ = writeln!(
                out,
                "#[derive(Debug, Clone, PartialEq)]\npub enum {} {{",
                item.name
            );
            for (id, v, ty) in variants {
                let _ = writeln!(out, "/// `{tag}` = `{v}`.\n{id}({ty}),");
            }
            let _ = writeln!(
                out,
                "/// An `{tag}` the schema does not list, kept as sent.\nOther(plist::Dictionary),\n}}"
            );
            let _ = writeln!(
                out,
                "impl FromPlist for {n} {{ fn from_plist(v: Value) -> Result<Self> {{\n\
                 let d = expect_dict(v)?;\n\
                 let tag = d.get({t}).and_then(Value::as_string).map(str::to_owned);\n\
                 match tag.as_deref() {{",
                n = item.name,
                t = lit(tag)
            );
            for (id, v, ty) in variants {
                let _ = writeln!(
                    out,
                    "Some({}) => {ty}::from_plist(Value::Dictionary(d)).map(Self::{id}),",
                    lit(v)
                );
            }
            let _ = writeln!(out, "_ => Ok(Self::Other(d)), }} }} }}");
            let _ = writeln!(
                out,
                "impl ToPlist for {n} {{ fn to_plist(&self) -> Value {{ match self {{",
                n = item.name
            );
            for (id, _, _) in variants {
                let _ = writeln!(out, "Self::{id}(x) => x.to_plist(),");
            }
            let _ = writeln!(
                out,
                "Self::Other(d) => Value::Dictionary(d.clone()), }} }} }}"
            );
        }
    }
}

fn defaultable(f: &Field) -> bool {
    !f.required
        || matches!(
            f.ty,
            Ty::Str | Ty::Int | Ty::Real | Ty::Bool | Ty::Data | Ty::Dict | Ty::Vec(_) | Ty::Map(_)
        )
}

#[allow(clippy::too_many_arguments)]
fn emit_struct(
    out: &mut String,
    name: &str,
    path: &str,
    fields: &[Field],
    constants: &[(String, String)],
    has_any: bool,
    schema_file: &str,
    extra_doc: &str,
) {
    let _ = writeln!(out, "/// `{path}` in `{schema_file}`.\n///");
    if !extra_doc.is_empty() {
        let _ = writeln!(out, "{extra_doc}///");
    }
    let _ = writeln!(out, "/// ```text\n/// <dict>");
    for (k, v) in constants {
        let _ = writeln!(out, "///   {k:<28} <string>      = {v}");
    }
    for f in fields {
        let presence = if f.schema_required {
            "required"
        } else {
            "optional"
        };
        let _ = writeln!(out, "///   {:<28} {:<13} {presence}", f.key, f.schema_type);
    }
    if has_any {
        let _ = writeln!(
            out,
            "///   ANY                          (dynamic keys, kept in `unknown`)"
        );
    }
    let _ = writeln!(out, "/// </dict>\n/// ```");
    let derive_default = fields.iter().all(defaultable) && constants.is_empty();
    let _ = writeln!(
        out,
        "#[derive(Debug, Clone, PartialEq{})]\npub struct {name} {{",
        if derive_default { ", Default" } else { "" }
    );
    for f in fields {
        let presence = if f.required {
            "required"
        } else if f.schema_required {
            "required where available"
        } else {
            "optional"
        };
        let avail = if f.availability.is_empty() {
            String::new()
        } else {
            format!(" Availability: {}.", f.availability)
        };
        let ty = if f.required {
            f.ty.rust()
        } else {
            format!("Option<{}>", f.ty.rust())
        };
        let _ = writeln!(
            out,
            "/// `{}`: `{}`, {presence}.{avail}\npub {}: {ty},",
            f.key, f.schema_type, f.name
        );
    }
    let _ = writeln!(
        out,
        "/// Keys the schema does not list, kept as sent and written back unchanged.\n\
         pub unknown: plist::Dictionary,\n}}"
    );
    // KEYS table.
    let _ = writeln!(
        out,
        "impl {name} {{\n/// The keys the schema lists for this dictionary, in schema order.\n\
         pub const KEYS: &'static [KeyInfo] = &["
    );
    for (k, _) in constants {
        let _ = writeln!(
            out,
            "KeyInfo {{ name: {}, schema_type: \"<string>\", required: true, supported_os: None }},",
            lit(k)
        );
    }
    for f in fields {
        let _ = writeln!(
            out,
            "KeyInfo {{ name: {}, schema_type: {}, required: {}, supported_os: {} }},",
            lit(&f.key),
            lit(&f.schema_type),
            f.schema_required,
            f.supported_os
                .as_ref()
                .map_or("None".to_owned(), |s| format!("Some({s})"))
        );
    }
    let _ = writeln!(out, "];\n}}");
    // FromPlist.
    if fields.is_empty() && constants.is_empty() {
        let _ = writeln!(
            out,
            "impl FromPlist for {name} {{\nfn from_plist(v: Value) -> Result<Self> {{\n\
             Ok(Self {{ unknown: expect_dict(v)? }})\n}}\n}}"
        );
    } else {
        let _ = writeln!(
            out,
            "impl FromPlist for {name} {{\nfn from_plist(v: Value) -> Result<Self> {{\n\
         let d = expect_dict(v)?;\nlet mut unknown = plist::Dictionary::new();"
        );
        for f in fields {
            let _ = writeln!(
                out,
                "let mut f_{}: Option<{}> = None;",
                f.name.trim_end_matches('_'),
                f.ty.rust()
            );
        }
        for (i, _) in constants.iter().enumerate() {
            let _ = writeln!(out, "let mut c_{i}: Option<Value> = None;");
        }
        // (key, statement) for every known key.
        let mut arms: Vec<(String, String)> = fields
            .iter()
            .map(|f| {
                (
                    f.key.clone(),
                    format!(
                        "f_{} = Some(field(v, {})?);",
                        f.name.trim_end_matches('_'),
                        lit(&f.key)
                    ),
                )
            })
            .collect();
        for (i, (k, _)) in constants.iter().enumerate() {
            arms.push((k.clone(), format!("c_{i} = Some(v);")));
        }
        if arms.len() <= 8 {
            let _ = writeln!(out, "for (k, v) in d {{\nmatch k.as_str() {{");
            for (k, stmt) in &arms {
                let _ = writeln!(out, "{} => {{ {stmt} }}", lit(k));
            }
            let _ = writeln!(out, "_ => {{ unknown.insert(k, v); }}\n}}\n}}");
        } else {
            // Many keys: dispatch on the key's length first, so each key is compared only with
            // the keys of its length (a plain string match compares them one after another).
            let mut by_len: BTreeMap<usize, Vec<&(String, String)>> = BTreeMap::new();
            for a in &arms {
                by_len.entry(a.0.len()).or_default().push(a);
            }
            let _ = writeln!(out, "for (k, v) in d {{\nmatch k.len() {{");
            for (len, group) in &by_len {
                if let [(key, stmt)] = group.as_slice() {
                    let _ = writeln!(out, "{len} if k == {} => {{ {stmt} continue; }}", lit(key));
                } else {
                    let _ = writeln!(out, "{len} => match k.as_str() {{");
                    for (key, stmt) in group {
                        let _ = writeln!(out, "{} => {{ {stmt} continue; }}", lit(key));
                    }
                    let _ = writeln!(out, "_ => {{}}\n}},");
                }
            }
            let _ = writeln!(out, "_ => {{}}\n}}\nunknown.insert(k, v);\n}}");
        }
        for (i, (k, v)) in constants.iter().enumerate() {
            let _ = writeln!(out, "constant(c_{i}, {}, {})?;", lit(k), lit(v));
        }
        let _ = writeln!(out, "Ok(Self {{");
        for f in fields {
            let local = format!("f_{}", f.name.trim_end_matches('_'));
            if f.required {
                let _ = writeln!(out, "{}: required({local}, {})?,", f.name, lit(&f.key));
            } else {
                let _ = writeln!(out, "{}: {local},", f.name);
            }
        }
        let _ = writeln!(out, "unknown,\n}})\n}}\n}}");
    }
    // ToPlist.
    let _ = writeln!(
        out,
        "impl ToPlist for {name} {{\nfn to_plist(&self) -> Value {{\n\
         let mut d = plist::Dictionary::new();"
    );
    for (k, v) in constants {
        let _ = writeln!(
            out,
            "d.insert({}.to_owned(), Value::String({}.to_owned()));",
            lit(k),
            lit(v)
        );
    }
    for f in fields {
        if f.required {
            let _ = writeln!(
                out,
                "d.insert({}.to_owned(), self.{}.to_plist());",
                lit(&f.key),
                f.name
            );
        } else {
            let _ = writeln!(
                out,
                "if let Some(x) = &self.{} {{ d.insert({}.to_owned(), x.to_plist()); }}",
                f.name,
                lit(&f.key)
            );
        }
    }
    let _ = writeln!(
        out,
        "for (k, v) in &self.unknown {{ d.insert(k.clone(), v.clone()); }}\n\
         Value::Dictionary(d)\n}}\n}}"
    );
}

// ---------------------------------------------------------------------------------------------
// One schema file → one module.

struct Lowered {
    module: String,
    /// Top-level type names: (request or payload, response).
    top: String,
    response: Option<String>,
    request_type: Option<String>,
    file: String,
    commit: String,
    title: String,
    supported_os: String,
    availability: String,
    code: String,
    keys: usize,
}

fn lower_file(schema: &Path, rel: &str, kind: Kind, commit: &str) -> Result<Lowered> {
    let text = std::fs::read_to_string(schema.join(rel)).with_context(|| rel.to_owned())?;
    let doc: Doc = serde_norway::from_str(&text).with_context(|| format!("parsing {rel}"))?;
    let stem = Path::new(rel)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned();
    let (top, response, request_type) = match kind {
        Kind::Command | Kind::CheckIn => {
            let Some(rt) = doc.payload.requesttype.clone() else {
                bail!("{rel}: no payload.requesttype");
            };
            let top = pascal(&rt);
            (top.clone(), Some(format!("{top}Response")), Some(rt))
        }
        Kind::Payload => {
            // The file stem names the type; the payload type's spelling wins when it is the
            // same word (`machineinfo` → `MachineInfo`).
            let pt = doc.payload.payloadtype.clone();
            let base = match &pt {
                Some(p) if p.eq_ignore_ascii_case(&stem) => p.clone(),
                _ => stem.clone(),
            };
            let base = base.strip_prefix("com.apple.").unwrap_or(&base).to_owned();
            (pascal(&base), None, pt)
        }
    };
    let module = snake(&top);
    let supported_os = doc
        .payload
        .supported_os
        .as_ref()
        .map_or("SupportedOs::EMPTY".to_owned(), render_supported_os);
    let availability = doc
        .payload
        .supported_os
        .as_ref()
        .map(describe_supported_os)
        .unwrap_or_default();
    let mut l = Lowering {
        items: Vec::new(),
        schema_file: rel.to_owned(),
    };
    l.reserve(&top, "payloadkeys");
    if let Some(r) = &response {
        l.reserve(r, "responsekeys");
    }
    let req_kind = l.lower_struct(&top, &doc.payloadkeys, "payloadkeys");
    let resp_kind = response
        .as_ref()
        .map(|r| l.lower_struct(r, &doc.responsekeys, "responsekeys"));
    for it in &mut l.items {
        if it.name == top {
            it.kind = req_kind.clone();
        } else if Some(&it.name) == response.as_ref()
            && let Some(k) = &resp_kind
        {
            it.kind = k.clone();
        }
    }
    let keys = count_keys(&doc.payloadkeys) + count_keys(&doc.responsekeys);

    let mut code = String::new();
    let what = match kind {
        Kind::Command => "command",
        Kind::CheckIn => "check-in",
        Kind::Payload => "payload",
    };
    let _ = writeln!(
        code,
        "/// `{}`: {title} ({what}), from `{rel}` (upstream `{commit}`).\npub mod {module} {{\n\
         #![allow(unused_imports)]\n\
         use super::*;",
        request_type.as_deref().unwrap_or(&stem),
        title = doc.title.replace('`', "'"),
    );
    let top_doc = format!(
        "/// {} `{}`. Availability: {}.\n",
        match kind {
            Kind::Command => "Request payload (the `Command` dictionary) of",
            Kind::CheckIn => "Check-in message",
            Kind::Payload => "Payload",
        },
        request_type.as_deref().unwrap_or(&stem),
        if availability.is_empty() {
            "not stated"
        } else {
            &availability
        }
    );
    for it in &l.items {
        let extra = if it.name == top {
            top_doc.as_str()
        } else if Some(&it.name) == response.as_ref() {
            match kind {
                Kind::Command => {
                    "/// Result keys of the command (beside `Status`, `CommandUUID` and the channel IDs).\n"
                }
                _ => "/// The server's answer to this check-in.\n",
            }
        } else {
            ""
        };
        emit_item(&mut code, it, &l.schema_file, extra);
    }
    let _ = writeln!(
        code,
        "impl {top} {{\n/// Where this type comes from.\npub const SCHEMA_PATH: &'static str = {};\n\
         /// The payload's `supportedOS`.\npub const SUPPORTED_OS: SupportedOs = {supported_os};\n}}",
        lit(rel)
    );
    match kind {
        Kind::Command => {
            let _ = writeln!(
                code,
                "impl crate::command::CommandSchema for {top} {{\n\
                 const REQUEST_TYPE: &'static str = {};\ntype Response = {};\n\
                 const SCHEMA_PATH: &'static str = {};\n\
                 const SUPPORTED_OS: SupportedOs = {top}::SUPPORTED_OS;\n}}",
                lit(request_type.as_deref().unwrap_or_default()),
                response.as_deref().unwrap_or_default(),
                lit(rel)
            );
        }
        Kind::CheckIn => {
            let _ = writeln!(
                code,
                "impl crate::checkin::CheckInSchema for {top} {{\n\
                 const MESSAGE_TYPE: &'static str = {};\ntype Response = {};\n\
                 const SCHEMA_PATH: &'static str = {};\n}}",
                lit(request_type.as_deref().unwrap_or_default()),
                response.as_deref().unwrap_or_default(),
                lit(rel)
            );
        }
        Kind::Payload => {}
    }
    let _ = writeln!(code, "}}");
    Ok(Lowered {
        module,
        top,
        response,
        request_type,
        file: rel.to_owned(),
        commit: commit.to_owned(),
        title: doc.title,
        supported_os,
        availability,
        code,
        keys,
    })
}

fn count_keys(keys: &[Key]) -> usize {
    keys.iter().map(|k| 1 + count_keys(&k.subkeys)).sum()
}

const PRELUDE: &str = "use std::collections::BTreeMap;\n\
    use plist::Value;\n\
    use crate::availability::{KeyInfo, Mode, OsSupport, SchemaEntry, SharedIpad, SupportedOs, UserEnrollment};\n\
    use crate::error::Result;\n\
    use crate::value::{constant, expect_dict, field, required, Data, FromPlist, ToPlist};\n";

fn header(inputs: &[(String, String)]) -> String {
    let mut s = String::from(
        "// @generated by `cargo xtask gen-apple` from Apple's device-management YAML schema\n\
         // (`apple-device-management-latest` in the shared vectors). Do not edit: change the\n\
         // generator (xtask/src/gen_apple.rs) and run it again.\n//\n\
         // Input files and the upstream commit (12 hex) each was taken at:\n",
    );
    for (f, c) in inputs {
        let _ = writeln!(s, "//   {c}  {f}");
    }
    s
}

fn emit_category(cat: &Category, lowered: &[Lowered]) -> String {
    let inputs: Vec<(String, String)> = lowered
        .iter()
        .map(|l| (l.file.clone(), l.commit.clone()))
        .collect();
    let mut out = header(&inputs);
    let _ = writeln!(
        out,
        "\n//! {}\n//!\n//! {} schema files, {} keys.\n\n\
         // One prelude serves every generated module, so not every import is used in each; and \
         the\n// typed-payload enums hold schema structs of very different sizes by design.\n\
         #![allow(unused_imports, clippy::large_enum_variant)]\n\n{PRELUDE}",
        cat.doc,
        lowered.len(),
        lowered.iter().map(|l| l.keys).sum::<usize>()
    );
    for l in lowered {
        out.push_str(&l.code);
        let mut names = vec![l.top.clone()];
        names.extend(l.response.clone());
        let _ = writeln!(out, "pub use {}::{{{}}};", l.module, names.join(", "));
    }
    match cat.kind {
        Kind::Command => emit_dispatch(&mut out, lowered, "Command", "RequestType"),
        Kind::CheckIn => emit_dispatch(&mut out, lowered, "CheckIn", "MessageType"),
        Kind::Payload => {
            let _ = writeln!(
                out,
                "/// Every payload in this module: (type name, payload type when the schema \
                 names one, schema file).\npub const ALL: &[(&str, Option<&str>, &str)] = &["
            );
            for l in lowered {
                let _ = writeln!(
                    out,
                    "({}, {}, {}),",
                    lit(&l.top),
                    l.request_type
                        .as_ref()
                        .map_or("None".to_owned(), |r| format!("Some({})", lit(r))),
                    lit(&l.file)
                );
            }
            let _ = writeln!(out, "];");
        }
    }
    out
}

fn emit_dispatch(out: &mut String, lowered: &[Lowered], what: &str, tag: &str) {
    let _ = writeln!(
        out,
        "/// Every `{tag}` in this module with its schema file, title and availability summary.\n\
         pub const ALL: &[SchemaEntry] = &["
    );
    for l in lowered {
        let _ = writeln!(
            out,
            "SchemaEntry {{ name: {}, schema_path: {}, title: {}, availability: {}, supported_os: {} }},",
            lit(l.request_type.as_deref().unwrap_or_default()),
            lit(&l.file),
            lit(&l.title),
            lit(&l.availability),
            l.supported_os
        );
    }
    let _ = writeln!(out, "];");
    for (suffix, doc, from) in [
        ("", "A typed payload", "top"),
        ("Response", "A typed answer", "response"),
    ] {
        let enum_name = format!(
            "{what}{}",
            if suffix.is_empty() { "Payload" } else { suffix }
        );
        let _ = writeln!(
            out,
            "/// {doc} for any `{tag}` in the schema.\n\
             #[derive(Debug, Clone, PartialEq)]\npub enum {enum_name} {{"
        );
        for l in lowered {
            let ty = if from == "top" {
                l.top.clone()
            } else {
                l.response.clone().unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "/// `{}`.\n{}({ty}),",
                l.request_type.as_deref().unwrap_or_default(),
                l.top
            );
        }
        let _ = writeln!(out, "}}");
        let _ = writeln!(
            out,
            "impl {enum_name} {{\n\
             /// Decode `value` as the type for `{tag}` `name`; `Ok(None)` when the schema has no such \
             `{tag}`.\n\
             pub fn decode(name: &str, value: Value) -> Result<Option<Self>> {{\nOk(Some(match name {{"
        );
        for l in lowered {
            let ty = if from == "top" {
                l.top.clone()
            } else {
                l.response.clone().unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "{} => Self::{}({ty}::from_plist(value)?),",
                lit(l.request_type.as_deref().unwrap_or_default()),
                l.top
            );
        }
        let _ = writeln!(
            out,
            "_ => return Ok(None),\n}}))\n}}\n\
             /// The `{tag}` this value belongs to.\npub fn name(&self) -> &'static str {{ match self {{"
        );
        for l in lowered {
            let _ = writeln!(
                out,
                "Self::{}(_) => {},",
                l.top,
                lit(l.request_type.as_deref().unwrap_or_default())
            );
        }
        let _ = writeln!(out, "}} }}\n}}");
        for l in lowered {
            let ty = if from == "top" {
                l.top.clone()
            } else {
                l.response.clone().unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "impl From<{ty}> for {enum_name} {{ fn from(x: {ty}) -> Self {{ Self::{}(x) }} }}",
                l.top
            );
        }
        let _ = writeln!(
            out,
            "impl ToPlist for {enum_name} {{ fn to_plist(&self) -> Value {{ match self {{"
        );
        for l in lowered {
            let _ = writeln!(out, "Self::{}(x) => x.to_plist(),", l.top);
        }
        let _ = writeln!(out, "}} }} }}");
    }
}

/// Generate every output file: (path relative to the output folder, contents before rustfmt).
pub fn generate(schema: &Path) -> Result<Vec<(String, String)>> {
    let commits = read_commits(schema)?;
    let mut files = Vec::new();
    let mut mods = Vec::new();
    let mut all_inputs = Vec::new();
    for cat in mdm_categories(schema)? {
        let mut lowered = Vec::new();
        for rel in &cat.files {
            let commit = commits
                .get(rel)
                .with_context(|| format!("{rel}: no upstream commit in the schema README"))?;
            lowered.push(lower_file(schema, rel, cat.kind, commit)?);
            all_inputs.push((rel.clone(), commit.clone()));
        }
        files.push((format!("{}.rs", cat.module), emit_category(&cat, &lowered)));
        mods.push((cat.module, cat.doc));
    }
    let mut m = header(&all_inputs);
    m.push_str("\n//! Types generated from Apple's device-management schema (see the header for inputs).\n\n");
    for (module, doc) in mods {
        let _ = writeln!(m, "/// {doc}\npub mod {module};");
    }
    files.push(("mod.rs".to_owned(), m));
    Ok(files)
}

/// Generate into `out` (created if needed) and format the files with rustfmt.
pub fn write(schema: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    write_files(out, generate(schema)?)
}

/// Write generated `files` into `out` (created if needed) and format them with rustfmt.
fn write_files(out: &Path, files: Vec<(String, String)>) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut paths = Vec::new();
    for (name, text) in files {
        let p = out.join(name);
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
        paths.push(p);
    }
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024"])
        .args(&paths)
        .status()
        .context("running rustfmt")?;
    if !status.success() {
        bail!("rustfmt failed on the generated code in {}", out.display());
    }
    Ok(paths)
}

/// `cargo xtask gen-apple`: regenerate `mdm-proto/src/generated/` and `ddm/src/generated/`.
pub fn run(vectors: &Path, repo: &Path) -> Result<()> {
    let schema = vectors.join(SCHEMA_DIR);
    let out = repo.join("mdm-proto/src/generated");
    let mut paths = write(&schema, &out)?;
    paths.extend(ddm::write(&schema, &repo.join("ddm/src/generated"))?);
    for p in paths {
        println!("wrote {}", p.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(snake("OSVersion"), "os_version");
        assert_eq!(snake("iTunesStoreID"), "i_tunes_store_id");
        assert_eq!(snake("IsMDMLostModeEnabled"), "is_mdm_lost_mode_enabled");
        assert_eq!(snake("Type"), "type_");
        assert_eq!(
            snake("ServerURLPinningCertificateUUIDs"),
            "server_url_pinning_certificate_uuids"
        );
        assert_eq!(snake("UDIDList"), "udid_list");
        assert_eq!(pascal("com.apple.psso.required"), "ComApplePssoRequired");
        assert_eq!(pascal("DeviceLock"), "DeviceLock");
        assert_eq!(pascal("802.1x"), "V8021x");
    }

    /// The committed code equals a fresh run of the generator (in a temp dir).
    #[test]
    fn generated_code_is_fresh() {
        let vectors = crate::vectors_dir().expect("vectors");
        let schema = vectors.join(SCHEMA_DIR);
        let tmp = std::env::temp_dir().join(format!("admit-gen-apple-{}", std::process::id()));
        let paths = write(&schema, &tmp).expect("generate");
        let committed = crate::repo_root().join("mdm-proto/src/generated");
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
            "mdm-proto/src/generated is stale ({stale:?}): run `cargo xtask gen-apple` and commit"
        );
    }
}
