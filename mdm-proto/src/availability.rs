//! The schema's `supportedOS` data, as values a server can query.
//!
//! Every generated command, check-in and profile type carries a `SUPPORTED_OS` constant, and
//! every key an entry in its type's `KEYS` table (with the key's own overrides, which
//! [`SupportedOs::with_override`] merges onto the payload's as `docs/schema.md` describes).
//!
//! ```
//! use mdm_proto::availability::{Channel, Os, Target, Version};
//! use mdm_proto::generated::commands::DeviceLock;
//!
//! let iphone = Target::new(Os::Ios, Version::new(17, 0, 0));
//! assert!(DeviceLock::SUPPORTED_OS.applies_to(&iphone));
//! // DeviceLock is not offered on the user channel of a Mac.
//! let mac_user = Target { channel: Channel::User, ..Target::new(Os::MacOs, Version::new(14, 0, 0)) };
//! assert!(!DeviceLock::SUPPORTED_OS.applies_to(&mac_user));
//! ```

/// One of Apple's operating systems named in the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    /// iOS and iPadOS.
    Ios,
    /// macOS.
    MacOs,
    /// tvOS.
    TvOs,
    /// visionOS.
    VisionOs,
    /// watchOS.
    WatchOs,
}

/// An OS version, compared numerically (`10.15` < `11.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl Version {
    /// `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parse `14`, `14.1` or `14.1.2`; `None` for anything else (such as the schema's `n/a`).
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.trim().split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().map_or(Some(0), |p| p.parse().ok())?;
        let patch = it.next().map_or(Some(0), |p| p.parse().ok())?;
        if it.next().is_some() {
            return None;
        }
        Some(Version::new(major, minor, patch))
    }
}

/// The schema's `mode` for Shared iPad and User Enrollment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Usable with or without the feature in effect.
    Allowed,
    /// Usable only with the feature in effect.
    Required,
    /// Not usable with the feature in effect.
    Forbidden,
    /// Accepted but without effect while the feature is in effect.
    Ignored,
}

/// Shared iPad behaviour (`sharedipad` object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SharedIpad {
    /// `mode`.
    pub mode: Option<Mode>,
    /// `devicechannel`.
    pub device_channel: Option<bool>,
    /// `userchannel`.
    pub user_channel: Option<bool>,
}

/// User Enrollment behaviour (`userenrollment` object).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UserEnrollment {
    /// `mode`.
    pub mode: Option<Mode>,
}

/// Support on one OS (the schema's per-OS object). Absent fields are `None`: they inherit
/// (for a key) or take the schema's default (for a payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OsSupport {
    /// `introduced`: a version, or `n/a` when not available on this OS.
    pub introduced: Option<&'static str>,
    /// `deprecated`.
    pub deprecated: Option<&'static str>,
    /// `removed`.
    pub removed: Option<&'static str>,
    /// `accessrights`: the MDM access right the command needs.
    pub access_rights: Option<&'static str>,
    /// `devicechannel`.
    pub device_channel: Option<bool>,
    /// `userchannel`.
    pub user_channel: Option<bool>,
    /// `supervised`: only on supervised devices when true.
    pub supervised: Option<bool>,
    /// `requiresdep`: only on devices enrolled through Automated Device Enrollment when true.
    pub requires_dep: Option<bool>,
    /// `userapprovedmdm`: only with user-approved enrollment when true.
    pub user_approved_mdm: Option<bool>,
    /// `multiple` (profiles).
    pub multiple: Option<bool>,
    /// `allowmanualinstall` (profiles).
    pub allow_manual_install: Option<bool>,
    /// `sharedipad`.
    pub shared_ipad: Option<SharedIpad>,
    /// `userenrollment`.
    pub user_enrollment: Option<UserEnrollment>,
}

impl OsSupport {
    /// Nothing stated (every field `None`); generated constants start from it.
    pub const EMPTY: OsSupport = OsSupport {
        introduced: None,
        deprecated: None,
        removed: None,
        access_rights: None,
        device_channel: None,
        user_channel: None,
        supervised: None,
        requires_dep: None,
        user_approved_mdm: None,
        multiple: None,
        allow_manual_install: None,
        shared_ipad: None,
        user_enrollment: None,
    };

    /// Overlay `key`'s explicit fields on `self` (the schema's inheritance rule).
    pub fn with_override(&self, key: &OsSupport) -> OsSupport {
        OsSupport {
            introduced: key.introduced.or(self.introduced),
            deprecated: key.deprecated.or(self.deprecated),
            removed: key.removed.or(self.removed),
            access_rights: key.access_rights.or(self.access_rights),
            device_channel: key.device_channel.or(self.device_channel),
            user_channel: key.user_channel.or(self.user_channel),
            supervised: key.supervised.or(self.supervised),
            requires_dep: key.requires_dep.or(self.requires_dep),
            user_approved_mdm: key.user_approved_mdm.or(self.user_approved_mdm),
            multiple: key.multiple.or(self.multiple),
            allow_manual_install: key.allow_manual_install.or(self.allow_manual_install),
            shared_ipad: match (self.shared_ipad, key.shared_ipad) {
                (Some(a), Some(b)) => Some(SharedIpad {
                    mode: b.mode.or(a.mode),
                    device_channel: b.device_channel.or(a.device_channel),
                    user_channel: b.user_channel.or(a.user_channel),
                }),
                (a, b) => b.or(a),
            },
            user_enrollment: key.user_enrollment.or(self.user_enrollment),
        }
    }

