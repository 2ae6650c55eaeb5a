#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apple;
mod error;
pub mod tpm;

pub use error::{Error, Result};
pub use pki;
