#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod tpm;

pub use error::{Error, Result};
pub use pki;
