//! Portable SQL over both backends, for features whose tables use only `TEXT` and `BIGINT`
//! columns (the inventory and the SCIM directory).
//!
//! ```text
//!  feature store ──▶ Db::query(sql, params) / Db::write(&[Stmt])
//!                      ├─ SQLite  (crate::storage::Storage; `$1`-style parameters bind in order)
//!                      └─ PostgreSQL (crate::scep::postgres::PgStore; one transaction per write,
//!                                     serialized by a per-feature advisory lock)
//! ```
//!
//! The SQL is written once: `$1, $2, ...` placeholders (each used once, in order), `TEXT` and
//! `BIGINT` columns, booleans as `0`/`1`, no `RETURNING`. A write is a list of statements run
//! in one transaction; a statement marked `must_change` that changes no row rolls the whole
//! write back with [`DbError::Stale`] (compare-and-set on a version column), and a unique
//! constraint violation rolls it back with [`DbError::Unique`].

use std::sync::Arc;

use crate::scep::postgres::PgStore;
use crate::storage::Storage;

/// The advisory lock inventory and SCIM writes take on PostgreSQL (any constant of ours).
pub const INVENTORY_LOCK: i64 = 0x494e_5645_0001;

/// One value in or out of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// A `BIGINT`.
    Int(i64),
    /// A `TEXT`.
    Text(String),
    /// `NULL` in a `BIGINT` column.
    NullInt,
    /// `NULL` in a `TEXT` column.
    NullText,
}

impl Val {
    /// The integer, if this is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }

    /// Text or `NULL`.
    pub fn opt_text(v: Option<&str>) -> Val {
        v.map_or(Val::NullText, |s| Val::Text(s.to_owned()))
    }

    /// An integer or `NULL`.
    pub fn opt_int(v: Option<i64>) -> Val {
        v.map_or(Val::NullInt, Val::Int)
    }
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_owned())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}

impl From<bool> for Val {
    fn from(b: bool) -> Val {
        Val::Int(i64::from(b))
    }
}

/// One statement of a write.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// The SQL.
    pub sql: &'static str,
    /// Its parameters, `$1` first.
    pub params: Vec<Val>,
    /// When set, the write fails with [`DbError::Stale`] if this statement changes no row.
    pub must_change: bool,
}

impl Stmt {
    /// A statement whose row count does not matter.
    pub fn new(sql: &'static str, params: Vec<Val>) -> Stmt {
        Stmt {
            sql,
            params,
            must_change: false,
        }
    }

    /// A statement that must change at least one row (a compare-and-set).
    pub fn cas(sql: &'static str, params: Vec<Val>) -> Stmt {
        Stmt {
            sql,
            params,
            must_change: true,
        }
    }
}

/// Why a query or write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// A compare-and-set statement changed nothing: the rows moved on; nothing was written.
    #[error("the record changed since it was read")]
    Stale,
    /// A unique constraint refused the write; nothing was written.
    #[error("already taken: {0}")]
    Unique(String),
    /// The database failed.
    #[error("database: {0}")]
    Backend(String),
}

/// A row: the selected columns in order.
pub type Row = Vec<Val>;

/// The portable database of one feature.
#[derive(Debug, Clone)]
pub enum Db {
    /// The data directory's SQLite database.
    Sqlite(Arc<Storage>),
    /// PostgreSQL; writes take the advisory lock `lock`.
    Postgres {
        /// The shared pool.
        pg: Arc<PgStore>,
        /// This feature's advisory lock key.
        lock: i64,
    },
}

fn sqlite_err(e: rusqlite::Error) -> DbError {
    if let rusqlite::Error::SqliteFailure(f, msg) = &e
        && f.code == rusqlite::ErrorCode::ConstraintViolation
    {
        return DbError::Unique(msg.clone().unwrap_or_else(|| e.to_string()));
    }
    DbError::Backend(e.to_string())
}

fn pg_err(e: tokio_postgres::Error) -> DbError {
    if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
        let what = e
            .as_db_error()
            .and_then(|d| d.constraint().map(str::to_owned))
            .unwrap_or_default();
        return DbError::Unique(what);
    }
    match e.as_db_error() {
        Some(db) => DbError::Backend(format!("{} ({})", db.message(), db.code().code())),
        None => DbError::Backend(e.to_string()),
    }
}

impl From<crate::storage::Error> for DbError {
    fn from(e: crate::storage::Error) -> Self {
        DbError::Backend(e.to_string())
    }
}

fn to_sql(v: &Val) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match v {
        Val::Int(i) => Value::Integer(*i),
        Val::Text(s) => Value::Text(s.clone()),
        Val::NullInt | Val::NullText => Value::Null,
    }
}

