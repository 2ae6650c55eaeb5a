//! Scenario files (TOML): what every device of a run does, in order.
//!
//! ```toml
//! [device]
//! users = 1            # user channels per device (TokenUpdate each in the `users` step)
//! shared_ipad = false  # users are Shared iPad users (UserID FFFFFFFF-..., UserShortName)
//!
//! [[step]]
//! do = "enroll"        # SCEP + Authenticate + TokenUpdate (skipped when resumed enrolled)
//! [[step]]
//! do = "users"         # TokenUpdate on each user channel
//! [[step]]
//! do = "busy"          # answer the next N commands NotNow
//! commands = 1
//! [[step]]
//! do = "sessions"      # N command rounds: Idle, then answer until the server has none
//! rounds = 3
//! wait_ms = 200        # between rounds: wait for a push (if the APNs stand-in runs) or this long
//! users = true         # also a session on each user channel
//! [[step]]
//! do = "ddm"           # tokens, declaration-items, declarations, status report
//! [[step]]
//! do = "checkout"
//! ```

use serde::Deserialize;

use crate::error::{Error, Result};

/// The devices' make-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSpec {
    /// User channels per device.
    #[serde(default)]
    pub users: usize,
    /// The users are Shared iPad users.
    #[serde(default)]
    pub shared_ipad: bool,
}

/// One step of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "do", rename_all = "lowercase", deny_unknown_fields)]
pub enum Step {
    /// Enroll (SCEP identity, Authenticate, TokenUpdate).
    Enroll,
    /// TokenUpdate on each user channel.
    Users,
    /// Answer the next `commands` commands with NotNow.
    Busy {
        /// How many.
        commands: u32,
    },
    /// Command rounds.
    Sessions {
        /// How many rounds.
        #[serde(default = "one")]
        rounds: u32,
        /// Wait between rounds, ms (cut short by a push when the APNs stand-in runs).
        #[serde(default)]
        wait_ms: u64,
        /// Also run a session on each user channel.
        #[serde(default)]
        users: bool,
    },
    /// A DDM sync on the device channel.
    Ddm,
    /// Pause, ms (cut short by a push).
    Wait {
        /// How long.
        ms: u64,
    },
    /// CheckOut.
    Checkout,
}

fn one() -> u32 {
    1
}

/// A scenario.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The devices' make-up.
    #[serde(default)]
    pub device: DeviceSpec,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Read a scenario from TOML.
    pub fn parse(text: &str) -> Result<Scenario> {
        let s: Scenario =
            toml::from_str(text).map_err(|e| Error::Config(format!("scenario: {e}")))?;
        if s.steps.is_empty() {
            return Err(Error::Config("scenario: no [[step]]".into()));
        }
        Ok(s)
    }

    /// Enroll, one command round, check out: what runs without a scenario file.
    pub fn default_steps() -> Scenario {
        Scenario {
            device: DeviceSpec::default(),
            steps: vec![
                Step::Enroll,
                Step::Sessions {
                    rounds: 1,
                    wait_ms: 0,
                    users: false,
                },
            ],
        }
    }
}
