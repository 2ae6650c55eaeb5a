//! What a simulated device answers to each command: a pure function of the command, the
//! device's model and its installed profiles, returning the report's status and result keys.
//!
//! ```text
//! Command ──answer(&mut Inventory, &Model, attestation CA)──▶ Reply { status, result keys,
//!                                                                   ErrorChain, effect }
//! DeviceInformation      queried keys from Model (+ DevicePropertiesAttestation when the
//!                        query carries DeviceAttestationNonce and a test CA is given)
//! SecurityInfo, ProfileList, CertificateList, InstalledApplicationList   from Model/Inventory
//! InstallProfile/RemoveProfile    change Inventory.profiles
//! DeclarativeManagement           Acknowledged, effect: DDM sync with the tokens sent
//! RestartDevice, DeviceLock, EraseDevice   Acknowledged, effect recorded
//! other schema commands           Error (MCMDMErrorDomain 12021, not supported)
//! unknown RequestType             CommandFormatError
//! ```
//!
//! Every result is built from `mdm-proto`'s generated response types, so it has the keys and
//! types of Apple's schema.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mdm_proto::command::{Command, ErrorChainItem, Payload, Status};
use mdm_proto::generated::commands::{
    CertificateListResponse, CommandPayload, DeviceInformationResponse, DeviceLockResponse,
    EraseDeviceResponse, InstallProfileResponse, InstalledApplicationListResponse,
    ProfileListResponse, RemoveProfileResponse, RestartDeviceResponse, SecurityInfoResponse,
    certificate_list::CertificateListItem,
    device_information::{QueriesItem, QueryResponses},
    installed_application_list::InstalledApplicationListItem,
    profile_list::{PayloadContentItem, ProfileListItem},
    security_info::{ManagementStatus, SecurityInfoResponseSecurityInfo},
};
use mdm_proto::profile::Profile;
use mdm_proto::{Data, ToPlist};
use pki::cert::Cert;
use pki::cert::issue::{Template, issue};
use pki::key::{KeySpec, PrivateKey};
use plist::{Dictionary, Value};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What a device says about its hardware and OS (stable per device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// `UDID`.
    pub udid: String,
    /// `SerialNumber`.
    pub serial: String,
    /// `DeviceName`.
    pub device_name: String,
    /// `ModelName` (`iPhone`, `iPad`).
    pub model_name: String,
    /// `Model` (order number, `MQ9X3LL/A`).
    pub model: String,
    /// `ProductName` (`iPhone15,2`).
    pub product_name: String,
    /// `OSVersion`.
    pub os_version: String,
    /// `BuildVersion`.
    pub build_version: String,
    /// `WiFiMAC`.
    pub wifi_mac: String,
    /// `BluetoothMAC`.
    pub bluetooth_mac: String,
    /// `IMEI`.
    pub imei: String,
}

/// A profile the device holds (the MDM profile and every InstallProfile since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledProfile {
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `PayloadVersion`.
    pub version: i64,
    /// Its payloads: (`PayloadType`, `PayloadIdentifier`, `PayloadUUID`).
    pub payloads: Vec<(String, String, Option<String>)>,
    /// Installed through MDM (`IsManaged`); the enrollment profile itself is too.
    pub managed: bool,
}

/// What commands change or list on the device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Installed profiles, by install order.
    pub profiles: Vec<InstalledProfile>,
    /// Whether the device was locked, restarted or erased by command (counts).
    pub locks: u32,
    /// RestartDevice commands run.
    pub restarts: u32,
    /// EraseDevice commands run.
    pub erases: u32,
}

/// The CA that signs simulated Managed Device Attestation leaves (a test CA: the server under
/// test must trust it instead of Apple's root).
#[derive(Clone)]
pub struct AttestationCa {
    /// The issuing CA's key.
    pub key: Arc<dyn PrivateKey>,
    /// The issuing CA's certificate, then any further chain to send (not the root the server
    /// trusts, unless it is the issuer itself).
    pub chain: Vec<Cert>,
}

impl std::fmt::Debug for AttestationCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttestationCa")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

/// What else happens on the device after it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing.
    None,
    /// DeclarativeManagement: sync now; the command's `Data` (a TokensResponse) if any.
    DdmSync(Option<Vec<u8>>),
    /// RestartDevice.
    Restart,
    /// DeviceLock.
    Lock,
    /// EraseDevice.
    Erase,
}

