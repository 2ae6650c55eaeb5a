//! CMS (RFC 5652): SignedData and EnvelopedData.

pub mod enveloped_data;
pub mod signed_data;
