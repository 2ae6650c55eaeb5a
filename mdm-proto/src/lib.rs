//! Apple MDM protocol types and rules, sans-IO.
//!
//! This crate will own: every check-in message (Authenticate, TokenUpdate, CheckOut,
//! UserAuthenticate, Set/GetBootstrapToken, DeclarativeManagement, GetToken, ReturnToService),
//! command and report envelopes, every command and its result as types generated from Apple's
//! schema, enrollment channels, the command-queue rules, APNs push requests, enrollment profiles,
//! OTA profile-service phases and Mdm-Signature verification.
//!
//! Nothing is implemented yet: the work is tracked as its own issue.
#![forbid(unsafe_code)]
