//! A sans-IO client for Apple's Automated Device Enrollment web service.
//!
//! This crate will own: server-token (.p7m) decryption, the OAuth 1.0a session, every endpoint as
//! an `http::Request` builder and a response parser, cursor paging, session expiry and throttling.
//!
//! Nothing is implemented yet: the work is tracked as its own issue.
#![forbid(unsafe_code)]
