#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod decision;
pub mod device;
mod error;
pub mod instance;

pub use decision::{Decision, Demand, OwnerStanding, Purpose, Refusal, Rule, decide};
pub use device::{
    Approval, Assurance, Collection, DEFAULT_COLLECTION, DeactivationPolicy, Device, Owner, Policy,
    Source, admission,
};
pub use error::Error;
pub use instance::InstanceId;
