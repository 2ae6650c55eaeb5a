//! Reconciliation: what each declaration's state is on the device, whether the device is
//! stale, and when to send the DeclarativeManagement command again; a pure function.
//!
//! ```text
//! (set, last State, Event, now) ──reconcile──▶ Decision { state, expected_version, resend, stale }
//!                                                   │ the caller stores `state` only if its stored
//!                                                   │ version is still `expected_version`
//! Event: Report(status report) | Synced(DeclarationsToken served) | CommandSent | Tick
//! ```
//!
//! Per declaration (the current ServerToken is the set's):
//!
//! | state | when |
//! |---|---|
//! | `Pending` | new or changed and the device has not reported it (or reported `valid: unknown`) |
//! | `Verified` | reported valid and active with the current ServerToken (management: valid) |
//! | `Inactive` | reported not active, with only `Info.*` reasons (no activation names it, predicate false) |
//! | `Failed` | reported with an `Error.*` reason or `valid: invalid` |
//! | `Superseded` | the device reports another (older) ServerToken |
//! | `UnknownToDevice` | the device reports `Error.UnknownDeclarationType` |
//!
//! Nothing stays pending forever: while any declaration is `Pending` or `Superseded`, or the
//! device is stale, the decision names when to send the command again (at once when the set
//! changed after the last send, else after `resend_after`, doubling per attempt up to
//! `max_backoff`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::declaration::Kind;
use crate::generated::status::management_declarations::{Declaration as DeclarationStatus, Valid};
use crate::set::DeclarationSet;
use crate::status::StatusReport;

/// The code a device reports for a declaration type it does not know.
pub const UNKNOWN_TYPE_CODE: &str = "Error.UnknownDeclarationType";

/// One reason a device gave (`reasons[]` of a declaration's status).
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// `code` (`Error.ConfigurationCannotBeApplied`, `Info.NotReferencedByActivation`, ...).
    pub code: String,
    /// `description`.
    pub description: Option<String>,
    /// `details`.
    pub details: Option<Map<String, Value>>,
}

/// Where one declaration stands on the device.
#[derive(Debug, Clone, PartialEq)]
pub enum DeclarationState {
    /// Sent (or to be sent) and not yet confirmed.
    Pending,
    /// Active and valid with the current ServerToken.
    Verified,
    /// Not active, for the reasons given (all `Info.*`: not referenced by an activation, the
    /// activation's predicate is false).
    Inactive {
        /// The device's reasons.
        reasons: Vec<Reason>,
    },
    /// Rejected or failed on the device.
    Failed {
        /// The device's reasons.
        reasons: Vec<Reason>,
    },
    /// The device holds an older revision.
    Superseded {
        /// The ServerToken the device reported.
        reported_token: String,
    },
    /// The device does not know the declaration's type.
    UnknownToDevice,
}

/// What the server remembers for one declaration.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    /// The kind.
    pub kind: Kind,
    /// The ServerToken the state is about.
    pub server_token: String,
    /// The state.
    pub state: DeclarationState,
    /// When (seconds since the epoch) the server started tracking this revision.
    pub since: u64,
}

/// The reconciliation state of one channel of one enrollment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    /// Bumped by every decision; the compare-and-set precondition.
    pub version: u64,
    /// By identifier.
    pub declarations: BTreeMap<String, Tracked>,
    /// The DeclarationsToken the device last synced to (served with `declaration-items`).
    pub device_token: Option<String>,
    /// Identifiers the device reported that the set does not hold.
    pub extra_on_device: Vec<String>,
    /// When the DeclarativeManagement command was last sent.
    pub last_sent: Option<u64>,
    /// Sends since the device last confirmed everything.
    pub attempts: u32,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Event<'a> {
    /// A status report arrived.
    Report(&'a StatusReport),
    /// The device fetched `declaration-items`, served with this DeclarationsToken.
    Synced {
        /// The token in the response it got.
        declarations_token: &'a str,
    },
    /// The server sent the DeclarativeManagement command.
    CommandSent,
    /// Nothing arrived; time passed (a report may have been lost).
    Tick,
}

/// Resend timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Seconds after a send before sending again while something is unconfirmed (default 600).
    pub resend_after: u64,
    /// Longest wait between sends (default one day).
    pub max_backoff: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            resend_after: 600,
            max_backoff: 86_400,
        }
    }
}

/// When to send the DeclarativeManagement command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// Nothing is unconfirmed.
    No,
    /// Now.
    Now,
    /// At this time (seconds since the epoch), unless a report confirms everything first.
    At(u64),
}

