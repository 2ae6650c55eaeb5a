//! The JSON objects of the ADE service, named and shaped as Apple names them.
//!
//! Every object keeps the keys it does not model in `extra` (so they survive a round trip), and
//! every string field with a known set of values is an open enum with an `Other(String)`.
//! Field names are Apple's; the schemas in the vectors
//! (`micromdm-apple-device-services/dep/schemas/*.json`) list them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::open_enum::open_enum;

/// Keys an object carried that this crate does not model, kept as sent.
pub type Extra = BTreeMap<String, Value>;

open_enum! {
    /// What happened to a device (`op_type`): the reason it appears in a sync page.
    pub enum OpType {
        /// Added to this MDM server.
        Added = "added",
        /// Changed (profile, assignment).
        Modified = "modified",
        /// Removed from this MDM server (or disowned).
        Deleted = "deleted",
    }
}

open_enum! {
    /// Where a device's enrollment profile stands (`profile_status`).
    pub enum ProfileStatus {
        /// No profile assigned.
        Empty = "empty",
        /// Assigned, not yet fetched by the device.
        Assigned = "assigned",
        /// Fetched by the device.
        Pushed = "pushed",
        /// Removed.
        Removed = "removed",
    }
}

open_enum! {
    /// A per-device outcome (`devices` maps and `response_status`).
    pub enum DeviceStatus {
        /// Done.
        Success = "SUCCESS",
        /// The device is not assigned to this MDM server.
        NotAccessible = "NOT_ACCESSIBLE",
        /// Failed on Apple's side; may be retried.
        Failed = "FAILED",
        /// Too many requests for this device; retry after `retry_after_seconds`.
        Throttled = "THROTTLED",
        /// Activation Lock is not supported on this device.
        DeviceNotSupported = "DEVICE_NOT_SUPPORTED",
        /// The device is already Activation-Locked.
        DeviceAlreadyLocked = "DEVICE_ALREADY_LOCKED",
    }
}

open_enum! {
    /// `device_family`.
    pub enum DeviceFamily {
        /// iPad.
        Ipad = "iPad",
        /// iPhone.
        Iphone = "iPhone",
        /// iPod.
        Ipod = "iPod",
        /// Mac.
        Mac = "Mac",
        /// Apple TV.
        AppleTv = "AppleTV",
        /// Apple Vision.
        Vision = "Vision",
    }
}

open_enum! {
    /// An operating system name (`os` of a device or a beta token).
    pub enum Os {
        /// iOS.
        Ios = "iOS",
        /// iPadOS.
        Ipados = "iPadOS",
        /// macOS, as Apple spells it here.
        Osx = "OSX",
        /// tvOS.
        Tvos = "tvOS",
        /// visionOS.
        Visionos = "visionOS",
        /// watchOS.
        Watchos = "watchOS",
        /// homePodOS.
        Homepodos = "homePodOS",
    }
}

open_enum! {
    /// `org_type` of the account.
    pub enum OrgType {
        /// Education (Apple School Manager).
        Edu = "edu",
        /// Business (Apple Business Manager).
        Org = "org",
        /// TV provider.
        TvProvider = "tvprovider",
    }
}

open_enum! {
    /// `org_version`: v1 is the old Device Enrollment Program, v2 Apple Business/School Manager.
    pub enum OrgVersion {
        /// Legacy programme.
        V1 = "v1",
        /// Apple Business/School Manager.
        V2 = "v2",
    }
}

/// `GET /account`: the organisation and MDM server the token belongs to (Apple's
/// `AccountDetail`).
///
/// ```text
/// { "server_name", "server_uuid", "admin_id", "facilitator_id", "org_name", "org_email",
///   "org_phone", "org_address", "org_id", "org_id_hash", "org_type": "edu"|"org"|"tvprovider",
///   "org_version": "v1"|"v2",
///   "urls": [ { "uri": "/server/devices", "http_method": ["POST"],
///               "limit": { "default": 100, "maximum": 1000 } }, ... ] }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Account {
    /// The MDM server's name in Apple Business Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The MDM server's identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
    /// The Apple ID of the person who set the server up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<String>,
    /// Legacy facilitator Apple ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilitator_id: Option<String>,
    /// Organisation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// Organisation email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_email: Option<String>,
    /// Organisation phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_phone: Option<String>,
    /// Organisation address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_address: Option<String>,
    /// Organisation identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Hash of the organisation identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id_hash: Option<String>,
    /// Business, education or TV provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_type: Option<OrgType>,
    /// Programme version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_version: Option<OrgVersion>,
    /// The endpoints this account may call, with their page limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<Url>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Account {
    /// The `limit.maximum` Apple advertises for `uri` (`/server/devices`, `/devices/sync`).
    pub fn max_limit(&self, uri: &str) -> Option<u32> {
        self.urls
            .iter()
            .find(|u| u.uri == uri)
            .and_then(|u| u.limit.as_ref())
            .and_then(|l| l.maximum)
    }
}

