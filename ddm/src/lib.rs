#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod declaration;
mod error;
mod json;
mod protocol;
mod set;
mod status;
mod token;
mod xxh64;

pub mod generated;
pub mod predicate;
pub mod reconcile;
pub mod schema;
pub mod value;

pub use declaration::{Declaration, Kind, MAX_IDENTIFIER_OCTETS, schema_entry};
pub use error::{Error, Result};
pub use json::Limits;
pub use predicate::{Predicate, StatusSnapshot};
pub use protocol::{CheckIn, Endpoint, command};
pub use set::{Channel, DeclarationSet, TokenMode, rfc3339};
pub use status::{DECLARATIONS_ITEM, DeclarationsStatus, InvalidItem, StatusReport};
pub use token::{
    MAX_DECLARATIONS_TOKEN_OCTETS, declarations_token, kmfddm_declarations_token, server_token,
};

/// The status of one declaration in a status report (generated from
/// `declarative/status/management.declarations.yaml`).
pub use generated::status::management_declarations::Declaration as DeclarationStatus;

/// Re-exported so callers name the same `mdm-proto` types this crate takes and returns.
pub use mdm_proto;
