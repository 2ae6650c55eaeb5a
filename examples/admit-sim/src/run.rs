//! A fleet run: N devices through a scenario, C at a time, within a duration and a request
//! budget; per-device state in the state directory; a summary at the end.
//!
//! ```text
//! run(RunOptions) ── device i: load state (or new) ──▶ steps ──▶ save state ──▶ report
//!                    ≤ concurrency at once (semaphore)
//!                    deadline or request budget reached ──▶ running devices are stopped
//!                    (each saved its state after every step) ──▶ Summary
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};

use crate::apns::Registry;
use crate::device::{Answered, Device, On, Options};
use crate::error::{Error, Result};
use crate::metrics::Summary;
use crate::scenario::{Scenario, Step};
use crate::state::{DeviceState, StateDir};

/// What a fleet run does.
pub struct RunOptions {
    /// Devices in the fleet.
    pub devices: usize,
    /// Devices running at once.
    pub concurrency: usize,
    /// The run stops after this long, finished or not.
    pub duration: Duration,
    /// The run stops after this many answered requests.
    pub max_requests: Option<u64>,
    /// What each device does.
    pub scenario: Scenario,
    /// Where device state lives (none: a fresh fleet each run, nothing saved).
    pub state_dir: Option<PathBuf>,
    /// Shared device settings.
    pub device: Arc<Options>,
    /// The APNs stand-in's registry, when it runs: devices register their tokens and wait
    /// for pushes between rounds.
    pub apns: Option<Arc<Registry>>,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

/// What one device did in the run.
#[derive(Debug, Clone)]
pub struct DeviceReport {
    /// Its number.
    pub index: usize,
    /// Its state at the end.
    pub state: DeviceState,
    /// Commands answered.
    pub answered: Vec<Answered>,
    /// DDM status reports sent.
    pub ddm_reports: Vec<(String, serde_json::Value)>,
    /// The error that stopped it, if any.
    pub error: Option<String>,
}

/// The run's result.
#[derive(Debug)]
pub struct Outcome {
    /// Figures.
    pub summary: Summary,
    /// Per device (devices stopped by the run's limit are missing).
    pub devices: Vec<DeviceReport>,
}

async fn wait(wake: &Notify, ms: u64) {
    if ms > 0 {
        let _ = tokio::time::timeout(Duration::from_millis(ms), wake.notified()).await;
    }
}

async fn steps(
    dev: &mut Device,
    scenario: &Scenario,
    wake: &Notify,
    stop: &AtomicBool,
    state: Option<&StateDir>,
) -> Result<()> {
    let save = |d: &Device| -> Result<()> {
        match state {
            Some(s) => s.save(d.index, &d.state),
            None => Ok(()),
        }
    };
    for step in &scenario.steps {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        match step {
            Step::Enroll => {
                dev.enroll().await?;
                dev.metrics().count("devices.enrolled", 1);
            }
            Step::Users => {
                for i in 0..dev.state.users.len() {
                    dev.token_update(On::User(i)).await?;
                }
            }
            Step::Busy { commands } => dev.busy += commands,
            Step::Sessions {
                rounds,
                wait_ms,
                users,
            } => {
                for r in 0..*rounds {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if r > 0 {
                        wait(wake, *wait_ms).await;
                    }
                    dev.session(On::Device).await?;
                    if *users {
                        for i in 0..dev.state.users.len() {
                            dev.session(On::User(i)).await?;
                        }
                    }
                }
            }
            Step::Ddm => dev.ddm_sync(On::Device).await?,
            Step::Wait { ms } => wait(wake, *ms).await,
            Step::Checkout => dev.check_out().await?,
        }
        save(dev)?;
    }
    Ok(())
}

/// Run the fleet.
pub async fn run(opts: RunOptions) -> Result<Outcome> {
    if opts.devices == 0 || opts.concurrency == 0 {
        return Err(Error::Config(
            "--devices and --concurrency must be at least 1".into(),
        ));
    }
    let state = opts.state_dir.as_deref().map(StateDir::open).transpose()?;
    let metrics = opts.device.metrics.clone();
    let start = Instant::now();
    let deadline = start + opts.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let sem = Arc::new(Semaphore::new(opts.concurrency));
    let scenario = Arc::new(opts.scenario);
    let bar = if opts.progress {
        let b = indicatif::ProgressBar::new(opts.devices as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} devices {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..opts.devices {
        let sem = sem.clone();
        let stop = stop.clone();
        let scenario = scenario.clone();
        let state = state.clone();
        let device_opts = opts.device.clone();
        let apns = opts.apns.clone();
        let metrics = metrics.clone();
        let bar = bar.clone();
        tasks.spawn(async move {
            // State and push registration come before the concurrency permit: a push that
            // arrives while the device waits for its turn is kept (one stored wake-up).
            let loaded = match state.as_ref().map(|s| s.load(index)).transpose() {
                Ok(l) => l.flatten(),
                Err(e) => {
                    metrics.error(&e);
                    return None;
                }
            };
            let resumed = loaded.is_some();
            let mut st = loaded.unwrap_or_else(|| DeviceState::new(index, &mut crate::rng()));
            st.ensure_users(
                scenario.device.users,
                scenario.device.shared_ipad,
                &mut crate::rng(),
            );
            if resumed {
                metrics.count("devices.resumed", 1);
            }
            let wake = match &apns {
                Some(reg) => reg.wake_for(st.push_token_bytes(), st.push_magic.clone()),
                None => Arc::new(Notify::new()),
            };
            if let Some(reg) = &apns {
                for u in &st.users {
                    reg.register(
                        hex::decode(&u.push_token).unwrap_or_default(),
                        u.push_magic.clone(),
                        wake.clone(),
                    );
                }
            }
            let _permit = sem.acquire_owned().await.ok()?;
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let mut dev = match Device::new(index, st, device_opts) {
                Ok(d) => d,
                Err(e) => {
                    metrics.error(&e);
                    return None;
                }
            };
            let result = steps(&mut dev, &scenario, &wake, &stop, state.as_ref()).await;
            if let Some(s) = &state
                && let Err(e) = s.save(index, &dev.state)
            {
                metrics.error(&e);
            }
            let error = match result {
                Ok(()) if !stop.load(Ordering::Relaxed) => {
                    metrics.count("devices.completed", 1);
                    None
                }
                Ok(()) => Some("stopped at the run's limit".to_owned()),
                Err(e) => {
                    metrics.error(&e);
                    Some(e.to_string())
                }
            };
            bar.inc(1);
            Some(DeviceReport {
                index,
                state: dev.state.clone(),
                answered: dev.answered.clone(),
                ddm_reports: dev.ddm_reports.clone(),
                error,
            })
        });
    }
    let mut reports = Vec::new();
    let mut stopped_early = false;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    // Devices stop at the next step or round once `stop` is set; the ones still inside a
    // request get one request timeout more, then are stopped where they are.
    let mut hard_stop: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            next = tasks.join_next() => match next {
                None => break,
                Some(Ok(Some(r))) => reports.push(r),
                Some(Ok(None)) => {}
                Some(Err(e)) => metrics.error(&Error::internal(format!("device task: {e}"))),
            },
            _ = tick.tick() => {
                bar.set_message(format!(
                    "{} requests, {} errors",
                    metrics.requests(),
                    metrics.error_count()
                ));
                let over_budget = opts.max_requests.is_some_and(|m| metrics.requests() >= m);
                if !stop.load(Ordering::Relaxed) && (Instant::now() >= deadline || over_budget) {
                    stop.store(true, Ordering::Relaxed);
                    stopped_early = true;
                    hard_stop = Some(tokio::time::Instant::now() + opts.device.timeout + Duration::from_secs(1));
                }
                if hard_stop.is_some_and(|h| tokio::time::Instant::now() >= h) {
                    tasks.abort_all();
                }
            }
        }
    }
    bar.finish_and_clear();
    reports.sort_by_key(|r| r.index);
    let summary = metrics.summary(start.elapsed(), opts.devices as u64, stopped_early);
    Ok(Outcome {
        summary,
        devices: reports,
    })
}
