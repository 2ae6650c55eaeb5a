//! The admission model: pure decisions over a snapshot of records.
//!
//! ```text
//!   store ──snapshot──▶ decide(snapshot, request, now, rng) ──▶ Decision { answer, changes }
//!     ▲                                                              │
//!     └────────── apply(changes): all preconditions hold? ◀──────────┘
//!                 yes: commit every change at once; no: refuse, the caller decides again
//! ```
//!
//! Every [`Change`] carries the preconditions it was computed under: the device record's
//! version, that no device has the identity yet, or the exact number of accepted devices (for a
//! change that admits one more device against a limit). A store applies a decision in one
//! transaction only if all of them still hold, so two decisions computed from the same
//! snapshot cannot both be applied, and concurrent accepts cannot overshoot the device limit.
//!
//! The rules follow Mender: a first request creates a pending auth set (401); an operator
//! accepts it; the next request gets a token. A preauthorized set is accepted by the device's
//! own matching request. A new key on a known identity is a new pending set on the same device
//! (key rotation); accepting it rejects the old accepted set and revokes its tokens.

use rand_core::CryptoRng;

use crate::auth_request::VerifiedAuthRequest;
use crate::identity::Identity;
use crate::model::{
    AuthSet, AuthSetId, AuthSetStatus, Device, DeviceId, DeviceRecord, DeviceStatus, Timestamp,
};
use crate::pubkey::DevicePublicKey;
use crate::{Error, Result};

/// Admission settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdmissionPolicy {
    /// The most devices that may be accepted at once (`None`: no limit).
    pub max_devices: Option<u64>,
    /// The most auth sets (keys) one device may accumulate through its own requests.
    pub max_auth_sets: usize,
}

impl Default for AdmissionPolicy {
    fn default() -> Self {
        Self {
            max_devices: None,
            max_auth_sets: 16,
        }
    }
}

impl AdmissionPolicy {
    /// The default policy with a device limit.
    pub fn with_max_devices(mut self, limit: u64) -> Self {
        self.max_devices = Some(limit);
        self
    }
}

/// The records a decision reads: the device concerned (if it exists) and the number of
/// accepted devices.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// The device with the request's identity (device side) or id (management side).
    pub record: Option<DeviceRecord>,
    /// How many devices are accepted right now.
    pub accepted_devices: u64,
}

/// What must still hold for a change to be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Precondition {
    /// No device has this identity hash.
    IdentityFree {
        /// SHA-256 of the normalised identity.
        identity_hash: [u8; 32],
    },
    /// The device record is still at this version.
    DeviceVersion {
        /// The device.
        device: DeviceId,
        /// The version seen in the snapshot.
        version: u64,
    },
    /// Exactly this many devices are accepted.
    AcceptedCount {
        /// The count seen in the snapshot.
        expected: u64,
    },
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// Create a device.
    InsertDevice(Device),
    /// Add an auth set to a device.
    InsertAuthSet(AuthSet),
    /// Change an auth set's status.
    SetAuthSetStatus {
        /// The device.
        device: DeviceId,
        /// The auth set.
        auth_set: AuthSetId,
        /// The new status.
        status: AuthSetStatus,
        /// When.
        ts: Timestamp,
    },
    /// Remove an auth set.
    DeleteAuthSet {
        /// The device.
        device: DeviceId,
        /// The auth set.
        auth_set: AuthSetId,
        /// When.
        ts: Timestamp,
    },
    /// Remove a device (its auth sets are removed by their own changes).
    DeleteDevice {
        /// The device.
        device: DeviceId,
    },
    /// Refuse every token of this auth set issued at or before `at`.
    RevokeTokens {
        /// The auth set (`jti`).
        auth_set: AuthSetId,
        /// When.
        at: Timestamp,
    },
}

/// A write with the preconditions it was decided under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// All must hold when the decision is applied.
    pub requires: Vec<Precondition>,
    /// The write.
    pub op: Op,
}

/// An answer plus the exact changes to persist before giving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<A> {
    /// What to answer once the changes are applied.
    pub answer: A,
    /// The changes, to apply all or none.
    pub changes: Vec<Change>,
}

impl<A> Decision<A> {
    fn new(answer: A, changes: Vec<Change>) -> Self {
        Self { answer, changes }
    }
}

/// A device request that earned a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    /// The device (`sub`).
    pub device_id: DeviceId,
    /// The accepted auth set (`jti`).
    pub auth_set_id: AuthSetId,
    /// The tenant token the device sent, if any.
    pub tenant_token: Option<String>,
}

