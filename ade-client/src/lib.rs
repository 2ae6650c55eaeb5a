#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod albc;
pub mod endpoints;
mod error;
pub mod model;
pub mod oauth;
mod open_enum;
pub mod session;
pub mod sync;
mod time;
pub mod token;

pub use endpoints::{MAX_SERIALS, Reply, batches};
pub use error::{
    ApiError, Error, ErrorCode, ErrorKind, MAX_ERROR_BODY, Result, RetryAfter, TokenError,
};
pub use http;
pub use session::{Call, Config, Session, Stamp, Step};
pub use sync::{Checkpoint, Commit, Mode, Progress, SyncRound, Warning};
pub use time::parse_rfc3339_millis;
pub use token::{Secret, ServerToken};