/// The answer to one command.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The report's `Status`.
    pub status: Status,
    /// The result keys (for `Acknowledged`).
    pub result: Dictionary,
    /// `ErrorChain` (for `Error`).
    pub error_chain: Vec<ErrorChainItem>,
    /// What happens next on the device.
    pub effect: Effect,
}

impl Reply {
    fn ack(result: Value, effect: Effect) -> Reply {
        Reply {
            status: Status::Acknowledged,
            result: match result {
                Value::Dictionary(d) => d,
                _ => Dictionary::new(),
            },
            error_chain: Vec::new(),
            effect,
        }
    }

    fn error(code: i64, domain: &str, text: &str) -> Reply {
        Reply {
            status: Status::Error,
            result: Dictionary::new(),
            error_chain: vec![ErrorChainItem {
                error_code: Some(code),
                error_domain: Some(domain.into()),
                localized_description: Some(text.into()),
                us_english_description: Some(text.into()),
                unknown: Dictionary::new(),
            }],
            effect: Effect::None,
        }
    }

    /// `NotNow`: the device is busy.
    pub fn not_now() -> Reply {
        Reply {
            status: Status::NotNow,
            result: Dictionary::new(),
            error_chain: Vec::new(),
            effect: Effect::None,
        }
    }

    /// `CommandFormatError`: the command could not be read.
    pub fn format_error() -> Reply {
        Reply {
            status: Status::CommandFormatError,
            result: Dictionary::new(),
            error_chain: Vec::new(),
            effect: Effect::None,
        }
    }
}

/// The MDM error domain devices report command failures in.
pub const MDM_ERROR_DOMAIN: &str = "MCMDMErrorDomain";
/// The profile error domain (InstallProfile, RemoveProfile).
pub const PROFILE_ERROR_DOMAIN: &str = "MCProfileErrorDomain";
/// "The command is not supported" (what devices answer to a command they do not run).
pub const UNSUPPORTED_COMMAND: i64 = 12021;
/// "The profile could not be found" (RemoveProfile of an unknown identifier).
pub const PROFILE_NOT_FOUND: i64 = 1001;
/// "The profile is malformed" (InstallProfile with a payload that is not a profile).
pub const PROFILE_MALFORMED: i64 = 1000;

/// Everything [`answer`] reads besides the command.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The device.
    pub model: &'a Model,
    /// Its push token.
    pub push_token: &'a [u8],
    /// Its identity certificate (DER), listed by CertificateList.
    pub identity: Option<&'a [u8]>,
    /// Sign attestations with this CA; without it DevicePropertiesAttestation is answered
    /// with an error.
    pub attestation: Option<&'a AttestationCa>,
    /// The clock.
    pub now: SystemTime,
}

