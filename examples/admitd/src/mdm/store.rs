//! MDM's records: invites, enrollments (one row per channel), commands and per-channel queues.
//!
//! ```text
//! mdm_invites      token_sha256 → owner, uses_left, expires_at
//! mdm_tickets      ticket (the CN of the profile's SCEP subject) → owner, invite-made?
//! mdm_enrollments  channel id → device id, kind, state, bound certificate (device channel),
//!                  push target, sealed UnlockToken / BootstrapToken, facts
//! mdm_commands     CommandUUID → RequestType, body
//! mdm_queue        (channel id, CommandUUID) → seq, status, NotNow mark, raw result
//! ```
//!
//! Every method is one transaction: a device's answer is sent only after its change is
//! committed, and a crash leaves either the whole change or none of it.

use std::time::{SystemTime, UNIX_EPOCH};

use mdm_proto::command::Status;
use mdm_proto::queue::{Change, Queued};
use rusqlite::{OptionalExtension as _, params};

use super::{EnqueueError, NewCommand, PushTarget};
use crate::storage::{Error, Migration, Storage};

/// The SQLite schema (see the module docs).
pub const SCHEMA: &str = "
CREATE TABLE mdm_invites (
    token_sha256 BLOB PRIMARY KEY,
    owner        TEXT,
    uses_left    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE TABLE mdm_tickets (
    ticket     TEXT PRIMARY KEY,
    owner      TEXT,
    udid       TEXT,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE mdm_enrollments (
    id                 TEXT PRIMARY KEY,
    device_id          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('device', 'user')),
    state              TEXT NOT NULL CHECK (state IN ('pending', 'enrolled', 'checked_out')),
    cert_sha256        BLOB,
    cert_serial        TEXT,
    serial_number      TEXT,
    model              TEXT,
    os_version         TEXT,
    device_name        TEXT,
    owner              TEXT,
    source             TEXT NOT NULL,
    topic              TEXT,
    push_token         BLOB,
    push_magic         TEXT,
    token_dead         INTEGER NOT NULL DEFAULT 0,
    unlock_token       BLOB,
    bootstrap_token    BLOB,
    token_update_tally INTEGER NOT NULL DEFAULT 0,
    facts              TEXT NOT NULL DEFAULT '{}',
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE UNIQUE INDEX mdm_one_device_per_cert ON mdm_enrollments(cert_sha256)
    WHERE kind = 'device' AND cert_sha256 IS NOT NULL;
CREATE INDEX mdm_enrollments_device ON mdm_enrollments(device_id);
CREATE TABLE mdm_commands (
    command_uuid TEXT PRIMARY KEY,
    request_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE TABLE mdm_queue (
    channel_id   TEXT NOT NULL,
    command_uuid TEXT NOT NULL REFERENCES mdm_commands(command_uuid),
    seq          INTEGER NOT NULL,
    status       TEXT NOT NULL,
    not_now      INTEGER NOT NULL DEFAULT 0,
    result       BLOB,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (channel_id, command_uuid)
);
CREATE INDEX mdm_queue_pending ON mdm_queue(channel_id, status, seq);
";

/// The SQLite migration that creates MDM's tables, at `version`.
pub const fn migration(version: u32) -> Migration {
    Migration {
        version,
        name: "mdm",
        sql: SCHEMA,
    }
}

/// Queue status of a command not yet finished.
pub const QUEUED: &str = "queued";
/// Queue status of a command dropped because its channel checked out.
pub const CANCELLED: &str = "cancelled";

/// Seconds since the Unix epoch.
pub fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// An enrollment invite as stored (the token itself is kept only as its SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// SHA-256 of the invite token.
    pub token_sha256: Vec<u8>,
    /// The owner the device will belong to, when the administrator named one.
    pub owner: Option<String>,
    /// How many profiles it may still fetch.
    pub uses: u32,
    /// Unix seconds after which it is void.
    pub expires_at: i64,
}

/// What an enrollment ticket (the profile a device was served) says about its device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The owner named by the invite, if any.
    pub owner: Option<String>,
    /// How the profile was obtained (`invite`, `invite-owner`, `admin`, `ade`, `ota-...`).
    pub source: String,
    /// The UDID the profile was made for, when a signature from the device proved it (ADE
    /// MachineInfo, OTA phase 2 under a configured device CA): a certificate under this
    /// ticket may take that device's enrollment over.
    pub udid: Option<String>,
}

/// The check-in state of one channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Authenticate seen; TokenUpdate not yet.
    Pending,
    /// TokenUpdate seen: the channel takes commands and pushes.
    Enrolled,
    /// CheckOut seen (or the profile removed): no commands, no pushes.
    CheckedOut,
}

