//! `admit-sim`: simulated Apple devices for end-to-end and load tests of an MDM server.
//!
//! Each simulated device enrolls from an enrollment profile (SCEP identity, Authenticate,
//! TokenUpdate), talks to the server's check-in and command URLs with its identity as TLS
//! client certificate or with `Mdm-Signature`, answers commands with schema-valid results,
//! syncs declarative management, and checks out. A fleet runs a scenario (TOML) within a
//! time and request budget and sums up what it saw.
//!
//! ```text
//!  profile (file or URL) ──▶ Enrollment ──▶ Device ×N ──(scenario steps)──▶ server under test
//!                                             ▲  wake                          │ push
//!                                             └──── APNs stand-in (HTTP/2) ◀───┘
//!  every request ──▶ Metrics ──▶ Summary (text or JSON)
//! ```
//!
//! The library is what the binary runs and what tests drive in-process: [`device::Device`]
//! for one device, [`run::run`] for a fleet, [`commands::answer`] for the answers alone.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod apns;
pub mod commands;
pub mod declarative;
pub mod device;
pub mod enrollment;
mod error;
pub mod metrics;
pub mod run;
pub mod scenario;
pub mod state;
pub mod transport;

pub use error::{Error, Result};

/// The crypto provider devices use: aws-lc (fast RSA key generation), else the first one
/// compiled in.
pub fn provider() -> &'static dyn pki::provider::CryptoProvider {
    pki::provider::by_name("aws-lc").unwrap_or_else(|| pki::provider::compiled()[0])
}

/// Operating-system randomness.
pub fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}
