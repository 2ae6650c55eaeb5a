//! What every accepted connection is held to: a cap on how many are open at once, a deadline
//! for the first request, and an idle deadline between requests.
//!
//! hyper's own timers cover a request whose head arrives slowly (HTTP/1) and the TLS layer has
//! its handshake deadline, but a connection that completes the handshake and then sends
//! nothing at all (no request, no HTTP/2 preface, or nothing after a kept-alive response) is
//! held by neither. The [`watchdog`] covers that case for both listeners and both HTTP
//! versions: it watches the connection's [`Activity`] (requests in flight, when the last one
//! ended) and returns when the connection has been quiet for too long; the caller then drops
//! the connection, which closes the socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// File descriptors kept free for the database, key files, logs and the listeners themselves.
const RESERVED_FDS: u64 = 64;

/// The connection cap in effect: the configured one, lowered so that open connections can
/// never exhaust the process's open-file limit (`ulimit -n`).
pub fn effective_cap(configured: usize) -> usize {
    let by_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map(|n| n.saturating_sub(RESERVED_FDS).max(1));
    match by_fds {
        Some(n) => configured.min(usize::try_from(n).unwrap_or(usize::MAX)),
        None => configured,
    }
}

/// The open-connection slots shared by both listeners.
#[derive(Debug, Clone)]
pub struct Slots {
    permits: Arc<Semaphore>,
    refused: Arc<AtomicUsize>,
}

impl Slots {
    /// `cap` slots.
    pub fn new(cap: usize) -> Slots {
        Slots {
            permits: Arc::new(Semaphore::new(cap)),
            refused: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A slot for a newly accepted connection, held until the connection ends; `None` when
    /// every slot is taken (the caller closes the connection at once).
    pub fn take(&self) -> Option<OwnedSemaphorePermit> {
        let slot = self.permits.clone().try_acquire_owned().ok();
        if slot.is_none() {
            let n = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
            // One line per thousand, so a flood does not turn into a flood of logs.
            if n == 1 || n.is_multiple_of(1000) {
                tracing::warn!(
                    refused = n,
                    "connection limit reached; closing new connections"
                );
            }
        }
        slot
    }
}

/// Requests in flight on one connection and when it last did something.
#[derive(Debug)]
pub struct Activity {
    state: std::sync::Mutex<State>,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    served: u64,
    last: Instant,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: std::sync::Mutex::new(State {
                in_flight: 0,
                served: 0,
                last: Instant::now(),
            }),
        })
    }

    /// A request has begun; it counts as in flight until the guard is dropped (also when the
    /// request's future is cancelled).
    pub fn begin(self: &Arc<Activity>) -> InFlight {
        let mut s = self.lock();
        s.in_flight += 1;
        s.served += 1;
        InFlight(self.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The lock guards three plain values and is never held across an await; a panic
        // while holding it cannot leave them inconsistent, so a poisoned lock is used as is.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One request in flight (see [`Activity::begin`]).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.in_flight -= 1;
        s.last = Instant::now();
    }
}

/// Returns once the connection has been quiet too long: no request began within `first`
/// of the accept, or none has been in flight for `idle` since the last one ended. A request
/// in flight is bounded by the request timeout, not by this.
pub async fn watchdog(activity: Arc<Activity>, first: Duration, idle: Duration) {
    loop {
        let deadline = {
            let s = activity.lock();
            if s.in_flight > 0 {
                None
            } else if s.served == 0 {
                Some(s.last + first)
            } else {
                Some(s.last + idle)
            }
        };
        match deadline {
            Some(d) if Instant::now() >= d => return,
            Some(d) => tokio::time::sleep_until(d).await,
            // Busy: look again later.
            None => tokio::time::sleep(first.min(idle)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_released_after_the_first_request_deadline() {
        let a = Activity::new();
        let started = Instant::now();
        watchdog(a, Duration::from_secs(10), Duration::from_secs(60)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_holds_the_connection_and_idle_counts_from_its_end() {
        let a = Activity::new();
        let started = Instant::now();
        let guard = a.begin();
        let w = tokio::spawn(watchdog(
            a.clone(),
            Duration::from_secs(1),
            Duration::from_secs(5),
        ));
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!w.is_finished(), "released while a request was in flight");
        drop(guard);
        w.await.unwrap();
        // Ended at 30 s, idle 5 s; the busy poll (every 1 s) may add up to one period.
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(35) && took <= Duration::from_secs(36),
            "{took:?}"
        );
    }

    #[test]
    fn slots_refuse_past_the_cap_and_free_on_drop() {
        let slots = Slots::new(2);
        let a = slots.take().unwrap();
        let _b = slots.take().unwrap();
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
    }
}
