//! Apple MDM in `admitd`.
//!
//! The seams between the MDM core (check-in, command queues, enrollment) and the features
//! built beside it are the traits here, so each side can be built and tested on its own:
//!
//! ```text
//!  admin API, DDM, inventory ──▶ Commands::enqueue ──▶ queue (committed) ──▶ Wake::wake ──▶ APNs
//!  APNs pusher               ──▶ PushTargets (token, magic, topic from TokenUpdate)
//!  check-in / report         ──▶ Events::record (webhook outbox, committed before the answer)
//!  report committed          ──▶ ResultHook::on_result (inventory, DDM)
//! ```

pub mod api;
pub mod checkin;
pub mod connect;
pub mod enroll;
pub mod identity;
pub mod inspect;
pub mod json;
pub mod postgres;
pub mod push;
pub mod store;
pub mod webhook;

use std::fmt::Debug;
use std::sync::{Arc, OnceLock};

use crate::storage::Error as StorageError;
use store::MdmStore;

/// A command to queue: the complete command plist (`Command` + `CommandUUID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommand {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType`, which types the result when it comes back.
    pub request_type: String,
    /// The plist (XML) the device receives.
    pub body: Vec<u8>,
}

/// Why a command could not be queued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// No enrolled channel has this ID.
    #[error("no enrolled channel {0:?}")]
    UnknownChannel(String),
    /// The channel's queue already holds this `CommandUUID`.
    #[error("command {0:?} is already queued")]
    Duplicate(String),
    /// The store failed; nothing was queued.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Where commands are queued. The MDM core implements it; the admin API, DDM and the
/// inventory call it. `enqueue` commits for every channel or for none, then wakes them.
pub trait Commands: Send + Sync + Debug {
    /// Queue `command` on each channel (channel IDs as `mdm_proto::checkin::Channel::id`).
    fn enqueue(&self, channel_ids: &[String], command: &NewCommand) -> Result<(), EnqueueError>;
}

/// Where a push for one channel goes, as its last TokenUpdate said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushTarget {
    /// The channel (`Channel::id`).
    pub channel_id: String,
    /// The APNs device token.
    pub token: Vec<u8>,
    /// `PushMagic`, the push payload's `mdm` value.
    pub push_magic: String,
    /// The topic from check-in (the push certificate's UID).
    pub topic: String,
}

/// Push targets, read by the APNs pusher. The MDM core implements it.
pub trait PushTargets: Send + Sync + Debug {
    /// The channel's push target; `None` when it has none (never sent TokenUpdate, checked
    /// out, or its token was marked dead).
    fn push_target(&self, channel_id: &str) -> Result<Option<PushTarget>, StorageError>;
    /// APNs said the token is gone (410): stop pushing to it until a new TokenUpdate.
    fn mark_token_dead(&self, channel_id: &str, token: &[u8]) -> Result<(), StorageError>;
}

/// Wakes channels with a push. The APNs pusher implements it; it returns at once, coalesces
/// pushes per channel and retries on its own.
pub trait Wake: Send + Sync + Debug {
    /// Ask each channel to check in.
    fn wake(&self, channel_ids: &[String]);
}

/// The webhook outbox. `record` returns once the event is committed to the store, so an event
/// is never lost (it may be delivered twice after a crash).
pub trait Events: Send + Sync + Debug {
    /// Store one MicroMDM/NanoMDM-format event (`mdm_proto::webhook`) for delivery.
    fn record(&self, event: &serde_json::Value) -> Result<(), StorageError>;
}

/// A command result the core has committed, for features that act on results.
#[derive(Debug, Clone, Copy)]
pub struct CommandResult<'a> {
    /// The channel that answered.
    pub channel_id: &'a str,
    /// `CommandUUID`.
    pub command_uuid: &'a str,
    /// `RequestType` of the queued command.
    pub request_type: &'a str,
    /// `Status` (`Acknowledged`, `Error`, `CommandFormatError`, `NotNow`).
    pub status: &'a str,
    /// The report plist as the device sent it.
    pub raw: &'a [u8],
}

