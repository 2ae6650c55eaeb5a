//! An in-memory store that applies decisions atomically under their preconditions: the
//! reference for what a database-backed store must do, and the store of this crate's tests.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::admission::{Change, Decision, Op, Precondition, Snapshot};
use crate::identity::Identity;
use crate::model::{AuthSetId, AuthSetStatus, DeviceId, DeviceRecord, DeviceStatus, Timestamp};
use crate::token::Revocations;
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

    /// Take a snapshot, decide, apply; decide again (up to `attempts` times in all) while the
    /// store refuses the decision as stale.
    pub fn run<A>(
        &self,
        key: SnapshotKey<'_>,
        attempts: usize,
        mut decide: impl FnMut(&Snapshot) -> Decision<A>,
    ) -> Result<A> {
        let mut last = Error::StaleSnapshot("no attempt was made");
        for _ in 0..attempts {
            let snap = self.snapshot(key);
            let d = decide(&snap);
            match self.apply(&d.changes) {
                Ok(()) => return Ok(d.answer),
                Err(e @ Error::StaleSnapshot(_)) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

impl Revocations for MemStore {
    fn is_revoked(&self, jti: &str, iat: u64) -> bool {
        let Some(id) = AuthSetId::parse(jti) else {
            return true;
        };
        self.lock().revoked.get(&id).is_some_and(|at| iat <= *at)
    }
}
