//! Commands sent to a device, and the reports it sends back.

use crate::availability::SupportedOs;
use crate::value::{FromPlist, ToPlist};

/// What the generator knows about one command type (implemented by every request payload in
/// [`crate::generated::commands`]).
pub trait CommandSchema: FromPlist + ToPlist {
    /// The `RequestType`.
    const REQUEST_TYPE: &'static str;
    /// The typed result keys of an `Acknowledged` report.
    type Response: FromPlist + ToPlist;
    /// The schema file the type was generated from.
    const SCHEMA_PATH: &'static str;
    /// Where the command is available.
    const SUPPORTED_OS: SupportedOs;
}
