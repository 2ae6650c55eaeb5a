//! `ServerToken` and `DeclarationsToken`.
//!
//! ```text
//! ServerToken        = hex(SHA-256(canonical JSON of the declaration without ServerToken)) 64 octets
//! DeclarationsToken  = hex(SHA-256(ServerToken ‖ "\n" ‖ … in Identifier order))           64 octets
//! KMFDDM mode        = hex(XXH64(ServerToken ‖ ServerToken ‖ … in item order), seed 0)   16 octets
//! ```
//!
//! The canonical JSON sorts object keys and drops spacing, so a token changes when and only when
//! the declaration's content changes, whatever order or spacing it was stored with. The default
//! DeclarationsToken takes the tokens in identifier order, so the storage order of the set never
//! changes it; since each content ServerToken already covers its declaration's identifier, type
//! and payload, hashing the tokens alone covers the whole set.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

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

/// The default DeclarationsToken over `(Identifier, ServerToken)` entries in any order: they are
/// sorted by identifier, then their ServerTokens hashed, each followed by `\n`. Equals
/// [`crate::DeclarationSet::declarations_token`] of a [`crate::TokenMode::Content`] set holding
/// them.
///
/// The identifiers, types and payloads need not be hashed again: a content ServerToken
/// ([`server_token`]) already covers them, so the input is only as long as the tokens (plus one
/// separator each, which keeps token boundaries unambiguous: hex tokens hold no `\n`).
pub fn declarations_token<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut entries: Vec<(&str, &str)> = entries.into_iter().collect();
    entries.sort_unstable();
    declarations_token_sorted(entries.into_iter().map(|(_, t)| t.as_bytes()))
}

/// [`declarations_token`] over ServerTokens already in identifier order (a set's own order).
pub(crate) fn declarations_token_sorted<'a>(tokens: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut h = Sha256::new();
    let mut buf = Vec::with_capacity(8192);
    for token in tokens {
        buf.extend_from_slice(token);
        buf.push(b'\n');
        if buf.len() >= 8000 {
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