/// One entry of [`Account::urls`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Url {
    /// The path (`/server/devices`).
    #[serde(default)]
    pub uri: String,
    /// Methods allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_method: Vec<String>,
    /// Page limits, for paged endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<Limit>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Page-size limits of a paged endpoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Limit {
    /// Page size used when the request names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<u32>,
    /// Largest page size accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<u32>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A device as the fetch, sync and details endpoints describe it (Apple's `Device`).
///
/// ```text
/// { "serial_number", "model", "description", "asset_tag", "color",
///   "device_family": "iPad"|"iPhone"|"iPod"|"Mac"|"AppleTV"|"Vision",
///   "os": "iOS"|"iPadOS"|"OSX"|"tvOS"|"visionOS", "device_assigned_by", "device_assigned_date",
///   "op_type": "added"|"modified"|"deleted", "op_date",                -- sync only
///   "profile_status": "empty"|"assigned"|"pushed"|"removed", "profile_uuid",
///   "profile_assign_time", "profile_push_time", "response_status",   -- details only
///   "mdm_migration_deadline" }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Device {
    /// Serial number: the key everything else uses.
    pub serial_number: String,
    /// Model name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Description from the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Asset tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_tag: Option<String>,
    /// Colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Device family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<DeviceFamily>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    /// Who assigned the device to this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_by: Option<String>,
    /// When the device was assigned (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_date: Option<String>,
    /// When the operation in `op_type` happened (RFC 3339; sync pages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_date: Option<String>,
    /// What happened (sync pages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_type: Option<OpType>,
    /// When the profile was assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_assign_time: Option<String>,
    /// When the device fetched the profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_push_time: Option<String>,
    /// Profile state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_status: Option<ProfileStatus>,
    /// The assigned profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Per-device result (details endpoint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<DeviceStatus>,
    /// Deadline for migrating to another MDM server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_migration_deadline: Option<String>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Device {
    /// `op_date` as Unix milliseconds, when present and valid.
    pub fn op_date_millis(&self) -> Option<i64> {
        self.op_date
            .as_deref()
            .and_then(crate::time::parse_rfc3339_millis)
    }
}

/// A page of `POST /server/devices` (fetch) or `POST /devices/sync` (Apple's
/// `FetchDeviceResponse`).
///
/// ```text
/// { "cursor": "MDowOjE1…", "more_to_follow": true, "fetched_until": "2018-09-08T17:28:18Z",
///   "devices": [ Device, ... ] }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DevicePage {
    /// Cursor for the next request.
    pub cursor: String,
    /// The devices on this page, in the order of their operations.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// How far the fetch got (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_until: Option<String>,
    /// Whether another page follows at once.
    #[serde(default)]
    pub more_to_follow: bool,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Request body of fetch and sync.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CursorRequest {
    /// Cursor from the previous page (required for sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Request body listing serial numbers (`/devices`, `/devices/disown`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceListRequest {
    /// Serial numbers (at most 1,000).
    pub devices: Vec<String>,
}

/// `POST /devices`: details of the given serial numbers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceDetails {
    /// Serial number to device.
    #[serde(default)]
    pub devices: BTreeMap<String, Device>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An enrollment profile (`POST /profile` body, `GET /profile` answer).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[allow(missing_docs)] // each field is the Apple key of the same name
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The MDM enrollment URL Setup Assistant fetches the enrollment profile from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_pairing: Option<bool>,
    /// Base64 DER certificates the device trusts for `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_certs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_advance_setup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_device_configured: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_web_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Serial numbers to assign the profile to while defining it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_not_use_profile_from_backup: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mandatory: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mdm_removable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_multi_user: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_return_to_service: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_supervised: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_magic: Option<String>,
    /// Set by Apple in `GET /profile` answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Setup Assistant panes to skip (values in `other/skipkeys.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_setup_items: Option<Vec<String>>,
    /// Base64 DER certificates of hosts allowed to pair with a supervised device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervising_host_certs: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_phone_number: Option<String>,
    /// Keys not modelled here (sent as given when defining a profile).
    #[serde(flatten)]
    pub extra: Extra,
}

