//! The device sync: cursor paging over fetch and sync, with the cursor committed only after the
//! caller has stored what it was given.
//!
//! ```text
//!   checkpoint (caller's store) ──▶ SyncRound::new
//!     mode Fetch ── POST /server/devices {cursor?, limit} ─┐
//!     mode Sync  ── POST /devices/sync   {cursor,  limit} ─┤
//!                                                          ▼
//!      page ─▶ Progress::Page(devices, deduplicated by serial on the latest op_date)
//!            ─▶ caller stores them ─▶ SyncRound::stored() ─▶ Commit { expected, next }
//!               (the caller's store applies it as a compare-and-set)
//!            more_to_follow with a new cursor ─▶ next page
//!            more_to_follow with the same cursor ─▶ round ends (Warning::UnchangedCursor)
//!            no more ─▶ round ends; a finished fetch continues as sync next round
//!      EXHAUSTED_CURSOR (fetch) ─▶ switch to sync with the same cursor
//!      EXPIRED_CURSOR / INVALID_CURSOR ─▶ start again from a fetch without cursor (once a round)
//! ```
//!
//! Each page is one [`Call`], so session renewal happens below this machine. Page size is the
//! smaller of the caller's limit and the `limit.maximum` of `/account`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::endpoints::{Reply, fetch_devices, parse_device_page, sync_devices};
use crate::error::{Error, ErrorCode, Result};
use crate::model::{Account, Device, DevicePage};
use crate::session::{Call, Config};

/// Cursors older than this are reported (Apple expires them after 7 days).
pub const CURSOR_MAX_AGE_SECS: u64 = 7 * 24 * 3600;

/// Pages one round fetches at most before it stops (a bound on a misbehaving server).
pub const MAX_PAGES_PER_ROUND: u32 = 10_000;

/// Which endpoint the next page comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// `POST /server/devices`: every device.
    Fetch,
    /// `POST /devices/sync`: changes since the cursor.
    Sync,
}

/// What the caller persists between rounds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last cursor whose devices were stored.
    pub cursor: Option<String>,
    /// Which endpoint continues from it.
    pub mode: Mode,
    /// When the cursor was received (Unix seconds).
    pub cursor_at: Option<u64>,
}

impl Default for Checkpoint {
    fn default() -> Self {
        Checkpoint {
            cursor: None,
            mode: Mode::Fetch,
            cursor_at: None,
        }
    }
}

/// A cursor move to persist, as a compare-and-set: write `next` only if the stored checkpoint
/// still equals `expected`. Two servers syncing the same account then cannot move the cursor
/// backwards over each other's stored pages; a refused commit means another process got there
/// first, and this round should stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// What the store must still hold (the checkpoint this round last committed or started
    /// from).
    pub expected: Checkpoint,
    /// What to write.
    pub next: Checkpoint,
}

/// Things worth logging that did not stop the round.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Warning {
    /// The stored cursor is older than 7 days; Apple will probably answer `EXPIRED_CURSOR`.
    StaleCursor {
        /// Its age in seconds.
        age_secs: u64,
    },
    /// Apple said more pages follow but returned the cursor it was given; the round ended
    /// instead of asking again.
    UnchangedCursor,
    /// The cursor was refused and the round started again from a fetch.
    Restarted(ErrorCode),
    /// Fetch reported `EXHAUSTED_CURSOR`; the round continued with sync.
    SwitchedToSync,
    /// The page budget ([`MAX_PAGES_PER_ROUND`]) was used up.
    PageBudget,
}

/// What a page or an error meant for the round.
#[derive(Debug)]
#[non_exhaustive]
pub enum Progress {
    /// Devices to store (possibly none). Call [`SyncRound::stored`] once they are stored; no
    /// further request is made before that.
    Page(Vec<Device>),
    /// The machine changed course (cursor switch or restart); ask for the next call.
    Continue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Ready,
    InFlight,
    AwaitStore { next: Checkpoint, more: bool },
    Done,
}

/// One sync round, from a checkpoint to "nothing more right now".
#[derive(Debug)]
pub struct SyncRound {
    committed: Checkpoint,
    cursor: Option<String>,
    mode: Mode,
    state: State,
    now: u64,
    caller_limit: Option<u32>,
    fetch_max: Option<u32>,
    sync_max: Option<u32>,
    restarted: bool,
    pages: u32,
    warnings: Vec<Warning>,
}

impl SyncRound {
    /// Start a round from the caller's `checkpoint` (`None` the first time) at `now` (Unix
    /// seconds). `limit` is the page size the caller wants; `account`, when known, caps it at
    /// Apple's `limit.maximum`.
    pub fn new(
        checkpoint: Option<Checkpoint>,
        now: u64,
        limit: Option<u32>,
        account: Option<&Account>,
    ) -> SyncRound {
        let committed = checkpoint.unwrap_or_default();
        let mut warnings = Vec::new();
        if committed.cursor.is_some()
            && let Some(at) = committed.cursor_at
            && now.saturating_sub(at) > CURSOR_MAX_AGE_SECS
        {
            warnings.push(Warning::StaleCursor { age_secs: now - at });
        }
        let mode = if committed.cursor.is_none() {
            Mode::Fetch
        } else {
            committed.mode
        };
        SyncRound {
            cursor: committed.cursor.clone(),
            mode,
            committed,
            state: State::Ready,
            now,
            caller_limit: limit.filter(|l| *l > 0),
            fetch_max: account.and_then(|a| a.max_limit("/server/devices")),
            sync_max: account.and_then(|a| a.max_limit("/devices/sync")),
            restarted: false,
            pages: 0,
            warnings,
        }
    }

