//! The aws-lc-rs provider.
