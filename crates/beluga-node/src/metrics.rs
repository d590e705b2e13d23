//! Resource usage for `kubectl top` (metrics.k8s.io, kubectl-api §6): each running container's
//! CPU as a rate over a window (the cgroup's cumulative CPU time sampled twice) and its memory
//! working set, in metrics-server's units (nanocores, KiB).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shortest window a rate is given over; a sample younger than `KEEP` is not replaced, so
/// that requests in quick succession still measure over a longer span.
pub const MIN_WINDOW: Duration = Duration::from_millis(100);
const KEEP: Duration = Duration::from_secs(1);

/// Each container's last CPU sample (by container id).
#[derive(Default)]
pub struct Samples(Mutex<HashMap<String, (Instant, u64)>>);

impl Samples {
    /// The CPU rate (nanocores) of container `id`, whose cumulative CPU time at `at` is
    /// `cpu_ns`, and the window it was measured over; `None` when there is no sample old
    /// enough yet (this one is kept for the next request).
    pub fn rate(&self, id: &str, at: Instant, cpu_ns: u64) -> Option<(u64, Duration)> {
        let mut samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let prev = samples.get(id).copied();
        let keep_old = prev.is_some_and(|(t, _)| at.saturating_duration_since(t) < KEEP);
        if !keep_old {
            samples.insert(id.to_string(), (at, cpu_ns));
        }
        let (t, before) = prev?;
        let window = at.saturating_duration_since(t);
        if window < MIN_WINDOW {
            return None;
        }
        Some((nanocores(cpu_ns.saturating_sub(before), window), window))
    }

    /// Forgets the samples of containers not in `live`.
    pub fn retain(&self, live: &dyn Fn(&str) -> bool) {
        let mut samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        samples.retain(|id, _| live(id));
    }
}

/// CPU time used over a window, as a rate in nanocores.
pub fn nanocores(used_ns: u64, window: Duration) -> u64 {
    let w = window.as_nanos().max(1);
    u64::try_from(u128::from(used_ns) * 1_000_000_000 / w).unwrap_or(u64::MAX)
}

/// metrics-server's quantities: CPU in nanocores, memory in KiB.
pub fn cpu_quantity(nanocores: u64) -> String {
    format!("{nanocores}n")
}

pub fn memory_quantity(bytes: u64) -> String {
    format!("{}Ki", bytes / 1024)
}

/// A window as a Go duration (`1.5s`, `250ms`).
pub fn window(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let s = format!("{:.3}", d.as_secs_f64());
    format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_a_window() {
        let s = Samples::default();
        let t0 = Instant::now();
        assert_eq!(
            s.rate("c", t0, 1_000),
            None,
            "the first sample has nothing before it"
        );
        assert_eq!(
            s.rate("c", t0 + Duration::from_millis(50), 2_000),
            None,
            "too short a window"
        );
        // Half a core over 200 ms: 100 ms of CPU.
        let (rate, w) = s
            .rate("c", t0 + Duration::from_millis(200), 1_000 + 100_000_000)
            .expect("rate");
        assert_eq!((rate, w), (500_000_000, Duration::from_millis(200)));
        // Within a second the first sample stays: the window grows.
        let (_, w) = s
            .rate("c", t0 + Duration::from_millis(900), 200_000_000)
            .expect("rate");
        assert_eq!(w, Duration::from_millis(900));
        s.retain(&|id| id != "c");
        assert_eq!(s.rate("c", t0 + Duration::from_secs(2), 0), None);
    }

    #[test]
    fn quantities() {
        assert_eq!(cpu_quantity(1_234_567), "1234567n");
        assert_eq!(memory_quantity(3_538_944), "3456Ki");
        assert_eq!(window(Duration::from_millis(250)), "250ms");
        assert_eq!(window(Duration::from_millis(1500)), "1.5s");
        assert_eq!(window(Duration::from_secs(10)), "10s");
    }
}