/// Called after a command result is committed (inventory: DevicePropertiesAttestation).
pub trait ResultHook: Send + Sync + Debug {
    /// Act on one result; errors are the hook's to log, the device's answer does not wait.
    fn on_result(&self, result: CommandResult<'_>);
}

/// A DeclarativeManagement check-in's endpoint, answered by the DDM feature.
pub trait Declarative: Send + Sync + Debug {
    /// Answer `endpoint` (`tokens`, `declaration-items`, `declaration/...`, `status`) for the
    /// channel: the JSON body, or the status and message of a refusal.
    fn checkin(
        &self,
        channel_id: &str,
        endpoint: &str,
        data: Option<&[u8]>,
    ) -> Result<Vec<u8>, (u16, String)>;
}

/// The `[mdm]` table of the config file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The base URL devices reach this server's HTTPS listener at (default
    /// `https://<first TLS name>:<HTTPS port>`).
    pub url: Option<String>,
    /// The push topic (the push certificate's UID) written into profiles.
    pub topic: String,
    /// `PayloadOrganization` of the enrollment profile.
    pub organization: String,
    /// `PayloadIdentifier` of the enrollment profile.
    pub identifier: String,
    /// `AccessRights` (8191: all).
    pub access_rights: i64,
    /// Devices sign each message (`Mdm-Signature`) instead of relying on the TLS client
    /// certificate.
    pub sign_message: bool,
    /// `CheckOutWhenRemoved`.
    pub check_out_when_removed: bool,
    /// Accept user channels (macOS users, Shared iPad): otherwise UserAuthenticate gets 410.
    pub user_channels: bool,
    /// Offer BootstrapToken escrow (`ServerCapabilities`).
    pub bootstrap_token: bool,
    /// SCEP key size in the profile.
    pub scep_key_size: u32,
    /// How long the challenge in a served profile stays valid, in seconds.
    pub challenge_ttl_s: u64,
    /// Default lifetime of an invite, in seconds.
    pub invite_ttl_s: u64,
    /// PEM file of the CA that signs devices' over-the-air phase-2 attributes (Apple's device
    /// CA in production). Absent: the signature is checked, its chain is not.
    pub ota_device_ca: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            url: None,
            topic: "com.apple.mgmt.External.admitd-unconfigured".into(),
            organization: "admit".into(),
            identifier: "org.admit.mdm".into(),
            access_rights: 8191,
            sign_message: false,
            check_out_when_removed: true,
            user_channels: false,
            bootstrap_token: true,
            scep_key_size: 2048,
            challenge_ttl_s: 3600,
            invite_ttl_s: 7 * 24 * 3600,
            ota_device_ca: None,
        }
    }
}

impl Settings {
    /// Refuse settings that cannot work.
    pub fn check(&self) -> Result<(), crate::config::Error> {
        let bad = |name, reason: &str| {
            Err(crate::config::Error::Invalid {
                name,
                reason: reason.into(),
            })
        };
        if !matches!(self.scep_key_size, 1024 | 2048 | 4096) {
            return bad("mdm.scep_key_size", "must be 1024, 2048 or 4096");
        }
        if self.challenge_ttl_s == 0 || self.invite_ttl_s == 0 {
            return bad("mdm.challenge_ttl_s", "lifetimes must be above zero");
        }
        if let Some(u) = &self.url
            && !u.starts_with("https://")
        {
            return bad("mdm.url", "must be an https:// URL");
        }
        Ok(())
    }
}

/// Features beside the core, set once at start.
#[derive(Debug, Default, Clone)]
pub struct Hooks {
    /// Pushes (APNs).
    pub wake: Option<Arc<dyn Wake>>,
    /// The webhook outbox.
    pub events: Option<Arc<dyn Events>>,
    /// Acted on after results are committed.
    pub results: Vec<Arc<dyn ResultHook>>,
    /// DeclarativeManagement check-ins.
    pub declarative: Option<Arc<dyn Declarative>>,
}

