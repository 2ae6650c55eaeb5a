//! Admin changes to declarations, sets and assignments, decided as a pure function of what is
//! stored: the writes to make, and the channels whose DeclarationsToken the change moves.
//!
//! ```text
//! Snapshot ──Config::from_snapshot──▶ Config ──decide(op)──▶ Decision { expected_revision,
//!                                                           changes, channels }
//!   refuses: a declaration `ddm` rejects (400), a set naming an unknown declaration (400),
//!   references that do not resolve (400), a channel whose set breaks a `ddm` rule (scope,
//!   duplicate identifier, references: 400), deleting what is in use (409), unknown names (404)
//! ```
//!
//! Rules, each checked through `ddm` ([`ddm::DeclarationSet::insert`] and
//! [`ddm::DeclarationSet::validate`]):
//! - The stored declarations are closed under references on each channel kind: an
//!   activation names stored configurations, a configuration names stored assets (KMFDDM's
//!   referential integrity). A declaration whose references do not resolve is refused, and
//!   one that others refer to cannot be deleted.
//! - Each set is closed the same way on its own, so any union of sets is.
//! - The set each affected channel would get (the union of its sets' declarations) must pass
//!   `ddm` for that channel (device channel: `system` scope; user channel: `user` scope).
//!
//! A channel ID with a `:` is a user channel (`UDID:UserID`, `UDID:ShortName`,
//! `EnrollmentID:EnrollmentUserID`), any other the device channel, as
//! `mdm_proto::checkin::Channel::id` writes them.

use std::collections::{BTreeMap, BTreeSet};

use ddm::{Channel, Declaration, DeclarationSet, Limits, TokenMode};

use super::DdmError;
use super::store::{Change, Snapshot, StoreError, StoredDeclaration, StoredSet};

/// The channel kind of a channel ID (see the module docs).
pub fn channel_kind(channel_id: &str) -> Channel {
    if channel_id.contains(':') {
        Channel::User
    } else {
        Channel::Device
    }
}

/// An admin change.
#[derive(Debug, Clone)]
pub enum Op {
    /// Create or replace a declaration (parsed by `ddm`).
    PutDeclaration(Box<Declaration>),
    /// Delete a declaration.
    DeleteDeclaration(String),
    /// Create a set or replace its declarations.
    PutSet {
        /// The set's name.
        name: String,
        /// Declaration identifiers.
        declarations: Vec<String>,
    },
    /// Delete a set and its assignments.
    DeleteSet(String),
    /// Assign a set to a channel.
    Assign {
        /// The set.
        set: String,
        /// The channel ID.
        channel: String,
    },
    /// Take a set off a channel.
    Unassign {
        /// The set.
        set: String,
        /// The channel ID.
        channel: String,
    },
}

/// The stored configuration with every declaration parsed.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// By identifier.
    pub declarations: BTreeMap<String, Declaration>,
    /// By name.
    pub sets: BTreeMap<String, StoredSet>,
}

/// A channel whose DeclarationsToken the change moves, with the set it gets.
#[derive(Debug, Clone)]
pub struct Moved {
    /// The channel ID.
    pub channel_id: String,
    /// Its set after the change.
    pub set: DeclarationSet,
}

/// What a change does.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The revision the store must still hold.
    pub expected_revision: u64,
    /// The writes, applied together or not at all.
    pub changes: Vec<Change>,
    /// Channels whose DeclarationsToken changes (each gets one DeclarativeManagement command).
    pub moved: Vec<Moved>,
    /// The declaration as stored, for `PutDeclaration`.
    pub stored: Option<StoredDeclaration>,
}

impl Config {
    /// Parse every stored declaration.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when a stored body no longer parses.
    pub fn from_snapshot(s: &Snapshot, limits: &Limits) -> Result<Config, StoreError> {
        let mut declarations = BTreeMap::new();
        for (id, d) in &s.declarations {
            let parsed =
                Declaration::parse(d.body.as_bytes(), limits).map_err(|e| StoreError::Corrupt {
                    what: format!("declaration {id}"),
                    reason: e.to_string(),
                })?;
            declarations.insert(id.clone(), parsed);
        }
        Ok(Config {
            declarations,
            sets: s.sets.clone(),
        })
    }

    /// Every channel some set is assigned to.
    pub fn channels(&self) -> BTreeSet<&str> {
        self.sets
            .values()
            .flat_map(|s| s.channels.iter().map(String::as_str))
            .collect()
    }

