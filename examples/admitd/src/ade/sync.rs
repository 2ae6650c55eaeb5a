//! One sync round of one token, driven through `ade-client`.
//!
//! ```text
//!  token (sealed) ──open──▶ Session (+ cached session token, if one was kept)
//!   ├─ GET /account            once, for the server's name and page limits
//!   ├─ POST /profile           when [ade.profile] is new or changed (its hash is kept)
//!   ├─ SyncRound: fetch / sync pages ──▶ store.apply_page (devices + cursor, one transaction,
//!   │                                   only if the stored cursor is still ours)
//!   └─ POST /profile/devices   devices marked pending, ≤ 1,000 a call; THROTTLED ones wait
//!                              retry_after_seconds (inline up to MAX_INLINE_WAIT, else the
//!                              next round); NOT_ACCESSIBLE and FAILED are recorded, not retried
//!  After every call the session token is sealed and kept if it changed (opened, renewed, or
//!  rotated by Apple), so a restart resumes with it instead of opening a new session.
//! ```
//!
//! Database calls run on the blocking pool; the HTTP exchanges on the async workers.

use std::sync::Arc;
use std::time::Duration;

use ade_client::endpoints::{self, AssignMethod};
use ade_client::model::Account;
use ade_client::{Call, Progress, Secret, ServerToken, Session, Stamp, Step, SyncRound};
use zeroize::Zeroizing;

use super::Service;
use super::client::TransportError;
use super::store::{AdeStore, Assignment, StoreError, session_aad, token_aad};
use crate::secrets::Sealer;

/// Longest a throttled assignment is waited for inside a round; longer waits are left to a
/// later round.
pub const MAX_INLINE_WAIT: Duration = Duration::from_secs(60);

/// Assignment calls one round makes at most.
pub const MAX_ASSIGN_CALLS: usize = 32;

/// Why a round stopped early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RoundError {
    /// Apple refused, throttled, or answered something unreadable.
    #[error("Apple: {0}")]
    Ade(#[from] ade_client::Error),
    /// No answer from Apple.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The database failed.
    #[error("store: {0}")]
    Store(StoreError),
    /// Another process moved the cursor meanwhile; the next round continues from it.
    #[error("the cursor was moved by another server; this round stopped")]
    CursorMoved,
    /// The stored token cannot be used: it does not open with this data directory's key, or
    /// it has expired.
    #[error("server token {0}")]
    Token(String),
    /// A blocking task failed.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<StoreError> for RoundError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Stale => RoundError::CursorMoved,
            other => RoundError::Store(other),
        }
    }
}

impl RoundError {
    /// When Apple asked us to wait: how long.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            RoundError::Ade(ade_client::Error::Throttled { retry_after, .. }) => retry_after
                .seconds_from(super::unix_now().max(0) as u64)
                .map(Duration::from_secs),
            _ => None,
        }
    }
}

/// What a finished round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoundOutcome {
    /// Devices stored.
    pub devices: usize,
    /// Profile assignments that succeeded.
    pub assigned: usize,
    /// Throttled assignments are due again in this time.
    pub retry_in: Option<Duration>,
}

async fn db<T: Send + 'static>(
    store: &Arc<dyn AdeStore>,
    f: impl FnOnce(&dyn AdeStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, RoundError> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || f(&*s))
        .await
        .map_err(|e| RoundError::Internal(e.to_string()))?
        .map_err(RoundError::from)
}

fn nonce() -> String {
    let mut b = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut rand_core::UnwrapErr(getrandom::SysRng), &mut b);
    hex::encode(b)
}

/// The state of one round: the session and what of it is already stored.
struct Driver<'a> {
    service: &'a Service,
    sealer: &'a Sealer,
    name: String,
    session: Session,
    kept: Option<Zeroizing<String>>,
}

