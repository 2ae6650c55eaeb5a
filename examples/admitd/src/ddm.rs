//! Declarative Device Management in `admitd`: declarations, sets and their assignment to
//! enrollment channels (admin API), the DeclarativeManagement check-in endpoints, status
//! reports stored and reconciled, and the DeclarativeManagement command on every change that
//! moves a channel's tokens. The protocol itself (tokens, bodies, status, reconciliation) is
//! the `ddm` crate's; this module stores and serves it.
//!
//! ```text
//! admin API (api.rs) ──▶ Op ──decide (change.rs, pure)──▶ Decision ──DdmStore::apply (CAS)──▶ store
//!                                                            │ channels whose DeclarationsToken moved
//!                                                            ▼
//!                               ddm::command(set) ──▶ mdm::Commands::enqueue (one per channel)
//! MDM core, check-in MessageType=DeclarativeManagement ──▶ Server::checkin(channel, Endpoint, Data)
//!     tokens | declaration-items | declaration/<kind>/<id> ──▶ ddm::CheckIn::respond(channel's set)
//!     status ──▶ raw report stored + ddm::reconcile::reconcile ──▶ per-declaration state
//! every minute (keep_resending) ──▶ reconcile(Tick) ──▶ command again where it is due
//! ```
//!
//! The DeclarationsToken is `ddm`'s, in the configured [`TokenMode`]: `Content` (default:
//! ServerTokens from content, so re-uploading the same declaration changes nothing) or
//! `Kmfddm` (ServerTokens kept as uploaded, tokens as KMFDDM computes them).

pub mod api;
pub mod change;
pub mod inspect;
pub mod postgres;
pub mod state;
pub mod store;

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use ddm::reconcile::{Decision as Reconciled, Event, Policy, Resend, State, reconcile};
use ddm::{DeclarationSet, Endpoint, Limits, StatusReport, TokenMode};
use serde_json::{Value, json};

use crate::mdm::{Commands, EnqueueError, NewCommand};
use change::{Config, Op, channel_kind};
use store::{DdmStore, Snapshot, StoreError, StoredDeclaration};

/// How many times a change or a state update is decided again when another writer got there
/// first.
const MAX_TRIES: usize = 8;

/// What went wrong in DDM, and the HTTP status it answers ([`DdmError::http_status`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DdmError {
    /// The device's check-in is wrong (unknown endpoint, bad status report: 400) or asks for
    /// a declaration its set lacks (404), as `ddm` decides ([`ddm::Error::http_status`]).
    #[error("{0}")]
    Protocol(ddm::Error),
    /// An uploaded declaration `ddm` refuses, or references that do not resolve (400).
    #[error("{0}")]
    Invalid(ddm::Error),
    /// An admin request that cannot be carried out as sent (400).
    #[error("{0}")]
    BadRequest(String),
    /// No declaration has this identifier (404).
    #[error("no declaration {0:?}")]
    UnknownDeclaration(String),
    /// No set has this name (404).
    #[error("no set {0:?}")]
    UnknownSet(String),
    /// The set is not assigned to the channel (404).
    #[error("set {set:?} is not assigned to channel {channel:?}")]
    NotAssigned {
        /// The set.
        set: String,
        /// The channel ID.
        channel: String,
    },
    /// Nothing is known about this channel: no set assigned, no check-in seen (404).
    #[error("no DDM record for channel {0:?}")]
    UnknownChannel(String),
    /// The change would break something that depends on it (409).
    #[error("{0}")]
    InUse(String),
    /// Other writers kept changing the records; nothing was written (503, try again).
    #[error("DDM records kept changing under the request; nothing was written, try again")]
    Busy,
    /// The store failed (500; logged, never shown to a device).
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl DdmError {
    /// The HTTP status this error answers, for a check-in and for the admin API alike.
    pub fn http_status(&self) -> u16 {
        match self {
            DdmError::Protocol(e) => e.http_status(),
            DdmError::Invalid(_) | DdmError::BadRequest(_) => 400,
            DdmError::UnknownDeclaration(_)
            | DdmError::UnknownSet(_)
            | DdmError::NotAssigned { .. }
            | DdmError::UnknownChannel(_) => 404,
            DdmError::InUse(_) => 409,
            DdmError::Busy => 503,
            DdmError::Storage(_) => 500,
        }
    }
}