fn from_sqlite(v: rusqlite::types::ValueRef<'_>) -> Val {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Integer(i) => Val::Int(i),
        ValueRef::Real(f) => Val::Int(f as i64),
        ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(_) | ValueRef::Null => Val::NullText,
    }
}

type PgParam = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

fn pg_params(params: &[Val]) -> Vec<PgParam> {
    params
        .iter()
        .map(|v| -> PgParam {
            match v {
                Val::Int(i) => Box::new(*i),
                Val::Text(s) => Box::new(s.clone()),
                Val::NullInt => Box::new(None::<i64>),
                Val::NullText => Box::new(None::<String>),
            }
        })
        .collect()
}

fn from_pg(row: &tokio_postgres::Row) -> Row {
    use tokio_postgres::types::Type;
    (0..row.len())
        .map(|i| match *row.columns()[i].type_() {
            Type::INT8 => row.get::<_, Option<i64>>(i).map_or(Val::NullInt, Val::Int),
            Type::INT4 => row
                .get::<_, Option<i32>>(i)
                .map_or(Val::NullInt, |v| Val::Int(i64::from(v))),
            Type::INT2 => row
                .get::<_, Option<i16>>(i)
                .map_or(Val::NullInt, |v| Val::Int(i64::from(v))),
            Type::BOOL => row
                .get::<_, Option<bool>>(i)
                .map_or(Val::NullInt, |v| Val::Int(i64::from(v))),
            Type::NUMERIC => Val::NullInt,
            _ => row
                .get::<_, Option<String>>(i)
                .map_or(Val::NullText, Val::Text),
        })
        .collect()
}

impl Db {
    /// The rows `sql` selects.
    pub fn query(&self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        match self {
            Db::Sqlite(s) => {
                let conn = s.lock();
                let mut stmt = conn.prepare(sql).map_err(sqlite_err)?;
                let n = stmt.column_count();
                let p: Vec<rusqlite::types::Value> = params.iter().map(to_sql).collect();
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(p), |r| {
                        (0..n).map(|i| Ok(from_sqlite(r.get_ref(i)?))).collect()
                    })
                    .map_err(sqlite_err)?;
                rows.collect::<Result<_, _>>().map_err(sqlite_err)
            }
            Db::Postgres { pg, .. } => {
                let sql = sql.to_owned();
                let params = pg_params(params);
                pg.with_any(async move |c| {
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                        .iter()
                        .map(|b| b.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    let rows = c.query(sql.as_str(), &refs).await.map_err(pg_err)?;
                    Ok::<_, DbError>(rows.iter().map(from_pg).collect())
                })
            }
        }
    }

    /// The first row `sql` selects, if any.
    pub fn query_opt(&self, sql: &str, params: &[Val]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Run `stmts` in one transaction: every one or none.
    pub fn write(&self, stmts: &[Stmt]) -> Result<(), DbError> {
        match self {
            Db::Sqlite(s) => {
                let mut conn = s.lock();
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(sqlite_err)?;
                for st in stmts {
                    let p: Vec<rusqlite::types::Value> = st.params.iter().map(to_sql).collect();
                    let n = tx
                        .execute(st.sql, rusqlite::params_from_iter(p))
                        .map_err(sqlite_err)?;
                    if st.must_change && n == 0 {
                        return Err(DbError::Stale);
                    }
                }
                tx.commit().map_err(sqlite_err)
            }
            Db::Postgres { pg, lock } => {
                let lock = *lock;
                let stmts: Vec<(&'static str, Vec<PgParam>, bool)> = stmts
                    .iter()
                    .map(|s| (s.sql, pg_params(&s.params), s.must_change))
                    .collect();
                pg.with_any(async move |c| {
                    let tx = c.transaction().await.map_err(pg_err)?;
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])
                        .await
                        .map_err(pg_err)?;
                    for (sql, params, must_change) in &stmts {
                        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                            .iter()
                            .map(|b| b.as_ref() as &(dyn tokio_postgres::types::ToSql + Sync))
                            .collect();
                        let n = tx.execute(*sql, &refs).await.map_err(pg_err)?;
                        if *must_change && n == 0 {
                            return Err(DbError::Stale);
                        }
                    }
                    tx.commit().await.map_err(pg_err)
                })
            }
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `t` (seconds since the epoch, UTC) as RFC 3339, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_known_answers() {
        // Values from `date -u -d @N +%FT%TZ`.
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(super::rfc3339(1_796_515_199), "2026-12-05T23:59:59Z");
    }
}