    /// Available in `version`: introduced at or before it (`n/a` never is) and not removed at or
    /// before it.
    pub fn available_in(&self, version: Version) -> bool {
        let introduced_ok = match self.introduced {
            None => true,
            Some(s) => Version::parse(s).is_some_and(|v| v <= version),
        };
        let removed = self
            .removed
            .and_then(Version::parse)
            .is_some_and(|v| v <= version);
        introduced_ok && !removed
    }
}

/// The schema's `supportedOS` object: one entry per OS, `None` where the OS is not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SupportedOs {
    /// `iOS`.
    pub ios: Option<OsSupport>,
    /// `macOS`.
    pub macos: Option<OsSupport>,
    /// `tvOS`.
    pub tvos: Option<OsSupport>,
    /// `visionOS`.
    pub visionos: Option<OsSupport>,
    /// `watchOS`.
    pub watchos: Option<OsSupport>,
}

/// The MDM channel a command travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The device channel (UDID or EnrollmentID).
    Device,
    /// A user channel (macOS user, Shared iPad user).
    User,
}

/// The device (and channel) a server is asking about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// Its OS.
    pub os: Os,
    /// Its OS version.
    pub version: Version,
    /// The channel.
    pub channel: Channel,
    /// Supervised.
    pub supervised: bool,
    /// Enrolled through Automated Device Enrollment.
    pub dep: bool,
    /// A User Enrollment (BYOD, EnrollmentID).
    pub user_enrollment: bool,
    /// A Shared iPad.
    pub shared_ipad: bool,
}

impl Target {
    /// A device channel on an unsupervised, manually enrolled device.
    pub const fn new(os: Os, version: Version) -> Self {
        Target {
            os,
            version,
            channel: Channel::Device,
            supervised: false,
            dep: false,
            user_enrollment: false,
            shared_ipad: false,
        }
    }
}

impl SupportedOs {
    /// No OS listed.
    pub const EMPTY: SupportedOs = SupportedOs {
        ios: None,
        macos: None,
        tvos: None,
        visionos: None,
        watchos: None,
    };

    /// The entry for `os`.
    pub fn get(&self, os: Os) -> Option<&OsSupport> {
        match os {
            Os::Ios => self.ios.as_ref(),
            Os::MacOs => self.macos.as_ref(),
            Os::TvOs => self.tvos.as_ref(),
            Os::VisionOs => self.visionos.as_ref(),
            Os::WatchOs => self.watchos.as_ref(),
        }
    }

    /// Overlay a key's own `supportedOS` on this (payload-level) one.
    pub fn with_override(&self, key: &SupportedOs) -> SupportedOs {
        let m = |a: Option<OsSupport>, b: Option<OsSupport>| match (a, b) {
            (Some(a), Some(b)) => Some(a.with_override(&b)),
            (a, b) => b.or(a),
        };
        SupportedOs {
            ios: m(self.ios, key.ios),
            macos: m(self.macos, key.macos),
            tvos: m(self.tvos, key.tvos),
            visionos: m(self.visionos, key.visionos),
            watchos: m(self.watchos, key.watchos),
        }
    }

    /// Whether this applies to `target`: listed for its OS and available in its version, on its
    /// channel, and allowed for its supervision, ADE, User Enrollment and Shared iPad state.
    ///
    /// Defaults where the schema says nothing: the device channel is allowed, the user channel
    /// is not (unless `userchannel` or Shared iPad's `userchannel` says so), supervision and ADE
    /// are not required, and every mode is `allowed`.
    pub fn applies_to(&self, target: &Target) -> bool {
        let Some(s) = self.get(target.os) else {
            return false;
        };
        if !s.available_in(target.version) {
            return false;
        }
        if s.supervised == Some(true) && !target.supervised {
            return false;
        }
        if s.requires_dep == Some(true) && !target.dep {
            return false;
        }
        let mode_ok = |mode: Option<Mode>, on: bool| match mode {
            Some(Mode::Required) => on,
            Some(Mode::Forbidden) => !on,
            _ => true,
        };
        if !mode_ok(
            s.user_enrollment.and_then(|u| u.mode),
            target.user_enrollment,
        ) {
            return false;
        }
        let ipad = s.shared_ipad.unwrap_or_default();
        if !mode_ok(ipad.mode, target.shared_ipad) {
            return false;
        }
        let (device, user) = if target.shared_ipad {
            (
                ipad.device_channel.or(s.device_channel).unwrap_or(true),
                ipad.user_channel.or(s.user_channel).unwrap_or(false),
            )
        } else {
            (
                s.device_channel.unwrap_or(true),
                s.user_channel.unwrap_or(false),
            )
        };
        match target.channel {
            Channel::Device => device,
            Channel::User => user,
        }
    }
}