/// A DeclarativeManagement command queued (or not) for one channel after a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announced {
    /// The channel.
    pub channel_id: String,
    /// Its new DeclarationsToken.
    pub declarations_token: String,
    /// The command's `CommandUUID`, or why it could not be queued.
    pub command: Result<String, String>,
}

/// What an admin change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The declaration as stored (for a declaration upload).
    pub stored: Option<StoredDeclaration>,
    /// One entry per channel whose DeclarationsToken moved.
    pub announced: Vec<Announced>,
}

impl Outcome {
    /// The `channels` array of the admin API's answers.
    pub fn channels_json(&self) -> Value {
        Value::Array(
            self.announced
                .iter()
                .map(|a| match &a.command {
                    Ok(uuid) => json!({"channel_id": a.channel_id,
                        "declarations_token": a.declarations_token, "command_uuid": uuid}),
                    Err(e) => json!({"channel_id": a.channel_id,
                        "declarations_token": a.declarations_token, "command_error": e}),
                })
                .collect(),
        )
    }
}

/// DDM for the whole server: the store, the command queue, the token mode.
#[derive(Debug)]
pub struct Server {
    store: Arc<dyn DdmStore>,
    commands: Arc<dyn Commands>,
    mode: TokenMode,
    limits: Limits,
    policy: Policy,
}

impl Server {
    /// DDM over `store`, queueing DeclarativeManagement commands through `commands`.
    pub fn new(store: Arc<dyn DdmStore>, commands: Arc<dyn Commands>, mode: TokenMode) -> Server {
        Server {
            store,
            commands,
            mode,
            limits: Limits::default(),
            policy: Policy::default(),
        }
    }

    /// The token mode.
    pub fn mode(&self) -> TokenMode {
        self.mode
    }

    /// The records, read consistently (the admin API's reads).
    pub fn snapshot(&self) -> Result<Snapshot, DdmError> {
        Ok(self.store.snapshot()?)
    }

    /// Carry out an admin change: decide it from a fresh read (again when another writer got
    /// there first), commit it, then queue one DeclarativeManagement command (with the new
    /// TokensResponse as `Data`) for each channel whose DeclarationsToken moved. A change
    /// that moves no token queues nothing.
    ///
    /// # Errors
    /// The refusals of [`change::decide`] (nothing written), [`DdmError::Busy`],
    /// [`DdmError::Storage`]. A command that cannot be queued does not undo the change: it is
    /// reported in [`Announced::command`].
    pub fn change(&self, op: &Op) -> Result<Outcome, DdmError> {
        self.change_at(op, SystemTime::now())
    }

