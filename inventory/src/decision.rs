//! The access decision: one function every caller asks.
//!
//! ```text
//! decide(device, owner, demand, policy)
//!   no record                               ──▶ Refuse(UnknownDevice)
//!   approval != Approved                    ──▶ Refuse(NotApproved)
//!   owner deactivated / deleted, Suspend    ──▶ Refuse(OwnerInactive)
//!   demand High, assurance Normal           ──▶ Refuse(NotHighAssurance)
//!   otherwise                               ──▶ Allow
//! ```
//!
//! The rules are checked in that order, so a refusal names the first rule that failed.

use crate::{Assurance, DeactivationPolicy, Device, Policy};

/// Who is asking, for logs and refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A SCEP PKCSReq for a new device certificate.
    ScepIssuance,
    /// A SCEP RenewalReq (or any renewal of a device certificate).
    Renewal,
    /// An MDM enrollment (Authenticate / TokenUpdate of a new channel).
    MdmEnrollment,
    /// A device-auth token request.
    DeviceAuthToken,
}

impl Purpose {
    /// The name in logs and error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::ScepIssuance => "scep_issuance",
            Purpose::Renewal => "renewal",
            Purpose::MdmEnrollment => "mdm_enrollment",
            Purpose::DeviceAuthToken => "device_auth_token",
        }
    }
}

/// What the resource demands of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Demand {
    /// Any approved device of an active owner.
    #[default]
    Any,
    /// Only a high-assurance device.
    HighAssurance,
}

/// The owner's standing in the directory (SCIM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OwnerStanding {
    /// The owner is active.
    Active,
    /// The owner was deactivated (`active: false`).
    Deactivated,
    /// The owner was deleted from the directory (a tombstone remains).
    Deleted,
    /// The device has no owner, or the directory does not know the owner: the directory
    /// cannot say anything against it.
    Unknown,
}

/// The rule a refusal failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rule {
    /// The inventory has no device with this instance ID.
    UnknownDevice,
    /// The device waits for an administrator's approval.
    NotApproved,
    /// The owner is deactivated or deleted and the deactivation policy is `suspend`.
    OwnerInactive,
    /// The resource demands a high-assurance device.
    NotHighAssurance,
}

impl Rule {
    /// The rule's name in logs and error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::UnknownDevice => "unknown_device",
            Rule::NotApproved => "not_approved",
            Rule::OwnerInactive => "owner_inactive",
            Rule::NotHighAssurance => "not_high_assurance",
        }
    }
}

/// A refusal: the rule that failed and what an operator reads about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule.
    pub rule: Rule,
    /// A sentence naming the device and the rule.
    pub message: String,
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.message, self.rule.as_str())
    }
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused, with the rule that failed.
    Refuse(Refusal),
}

impl Decision {
    /// The refusal, if refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Decision::Allow => None,
            Decision::Refuse(r) => Some(r),
        }
    }

    /// Whether the answer is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow)
    }
}

fn refuse(rule: Rule, message: String) -> Decision {
    Decision::Refuse(Refusal { rule, message })
}

/// The access decision for `device` (`None`: no record) owned by someone whose standing is
/// `owner`, for a resource that demands `demand`. Pure: the caller reads the record and the
/// owner's standing and acts on the answer.
pub fn decide(
    device: Option<&Device>,
    owner: OwnerStanding,
    demand: Demand,
    policy: &Policy,
) -> Decision {
    let Some(d) = device else {
        return refuse(
            Rule::UnknownDevice,
            "the device is not in the inventory".into(),
        );
    };
    if d.approval != crate::Approval::Approved {
        return refuse(
            Rule::NotApproved,
            format!(
                "device {} waits for an administrator's approval",
                d.instance_id
            ),
        );
    }
    if policy.deactivation == DeactivationPolicy::Suspend
        && matches!(owner, OwnerStanding::Deactivated | OwnerStanding::Deleted)
    {
        let owner = d.owner.as_ref().map_or("?", |o| o.as_str());
        return refuse(
            Rule::OwnerInactive,
            format!(
                "the owner {owner} of device {} is not active",
                d.instance_id
            ),
        );
    }
    if demand == Demand::HighAssurance && d.assurance != Assurance::High {
        return refuse(
            Rule::NotHighAssurance,
            format!(
                "device {} has not attested its identity (high assurance required)",
                d.instance_id
            ),
        );
    }
    Decision::Allow
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InstanceId, Source};

    fn device(source: Source) -> Device {
        Device::new(
            InstanceId::parse("C02XK1ABJG5J").unwrap(),
            Some("ada@example.com".into()),
            None,
            source,
            &Policy::default(),
        )
        .unwrap()
    }

    fn rule(d: Decision) -> Option<Rule> {
        d.refusal().map(|r| r.rule)
    }

    #[test]
    fn each_rule_in_order() {
        let p = Policy::default();
        let any = Demand::Any;
        assert_eq!(
            rule(decide(None, OwnerStanding::Active, any, &p)),
            Some(Rule::UnknownDevice)
        );
        let pending = device(Source::SelfEnrolled);
        // Approval is checked before the owner.
        assert_eq!(
            rule(decide(Some(&pending), OwnerStanding::Deactivated, any, &p)),
            Some(Rule::NotApproved)
        );
        let ok = device(Source::ApiImport);
        assert_eq!(
            decide(Some(&ok), OwnerStanding::Active, any, &p),
            Decision::Allow
        );
        assert_eq!(
            decide(Some(&ok), OwnerStanding::Unknown, any, &p),
            Decision::Allow
        );
        for s in [OwnerStanding::Deactivated, OwnerStanding::Deleted] {
            assert_eq!(
                rule(decide(Some(&ok), s, any, &p)),
                Some(Rule::OwnerInactive)
            );
        }
        let keep = Policy {
            deactivation: DeactivationPolicy::Keep,
            ..p
        };
        assert_eq!(
            decide(Some(&ok), OwnerStanding::Deactivated, any, &keep),
            Decision::Allow
        );
        let high = Demand::HighAssurance;
        assert_eq!(
            rule(decide(Some(&ok), OwnerStanding::Active, high, &p)),
            Some(Rule::NotHighAssurance)
        );
        let attested = ok.attested(&ok.instance_id).unwrap();
        assert_eq!(
            decide(Some(&attested), OwnerStanding::Active, high, &p),
            Decision::Allow
        );
        let msg = decide(Some(&pending), OwnerStanding::Active, any, &p)
            .refusal()
            .unwrap()
            .to_string();
        assert!(
            msg.contains("C02XK1ABJG5J") && msg.contains("not_approved"),
            "{msg}"
        );
    }
}
