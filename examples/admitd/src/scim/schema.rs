//! The schemas the directory serves and enforces: RFC 7643's User and Group (from the
//! `scim_v2` crate's embedded definitions) and our POSIX extensions.
//!
//! ```text
//! User   urn:ietf:params:scim:schemas:core:2.0:User
//!        + urn:admit:params:scim:schemas:extension:posix:1.0:User   { uidNumber, gidNumber }
//! Group  urn:ietf:params:scim:schemas:core:2.0:Group   (displayName REQUIRED, RFC 7643 §4.2)
//!        + urn:admit:params:scim:schemas:extension:posix:1.0:Group  { gidNumber }
//! ```

use std::sync::OnceLock;

use serde_json::{Value, json};

/// The core User schema URN.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Our POSIX extension of User.
pub const POSIX_USER: &str = "urn:admit:params:scim:schemas:extension:posix:1.0:User";
/// Our POSIX extension of Group.
pub const POSIX_GROUP: &str = "urn:admit:params:scim:schemas:extension:posix:1.0:Group";

/// One attribute definition (RFC 7643 §7), as the engine reads it.
#[derive(Debug, Clone)]
pub struct Attr {
    /// The name in its canonical case.
    pub name: String,
    /// `string`, `boolean`, `integer`, `decimal`, `dateTime`, `binary`, `reference`, `complex`.
    pub ty: String,
    /// Multi-valued.
    pub multi: bool,
    /// REQUIRED.
    pub required: bool,
    /// `readOnly`, `readWrite`, `immutable`, `writeOnly`.
    pub mutability: String,
    /// `always`, `never`, `default`, `request`.
    pub returned: String,
    /// Strings compare case-sensitively.
    pub case_exact: bool,
    /// Sub-attributes of a complex attribute.
    pub sub: Vec<Attr>,
}

impl Attr {
    fn from_json(v: &Value) -> Attr {
        let s = |k: &str, d: &str| v.get(k).and_then(Value::as_str).unwrap_or(d).to_owned();
        let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        Attr {
            name: s("name", ""),
            ty: s("type", "string"),
            multi: b("multiValued"),
            required: b("required"),
            mutability: s("mutability", "readWrite"),
            returned: s("returned", "default"),
            case_exact: b("caseExact"),
            sub: v
                .get("subAttributes")
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Attr::from_json).collect())
                .unwrap_or_default(),
        }
    }

    /// The sub-attribute `name` (case-insensitive).
    pub fn sub_attr(&self, name: &str) -> Option<&Attr> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Clients may not set it.
    pub fn read_only(&self) -> bool {
        self.mutability == "readOnly"
    }
}

/// The schema of one resource type: core attributes and extensions.
#[derive(Debug, Clone)]
pub struct Resource {
    /// `User` or `Group`.
    pub name: &'static str,
    /// The endpoint, `/Users` or `/Groups`.
    pub endpoint: &'static str,
    /// The core schema URN.
    pub core: &'static str,
    /// Core attributes.
    pub attrs: Vec<Attr>,
    /// Extensions: URN and attributes.
    pub extensions: Vec<(&'static str, Vec<Attr>)>,
}

impl Resource {
    /// The core attribute `name` (case-insensitive).
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The extension with this URN (case-insensitive), canonical URN and attributes.
    pub fn extension(&self, urn: &str) -> Option<(&'static str, &[Attr])> {
        self.extensions
            .iter()
            .find(|(u, _)| u.eq_ignore_ascii_case(urn))
            .map(|(u, a)| (*u, a.as_slice()))
    }
}

/// Every schema document served at `/Schemas`, without `meta` (added per request).
pub fn documents() -> &'static [Value] {
    static DOCS: OnceLock<Vec<Value>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let mut docs: Vec<Value> = scim_v2::models::scim_schema::get_schemas(vec!["user", "group"])
            .map(|v| {
                v.iter()
                    .filter_map(|s| serde_json::to_value(s).ok())
                    .collect()
            })
            .unwrap_or_default();
        for d in &mut docs {
            if let Some(o) = d.as_object_mut() {
                o.remove("meta");
            }
            // RFC 7643 §4.2: "displayName ... REQUIRED"; the §8.7.1 listing omits it.
            if d["id"] == GROUP
                && let Some(attrs) = d["attributes"].as_array_mut()
            {
                for a in attrs {
                    if a["name"] == "displayName" {
                        a["required"] = json!(true);
                    }
                }
            }
        }
        let int_attr = |name: &str, desc: &str| {
            json!({
                "name": name, "type": "integer", "multiValued": false, "description": desc,
                "required": false, "caseExact": false, "mutability": "readWrite",
                "returned": "default", "uniqueness": "none"
            })
        };
        docs.push(json!({
            "id": POSIX_USER,
            "name": "PosixUser",
            "description": "POSIX account IDs; the server assigns stable ones when absent",
            "attributes": [
                int_attr("uidNumber", "POSIX user ID, unique among active users"),
                int_attr("gidNumber", "POSIX primary group ID"),
            ],
        }));
        docs.push(json!({
            "id": POSIX_GROUP,
            "name": "PosixGroup",
            "description": "POSIX group ID; the server assigns a stable one when absent",
            "attributes": [int_attr("gidNumber", "POSIX group ID, unique")],
        }));
        for d in &mut docs {
            d["schemas"] = json!(["urn:ietf:params:scim:schemas:core:2.0:Schema"]);
        }
        docs
    })
}

fn attrs_of(urn: &str) -> Vec<Attr> {
    documents()
        .iter()
        .find(|d| d["id"] == urn)
        .and_then(|d| d["attributes"].as_array())
        .map(|a| a.iter().map(Attr::from_json).collect())
        .unwrap_or_default()
}

/// The User resource type.
pub fn user() -> &'static Resource {
    static R: OnceLock<Resource> = OnceLock::new();
    R.get_or_init(|| Resource {
        name: "User",
        endpoint: "/Users",
        core: USER,
        attrs: attrs_of(USER),
        extensions: vec![(POSIX_USER, attrs_of(POSIX_USER))],
    })
}

/// The Group resource type.
pub fn group() -> &'static Resource {
    static R: OnceLock<Resource> = OnceLock::new();
    R.get_or_init(|| Resource {
        name: "Group",
        endpoint: "/Groups",
        core: GROUP,
        attrs: attrs_of(GROUP),
        extensions: vec![(POSIX_GROUP, attrs_of(POSIX_GROUP))],
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc_schemas_load() {
        let u = super::user();
        assert!(u.attr("USERNAME").is_some_and(|a| a.required));
        assert!(u.attr("emails").is_some_and(|a| a.multi));
        assert!(u.attr("groups").is_some_and(|a| a.read_only()));
        let g = super::group();
        assert!(g.attr("displayName").is_some_and(|a| a.required));
        assert!(
            g.attr("members")
                .is_some_and(|a| a.sub_attr("value").is_some())
        );
    }
}
