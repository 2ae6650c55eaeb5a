//! The SCIM directory's records (tables in [`crate::inventory::store::SCHEMA`]), on either
//! backend through [`crate::records::Db`].
//!
//! A user or group is kept as the JSON the identity provider sent (minus the server's own
//! attributes `id`, `meta`, `groups`), so extension attributes that no typed model knows
//! survive, next to the columns the server reads: the lower-cased `userName` and primary
//! email (owner lookups), `active`, the tombstone flag, and the POSIX `uid`/`gid`.
//!
//! POSIX IDs: taken from the directory when it supplies them (unique among live users, else
//! 409); otherwise the user keeps the ID it had, a re-created user gets its tombstone's ID
//! back, and a new one gets one above every ID from 100000 up ever handed out (IDs the
//! directory supplied below that do not count). A user's `gid`
//! defaults to its `uid`; a group's to the next free group ID.

use ::inventory::OwnerStanding;
use serde_json::Value;

use crate::records::{Db, DbError, Row, Stmt, Val};

/// A user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// The server-assigned `id`.
    pub id: String,
    /// `userName` as sent.
    pub user_name: String,
    /// `active`.
    pub active: bool,
    /// Deleted by the directory: a tombstone, never shown over SCIM.
    pub deleted: bool,
    /// POSIX user ID.
    pub uid: i64,
    /// POSIX primary group ID.
    pub gid: i64,
    /// The attributes as sent (without `id`, `meta`, `groups`).
    pub resource: Value,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last modified.
    pub updated_at: i64,
    /// Compare-and-set version.
    pub version: i64,
}

/// A group as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// The server-assigned `id`.
    pub id: String,
    /// `displayName`.
    pub display_name: String,
    /// POSIX group ID.
    pub gid: i64,
    /// The attributes as sent (members included; without `id`, `meta`).
    pub resource: Value,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last modified.
    pub updated_at: i64,
    /// Compare-and-set version.
    pub version: i64,
}

/// The first POSIX ID handed out.
pub const FIRST_POSIX_ID: i64 = 100_000;

const USER_COLUMNS: &str =
    "id, user_name, active, deleted, uid, gid, resource, created_at, updated_at, version";
const GROUP_COLUMNS: &str = "id, display_name, gid, resource, created_at, updated_at, version";

fn corrupt(what: &str) -> DbError {
    DbError::Backend(format!("stored SCIM row does not decode: {what}"))
}

fn text(r: &Row, i: usize) -> String {
    r.get(i).and_then(Val::text).unwrap_or_default().to_owned()
}

fn int(r: &Row, i: usize) -> i64 {
    r.get(i).and_then(Val::int).unwrap_or(0)
}

fn user_from(r: &Row) -> Result<User, DbError> {
    Ok(User {
        id: text(r, 0),
        user_name: text(r, 1),
        active: int(r, 2) != 0,
        deleted: int(r, 3) != 0,
        uid: int(r, 4),
        gid: int(r, 5),
        resource: serde_json::from_str(&text(r, 6)).map_err(|e| corrupt(&e.to_string()))?,
        created_at: int(r, 7),
        updated_at: int(r, 8),
        version: int(r, 9),
    })
}

fn group_from(r: &Row) -> Result<Group, DbError> {
    Ok(Group {
        id: text(r, 0),
        display_name: text(r, 1),
        gid: int(r, 2),
        resource: serde_json::from_str(&text(r, 3)).map_err(|e| corrupt(&e.to_string()))?,
        created_at: int(r, 4),
        updated_at: int(r, 5),
        version: int(r, 6),
    })
}

/// A user by `id` (tombstones included; the caller hides them).
pub fn user(db: &Db, id: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM scim_users WHERE id = $1");
    db.query_opt(&sql, &[id.into()])?
        .as_ref()
        .map(user_from)
        .transpose()
}

/// Every live user, in creation order (a stable order for paging).
pub fn users(db: &Db) -> Result<Vec<User>, DbError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM scim_users WHERE deleted = 0 ORDER BY seq");
    db.query(&sql, &[])?.iter().map(user_from).collect()
}

/// The live user whose `userName` is `name` (compared case-insensitively).
pub fn user_by_name(db: &Db, name: &str) -> Result<Option<User>, DbError> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM scim_users WHERE user_name_lc = $1 AND deleted = 0");
    db.query_opt(&sql, &[name.to_lowercase().into()])?
        .as_ref()
        .map(user_from)
        .transpose()
}

