//! An in-memory store that applies decisions atomically under their preconditions: the
//! reference for what a database-backed store must do, and the store of this crate's tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::admission::{Change, Decision, Op, Precondition, Snapshot};
use crate::identity::Identity;
use crate::model::{AuthSetId, AuthSetStatus, DeviceId, DeviceRecord, DeviceStatus, Timestamp};
use crate::token::{Revocations, Standing};
use crate::{Error, Result};

#[derive(Debug, Default)]
struct State {
    devices: HashMap<DeviceId, DeviceRecord>,
    by_identity: HashMap<[u8; 32], DeviceId>,
    revoked: HashMap<AuthSetId, Timestamp>,
    accepted: u64,
}

/// Which records a snapshot is taken for.
#[derive(Debug, Clone, Copy)]
pub enum SnapshotKey<'a> {
    /// The device with this identity (device requests, preauthorization).
    Identity(&'a Identity),
    /// The device with this id (management requests).
    Device(DeviceId),
}

/// Devices, auth sets and revocations in memory, behind one lock.
///
/// [`MemStore::apply`] checks every precondition of a decision against the current records
/// and either applies every change or none, answering [`Error::StaleSnapshot`] so the caller
/// decides again from a fresh snapshot.
#[derive(Debug, Default)]
pub struct MemStore {
    state: Mutex<State>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied decision (changes are
        // committed only after every check), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The records a decision about `key` reads.
    pub fn snapshot(&self, key: SnapshotKey<'_>) -> Snapshot {
        let st = self.lock();
        let id = match key {
            SnapshotKey::Identity(identity) => st.by_identity.get(&identity.hash()).copied(),
            SnapshotKey::Device(id) => Some(id),
        };
        Snapshot {
            record: id.and_then(|id| st.devices.get(&id).cloned()),
            accepted_devices: st.accepted,
        }
    }

    /// One device with its auth sets.
    pub fn device(&self, id: DeviceId) -> Option<DeviceRecord> {
        self.lock().devices.get(&id).cloned()
    }

    /// Every device, oldest first (ties by id).
    pub fn devices(&self) -> Vec<DeviceRecord> {
        let mut v: Vec<_> = self.lock().devices.values().cloned().collect();
        v.sort_by(|a, b| {
            (a.device.created_ts, a.device.id).cmp(&(b.device.created_ts, b.device.id))
        });
        v
    }

    /// How many devices are accepted.
    pub fn accepted_devices(&self) -> u64 {
        self.lock().accepted
    }

    /// Apply `changes` if every precondition holds, all of them or none.
    pub fn apply(&self, changes: &[Change]) -> Result<()> {
        let mut st = self.lock();
        for c in changes {
            for p in &c.requires {
                let holds = match p {
                    Precondition::IdentityFree { identity_hash } => {
                        !st.by_identity.contains_key(identity_hash)
                    }
                    Precondition::DeviceVersion { device, version } => {
                        st.devices.get(device).map(|r| r.version) == Some(*version)
                    }
                    Precondition::AcceptedCount { expected } => st.accepted == *expected,
                };
                if !holds {
                    return Err(Error::StaleSnapshot(match p {
                        Precondition::IdentityFree { .. } => "a device with this identity exists",
                        Precondition::DeviceVersion { .. } => "the device changed",
                        Precondition::AcceptedCount { .. } => {
                            "the number of accepted devices changed"
                        }
                    }));
                }
            }
        }

        // Work on copies of the touched records; commit only if every change fits.
        let mut work: HashMap<DeviceId, Option<DeviceRecord>> = HashMap::new();
        let mut revoke: Vec<(AuthSetId, Timestamp)> = Vec::new();
        fn slot<'w>(
            work: &'w mut HashMap<DeviceId, Option<DeviceRecord>>,
            st: &State,
            id: DeviceId,
        ) -> &'w mut Option<DeviceRecord> {
            work.entry(id)
                .or_insert_with(|| st.devices.get(&id).cloned())
        }
        let missing = || Error::StaleSnapshot("a change names a record that does not exist");
        for c in changes {
            match &c.op {
                Op::InsertDevice(d) => {
                    let s = slot(&mut work, &st, d.id);
                    if s.is_some() {
                        return Err(Error::StaleSnapshot("device id already in use"));
                    }
                    *s = Some(DeviceRecord {
                        device: d.clone(),
                        auth_sets: Vec::new(),
                        version: 0,
                    });
                }
                Op::InsertAuthSet(set) => {
                    let rec = slot(&mut work, &st, set.device_id)
                        .as_mut()
                        .ok_or_else(missing)?;
                    if rec
                        .auth_sets
                        .iter()
                        .any(|s| s.id == set.id || s.pubkey == set.pubkey)
                    {
                        return Err(Error::StaleSnapshot("auth set already exists"));
                    }
                    rec.device.updated_ts = rec.device.updated_ts.max(set.ts);
                    rec.auth_sets.push(set.clone());
                }
                Op::SetAuthSetStatus {
                    device,
                    auth_set,
                    status,
                    ts,
                } => {
                    let rec = slot(&mut work, &st, *device).as_mut().ok_or_else(missing)?;
                    let set = rec
                        .auth_sets
                        .iter_mut()
                        .find(|s| s.id == *auth_set)
                        .ok_or_else(missing)?;
                    set.status = *status;
                    set.ts = *ts;
                    rec.device.updated_ts = rec.device.updated_ts.max(*ts);
                }
                Op::DeleteAuthSet {
                    device,
                    auth_set,
                    ts,
                } => {
                    let rec = slot(&mut work, &st, *device).as_mut().ok_or_else(missing)?;
                    let before = rec.auth_sets.len();
                    rec.auth_sets.retain(|s| s.id != *auth_set);
                    if rec.auth_sets.len() == before {
                        return Err(missing());
                    }
                    rec.device.updated_ts = rec.device.updated_ts.max(*ts);
                }
                Op::DeleteDevice { device } => {
                    let s = slot(&mut work, &st, *device);
                    if s.take().is_none() {
                        return Err(missing());
                    }
                }
                Op::RevokeTokens { auth_set, at } => revoke.push((*auth_set, *at)),
            }
        }
        for rec in work.values().flatten() {
            let count = |status| rec.auth_sets.iter().filter(|s| s.status == status).count();
            if count(AuthSetStatus::Accepted) > 1 || count(AuthSetStatus::Preauthorized) > 1 {
                return Err(Error::StaleSnapshot(
                    "a device would have two accepted or two preauthorized auth sets",
                ));
            }
        }

