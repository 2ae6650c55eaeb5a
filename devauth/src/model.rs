//! Records: devices and their auth sets, with statuses, ids and timestamps.
//!
//! ```text
//! Device { id, identity, decommissioning, created_ts, updated_ts }
//!   └─ AuthSet { id, identity, pubkey, status, ts }   (one per key the device presented)
//! device status = accepted, else preauthorized, else pending, else rejected, else noauth
//! ```

use core::fmt;

use rand_core::CryptoRng;

use crate::identity::Identity;
use crate::pubkey::DevicePublicKey;

/// Seconds since the Unix epoch (always an argument: this crate reads no clock).
pub type Timestamp = u64;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; 16]);

        impl $name {
            /// A random (version 4) UUID drawn from `rng`.
            pub fn random(rng: &mut dyn CryptoRng) -> Self {
                let mut b = [0u8; 16];
                rng.fill_bytes(&mut b);
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                Self(b)
            }

            /// Parse the hyphenated form (`8-4-4-4-12` hex digits, either case).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.as_bytes();
                if s.len() != 36 {
                    return None;
                }
                let mut out = [0u8; 16];
                let mut n = 0usize;
                let mut hi: Option<u8> = None;
                for (i, c) in s.iter().enumerate() {
                    if matches!(i, 8 | 13 | 18 | 23) {
                        if *c != b'-' {
                            return None;
                        }
                        continue;
                    }
                    let d = (*c as char).to_digit(16)? as u8;
                    match hi.take() {
                        None => hi = Some(d),
                        Some(h) => {
                            *out.get_mut(n)? = (h << 4) | d;
                            n += 1;
                        }
                    }
                }
                Some(Self(out))
            }

            /// The 16 bytes.
            pub fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for (i, b) in self.0.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_str("-")?;
                    }
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }
    };
}

uuid_id!(
    /// A device's id (a UUID; the `sub` of its tokens).
    DeviceId
);
uuid_id!(
    /// An auth set's id (a UUID; the `jti` of the tokens issued for it).
    AuthSetId
);

/// The status of one auth set (identity + key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthSetStatus {
    /// Waiting for an operator.
    Pending,
    /// Admitted: the device gets tokens with this key.
    Accepted,
    /// Refused by an operator.
    Rejected,
    /// Registered by an operator ahead of the device's first request.
    Preauthorized,
}

impl AuthSetStatus {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSetStatus::Pending => "pending",
            AuthSetStatus::Accepted => "accepted",
            AuthSetStatus::Rejected => "rejected",
            AuthSetStatus::Preauthorized => "preauthorized",
        }
    }

    /// Parse the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => AuthSetStatus::Pending,
            "accepted" => AuthSetStatus::Accepted,
            "rejected" => AuthSetStatus::Rejected,
            "preauthorized" => AuthSetStatus::Preauthorized,
            _ => return None,
        })
    }
}

impl fmt::Display for AuthSetStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device's status, derived from its auth sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceStatus {
    /// One auth set is accepted.
    Accepted,
    /// None accepted, one preauthorized.
    Preauthorized,
    /// None accepted or preauthorized, at least one pending.
    Pending,
    /// Every auth set is rejected.
    Rejected,
    /// The device has no auth sets.
    Noauth,
}

impl DeviceStatus {
    /// Derive from the statuses of a device's auth sets.
    pub fn derive<'a>(sets: impl IntoIterator<Item = &'a AuthSet>) -> Self {
        let mut best = DeviceStatus::Noauth;
        for s in sets {
            let this = match s.status {
                AuthSetStatus::Accepted => DeviceStatus::Accepted,
                AuthSetStatus::Preauthorized => DeviceStatus::Preauthorized,
                AuthSetStatus::Pending => DeviceStatus::Pending,
                AuthSetStatus::Rejected => DeviceStatus::Rejected,
            };
            if this.rank() < best.rank() {
                best = this;
            }
        }
        best
    }

    fn rank(self) -> u8 {
        match self {
            DeviceStatus::Accepted => 0,
            DeviceStatus::Preauthorized => 1,
            DeviceStatus::Pending => 2,
            DeviceStatus::Rejected => 3,
            DeviceStatus::Noauth => 4,
        }
    }

    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Accepted => "accepted",
            DeviceStatus::Preauthorized => "preauthorized",
            DeviceStatus::Pending => "pending",
            DeviceStatus::Rejected => "rejected",
            DeviceStatus::Noauth => "noauth",
        }
    }

    /// Parse the API spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "accepted" => DeviceStatus::Accepted,
            "preauthorized" => DeviceStatus::Preauthorized,
            "pending" => DeviceStatus::Pending,
            "rejected" => DeviceStatus::Rejected,
            "noauth" => DeviceStatus::Noauth,
            _ => return None,
        })
    }
}

impl fmt::Display for DeviceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device record (its auth sets are separate records).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The device id.
    pub id: DeviceId,
    /// The normalised identity (unique among devices).
    pub identity: Identity,
    /// Set while a decommissioning is under way.
    pub decommissioning: bool,
    /// When the device was first seen or preauthorized.
    pub created_ts: Timestamp,
    /// When the device or one of its auth sets last changed.
    pub updated_ts: Timestamp,
}

/// An auth set: the device's identity with one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSet {
    /// The auth set id (`jti` of its tokens).
    pub id: AuthSetId,
    /// The owning device.
    pub device_id: DeviceId,
    /// The identity presented with the key.
    pub identity: Identity,
    /// The normalised key.
    pub pubkey: DevicePublicKey,
    /// The status.
    pub status: AuthSetStatus,
    /// When the set was created or last changed status.
    pub ts: Timestamp,
}

/// A device with its auth sets and the version the store holds it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// The device.
    pub device: Device,
    /// Its auth sets, oldest first.
    pub auth_sets: Vec<AuthSet>,
    /// Bumped by the store on every applied change to the device or its sets.
    pub version: u64,
}

impl DeviceRecord {
    /// The derived status.
    pub fn status(&self) -> DeviceStatus {
        DeviceStatus::derive(&self.auth_sets)
    }

    /// The auth set with this id.
    pub fn auth_set(&self, id: AuthSetId) -> Option<&AuthSet> {
        self.auth_sets.iter().find(|s| s.id == id)
    }
}

/// Format `ts` as RFC 3339 UTC (`2023-11-14T22:13:20Z`).
pub fn rfc3339(ts: Timestamp) -> String {
    let days = (ts / 86_400) as i64;
    let secs = ts % 86_400;
    // Civil-from-days (proleptic Gregorian), after H. Hinnant's published algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_answers() {
        // `date -u -d @0`, `date -u -d @1700000000`, `date -u -d @951782400` (2000-02-29).
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn uuid_round_trip() {
        let id = DeviceId::parse("5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7f10").expect("parses");
        assert_eq!(id.to_string(), "5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7f10");
        assert!(DeviceId::parse("5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7f1").is_none());
        assert!(DeviceId::parse("5c4b0c39x5d0e-4b0e-8f6b-2a9d6a8e7f10").is_none());
        assert!(DeviceId::parse("5c4b0c39-5d0e-4b0e-8f6b-2a9d6a8e7fg0").is_none());
    }
}