/// The MDM core: enrollment, check-in, command queues.
#[derive(Debug)]
pub struct Service {
    store: Arc<dyn MdmStore>,
    settings: Settings,
    base_url: OnceLock<String>,
    hooks: OnceLock<Hooks>,
    anchors: Vec<pki::cert::Cert>,
    intermediates: Vec<pki::cert::Cert>,
    root_der: Vec<u8>,
    ota_anchors: Option<Vec<pki::cert::Cert>>,
    limits: mdm_proto::Limits,
}

impl Service {
    /// The core over `store`, trusting device certificates from `data`'s device CA.
    pub fn new(
        store: Arc<dyn MdmStore>,
        settings: Settings,
        data: &crate::data_dir::DataDir,
    ) -> Result<Service, crate::data_dir::Error> {
        let cert = |c: &pki::x509_cert::Certificate, what: &str| {
            pki::cert::Cert::from_certificate(c).map_err(|e| crate::data_dir::Error::BadFile {
                path: data.path.join("ca").join(what),
                reason: e.to_string(),
            })
        };
        let root = cert(&data.ca.root, "root.pem")?;
        let device = cert(&data.ca.device, "device.pem")?;
        let root_der = root.der().to_vec();
        let ota_anchors = match &settings.ota_device_ca {
            None => None,
            Some(p) => {
                let bad = |reason: String| crate::data_dir::Error::BadFile {
                    path: p.clone(),
                    reason,
                };
                let pem = std::fs::read(p).map_err(|e| bad(e.to_string()))?;
                let certs =
                    pki::cert::Cert::from_pem_chain(&pem).map_err(|e| bad(e.to_string()))?;
                if certs.is_empty() {
                    return Err(bad("no certificate in it".into()));
                }
                Some(certs)
            }
        };
        let base_url = OnceLock::new();
        if let Some(u) = &settings.url {
            let _ = base_url.set(u.trim_end_matches('/').to_owned());
        }
        Ok(Service {
            store,
            settings,
            base_url,
            hooks: OnceLock::new(),
            anchors: vec![root],
            intermediates: vec![device],
            root_der,
            ota_anchors,
            limits: mdm_proto::Limits::default(),
        })
    }

    /// Set the features beside the core (once, at start).
    pub fn set_hooks(&self, hooks: Hooks) {
        if self.hooks.set(hooks).is_err() {
            tracing::warn!("MDM hooks set twice; keeping the first");
        }
    }

    /// Set the base URL from the bound HTTPS address, unless the config gave one.
    pub fn set_default_url(&self, url: String) {
        let _ = self.base_url.set(url);
    }

    /// The base URL devices use.
    pub fn base_url(&self) -> &str {
        self.base_url
            .get()
            .map_or("https://localhost", String::as_str)
    }

    /// The records.
    pub fn store(&self) -> &Arc<dyn MdmStore> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn hooks(&self) -> &Hooks {
        static NONE: OnceLock<Hooks> = OnceLock::new();
        self.hooks
            .get()
            .unwrap_or_else(|| NONE.get_or_init(Hooks::default))
    }

    /// The push targets, for the APNs pusher.
    pub fn push_targets(&self) -> Arc<dyn PushTargets> {
        Arc::new(StorePushTargets(self.store.clone()))
    }

    /// Record a webhook event, if webhooks are set up.
    fn record_event(&self, event: &serde_json::Value) -> Result<(), StorageError> {
        match &self.hooks().events {
            Some(e) => e.record(event),
            None => Ok(()),
        }
    }
}

impl Commands for Service {
    fn enqueue(&self, channel_ids: &[String], command: &NewCommand) -> Result<(), EnqueueError> {
        let now = store::unix(std::time::SystemTime::now());
        self.store.enqueue(channel_ids, command, now)?;
        if let Some(w) = &self.hooks().wake {
            w.wake(channel_ids);
        }
        Ok(())
    }
}

#[derive(Debug)]
struct StorePushTargets(Arc<dyn MdmStore>);

impl PushTargets for StorePushTargets {
    fn push_target(&self, channel_id: &str) -> Result<Option<PushTarget>, StorageError> {
        self.0.push_target(channel_id)
    }
    fn mark_token_dead(&self, channel_id: &str, token: &[u8]) -> Result<(), StorageError> {
        self.0.mark_token_dead(channel_id, token)
    }
}
