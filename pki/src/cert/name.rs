//! Distinguished-name comparison for issuer/subject chaining (RFC 5280 section 7.1).

use der::{Tag, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::Name;

/// Whether `a` and `b` name the same entity.
///
/// Two names match when they have the same RDNs in the same order, each RDN holding the same
/// attributes in the same order, and each attribute value either has identical DER or both
/// values are PrintableString/UTF8String that are equal after the simple RFC 4518 steps this
/// crate implements: leading and trailing spaces removed, inner runs of spaces folded to one,
/// ASCII letters compared without case. Non-ASCII characters are compared exactly.
pub fn names_match(a: &Name, b: &Name) -> bool {
    if a == b {
        return true;
    }
    if a.len() != b.len() {
        return false;
    }
    a.iter_rdn().zip(b.iter_rdn()).all(|(ra, rb)| {
        ra.len() == rb.len() && ra.iter().zip(rb.iter()).all(|(x, y)| atv_match(x, y))
    })
}

fn atv_match(a: &AttributeTypeAndValue, b: &AttributeTypeAndValue) -> bool {
    if a.oid != b.oid {
        return false;
    }
    if a.value == b.value {
        return true;
    }
    match (string_value(&a.value), string_value(&b.value)) {
        (Some(x), Some(y)) => normalized(x).eq(normalized(y)),
        _ => false,
    }
}

fn string_value(v: &der::Any) -> Option<&str> {
    match v.tag() {
        Tag::PrintableString | Tag::Utf8String => std::str::from_utf8(v.value()).ok(),
        _ => None,
    }
}

/// The characters of `s` after trimming, folding space runs and lowering ASCII case.
fn normalized(s: &str) -> impl Iterator<Item = char> + '_ {
    let mut prev_space = false;
    s.trim_matches(' ').chars().filter_map(move |c| {
        if c == ' ' {
            if prev_space {
                return None;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
        Some(c.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn case_and_space_insensitive_for_strings() {
        let a = Name::from_str("CN=Example  CA,O=Acme").unwrap();
        let b = Name::from_str("CN=example ca,O=ACME").unwrap();
        assert!(names_match(&a, &b));
        let c = Name::from_str("CN=example cb,O=ACME").unwrap();
        assert!(!names_match(&a, &c));
        let d = Name::from_str("CN=example ca").unwrap();
        assert!(!names_match(&a, &d));
    }
}
