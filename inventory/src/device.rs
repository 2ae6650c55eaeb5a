//! A device record and the rules that set its approval and assurance.
//!
//! ```text
//! source                 approval on arrival
//! ---------------------  ------------------------------------------------------------
//! SelfEnrolled           Pending, or Approved when Policy::approve_self_enrolled
//! IdpSelfEnrollment      refused unless Policy::idp_self_enrollment; then as SelfEnrolled
//! MdmSync (MDM / ADE)    Approved
//! ApiImport              Approved
//! manual MDM enrollment  with an invite naming an owner: ApiImport; without: SelfEnrolled
//!
//! assurance: Normal on arrival; High only through Device::attested with the same instance ID
//! ```

use serde::{Deserialize, Serialize};

use crate::{Error, InstanceId};

/// The collection a device lands in when none is named.
pub const DEFAULT_COLLECTION: &str = "default";

/// Where a device record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The device (or its user) enrolled on its own, without an administrator naming it.
    SelfEnrolled,
    /// A user enrolled it through the identity provider's self-service flow.
    IdpSelfEnrollment,
    /// Synced from an MDM or from Apple's Automated Device Enrollment.
    MdmSync,
    /// Imported by an administrator through the API (or an MDM invite naming the owner).
    ApiImport,
}

/// Whether an administrator (or a rule) has let the device in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Waiting for an administrator.
    Pending,
    /// Approved.
    Approved,
}

/// How sure the server is that the device is the one the record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    /// Known by what an administrator or a sync said.
    Normal,
    /// The device itself attested (TPM or Apple) the same instance ID.
    High,
}

macro_rules! names {
    ($t:ty, $what:literal, $($v:ident = $s:literal),+) => {
        impl $t {
            /// The name used in storage and the API.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// The value named `s` (as [`Self::as_str`] spells it).
            pub fn parse(s: &str) -> Result<Self, Error> {
                match s {
                    $($s => Ok(Self::$v),)+
                    _ => Err(Error::UnknownName { what: $what, value: s.chars().take(40).collect() }),
                }
            }
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$v),+];
        }
        impl core::fmt::Display for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
names!(
    Source,
    "source",
    SelfEnrolled = "self_enrolled",
    IdpSelfEnrollment = "idp_self_enrollment",
    MdmSync = "mdm_sync",
    ApiImport = "api_import"
);
names!(
    Approval,
    "approval",
    Pending = "pending",
    Approved = "approved"
);
names!(Assurance, "assurance", Normal = "normal", High = "high");

/// An owner identity: an email address, compared case-insensitively (stored lower-case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(String);

impl Owner {
    /// Parse an email address: one `@`, something on each side, no whitespace or control
    /// characters, at most 254 bytes. Folded to lower case.
    pub fn parse(s: &str) -> Result<Owner, Error> {
        let s = s.trim();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && s.split_once('@').is_some_and(|(l, d)| {
                !l.is_empty() && !d.is_empty() && !d.contains('@') && !d.starts_with('.')
            });
        if ok {
            Ok(Owner(s.to_lowercase()))
        } else {
            Err(Error::BadOwner(s.chars().take(80).collect()))
        }
    }

    /// The address, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A collection slug: `[a-z0-9][a-z0-9_-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Collection(String);

impl Collection {
    /// Parse a slug.
    pub fn parse(s: &str) -> Result<Collection, Error> {
        let b = s.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 63
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_');
        if ok {
            Ok(Collection(s.to_owned()))
        } else {
            Err(Error::BadCollection(s.chars().take(80).collect()))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Collection {
    fn default() -> Self {
        Collection(DEFAULT_COLLECTION.to_owned())
    }
}

/// What happens to an inactive (deactivated or deleted) owner's devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeactivationPolicy {
    /// New enrollments, certificates, device-auth tokens and renewals are refused; records,
    /// auth sets and evidence are kept, and MDM commands keep flowing.
    #[default]
    Suspend,
    /// Device access stays as it was.
    Keep,
}

/// The organisation's settings that the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Self-enrolled devices are approved at once (Smallstep's "require approval" turned off).
    /// Default `false`: they wait for an administrator.
    pub approve_self_enrolled: bool,
    /// Identity-provider self-enrollment is accepted. Default `false`.
    pub idp_self_enrollment: bool,
    /// What an inactive owner means for device access.
    pub deactivation: DeactivationPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            approve_self_enrolled: false,
            idp_self_enrollment: false,
            deactivation: DeactivationPolicy::Suspend,
        }
    }
}