impl State {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Enrolled => "enrolled",
            State::CheckedOut => "checked_out",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "enrolled" => State::Enrolled,
            "checked_out" => State::CheckedOut,
            _ => State::Pending,
        }
    }
}

/// One channel's record.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    /// Channel ID (`Channel::id`).
    pub id: String,
    /// The device channel's ID.
    pub device_id: String,
    /// `device` or `user`.
    pub kind: String,
    /// Check-in state.
    pub state: State,
    /// SHA-256 of the bound identity certificate (device channels).
    pub cert_sha256: Option<Vec<u8>>,
    /// Serial of the bound identity certificate, lowercase hex.
    pub cert_serial: Option<String>,
    /// Hardware serial number.
    pub serial_number: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// OS version.
    pub os_version: Option<String>,
    /// Device name.
    pub device_name: Option<String>,
    /// Owner (email) from the invite, if one was named.
    pub owner: Option<String>,
    /// How it enrolled.
    pub source: String,
    /// Push topic.
    pub topic: Option<String>,
    /// APNs said the token is gone.
    pub token_dead: bool,
    /// Has a push token.
    pub has_push_token: bool,
    /// How many TokenUpdates it sent.
    pub token_update_tally: i64,
    /// Inventory facts (JSON object: `DeviceInformation`, `SecurityInfo`, `ProfileList`, ...).
    pub facts: serde_json::Value,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// Authenticate's record for a device channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Device channel ID.
    pub id: String,
    /// SHA-256 of the identity certificate to bind.
    pub cert_sha256: Vec<u8>,
    /// Its serial, lowercase hex.
    pub cert_serial: String,
    /// From the message.
    pub serial_number: Option<String>,
    /// From the message.
    pub model: Option<String>,
    /// From the message.
    pub os_version: Option<String>,
    /// From the message.
    pub device_name: Option<String>,
    /// From the message.
    pub topic: String,
    /// From the ticket.
    pub owner: Option<String>,
    /// From the ticket.
    pub source: String,
}

/// TokenUpdate's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUpdated {
    /// Channel ID.
    pub id: String,
    /// Its device channel's ID.
    pub device_id: String,
    /// `device` or `user`.
    pub kind: &'static str,
    /// Push token.
    pub token: Vec<u8>,
    /// Push magic.
    pub push_magic: String,
    /// Topic.
    pub topic: String,
    /// Sealed UnlockToken, when sent.
    pub unlock_token: Option<Vec<u8>>,
}

/// How Authenticate's binding went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// Bound (first enrollment, same certificate again, or a new certificate replacing the old).
    Bound,
    /// The certificate is bound to another device: refused.
    CertificateInUse,
}

/// One channel's copy of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Channel ID.
    pub channel_id: String,
    /// `queued`, `Acknowledged`, `Error`, `CommandFormatError`, `cancelled`.
    pub status: String,
    /// Answered NotNow since the last Idle.
    pub not_now: bool,
    /// The report as the device sent it.
    pub result: Option<Vec<u8>>,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A command and where it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRecord {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Per channel.
    pub deliveries: Vec<Delivery>,
}

/// A report's effect, applied in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<'a> {
    /// The channel.
    pub channel_id: &'a str,
    /// Queue changes from `mdm_proto::queue`.
    pub changes: &'a [Change],
    /// The raw report, stored with a finished command.
    pub raw: &'a [u8],
    /// Facts to merge into the device channel's record (`{RequestType: result}`), with the
    /// columns they update.
    pub facts: Option<Facts>,
}

