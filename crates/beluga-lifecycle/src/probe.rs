//! The probe worker's result bookkeeping (spec §6.3), pure: consecutive results against the
//! thresholds, errors retried and then dropped, and what a recorded result means.

use crate::planner::ProbeResult;

/// What one probe attempt gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// The prober could not run the probe (kubelet retries up to 3 times, then drops it).
    Error,
}

/// kubelet's `maxProbeRetries`.
pub const MAX_RETRIES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Startup,
    Liveness,
    Readiness,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Startup => "Startup",
            Kind::Liveness => "Liveness",
            Kind::Readiness => "Readiness",
        }
    }

    /// The result a new container instance starts with (§6.3.1): readiness Failure, liveness
    /// Success, startup unknown (None).
    pub fn initial(self) -> Option<ProbeResult> {
        match self {
            Kind::Readiness => Some(ProbeResult::Failure),
            Kind::Liveness => Some(ProbeResult::Success),
            Kind::Startup => None,
        }
    }
}

/// Counts consecutive equal results; a result is recorded only after `success_threshold` /
/// `failure_threshold` of them in a row.
#[derive(Debug, Clone)]
pub struct Counter {
    pub kind: Kind,
    pub success_threshold: u32,
    pub failure_threshold: u32,
    last: Option<ProbeResult>,
    run: u32,
    /// What is currently recorded.
    pub recorded: Option<ProbeResult>,
    /// After a liveness failure or any startup result, probing stops for this instance.
    pub on_hold: bool,
}

impl Counter {
    pub fn new(kind: Kind, success_threshold: i32, failure_threshold: i32) -> Counter {
        Counter {
            kind,
            success_threshold: success_threshold.max(1) as u32,
            failure_threshold: failure_threshold.max(1) as u32,
            last: None,
            run: 0,
            recorded: kind.initial(),
            on_hold: false,
        }
    }

    /// Feeds one result; returns the newly recorded result when the record changes.
    pub fn observe(&mut self, r: ProbeResult) -> Option<ProbeResult> {
        if self.last == Some(r) {
            self.run += 1;
        } else {
            self.last = Some(r);
            self.run = 1;
        }
        let threshold = match r {
            ProbeResult::Success => self.success_threshold,
            ProbeResult::Failure => self.failure_threshold,
        };
        if self.run < threshold {
            return None;
        }
        let changed = self.recorded != Some(r);
        self.recorded = Some(r);
        if (self.kind == Kind::Liveness && r == ProbeResult::Failure) || self.kind == Kind::Startup
        {
            self.on_hold = true;
        }
        changed.then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProbeResult::*;

    // §6.3.1 initial results.
    #[test]
    fn initial_results() {
        assert_eq!(Counter::new(Kind::Readiness, 1, 3).recorded, Some(Failure));
        assert_eq!(Counter::new(Kind::Liveness, 1, 3).recorded, Some(Success));
        assert_eq!(Counter::new(Kind::Startup, 1, 3).recorded, None);
    }

    // §6.3.3: failures recorded only after failureThreshold in a row; a success resets the run.
    #[test]
    fn thresholds() {
        let mut c = Counter::new(Kind::Liveness, 1, 3);
        assert_eq!(c.observe(Failure), None);
        assert_eq!(c.observe(Failure), None);
        assert_eq!(c.observe(Success), None); // already Success: no change
        assert_eq!(c.observe(Failure), None);
        assert_eq!(c.observe(Failure), None);
        assert_eq!(c.observe(Failure), Some(Failure));
        assert!(c.on_hold, "liveness failure puts the worker on hold");
        let mut r = Counter::new(Kind::Readiness, 2, 1);
        assert_eq!(r.observe(Success), None);
        assert_eq!(r.observe(Success), Some(Success));
        assert_eq!(r.observe(Failure), Some(Failure));
        assert!(!r.on_hold, "readiness never holds");
    }

    // §6.3.3: any startup result puts the worker on hold.
    #[test]
    fn startup_holds_after_any_result() {
        let mut s = Counter::new(Kind::Startup, 1, 2);
        assert_eq!(s.observe(Success), Some(Success));
        assert!(s.on_hold);
        let mut s = Counter::new(Kind::Startup, 1, 2);
        assert_eq!(s.observe(Failure), None);
        assert!(!s.on_hold);
        assert_eq!(s.observe(Failure), Some(Failure));
        assert!(s.on_hold);
    }
}
