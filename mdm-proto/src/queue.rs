//! The command queue rules, as a pure decision over a queue the caller owns.
//!
//! ```text
//! report bytes ──▶ Queue::decide(&queue, bytes) ──▶ Decision { report, changes, next }
//!                                                     │
//!          caller's store ◀── Queue::apply(changes) ◀─┘   (or refuse if the queue moved on)
//! ```
//!
//! Rules, per channel:
//! - `Idle`: every command marked NotNow becomes eligible again; send the first pending command.
//! - `Acknowledged`, `Error`, `CommandFormatError`: the command is done and leaves the queue.
//! - `NotNow`: the command stays, marked, and is skipped until the next `Idle`.
//! - A report for a `CommandUUID` not in the queue changes nothing; the queue never blocks on it.
//! - A report that does not decode is an error, and there is nothing to apply: the queue is as
//!   it was.

use crate::command::{Report, Status};
use crate::error::Result;
use crate::value::Limits;

/// One queued command, as the caller stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType` (used to type the result).
    pub request_type: String,
    /// The plist body to send.
    pub body: Vec<u8>,
    /// The device answered `NotNow` since the last `Idle`.
    pub not_now: bool,
}

/// The queue of one channel, in sending order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Queue {
    /// Commands not yet finished, oldest first.
    pub items: Vec<Queued>,
}

/// A change a decision asks the caller's store to make. Each names the command it expects, so
/// a store applying it with compare-and-set refuses a stale decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Remove the finished command.
    Finish {
        /// `CommandUUID`.
        command_uuid: String,
        /// How it finished.
        status: Status,
    },
    /// Mark the command NotNow.
    MarkNotNow {
        /// `CommandUUID`.
        command_uuid: String,
    },
    /// Clear every NotNow mark (on `Idle`).
    ClearNotNow,
}

/// The outcome of one report.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The decoded report, with its result typed when its command was in the queue.
    pub report: Report,
    /// What to change in the queue.
    pub changes: Vec<Change>,
    /// The `CommandUUID` of the command to send in the response, or `None` for an empty `200`.
    pub next: Option<String>,
    /// The report named a `CommandUUID` the queue does not hold.
    pub unknown_command: bool,
}

impl Queue {
    /// Add a command at the end.
    pub fn push(&mut self, command_uuid: String, request_type: String, body: Vec<u8>) {
        self.items.push(Queued {
            command_uuid,
            request_type,
            body,
            not_now: false,
        });
    }

    /// The first command that may be sent now.
    pub fn next(&self) -> Option<&Queued> {
        self.items.iter().find(|q| !q.not_now)
    }

    /// Decide what a report means for this queue, without changing it.
    pub fn decide(&self, body: &[u8], limits: &Limits) -> Result<Decision> {
        self.decide_report(Report::parse(body, limits)?)
    }

    /// [`Queue::decide`] for a report already decoded (a server reads the channel from it
    /// before it loads that channel's queue).
    pub fn decide_report(&self, mut report: Report) -> Result<Decision> {
        let mut changes = Vec::new();
        let mut unknown_command = false;
        let entry = report
            .command_uuid
            .as_deref()
            .and_then(|u| self.items.iter().find(|q| q.command_uuid == u));
        match (report.status, entry) {
            (Status::Idle, _) => changes.push(Change::ClearNotNow),
            (_, None) => unknown_command = true,
            (Status::NotNow, Some(q)) => changes.push(Change::MarkNotNow {
                command_uuid: q.command_uuid.clone(),
            }),
            (status, Some(q)) => {
                if report.typed.is_none() {
                    let rt = q.request_type.clone();
                    report.type_result(&rt)?;
                }
                changes.push(Change::Finish {
                    command_uuid: q.command_uuid.clone(),
                    status,
                });
            }
        }
        let mut after = self.clone();
        after.apply(&changes);
        let next = after.next().map(|q| q.command_uuid.clone());
        Ok(Decision {
            report,
            changes,
            next,
            unknown_command,
        })
    }

    /// Apply a decision's changes.
    pub fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Finish { command_uuid, .. } => {
                    self.items.retain(|q| &q.command_uuid != command_uuid);
                }
                Change::MarkNotNow { command_uuid } => {
                    for q in self
                        .items
                        .iter_mut()
                        .filter(|q| &q.command_uuid == command_uuid)
                    {
                        q.not_now = true;
                    }
                }
                Change::ClearNotNow => {
                    for q in &mut self.items {
                        q.not_now = false;
                    }
                }
            }
        }
    }

    /// The body of a command by `CommandUUID` (to send as the answer to the report).
    pub fn body(&self, command_uuid: &str) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|q| q.command_uuid == command_uuid)
            .map(|q| q.body.as_slice())
    }
}
