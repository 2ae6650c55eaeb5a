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

/// A decoded (unsigned) profile. Equality compares the content, not the bytes a parsed
/// profile came from.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The top-level keys (its `payload_content` holds the payloads as sent).
    pub top: TopLevel,
    /// The payloads, typed where this crate knows the type, in order.
    pub payloads: Vec<ProfilePayload>,
    raw: Option<Vec<u8>>,
}

impl PartialEq for Profile {
    fn eq(&self, other: &Self) -> bool {
        self.top == other.top && self.payloads == other.payloads
    }
}

impl Profile {
    /// Decode a profile plist (XML or binary) under `limits`.
    pub fn parse(body: &[u8], limits: &Limits) -> Result<Self> {
        let mut p = Self::from_plist(value::parse(body, limits)?)?;
        p.raw = Some(body.to_vec());
        Ok(p)
    }

    /// The bytes a parsed profile came from (`None` when built or read from a value).
    pub fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
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
        Ok(Profile {
            top,
            payloads,
            raw: None,
        })
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

/// The certificate identity an enrollment profile asks the device to obtain.
#[derive(Debug, Clone, PartialEq)]
pub enum IdentityPayload {
    /// `com.apple.security.scep`; `Keysize` is 2048 unless the caller sets the payload's own.
    Scep(Box<crate::generated::profiles::security_scep::PayloadContent>),
    /// `com.apple.security.acme`.
    Acme(Box<SecurityAcme>),
}

/// A certificate to install with the enrollment profile (a CA the device should trust).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificatePayload {
    /// `com.apple.security.root`: a self-signed root (DER).
    Root(Vec<u8>),
    /// `com.apple.security.pkcs1`: any other certificate (DER).
    Pkcs1(Vec<u8>),
}

/// What an MDM enrollment profile needs; [`EnrollmentProfile::build`] turns it into a
/// [`Profile`] with the `com.apple.mdm`, identity and certificate payloads.
#[derive(Debug, Clone, PartialEq)]
pub struct EnrollmentProfile {
    /// The profile's `PayloadIdentifier`; payload identifiers are derived from it.
    pub identifier: String,
    /// `PayloadDisplayName`.
    pub display_name: String,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `ServerURL` (where reports go).
    pub server_url: String,
    /// `CheckInURL` (where check-ins go; the server URL when absent).
    pub check_in_url: Option<String>,
    /// `Topic`: the push certificate's UID.
    pub topic: String,
    /// `AccessRights` (8191 = all rights).
    pub access_rights: i64,
    /// `SignMessage`: devices add `Mdm-Signature` to their requests.
    pub sign_message: bool,
    /// `CheckOutWhenRemoved`.
    pub check_out_when_removed: bool,
    /// `ServerCapabilities` `com.apple.mdm.per-user-connections`.
    pub per_user_connections: bool,
    /// `ServerCapabilities` `com.apple.mdm.bootstraptoken`.
    pub bootstrap_token: bool,
    /// The identity payload (its `PayloadUUID` becomes `IdentityCertificateUUID`).
    pub identity: IdentityPayload,
    /// Certificates to install.
    pub certificates: Vec<CertificatePayload>,
}

fn header(d: &mut Dictionary, ty: &str, identifier: String, uuid: String, name: Option<&str>) {
    d.insert("PayloadType".into(), Value::String(ty.into()));
    d.insert("PayloadIdentifier".into(), Value::String(identifier));
    d.insert("PayloadUUID".into(), Value::String(uuid));
    d.insert("PayloadVersion".into(), Value::Integer(1.into()));
    if let Some(n) = name {
        d.insert("PayloadDisplayName".into(), Value::String(n.into()));
    }
}

