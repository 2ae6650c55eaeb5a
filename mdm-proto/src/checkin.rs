//! Check-in messages.

use crate::value::{FromPlist, ToPlist};

/// What the generator knows about one check-in type (implemented by every message in
/// [`crate::generated::checkin`]).
pub trait CheckInSchema: FromPlist + ToPlist {
    /// The `MessageType`.
    const MESSAGE_TYPE: &'static str;
    /// The typed answer, for the check-ins that have one (empty struct otherwise).
    type Response: FromPlist + ToPlist;
    /// The schema file the type was generated from.
    const SCHEMA_PATH: &'static str;
}
