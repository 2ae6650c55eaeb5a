//! What a run measured: latency per endpoint, errors by kind, counters; and the summary
//! printed at the end (text or JSON).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;

#[derive(Debug, Default)]
struct Inner {
    /// Latencies in microseconds of answered requests, by endpoint.
    latencies: BTreeMap<String, Vec<u64>>,
    /// Failed requests, by endpoint.
    failed: BTreeMap<String, u64>,
    /// Errors by kind: count and the first message.
    errors: BTreeMap<String, (u64, String)>,
    counters: BTreeMap<String, u64>,
}

/// Shared by every device of a run.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

/// Latency figures of one endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndpointStats {
    /// Requests answered (any HTTP status that the device could read).
    pub answered: u64,
    /// Requests that failed (connect, timeout, closed, malformed, refused status).
    pub failed: u64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// One kind of error in the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorStats {
    /// How many.
    pub count: u64,
    /// The first one's message.
    pub example: String,
}

/// The end-of-run summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// Devices in the run.
    pub devices: u64,
    /// Devices enrolled by the end (including ones resumed already enrolled).
    pub enrolled: u64,
    /// Devices that finished their scenario without error.
    pub completed: u64,
    /// Commands answered (any status).
    pub commands_answered: u64,
    /// Requests answered, all endpoints.
    pub requests: u64,
    /// Requests answered per second.
    pub throughput_rps: f64,
    /// Per endpoint.
    pub endpoints: BTreeMap<String, EndpointStats>,
    /// Errors by kind.
    pub errors: BTreeMap<String, ErrorStats>,
    /// Other counters (commands by status and type, DDM reports, pushes received, ...).
    pub counters: BTreeMap<String, u64>,
    /// Whether the run stopped at its duration or request limit before every device finished.
    pub stopped_early: bool,
}

fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An answered request to `endpoint` that took `d`.
    pub fn answered(&self, endpoint: &str, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.lock()
            .latencies
            .entry(endpoint.to_owned())
            .or_default()
            .push(us);
    }

    /// A failed request to `endpoint`.
    pub fn failed(&self, endpoint: &str) {
        *self.lock().failed.entry(endpoint.to_owned()).or_default() += 1;
    }

    /// An error a device ran into (counted once per error, whatever the endpoint).
    pub fn error(&self, e: &Error) {
        let mut g = self.lock();
        let slot = g.errors.entry(e.kind()).or_insert((0, e.to_string()));
        slot.0 += 1;
    }

    /// Add `n` to counter `name`.
    pub fn count(&self, name: &str, n: u64) {
        *self.lock().counters.entry(name.to_owned()).or_default() += n;
    }

    /// Counter `name`.
    pub fn counter(&self, name: &str) -> u64 {
        self.lock().counters.get(name).copied().unwrap_or(0)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.lock().latencies.values().map(|v| v.len() as u64).sum()
    }

    /// Errors so far.
    pub fn error_count(&self) -> u64 {
        self.lock().errors.values().map(|e| e.0).sum()
    }

    /// The summary after `elapsed` for a run of `devices`.
    pub fn summary(&self, elapsed: Duration, devices: u64, stopped_early: bool) -> Summary {
        let g = self.lock();
        let mut endpoints = BTreeMap::new();
        let mut names: Vec<&String> = g.latencies.keys().chain(g.failed.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let mut v = g.latencies.get(name).cloned().unwrap_or_default();
            v.sort_unstable();
            endpoints.insert(
                name.clone(),
                EndpointStats {
                    answered: v.len() as u64,
                    failed: g.failed.get(name).copied().unwrap_or(0),
                    p50_ms: pct(&v, 50.0),
                    p95_ms: pct(&v, 95.0),
                    p99_ms: pct(&v, 99.0),
                    max_ms: v.last().map(|x| *x as f64 / 1000.0).unwrap_or(0.0),
                },
            );
        }
        let requests: u64 = g.latencies.values().map(|v| v.len() as u64).sum();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let c = |k: &str| g.counters.get(k).copied().unwrap_or(0);
        Summary {
            elapsed_s: elapsed.as_secs_f64(),
            devices,
            enrolled: c("devices.enrolled"),
            completed: c("devices.completed"),
            commands_answered: c("commands.answered"),
            requests,
            throughput_rps: requests as f64 / secs,
            endpoints,
            errors: g
                .errors
                .iter()
                .map(|(k, (n, ex))| {
                    (
                        k.clone(),
                        ErrorStats {
                            count: *n,
                            example: ex.clone(),
                        },
                    )
                })
                .collect(),
            counters: g.counters.clone(),
            stopped_early,
        }
    }
}

impl Summary {
    /// The summary as text for a terminal.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "devices: {} (enrolled {}, completed {}){}",
            self.devices,
            self.enrolled,
            self.completed,
            if self.stopped_early {
                ", stopped at the run's limit"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "commands answered: {}; requests: {} in {:.1} s ({:.1}/s)",
            self.commands_answered, self.requests, self.elapsed_s, self.throughput_rps
        );
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>7} {:>9} {:>9} {:>9} {:>9}",
            "endpoint", "answered", "failed", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        for (name, e) in &self.endpoints {
            let _ = writeln!(
                s,
                "{name:<24} {:>8} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                e.answered, e.failed, e.p50_ms, e.p95_ms, e.p99_ms, e.max_ms
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors: none");
        } else {
            let _ = writeln!(s, "errors:");
            for (k, e) in &self.errors {
                let _ = writeln!(s, "  {k}: {} (first: {})", e.count, e.example);
            }
        }
        s
    }
}
