//! Crash-loop back-off (spec §5.3): client-go's `flowcontrol.Backoff` with kubelet's custom expiry.

use crate::k8s_openapi_jiff::SignedDuration;
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub backoff: Duration,
    pub last_update: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    entries: HashMap<String, Entry>,
}

/// `podName_namespace_podUID_containerName_hash` (`GetStableKey`): an image change is a new key.
pub fn key(pod_name: &str, ns: &str, uid: &str, container: &str, spec_hash: u64) -> String {
    format!("{pod_name}_{ns}_{uid}_{container}_{spec_hash:x}")
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(10), Duration::from_secs(300))
    }
}

fn since(later: Timestamp, earlier: Timestamp) -> Duration {
    let d: SignedDuration = later.duration_since(earlier);
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        // `KubeletCrashLoopBackOffMax`: a max below the initial lowers the initial.
        let initial = initial.min(max);
        Backoff {
            initial,
            max,
            entries: HashMap::new(),
        }
    }

    /// kubelet's expiry: the container finished more than 2×max (600 s by default) after the
    /// last bump, i.e. it ran long enough to be forgiven.
    fn expired(&self, e: &Entry, finished_at: Timestamp) -> bool {
        since(finished_at, e.last_update) > self.max * 2
    }

    /// `IsInBackOffSince(key, finishedAt)`: Some(remaining) while the restart must wait.
    pub fn remaining(&self, key: &str, finished_at: Timestamp, now: Timestamp) -> Option<Duration> {
        let e = self.entries.get(key)?;
        if self.expired(e, finished_at) {
            return None;
        }
        let elapsed = since(now, finished_at);
        (elapsed < e.backoff).then(|| e.backoff - elapsed)
    }

    /// Image-pull back-off: Some(remaining) while `now` is within the delay since the last bump.
    pub fn remaining_since_update(&self, key: &str, now: Timestamp) -> Option<Duration> {
        let e = self.entries.get(key)?;
        let elapsed = since(now, e.last_update);
        (elapsed < e.backoff).then(|| e.backoff - elapsed)
    }

    /// The current delay for a key (the `back-off 20s` of the waiting message).
    pub fn current(&self, key: &str) -> Option<Duration> {
        self.entries.get(key).map(|e| e.backoff)
    }

    /// `Next(key, now)`: called when a restart happens; 0 → initial → ×2 … max.
    pub fn next(&mut self, key: &str, finished_at: Timestamp, now: Timestamp) {
        let fresh = match self.entries.get(key) {
            None => true,
            Some(e) => self.expired(e, finished_at),
        };
        if fresh {
            self.entries.insert(
                key.to_string(),
                Entry {
                    backoff: self.initial,
                    last_update: now,
                },
            );
        } else if let Some(e) = self.entries.get_mut(key) {
            e.backoff = (e.backoff * 2).min(self.max);
            e.last_update = now;
        }
    }

    /// Drops entries untouched for 2×max (client-go's GC).
    pub fn gc(&mut self, now: Timestamp) {
        let max = self.max * 2;
        self.entries.retain(|_, e| since(now, e.last_update) <= max);
    }
}

/// kubelet's message: `back-off 20s restarting failed container=<c> pod=<name>_<ns>(<uid>)`.
pub fn waiting_message(delay: Duration, container: &str, kubelet_pod: &str) -> String {
    format!(
        "back-off {} restarting failed container={container} pod={kubelet_pod}",
        go_duration(delay)
    )
}

/// Go's `time.Duration.String()` for whole seconds/minutes: `10s`, `5m0s`, `1m20s`.
pub fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{}s", d.as_secs_f64());
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, m) => format!("{m}m{s}s"),
        (h, m) => format!("{h}h{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    // spec §5.3: delays 0, 10, 20, 40, 80, 160, 300, 300 between crash and restart.
    #[test]
    fn ladder() {
        let mut b = Backoff::default();
        let k = "k";
        let mut now = 0;
        let mut delays = vec![];
        for _ in 0..8 {
            let finished = t(now);
            // Find the first second at which the restart is allowed.
            let mut at = now;
            while b.remaining(k, finished, t(at)).is_some() {
                at += 1;
            }
            delays.push(at - now);
            b.next(k, finished, t(at));
            now = at + 1; // runs 1 s, crashes again
        }
        assert_eq!(delays, [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    // spec §5.3: a run longer than 600 s after the last bump resets the ladder.
    #[test]
    fn reset_after_long_run() {
        let mut b = Backoff::default();
        b.next("k", t(0), t(0));
        b.next("k", t(5), t(20));
        assert_eq!(b.current("k"), Some(Duration::from_secs(20)));
        assert!(b.remaining("k", t(21), t(22)).is_some());
        assert_eq!(b.remaining("k", t(20 + 601), t(20 + 602)), None);
        b.next("k", t(20 + 601), t(20 + 602));
        assert_eq!(b.current("k"), Some(Duration::from_secs(10)));
    }

    #[test]
    fn flags_and_messages() {
        let b = Backoff::new(Duration::from_secs(10), Duration::from_secs(5));
        assert_eq!(b.initial, Duration::from_secs(5));
        assert_eq!(go_duration(Duration::from_secs(20)), "20s");
        assert_eq!(go_duration(Duration::from_secs(300)), "5m0s");
        assert_eq!(go_duration(Duration::from_secs(80)), "1m20s");
        assert_eq!(
            waiting_message(Duration::from_secs(20), "c", "p_default(u)"),
            "back-off 20s restarting failed container=c pod=p_default(u)"
        );
    }

    // spec §1 image pull back-off: 10 s, then doubling, measured from the last failure.
    #[test]
    fn pull_backoff() {
        let mut b = Backoff::default();
        assert_eq!(b.remaining_since_update("img", t(0)), None);
        b.next("img", t(0), t(0));
        assert_eq!(
            b.remaining_since_update("img", t(4)),
            Some(Duration::from_secs(6))
        );
        assert_eq!(b.remaining_since_update("img", t(10)), None);
        b.next("img", t(10), t(10));
        assert_eq!(
            b.remaining_since_update("img", t(25)),
            Some(Duration::from_secs(5))
        );
    }

    // spec §5.3: an image change is a new key.
    #[test]
    fn key_includes_hash() {
        assert_ne!(key("p", "ns", "u", "c", 1), key("p", "ns", "u", "c", 2));
    }
}