    /// [`Server::change`] at `now`.
    pub fn change_at(&self, op: &Op, now: SystemTime) -> Result<Outcome, DdmError> {
        let mut decided = None;
        for _ in 0..MAX_TRIES {
            let snap = self.store.snapshot()?;
            let config = Config::from_snapshot(&snap, &self.limits)?;
            let d = change::decide(&config, snap.revision, op, self.mode)?;
            match self.store.apply(d.expected_revision, &d.changes) {
                Ok(()) => {
                    decided = Some(d);
                    break;
                }
                Err(StoreError::Stale(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let d = decided.ok_or(DdmError::Busy)?;
        let announced = d
            .moved
            .iter()
            .map(|m| Announced {
                channel_id: m.channel_id.clone(),
                declarations_token: m.set.declarations_token(),
                command: self.announce(&m.channel_id, &m.set, now),
            })
            .collect();
        Ok(Outcome {
            stored: d.stored,
            announced,
        })
    }

    /// Queue one DeclarativeManagement command (`Data` = the set's TokensResponse) for the
    /// channel and record it as sent; the `CommandUUID`, or why it was not queued.
    fn announce(
        &self,
        channel_id: &str,
        set: &DeclarationSet,
        now: SystemTime,
    ) -> Result<String, String> {
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let cmd = ddm::command(set, now, &mut rng);
        let new = NewCommand {
            command_uuid: cmd.command_uuid.clone(),
            request_type: cmd.request_type().to_owned(),
            body: cmd.to_xml(),
        };
        match self
            .commands
            .enqueue(std::slice::from_ref(&channel_id.to_owned()), &new)
        {
            Ok(()) => {
                if let Err(e) = self.record(channel_id, set, Event::CommandSent, None, now) {
                    tracing::warn!(channel = %channel_id, error = %e,
                        "DDM: command queued, its state not recorded");
                }
                Ok(new.command_uuid)
            }
            // A channel not enrolled (yet) is the operator's to know; our own failures are
            // logged and named only generically.
            Err(e @ EnqueueError::UnknownChannel(_)) => Err(e.to_string()),
            Err(e) => {
                tracing::error!(channel = %channel_id, error = %e,
                    "DDM: DeclarativeManagement command not queued");
                Err("not queued: internal error (see the server log)".to_owned())
            }
        }
    }

    /// The set `channel_id` is served now, from the store.
    ///
    /// # Errors
    /// [`DdmError::Storage`], also when stored declarations no longer parse or fit together
    /// (the admin side refuses both, so the database was changed behind our back).
    pub fn channel_set(&self, channel_id: &str) -> Result<DeclarationSet, DdmError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            what: format!("declarations of channel {channel_id}"),
            reason,
        };
        let mut set = DeclarationSet::new(channel_kind(channel_id), self.mode);
        for body in self.store.channel_declarations(channel_id)? {
            let d = ddm::Declaration::parse(body.as_bytes(), &self.limits)
                .map_err(|e| corrupt(e.to_string()))?;
            set.insert(d).map_err(|e| corrupt(e.to_string()))?;
        }
        set.validate().map_err(|e| corrupt(e.to_string()))?;
        Ok(set)
    }

    /// Answer a DeclarativeManagement check-in: what the MDM core calls for a check-in whose
    /// `MessageType` is `DeclarativeManagement`, after it has authenticated the device.
    ///
    /// - `channel_id`: the check-in's channel, `mdm_proto::checkin::Channel::id` (a `:` marks
    ///   a user channel).
    /// - `endpoint`: the message's `Endpoint`; `data`: its `Data` (already base64-decoded by
    ///   `mdm-proto`), required for `status`.
    ///
    /// Returns the response body: JSON for `tokens` (TokensResponse), `declaration-items`
    /// (DeclarationItemsResponse) and `declaration/<kind>/<Identifier>` (the declaration as
    /// stored, its `ServerToken` the one `declaration-items` lists); empty for `status`. Answer
    /// 200 with `Content-Type: application/json` (the empty `status` body too).
    /// `declaration-items` and `status` are recorded (the token the device synced to; the
    /// raw report and the reconciled per-declaration state) before it returns. When a report
    /// leaves something unconfirmed and `ddm::reconcile` says to send again now, a
    /// DeclarativeManagement command is queued too (through [`Commands`], which wakes the
    /// device); a failure to queue it is logged, not answered.
    ///
    /// # Errors
    /// [`DdmError::http_status`] gives the answer: 400 for an unknown endpoint, a `status`
    /// without `Data` or a report that is not one; 404 for a declaration the channel's set
    /// does not hold; 500 for a store failure (log it; the device retries).
    pub fn checkin(
        &self,
        channel_id: &str,
        endpoint: &str,
        data: Option<&[u8]>,
    ) -> Result<Vec<u8>, DdmError> {
        self.checkin_at(channel_id, endpoint, data, SystemTime::now())
    }

    /// [`Server::checkin`] for a decoded `mdm-proto` check-in: its channel and message.
    pub fn checkin_message(
        &self,
        channel: &mdm_proto::checkin::Channel,
        message: &mdm_proto::generated::checkin::DeclarativeManagement,
    ) -> Result<Vec<u8>, DdmError> {
        self.checkin(
            &channel.id(),
            &message.endpoint,
            message.data.as_ref().map(|d| d.0.as_slice()),
        )
    }

    /// [`Server::checkin`] at `now` (the TokensResponse `Timestamp`, the state's times).
    pub fn checkin_at(
        &self,
        channel_id: &str,
        endpoint: &str,
        data: Option<&[u8]>,
        now: SystemTime,
    ) -> Result<Vec<u8>, DdmError> {
        let endpoint = Endpoint::parse(endpoint).map_err(DdmError::Protocol)?;
        let report = match (&endpoint, data) {
            (Endpoint::Status, Some(d)) => {
                Some(StatusReport::parse(d, &self.limits).map_err(DdmError::Protocol)?)
            }
            (Endpoint::Status, None) => {
                return Err(DdmError::Protocol(ddm::Error::MissingData("status".into())));
            }
            _ => None,
        };
        let set = self.channel_set(channel_id)?;
        let checkin = ddm::CheckIn {
            endpoint,
            channel: Some(set.channel()),
            report,
            data: data.map(<[u8]>::to_vec),
        };
        let body = checkin.respond(&set, now).map_err(DdmError::Protocol)?;
        match (&checkin.endpoint, &checkin.report, data) {
            (Endpoint::DeclarationItems, ..) => {
                let token = set.declarations_token();
                self.record(
                    channel_id,
                    &set,
                    Event::Synced {
                        declarations_token: &token,
                    },
                    None,
                    now,
                )?;
            }
            (Endpoint::Status, Some(report), Some(raw)) => {
                let d = self.record(channel_id, &set, Event::Report(report), Some(raw), now)?;
                // Something is still unconfirmed and `ddm` says it is time to tell the device
                // again (never told, changed since, or the backoff has passed): queue the
                // command now; the device's answer does not wait on it.
                if d.resend == Resend::Now
                    && let Err(e) = self.announce(channel_id, &set, now)
                {
                    tracing::info!(channel = %channel_id, error = %e,
                        "DDM: resend after a status report not queued");
                }
            }
            _ => {}
        }
        Ok(body)
    }

    /// Reconcile `event` into the channel's stored state (compare-and-set, decided again
    /// when another writer got there first), storing `report` with it.
    fn record(
        &self,
        channel_id: &str,
        set: &DeclarationSet,
        event: Event<'_>,
        report: Option<&[u8]>,
        now: SystemTime,
    ) -> Result<Reconciled, DdmError> {
        let secs = unix(now);
        for _ in 0..MAX_TRIES {
            let (version, last) = self.load_state(channel_id)?;
            let d = reconcile(set, &last, event, secs, &self.policy);
            let text = state::to_json(&d.state).to_string();
            match self.store.save_channel(
                channel_id,
                version,
                d.state.version,
                &text,
                report.map(|r| (r, secs)),
            ) {
                Ok(()) => return Ok(d),
                Err(StoreError::Stale(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DdmError::Busy)
    }

    /// The stored state and its version (0 and the empty state when there is none).
    fn load_state(&self, channel_id: &str) -> Result<(u64, State), DdmError> {
        match self.store.channel(channel_id)? {
            None => Ok((0, State::default())),
            Some(r) => {
                let mut st = state::from_json(&r.state).ok_or_else(|| StoreError::Corrupt {
                    what: format!("state of channel {channel_id}"),
                    reason: "not the state JSON".into(),
                })?;
                st.version = r.version;
                Ok((r.version, st))
            }
        }
    }

    /// Send the DeclarativeManagement command again to every channel where `ddm::reconcile`
    /// says it is due: something unconfirmed (pending, superseded, or the device on another
    /// token) and never announced, or the backoff since the last send has passed. Nothing
    /// else is stored; returns how many commands were queued. Run it periodically
    /// ([`Server::keep_resending`]).
    ///
    /// # Errors
    /// [`DdmError::Storage`] when the channel list cannot be read; a failure for one channel
    /// is logged and the others go on.
    pub fn tick_at(&self, now: SystemTime) -> Result<usize, DdmError> {
        let mut queued = 0;
        for channel_id in self.store.channel_ids()? {
            let due = self.channel_set(&channel_id).and_then(|set| {
                let (_, last) = self.load_state(&channel_id)?;
                let d = reconcile(&set, &last, Event::Tick, unix(now), &self.policy);
                Ok((d.resend == Resend::Now).then_some(set))
            });
            match due {
                Ok(Some(set)) => {
                    if self.announce(&channel_id, &set, now).is_ok() {
                        queued += 1;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(channel = %channel_id, error = %e,
                    "DDM: resend check failed"),
            }
        }
        Ok(queued)
    }

    /// Run [`Server::tick_at`] every `every` on the blocking pool, for as long as the
    /// runtime runs.
    pub async fn keep_resending(self: Arc<Self>, every: std::time::Duration) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let server = self.clone();
            match tokio::task::spawn_blocking(move || server.tick_at(SystemTime::now())).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(commands = n, "DDM: commands resent"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "DDM: resend pass failed"),
                Err(e) => tracing::error!(error = %e, "DDM: resend pass panicked"),
            }
        }
    }

    /// The channel as the admin API shows it: its sets, its DeclarationsToken, the token the
    /// device last synced to, and each declaration's state as the device's reports left it
    /// (reconciled against the current set, not stored), with the latest raw report.
    ///
    /// # Errors
    /// [`DdmError::UnknownChannel`] when no set is assigned and no check-in was seen.
    pub fn channel_view(&self, channel_id: &str, now: SystemTime) -> Result<Value, DdmError> {
        let sets = self.store.channel_sets(channel_id)?;
        let record = self.store.channel(channel_id)?;
        if sets.is_empty() && record.is_none() {
            return Err(DdmError::UnknownChannel(channel_id.to_owned()));
        }
        let set = self.channel_set(channel_id)?;
        let (_, last) = self.load_state(channel_id)?;
        let view = reconcile(&set, &last, Event::Tick, unix(now), &self.policy);
        let st = &view.state;
        let declarations: Vec<Value> = set
            .iter()
            .map(|d| {
                let mut v = st
                    .declarations
                    .get(d.identifier())
                    .map_or_else(|| json!({}), state::tracked_json);
                if let Value::Object(o) = &mut v {
                    o.insert("identifier".into(), d.identifier().into());
                    o.insert("type".into(), d.declaration_type().into());
                }
                v
            })
            .collect();
        let report = record
            .as_ref()
            .and_then(|r| r.report.as_deref())
            .map(|r| serde_json::from_slice::<Value>(r).unwrap_or(Value::Null));
        Ok(json!({
            "channel_id": channel_id,
            "channel": set.channel().as_str(),
            "sets": sets,
            "declarations_token": set.declarations_token(),
            "device_token": st.device_token,
            "stale": view.stale,
            "declarations": declarations,
            "extra_on_device": st.extra_on_device,
            "last_sent": st.last_sent,
            "attempts": st.attempts,
            "report_at": record.as_ref().and_then(|r| r.report_at),
            "report": report,
        }))
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The MDM core's [`Commands`] through a weak reference: the core holds DDM (as its
/// [`crate::mdm::Declarative`] hook) and DDM queues through the core, and neither keeps the
/// other alive. Once the core is gone, enqueues fail as storage errors.
#[derive(Debug)]
pub struct WeakCommands<T>(std::sync::Weak<T>);

impl<T> WeakCommands<T> {
    /// Queue through `core` while it lives.
    pub fn new(core: &Arc<T>) -> Self {
        WeakCommands(Arc::downgrade(core))
    }
}

impl<T: Commands> Commands for WeakCommands<T> {
    fn enqueue(&self, channel_ids: &[String], command: &NewCommand) -> Result<(), EnqueueError> {
        match self.0.upgrade() {
            Some(core) => core.enqueue(channel_ids, command),
            None => Err(EnqueueError::Storage(crate::storage::Error::Connection(
                "the MDM core has shut down".into(),
            ))),
        }
    }
}

/// The MDM core's DeclarativeManagement hook: [`Server::checkin`], its errors as the status
/// and message to answer (a store failure is logged here and answered with a generic 500).
impl crate::mdm::Declarative for Server {
    fn checkin(
        &self,
        channel_id: &str,
        endpoint: &str,
        data: Option<&[u8]>,
    ) -> Result<Vec<u8>, (u16, String)> {
        Server::checkin(self, channel_id, endpoint, data).map_err(|e| {
            let status = e.http_status();
            if status >= 500 {
                tracing::error!(channel = %channel_id, endpoint, error = %e,
                    "DDM check-in failed");
                (status, "internal error".to_owned())
            } else {
                (status, e.to_string())
            }
        })
    }
}

/// A [`Commands`] that keeps every enqueued command in memory (tests, embedding examples):
/// channels in `unknown` are refused as not enrolled, every other enqueue succeeds.
#[derive(Debug, Default)]
pub struct RecordedCommands {
    queued: Mutex<Vec<(Vec<String>, NewCommand)>>,
    /// Channel IDs refused with [`EnqueueError::UnknownChannel`].
    pub unknown: Vec<String>,
}

impl RecordedCommands {
    /// A recorder that refuses `unknown` channels as not enrolled.
    pub fn refusing(unknown: &[&str]) -> RecordedCommands {
        RecordedCommands {
            unknown: unknown.iter().map(|s| (*s).to_owned()).collect(),
            ..RecordedCommands::default()
        }
    }

    /// Everything queued so far, in order, and forget it.
    pub fn take(&self) -> Vec<(Vec<String>, NewCommand)> {
        std::mem::take(&mut *self.queued.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Commands for RecordedCommands {
    fn enqueue(&self, channel_ids: &[String], command: &NewCommand) -> Result<(), EnqueueError> {
        if let Some(c) = channel_ids.iter().find(|c| self.unknown.contains(c)) {
            return Err(EnqueueError::UnknownChannel(c.clone()));
        }
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((channel_ids.to_vec(), command.clone()));
        Ok(())
    }
}