    /// The page size the next request asks for.
    pub fn page_limit(&self) -> Option<u32> {
        let max = match self.mode {
            Mode::Fetch => self.fetch_max,
            Mode::Sync => self.sync_max,
        };
        match (self.caller_limit, max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The endpoint the next page comes from.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The checkpoint as last committed by [`SyncRound::stored`].
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.committed
    }

    /// Warnings collected so far.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Whether the round is over.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The call for the next page, or `None` when the round is over. Asking while a page
    /// awaits [`SyncRound::stored`] or a call is in flight is [`Error::ApiMisuse`].
    pub fn next_call(&mut self, cfg: &Config) -> Result<Option<Call<Reply<DevicePage>>>> {
        match self.state {
            State::Done => return Ok(None),
            State::InFlight => return Err(Error::ApiMisuse("a page request is already in flight")),
            State::AwaitStore { .. } => {
                return Err(Error::ApiMisuse(
                    "store the last page and call SyncRound::stored first",
                ));
            }
            State::Ready => {}
        }
        if self.pages >= MAX_PAGES_PER_ROUND {
            self.warnings.push(Warning::PageBudget);
            self.state = State::Done;
            return Ok(None);
        }
        let limit = self.page_limit();
        let req = match (self.mode, &self.cursor) {
            (Mode::Sync, Some(c)) => sync_devices(cfg, c, limit)?,
            (_, c) => fetch_devices(cfg, c.as_deref(), limit)?,
        };
        self.pages += 1;
        self.state = State::InFlight;
        Ok(Some(Call::new(req, parse_device_page)))
    }

    /// Feed the outcome of the call from [`SyncRound::next_call`].
    ///
    /// Cursor errors are handled here (switch to sync, or restart from a fetch once per round);
    /// any other error ends the round and is returned, with the checkpoint unchanged.
    pub fn handle(&mut self, outcome: Result<Reply<DevicePage>>) -> Result<Progress> {
        if self.state != State::InFlight {
            return Err(Error::ApiMisuse(
                "SyncRound::handle without a page request in flight",
            ));
        }
        let page = match outcome {
            Ok(reply) => reply.value,
            Err(e) => return self.on_error(e),
        };
        let sent = self.cursor.clone();
        let received = Some(page.cursor).filter(|c| !c.is_empty());
        // No cursor at all counts as unchanged too: asking again would ask the same thing.
        let unchanged = page.more_to_follow && (received.is_none() || received == sent);
        if unchanged {
            self.warnings.push(Warning::UnchangedCursor);
        }
        let next_mode = if self.mode == Mode::Fetch && !page.more_to_follow {
            Mode::Sync
        } else {
            self.mode
        };
        let next = Checkpoint {
            cursor: received.or(sent),
            mode: next_mode,
            cursor_at: Some(self.now),
        };
        self.state = State::AwaitStore {
            next,
            more: page.more_to_follow && !unchanged,
        };
        Ok(Progress::Page(dedupe(page.devices)))
    }

    fn on_error(&mut self, e: Error) -> Result<Progress> {
        match e.code() {
            Some(ErrorCode::ExhaustedCursor)
                if self.mode == Mode::Fetch && self.cursor.is_some() =>
            {
                self.mode = Mode::Sync;
                self.state = State::Ready;
                self.warnings.push(Warning::SwitchedToSync);
                Ok(Progress::Continue)
            }
            Some(
                code @ (ErrorCode::ExpiredCursor
                | ErrorCode::InvalidCursor
                | ErrorCode::CursorRequired),
            ) if !self.restarted && self.cursor.is_some() => {
                self.warnings.push(Warning::Restarted(code.clone()));
                self.restarted = true;
                self.cursor = None;
                self.mode = Mode::Fetch;
                self.state = State::Ready;
                Ok(Progress::Continue)
            }
            _ => {
                self.state = State::Done;
                Err(e)
            }
        }
    }

    /// The caller has stored the devices of the last page: commit its cursor and return the
    /// [`Commit`] to apply to the caller's store.
    pub fn stored(&mut self) -> Result<Commit> {
        let State::AwaitStore { next, more } = core::mem::replace(&mut self.state, State::Done)
        else {
            self.state = State::Done;
            return Err(Error::ApiMisuse(
                "SyncRound::stored without a page to store",
            ));
        };
        self.cursor = next.cursor.clone();
        self.mode = if more { self.mode } else { next.mode };
        let expected = core::mem::replace(&mut self.committed, next.clone());
        self.state = if more { State::Ready } else { State::Done };
        Ok(Commit { expected, next })
    }
}

/// Keep one entry per serial number: the one with the latest `op_date` (a later entry wins a
/// tie, or when dates are missing, since Apple lists operations in time order). First-seen
/// order of serial numbers is kept.
pub fn dedupe(devices: Vec<Device>) -> Vec<Device> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Device> = Vec::with_capacity(devices.len());
    for d in devices {
        match index.get(&d.serial_number) {
            Some(&i) => {
                let old = out[i].op_date_millis();
                let new = d.op_date_millis();
                let replace = match (old, new) {
                    (Some(o), Some(n)) => n >= o,
                    (Some(_), None) => false,
                    _ => true,
                };
                if replace {
                    out[i] = d;
                }
            }
            None => {
                index.insert(d.serial_number.clone(), out.len());
                out.push(d);
            }
        }
    }
    out
}
