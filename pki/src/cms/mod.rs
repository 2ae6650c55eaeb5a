//! CMS (RFC 5652): SignedData and EnvelopedData.
//!
//! The ASN.1 types come from the `cms` crate (re-exported as [`crate::cms_types`]); parsing the
//! parts whose exact bytes matter, verification and signing are done here.

mod builder;
mod certificate;
pub mod enveloped_data;
pub mod recipient;
pub mod signed_data;
mod signer_info;
mod tlv;

pub use builder::{
    SignedDataBuilder, SignerInfoBuilder, attribute, degenerate, degenerate_crls,
    degenerate_in_order,
};
pub use enveloped_data::{EnvelopedData, KeyTransRecipient, OpenOptions};
pub use recipient::Recipient;
pub use signed_data::{SignedData, VerifiedSignedData, VerifiedSigner, VerifyOptions};
pub use signer_info::{SignedAttributes, SignerId, SignerInfo};