/// Answer `cmd`, updating `inventory` (InstallProfile, RemoveProfile, counters).
pub fn answer(cmd: &Command, inventory: &mut Inventory, cx: &Context<'_>) -> Reply {
    let payload = match &cmd.payload {
        Payload::Typed(p) => p.as_ref(),
        Payload::Raw { .. } => return Reply::format_error(),
    };
    match payload {
        CommandPayload::DeviceInformation(q) => {
            let nonce = q.device_attestation_nonce.as_ref().map(|d| d.0.as_slice());
            match device_information(&q.queries, nonce, cx) {
                Ok(r) => Reply::ack(r.to_plist(), Effect::None),
                Err(e) => Reply::error(UNSUPPORTED_COMMAND, MDM_ERROR_DOMAIN, &e.to_string()),
            }
        }
        CommandPayload::SecurityInfo(_) => Reply::ack(security_info().to_plist(), Effect::None),
        CommandPayload::ProfileList(p) => {
            let managed_only = p.managed_only.unwrap_or(false);
            Reply::ack(
                profile_list(inventory, managed_only).to_plist(),
                Effect::None,
            )
        }
        CommandPayload::InstallProfile(p) => {
            match Profile::parse(&p.payload.0, &mdm_proto::Limits::default()) {
                Ok(profile) => {
                    install(inventory, &profile, true);
                    Reply::ack(InstallProfileResponse::default().to_plist(), Effect::None)
                }
                Err(e) => Reply::error(
                    PROFILE_MALFORMED,
                    PROFILE_ERROR_DOMAIN,
                    &format!("The profile is malformed: {e}"),
                ),
            }
        }
        CommandPayload::RemoveProfile(p) => {
            let before = inventory.profiles.len();
            inventory
                .profiles
                .retain(|x| !(x.managed && x.identifier == p.identifier));
            if inventory.profiles.len() == before {
                Reply::error(
                    PROFILE_NOT_FOUND,
                    PROFILE_ERROR_DOMAIN,
                    &format!(
                        "The profile \u{201c}{}\u{201d} could not be found.",
                        p.identifier
                    ),
                )
            } else {
                Reply::ack(RemoveProfileResponse::default().to_plist(), Effect::None)
            }
        }
        CommandPayload::CertificateList(_) => {
            let mut list = Vec::new();
            if let Some(der) = cx.identity {
                let cn = Cert::from_der(der)
                    .map(|c| c.subject_string())
                    .unwrap_or_default();
                let cn = cn
                    .split(',')
                    .find_map(|p| p.trim().strip_prefix("CN="))
                    .unwrap_or(&cn)
                    .to_owned();
                list.push(CertificateListItem {
                    common_name: cn,
                    is_identity: true,
                    data: Data(der.to_vec()),
                    ..Default::default()
                });
            }
            let r = CertificateListResponse {
                certificate_list: list,
                ..Default::default()
            };
            Reply::ack(r.to_plist(), Effect::None)
        }
        CommandPayload::InstalledApplicationList(q) => {
            let apps = installed_apps(cx.model);
            let wanted = q.identifiers.clone().unwrap_or_default();
            let list = apps
                .into_iter()
                .filter(|a| {
                    wanted.is_empty() || a.identifier.as_ref().is_some_and(|i| wanted.contains(i))
                })
                .collect();
            let r = InstalledApplicationListResponse {
                installed_application_list: list,
                ..Default::default()
            };
            Reply::ack(r.to_plist(), Effect::None)
        }
        CommandPayload::DeclarativeManagement(d) => {
            let data = d.data.as_ref().map(|d| d.0.clone());
            Reply::ack(
                mdm_proto::generated::commands::DeclarativeManagementResponse::default().to_plist(),
                Effect::DdmSync(data),
            )
        }
        CommandPayload::RestartDevice(_) => {
            inventory.restarts += 1;
            Reply::ack(RestartDeviceResponse::default().to_plist(), Effect::Restart)
        }
        CommandPayload::DeviceLock(_) => {
            inventory.locks += 1;
            Reply::ack(DeviceLockResponse::default().to_plist(), Effect::Lock)
        }
        CommandPayload::EraseDevice(_) => {
            inventory.erases += 1;
            Reply::ack(EraseDeviceResponse::default().to_plist(), Effect::Erase)
        }
        other => Reply::error(
            UNSUPPORTED_COMMAND,
            MDM_ERROR_DOMAIN,
            &format!(
                "The command \u{201c}{}\u{201d} is not supported.",
                other.name()
            ),
        ),
    }
}

/// Record `profile` as installed (replacing one with the same identifier, as a device does).
pub fn install(inventory: &mut Inventory, profile: &Profile, managed: bool) {
    let top = &profile.top;
    let payloads = top
        .payload_content
        .iter()
        .map(|p| {
            let s = |k: &str| p.get(k).and_then(Value::as_string).map(str::to_owned);
            (
                s("PayloadType").unwrap_or_default(),
                s("PayloadIdentifier").unwrap_or_default(),
                s("PayloadUUID"),
            )
        })
        .collect();
    let entry = InstalledProfile {
        identifier: top.payload_identifier.clone(),
        uuid: top.payload_uuid.clone(),
        display_name: top.payload_display_name.clone(),
        organization: top.payload_organization.clone(),
        version: 1,
        payloads,
        managed,
    };
    inventory
        .profiles
        .retain(|p| p.identifier != entry.identifier);
    inventory.profiles.push(entry);
}

