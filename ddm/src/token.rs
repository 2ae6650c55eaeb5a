//! `ServerToken` and `DeclarationsToken`.
//!
//! ```text
//! ServerToken        = hex(SHA-256(canonical JSON of the declaration without ServerToken)) 64 octets
//! DeclarationsToken  = hex(SHA-256(sorted (kind, Identifier, ServerToken) entries))         64 octets
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

/// The default DeclarationsToken over `(kind, Identifier, ServerToken)` entries in any order.
pub fn declarations_token<'a>(
    entries: impl IntoIterator<Item = (Kind, &'a str, &'a str)>,
) -> String {
    let mut entries: Vec<(Kind, &str, &str)> = entries.into_iter().collect();
    entries.sort_unstable();
    let mut h = Sha256::new();
    for (kind, id, token) in entries {
        h.update([kind as u8]);
        for part in [id, token] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
    }
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