/// The ids a preauthorization created (or found already in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preauthorized {
    /// The device.
    pub device_id: DeviceId,
    /// The preauthorized auth set.
    pub auth_set_id: AuthSetId,
}

fn version_of(rec: &DeviceRecord) -> Precondition {
    Precondition::DeviceVersion {
        device: rec.device.id,
        version: rec.version,
    }
}

/// The changes that accept `set` on `rec`: the device's other accepted set is rejected and its
/// tokens revoked; a device newly counted as accepted is checked against the limit.
fn accept(
    policy: &AdmissionPolicy,
    snap_accepted: u64,
    rec: &DeviceRecord,
    set: AuthSetId,
    now: Timestamp,
    over_limit: fn(u64) -> Error,
) -> Result<Vec<Change>> {
    let pre = version_of(rec);
    let mut requires = vec![pre.clone()];
    if rec.status() != DeviceStatus::Accepted
        && let Some(limit) = policy.max_devices
    {
        if snap_accepted >= limit {
            return Err(over_limit(limit));
        }
        requires.push(Precondition::AcceptedCount {
            expected: snap_accepted,
        });
    }
    let mut changes = Vec::new();
    for other in rec
        .auth_sets
        .iter()
        .filter(|s| s.id != set && s.status == AuthSetStatus::Accepted)
    {
        changes.push(Change {
            requires: vec![pre.clone()],
            op: Op::SetAuthSetStatus {
                device: rec.device.id,
                auth_set: other.id,
                status: AuthSetStatus::Rejected,
                ts: now,
            },
        });
        changes.push(Change {
            requires: vec![pre.clone()],
            op: Op::RevokeTokens {
                auth_set: other.id,
                at: now,
            },
        });
    }
    changes.push(Change {
        requires,
        op: Op::SetAuthSetStatus {
            device: rec.device.id,
            auth_set: set,
            status: AuthSetStatus::Accepted,
            ts: now,
        },
    });
    Ok(changes)
}

fn new_device(
    identity: &Identity,
    pubkey: &DevicePublicKey,
    status: AuthSetStatus,
    now: Timestamp,
    rng: &mut dyn CryptoRng,
) -> (Device, AuthSet, Vec<Change>) {
    let device = Device {
        id: DeviceId::random(rng),
        identity: identity.clone(),
        decommissioning: false,
        created_ts: now,
        updated_ts: now,
    };
    let set = AuthSet {
        id: AuthSetId::random(rng),
        device_id: device.id,
        identity: identity.clone(),
        pubkey: pubkey.clone(),
        status,
        ts: now,
    };
    let pre = Precondition::IdentityFree {
        identity_hash: identity.hash(),
    };
    let changes = vec![
        Change {
            requires: vec![pre.clone()],
            op: Op::InsertDevice(device.clone()),
        },
        Change {
            requires: vec![pre],
            op: Op::InsertAuthSet(set.clone()),
        },
    ];
    (device, set, changes)
}