/// Facts from a result.
#[derive(Debug, Clone, PartialEq)]
pub struct Facts {
    /// Merged into the `facts` object.
    pub merge: serde_json::Map<String, serde_json::Value>,
    /// `SerialNumber`, when the result has it.
    pub serial_number: Option<String>,
    /// `Model` / `ProductName`.
    pub model: Option<String>,
    /// `OSVersion`.
    pub os_version: Option<String>,
    /// `DeviceName`.
    pub device_name: Option<String>,
}

/// Filters for listing devices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Only this state.
    pub state: Option<State>,
    /// Only this hardware serial.
    pub serial_number: Option<String>,
    /// Only this owner.
    pub owner: Option<String>,
    /// Device IDs after this one (paging).
    pub after: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// MDM's records, on SQLite or PostgreSQL. Each method is one transaction.
pub trait MdmStore: Send + Sync + std::fmt::Debug {
    /// Store an invite.
    fn add_invite(&self, invite: &NewInvite, now: i64) -> Result<(), Error>;
    /// Spend one use of the invite if it exists and has not expired; its owner (`Some(None)`
    /// when it names none), or `None` when it is unknown, spent or expired.
    fn take_invite(&self, token_sha256: &[u8], now: i64) -> Result<Option<Option<String>>, Error>;
    /// Record the ticket of a served profile.
    fn add_ticket(&self, ticket: &str, t: &Ticket, now: i64) -> Result<(), Error>;
    /// Look a ticket up.
    fn ticket(&self, ticket: &str) -> Result<Option<Ticket>, Error>;
    /// Remove a ticket and return it: `Some` for exactly one caller.
    fn take_ticket(&self, ticket: &str) -> Result<Option<Ticket>, Error>;
    /// One channel.
    fn enrollment(&self, id: &str) -> Result<Option<Enrollment>, Error>;
    /// The device channel bound to this certificate.
    fn device_by_cert(&self, cert_sha256: &[u8]) -> Result<Option<Enrollment>, Error>;
    /// Authenticate: bind the certificate and mark the device channel pending.
    fn authenticate(&self, a: &Authenticated, now: i64) -> Result<Bind, Error>;
    /// Bind a device channel to a new certificate if it is still bound to `old` (a SCEP
    /// renewal of the bound certificate); whether it was.
    fn rebind(
        &self,
        id: &str,
        old: &[u8],
        new: &[u8],
        new_serial: &str,
        now: i64,
    ) -> Result<bool, Error>;
    /// TokenUpdate: store the push target and mark the channel enrolled; returns the tally.
    fn token_update(&self, t: &TokenUpdated, now: i64) -> Result<i64, Error>;
    /// CheckOut: mark the channel (and a device's user channels) checked out, forget push
    /// targets and cancel queued commands.
    fn check_out(&self, id: &str, now: i64) -> Result<(), Error>;
    /// Escrow (or clear) a device's sealed BootstrapToken.
    fn set_bootstrap_token(&self, device_id: &str, sealed: Option<&[u8]>) -> Result<(), Error>;
    /// A device's sealed BootstrapToken.
    fn bootstrap_token(&self, device_id: &str) -> Result<Option<Vec<u8>>, Error>;
    /// A device's sealed UnlockToken.
    fn unlock_token(&self, device_id: &str) -> Result<Option<Vec<u8>>, Error>;
    /// Queue a command on every channel or none.
    fn enqueue(&self, ids: &[String], cmd: &NewCommand, now: i64) -> Result<(), EnqueueError>;
    /// The channel's unfinished commands, in order.
    fn queue(&self, id: &str) -> Result<Vec<Queued>, Error>;
    /// Apply a report's changes and facts.
    fn apply(&self, a: &Applied<'_>, now: i64) -> Result<(), Error>;
    /// A command and its deliveries.
    fn command(&self, command_uuid: &str) -> Result<Option<CommandRecord>, Error>;
    /// Device channels, by ID.
    fn devices(&self, f: &DeviceFilter) -> Result<Vec<Enrollment>, Error>;
    /// The user channels of a device.
    fn user_channels(&self, device_id: &str) -> Result<Vec<Enrollment>, Error>;
    /// A channel's push target (enrolled, token alive).
    fn push_target(&self, id: &str) -> Result<Option<PushTarget>, Error>;
    /// Mark the token dead if it is still the channel's.
    fn mark_token_dead(&self, id: &str, token: &[u8]) -> Result<(), Error>;
}

/// The columns an enrollment row is read from, in order.
pub const COLUMNS: &str = "id, device_id, kind, state, cert_sha256, cert_serial, serial_number, model, \
     os_version, device_name, owner, source, topic, token_dead, push_token IS NOT NULL, \
     token_update_tally, facts, created_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Enrollment> {
    let facts: String = r.get(16)?;
    Ok(Enrollment {
        id: r.get(0)?,
        device_id: r.get(1)?,
        kind: r.get(2)?,
        state: State::parse(&r.get::<_, String>(3)?),
        cert_sha256: r.get(4)?,
        cert_serial: r.get(5)?,
        serial_number: r.get(6)?,
        model: r.get(7)?,
        os_version: r.get(8)?,
        device_name: r.get(9)?,
        owner: r.get(10)?,
        source: r.get(11)?,
        topic: r.get(12)?,
        token_dead: r.get::<_, i64>(13)? != 0,
        has_push_token: r.get::<_, bool>(14)?,
        token_update_tally: r.get(15)?,
        facts: serde_json::from_str(&facts).unwrap_or_else(|_| serde_json::json!({})),
        created_at: r.get(17)?,
        updated_at: r.get(18)?,
    })
}

