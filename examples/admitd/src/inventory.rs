//! The device inventory in the Smallstep model: storage, the admin API and the access
//! decision every device-facing feature asks.
//!
//! ```text
//!  PUT  /api/v1/collections/{slug}/instances/{instanceID}   create or update (API import)
//!  GET  /api/v1/collections/{slug}/instances/{instanceID}   one device
//!  POST /api/v1/collections/{slug}/instances/{instanceID}/approve
//!  POST /api/v1/inventory/import[?collection=slug]          bulk, CSV or JSON, per-row report
//!  GET  /api/v1/inventory/dashboard                         recent devices, counts
//!
//!  SCEP issuance, renewal, MDM enrollment, device-auth token ──▶ Service::decide(id, purpose)
//!      ──▶ inventory::decide(record, owner standing from SCIM, demand, policy)
//! ```
//!
//! The rules live in the `inventory` crate; this module reads and writes records and maps
//! answers onto HTTP. The instance ID in a path is percent-encoded (EK URIs contain `/`, `+`
//! and `=`).

pub mod api;
pub mod apple;
pub mod store;
pub mod tpm;

use std::path::Path;

use ::inventory::{
    Collection, DeactivationPolicy, Decision, Demand, Device, InstanceId, Owner, OwnerStanding,
    Policy, Purpose, Source,
};
use serde::Deserialize;

use crate::records::{Db, DbError, now_unix};
pub use store::Record;

/// `[inventory]` in the config file.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Approve self-enrolled devices at once (default: they wait for an administrator).
    pub approve_self_enrolled: bool,
    /// Accept identity-provider self-enrollment (default: off).
    pub idp_self_enrollment: bool,
    /// `suspend` (default) or `keep`: what an inactive owner means for device access.
    pub deactivation: String,
    /// The purposes that demand a high-assurance device: any of `scep_issuance`, `renewal`,
    /// `mdm_enrollment`, `device_auth_token`. Default: none.
    pub high_assurance_for: Vec<String>,
    /// The organisation's name: the import body's owner key is `"<org>:identity"`.
    pub org: String,
    /// The SCIM bearer token; absent: generated on first start into `DATA/scim-token`.
    pub scim_token: Option<String>,
    /// PEM files of TPM vendor roots (and intermediates) that EK certificates must chain to.
    pub tpm_roots: Vec<std::path::PathBuf>,
    /// Refuse TPM agents that send only the EK public key, without its certificate.
    pub tpm_require_ek_cert: bool,
    /// The purposes whose callers ask the inventory before they act: any of `scep_issuance`,
    /// `renewal`, `mdm_enrollment`, `device_auth_token`. Default: none (every caller keeps its
    /// own admission only).
    pub enforce: Vec<String>,
    /// PEM files of the roots Apple attestations must chain to; empty: Apple's Enterprise
    /// Attestation Root CA (tests name their own).
    pub apple_attestation_roots: Vec<std::path::PathBuf>,
}

impl core::fmt::Debug for Settings {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Settings")
            .field("approve_self_enrolled", &self.approve_self_enrolled)
            .field("idp_self_enrollment", &self.idp_self_enrollment)
            .field("deactivation", &self.deactivation)
            .field("high_assurance_for", &self.high_assurance_for)
            .field("org", &self.org)
            .field("scim_token", &self.scim_token.as_ref().map(|_| "(set)"))
            .field("tpm_roots", &self.tpm_roots)
            .field("tpm_require_ek_cert", &self.tpm_require_ek_cert)
            .field("enforce", &self.enforce)
            .field("apple_attestation_roots", &self.apple_attestation_roots)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            approve_self_enrolled: false,
            idp_self_enrollment: false,
            deactivation: "suspend".into(),
            high_assurance_for: Vec::new(),
            org: "admit".into(),
            scim_token: None,
            tpm_roots: Vec::new(),
            tpm_require_ek_cert: false,
            enforce: Vec::new(),
            apple_attestation_roots: Vec::new(),
        }
    }
}

fn purpose(name: &str) -> Option<Purpose> {
    [
        Purpose::ScepIssuance,
        Purpose::Renewal,
        Purpose::MdmEnrollment,
        Purpose::DeviceAuthToken,
    ]
    .into_iter()
    .find(|p| p.as_str() == name)
}

