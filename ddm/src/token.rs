//! `ServerToken` and `DeclarationsToken`.
//!
//! ```text
//! ServerToken        = hex(SHA-256(canonical JSON of the declaration without ServerToken)) 64 octets
//! DeclarationsToken  = hex(SHA-256(by Identifier: kind ‖ len ‖ Identifier ‖ len ‖ ServerToken)) 64 octets
//! KMFDDM mode        = hex(XXH64(ServerToken ‖ ServerToken ‖ … in item order), seed 0)   16 octets
//! ```
//!
//! The canonical JSON sorts object keys and drops spacing, so a token changes when and only when
//! the declaration's content changes, whatever order or spacing it was stored with. The default
//! DeclarationsToken sorts its entries, so the storage order of the set never changes it; each
//! entry is length-prefixed so no two sets share an input.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::declaration::Kind;
use crate::json;

/// Apple's limit on `DeclarationsToken`, in octets.
pub const MAX_DECLARATIONS_TOKEN_OCTETS: usize = 256;

/// The content token of a declaration object: every key except `ServerToken`.
pub fn server_token(declaration: &Map<String, Value>) -> String {
    let mut content = declaration.clone();
    content.remove("ServerToken");
    let mut bytes = Vec::new();
    json::canonical(&Value::Object(content), &mut bytes);
    hex::encode(Sha256::digest(&bytes))
}

/// The default DeclarationsToken over `(kind, Identifier, ServerToken)` entries in any order
/// (they are sorted by identifier first); equals [`crate::DeclarationSet::declarations_token`]
/// of a [`crate::TokenMode::Content`] set holding them.
pub fn declarations_token<'a>(
    entries: impl IntoIterator<Item = (Kind, &'a str, &'a str)>,
) -> String {
    let mut entries: Vec<(Kind, &str, &str)> = entries.into_iter().collect();
    entries.sort_unstable_by(|a, b| (a.1, a.0, a.2).cmp(&(b.1, b.0, b.2)));
    declarations_token_sorted(entries)
}

/// [`declarations_token`] over entries already sorted by `(Identifier, kind, ServerToken)`; a
/// set's identifiers are unique, so its identifier order is that order.
pub(crate) fn declarations_token_sorted<'a>(
    entries: impl IntoIterator<Item = (Kind, &'a str, &'a str)>,
) -> String {
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(4096);
    for (kind, id, token) in entries {
        buf.push(kind as u8);
        for part in [id, token] {
            buf.extend_from_slice(&(part.len() as u32).to_be_bytes());
            buf.extend_from_slice(part.as_bytes());
        }
        if buf.len() >= 4000 {
            h.update(&buf);
            buf.clear();
        }
    }
    h.update(&buf);
    hex::encode(h.finalize())
}

/// KMFDDM's DeclarationsToken: XXH64 (seed 0) over the ServerTokens concatenated in the order
/// its DeclarationItemsResponse lists them, as 16 lowercase hex digits.
pub fn kmfddm_declarations_token<'a>(server_tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut bytes = Vec::new();
    for t in server_tokens {
        bytes.extend_from_slice(t.as_bytes());
    }
    format!("{:016x}", crate::xxh64::xxh64(&bytes, 0))
}