/// The stored status of a finished command.
pub fn finished_status(s: Status) -> &'static str {
    s.as_str()
}

/// Merge `facts.merge` into a stored facts object.
pub fn merged_facts(stored: &str, facts: &Facts) -> String {
    let mut obj = match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    for (k, v) in &facts.merge {
        obj.insert(k.clone(), v.clone());
    }
    serde_json::Value::Object(obj).to_string()
}

impl MdmStore for Storage {
    fn add_invite(&self, i: &NewInvite, now: i64) -> Result<(), Error> {
        self.lock().execute(
            "INSERT INTO mdm_invites (token_sha256, owner, uses_left, expires_at, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![i.token_sha256, i.owner, i.uses, i.expires_at, now],
        )?;
        Ok(())
    }

    fn take_invite(&self, token_sha256: &[u8], now: i64) -> Result<Option<Option<String>>, Error> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        let found: Option<(Option<String>, i64)> = tx
            .query_row(
                "SELECT owner, uses_left FROM mdm_invites
                 WHERE token_sha256 = ?1 AND expires_at > ?2 AND uses_left > 0",
                params![token_sha256, now],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((owner, left)) = found else {
            return Ok(None);
        };
        if left <= 1 {
            tx.execute(
                "DELETE FROM mdm_invites WHERE token_sha256 = ?1",
                [token_sha256],
            )?;
        } else {
            tx.execute(
                "UPDATE mdm_invites SET uses_left = uses_left - 1 WHERE token_sha256 = ?1",
                [token_sha256],
            )?;
        }
        tx.commit()?;
        Ok(Some(owner))
    }

    fn add_ticket(&self, ticket: &str, t: &Ticket, now: i64) -> Result<(), Error> {
        self.lock().execute(
            "INSERT INTO mdm_tickets (ticket, owner, source, udid, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ticket, t.owner, t.source, t.udid, now],
        )?;
        Ok(())
    }

