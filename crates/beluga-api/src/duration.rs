//! apimachinery's `HumanDuration` (spec §9.2), used for AGE and RESTARTS.

pub fn human_duration(d: k8s_openapi::jiff::SignedDuration) -> String {
    let secs = d.as_secs();
    if d < k8s_openapi::jiff::SignedDuration::from_secs(-1) {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 60 * 2 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        let days = hours / 24;
        return if h == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{h}h")
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let years = hours / 24 / 365;
        let dy = hours / 24 % 365;
        return if dy == 0 {
            format!("{years}y")
        } else {
            format!("{years}y{dy}d")
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::SignedDuration as Duration;

    // spec §9.2: every band of the table.
    #[test]
    fn bands() {
        let s = Duration::from_secs;
        let cases = [
            (Duration::from_millis(-1500), "<invalid>"),
            (Duration::from_millis(-500), "0s"),
            (s(0), "0s"),
            (s(119), "119s"),
            (s(120), "2m"),
            (s(330), "5m30s"),
            (s(599), "9m59s"),
            (s(600), "10m"),
            (s(150 * 60), "150m"),
            (s(3 * 3600), "3h"),
            (s(3 * 3600 + 5 * 60), "3h5m"),
            (s(20 * 3600), "20h"),
            (s(47 * 3600), "47h"),
            (s(48 * 3600), "2d"),
            (s(3 * 86400 + 4 * 3600), "3d4h"),
            (s(400 * 86400), "400d"),
            (s(730 * 86400), "2y"),
            (s((2 * 365 + 15) * 86400), "2y15d"),
            (s(10 * 365 * 86400), "10y"),
        ];
        for (d, want) in cases {
            assert_eq!(human_duration(d), want, "{d:?}");
        }
    }
}