/// The outcome of [`reconcile`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The version the stored state must still have for `state` to be stored.
    pub expected_version: u64,
    /// The new state (its version is `expected_version + 1`).
    pub state: State,
    /// The device holds a DeclarationsToken other than the current one, an older revision of a
    /// declaration, or declarations the set no longer has.
    pub stale: bool,
    /// When to send the command.
    pub resend: Resend,
}

fn reasons(d: &DeclarationStatus) -> Vec<Reason> {
    d.reasons
        .iter()
        .flatten()
        .map(|r| Reason {
            code: r.code.clone(),
            description: r.description.clone(),
            details: r
                .details
                .as_ref()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        })
        .collect()
}

fn classify(kind: Kind, current: &str, d: &DeclarationStatus) -> DeclarationState {
    let rs = reasons(d);
    if rs.iter().any(|r| r.code == UNKNOWN_TYPE_CODE) {
        return DeclarationState::UnknownToDevice;
    }
    if d.server_token != current {
        return DeclarationState::Superseded {
            reported_token: d.server_token.clone(),
        };
    }
    if d.valid == Valid::Invalid || rs.iter().any(|r| r.code.starts_with("Error.")) {
        return DeclarationState::Failed { reasons: rs };
    }
    match (&d.valid, d.active || kind == Kind::Management) {
        (Valid::Valid, true) => DeclarationState::Verified,
        (_, false) if !rs.is_empty() => DeclarationState::Inactive { reasons: rs },
        _ => DeclarationState::Pending,
    }
}

/// Reconcile `set` with what the server knew (`last`) and what happened (`event`) at `now`.
pub fn reconcile(
    set: &DeclarationSet,
    last: &State,
    event: Event<'_>,
    now: u64,
    policy: &Policy,
) -> Decision {
    let mut st = last.clone();
    st.version = last.version.wrapping_add(1);
    let mut changed_after_send = false;
    let mut tracked = BTreeMap::new();
    for d in set.iter() {
        let keep = st
            .declarations
            .remove(d.identifier())
            .filter(|t| t.server_token == d.server_token() && t.kind == d.kind());
        let t = keep.unwrap_or_else(|| {
            changed_after_send |= st.last_sent.is_some_and(|s| s <= now);
            Tracked {
                kind: d.kind(),
                server_token: d.server_token().to_owned(),
                state: DeclarationState::Pending,
                since: now,
            }
        });
        tracked.insert(d.identifier().to_owned(), t);
    }
    let mut removed = !st.declarations.is_empty();
    st.declarations = tracked;
    let current = set.declarations_token();
    match event {
        Event::Report(r) => {
            if let Some(ds) = r.declarations() {
                for (kind, d) in ds.iter() {
                    match st.declarations.get_mut(&d.identifier) {
                        Some(t) if t.kind == kind => {
                            t.state = classify(kind, &t.server_token, d);
                        }
                        _ => {
                            if !st.extra_on_device.contains(&d.identifier) {
                                st.extra_on_device.push(d.identifier.clone());
                            }
                        }
                    }
                }
                // A full report lists everything the device holds: what it leaves out of an
                // array it carries is not on the device.
                if r.full_report() == Some(true) {
                    st.extra_on_device
                        .retain(|id| ds.iter().any(|(_, d)| &d.identifier == id));
                }
            }
        }
        Event::Synced { declarations_token } => {
            st.device_token = Some(declarations_token.to_owned());
            if declarations_token == current {
                st.extra_on_device.clear();
            }
        }
        Event::CommandSent => {
            // The command just sent carries the current set.
            changed_after_send = false;
            removed = false;
            st.last_sent = Some(now);
            st.attempts = st.attempts.saturating_add(1);
        }
        Event::Tick => {}
    }
    let unconfirmed = st.declarations.values().any(|t| {
        matches!(
            t.state,
            DeclarationState::Pending | DeclarationState::Superseded { .. }
        )
    });
    let stale = st.device_token.as_deref().is_some_and(|t| t != current)
        || !st.extra_on_device.is_empty()
        || st
            .declarations
            .values()
            .any(|t| matches!(t.state, DeclarationState::Superseded { .. }));
    if !unconfirmed && !stale {
        st.attempts = 0;
    }
    let resend = if !unconfirmed && !stale && !removed {
        Resend::No
    } else {
        match st.last_sent {
            None => Resend::Now,
            Some(_) if changed_after_send || removed => Resend::Now,
            Some(sent) => {
                let shift = st.attempts.saturating_sub(1).min(32);
                let wait = policy
                    .resend_after
                    .saturating_mul(1u64 << shift)
                    .min(policy.max_backoff);
                let due = sent.saturating_add(wait);
                if now >= due {
                    Resend::Now
                } else {
                    Resend::At(due)
                }
            }
        }
    };
    Decision {
        expected_version: last.version,
        state: st,
        stale,
        resend,
    }
}
