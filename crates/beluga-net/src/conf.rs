//! Network configuration lists (`.conflist`): the first one of a directory, as kubelet and
//! containerd pick it, or beluga's own default (bridge + host-local + portmap + firewall).

use crate::NetError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A CNI network configuration list. Plugins stay JSON: each plugin's keys are its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfList {
    pub cni_version: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_check: bool,
    pub plugins: Vec<serde_json::Value>,
}

impl ConfList {
    /// Parses a list and checks what libcni requires of one: a name, a version, plugins that
    /// each name their `type`.
    pub fn parse(text: &str) -> Result<ConfList, NetError> {
        let list: ConfList = serde_json::from_str(text)
            .map_err(|e| NetError::Config(format!("invalid network configuration list: {e}")))?;
        if list.name.is_empty() {
            return Err(NetError::Config(
                "error parsing configuration list: no name".into(),
            ));
        }
        if list.plugins.is_empty() {
            return Err(NetError::Config(
                "error parsing configuration list: no plugins in list".into(),
            ));
        }
        for p in &list.plugins {
            if p["type"].as_str().is_none_or(str::is_empty) {
                return Err(NetError::Config(format!(
                    "network {:?}: a plugin has no \"type\"",
                    list.name
                )));
            }
        }
        Ok(list)
    }

    /// The plugins' types, in order.
    pub fn plugin_types(&self) -> Vec<&str> {
        self.plugins
            .iter()
            .filter_map(|p| p["type"].as_str())
            .collect()
    }
}

/// The first `.conflist` in `dir` by name (libcni's `ConfFiles`, sorted as kubelet and
/// containerd take the first), parsed; None when there is none.
pub fn first_in(dir: &Path) -> Result<Option<(PathBuf, ConfList)>, NetError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "conflist"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    files.sort();
    let Some(path) = files.into_iter().next() else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&path)?;
    let list =
        ConfList::parse(&text).map_err(|e| NetError::Config(format!("{}: {e}", path.display())))?;
    Ok(Some((path, list)))
}

/// What beluga's default network is made of.
#[derive(Debug, Clone)]
pub struct DefaultNetwork {
    pub name: String,
    pub bridge: String,
    /// The pod CIDR (`--pod-cidr`).
    pub subnet: ipnet::IpNet,
    /// Where host-local keeps its reservations.
    pub data_dir: PathBuf,
    /// The bridge plugin masquerades (`ipMasq`: an iptables chain per pod, so every ADD reads
    /// and rewrites a table that grows with the pods); false when the daemon masquerades the
    /// whole pod CIDR with one nftables rule instead.
    pub ip_masq: bool,
    /// `firewall`'s per-pod accepts, needed only where the host's FORWARD chain drops.
    pub firewall: bool,
}

/// beluga's default list: a `bridge` with the gateway on it (masquerading when `ip_masq`),
/// `host-local` IPAM on the pod CIDR, `portmap` for hostPorts, and `firewall` (when asked) so that
/// a host's dropping FORWARD chain lets the pods' traffic through.
pub fn default_list(n: &DefaultNetwork) -> ConfList {
    let mut plugins = vec![
        serde_json::json!({
            "type": "bridge",
            "bridge": n.bridge,
            "isGateway": true,
            "ipMasq": n.ip_masq,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": n.subnet.to_string()}]],
                "routes": [{"dst": if n.subnet.addr().is_ipv4() { "0.0.0.0/0" } else { "::/0" }}],
                "dataDir": n.data_dir,
            },
        }),
        serde_json::json!({"type": "portmap", "capabilities": {"portMappings": true}}),
    ];
    if n.firewall {
        plugins.push(serde_json::json!({"type": "firewall"}));
    }
    ConfList {
        cni_version: "1.0.0".into(),
        name: n.name.clone(),
        disable_check: false,
        plugins,
    }
}

/// Whether `iptables -S FORWARD` (its `text`) drops what no earlier rule accepts: `-P FORWARD
/// DROP` (Docker sets it), or a rule that drops or rejects everything (`firewall` puts its
/// accepts first). Pure.
pub fn forward_drops(text: &str) -> bool {
    text.lines().map(str::trim).any(|l| {
        l == "-P FORWARD DROP" || l == "-A FORWARD -j DROP" || l.starts_with("-A FORWARD -j REJECT")
    })
}

