//! Declarative Device Management, sans-IO.
//!
//! This crate will own: declarations (configurations, assets, activations, management) as
//! generated types plus raw JSON, ServerToken and DeclarationsToken, TokensResponse,
//! DeclarationItemsResponse, the DeclarativeManagement check-in endpoints, status reports and
//! activation predicates.
//!
//! Nothing is implemented yet: the work is tracked as its own issue.
#![forbid(unsafe_code)]