/// One key of a generated type, as the schema lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyInfo {
    /// The plist key (`ANY` for a map's dynamic keys).
    pub name: &'static str,
    /// The schema type (`<string>`, `<dictionary>`, ...).
    pub schema_type: &'static str,
    /// `presence: required` in the schema.
    pub required: bool,
    /// The key's own `supportedOS` overrides, if it has any.
    pub supported_os: Option<SupportedOs>,
}

/// One command or check-in of the schema, for listings and coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchemaEntry {
    /// `RequestType` or `MessageType`.
    pub name: &'static str,
    /// The schema file, relative to the schema folder.
    pub schema_path: &'static str,
    /// The schema's title (a name, not prose).
    pub title: &'static str,
    /// A one-line availability summary.
    pub availability: &'static str,
    /// The payload's `supportedOS`.
    pub supported_os: SupportedOs,
}

impl KeyInfo {
    /// Whether this key applies to `target`, given the `supportedOS` of the payload it belongs
    /// to (the key inherits it and overrides what it lists).
    ///
    /// ```
    /// use mdm_proto::availability::{Os, Target, Version};
    /// use mdm_proto::generated::commands::DeviceLock;
    ///
    /// let pin = DeviceLock::KEYS.iter().find(|k| k.name == "PIN").unwrap();
    /// let mac = Target::new(Os::MacOs, Version::new(13, 0, 0));
    /// let iphone = Target::new(Os::Ios, Version::new(17, 0, 0));
    /// assert!(pin.applies_to(&DeviceLock::SUPPORTED_OS, &mac));
    /// assert!(!pin.applies_to(&DeviceLock::SUPPORTED_OS, &iphone)); // `n/a` on iOS
    /// ```
    pub fn applies_to(&self, payload: &SupportedOs, target: &Target) -> bool {
        match &self.supported_os {
            Some(own) => payload.with_override(own).applies_to(target),
            None => payload.applies_to(target),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(Version::parse("10.15"), Some(Version::new(10, 15, 0)));
        assert_eq!(Version::parse("17.4.1"), Some(Version::new(17, 4, 1)));
        assert_eq!(Version::parse("n/a"), None);
        assert!(Version::new(10, 15, 0) < Version::new(11, 0, 0));
    }

    #[test]
    fn rules() {
        let ios = OsSupport {
            introduced: Some("10.3"),
            supervised: Some(true),
            user_enrollment: Some(UserEnrollment {
                mode: Some(Mode::Forbidden),
            }),
            shared_ipad: Some(SharedIpad {
                mode: Some(Mode::Allowed),
                device_channel: Some(true),
                user_channel: Some(true),
            }),
            ..OsSupport::EMPTY
        };
        let s = SupportedOs {
            ios: Some(ios),
            macos: Some(OsSupport {
                introduced: Some("10.13"),
                removed: Some("14.0"),
                ..OsSupport::EMPTY
            }),
            ..SupportedOs::EMPTY
        };
        let base = Target::new(Os::Ios, Version::new(15, 0, 0));
        assert!(!s.applies_to(&base), "needs supervision");
        let sup = Target {
            supervised: true,
            ..base
        };
        assert!(s.applies_to(&sup));
        assert!(!s.applies_to(&Target {
            version: Version::new(9, 0, 0),
            ..sup
        }));
        assert!(!s.applies_to(&Target {
            user_enrollment: true,
            ..sup
        }));
        let ipad_user = Target {
            shared_ipad: true,
            channel: Channel::User,
            ..sup
        };
        assert!(s.applies_to(&ipad_user));
        assert!(!s.applies_to(&Target {
            shared_ipad: false,
            ..ipad_user
        }));
        let mac = Target::new(Os::MacOs, Version::new(13, 0, 0));
        assert!(s.applies_to(&mac));
        assert!(!s.applies_to(&Target {
            version: Version::new(14, 0, 0),
            ..mac
        }));
        assert!(!s.applies_to(&Target::new(Os::TvOs, Version::new(17, 0, 0))));
        // A key override: n/a on iOS, inherited elsewhere.
        let key = SupportedOs {
            ios: Some(OsSupport {
                introduced: Some("n/a"),
                ..OsSupport::EMPTY
            }),
            ..SupportedOs::EMPTY
        };
        let merged = s.with_override(&key);
        assert!(!merged.applies_to(&sup));
        assert_eq!(merged.ios.unwrap().supervised, Some(true));
        assert_eq!(merged.macos, s.macos);
    }
}
