//! CMS EnvelopedData (RFC 5652 section 6).
