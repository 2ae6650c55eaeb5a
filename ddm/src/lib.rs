//! Declarative Device Management, sans-IO.
#![forbid(unsafe_code)]

pub mod generated;
pub mod schema;