/// The admission rules: what approval a device arriving from a source gets.
pub mod admission {
    use super::{Approval, Policy, Source};
    use crate::Error;

    /// The approval a new device from `source` starts with, or why the source is refused.
    pub fn admit(policy: &Policy, source: Source) -> Result<Approval, Error> {
        match source {
            Source::MdmSync | Source::ApiImport => Ok(Approval::Approved),
            Source::IdpSelfEnrollment if !policy.idp_self_enrollment => {
                Err(Error::SourceDisabled {
                    from: source,
                    rule: "identity-provider self-enrollment is off",
                })
            }
            Source::SelfEnrolled | Source::IdpSelfEnrollment => {
                Ok(if policy.approve_self_enrolled {
                    Approval::Approved
                } else {
                    Approval::Pending
                })
            }
        }
    }

    /// The source of a manual MDM enrollment: an invite an administrator issued for a named
    /// owner counts as an API import; one without a named owner as a self-enrollment.
    pub fn mdm_enrollment_source(invite_owner: Option<&str>) -> Source {
        match invite_owner {
            Some(o) if !o.trim().is_empty() => Source::ApiImport,
            _ => Source::SelfEnrolled,
        }
    }
}

/// One device in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The permanent identifier the device can prove.
    pub instance_id: InstanceId,
    /// Whose device it is.
    pub owner: Option<Owner>,
    /// The collection it belongs to.
    pub collection: Collection,
    /// Where the record came from.
    pub source: Source,
    /// Approval state.
    pub approval: Approval,
    /// Assurance level.
    pub assurance: Assurance,
}

impl Device {
    /// A new record from `source`, with the approval the admission rules give it and
    /// normal assurance. `owner` must be an email address when given.
    pub fn new(
        instance_id: InstanceId,
        owner: Option<String>,
        collection: Option<Collection>,
        source: Source,
        policy: &Policy,
    ) -> Result<Device, Error> {
        let approval = admission::admit(policy, source)?;
        Ok(Device {
            instance_id,
            owner: owner.as_deref().map(Owner::parse).transpose()?,
            collection: collection.unwrap_or_default(),
            source,
            approval,
            assurance: Assurance::Normal,
        })
    }

    /// The record after an administrator imports the same instance ID again (API import):
    /// the owner and collection are replaced and the device is approved (an administrator
    /// vouched for it). Source and assurance are kept.
    pub fn imported(&self, owner: Option<Owner>, collection: Collection) -> Device {
        Device {
            owner,
            collection,
            approval: Approval::Approved,
            ..self.clone()
        }
    }

    /// The record after a later sync or enrollment from `source` sees the device again: a
    /// source that would approve a new device approves this one; nothing is ever un-approved
    /// by a sync. The owner is filled in when the record had none.
    pub fn seen_again(&self, source: Source, owner: Option<Owner>, policy: &Policy) -> Device {
        let mut d = self.clone();
        if admission::admit(policy, source) == Ok(Approval::Approved) {
            d.approval = Approval::Approved;
        }
        if d.owner.is_none() {
            d.owner = owner;
        }
        d
    }

    /// The record after an administrator approves it.
    pub fn approved(&self) -> Device {
        Device {
            approval: Approval::Approved,
            ..self.clone()
        }
    }