        // Commit.
        let st = &mut *st;
        for (id, new) in work {
            let old = st.devices.remove(&id);
            if let Some(old) = &old {
                st.by_identity.remove(&old.device.identity.hash());
                if old.status() == DeviceStatus::Accepted {
                    st.accepted -= 1;
                }
            }
            if let Some(mut new) = new {
                new.version = old.map_or(1, |o| o.version + 1);
                if new.status() == DeviceStatus::Accepted {
                    st.accepted += 1;
                }
                st.by_identity.insert(new.device.identity.hash(), id);
                st.devices.insert(id, new);
            }
        }
        for (id, at) in revoke {
            let e = st.revoked.entry(id).or_insert(at);
            *e = (*e).max(at);
        }
        Ok(())
    }
}

/// A store of devices, auth sets and revocations that applies [`Decision`]s under their
/// preconditions: [`MemStore`] here, a database in a server. The decision functions in
/// [`crate::admission`] are pure; [`Store::run`] is the one loop that feeds them snapshots and
/// applies what they decide.
pub trait Store {
    /// What the store's own operations fail with.
    type Error;

    /// The records a decision about `key` reads.
    fn snapshot(&self, key: SnapshotKey<'_>) -> core::result::Result<Snapshot, Self::Error>;

    /// Apply `changes` if every precondition holds, all of them or none; a failed
    /// precondition is an error for which [`Store::is_stale`] is true.
    fn apply(&self, changes: &[Change]) -> core::result::Result<(), Self::Error>;

    /// Whether `error` says only that the snapshot went stale (decide again).
    fn is_stale(error: &Self::Error) -> bool;

    /// Take a snapshot, decide, apply; decide again (up to `attempts` times in all, at least
    /// once) while the store refuses the decision as stale. The last stale error is returned
    /// when every attempt went stale; any other error at once.
    fn run<A>(
        &self,
        key: SnapshotKey<'_>,
        attempts: usize,
        mut decide: impl FnMut(&Snapshot) -> Decision<A>,
    ) -> core::result::Result<A, Self::Error>
    where
        Self: Sized,
    {
        let attempts = attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let snap = self.snapshot(key)?;
            let d = decide(&snap);
            match self.apply(&d.changes) {
                Ok(()) => return Ok(d.answer),
                Err(e) if Self::is_stale(&e) && attempt < attempts => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

impl Store for MemStore {
    type Error = Error;

    fn snapshot(&self, key: SnapshotKey<'_>) -> Result<Snapshot> {
        Ok(MemStore::snapshot(self, key))
    }

    fn apply(&self, changes: &[Change]) -> Result<()> {
        MemStore::apply(self, changes)
    }

    fn is_stale(error: &Error) -> bool {
        matches!(error, Error::StaleSnapshot(_))
    }
}

/// The standing of a token from the records at hand: revoked at or after `iat`, or its auth
/// set or device no longer accepted. Shared by every store so they judge alike.
pub fn standing(
    record: Option<&DeviceRecord>,
    auth_set: AuthSetId,
    revoked_at: Option<Timestamp>,
    iat: Timestamp,
) -> Standing {
    if revoked_at.is_some_and(|at| iat <= at) {
        return Standing::Revoked;
    }
    let accepted = record.is_some_and(|r| {
        r.status() == DeviceStatus::Accepted
            && r.auth_set(auth_set)
                .is_some_and(|s| s.status == AuthSetStatus::Accepted)
    });
    if accepted {
        Standing::Good
    } else {
        Standing::NotAccepted
    }
}

impl Revocations for MemStore {
    fn standing(&self, jti: &str, sub: &str, iat: Timestamp) -> Result<Standing> {
        let (Some(auth_set), Some(device)) = (AuthSetId::parse(jti), DeviceId::parse(sub)) else {
            return Ok(Standing::NotAccepted);
        };
        let st = self.lock();
        Ok(standing(
            st.devices.get(&device),
            auth_set,
            st.revoked.get(&auth_set).copied(),
            iat,
        ))
    }
}
