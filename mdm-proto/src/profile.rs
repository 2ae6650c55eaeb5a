//! Configuration profiles (`.mobileconfig`): the top level and the payloads this crate types.
//!
//! ```text
//! <dict>                              TopLevel (mdm/profiles/TopLevel.yaml)
//!   PayloadType     Configuration
//!   PayloadContent  <array>           one dictionary per payload, told apart by PayloadType:
//!     com.apple.mdm                   → Mdm
//!     com.apple.security.scep         → SecurityScep
//!     com.apple.security.acme         → SecurityAcme
//!     com.apple.security.pkcs1        → SecurityPkcs1
//!     com.apple.security.root         → SecurityRoot
//!     anything else                   → kept as a dictionary
//! </dict>
//! ```

use plist::{Dictionary, Value};

use crate::error::Result;
use crate::generated::profiles::{
    Mdm, SecurityAcme, SecurityPkcs1, SecurityRoot, SecurityScep, TopLevel,
};
use crate::value::{self, FromPlist, Limits, ToPlist};

/// One entry of `PayloadContent`.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfilePayload {
    /// `com.apple.mdm`.
    Mdm(Box<Mdm>),
    /// `com.apple.security.scep`.
    Scep(Box<SecurityScep>),
    /// `com.apple.security.acme`.
    Acme(Box<SecurityAcme>),
    /// `com.apple.security.pkcs1`.
    Pkcs1(Box<SecurityPkcs1>),
    /// `com.apple.security.root`.
    Root(Box<SecurityRoot>),
    /// Any other payload type, kept as sent.
    Other(Dictionary),
}

impl ProfilePayload {
    /// Decode one payload dictionary by its `PayloadType`.
    pub fn from_dictionary(d: Dictionary) -> Result<Self> {
        let ty = d
            .get("PayloadType")
            .and_then(Value::as_string)
            .unwrap_or_default()
            .to_owned();
        let v = Value::Dictionary(d);
        Ok(match ty.as_str() {
            "com.apple.mdm" => ProfilePayload::Mdm(Box::new(Mdm::from_plist(v)?)),
            "com.apple.security.scep" => {
                ProfilePayload::Scep(Box::new(SecurityScep::from_plist(v)?))
            }
            "com.apple.security.acme" => {
                ProfilePayload::Acme(Box::new(SecurityAcme::from_plist(v)?))
            }
            "com.apple.security.pkcs1" => {
                ProfilePayload::Pkcs1(Box::new(SecurityPkcs1::from_plist(v)?))
            }
            "com.apple.security.root" => {
                ProfilePayload::Root(Box::new(SecurityRoot::from_plist(v)?))
            }
            _ => ProfilePayload::Other(value::expect_dict(v)?),
        })
    }

    /// The payload as a plist value.
    pub fn to_plist(&self) -> Value {
        match self {
            ProfilePayload::Mdm(p) => p.to_plist(),
            ProfilePayload::Scep(p) => p.to_plist(),
            ProfilePayload::Acme(p) => p.to_plist(),
            ProfilePayload::Pkcs1(p) => p.to_plist(),
            ProfilePayload::Root(p) => p.to_plist(),
            ProfilePayload::Other(d) => Value::Dictionary(d.clone()),
        }
    }
}

/// A decoded (unsigned) profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// The top-level keys (its `payload_content` holds the payloads as sent).
    pub top: TopLevel,
    /// The payloads, typed where this crate knows the type, in order.
    pub payloads: Vec<ProfilePayload>,
}

impl Profile {
    /// Decode a profile plist (XML or binary) under `limits`.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Self> {
        Self::from_plist(value::parse(body, limits)?)
    }

    /// Decode a profile from its plist value.
    pub fn from_plist(v: Value) -> Result<Self> {
        let top = TopLevel::from_plist(v)?;
        let mut payloads = Vec::with_capacity(top.payload_content.len());
        for (i, p) in top.payload_content.iter().enumerate() {
            let d: Dictionary = p.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            payloads.push(
                ProfilePayload::from_dictionary(d)
                    .map_err(|e| e.at(&i.to_string()).at("PayloadContent"))?,
            );
        }
        Ok(Profile { top, payloads })
    }

    /// The profile as a plist value (payloads from their typed form).
    pub fn to_plist(&self) -> Value {
        let mut v = self.top.to_plist();
        if let Value::Dictionary(d) = &mut v {
            d.insert(
                "PayloadContent".into(),
                Value::Array(self.payloads.iter().map(ProfilePayload::to_plist).collect()),
            );
        }
        v
    }

    /// The XML plist bytes.
    pub fn to_xml(&self) -> Vec<u8> {
        value::to_xml(&self.to_plist())
    }
}
