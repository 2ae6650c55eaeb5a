//! RFC 8894 SCEP, both roles, as a sans-IO crate on `pki`.
//!
//! This crate will own: GetCACaps, GetCACert (single and RA chain), GetNextCACert, PKIOperation
//! over GET and POST; PKCSReq, RenewalReq, CertPoll (GetCertInitial), GetCert, GetCRL; CertRep
//! SUCCESS / FAILURE (failInfo) / PENDING; challengePassword; nonces and transactionID.
//!
//! Nothing is implemented yet: the work is tracked as its own issue.
#![forbid(unsafe_code)]
