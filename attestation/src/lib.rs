//! Hardware attestation evidence, verified sans-IO.
//!
//! This crate will own: TPM 2.0 structures (TPMS_ATTEST, TPMT_PUBLIC, TPMT_SIGNATURE), EK
//! certificates and EK URIs, AK certify and quote checks, server-side credential activation,
//! event-log replay, Apple Managed Device Attestation, and the ACME device-attest-01 formats.
//!
//! Nothing is implemented yet: the work is tracked as its own issue.
#![forbid(unsafe_code)]