impl Driver<'_> {
    /// Drive one call to its end, keeping the session token if it changed.
    async fn drive<T>(&mut self, mut call: Call<T>) -> Result<T, RoundError> {
        let start_nonce = nonce();
        let stamp = Stamp {
            timestamp: super::unix_now().max(0) as u64,
            nonce: &start_nonce,
        };
        let result = match call.start(&self.session, stamp) {
            Err(e) => Err(e.into()),
            Ok(mut req) => loop {
                let resp = match self.service.transport().send(req).await {
                    Ok(r) => r,
                    Err(e) => break Err(RoundError::from(e)),
                };
                // A renewal inside the call signs a new GET /session: a fresh nonce each time.
                let n = nonce();
                let stamp = Stamp {
                    timestamp: super::unix_now().max(0) as u64,
                    nonce: &n,
                };
                match call.handle(&mut self.session, resp, stamp) {
                    Ok(Step::Send(next)) => req = next,
                    Ok(Step::Done(v)) => break Ok(v),
                    Err(e) => break Err(e.into()),
                }
            },
        };
        if matches!(
            result,
            Err(RoundError::Ade(
                ade_client::Error::SessionRejected { .. }
                    | ade_client::Error::ActionRequired { .. }
            ))
        ) {
            self.session.invalidate();
        }
        self.keep_session().await?;
        result
    }

    async fn keep_session(&mut self) -> Result<(), RoundError> {
        let now = self.session.session_token().map(Secret::expose);
        if now == self.kept.as_deref().map(String::as_str) {
            return Ok(());
        }
        let sealed = now.map(|s| self.sealer.seal(&session_aad(&self.name), s.as_bytes()));
        let name = self.name.clone();
        db(self.service.store(), move |s| {
            s.save_session(&name, sealed.as_deref())
        })
        .await?;
        self.kept = now.map(|s| Zeroizing::new(s.to_owned()));
        Ok(())
    }
}

/// Run one round of token `name`; the round's end (and its error) is recorded in the store.
pub async fn round(
    service: &Service,
    sealer: &Sealer,
    name: &str,
) -> Result<RoundOutcome, RoundError> {
    let result = run(service, sealer, name).await;
    let error = result.as_ref().err().map(ToString::to_string);
    let n = name.to_owned();
    db(service.store(), move |s| {
        s.finish_round(&n, error.as_deref(), super::unix_now())
    })
    .await?;
    result
}

async fn run(service: &Service, sealer: &Sealer, name: &str) -> Result<RoundOutcome, RoundError> {
    let n = name.to_owned();
    let (record, state) = db(service.store(), move |s| {
        let t = s
            .token(&n)?
            .ok_or_else(|| StoreError::UnknownToken(n.clone()))?;
        Ok((t, s.sync_state(&n)?))
    })
    .await?;
    let json = sealer
        .open(&token_aad(name), &record.sealed)
        .map_err(|_| RoundError::Token("does not open with this data directory's key".into()))?;
    let token = ServerToken::from_json(&json)?;
    let now = super::unix_now();
    if token.is_expired(now.max(0) as u64) {
        return Err(RoundError::Token(format!(
            "expired on {}: download a new one from Apple Business Manager and import it",
            token.access_token_expiry
        )));
    }
    let mut session = Session::new(service.settings().client_config()?, token);
    let mut kept = None;
    if let Some(sealed) = &state.session_sealed
        && let Ok(s) = sealer.open(&session_aad(name), sealed)
        && let Ok(s) = std::str::from_utf8(&s)
    {
        session.resume(Secret::new(s));
        kept = Some(Zeroizing::new(s.to_owned()));
    }
    let mut d = Driver {
        service,
        sealer,
        name: name.to_owned(),
        session,
        kept,
    };
    let cfg = d.session.config().clone();

    // The server's name and limits, once.
    let mut account: Option<Account> = None;
    if record.server_name.is_none() {
        let a = d
            .drive(Call::new(
                endpoints::account(&cfg)?,
                endpoints::parse_account,
            ))
            .await?
            .value;
        if let Some(server) = a.server_name.clone() {
            let n = name.to_owned();
            db(service.store(), move |s| s.set_server_name(&n, &server)).await?;
        }
        account = Some(a);
    }

    // The profile, defined again whenever the configuration changes.
    let mut profile_uuid = None;
    if let Some(p) = &service.settings().profile {
        let hash = p.hash();
        match (&state.profile_uuid, &state.profile_hash) {
            (Some(uuid), Some(h)) if *h == hash => profile_uuid = Some(uuid.clone()),
            _ => {
                let defined = d
                    .drive(Call::new(
                        endpoints::define_profile(&cfg, &p.profile())?,
                        endpoints::parse_define_profile,
                    ))
                    .await?
                    .value;
                let (n, uuid) = (name.to_owned(), defined.profile_uuid.clone());
                db(service.store(), move |s| s.save_profile(&n, &uuid, &hash)).await?;
                tracing::info!(token = name, profile_uuid = %defined.profile_uuid, "ADE profile defined");
                profile_uuid = Some(defined.profile_uuid);
            }
        }
    }

    // The device pages.
    let mut outcome = RoundOutcome::default();
    let mut round = SyncRound::new(
        Some(state.checkpoint.clone()),
        now.max(0) as u64,
        service.settings().page_limit,
        account.as_ref(),
    );
    let assign = profile_uuid.is_some();
    while let Some(call) = round.next_call(&cfg)? {
        let mode = round.mode();
        let page = d.drive(call).await;
        // Transport and store failures end the round here; Apple's refusals go to the round,
        // which handles cursor errors itself.
        let page = match page {
            Ok(p) => Ok(p),
            Err(RoundError::Ade(e)) => Err(e),
            Err(other) => return Err(other),
        };
        if let Progress::Page(devices) = round.handle(page)? {
            let commit = round.stored()?;
            outcome.devices += devices.len();
            let n = name.to_owned();
            db(service.store(), move |s| {
                s.apply_page(&n, &devices, &commit, mode, assign, super::unix_now())
            })
            .await?;
        }
    }
    for w in round.warnings() {
        tracing::warn!(token = name, warning = ?w, "ADE sync");
    }

    // Our profile for the devices that have none.
    if let Some(uuid) = profile_uuid {
        assign_pending(&mut d, &cfg, &uuid, &mut outcome).await?;
    }
    Ok(outcome)
}