/// What the server reads from a user's attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFields {
    /// `userName`.
    pub user_name: String,
    /// The primary (else first) email, lower-cased.
    pub email: Option<String>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `active` (absent: unchanged on update, `true` on create).
    pub active: bool,
    /// The directory's POSIX `uidNumber`, if supplied.
    pub uid: Option<i64>,
    /// The directory's POSIX `gidNumber`, if supplied.
    pub gid: Option<i64>,
}

/// Insert a new user; a taken `userName` or `uid` fails with [`DbError::Unique`].
pub fn insert_user(
    db: &Db,
    id: &str,
    f: &UserFields,
    resource: &Value,
    now: i64,
) -> Result<(), DbError> {
    db.write(&[
        Stmt::new(
            "INSERT INTO scim_users (id, user_name, user_name_lc, email_lc, external_id, active,
                 deleted, uid, gid, resource, created_at, updated_at, version, seq)
             VALUES ($1, $2, $3, $4, $5, $6, 0,
                 COALESCE(CAST($7 AS BIGINT),
                     (SELECT MAX(t.uid) FROM scim_users t WHERE t.user_name_lc = $3 AND t.deleted = 1),
                     (SELECT COALESCE(MAX(a.uid), $8) + 1 FROM scim_users a WHERE a.uid >= $8)),
                 COALESCE(CAST($9 AS BIGINT), -1), $10, $11, $11, 1,
                 (SELECT COALESCE(MAX(s.seq), 0) + 1 FROM scim_users s))",
            vec![
                id.into(),
                f.user_name.as_str().into(),
                f.user_name.to_lowercase().into(),
                Val::opt_text(f.email.as_deref()),
                Val::opt_text(f.external_id.as_deref()),
                f.active.into(),
                Val::opt_int(f.uid),
                (FIRST_POSIX_ID - 1).into(),
                Val::opt_int(f.gid),
                resource.to_string().into(),
                now.into(),
            ],
        ),
        Stmt::new(
            "UPDATE scim_users SET gid = uid WHERE id = $1 AND gid = -1",
            vec![id.into()],
        ),
    ])
}

/// Replace the user read as `old` (compare-and-set on its version).
pub fn update_user(
    db: &Db,
    old: &User,
    f: &UserFields,
    resource: &Value,
    now: i64,
) -> Result<(), DbError> {
    db.write(&[Stmt::cas(
        "UPDATE scim_users SET user_name = $1, user_name_lc = $2, email_lc = $3, external_id = $4,
             active = $5, uid = $6, gid = $7, resource = $8, updated_at = $9, version = version + 1
         WHERE id = $10 AND version = $11 AND deleted = 0",
        vec![
            f.user_name.as_str().into(),
            f.user_name.to_lowercase().into(),
            Val::opt_text(f.email.as_deref()),
            Val::opt_text(f.external_id.as_deref()),
            f.active.into(),
            f.uid.unwrap_or(old.uid).into(),
            f.gid.unwrap_or(old.gid).into(),
            resource.to_string().into(),
            now.into(),
            old.id.as_str().into(),
            old.version.into(),
        ],
    )])
}

/// Tombstone the user read as `old`: inactive and deleted, out of every group; its row (and
/// its devices) stay.
pub fn tombstone_user(db: &Db, old: &User, now: i64) -> Result<(), DbError> {
    db.write(&[
        Stmt::cas(
            "UPDATE scim_users SET active = 0, deleted = 1, updated_at = $1, version = version + 1
             WHERE id = $2 AND version = $3 AND deleted = 0",
            vec![now.into(), old.id.as_str().into(), old.version.into()],
        ),
        Stmt::new(
            "DELETE FROM scim_group_members WHERE member_id = $1",
            vec![old.id.as_str().into()],
        ),
    ])
}

/// The groups `member` belongs to: `(id, displayName)`, by name.
pub fn groups_of(db: &Db, member: &str) -> Result<Vec<(String, String)>, DbError> {
    Ok(db
        .query(
            "SELECT g.id, g.display_name FROM scim_group_members m
             JOIN scim_groups g ON g.id = m.group_id WHERE m.member_id = $1
             ORDER BY g.display_name, g.id",
            &[member.into()],
        )?
        .iter()
        .map(|r| (text(r, 0), text(r, 1)))
        .collect())
}

/// A group by `id`.
pub fn group(db: &Db, id: &str) -> Result<Option<Group>, DbError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM scim_groups WHERE id = $1");
    db.query_opt(&sql, &[id.into()])?
        .as_ref()
        .map(group_from)
        .transpose()
}

/// Every group, in creation order.
pub fn groups(db: &Db) -> Result<Vec<Group>, DbError> {
    let sql = format!("SELECT {GROUP_COLUMNS} FROM scim_groups ORDER BY seq");
    db.query(&sql, &[])?.iter().map(group_from).collect()
}

