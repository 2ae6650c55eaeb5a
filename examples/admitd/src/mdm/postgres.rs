//! MDM's records on PostgreSQL: the tables of [`super::store`], created by the shared
//! PostgreSQL migrations (`crate::scep::postgres`), with the same rules. A queue's order
//! comes from a sequence instead of `MAX(seq) + 1`, so two servers enqueueing at once never
//! collide; everything else is one transaction per method, as on SQLite.

use std::sync::Arc;

use mdm_proto::queue::{Change, Queued};
use tokio_postgres::Row;

use super::store::{
    Applied, Bind, COLUMNS, CommandRecord, Delivery, DeviceFilter, Enrollment, MdmStore, NewInvite,
    QUEUED, State, Ticket, TokenUpdated, finished_status, merged_facts,
};
use super::{EnqueueError, NewCommand, PushTarget};
use crate::scep::postgres::PgStore;
use crate::storage::Error;

/// The PostgreSQL schema (see [`super::store`]).
pub const SCHEMA: &str = "
CREATE TABLE mdm_invites (
    token_sha256 BYTEA PRIMARY KEY,
    owner        TEXT,
    uses_left    BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE TABLE mdm_tickets (
    ticket     TEXT PRIMARY KEY,
    owner      TEXT,
    udid       TEXT,
    source     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE mdm_enrollments (
    id                 TEXT PRIMARY KEY,
    device_id          TEXT NOT NULL,
    kind               TEXT NOT NULL CHECK (kind IN ('device', 'user')),
    state              TEXT NOT NULL CHECK (state IN ('pending', 'enrolled', 'checked_out')),
    cert_sha256        BYTEA,
    cert_serial        TEXT,
    serial_number      TEXT,
    model              TEXT,
    os_version         TEXT,
    device_name        TEXT,
    owner              TEXT,
    source             TEXT NOT NULL,
    topic              TEXT,
    push_token         BYTEA,
    push_magic         TEXT,
    token_dead         BIGINT NOT NULL DEFAULT 0,
    unlock_token       BYTEA,
    bootstrap_token    BYTEA,
    token_update_tally BIGINT NOT NULL DEFAULT 0,
    facts              TEXT NOT NULL DEFAULT '{}',
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE UNIQUE INDEX mdm_one_device_per_cert ON mdm_enrollments(cert_sha256)
    WHERE kind = 'device' AND cert_sha256 IS NOT NULL;
CREATE INDEX mdm_enrollments_device ON mdm_enrollments(device_id);
CREATE TABLE mdm_commands (
    command_uuid TEXT PRIMARY KEY,
    request_type TEXT NOT NULL,
    body         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE TABLE mdm_queue (
    channel_id   TEXT NOT NULL,
    command_uuid TEXT NOT NULL REFERENCES mdm_commands(command_uuid),
    seq          BIGSERIAL,
    status       TEXT NOT NULL,
    not_now      BIGINT NOT NULL DEFAULT 0,
    result       BYTEA,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (channel_id, command_uuid)
);
CREATE INDEX mdm_queue_pending ON mdm_queue(channel_id, status, seq);
";

/// MDM's store on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgMdm {
    pg: Arc<PgStore>,
}

impl PgMdm {
    /// MDM's records in the database `pg` is connected to (migrated by [`PgStore::open`]).
    pub fn new(pg: Arc<PgStore>) -> Self {
        PgMdm { pg }
    }
}

fn row(r: &Row) -> Enrollment {
    let facts: String = r.get(16);
    Enrollment {
        id: r.get(0),
        device_id: r.get(1),
        kind: r.get(2),
        state: match r.get::<_, String>(3).as_str() {
            "enrolled" => State::Enrolled,
            "checked_out" => State::CheckedOut,
            _ => State::Pending,
        },
        cert_sha256: r.get(4),
        cert_serial: r.get(5),
        serial_number: r.get(6),
        model: r.get(7),
        os_version: r.get(8),
        device_name: r.get(9),
        owner: r.get(10),
        source: r.get(11),
        topic: r.get(12),
        token_dead: r.get::<_, i64>(13) != 0,
        has_push_token: r.get(14),
        token_update_tally: r.get(15),
        facts: serde_json::from_str(&facts).unwrap_or_else(|_| serde_json::json!({})),
        created_at: r.get(17),
        updated_at: r.get(18),
    }
}

impl MdmStore for PgMdm {
    fn add_invite(&self, i: &NewInvite, now: i64) -> Result<(), Error> {
        self.pg.with(async |c| {
            c.execute(
                "INSERT INTO mdm_invites (token_sha256, owner, uses_left, expires_at, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &i.token_sha256,
                    &i.owner,
                    &i64::from(i.uses),
                    &i.expires_at,
                    &now,
                ],
            )
            .await?;
            Ok(())
        })
    }

    fn take_invite(&self, token_sha256: &[u8], now: i64) -> Result<Option<Option<String>>, Error> {
        self.pg.with(async |c| {
            let tx = c.transaction().await?;
            // The row lock makes concurrent takes of the last use see each other.
            let Some(r) = tx
                .query_opt(
                    "SELECT owner, uses_left FROM mdm_invites
                     WHERE token_sha256 = $1 AND expires_at > $2 AND uses_left > 0 FOR UPDATE",
                    &[&token_sha256, &now],
                )
                .await?
            else {
                return Ok(None);
            };
            let owner: Option<String> = r.get(0);
            let left: i64 = r.get(1);
            if left <= 1 {
                tx.execute(
                    "DELETE FROM mdm_invites WHERE token_sha256 = $1",
                    &[&token_sha256],
                )
                .await?;
            } else {
                tx.execute(
                    "UPDATE mdm_invites SET uses_left = uses_left - 1 WHERE token_sha256 = $1",
                    &[&token_sha256],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(Some(owner))
        })
    }

    fn add_ticket(&self, ticket: &str, t: &Ticket, now: i64) -> Result<(), Error> {
        self.pg.with(async |c| {
            c.execute(
                "INSERT INTO mdm_tickets (ticket, owner, source, udid, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&ticket, &t.owner, &t.source, &t.udid, &now],
            )
            .await?;
            Ok(())
        })
    }

    fn ticket(&self, ticket: &str) -> Result<Option<Ticket>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                "SELECT owner, source, udid FROM mdm_tickets WHERE ticket = $1",
                &[&ticket],
            )
            .await?
            .map(|r| Ticket {
                owner: r.get(0),
                source: r.get(1),
                udid: r.get(2),
            }))
        })
    }

    fn take_ticket(&self, ticket: &str) -> Result<Option<Ticket>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                "DELETE FROM mdm_tickets WHERE ticket = $1 RETURNING owner, source, udid",
                &[&ticket],
            )
            .await?
            .map(|r| Ticket {
                owner: r.get(0),
                source: r.get(1),
                udid: r.get(2),
            }))
        })
    }

    fn enrollment(&self, id: &str) -> Result<Option<Enrollment>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                &format!("SELECT {COLUMNS} FROM mdm_enrollments WHERE id = $1"),
                &[&id],
            )
            .await?
            .as_ref()
            .map(row))
        })
    }

    fn device_by_cert(&self, cert_sha256: &[u8]) -> Result<Option<Enrollment>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM mdm_enrollments
                     WHERE cert_sha256 = $1 AND kind = 'device'"
                ),
                &[&cert_sha256],
            )
            .await?
            .as_ref()
            .map(row))
        })
    }

    fn authenticate(&self, a: &super::store::Authenticated, now: i64) -> Result<Bind, Error> {
        self.pg.with(async |c| {
            let tx = c.transaction().await?;
            let other = tx
                .query_opt(
                    "SELECT id FROM mdm_enrollments
                     WHERE cert_sha256 = $1 AND kind = 'device' AND id <> $2",
                    &[&a.cert_sha256, &a.id],
                )
                .await?;
            if other.is_some() {
                return Ok(Bind::CertificateInUse);
            }
            let r = tx
                .execute(
                    "INSERT INTO mdm_enrollments (id, device_id, kind, state, cert_sha256,
                         cert_serial, serial_number, model, os_version, device_name, owner,
                         source, topic, created_at, updated_at)
                     VALUES ($1, $1, 'device', 'pending', $2, $3, $4, $5, $6, $7, $8, $9, $10,
                         $11, $11)
                     ON CONFLICT (id) DO UPDATE SET
                         state = 'pending', cert_sha256 = $2, cert_serial = $3,
                         serial_number = COALESCE($4, mdm_enrollments.serial_number),
                         model = COALESCE($5, mdm_enrollments.model),
                         os_version = COALESCE($6, mdm_enrollments.os_version),
                         device_name = COALESCE($7, mdm_enrollments.device_name),
                         owner = COALESCE($8, mdm_enrollments.owner),
                         source = CASE WHEN $8 IS NOT NULL
                                        OR mdm_enrollments.state = 'checked_out'
                                       THEN $9 ELSE mdm_enrollments.source END,
                         topic = $10, push_token = NULL, push_magic = NULL, token_dead = 0,
                         updated_at = $11",
                    &[
                        &a.id,
                        &a.cert_sha256,
                        &a.cert_serial,
                        &a.serial_number,
                        &a.model,
                        &a.os_version,
                        &a.device_name,
                        &a.owner,
                        &a.source,
                        &a.topic,
                        &now,
                    ],
                )
                .await;
            match r {
                Ok(_) => {}
                // Another server bound the certificate to another device meanwhile.
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    return Ok(Bind::CertificateInUse);
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit().await?;
            Ok(Bind::Bound)
        })
    }

    fn rebind(
        &self,
        id: &str,
        old: &[u8],
        new: &[u8],
        new_serial: &str,
        now: i64,
    ) -> Result<bool, Error> {
        self.pg.with(async |c| {
            Ok(c.execute(
                "UPDATE mdm_enrollments SET cert_sha256 = $3, cert_serial = $4, updated_at = $5
                 WHERE id = $1 AND kind = 'device' AND cert_sha256 = $2",
                &[&id, &old, &new, &new_serial, &now],
            )
            .await?
                == 1)
        })
    }

    fn token_update(&self, t: &TokenUpdated, now: i64) -> Result<i64, Error> {
        self.pg.with(async |c| {
            let tx = c.transaction().await?;
            let r = tx
                .query_opt(
                    "INSERT INTO mdm_enrollments (id, device_id, kind, state, owner, source,
                         topic, push_token, push_magic, unlock_token, token_update_tally,
                         created_at, updated_at)
                     SELECT $1, $2, $3, 'enrolled', d.owner, d.source, $4, $5, $6, $7, 1, $8, $8
                     FROM mdm_enrollments d WHERE d.id = $2
                     ON CONFLICT (id) DO UPDATE SET
                         state = 'enrolled', topic = $4, push_token = $5, push_magic = $6,
                         token_dead = 0,
                         unlock_token = COALESCE($7, mdm_enrollments.unlock_token),
                         token_update_tally = mdm_enrollments.token_update_tally + 1,
                         updated_at = $8
                     RETURNING token_update_tally",
                    &[
                        &t.id,
                        &t.device_id,
                        &t.kind,
                        &t.topic,
                        &t.token,
                        &t.push_magic,
                        &t.unlock_token,
                        &now,
                    ],
                )
                .await?;
            tx.commit().await?;
            Ok(r.map_or(0, |r| r.get(0)))
        })
    }

    fn check_out(&self, id: &str, now: i64) -> Result<(), Error> {
        self.pg.with(async |c| {
            let tx = c.transaction().await?;
            tx.execute(
                "UPDATE mdm_enrollments SET state = 'checked_out', push_token = NULL,
                     push_magic = NULL, updated_at = $2
                 WHERE id = $1 OR (device_id = $1 AND kind = 'user')",
                &[&id, &now],
            )
            .await?;
            tx.execute(
                "UPDATE mdm_queue SET status = $3, updated_at = $2
                 WHERE status = $4 AND channel_id IN
                   (SELECT id FROM mdm_enrollments WHERE id = $1 OR (device_id = $1 AND kind = 'user'))",
                &[&id, &now, &super::store::CANCELLED, &QUEUED],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn set_bootstrap_token(&self, device_id: &str, sealed: Option<&[u8]>) -> Result<(), Error> {
        self.pg.with(async |c| {
            c.execute(
                "UPDATE mdm_enrollments SET bootstrap_token = $2 WHERE id = $1",
                &[&device_id, &sealed],
            )
            .await?;
            Ok(())
        })
    }

    fn bootstrap_token(&self, device_id: &str) -> Result<Option<Vec<u8>>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                "SELECT bootstrap_token FROM mdm_enrollments WHERE id = $1",
                &[&device_id],
            )
            .await?
            .and_then(|r| r.get(0)))
        })
    }

    fn unlock_token(&self, device_id: &str) -> Result<Option<Vec<u8>>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                "SELECT unlock_token FROM mdm_enrollments WHERE id = $1",
                &[&device_id],
            )
            .await?
            .and_then(|r| r.get(0)))
        })
    }

    fn enqueue(&self, ids: &[String], cmd: &NewCommand, now: i64) -> Result<(), EnqueueError> {
        self.pg.with_any(async |c| {
            let tx = c.transaction().await.map_err(Error::from)?;
            let inserted = tx
                .execute(
                    "INSERT INTO mdm_commands (command_uuid, request_type, body, created_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    &[&cmd.command_uuid, &cmd.request_type, &cmd.body, &now],
                )
                .await
                .map_err(Error::from)?;
            if inserted == 0 {
                return Err(EnqueueError::Duplicate(cmd.command_uuid.clone()));
            }
            for id in ids {
                let state: Option<String> = tx
                    .query_opt("SELECT state FROM mdm_enrollments WHERE id = $1", &[id])
                    .await
                    .map_err(Error::from)?
                    .map(|r| r.get(0));
                if !matches!(state.as_deref(), Some("pending" | "enrolled")) {
                    return Err(EnqueueError::UnknownChannel(id.clone()));
                }
                let n = tx
                    .execute(
                        "INSERT INTO mdm_queue (channel_id, command_uuid, status, updated_at)
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &[id, &cmd.command_uuid, &QUEUED, &now],
                    )
                    .await
                    .map_err(Error::from)?;
                if n == 0 {
                    return Err(EnqueueError::Duplicate(cmd.command_uuid.clone()));
                }
            }
            tx.commit().await.map_err(Error::from)?;
            Ok(())
        })
    }

    fn queue(&self, id: &str) -> Result<Vec<Queued>, Error> {
        self.pg.with(async |c| {
            let rows = c
                .query(
                    "SELECT q.command_uuid, m.request_type, m.body, q.not_now
                     FROM mdm_queue q JOIN mdm_commands m ON m.command_uuid = q.command_uuid
                     WHERE q.channel_id = $1 AND q.status = $2 ORDER BY q.seq",
                    &[&id, &QUEUED],
                )
                .await?;
            Ok(rows
                .iter()
                .map(|r| Queued {
                    command_uuid: r.get(0),
                    request_type: r.get(1),
                    body: r.get(2),
                    not_now: r.get::<_, i64>(3) != 0,
                })
                .collect())
        })
    }

    fn apply(&self, a: &Applied<'_>, now: i64) -> Result<(), Error> {
        self.pg.with(async |c| {
            let tx = c.transaction().await?;
            for ch in a.changes {
                match ch {
                    Change::Finish {
                        command_uuid,
                        status,
                    } => {
                        tx.execute(
                            "UPDATE mdm_queue SET status = $3, result = $4, not_now = 0,
                                 updated_at = $5
                             WHERE channel_id = $1 AND command_uuid = $2 AND status = $6",
                            &[
                                &a.channel_id,
                                command_uuid,
                                &finished_status(*status),
                                &a.raw,
                                &now,
                                &QUEUED,
                            ],
                        )
                        .await?;
                    }
                    Change::MarkNotNow { command_uuid } => {
                        tx.execute(
                            "UPDATE mdm_queue SET not_now = 1, updated_at = $3
                             WHERE channel_id = $1 AND command_uuid = $2 AND status = $4",
                            &[&a.channel_id, command_uuid, &now, &QUEUED],
                        )
                        .await?;
                    }
                    Change::ClearNotNow => {
                        tx.execute(
                            "UPDATE mdm_queue SET not_now = 0
                             WHERE channel_id = $1 AND status = $2 AND not_now = 1",
                            &[&a.channel_id, &QUEUED],
                        )
                        .await?;
                    }
                }
            }
            if let Some(f) = &a.facts {
                let stored = tx
                    .query_opt(
                        "SELECT d.id, d.facts FROM mdm_enrollments c
                         JOIN mdm_enrollments d ON d.id = c.device_id WHERE c.id = $1
                         FOR UPDATE OF d",
                        &[&a.channel_id],
                    )
                    .await?;
                if let Some(r) = stored {
                    let device_id: String = r.get(0);
                    let stored: String = r.get(1);
                    tx.execute(
                        "UPDATE mdm_enrollments SET facts = $2,
                             serial_number = COALESCE($3, serial_number),
                             model = COALESCE($4, model), os_version = COALESCE($5, os_version),
                             device_name = COALESCE($6, device_name), updated_at = $7
                         WHERE id = $1",
                        &[
                            &device_id,
                            &merged_facts(&stored, f),
                            &f.serial_number,
                            &f.model,
                            &f.os_version,
                            &f.device_name,
                            &now,
                        ],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn command(&self, command_uuid: &str) -> Result<Option<CommandRecord>, Error> {
        self.pg.with(async |c| {
            let Some(head) = c
                .query_opt(
                    "SELECT request_type, created_at FROM mdm_commands WHERE command_uuid = $1",
                    &[&command_uuid],
                )
                .await?
            else {
                return Ok(None);
            };
            let rows = c
                .query(
                    "SELECT channel_id, status, not_now, result, updated_at FROM mdm_queue
                     WHERE command_uuid = $1 ORDER BY channel_id",
                    &[&command_uuid],
                )
                .await?;
            Ok(Some(CommandRecord {
                command_uuid: command_uuid.to_owned(),
                request_type: head.get(0),
                created_at: head.get(1),
                deliveries: rows
                    .iter()
                    .map(|r| Delivery {
                        channel_id: r.get(0),
                        status: r.get(1),
                        not_now: r.get::<_, i64>(2) != 0,
                        result: r.get(3),
                        updated_at: r.get(4),
                    })
                    .collect(),
            }))
        })
    }

    fn devices(&self, f: &DeviceFilter) -> Result<Vec<Enrollment>, Error> {
        self.pg.with(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM mdm_enrollments
                         WHERE kind = 'device'
                           AND ($1::TEXT IS NULL OR state = $1)
                           AND ($2::TEXT IS NULL OR serial_number = $2)
                           AND ($3::TEXT IS NULL OR owner = $3)
                           AND ($4::TEXT IS NULL OR id > $4)
                         ORDER BY id LIMIT $5"
                    ),
                    &[
                        &f.state.map(State::as_str),
                        &f.serial_number,
                        &f.owner,
                        &f.after,
                        &i64::from(f.limit),
                    ],
                )
                .await?;
            Ok(rows.iter().map(row).collect())
        })
    }

    fn user_channels(&self, device_id: &str) -> Result<Vec<Enrollment>, Error> {
        self.pg.with(async |c| {
            let rows = c
                .query(
                    &format!(
                        "SELECT {COLUMNS} FROM mdm_enrollments
                         WHERE device_id = $1 AND kind = 'user' ORDER BY id"
                    ),
                    &[&device_id],
                )
                .await?;
            Ok(rows.iter().map(row).collect())
        })
    }

    fn push_target(&self, id: &str) -> Result<Option<PushTarget>, Error> {
        self.pg.with(async |c| {
            Ok(c.query_opt(
                "SELECT push_token, push_magic, topic FROM mdm_enrollments
                 WHERE id = $1 AND state = 'enrolled' AND token_dead = 0
                   AND push_token IS NOT NULL AND push_magic IS NOT NULL AND topic IS NOT NULL",
                &[&id],
            )
            .await?
            .map(|r| PushTarget {
                channel_id: id.to_owned(),
                token: r.get(0),
                push_magic: r.get(1),
                topic: r.get(2),
            }))
        })
    }

    fn mark_token_dead(&self, id: &str, token: &[u8]) -> Result<(), Error> {
        self.pg.with(async |c| {
            c.execute(
                "UPDATE mdm_enrollments SET token_dead = 1 WHERE id = $1 AND push_token = $2",
                &[&id, &token],
            )
            .await?;
            Ok(())
        })
    }
}
