//! Choosing cluster IPs and node ports as the apiserver's allocators do
//! (`pkg/registry/core/service/ipallocator`, `portallocator`): a request is checked against
//! the range and what is taken; otherwise a random free value, from the upper part of the range
//! first, so that the lower part stays free for values asked for by name (the `kubernetes`
//! Service's `.1`, the DNS Service's `.10`).

use ipnet::Ipv4Net;
use std::collections::HashSet;
use std::net::Ipv4Addr;

/// The node-port range (`--service-node-port-range` default).
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// `calculateRangeOffset`: the size of the lower part kept for requested values,
/// min(max(16, size/16), 256), none for ranges of 16 or fewer.
pub fn range_offset(size: u64) -> u64 {
    if size <= 16 {
        return 0;
    }
    (size / 16).clamp(16, 256)
}

/// The `index`-th address a range can give (the network and broadcast addresses never).
fn nth(cidr: Ipv4Net, index: u64) -> Option<Ipv4Addr> {
    let base = u32::from(cidr.network()) as u64;
    u32::try_from(base + 1 + index).ok().map(Ipv4Addr::from)
}

/// How many addresses `cidr` gives to Services.
pub fn usable(cidr: Ipv4Net) -> u64 {
    let size = 1u64 << (32 - u32::from(cidr.prefix_len()));
    size.saturating_sub(2)
}

/// The first address of the range (the `kubernetes` Service's, as the apiserver takes it).
pub fn first_ip(cidr: Ipv4Net) -> Option<Ipv4Addr> {
    (usable(cidr) > 0).then(|| nth(cidr, 0)).flatten()
}

/// The cluster DNS Service's address: the range's tenth (`10.96.0.10` in the default range,
/// kubeadm's choice).
pub fn dns_ip(cidr: Ipv4Net) -> Option<Ipv4Addr> {
    (usable(cidr) >= 10).then(|| nth(cidr, 9)).flatten()
}

/// A free index in `[from, to)`, starting at `from + seed % (to - from)` and wrapping.
fn scan(from: u64, to: u64, seed: u64, free: impl Fn(u64) -> bool) -> Option<u64> {
    let len = to.checked_sub(from).filter(|l| *l > 0)?;
    let start = seed % len;
    (0..len)
        .map(|i| from + (start + i) % len)
        .find(|i| free(*i))
}

/// A random free address of `cidr` (`AllocateNext`), `None` when the range is full.
pub fn next_ip(cidr: Ipv4Net, used: &HashSet<Ipv4Addr>, seed: u64) -> Option<Ipv4Addr> {
    let size = usable(cidr);
    let offset = range_offset(size + 2).min(size);
    let free = |i: u64| nth(cidr, i).is_some_and(|ip| !used.contains(&ip));
    let index = scan(offset, size, seed, free).or_else(|| scan(0, offset, seed, free))?;
    nth(cidr, index)
}

/// Whether a requested address may be given: the allocator's errors in its words.
pub fn check_ip(cidr: Ipv4Net, ip: Ipv4Addr, used: &HashSet<Ipv4Addr>) -> Result<(), String> {
    let inside = cidr.contains(&ip) && ip != cidr.network() && ip != cidr.broadcast();
    if !inside {
        return Err(format!(
            "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {cidr}"
        ));
    }
    if used.contains(&ip) {
        return Err("provided IP is already allocated".into());
    }
    Ok(())
}

/// A random free node port, `None` when all are taken.
pub fn next_node_port(used: &HashSet<u16>, seed: u64) -> Option<u16> {
    let (lo, hi) = (
        u64::from(*NODE_PORTS.start()),
        u64::from(*NODE_PORTS.end()) + 1,
    );
    let offset = range_offset(hi - lo);
    let free = |i: u64| !used.contains(&((lo + i) as u16));
    let index = scan(offset, hi - lo, seed, free).or_else(|| scan(0, offset, seed, free))?;
    u16::try_from(lo + index).ok()
}

/// Whether a requested node port may be given.
pub fn check_node_port(port: i32, used: &HashSet<u16>) -> Result<u16, String> {
    let p = u16::try_from(port)
        .ok()
        .filter(|p| NODE_PORTS.contains(p))
        .ok_or_else(|| {
            format!(
                "provided port is not in the valid range. The range of valid ports is {}-{}",
                NODE_PORTS.start(),
                NODE_PORTS.end()
            )
        })?;
    if used.contains(&p) {
        return Err("provided port is already allocated".into());
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    // The allocator's lower band: min(max(16, size/16), 256), none for tiny ranges.
    #[test]
    fn offsets() {
        for (size, want) in [
            (16, 0),
            (8, 0),
            (17, 16),
            (256, 16),
            (512, 32),
            (65536, 256),
            (2768, 173),
        ] {
            assert_eq!(range_offset(size), want, "size {size}");
        }
    }

    #[test]
    fn dynamic_addresses_come_from_the_upper_band_first() {
        let c = cidr("10.96.0.0/16");
        let used = HashSet::new();
        for seed in [0, 1, 77, u64::MAX] {
            let ip = next_ip(c, &used, seed).unwrap();
            let index = u32::from(ip) - u32::from(c.network()) - 1;
            assert!(index >= 256, "{ip} is in the lower band");
            assert!(c.contains(&ip) && ip != c.broadcast());
        }
        assert_eq!(first_ip(c), Some("10.96.0.1".parse().unwrap()));
    }

    #[test]
    fn a_full_upper_band_falls_back_then_none() {
        let c = cidr("10.0.0.0/27"); // 30 usable, offset 16 → upper band 16..30
        let mut used: HashSet<Ipv4Addr> = (17..=30).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let ip = next_ip(c, &used, 5).unwrap();
        assert!(u32::from(ip) - u32::from(c.network()) <= 16, "{ip}");
        used.extend((1..=16).map(|i| Ipv4Addr::new(10, 0, 0, i)));
        assert_eq!(next_ip(c, &used, 5), None);
    }

    #[test]
    fn requested_addresses_in_the_allocators_words() {
        let c = cidr("10.96.0.0/16");
        let mut used = HashSet::new();
        assert_eq!(check_ip(c, "10.96.0.10".parse().unwrap(), &used), Ok(()));
        used.insert("10.96.0.10".parse().unwrap());
        assert_eq!(
            check_ip(c, "10.96.0.10".parse().unwrap(), &used).unwrap_err(),
            "provided IP is already allocated"
        );
        for bad in ["10.97.0.1", "10.96.0.0", "10.96.255.255"] {
            assert_eq!(
                check_ip(c, bad.parse().unwrap(), &used).unwrap_err(),
                format!("the provided IP ({bad}) is not in the valid range. The range of valid IPs is 10.96.0.0/16")
            );
        }
    }

    #[test]
    fn node_ports() {
        let mut used = HashSet::new();
        let p = next_node_port(&used, 3).unwrap();
        assert!((30000 + 173..=32767).contains(&p), "{p}");
        assert_eq!(check_node_port(30080, &used), Ok(30080));
        used.insert(30080);
        assert_eq!(
            check_node_port(30080, &used).unwrap_err(),
            "provided port is already allocated"
        );
        assert_eq!(
            check_node_port(8080, &used).unwrap_err(),
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        let all: HashSet<u16> = NODE_PORTS.collect();
        assert_eq!(next_node_port(&all, 9), None);
    }
}
