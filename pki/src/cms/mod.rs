//! CMS (RFC 5652): SignedData and EnvelopedData.

pub mod enveloped_data;
pub mod recipient;
pub mod signed_data;

pub use enveloped_data::{EnvelopedData, KeyTransRecipient, OpenOptions};
pub use recipient::Recipient;
