//! The CNI result (spec "Success" output, versions 0.3.0 to 1.0.0 share this shape): the
//! interfaces made, the addresses on them, routes and DNS; and the pod's addresses in it.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    #[serde(default)]
    pub cni_version: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub dns: serde_json::Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// The network namespace the interface is in; empty for the host's.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sandbox: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    /// CIDR notation: `10.88.0.5/16`.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Index into `interfaces`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

impl CniResult {
    /// The pod's addresses: those on an interface inside the sandbox (or, for a plugin that
    /// names none, every address), IPv4 first as kubelet orders `podIPs` for a dual-stack pod.
    pub fn pod_ips(&self) -> Vec<IpAddr> {
        let in_sandbox = |ip: &IpConfig| match ip.interface {
            Some(i) => self
                .interfaces
                .get(i)
                .is_some_and(|f| !f.sandbox.is_empty()),
            None => true,
        };
        let mut v: Vec<IpAddr> = self
            .ips
            .iter()
            .filter(|ip| in_sandbox(ip))
            .filter_map(|ip| ip.address.split('/').next()?.parse().ok())
            .collect();
        v.sort_by_key(|a| a.is_ipv6());
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // What the bridge plugin (1.1.1) prints for ADD, addresses on the sandbox's eth0 only.
    #[test]
    fn the_pods_addresses_are_those_in_the_sandbox() {
        let r: CniResult = serde_json::from_str(
            r#"{"cniVersion":"1.0.0","interfaces":[
                {"name":"beluga0","mac":"aa:bb:cc:dd:ee:01"},
                {"name":"veth1","mac":"aa:bb:cc:dd:ee:02"},
                {"name":"eth0","mac":"aa:bb:cc:dd:ee:03","sandbox":"/run/netns/x"}],
              "ips":[{"interface":2,"address":"fd00::5/64","gateway":"fd00::1"},
                     {"interface":2,"address":"10.88.0.5/16","gateway":"10.88.0.1"},
                     {"interface":0,"address":"10.88.0.1/16"}],
              "routes":[{"dst":"0.0.0.0/0"}],"dns":{}}"#,
        )
        .unwrap();
        let want: Vec<IpAddr> = vec!["10.88.0.5".parse().unwrap(), "fd00::5".parse().unwrap()];
        assert_eq!(r.pod_ips(), want);
        // Written and read back unchanged (the cache keeps it for DEL).
        let back: CniResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn addresses_without_an_interface_count_and_garbage_does_not() {
        let r: CniResult = serde_json::from_str(
            r#"{"cniVersion":"0.4.0","ips":[{"address":"192.168.1.9/24"},{"address":"nonsense"}]}"#,
        )
        .unwrap();
        assert_eq!(r.pod_ips(), vec!["192.168.1.9".parse::<IpAddr>().unwrap()]);
        assert!(CniResult::default().pod_ips().is_empty());
    }
}
