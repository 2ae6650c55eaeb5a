//! Device admission and authentication in the Mender model, sans-IO.
//!
//! This crate will own: auth sets (identity attributes + public key), preauthorization and
//! admit-on-request, signed auth requests, the statuses pending / accepted / rejected /
//! preauthorized / noauth, several auth sets per device, auth tokens (JWT) minted and verified,
//! device limits and decommissioning.
//!
//! Nothing is implemented yet: the work is tracked as its own issue.
#![forbid(unsafe_code)]