fn profile_list(inventory: &Inventory, managed_only: bool) -> ProfileListResponse {
    let profile_list = inventory
        .profiles
        .iter()
        .filter(|p| !managed_only || p.managed)
        .map(|p| ProfileListItem {
            payload_uuid: p.uuid.clone(),
            payload_identifier: p.identifier.clone(),
            payload_version: Some(p.version),
            payload_display_name: p.display_name.clone(),
            payload_organization: p.organization.clone(),
            payload_removal_disallowed: Some(false),
            has_removal_passcode: Some(false),
            is_encrypted: Some(false),
            is_managed: Some(p.managed),
            payload_content: Some(
                p.payloads
                    .iter()
                    .filter(|(ty, id, _)| !ty.is_empty() && !id.is_empty())
                    .map(|(ty, id, uuid)| PayloadContentItem {
                        payload_type: ty.clone(),
                        payload_version:
                            mdm_proto::generated::commands::profile_list::PayloadVersion::V1,
                        payload_identifier: id.clone(),
                        payload_uuid: uuid.clone(),
                        payload_display_name: None,
                        payload_description: None,
                        payload_organization: None,
                        unknown: Dictionary::new(),
                    })
                    .collect(),
            ),
            ..Default::default()
        })
        .collect();
    ProfileListResponse {
        profile_list,
        ..Default::default()
    }
}

fn security_info() -> SecurityInfoResponse {
    SecurityInfoResponse {
        security_info: SecurityInfoResponseSecurityInfo {
            hardware_encryption_caps: Some(3),
            passcode_present: Some(true),
            passcode_compliant: Some(true),
            passcode_compliant_with_profiles: Some(true),
            passcode_lock_grace_period_enforced: Some(0),
            management_status: Some(ManagementStatus {
                enrolled_via_dep: Some(false),
                user_approved_enrollment: Some(true),
                is_user_enrollment: Some(false),
                is_activation_lock_manageable: Some(false),
                ..Default::default()
            }),
            ..Default::default()
        },
        unknown: Dictionary::new(),
    }
}

fn installed_apps(model: &Model) -> Vec<InstalledApplicationListItem> {
    [
        ("com.apple.mobilesafari", "Safari", "17.4", 0),
        ("com.apple.Pages", "Pages", "13.2", 684_339_200),
        ("com.example.fieldnotes", "Field Notes", "2.1.0", 42_110_976),
    ]
    .into_iter()
    .map(|(id, name, version, size)| InstalledApplicationListItem {
        identifier: Some(id.into()),
        name: Some(name.into()),
        version: Some(format!("{version}.{}", model.build_version.len())),
        short_version: Some(version.into()),
        bundle_size: Some(size),
        dynamic_size: Some(size / 16),
        is_validated: Some(true),
        installing: Some(false),
        app_store_vendable: Some(size > 0),
        device_based_vpp: Some(false),
        beta_app: Some(false),
        ad_hoc_code_signed: Some(false),
        has_update_available: Some(false),
        ..Default::default()
    })
    .collect()
}