/// Decide a verified device auth request. `snap.record` must be the device with the request's
/// identity, if any.
///
/// The answer is a [`TokenGrant`] for an accepted (or just accepted preauthorized) set, or the
/// refusal: [`Error::Pending`] (also for a brand-new device or key, which the changes record),
/// [`Error::Rejected`], [`Error::DeviceLimitReached`], [`Error::TooManyAuthSets`] or
/// [`Error::Decommissioning`].
pub fn auth_request(
    policy: &AdmissionPolicy,
    snap: &Snapshot,
    req: &VerifiedAuthRequest,
    now: Timestamp,
    rng: &mut dyn CryptoRng,
) -> Decision<Result<TokenGrant>> {
    let tenant_token = Some(req.tenant_token().to_owned()).filter(|t| !t.is_empty());
    let Some(rec) = snap
        .record
        .as_ref()
        .filter(|r| r.device.identity == *req.identity())
    else {
        let (_, _, changes) = new_device(
            req.identity(),
            req.pubkey(),
            AuthSetStatus::Pending,
            now,
            rng,
        );
        return Decision::new(Err(Error::Pending), changes);
    };
    if rec.device.decommissioning {
        return Decision::new(Err(Error::Decommissioning), Vec::new());
    }
    let grant = |set: &AuthSet| TokenGrant {
        device_id: rec.device.id,
        auth_set_id: set.id,
        tenant_token: tenant_token.clone(),
    };
    match rec.auth_sets.iter().find(|s| s.pubkey == *req.pubkey()) {
        Some(set) => match set.status {
            AuthSetStatus::Accepted => Decision::new(Ok(grant(set)), Vec::new()),
            AuthSetStatus::Pending => Decision::new(Err(Error::Pending), Vec::new()),
            AuthSetStatus::Rejected => Decision::new(Err(Error::Rejected), Vec::new()),
            AuthSetStatus::Preauthorized => {
                match accept(policy, snap.accepted_devices, rec, set.id, now, |limit| {
                    Error::DeviceLimitReached { limit }
                }) {
                    Ok(changes) => Decision::new(Ok(grant(set)), changes),
                    Err(e) => Decision::new(Err(e), Vec::new()),
                }
            }
        },
        None => {
            if rec.auth_sets.len() >= policy.max_auth_sets {
                return Decision::new(
                    Err(Error::TooManyAuthSets {
                        limit: policy.max_auth_sets,
                    }),
                    Vec::new(),
                );
            }
            let set = AuthSet {
                id: AuthSetId::random(rng),
                device_id: rec.device.id,
                identity: req.identity().clone(),
                pubkey: req.pubkey().clone(),
                status: AuthSetStatus::Pending,
                ts: now,
            };
            Decision::new(
                Err(Error::Pending),
                vec![Change {
                    requires: vec![version_of(rec)],
                    op: Op::InsertAuthSet(set),
                }],
            )
        }
    }
}

/// Decide a preauthorization (`POST /devices`): `snap.record` must be the device with this
/// identity, if any.
///
/// A new identity gets a device with one preauthorized set. An existing device is a
/// [`Error::Conflict`] unless `force`, which adds a preauthorized set for the key (replacing the
/// device's previous preauthorized set); a key the device already has in another status is a
/// conflict too. Preauthorizing the key already preauthorized changes nothing.
pub fn preauthorize(
    snap: &Snapshot,
    identity: &Identity,
    pubkey: &DevicePublicKey,
    force: bool,
    now: Timestamp,
    rng: &mut dyn CryptoRng,
) -> Decision<Result<Preauthorized>> {
    let Some(rec) = snap
        .record
        .as_ref()
        .filter(|r| r.device.identity == *identity)
    else {
        let (device, set, changes) =
            new_device(identity, pubkey, AuthSetStatus::Preauthorized, now, rng);
        return Decision::new(
            Ok(Preauthorized {
                device_id: device.id,
                auth_set_id: set.id,
            }),
            changes,
        );
    };
    let conflict = || Error::Conflict {
        device_id: rec.device.id.to_string(),
    };
    if !force || rec.device.decommissioning {
        return Decision::new(Err(conflict()), Vec::new());
    }
    if let Some(existing) = rec.auth_sets.iter().find(|s| s.pubkey == *pubkey) {
        return if existing.status == AuthSetStatus::Preauthorized {
            Decision::new(
                Ok(Preauthorized {
                    device_id: rec.device.id,
                    auth_set_id: existing.id,
                }),
                Vec::new(),
            )
        } else {
            Decision::new(Err(conflict()), Vec::new())
        };
    }
    let pre = version_of(rec);
    let mut changes: Vec<Change> = rec
        .auth_sets
        .iter()
        .filter(|s| s.status == AuthSetStatus::Preauthorized)
        .map(|s| Change {
            requires: vec![pre.clone()],
            op: Op::DeleteAuthSet {
                device: rec.device.id,
                auth_set: s.id,
                ts: now,
            },
        })
        .collect();
    let set = AuthSet {
        id: AuthSetId::random(rng),
        device_id: rec.device.id,
        identity: identity.clone(),
        pubkey: pubkey.clone(),
        status: AuthSetStatus::Preauthorized,
        ts: now,
    };
    let answer = Preauthorized {
        device_id: rec.device.id,
        auth_set_id: set.id,
    };
    changes.push(Change {
        requires: vec![pre],
        op: Op::InsertAuthSet(set),
    });
    Decision::new(Ok(answer), changes)
}

fn device_and_set(snap: &Snapshot, auth_set: AuthSetId) -> Result<(&DeviceRecord, &AuthSet)> {
    let rec = snap.record.as_ref().ok_or(Error::NotFound("device"))?;
    let set = rec.auth_set(auth_set).ok_or(Error::NotFound("auth set"))?;
    Ok((rec, set))
}