impl Settings {
    /// Refuse settings that cannot work.
    pub fn check(&self) -> Result<(), crate::config::Error> {
        let invalid = |name, reason: &str| crate::config::Error::Invalid {
            name,
            reason: reason.into(),
        };
        if !matches!(self.deactivation.as_str(), "suspend" | "keep") {
            return Err(invalid(
                "inventory.deactivation",
                "must be \"suspend\" or \"keep\"",
            ));
        }
        if let Some(p) = self
            .high_assurance_for
            .iter()
            .chain(&self.enforce)
            .find(|p| purpose(p).is_none())
        {
            return Err(invalid(
                "inventory.high_assurance_for / inventory.enforce",
                &format!(
                    "{p:?} is not one of scep_issuance, renewal, mdm_enrollment, device_auth_token"
                ),
            ));
        }
        if self.org.is_empty() || self.org.contains(':') {
            return Err(invalid("inventory.org", "must be non-empty without ':'"));
        }
        if let Some(t) = &self.scim_token
            && t.trim().len() < 16
        {
            return Err(invalid(
                "inventory.scim_token",
                "must be at least 16 characters",
            ));
        }
        Ok(())
    }

    /// The rules' policy.
    pub fn policy(&self) -> Policy {
        Policy {
            approve_self_enrolled: self.approve_self_enrolled,
            idp_self_enrollment: self.idp_self_enrollment,
            deactivation: if self.deactivation == "keep" {
                DeactivationPolicy::Keep
            } else {
                DeactivationPolicy::Suspend
            },
        }
    }
}

/// Why an inventory step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input broke a rule (400, or 403 for a disabled source).
    #[error(transparent)]
    Rule(#[from] ::inventory::Error),
    /// The instance ID is recorded in another collection (409).
    #[error("instance {id} is already in collection {collection:?}")]
    OtherCollection {
        /// The instance ID.
        id: String,
        /// The collection that holds it.
        collection: String,
    },
    /// No such device (404).
    #[error("no device {0} in the inventory")]
    NotFound(String),
    /// The database failed (500).
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The inventory's answer to a device-facing feature ([`Service::gate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Go ahead (allowed, or this purpose is not enforced).
    Allow,
    /// Refused: the text names the device and the rule that failed (for the device's answer).
    Refuse(String),
    /// The database failed: answer as a server error.
    Failed(String),
}

/// The attribute values of an RFC 4514 name, unescaped (`\+`, `\=`, `\,` ...);
/// hex-encoded (`#...`) values are left out.
fn rfc4514_values(dn: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut key, mut val) = (String::new(), String::new());
    let (mut in_val, mut esc) = (false, false);
    for c in dn.chars() {
        if esc {
            if in_val {
                val.push(c);
            } else {
                key.push(c);
            }
            esc = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '=' if !in_val => in_val = true,
            ',' | '+' if in_val => {
                if !val.starts_with('#') {
                    out.push((key.trim().to_owned(), val.trim().to_owned()));
                }
                key.clear();
                val.clear();
                in_val = false;
            }
            c if in_val => val.push(c),
            c => key.push(c),
        }
    }
    if in_val && !val.starts_with('#') {
        out.push((key.trim().to_owned(), val.trim().to_owned()));
    }
    out
}

