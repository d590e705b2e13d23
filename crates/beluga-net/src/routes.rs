//! The host's routes (`/proc/net/route`, `/proc/net/ipv6_route`) and whether a pod CIDR overlaps
//! one: a default network on a CIDR the host already routes would take its traffic.

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{Ipv4Addr, Ipv6Addr};

/// A route of the host: its destination and device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpNet,
    pub dev: String,
}

/// IPv4 routes from `/proc/net/route`'s text (destination and mask in little-endian hex).
pub fn parse_v4(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // The kernel prints the network-order words as host-order numbers.
            let bytes = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
            let (dst, mask) = (bytes(f.get(1)?)?, bytes(f.get(7)?)?);
            let prefix = u32::from_be_bytes(mask).leading_ones() as u8;
            let net = Ipv4Net::new(Ipv4Addr::from(dst), prefix).ok()?;
            Some(Route {
                dst: IpNet::V4(net.trunc()),
                dev: f.first()?.to_string(),
            })
        })
        .collect()
}

/// IPv6 routes from `/proc/net/ipv6_route`'s text (destination in hex, prefix length in hex).
pub fn parse_v6(text: &str) -> Vec<Route> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dst = u128::from_str_radix(f.first()?, 16).ok()?;
            let prefix = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let net = Ipv6Net::new(Ipv6Addr::from(dst), prefix).ok()?;
            Some(Route {
                dst: IpNet::V6(net.trunc()),
                dev: f.get(9)?.to_string(),
            })
        })
        .collect()
}

/// The host's routes now.
pub fn host_routes() -> Vec<Route> {
    let mut v = parse_v4(&std::fs::read_to_string("/proc/net/route").unwrap_or_default());
    v.extend(parse_v6(
        &std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default(),
    ));
    v
}

/// The first route of `routes` that overlaps `cidr`, default routes, loopback and `skip_dev`
/// (the default network's own bridge, routed once pods exist) aside.
pub fn overlapping<'a>(cidr: &IpNet, routes: &'a [Route], skip_dev: &str) -> Option<&'a Route> {
    routes.iter().find(|r| {
        r.dst.prefix_len() > 0
            && r.dev != "lo"
            && r.dev != skip_dev
            && (r.dst.contains(&cidr.network()) || cidr.contains(&r.dst.network()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";

    const V6: &str = "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 00200001       lo\n";

    #[test]
    fn routes_are_read_from_the_proc_tables() {
        let v4 = parse_v4(V4);
        let dsts: Vec<String> = v4.iter().map(|r| format!("{} {}", r.dst, r.dev)).collect();
        assert_eq!(
            dsts,
            [
                "0.0.0.0/0 eth0",
                "192.0.2.0/24 eth0",
                "172.17.0.0/16 docker0"
            ]
        );
        let v6 = parse_v6(V6);
        let dsts: Vec<String> = v6.iter().map(|r| format!("{} {}", r.dst, r.dev)).collect();
        assert_eq!(dsts, ["fe80::/64 eth0", "::1/128 lo"]);
    }

    // Issue 14 item 1: a pod CIDR that overlaps a route is refused, the default route and the
    // network's own bridge aside.
    #[test]
    fn overlaps_either_way() {
        let routes = parse_v4(V4);
        let cidr = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(overlapping(&cidr("10.88.0.0/16"), &routes, "beluga0"), None);
        let hit = overlapping(&cidr("192.0.2.128/25"), &routes, "beluga0").unwrap();
        assert_eq!(hit.dev, "eth0");
        let hit = overlapping(&cidr("172.0.0.0/8"), &routes, "beluga0").unwrap();
        assert_eq!(hit.dev, "docker0");
        assert_eq!(
            overlapping(&cidr("172.17.0.0/16"), &routes, "docker0"),
            None
        );
        let v6 = parse_v6(V6);
        assert!(overlapping(&cidr("fe80::/10"), &v6, "beluga0").is_some());
        assert!(overlapping(&cidr("fd00::/64"), &v6, "beluga0").is_none());
    }
}
