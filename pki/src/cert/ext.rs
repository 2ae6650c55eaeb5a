//! The certificate extensions this crate reads and writes (RFC 5280 section 4.2).

use std::net::IpAddr;

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::Decode;
use der::asn1::{Ia5String, OctetString};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{GeneralName, GeneralNames};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, ExtendedKeyUsage, KeyUsage,
    SubjectAltName, SubjectKeyIdentifier,
};

use crate::{Error, Result};

/// The extensions a certificate carries, decoded where we process them.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub basic_constraints: Option<BasicConstraints>,
    pub key_usage: Option<KeyUsage>,
    pub ext_key_usage: Option<ExtendedKeyUsage>,
    pub ski: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
    pub san: Option<GeneralNames>,
    /// Critical extensions not in the list above, in order.
    pub unknown_critical: Vec<ObjectIdentifier>,
}

fn decode<'a, T: Decode<'a, Error = der::Error>>(
    ext: &'a Extension,
    what: &'static str,
) -> Result<T> {
    T::from_der(ext.extn_value.as_bytes()).map_err(|e| Error::malformed(what, e))
}

impl Parsed {
    /// Decode `exts`, refusing a repeated extension (RFC 5280 section 4.2) or a malformed
    /// value of one we process.
    pub fn from_extensions(exts: &[Extension]) -> Result<Self> {
        let mut p = Parsed::default();
        let mut seen: Vec<ObjectIdentifier> = Vec::with_capacity(exts.len());
        for ext in exts {
            if seen.contains(&ext.extn_id) {
                return Err(Error::malformed(
                    "certificate extensions",
                    format!("extension {} appears twice", ext.extn_id),
                ));
            }
            seen.push(ext.extn_id);
            match ext.extn_id {
                BasicConstraints::OID => {
                    p.basic_constraints = Some(decode(ext, "basicConstraints")?);
                }
                KeyUsage::OID => p.key_usage = Some(decode(ext, "keyUsage")?),
                ExtendedKeyUsage::OID => p.ext_key_usage = Some(decode(ext, "extKeyUsage")?),
                SubjectKeyIdentifier::OID => {
                    let ski: SubjectKeyIdentifier = decode(ext, "subjectKeyIdentifier")?;
                    p.ski = Some(ski.0.as_bytes().to_vec());
                }
                AuthorityKeyIdentifier::OID => {
                    let aki: AuthorityKeyIdentifier = decode(ext, "authorityKeyIdentifier")?;
                    p.aki = aki.key_identifier.map(|k| k.as_bytes().to_vec());
                }
                SubjectAltName::OID => {
                    let san: SubjectAltName = decode(ext, "subjectAltName")?;
                    p.san = Some(san.0);
                }
                // Policies are accepted without policy processing: with the initial policy set
                // any-policy and no explicit policy required, RFC 5280 section 6.1 never rejects
                // a path because of them.
                CertificatePolicies::OID => {}
                other if ext.critical => p.unknown_critical.push(other),
                _ => {}
            }
        }
        Ok(p)
    }
}

/// The subjectAltName entries this crate models, by kind.
///
/// ```text
/// SubjectAltName ::= GeneralNames
/// GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
/// GeneralName ::= CHOICE {
///      otherName                 [0]  OtherName,
///      rfc822Name                [1]  IA5String,
///      dNSName                   [2]  IA5String,
///      x400Address               [3]  ORAddress,
///      directoryName             [4]  Name,
///      ediPartyName              [5]  EDIPartyName,
///      uniformResourceIdentifier [6]  IA5String,
///      iPAddress                 [7]  OCTET STRING,
///      registeredID              [8]  OBJECT IDENTIFIER }
/// ```
/// (RFC 5280 section 4.2.1.6.) Kinds not modelled here are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectAltNames {
    /// dNSName entries.
    pub dns: Vec<String>,
    /// iPAddress entries (4 or 16 bytes).
    pub ip: Vec<IpAddr>,
    /// rfc822Name entries.
    pub email: Vec<String>,
    /// uniformResourceIdentifier entries.
    pub uri: Vec<String>,
    /// Every other entry, as decoded.
    pub other: Vec<GeneralName>,
}

impl SubjectAltNames {
    /// No names.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a dNSName.
    pub fn with_dns(mut self, name: impl Into<String>) -> Self {
        self.dns.push(name.into());
        self
    }

    /// Add an iPAddress.
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip.push(ip);
        self
    }

    /// Add an rfc822Name.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email.push(email.into());
        self
    }

    /// Add a uniformResourceIdentifier.
    pub fn with_uri(mut self, uri: impl Into<String>) -> Self {
        self.uri.push(uri.into());
        self
    }

    /// True when there is no entry at all.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty()
            && self.ip.is_empty()
            && self.email.is_empty()
            && self.uri.is_empty()
            && self.other.is_empty()
    }

    /// Sort decoded `GeneralNames` by kind.
    pub fn from_general_names(names: &[GeneralName]) -> Self {
        let mut out = Self::default();
        for name in names {
            match name {
                GeneralName::DnsName(s) => out.dns.push(s.to_string()),
                GeneralName::Rfc822Name(s) => out.email.push(s.to_string()),
                GeneralName::UniformResourceIdentifier(s) => out.uri.push(s.to_string()),
                GeneralName::IpAddress(o) => match ip_from_bytes(o.as_bytes()) {
                    Some(ip) => out.ip.push(ip),
                    None => out.other.push(name.clone()),
                },
                other => out.other.push(other.clone()),
            }
        }
        out
    }

    /// Encode as `GeneralNames`: DNS names, IP addresses, emails, URIs, then the others.
    pub fn to_general_names(&self) -> Result<GeneralNames> {
        let ia5 =
            |s: &str, what: &'static str| Ia5String::new(s).map_err(|e| Error::malformed(what, e));
        let mut out = Vec::new();
        for d in &self.dns {
            out.push(GeneralName::DnsName(ia5(d, "dNSName")?));
        }
        for ip in &self.ip {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            out.push(GeneralName::IpAddress(
                OctetString::new(bytes).map_err(|e| Error::malformed("iPAddress", e))?,
            ));
        }
        for e in &self.email {
            out.push(GeneralName::Rfc822Name(ia5(e, "rfc822Name")?));
        }
        for u in &self.uri {
            out.push(GeneralName::UniformResourceIdentifier(ia5(
                u,
                "uniformResourceIdentifier",
            )?));
        }
        out.extend(self.other.iter().cloned());
        Ok(out)
    }

    /// The subjectAltName extension (critical when `critical`, as RFC 5280 requires for an
    /// empty subject).
    pub fn to_extension(&self, critical: bool) -> Result<Extension> {
        let names = self.to_general_names()?;
        to_extension(SubjectAltName::OID, critical, &names)
    }
}

fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        return Some(IpAddr::from(v4));
    }
    <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
}

/// An extension whose value is the DER of `value`.
pub(crate) fn to_extension<T: der::Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
) -> Result<Extension> {
    let der = value
        .to_der()
        .map_err(|e| Error::malformed("extension value", e))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).map_err(|e| Error::malformed("extension", e))?,
    })
}