/// Which of `ids` name a live user or a group (member references must).
pub fn existing_members(db: &Db, ids: &[String]) -> Result<Vec<String>, DbError> {
    let mut found = Vec::new();
    for id in ids {
        let hit = db.query_opt(
            "SELECT id FROM scim_users WHERE id = $1 AND deleted = 0
             UNION SELECT id FROM scim_groups WHERE id = $2",
            &[id.as_str().into(), id.as_str().into()],
        )?;
        if hit.is_some() {
            found.push(id.clone());
        }
    }
    Ok(found)
}

fn member_stmts(group_id: &str, members: &[String]) -> Vec<Stmt> {
    let mut v = vec![Stmt::new(
        "DELETE FROM scim_group_members WHERE group_id = $1",
        vec![group_id.into()],
    )];
    let mut seen = std::collections::HashSet::new();
    for m in members {
        if seen.insert(m) {
            v.push(Stmt::new(
                "INSERT INTO scim_group_members (group_id, member_id) VALUES ($1, $2)",
                vec![group_id.into(), m.as_str().into()],
            ));
        }
    }
    v
}

/// Insert a group with `members`; a taken `displayName` or `gid` fails with
/// [`DbError::Unique`].
pub fn insert_group(
    db: &Db,
    id: &str,
    display_name: &str,
    gid: Option<i64>,
    resource: &Value,
    members: &[String],
    now: i64,
) -> Result<(), DbError> {
    let mut stmts = vec![Stmt::new(
        "INSERT INTO scim_groups (id, display_name, gid, resource, created_at, updated_at, version,
             seq)
         VALUES ($1, $2, COALESCE(CAST($3 AS BIGINT), (SELECT COALESCE(MAX(a.gid), $4) + 1 FROM scim_groups a WHERE a.gid >= $4)),
             $5, $6, $6, 1, (SELECT COALESCE(MAX(s.seq), 0) + 1 FROM scim_groups s))",
        vec![
            id.into(),
            display_name.into(),
            Val::opt_int(gid),
            (FIRST_POSIX_ID - 1).into(),
            resource.to_string().into(),
            now.into(),
        ],
    )];
    stmts.extend(member_stmts(id, members));
    db.write(&stmts)
}

/// Replace the group read as `old` and its members (compare-and-set on its version).
pub fn update_group(
    db: &Db,
    old: &Group,
    display_name: &str,
    gid: Option<i64>,
    resource: &Value,
    members: &[String],
    now: i64,
) -> Result<(), DbError> {
    let mut stmts = vec![Stmt::cas(
        "UPDATE scim_groups SET display_name = $1, gid = $2, resource = $3, updated_at = $4,
             version = version + 1 WHERE id = $5 AND version = $6",
        vec![
            display_name.into(),
            gid.unwrap_or(old.gid).into(),
            resource.to_string().into(),
            now.into(),
            old.id.as_str().into(),
            old.version.into(),
        ],
    )];
    stmts.extend(member_stmts(&old.id, members));
    db.write(&stmts)
}

/// Delete a group and its memberships (as a member of other groups too).
pub fn delete_group(db: &Db, old: &Group) -> Result<(), DbError> {
    db.write(&[
        Stmt::cas(
            "DELETE FROM scim_groups WHERE id = $1 AND version = $2",
            vec![old.id.as_str().into(), old.version.into()],
        ),
        Stmt::new(
            "DELETE FROM scim_group_members WHERE group_id = $1",
            vec![old.id.as_str().into()],
        ),
        Stmt::new(
            "DELETE FROM scim_group_members WHERE member_id = $1",
            vec![old.id.as_str().into()],
        ),
    ])
}

/// The standing of the owner whose email or `userName` is `owner` (lower-case): active if
/// any live user with it is active; deactivated if the live ones are all inactive; deleted if
/// only tombstones remain; unknown if the directory never had it.
pub fn owner_standing(db: &Db, owner: &str) -> Result<OwnerStanding, DbError> {
    let rows = db.query(
        "SELECT active, deleted FROM scim_users WHERE user_name_lc = $1 OR email_lc = $2",
        &[owner.into(), owner.into()],
    )?;
    let live: Vec<bool> = rows
        .iter()
        .filter(|r| int(r, 1) == 0)
        .map(|r| int(r, 0) != 0)
        .collect();
    Ok(if live.iter().any(|a| *a) {
        OwnerStanding::Active
    } else if !live.is_empty() {
        OwnerStanding::Deactivated
    } else if !rows.is_empty() {
        OwnerStanding::Deleted
    } else {
        OwnerStanding::Unknown
    })
}
