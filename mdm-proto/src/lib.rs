#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apns;
pub mod availability;
mod bplist_scan;
pub mod checkin;
pub mod command;
mod error;
pub mod generated;
pub mod profile;
pub mod queue;
pub mod signed;
pub mod value;
pub mod webhook;

pub use error::{Error, Result};
pub use value::{Data, FromPlist, Limits, ToPlist};

/// The `http` crate, whose types carry answers.
pub use http;
/// The `plist` crate, whose `Value`, `Dictionary` and `Date` appear in this crate's API.
pub use plist;
