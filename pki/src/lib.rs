#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod alg;
mod error;
pub mod key;
pub mod provider;
pub mod public_key;

pub use error::{Error, Result};

pub use cms;
pub use der;
pub use spki;
pub use x509_cert;