async fn assign_pending(
    d: &mut Driver<'_>,
    cfg: &ade_client::Config,
    uuid: &str,
    outcome: &mut RoundOutcome,
) -> Result<(), RoundError> {
    for _ in 0..MAX_ASSIGN_CALLS {
        let now = super::unix_now();
        let n = d.name.clone();
        let serials = db(d.service.store(), move |s| {
            s.pending_assignments(&n, now, ade_client::MAX_SERIALS as u32)
        })
        .await?;
        if serials.is_empty() {
            return Ok(());
        }
        let call = Call::new(
            endpoints::assign_profile(cfg, uuid, &serials, AssignMethod::Post)?,
            endpoints::parse_device_statuses,
        );
        let summary = match d.drive(call).await {
            Ok(reply) => reply.value.summary(),
            Err(e) => {
                if let Some(wait) = e.retry_after() {
                    // The whole call was throttled: these devices wait, the round ends.
                    let after = now + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 2);
                    let outcomes = serials
                        .into_iter()
                        .map(|s| (s, Assignment::Throttled { after }))
                        .collect::<Vec<_>>();
                    let uuid = uuid.to_owned();
                    db(d.service.store(), move |s| {
                        s.record_assignments(&uuid, &outcomes)
                    })
                    .await?;
                    outcome.retry_in = Some(wait);
                }
                return Err(e);
            }
        };
        let wait = Duration::from_secs(summary.retry_after_seconds.unwrap_or(60).max(1));
        let after = now + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX / 2);
        let mut outcomes: Vec<(String, Assignment)> = Vec::new();
        outcomes.extend(
            summary
                .success
                .iter()
                .map(|s| (s.clone(), Assignment::Assigned)),
        );
        outcomes.extend(
            summary
                .not_accessible
                .iter()
                .map(|s| (s.clone(), Assignment::NotAccessible)),
        );
        outcomes.extend(
            summary
                .failed
                .iter()
                .map(|s| (s.clone(), Assignment::Failed("FAILED".into()))),
        );
        outcomes.extend(
            summary
                .throttled
                .iter()
                .map(|s| (s.clone(), Assignment::Throttled { after })),
        );
        outcomes.extend(
            summary
                .other
                .iter()
                .map(|(s, st)| (s.clone(), Assignment::Failed(st.as_str().to_owned()))),
        );
        // Serials Apple did not mention stay pending for the next round; anything we sent
        // and Apple left out is not retried in a loop here.
        let answered: std::collections::HashSet<&str> =
            outcomes.iter().map(|(s, _)| s.as_str()).collect();
        let unanswered: Vec<String> = serials
            .iter()
            .filter(|s| !answered.contains(s.as_str()))
            .cloned()
            .collect();
        outcomes.extend(
            unanswered
                .into_iter()
                .map(|s| (s, Assignment::Throttled { after })),
        );
        outcome.assigned += summary.success.len();
        let throttled = outcomes
            .iter()
            .any(|(_, a)| matches!(a, Assignment::Throttled { .. }));
        let uuid_owned = uuid.to_owned();
        db(d.service.store(), move |s| {
            s.record_assignments(&uuid_owned, &outcomes)
        })
        .await?;
        if throttled {
            if wait > MAX_INLINE_WAIT {
                outcome.retry_in = Some(wait);
                return Ok(());
            }
            tracing::info!(token = %d.name, wait_s = wait.as_secs(), "ADE: assignments throttled; waiting");
            tokio::time::sleep(wait).await;
        }
    }
    Ok(())
}