fn device_information(
    queries: &[QueriesItem],
    nonce: Option<&[u8]>,
    cx: &Context<'_>,
) -> Result<DeviceInformationResponse> {
    let m = cx.model;
    let mut r = QueryResponses::default();
    for q in queries {
        match q {
            QueriesItem::UDID => r.udid = Some(m.udid.clone()),
            QueriesItem::DeviceName => r.device_name = Some(m.device_name.clone()),
            QueriesItem::OSVersion => r.os_version = Some(m.os_version.clone()),
            QueriesItem::BuildVersion => r.build_version = Some(m.build_version.clone()),
            QueriesItem::ModelName => r.model_name = Some(m.model_name.clone()),
            QueriesItem::Model => r.model = Some(m.model.clone()),
            QueriesItem::ProductName => r.product_name = Some(m.product_name.clone()),
            QueriesItem::SerialNumber => r.serial_number = Some(m.serial.clone()),
            QueriesItem::DeviceCapacity => r.device_capacity = Some(128.0),
            QueriesItem::AvailableDeviceCapacity => r.available_device_capacity = Some(71.5),
            QueriesItem::BatteryLevel => r.battery_level = Some(0.82),
            QueriesItem::HasBattery => r.has_battery = Some(true),
            QueriesItem::IMEI => r.imei = Some(m.imei.clone()),
            QueriesItem::IsSupervised => r.is_supervised = Some(true),
            QueriesItem::IsMultiUser => r.is_multi_user = Some(false),
            QueriesItem::IsActivationLockEnabled => r.is_activation_lock_enabled = Some(false),
            QueriesItem::IsDeviceLocatorServiceEnabled => {
                r.is_device_locator_service_enabled = Some(false)
            }
            QueriesItem::IsCloudBackupEnabled => r.is_cloud_backup_enabled = Some(false),
            QueriesItem::IsMDMLostModeEnabled => r.is_mdm_lost_mode_enabled = Some(false),
            QueriesItem::AwaitingConfiguration => r.awaiting_configuration = Some(false),
            QueriesItem::WiFiMAC => r.wi_fi_mac = Some(m.wifi_mac.clone()),
            QueriesItem::BluetoothMAC => r.bluetooth_mac = Some(m.bluetooth_mac.clone()),
            QueriesItem::PushToken => r.push_token = Some(Data(cx.push_token.to_vec())),
            QueriesItem::TimeZone => r.time_zone = Some("Europe/Berlin".into()),
            QueriesItem::DevicePropertiesAttestation => {}
            // Keys the simulated device has no value for are left out, as devices do.
            _ => {}
        }
    }
    let wants_attestation = queries.contains(&QueriesItem::DevicePropertiesAttestation);
    if let Some(nonce) = nonce.filter(|_| wants_attestation) {
        let ca = cx.attestation.ok_or_else(|| {
            Error::Config("DevicePropertiesAttestation asked but no attestation CA given".into())
        })?;
        r.device_properties_attestation = Some(
            attestation_chain(ca, m, nonce, cx.now)?
                .into_iter()
                .map(Data)
                .collect(),
        );
    }
    Ok(DeviceInformationResponse {
        query_responses: r,
        unknown: Dictionary::new(),
    })
}

/// A Managed Device Attestation chain (leaf DER first, then the CA chain) for `model`: a
/// fresh P-384 key, the serial number, UDID, OS version and the freshness code (the nonce as
/// sent), as the extensions under Apple's arc `1.2.840.113635.100.8` that
/// `attestation::apple` reads: each value's bytes are the extension's `extnValue` content.
pub fn attestation_chain(
    ca: &AttestationCa,
    model: &Model,
    nonce: &[u8],
    now: SystemTime,
) -> Result<Vec<Vec<u8>>> {
    use attestation::apple::oid;
    use pki::der::asn1::OctetString;
    use pki::x509_cert::ext::Extension;
    use pki::x509_cert::ext::pkix::{KeyUsage, KeyUsages};

    let provider = crate::provider();
    let issuer = ca
        .chain
        .first()
        .ok_or_else(|| Error::Config("the attestation CA chain is empty".into()))?;
    let mut rng = crate::rng();
    let leaf_key = provider
        .generate_key(KeySpec::Ec(pki::alg::Curve::P384), &mut rng)
        .map_err(Error::internal)?;
    let ext = |id, bytes: &[u8]| -> Result<Extension> {
        Ok(Extension {
            extn_id: id,
            critical: false,
            extn_value: OctetString::new(bytes.to_vec()).map_err(Error::internal)?,
        })
    };
    let subject = format!(
        "CN={}",
        hex::encode(&provider.digest(pki::alg::HashAlg::Sha256, model.udid.as_bytes())[..16])
    )
    .parse()
    .map_err(Error::internal)?;
    let mut t = Template::end_entity(
        now - Duration::from_secs(60),
        now + Duration::from_secs(7 * 86400),
    )
    .with_subject(subject)
    .with_key_usage(Some(KeyUsage(KeyUsages::DigitalSignature.into())));
    for e in [
        ext(oid::SERIAL_NUMBER, model.serial.as_bytes())?,
        ext(oid::UDID, model.udid.as_bytes())?,
        ext(oid::OS_VERSION, model.os_version.as_bytes())?,
        ext(oid::FRESHNESS_CODE, nonce)?,
    ] {
        t = t.with_extension(e);
    }
    let leaf = issue(
        provider,
        &*ca.key,
        Some(issuer.certificate()),
        leaf_key.spki(),
        &t,
        &mut rng,
    )
    .map_err(Error::internal)?;
    let leaf = Cert::from_certificate(&leaf).map_err(Error::internal)?;
    let mut out = vec![leaf.der().to_vec()];
    out.extend(ca.chain.iter().map(|c| c.der().to_vec()));
    Ok(out)
}