/// The host's FORWARD chain, as `forward_drops` reads it; no iptables (or no filter table): it
/// drops nothing that `firewall` could let through.
pub fn host_forward_drops() -> bool {
    std::process::Command::new("iptables")
        .args(["-w", "-S", "FORWARD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| forward_drops(&String::from_utf8_lossy(&o.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 14 item 1: the first list by name is taken; other files are not lists.
    #[test]
    fn the_first_conflist_by_name_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let list = |name: &str| {
            format!(r#"{{"cniVersion":"1.0.0","name":"{name}","plugins":[{{"type":"bridge"}}]}}"#)
        };
        assert!(first_in(dir.path()).unwrap().is_none());
        assert!(first_in(&dir.path().join("missing")).unwrap().is_none());
        std::fs::write(dir.path().join("20-b.conflist"), list("b")).unwrap();
        std::fs::write(dir.path().join("10-a.conflist"), list("a")).unwrap();
        std::fs::write(dir.path().join("00-c.conf"), list("c")).unwrap();
        let (path, l) = first_in(dir.path()).unwrap().unwrap();
        assert_eq!(path, dir.path().join("10-a.conflist"));
        assert_eq!((l.name.as_str(), l.plugin_types()), ("a", vec!["bridge"]));
    }

    // libcni's checks, with the file named in the error.
    #[test]
    fn bad_lists_are_refused_with_the_reason() {
        for (text, want) in [
            (
                r#"{"cniVersion":"1.0.0","name":"","plugins":[{"type":"x"}]}"#,
                "no name",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[]}"#,
                "no plugins in list",
            ),
            (
                r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"ipam":{}}]}"#,
                "has no \"type\"",
            ),
            (r#"{"name":"n","plugins":[{"type":"x"}]}"#, "cniVersion"),
            ("not json", "invalid network configuration list"),
        ] {
            let e = ConfList::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conflist"), "{}").unwrap();
        let e = first_in(dir.path()).unwrap_err().to_string();
        assert!(e.contains("a.conflist"), "{e}");
    }

    fn default_of(ip_masq: bool, firewall: bool) -> ConfList {
        default_list(&DefaultNetwork {
            name: "beluga".into(),
            bridge: "beluga0".into(),
            subnet: "10.88.0.0/16".parse().unwrap(),
            data_dir: "/var/lib/beluga/net/ipam".into(),
            ip_masq,
            firewall,
        })
    }

    // Issue 14 item 1: the default list names the bridge, the pod CIDR and the plugins.
    #[test]
    fn the_default_list() {
        let l = default_of(true, true);
        assert_eq!(l.plugin_types(), ["bridge", "portmap", "firewall"]);
        let b = &l.plugins[0];
        assert_eq!(b["bridge"], "beluga0");
        assert_eq!(
            (b["isGateway"].as_bool(), b["ipMasq"].as_bool()),
            (Some(true), Some(true))
        );
        assert_eq!(b["ipam"]["ranges"][0][0]["subnet"], "10.88.0.0/16");
        assert_eq!(b["ipam"]["routes"][0]["dst"], "0.0.0.0/0");
        assert_eq!(b["ipam"]["dataDir"], "/var/lib/beluga/net/ipam");
        assert_eq!(l.plugins[1]["capabilities"]["portMappings"], true);
        // What is written is what is read back.
        let text = serde_json::to_string(&l).unwrap();
        assert_eq!(ConfList::parse(&text).unwrap(), l);
    }

    // Issue 13 item 5: a default network whose per-pod cost does not grow with the pods: no
    // masquerade chain per pod when the daemon masquerades the CIDR, no firewall where the
    // host forwards anyway.
    #[test]
    fn the_default_list_without_per_pod_rules() {
        let l = default_of(false, false);
        assert_eq!(l.plugin_types(), ["bridge", "portmap"]);
        assert_eq!(l.plugins[0]["ipMasq"].as_bool(), Some(false));
        assert_eq!(
            default_of(false, true).plugin_types(),
            ["bridge", "portmap", "firewall"]
        );
    }

    #[test]
    fn forward_policies() {
        let accept = "-P FORWARD ACCEPT\n-A FORWARD -j CNI-FORWARD\n";
        let docker = "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n";
        let last_rule = "-P FORWARD ACCEPT\n-A FORWARD -s 10.0.0.0/8 -j ACCEPT\n-A FORWARD -j REJECT --reject-with icmp-host-prohibited\n";
        let dropped_early =
            "-P FORWARD ACCEPT\n-A FORWARD -j DROP\n-A FORWARD -s 1.2.3.4/32 -j ACCEPT\n";
        for (text, drops) in [
            (accept, false),
            (docker, true),
            (last_rule, true),
            (dropped_early, true),
            ("", false),
        ] {
            assert_eq!(forward_drops(text), drops, "{text}");
        }
    }
}
