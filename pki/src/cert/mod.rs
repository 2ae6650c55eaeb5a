//! Certificates: path validation, CSRs, issuance.
