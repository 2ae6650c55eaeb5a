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

pub mod inspect;
pub mod push;
pub mod webhook;

use std::fmt::Debug;

use crate::storage::Error as StorageError;

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