/// Decide a manual status change (`PUT /devices/{id}/auth/{aid}/status`).
///
/// Allowed: pending to accepted (limit check, [`Error::LimitExceeded`]) or rejected; rejected to
/// accepted (limit check) or pending; accepted to rejected or pending (tokens revoked). A
/// preauthorized set changes only through the device's own request, and nothing is set to
/// preauthorized here: both are [`Error::TransitionNotAllowed`]. Setting the current status
/// again changes nothing.
pub fn set_status(
    policy: &AdmissionPolicy,
    snap: &Snapshot,
    auth_set: AuthSetId,
    to: AuthSetStatus,
    now: Timestamp,
) -> Decision<Result<()>> {
    let (rec, set) = match device_and_set(snap, auth_set) {
        Ok(v) => v,
        Err(e) => return Decision::new(Err(e), Vec::new()),
    };
    let from = set.status;
    let refuse = |e| Decision::new(Err(e), Vec::new());
    if from == AuthSetStatus::Preauthorized || to == AuthSetStatus::Preauthorized {
        return refuse(Error::TransitionNotAllowed { from, to });
    }
    if from == to {
        return Decision::new(Ok(()), Vec::new());
    }
    let pre = version_of(rec);
    let set_to = |status| Change {
        requires: vec![pre.clone()],
        op: Op::SetAuthSetStatus {
            device: rec.device.id,
            auth_set,
            status,
            ts: now,
        },
    };
    match (from, to) {
        (_, AuthSetStatus::Accepted) => {
            match accept(policy, snap.accepted_devices, rec, auth_set, now, |limit| {
                Error::LimitExceeded { limit }
            }) {
                Ok(changes) => Decision::new(Ok(()), changes),
                Err(e) => refuse(e),
            }
        }
        (AuthSetStatus::Accepted, _) => Decision::new(
            Ok(()),
            vec![
                set_to(to),
                Change {
                    requires: vec![pre.clone()],
                    op: Op::RevokeTokens { auth_set, at: now },
                },
            ],
        ),
        _ => Decision::new(Ok(()), vec![set_to(to)]),
    }
}

/// Decide `DELETE /devices/{id}/auth/{aid}`: the set goes, its tokens are revoked. A device left
/// without sets stays, with status noauth.
pub fn delete_auth_set(
    snap: &Snapshot,
    auth_set: AuthSetId,
    now: Timestamp,
) -> Decision<Result<()>> {
    let (rec, _) = match device_and_set(snap, auth_set) {
        Ok(v) => v,
        Err(e) => return Decision::new(Err(e), Vec::new()),
    };
    let pre = version_of(rec);
    Decision::new(
        Ok(()),
        vec![
            Change {
                requires: vec![pre.clone()],
                op: Op::DeleteAuthSet {
                    device: rec.device.id,
                    auth_set,
                    ts: now,
                },
            },
            Change {
                requires: vec![pre],
                op: Op::RevokeTokens { auth_set, at: now },
            },
        ],
    )
}

/// Decide `DELETE /devices/{id}` (decommission): every set goes and its tokens are revoked,
/// then the device. Its next request starts over as a new pending device.
pub fn decommission(snap: &Snapshot, now: Timestamp) -> Decision<Result<()>> {
    let Some(rec) = snap.record.as_ref() else {
        return Decision::new(Err(Error::NotFound("device")), Vec::new());
    };
    let pre = version_of(rec);
    let mut changes = Vec::new();
    for s in &rec.auth_sets {
        changes.push(Change {
            requires: vec![pre.clone()],
            op: Op::DeleteAuthSet {
                device: rec.device.id,
                auth_set: s.id,
                ts: now,
            },
        });
        changes.push(Change {
            requires: vec![pre.clone()],
            op: Op::RevokeTokens {
                auth_set: s.id,
                at: now,
            },
        });
    }
    changes.push(Change {
        requires: vec![pre],
        op: Op::DeleteDevice {
            device: rec.device.id,
        },
    });
    Decision::new(Ok(()), changes)
}

/// Decide `DELETE /tokens/{jti}`: revoke every token issued so far for that auth set.
pub fn revoke_token(jti: &str, now: Timestamp) -> Decision<Result<()>> {
    match AuthSetId::parse(jti) {
        Some(auth_set) => Decision::new(
            Ok(()),
            vec![Change {
                requires: Vec::new(),
                op: Op::RevokeTokens { auth_set, at: now },
            }],
        ),
        None => Decision::new(Err(Error::NotFound("token")), Vec::new()),
    }
}