    /// The set `channel_id` is served: the union of its sets' declarations, validated.
    ///
    /// # Errors
    /// The first `ddm` rule the union breaks on this channel.
    pub fn channel_set(
        &self,
        channel_id: &str,
        mode: TokenMode,
    ) -> Result<DeclarationSet, ddm::Error> {
        let mut set = DeclarationSet::new(channel_kind(channel_id), mode);
        let ids: BTreeSet<&String> = self
            .sets
            .values()
            .filter(|s| s.channels.contains(channel_id))
            .flat_map(|s| s.declarations.iter())
            .collect();
        for id in ids {
            if let Some(d) = self.declarations.get(id) {
                set.insert(d.clone())?;
            }
        }
        set.validate()?;
        Ok(set)
    }

    /// The names of the sets holding `identifier`.
    pub fn sets_holding(&self, identifier: &str) -> Vec<String> {
        self.sets
            .iter()
            .filter(|(_, s)| s.declarations.contains(identifier))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Whether `decls` resolve their references among themselves on each channel kind: the ones a
/// kind's scope allows (and types the schema lacks) are validated together as one set.
pub fn closed<'a>(
    decls: impl IntoIterator<Item = &'a Declaration> + Clone,
    mode: TokenMode,
) -> Result<(), ddm::Error> {
    for channel in [Channel::Device, Channel::User] {
        let mut set = DeclarationSet::new(channel, mode);
        for d in decls.clone() {
            let allowed = d.schema().is_none_or(|e| match channel {
                Channel::Device => e.system_scope(),
                Channel::User => e.user_scope(),
            });
            if allowed {
                set.insert(d.clone())?;
            }
        }
        set.validate()?;
    }
    Ok(())
}

/// The declaration as it is stored and served under `mode`.
pub fn to_stored(d: &Declaration, mode: TokenMode) -> (Declaration, StoredDeclaration) {
    let mut d = d.clone();
    if mode == TokenMode::Content {
        d.use_content_token();
    }
    let stored = StoredDeclaration {
        identifier: d.identifier().to_owned(),
        declaration_type: d.declaration_type().to_owned(),
        server_token: d.server_token().to_owned(),
        body: serde_json::Value::Object(d.raw().clone()).to_string(),
    };
    (d, stored)
}

/// Decide `op` against `before` (read at `revision`).
///
/// # Errors
/// The refusals listed in the module docs, as [`DdmError`]s that name the problem.
pub fn decide(
    before: &Config,
    revision: u64,
    op: &Op,
    mode: TokenMode,
) -> Result<Decision, DdmError> {
    let mut after = before.clone();
    let mut stored = None;
    let change = match op {
        Op::PutDeclaration(d) => {
            let (d, s) = to_stored(d, mode);
            after.declarations.insert(d.identifier().to_owned(), d);
            closed(after.declarations.values(), mode).map_err(DdmError::Invalid)?;
            for name in after.sets_holding(&s.identifier) {
                let members = after.sets[&name]
                    .declarations
                    .iter()
                    .filter_map(|id| after.declarations.get(id));
                closed(members, mode).map_err(|e| {
                    DdmError::BadRequest(format!(
                        "set {name:?} would not hold everything its declarations refer to: {e}"
                    ))
                })?;
            }
            stored = Some(s.clone());
            Change::PutDeclaration(s)
        }
        Op::DeleteDeclaration(id) => {
            if after.declarations.remove(id).is_none() {
                return Err(DdmError::UnknownDeclaration(id.clone()));
            }
            let sets = before.sets_holding(id);
            if !sets.is_empty() {
                return Err(DdmError::InUse(format!(
                    "declaration {id:?} is in set(s) {}; take it out of them first",
                    sets.join(", ")
                )));
            }
            closed(after.declarations.values(), mode).map_err(|e| {
                DdmError::InUse(format!("declaration {id:?} is still referred to: {e}"))
            })?;
            Change::DeleteDeclaration(id.clone())
        }
        Op::PutSet { name, declarations } => {
            check_name("set name", name)?;
            let mut members = Vec::new();
            for id in declarations {
                let Some(d) = before.declarations.get(id) else {
                    return Err(DdmError::BadRequest(format!(
                        "set {name:?} names declaration {id:?}, which is not stored"
                    )));
                };
                members.push(d);
            }
            closed(members.iter().copied(), mode).map_err(|e| {
                DdmError::BadRequest(format!(
                    "set {name:?} does not hold everything its declarations refer to: {e}"
                ))
            })?;
            let set = after.sets.entry(name.clone()).or_default();
            set.declarations = declarations.iter().cloned().collect();
            Change::PutSet {
                name: name.clone(),
                declarations: set.declarations.iter().cloned().collect(),
            }
        }
        Op::DeleteSet(name) => {
            if after.sets.remove(name).is_none() {
                return Err(DdmError::UnknownSet(name.clone()));
            }
            Change::DeleteSet(name.clone())
        }
        Op::Assign { set, channel } => {
            check_name("channel ID", channel)?;
            let Some(s) = after.sets.get_mut(set) else {
                return Err(DdmError::UnknownSet(set.clone()));
            };
            s.channels.insert(channel.clone());
            Change::Assign {
                set: set.clone(),
                channel: channel.clone(),
            }
        }
        Op::Unassign { set, channel } => {
            let Some(s) = after.sets.get_mut(set) else {
                return Err(DdmError::UnknownSet(set.clone()));
            };
            if !s.channels.remove(channel) {
                return Err(DdmError::NotAssigned {
                    set: set.clone(),
                    channel: channel.clone(),
                });
            }
            Change::Unassign {
                set: set.clone(),
                channel: channel.clone(),
            }
        }
    };
    let mut moved = Vec::new();
    let channels: BTreeSet<&str> = before
        .channels()
        .union(&after.channels())
        .copied()
        .collect();
    for ch in channels {
        // A channel without sets is served the empty set, so gaining an empty set moves
        // nothing.
        let old = before
            .channel_set(ch, mode)
            .map_or_else(|_| String::new(), |s| s.declarations_token());
        let new = after.channel_set(ch, mode).map_err(|e| {
            DdmError::BadRequest(format!(
                "on channel {ch:?} the sets would break a rule: {e}"
            ))
        })?;
        if new.declarations_token() != old {
            moved.push(Moved {
                channel_id: ch.to_owned(),
                set: new,
            });
        }
    }
    Ok(Decision {
        expected_revision: revision,
        changes: vec![change],
        moved,
        stored,
    })
}

/// Names (set names, channel IDs) are 1 to 256 octets of printable characters.
fn check_name(what: &str, s: &str) -> Result<(), DdmError> {
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(DdmError::BadRequest(format!(
            "{what} must be 1 to 256 octets without control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use mdm_proto::checkin::Channel as MdmChannel;

    use super::*;

    /// The kind read from a channel ID agrees with `ddm`'s reading of the channel itself, for
    /// every kind of enrollment channel `mdm-proto` resolves.
    #[test]
    fn channel_kind_agrees_with_ddm() {
        let channels = [
            MdmChannel::Device {
                udid: "UDID".into(),
            },
            MdmChannel::User {
                udid: "UDID".into(),
                user_id: "B5D4C7E2-0000-4000-8000-000000000001".into(),
            },
            MdmChannel::SharedIpadUser {
                udid: "UDID".into(),
                user_short_name: "alice@example.com".into(),
            },
            MdmChannel::UserEnrollmentDevice {
                enrollment_id: "ENROLLMENT".into(),
            },
            MdmChannel::UserEnrollmentUser {
                enrollment_id: "ENROLLMENT".into(),
                enrollment_user_id: "USER".into(),
            },
        ];
        for c in channels {
            assert_eq!(channel_kind(&c.id()), Channel::of(&c), "{c:?}");
        }
    }

    #[test]
    fn nothing_moves_without_channels() {
        let d = Declaration::parse(
            br#"{"Type": "com.apple.configuration.management.test", "Identifier": "t", "Payload": {"Echo": "x"}}"#,
            &Limits::default(),
        )
        .unwrap();
        let before = Config::default();
        let decision = decide(
            &before,
            3,
            &Op::PutDeclaration(Box::new(d)),
            TokenMode::Content,
        )
        .unwrap();
        assert_eq!(decision.expected_revision, 3);
        assert!(decision.moved.is_empty());
        assert_eq!(decision.changes.len(), 1);
        let stored = decision.stored.unwrap();
        assert_eq!(stored.server_token.len(), 64);
        assert!(stored.body.contains(&stored.server_token));
    }
}