/// `POST /profile` answer: the new profile's UUID and the outcome for any devices named.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DefineProfileResponse {
    /// The UUID to assign with.
    #[serde(default)]
    pub profile_uuid: String,
    /// Per-device outcome.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Request body of `/profile/devices` (assign or remove).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProfileDevicesRequest {
    /// The profile (required to assign; optional to remove).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Serial numbers (at most 1,000).
    pub devices: Vec<String>,
}

/// Answer of the endpoints that report one status per device (assign, remove, disown:
/// Apple's `AssignProfileResponse`, `ClearProfileResponse`, `DeviceStatusResponse`).
///
/// ```text
/// { "profile_uuid": "…", "devices": { "C02T0HL0GGC0": "SUCCESS", "…": "THROTTLED" },
///   "retry_after_seconds": 60 }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DeviceStatuses {
    /// The profile, when the endpoint echoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Serial number to outcome.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Seconds to wait before retrying THROTTLED devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl DeviceStatuses {
    /// The outcome grouped by status.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.devices, self.retry_after_seconds)
    }
}

/// Per-device outcomes grouped: what to record, what to retry and when.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Serial numbers that succeeded.
    pub success: Vec<String>,
    /// Serial numbers not assigned to this server (do not retry).
    pub not_accessible: Vec<String>,
    /// Serial numbers that failed (may be retried).
    pub failed: Vec<String>,
    /// Serial numbers throttled: retry after `retry_after_seconds`.
    pub throttled: Vec<String>,
    /// Any other status, with its value.
    pub other: Vec<(String, DeviceStatus)>,
    /// Wait before retrying the throttled ones, in seconds, when Apple said.
    pub retry_after_seconds: Option<u64>,
}

impl Summary {
    /// Group `devices` by status.
    pub fn of(
        devices: &BTreeMap<String, DeviceStatus>,
        retry_after_seconds: Option<u64>,
    ) -> Summary {
        let mut s = Summary {
            retry_after_seconds,
            ..Summary::default()
        };
        for (serial, status) in devices {
            let serial = serial.clone();
            match status {
                DeviceStatus::Success => s.success.push(serial),
                DeviceStatus::NotAccessible => s.not_accessible.push(serial),
                DeviceStatus::Failed => s.failed.push(serial),
                DeviceStatus::Throttled => s.throttled.push(serial),
                other => s.other.push((serial, other.clone())),
            }
        }
        s
    }

    /// Whether every device succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.not_accessible.is_empty()
            && self.failed.is_empty()
            && self.throttled.is_empty()
            && self.other.is_empty()
    }
}

/// `POST /device/activationlock` body.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivationLockRequest {
    /// Serial number.
    pub device: String,
    /// Hex PBKDF2 hash of a bypass code ([`crate::albc::BypassCode::escrow_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow_key: Option<String>,
    /// Message shown on the locked device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_message: Option<String>,
}

impl core::fmt::Debug for ActivationLockRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ActivationLockRequest")
            .field("device", &self.device)
            .field(
                "escrow_key",
                &self.escrow_key.as_ref().map(|_| "<redacted>"),
            )
            .field("lost_message", &self.lost_message)
            .finish()
    }
}

/// `POST /device/activationlock` answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ActivationLockResponse {
    /// Serial number.
    #[serde(default)]
    pub serial_number: String,
    /// Outcome.
    pub response_status: DeviceStatus,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for DeviceStatus {
    fn default() -> Self {
        DeviceStatus::Other(String::new())
    }
}

/// One OS beta enrollment token.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BetaToken {
    /// Program title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    /// The token to put in the device's enrollment settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `GET /os-beta-enrollment/tokens` answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BetaTokens {
    /// Current tokens.
    #[serde(
        rename = "betaEnrollmentTokens",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub beta_enrollment_tokens: Vec<BetaToken>,
    /// Older name for the same list.
    #[serde(
        rename = "seedBuildTokens",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub seed_build_tokens: Vec<BetaToken>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The account-driven enrollment profile (`/account-driven-enrollment/profile`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AdeProfile {
    /// The MDM service discovery URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdm_service_discovery_url: Option<String>,
    /// When it was last set (GET answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated_timestamp: Option<String>,
    /// Keys not modelled here.
    #[serde(flatten)]
    pub extra: Extra,
}