    /// The record after a verified attestation from the device proved `attested`: high
    /// assurance when it is this record's instance ID, otherwise [`Error::InstanceMismatch`]
    /// (the caller logs it and changes nothing).
    pub fn attested(&self, attested: &InstanceId) -> Result<Device, Error> {
        if attested != &self.instance_id {
            return Err(Error::InstanceMismatch {
                recorded: self.instance_id.to_string(),
                attested: attested.to_string(),
            });
        }
        Ok(Device {
            assurance: Assurance::High,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serial() -> InstanceId {
        InstanceId::parse("C02XK1ABJG5J").unwrap()
    }

    #[test]
    fn approval_by_source() {
        let p = Policy::default();
        assert_eq!(
            admission::admit(&p, Source::SelfEnrolled),
            Ok(Approval::Pending)
        );
        assert!(matches!(
            admission::admit(&p, Source::IdpSelfEnrollment),
            Err(Error::SourceDisabled { .. })
        ));
        assert_eq!(
            admission::admit(&p, Source::MdmSync),
            Ok(Approval::Approved)
        );
        assert_eq!(
            admission::admit(&p, Source::ApiImport),
            Ok(Approval::Approved)
        );
        let open = Policy {
            approve_self_enrolled: true,
            idp_self_enrollment: true,
            ..p
        };
        assert_eq!(
            admission::admit(&open, Source::SelfEnrolled),
            Ok(Approval::Approved)
        );
        assert_eq!(
            admission::admit(&open, Source::IdpSelfEnrollment),
            Ok(Approval::Approved)
        );
        let idp_only = Policy {
            idp_self_enrollment: true,
            ..p
        };
        assert_eq!(
            admission::admit(&idp_only, Source::IdpSelfEnrollment),
            Ok(Approval::Pending)
        );
    }

    #[test]
    fn mdm_invites() {
        assert_eq!(
            admission::mdm_enrollment_source(Some("ada@example.com")),
            Source::ApiImport
        );
        assert_eq!(admission::mdm_enrollment_source(None), Source::SelfEnrolled);
        assert_eq!(
            admission::mdm_enrollment_source(Some(" ")),
            Source::SelfEnrolled
        );
    }

    #[test]
    fn high_assurance_only_for_the_same_instance() {
        let p = Policy::default();
        let d = Device::new(serial(), None, None, Source::ApiImport, &p).unwrap();
        assert_eq!(d.assurance, Assurance::Normal);
        assert_eq!(d.collection.as_str(), "default");
        let other = InstanceId::parse("C02XK1ABJG5K").unwrap();
        assert!(matches!(
            d.attested(&other),
            Err(Error::InstanceMismatch { .. })
        ));
        assert_eq!(d.attested(&serial()).unwrap().assurance, Assurance::High);
    }

    #[test]
    fn sync_never_unapproves_and_import_approves() {
        let p = Policy::default();
        let d = Device::new(serial(), None, None, Source::SelfEnrolled, &p).unwrap();
        assert_eq!(
            d.seen_again(Source::SelfEnrolled, None, &p).approval,
            Approval::Pending
        );
        assert_eq!(
            d.seen_again(Source::MdmSync, None, &p).approval,
            Approval::Approved
        );
        let owner = Owner::parse("Ada@Example.com").unwrap();
        assert_eq!(owner.as_str(), "ada@example.com");
        let i = d.imported(Some(owner.clone()), Collection::default());
        assert_eq!((i.approval, i.owner), (Approval::Approved, Some(owner)));
        assert_eq!(i.source, Source::SelfEnrolled);
    }

    #[test]
    fn owners_and_collections() {
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a da@example.com",
            "a@b@c",
        ] {
            assert!(Owner::parse(bad).is_err(), "{bad}");
        }
        assert!(Collection::parse("laptops-2026").is_ok());
        for bad in ["", "Laptops", "-x", "a/b", &"x".repeat(64)] {
            assert!(Collection::parse(bad).is_err(), "{bad}");
        }
        for s in Source::ALL {
            assert_eq!(Source::parse(s.as_str()), Ok(*s));
        }
    }
}
