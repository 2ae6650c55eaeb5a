#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admission;
pub mod api;
pub mod auth_request;
mod error;
mod gojson;
pub mod identity;
pub mod model;
pub mod pubkey;
pub mod store;
pub mod token;

pub use error::{Error, Result};
pub use http;
