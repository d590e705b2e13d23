//! Grace periods (spec §4.5, §7.5, §7.6): seconds given by users become bounded durations, so no
//! deadline computed from them can overflow (attack report 1.15: a grace of 2^63-1 seconds
//! panicked the pod's worker and left the pod stuck `Terminating`).

use std::time::Duration;

/// `terminationGracePeriodSeconds` when the pod sets none.
pub const DEFAULT_SECONDS: i64 = 30;

/// The longest grace honoured: beyond any real one (136 years), and small enough that
/// `Instant::now() + MAX` cannot overflow.
pub const MAX: Duration = Duration::from_secs(u32::MAX as u64);

/// The floor of any container's stop timeout (spec §4.5, §7.5: kubelet's
/// `minimumGracePeriodInSeconds`).
pub const MIN_STOP: Duration = Duration::from_secs(2);

/// A grace period in seconds as kubelet uses it: a negative one counts as 1 s (the apiserver's
/// rule for negative periods, spec V35), a huge one as [`MAX`].
pub fn from_seconds(secs: i64) -> Duration {
    match u64::try_from(secs) {
        Ok(s) => Duration::from_secs(s).min(MAX),
        Err(_) => Duration::from_secs(1),
    }
}

/// The grace period a deletion records: the request's, else the pod's; negative becomes 1, and a
/// later deletion may only shorten what an earlier one set (spec §7.6).
pub fn deletion_seconds(requested: Option<i64>, spec: Option<i64>, current: Option<i64>) -> i64 {
    let want = requested.unwrap_or(spec.unwrap_or(DEFAULT_SECONDS));
    let want = if want < 0 { 1 } else { want };
    current.map_or(want, |c| c.min(want))
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §7.6, V35; attack report 1.15 and 1.13.
    #[test]
    fn grace_periods_are_bounded() {
        for (secs, want) in [
            (0, Duration::ZERO),
            (30, Duration::from_secs(30)),
            (-5, Duration::from_secs(1)),
            (i64::MIN, Duration::from_secs(1)),
            (i64::MAX, MAX),
            (u32::MAX as i64 + 1, MAX),
        ] {
            assert_eq!(from_seconds(secs), want, "{secs}");
        }
        // The deadline a worker computes from the largest one.
        assert!(std::time::Instant::now()
            .checked_add(from_seconds(i64::MAX))
            .is_some());
    }

    #[test]
    fn deletion_grace() {
        for (requested, spec, current, want) in [
            (None, None, None, 30),
            (None, Some(5), None, 5),
            (Some(0), Some(5), None, 0),
            (Some(-3), None, None, 1),
            (None, Some(-5), None, 1),
            (Some(i64::MAX), None, None, i64::MAX),
            // A later delete only shortens.
            (Some(60), None, Some(10), 10),
            (Some(3), None, Some(10), 3),
        ] {
            assert_eq!(
                deletion_seconds(requested, spec, current),
                want,
                "{requested:?} {spec:?} {current:?}"
            );
        }
    }
}