    fn ticket(&self, ticket: &str) -> Result<Option<Ticket>, Error> {
        Ok(self
            .lock()
            .query_row(
                "SELECT owner, source, udid FROM mdm_tickets WHERE ticket = ?1",
                [ticket],
                |r| {
                    Ok(Ticket {
                        owner: r.get(0)?,
                        source: r.get(1)?,
                        udid: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn take_ticket(&self, ticket: &str) -> Result<Option<Ticket>, Error> {
        Ok(self
            .lock()
            .query_row(
                "DELETE FROM mdm_tickets WHERE ticket = ?1 RETURNING owner, source, udid",
                [ticket],
                |r| {
                    Ok(Ticket {
                        owner: r.get(0)?,
                        source: r.get(1)?,
                        udid: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn enrollment(&self, id: &str) -> Result<Option<Enrollment>, Error> {
        Ok(self
            .lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM mdm_enrollments WHERE id = ?1"),
                [id],
                row,
            )
            .optional()?)
    }

    fn device_by_cert(&self, cert_sha256: &[u8]) -> Result<Option<Enrollment>, Error> {
        Ok(self
            .lock()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM mdm_enrollments
                     WHERE cert_sha256 = ?1 AND kind = 'device'"
                ),
                [cert_sha256],
                row,
            )
            .optional()?)
    }

    fn authenticate(&self, a: &Authenticated, now: i64) -> Result<Bind, Error> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        let other: Option<String> = tx
            .query_row(
                "SELECT id FROM mdm_enrollments
                 WHERE cert_sha256 = ?1 AND kind = 'device' AND id <> ?2",
                params![a.cert_sha256, a.id],
                |r| r.get(0),
            )
            .optional()?;
        if other.is_some() {
            return Ok(Bind::CertificateInUse);
        }
        tx.execute(
            "INSERT INTO mdm_enrollments (id, device_id, kind, state, cert_sha256, cert_serial,
                 serial_number, model, os_version, device_name, owner, source, topic,
                 created_at, updated_at)
             VALUES (?1, ?1, 'device', 'pending', ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)
             ON CONFLICT (id) DO UPDATE SET
                 state = 'pending', cert_sha256 = ?2, cert_serial = ?3,
                 serial_number = COALESCE(?4, serial_number), model = COALESCE(?5, model),
                 os_version = COALESCE(?6, os_version), device_name = COALESCE(?7, device_name),
                 owner = COALESCE(?8, owner),
                 source = CASE WHEN ?8 IS NOT NULL OR state = 'checked_out' THEN ?9 ELSE source END,
                 topic = ?10, push_token = NULL, push_magic = NULL, token_dead = 0,
                 updated_at = ?11",
            params![
                a.id,
                a.cert_sha256,
                a.cert_serial,
                a.serial_number,
                a.model,
                a.os_version,
                a.device_name,
                a.owner,
                a.source,
                a.topic,
                now
            ],
        )?;
        tx.commit()?;
        Ok(Bind::Bound)
    }

    fn rebind(
        &self,
        id: &str,
        old: &[u8],
        new: &[u8],
        new_serial: &str,
        now: i64,
    ) -> Result<bool, Error> {
        Ok(self.lock().execute(
            "UPDATE mdm_enrollments SET cert_sha256 = ?3, cert_serial = ?4, updated_at = ?5
             WHERE id = ?1 AND kind = 'device' AND cert_sha256 = ?2",
            params![id, old, new, new_serial, now],
        )? == 1)
    }

    fn token_update(&self, t: &TokenUpdated, now: i64) -> Result<i64, Error> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        tx.execute(
            "INSERT INTO mdm_enrollments (id, device_id, kind, state, owner, source, topic,
                 push_token, push_magic, unlock_token, token_update_tally, created_at, updated_at)
             SELECT ?1, ?2, ?3, 'enrolled', d.owner, d.source, ?4, ?5, ?6, ?7, 1, ?8, ?8
             FROM mdm_enrollments d WHERE d.id = ?2
             ON CONFLICT (id) DO UPDATE SET
                 state = 'enrolled', topic = ?4, push_token = ?5, push_magic = ?6,
                 token_dead = 0, unlock_token = COALESCE(?7, unlock_token),
                 token_update_tally = token_update_tally + 1, updated_at = ?8",
            params![
                t.id,
                t.device_id,
                t.kind,
                t.topic,
                t.token,
                t.push_magic,
                t.unlock_token,
                now
            ],
        )?;
        let tally: i64 = tx.query_row(
            "SELECT token_update_tally FROM mdm_enrollments WHERE id = ?1",
            [&t.id],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(tally)
    }

    fn check_out(&self, id: &str, now: i64) -> Result<(), Error> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        // A device channel takes its user channels with it.
        tx.execute(
            "UPDATE mdm_enrollments SET state = 'checked_out', push_token = NULL,
                 push_magic = NULL, updated_at = ?2
             WHERE id = ?1 OR (device_id = ?1 AND kind = 'user')",
            params![id, now],
        )?;
        tx.execute(
            "UPDATE mdm_queue SET status = ?3, updated_at = ?2
             WHERE status = ?4 AND channel_id IN
                 (SELECT id FROM mdm_enrollments WHERE id = ?1 OR (device_id = ?1 AND kind = 'user'))",
            params![id, now, CANCELLED, QUEUED],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn set_bootstrap_token(&self, device_id: &str, sealed: Option<&[u8]>) -> Result<(), Error> {
        self.lock().execute(
            "UPDATE mdm_enrollments SET bootstrap_token = ?2 WHERE id = ?1",
            params![device_id, sealed],
        )?;
        Ok(())
    }

    fn bootstrap_token(&self, device_id: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .lock()
            .query_row(
                "SELECT bootstrap_token FROM mdm_enrollments WHERE id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    fn unlock_token(&self, device_id: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self
            .lock()
            .query_row(
                "SELECT unlock_token FROM mdm_enrollments WHERE id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    fn enqueue(&self, ids: &[String], cmd: &NewCommand, now: i64) -> Result<(), EnqueueError> {
        let mut c = self.lock();
        let tx = c.transaction().map_err(Error::from)?;
        let inserted = tx
            .execute(
                "INSERT INTO mdm_commands (command_uuid, request_type, body, created_at)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                params![cmd.command_uuid, cmd.request_type, cmd.body, now],
            )
            .map_err(Error::from)?;
        if inserted == 0 {
            return Err(EnqueueError::Duplicate(cmd.command_uuid.clone()));
        }
        for id in ids {
            let state: Option<String> = tx
                .query_row(
                    "SELECT state FROM mdm_enrollments WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::from)?;
            if !matches!(state.as_deref(), Some("pending" | "enrolled")) {
                return Err(EnqueueError::UnknownChannel(id.clone()));
            }
            let n = tx
                .execute(
                    "INSERT INTO mdm_queue (channel_id, command_uuid, seq, status, updated_at)
                     SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4
                     FROM mdm_queue WHERE channel_id = ?1
                     ON CONFLICT DO NOTHING",
                    params![id, cmd.command_uuid, QUEUED, now],
                )
                .map_err(Error::from)?;
            if n == 0 {
                return Err(EnqueueError::Duplicate(cmd.command_uuid.clone()));
            }
        }
        tx.commit().map_err(Error::from)?;
        Ok(())
    }

    fn queue(&self, id: &str) -> Result<Vec<Queued>, Error> {
        let c = self.lock();
        let mut st = c.prepare_cached(
            "SELECT q.command_uuid, c.request_type, c.body, q.not_now
             FROM mdm_queue q JOIN mdm_commands c ON c.command_uuid = q.command_uuid
             WHERE q.channel_id = ?1 AND q.status = ?2 ORDER BY q.seq",
        )?;
        let rows = st.query_map(params![id, QUEUED], |r| {
            Ok(Queued {
                command_uuid: r.get(0)?,
                request_type: r.get(1)?,
                body: r.get(2)?,
                not_now: r.get::<_, i64>(3)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn apply(&self, a: &Applied<'_>, now: i64) -> Result<(), Error> {
        let mut c = self.lock();
        let tx = c.transaction()?;
        for ch in a.changes {
            match ch {
                Change::Finish {
                    command_uuid,
                    status,
                } => {
                    tx.execute(
                        "UPDATE mdm_queue SET status = ?3, result = ?4, not_now = 0, updated_at = ?5
                         WHERE channel_id = ?1 AND command_uuid = ?2 AND status = ?6",
                        params![
                            a.channel_id,
                            command_uuid,
                            finished_status(*status),
                            a.raw,
                            now,
                            QUEUED
                        ],
                    )?;
                }
                Change::MarkNotNow { command_uuid } => {
                    tx.execute(
                        "UPDATE mdm_queue SET not_now = 1, updated_at = ?3
                         WHERE channel_id = ?1 AND command_uuid = ?2 AND status = ?4",
                        params![a.channel_id, command_uuid, now, QUEUED],
                    )?;
                }
                Change::ClearNotNow => {
                    tx.execute(
                        "UPDATE mdm_queue SET not_now = 0
                         WHERE channel_id = ?1 AND status = ?2 AND not_now = 1",
                        params![a.channel_id, QUEUED],
                    )?;
                }
            }
        }
        if let Some(f) = &a.facts {
            let stored: Option<(String, String)> = tx
                .query_row(
                    "SELECT d.id, d.facts FROM mdm_enrollments c
                     JOIN mdm_enrollments d ON d.id = c.device_id WHERE c.id = ?1",
                    [a.channel_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((device_id, stored)) = stored {
                tx.execute(
                    "UPDATE mdm_enrollments SET facts = ?2,
                         serial_number = COALESCE(?3, serial_number), model = COALESCE(?4, model),
                         os_version = COALESCE(?5, os_version),
                         device_name = COALESCE(?6, device_name), updated_at = ?7
                     WHERE id = ?1",
                    params![
                        device_id,
                        merged_facts(&stored, f),
                        f.serial_number,
                        f.model,
                        f.os_version,
                        f.device_name,
                        now
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn command(&self, command_uuid: &str) -> Result<Option<CommandRecord>, Error> {
        let c = self.lock();
        let head: Option<(String, i64)> = c
            .query_row(
                "SELECT request_type, created_at FROM mdm_commands WHERE command_uuid = ?1",
                [command_uuid],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((request_type, created_at)) = head else {
            return Ok(None);
        };
        let mut st = c.prepare(
            "SELECT channel_id, status, not_now, result, updated_at FROM mdm_queue
             WHERE command_uuid = ?1 ORDER BY channel_id",
        )?;
        let deliveries = st
            .query_map([command_uuid], |r| {
                Ok(Delivery {
                    channel_id: r.get(0)?,
                    status: r.get(1)?,
                    not_now: r.get::<_, i64>(2)? != 0,
                    result: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(Some(CommandRecord {
            command_uuid: command_uuid.to_owned(),
            request_type,
            created_at,
            deliveries,
        }))
    }

    fn devices(&self, f: &DeviceFilter) -> Result<Vec<Enrollment>, Error> {
        let c = self.lock();
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS} FROM mdm_enrollments
             WHERE kind = 'device'
               AND (?1 IS NULL OR state = ?1)
               AND (?2 IS NULL OR serial_number = ?2)
               AND (?3 IS NULL OR owner = ?3)
               AND (?4 IS NULL OR id > ?4)
             ORDER BY id LIMIT ?5"
        ))?;
        let rows = st.query_map(
            params![
                f.state.map(State::as_str),
                f.serial_number,
                f.owner,
                f.after,
                f.limit
            ],
            row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn user_channels(&self, device_id: &str) -> Result<Vec<Enrollment>, Error> {
        let c = self.lock();
        let mut st = c.prepare(&format!(
            "SELECT {COLUMNS} FROM mdm_enrollments WHERE device_id = ?1 AND kind = 'user'
             ORDER BY id"
        ))?;
        let rows = st.query_map([device_id], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn push_target(&self, id: &str) -> Result<Option<PushTarget>, Error> {
        Ok(self
            .lock()
            .query_row(
                "SELECT push_token, push_magic, topic FROM mdm_enrollments
                 WHERE id = ?1 AND state = 'enrolled' AND token_dead = 0
                   AND push_token IS NOT NULL AND push_magic IS NOT NULL AND topic IS NOT NULL",
                [id],
                |r| {
                    Ok(PushTarget {
                        channel_id: id.to_owned(),
                        token: r.get(0)?,
                        push_magic: r.get(1)?,
                        topic: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    fn mark_token_dead(&self, id: &str, token: &[u8]) -> Result<(), Error> {
        self.lock().execute(
            "UPDATE mdm_enrollments SET token_dead = 1 WHERE id = ?1 AND push_token = ?2",
            params![id, token],
        )?;
        Ok(())
    }
}