/// The instance IDs a certificate subject (RFC 4514) may carry: `serialNumber` first, then
/// `CN`.
pub fn subject_candidates(dn: &str) -> Vec<String> {
    let attrs = rfc4514_values(dn);
    let pick = |names: &[&str]| -> Vec<String> {
        attrs
            .iter()
            .filter(|(k, _)| names.iter().any(|n| k.eq_ignore_ascii_case(n)))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let mut v = pick(&["serialNumber", "2.5.4.5"]);
    v.extend(pick(&["CN", "commonName"]));
    v
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new record.
    Created,
    /// An existing record changed (or was already as asked).
    Updated,
}

/// The inventory service.
#[derive(Debug)]
pub struct Service {
    db: Db,
    settings: Settings,
    policy: Policy,
    tpm: Option<tpm::Tpm>,
}

/// How many times a write is decided again after a concurrent change.
const RETRIES: usize = 5;

impl Service {
    /// The service over `db` (the data directory's SQLite database or PostgreSQL).
    pub fn new(db: Db, settings: Settings) -> Service {
        let policy = settings.policy();
        Service {
            db,
            settings,
            policy,
            tpm: None,
        }
    }

    /// The anchors for Apple attestations: the configured roots, or `None` for Apple's.
    pub fn apple_anchors(&self) -> Result<Option<Vec<pki::cert::Cert>>, crate::config::Error> {
        if self.settings.apple_attestation_roots.is_empty() {
            return Ok(None);
        }
        load_pems(
            &self.settings.apple_attestation_roots,
            "inventory.apple_attestation_roots",
        )
        .map(Some)
    }

    /// Turn on TPM attestation with `provider`, loading the EK vendor roots the settings
    /// name.
    pub fn with_tpm(
        mut self,
        provider: &'static dyn pki::provider::CryptoProvider,
    ) -> Result<Service, crate::config::Error> {
        let roots = load_pems(&self.settings.tpm_roots, "inventory.tpm_roots")?;
        self.tpm = Some(tpm::Tpm {
            provider,
            roots,
            require_ek_cert: self.settings.tpm_require_ek_cert,
        });
        Ok(self)
    }

    /// The database (the SCIM directory shares it).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The rules' policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The record of `id`.
    pub fn device(&self, id: &InstanceId) -> Result<Option<Record>, DbError> {
        store::device(&self.db, id)
    }

    /// The owner's standing in the SCIM directory.
    pub fn owner_standing(&self, owner: Option<&Owner>) -> Result<OwnerStanding, DbError> {
        match owner {
            None => Ok(OwnerStanding::Unknown),
            Some(o) => crate::scim::store::owner_standing(&self.db, o.as_str()),
        }
    }

    /// The access decision for device `id` asking for `purpose`: approved, owner active (under
    /// the `suspend` policy) and high-assurance when the settings demand it for `purpose`.
    /// A refusal is logged with the rule that failed. `Err` only when the database fails.
    pub fn decide(&self, id: &InstanceId, purpose: Purpose) -> Result<Decision, DbError> {
        let record = self.device(id)?;
        let device = record.as_ref().map(|r| &r.device);
        let standing = self.owner_standing(device.and_then(|d| d.owner.as_ref()))?;
        let demand = if self
            .settings
            .high_assurance_for
            .iter()
            .any(|p| p == purpose.as_str())
        {
            Demand::HighAssurance
        } else {
            Demand::Any
        };
        let decision = ::inventory::decide(device, standing, demand, &self.policy);
        if let Decision::Refuse(r) = &decision {
            tracing::warn!(
                instance = %id,
                purpose = purpose.as_str(),
                rule = r.rule.as_str(),
                "inventory refused access: {}",
                r.message
            );
        }
        Ok(decision)
    }

    /// Whether callers for `purpose` must ask (the `enforce` setting).
    pub fn enforces(&self, purpose: Purpose) -> bool {
        self.settings.enforce.iter().any(|p| p == purpose.as_str())
    }

    /// The check a device-facing feature makes before it acts for `purpose`: when the
    /// purpose is enforced, the first of `candidates` that is an instance ID names the device
    /// and [`Service::decide`] answers; none at all is a refusal (the device is not in the
    /// inventory). Purposes not enforced are allowed without a read.
    pub fn gate(&self, candidates: &[String], purpose: Purpose) -> Gate {
        if !self.enforces(purpose) {
            return Gate::Allow;
        }
        let Some(id) = candidates.iter().find_map(|c| InstanceId::parse(c).ok()) else {
            tracing::warn!(
                purpose = purpose.as_str(),
                ?candidates,
                "inventory refused access: no instance ID"
            );
            return Gate::Refuse(
                "the request names no device instance ID (Apple serial or EK URI) (unknown_device)"
                    .into(),
            );
        };
        match self.decide(&id, purpose) {
            Ok(Decision::Allow) => Gate::Allow,
            Ok(Decision::Refuse(r)) => Gate::Refuse(r.to_string()),
            Err(e) => {
                tracing::error!(error = %e, "inventory decision failed");
                Gate::Failed(e.to_string())
            }
        }
    }

    /// Record a manual MDM enrollment of the device with Apple serial `serial`: an invite
    /// issued for a named `owner` counts as an API import (approved at once), one without as a
    /// self-enrollment (pending unless the policy approves those). A device already recorded
    /// keeps its record; an owner-named invite approves it.
    pub fn record_mdm_enrollment(
        &self,
        serial: &str,
        owner: Option<&str>,
    ) -> Result<(Record, Outcome), Error> {
        let id = InstanceId::parse(serial)?;
        let source = ::inventory::admission::mdm_enrollment_source(owner);
        self.record_arrival(&id, owner, source)
    }

    /// Record a device arriving from `source` (self-enrollment, identity-provider
    /// self-enrollment, MDM/ADE sync): new records get the approval the rules give; a known
    /// device is only ever approved further, never un-approved.
    pub fn record_arrival(
        &self,
        id: &InstanceId,
        owner: Option<&str>,
        source: Source,
    ) -> Result<(Record, Outcome), Error> {
        let owner = owner
            .filter(|o| !o.trim().is_empty())
            .map(Owner::parse)
            .transpose()?;
        self.write(id, |old| match old {
            None => Ok(Device::new(
                id.clone(),
                owner.as_ref().map(|o| o.as_str().to_owned()),
                None,
                source,
                &self.policy,
            )?),
            Some(r) => Ok(r.device.seen_again(source, owner.clone(), &self.policy)),
        })
    }

    /// API import of `id` into `collection` for `owner`: created approved, or updated (owner
    /// replaced, approved). An instance ID recorded in another collection is refused.
    pub fn import(
        &self,
        collection: &Collection,
        id: &InstanceId,
        owner: Option<Owner>,
    ) -> Result<(Record, Outcome), Error> {
        self.write(id, |old| match old {
            None => {
                let mut d = Device::new(
                    id.clone(),
                    None,
                    Some(collection.clone()),
                    Source::ApiImport,
                    &self.policy,
                )?;
                d.owner = owner.clone();
                Ok(d)
            }
            Some(r) if &r.device.collection != collection => Err(Error::OtherCollection {
                id: id.to_string(),
                collection: r.device.collection.as_str().to_owned(),
            }),
            Some(r) => Ok(r.device.imported(owner.clone(), collection.clone())),
        })
    }

    /// An administrator approves `id`.
    pub fn approve(&self, id: &InstanceId) -> Result<Record, Error> {
        self.write(id, |old| match old {
            None => Err(Error::NotFound(id.to_string())),
            Some(r) => Ok(r.device.approved()),
        })
        .map(|(r, _)| r)
    }

    /// A verified attestation from the device recorded as `id` proved the instance ID
    /// `attested`: the device becomes high-assurance, or, when the IDs differ, nothing
    /// changes and the mismatch is logged and returned.
    pub fn attested(&self, id: &InstanceId, attested: &InstanceId) -> Result<Record, Error> {
        let r = self.write(id, |old| match old {
            None => Err(Error::NotFound(id.to_string())),
            Some(r) => Ok(r.device.attested(attested)?),
        });
        if let Err(Error::Rule(e @ ::inventory::Error::InstanceMismatch { .. })) = &r {
            tracing::warn!(instance = %id, attested = %attested, "attestation refused: {e}");
        }
        r.map(|(r, _)| r)
    }

    /// Read, decide with `f`, write under compare-and-set; decide again when another writer
    /// got there first.
    fn write(
        &self,
        id: &InstanceId,
        f: impl Fn(Option<&Record>) -> Result<Device, Error>,
    ) -> Result<(Record, Outcome), Error> {
        for _ in 0..RETRIES {
            let old = self.device(id)?;
            let new = f(old.as_ref())?;
            let now = now_unix();
            let (stmt, outcome) = match &old {
                Some(r) if r.device == new => return Ok((r.clone(), Outcome::Updated)),
                Some(r) => (store::update(r, &new, now), Outcome::Updated),
                None => (store::insert(&new, now), Outcome::Created),
            };
            match self.db.write(&[stmt]) {
                Ok(()) => {
                    let rec = self
                        .device(id)?
                        .ok_or_else(|| Error::NotFound(id.to_string()))?;
                    return Ok((rec, outcome));
                }
                Err(DbError::Stale | DbError::Unique(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Db(DbError::Stale))
    }
}

/// Every certificate in the PEM files `paths` (a setting named `name`).
fn load_pems(
    paths: &[std::path::PathBuf],
    name: &'static str,
) -> Result<Vec<pki::cert::Cert>, crate::config::Error> {
    let mut out = Vec::new();
    for path in paths {
        let invalid = |reason: String| crate::config::Error::Invalid {
            name,
            reason: format!("{}: {reason}", path.display()),
        };
        let pem = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
        out.extend(pki::cert::Cert::from_pem_chain(&pem).map_err(|e| invalid(e.to_string()))?);
    }
    Ok(out)
}

/// `DATA/scim-token`: the SCIM bearer token generated on first start when the config names
/// none.
pub fn scim_token_path(data: &Path) -> std::path::PathBuf {
    data.join("scim-token")
}

/// The SCIM token from `DATA/scim-token`, created (32 random bytes, hex, mode 0600) on first
/// start.
pub fn load_or_create_scim_token(data: &Path) -> Result<String, crate::data_dir::Error> {
    let path = scim_token_path(data);
    let io = |source| crate::data_dir::Error::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => return Ok(t.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let token = hex::encode(b);
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(io)?;
    f.write_all(token.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    #[test]
    fn subject_candidates_unescape() {
        // As x509-cert prints a name: escaped '+' and '=' inside values.
        let dn = "CN=urn:ek:sha256:ab\\+c/d\\=,O=Acme\\, Inc.,serialNumber=C02XK1ABJG5J";
        assert_eq!(
            super::subject_candidates(dn),
            vec![
                "C02XK1ABJG5J".to_owned(),
                "urn:ek:sha256:ab+c/d=".to_owned()
            ]
        );
        assert!(super::subject_candidates("CN=#0403616263").is_empty());
    }
}
