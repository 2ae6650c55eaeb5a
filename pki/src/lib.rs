#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod alg;
pub mod ber;
pub mod cert;
pub mod cms;
mod error;
pub mod key;
pub mod pkcs12;
pub mod provider;
pub mod public_key;
pub mod verify;

pub use error::{Error, PathError, Result};

/// The `cms` crate, whose ASN.1 types this crate builds on.
pub use ::cms as cms_types;
pub use der;
pub use spki;
pub use x509_cert;