impl EnrollmentProfile {
    /// Build the profile, drawing every `PayloadUUID` from `rng`.
    pub fn build<R: rand_core::CryptoRng + ?Sized>(&self, rng: &mut R) -> Profile {
        use crate::command::new_uuid;
        use crate::generated::profiles::mdm::ServerCapabilitiesItems as Cap;
        use crate::generated::profiles::security_scep::Keysize;
        use crate::generated::profiles::top_level::PayloadVersion;

        let mut payloads = Vec::new();
        let identity_uuid = new_uuid(rng);
        match &self.identity {
            IdentityPayload::Scep(content) => {
                let mut content = (**content).clone();
                content.keysize.get_or_insert(Keysize::V2048);
                let mut scep = SecurityScep {
                    payload_content: content,
                    unknown: Dictionary::new(),
                };
                header(
                    &mut scep.unknown,
                    "com.apple.security.scep",
                    format!("{}.scep", self.identifier),
                    identity_uuid.clone(),
                    Some("Device identity (SCEP)"),
                );
                payloads.push(ProfilePayload::Scep(Box::new(scep)));
            }
            IdentityPayload::Acme(acme) => {
                let mut acme = acme.clone();
                header(
                    &mut acme.unknown,
                    "com.apple.security.acme",
                    format!("{}.acme", self.identifier),
                    identity_uuid.clone(),
                    Some("Device identity (ACME)"),
                );
                payloads.push(ProfilePayload::Acme(acme));
            }
        }
        for (i, c) in self.certificates.iter().enumerate() {
            let uuid = new_uuid(rng);
            match c {
                CertificatePayload::Root(der) => {
                    let mut p = SecurityRoot {
                        payload_certificate_file_name: Some(format!("root{i}.cer")),
                        payload_content: der.clone().into(),
                        unknown: Dictionary::new(),
                    };
                    header(
                        &mut p.unknown,
                        "com.apple.security.root",
                        format!("{}.cert{i}", self.identifier),
                        uuid,
                        None,
                    );
                    payloads.push(ProfilePayload::Root(Box::new(p)));
                }
                CertificatePayload::Pkcs1(der) => {
                    let mut p = SecurityPkcs1 {
                        payload_certificate_file_name: Some(format!("cert{i}.cer")),
                        payload_content: der.clone().into(),
                        unknown: Dictionary::new(),
                    };
                    header(
                        &mut p.unknown,
                        "com.apple.security.pkcs1",
                        format!("{}.cert{i}", self.identifier),
                        uuid,
                        None,
                    );
                    payloads.push(ProfilePayload::Pkcs1(Box::new(p)));
                }
            }
        }
        let mut caps = Vec::new();
        if self.per_user_connections {
            caps.push(Cap::ComAppleMdmPerUserConnections);
        }
        if self.bootstrap_token {
            caps.push(Cap::ComAppleMdmBootstraptoken);
        }
        let mut mdm = Mdm {
            identity_certificate_uuid: identity_uuid,
            topic: self.topic.clone(),
            server_url: self.server_url.clone(),
            check_in_url: self.check_in_url.clone(),
            sign_message: Some(self.sign_message),
            access_rights: Some(self.access_rights),
            use_development_apns: None,
            managed_apple_id: None,
            assigned_managed_apple_id: None,
            enrollment_mode: None,
            server_url_pinning_certificate_uuids: None,
            check_in_url_pinning_certificate_uuids: None,
            pinning_revocation_check_required: None,
            server_capabilities: (!caps.is_empty()).then_some(caps),
            check_out_when_removed: Some(self.check_out_when_removed),
            required_app_id_for_mdm: None,
            prompt_user_to_allow_bootstrap_token_for_authentication: None,
            unknown: Dictionary::new(),
        };
        header(
            &mut mdm.unknown,
            "com.apple.mdm",
            format!("{}.mdm", self.identifier),
            new_uuid(rng),
            Some("MDM"),
        );
        payloads.push(ProfilePayload::Mdm(Box::new(mdm)));
        let payload_content = payloads
            .iter()
            .map(|p| match p.to_plist() {
                Value::Dictionary(d) => d.into_iter().collect(),
                _ => Default::default(),
            })
            .collect();
        let top = TopLevel {
            payload_identifier: self.identifier.clone(),
            payload_uuid: new_uuid(rng),
            payload_version: PayloadVersion::V1,
            is_encrypted: None,
            payload_content,
            encrypted_payload_content: None,
            payload_description: None,
            payload_display_name: Some(self.display_name.clone()),
            has_removal_passcode: None,
            payload_organization: self.organization.clone(),
            payload_removal_disallowed: None,
            payload_scope: None,
            removal_date: None,
            duration_until_removal: None,
            payload_expiration_date: None,
            target_device_type: None,
            consent_text: None,
            unknown: Dictionary::new(),
        };
        Profile {
            top,
            payloads,
            raw: None,
        }
    }
}

/// Over-the-air enrollment phase 1: the "Profile Service" profile that asks a device to sign
/// and post its attributes (phase 2, read by [`crate::signed::ota_phase2`]); the server answers
/// phase 2 with the enrollment profile (phase 3, [`EnrollmentProfile`], usually signed).
///
/// ```text
/// <dict>
///   PayloadType        Profile Service
///   PayloadContent     <dict>
///     URL              <string>   where the device posts phase 2
///     DeviceAttributes <array>    UDID, VERSION, PRODUCT, SERIAL, IMEI, ...
///     Challenge        <string>   optional, echoed back as CHALLENGE
///   PayloadIdentifier, PayloadUUID, PayloadVersion 1, PayloadDisplayName
/// </dict>
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileService {
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadDisplayName`.
    pub display_name: String,
    /// `URL`.
    pub url: String,
    /// `DeviceAttributes`.
    pub device_attributes: Vec<String>,
    /// `Challenge`.
    pub challenge: Option<String>,
}

impl ProfileService {
    /// The attributes most servers ask for.
    pub const DEFAULT_ATTRIBUTES: &'static [&'static str] =
        &["UDID", "VERSION", "PRODUCT", "SERIAL", "IMEI", "MEID"];

    /// The phase-1 profile as a plist value, with a `PayloadUUID` from `rng`.
    pub fn to_plist<R: rand_core::CryptoRng + ?Sized>(&self, rng: &mut R) -> Value {
        let mut content = Dictionary::new();
        content.insert("URL".into(), Value::String(self.url.clone()));
        content.insert(
            "DeviceAttributes".into(),
            Value::Array(
                self.device_attributes
                    .iter()
                    .map(|a| Value::String(a.clone()))
                    .collect(),
            ),
        );
        if let Some(c) = &self.challenge {
            content.insert("Challenge".into(), Value::String(c.clone()));
        }
        let mut d = Dictionary::new();
        d.insert("PayloadContent".into(), Value::Dictionary(content));
        header(
            &mut d,
            "Profile Service",
            self.identifier.clone(),
            crate::command::new_uuid(rng),
            Some(&self.display_name),
        );
        Value::Dictionary(d)
    }
}
