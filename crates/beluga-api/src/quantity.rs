//! Parsing of resource quantities (`512Mi`, `1G`, `100k`) into bytes, for `sizeLimit`.

/// Returns bytes, rounded up; `None` for a malformed or negative quantity.
pub fn parse_bytes(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    if num.is_empty() {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "m" => 1e-3,
        s if s.starts_with(['e', 'E']) => 10f64.powi(s[1..].parse().ok()?),
        _ => return None,
    };
    Some((n * mult).ceil() as u64)
}

/// CPU quantities (`500m`, `2`, `0.5`) in millicores.
pub fn parse_millicores(q: &str) -> Option<u64> {
    let q = q.trim();
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().map(|c| (c * 1000.0).ceil() as u64),
    }
}

/// Whether a quantity string is well formed (possibly negative).
pub fn is_valid(q: &str) -> bool {
    parse_bytes(q.trim_start_matches(['-', '+'])).is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu() {
        assert_eq!(super::parse_millicores("500m"), Some(500));
        assert_eq!(super::parse_millicores("2"), Some(2000));
        assert_eq!(super::parse_millicores("0.25"), Some(250));
        assert_eq!(super::parse_millicores("x"), None);
    }

    #[test]
    fn quantities() {
        for (q, want) in [
            ("1", Some(1)),
            ("1Ki", Some(1024)),
            ("64Mi", Some(64 << 20)),
            ("1G", Some(1_000_000_000)),
            ("1.5Ki", Some(1536)),
            ("x", None),
            ("1Q", None),
            ("", None),
        ] {
            assert_eq!(super::parse_bytes(q), want, "{q}");
        }
    }
}
