//! What `host-local` reserved for a sandbox, read from its data directory: the stand-in result
//! of a DEL whose ADD was cut short (no result kept), so that plugins that tear down by the
//! previous result's addresses — `firewall` — still remove their rules.

use crate::conf::ConfList;
use crate::result::{CniResult, IpConfig};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// host-local's own default data directory (shared with other CNI users).
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// The directory host-local keeps the list's reservations in, when its first plugin delegates
/// to host-local (its `dataDir`, else the default, then the network's name).
pub fn data_dir(list: &ConfList) -> Option<PathBuf> {
    let ipam = list.plugins.first()?.get("ipam")?;
    if ipam.get("type")?.as_str()? != "host-local" {
        return None;
    }
    let base = ipam
        .get("dataDir")
        .and_then(|d| d.as_str())
        .unwrap_or(DEFAULT_DATA_DIR);
    Some(Path::new(base).join(&list.name))
}

/// The addresses reserved in `dir` for `container_id` on `ifname` (each file is named by its
/// address and holds the id, then the interface, a line each).
pub fn reserved(dir: &Path, container_id: &str, ifname: &str) -> Vec<IpAddr> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = rd
        .flatten()
        .filter_map(|e| {
            let ip: IpAddr = e.file_name().to_str()?.parse().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            let mut lines = text.lines().map(str::trim);
            let id = lines.next()?;
            let on = lines.next().unwrap_or(ifname);
            (id == container_id && on == ifname).then_some(ip)
        })
        .collect();
    ips.sort();
    ips
}

/// A result holding only `ips` (host addresses: /32, /128), for a DEL's `prevResult`.
pub fn stand_in(ips: &[IpAddr]) -> CniResult {
    CniResult {
        cni_version: "1.0.0".into(),
        ips: ips
            .iter()
            .map(|ip| IpConfig {
                address: match ip {
                    IpAddr::V4(a) => format!("{a}/32"),
                    IpAddr::V6(a) => format!("{a}/128"),
                },
                gateway: None,
                interface: None,
            })
            .collect(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 14 item 6: a cut-short ADD's addresses are found by its id and interface.
    #[test]
    fn reservations_of_an_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("10.0.0.2"), "abc\r\neth0").unwrap();
        std::fs::write(dir.path().join("10.0.0.3"), "other\neth0").unwrap();
        std::fs::write(dir.path().join("fd00::2"), "abc\neth0").unwrap();
        std::fs::write(dir.path().join("10.0.0.4"), "abc\neth1").unwrap();
        std::fs::write(dir.path().join("lock"), "").unwrap();
        std::fs::write(dir.path().join("last_reserved_ip.0"), "10.0.0.4").unwrap();
        let ips = reserved(dir.path(), "abc", "eth0");
        assert_eq!(
            ips,
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fd00::2".parse().unwrap()
            ]
        );
        let r = stand_in(&ips);
        assert_eq!(r.ips[0].address, "10.0.0.2/32");
        assert_eq!(r.ips[1].address, "fd00::2/128");
        let list = ConfList::parse(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"host-local"}}]}"#,
        )
        .unwrap();
        assert_eq!(
            data_dir(&list),
            Some(PathBuf::from("/var/lib/cni/networks/n"))
        );
        let other = ConfList::parse(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","ipam":{"type":"dhcp"}}]}"#,
        )
        .unwrap();
        assert_eq!(data_dir(&other), None);
    }
}
