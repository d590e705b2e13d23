//! The one scheduling rule a single node still needs: kube-scheduler's NodePorts filter. A pod
//! whose hostPorts are taken by a pod already on the node is not bound; it stays Pending with
//! `PodScheduled=False`, reason `Unschedulable`, until the ports free (issue 14 item 4).

use beluga_api::{podutil, Pod};

/// The scheduler's words for this node when the ports are taken (the `FailedScheduling` event
/// and the condition's message), for a one-node cluster.
pub const NO_FREE_PORTS: &str =
    "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports.";

/// The condition's reason.
pub const UNSCHEDULABLE: &str = "Unschedulable";

/// One `<hostIP, protocol, hostPort>` a pod asks the node for, and the container port it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Empty or `0.0.0.0`: every address.
    pub ip: String,
    pub protocol: String,
    pub port: i32,
    /// Not part of a conflict; the sandbox's port mapping needs it.
    pub container_port: i32,
}

/// The hostPorts of the pod's regular containers: what the scheduler's `getContainerPorts`
/// checks, and what kubelet builds the sandbox's port mappings from.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    podutil::containers(pod)
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let port = p.host_port.filter(|h| *h > 0)?;
            Some(HostPort {
                ip: p.host_ip.clone().unwrap_or_default(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port,
                container_port: p.container_port,
            })
        })
        .collect()
}

fn wildcard(ip: &str) -> bool {
    ip.is_empty() || ip == "0.0.0.0"
}

/// `HostPortInfo.CheckConflict`: the same protocol and port, on the same address or where
/// either side means every address.
pub fn conflicts(want: &[HostPort], held: &[HostPort]) -> bool {
    want.iter().any(|w| {
        held.iter().any(|h| {
            w.port == h.port
                && w.protocol == h.protocol
                && (wildcard(&w.ip) || wildcard(&h.ip) || w.ip == h.ip)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(ip: &str, protocol: &str, port: i32) -> HostPort {
        HostPort {
            ip: ip.into(),
            protocol: protocol.into(),
            port,
            container_port: 0,
        }
    }

    // Issue 14 item 4 (kube-scheduler's nodeports plugin, HostPortInfo.CheckConflict).
    #[test]
    fn conflicts_as_the_scheduler_checks_them() {
        let cases: &[(&[HostPort], &[HostPort], bool)] = &[
            (&[hp("", "TCP", 80)], &[hp("", "TCP", 80)], true),
            (&[hp("", "TCP", 80)], &[hp("", "UDP", 80)], false),
            (&[hp("", "TCP", 80)], &[hp("", "TCP", 81)], false),
            (
                &[hp("127.0.0.1", "TCP", 80)],
                &[hp("0.0.0.0", "TCP", 80)],
                true,
            ),
            (
                &[hp("0.0.0.0", "TCP", 80)],
                &[hp("10.0.0.1", "TCP", 80)],
                true,
            ),
            (
                &[hp("127.0.0.1", "TCP", 80)],
                &[hp("10.0.0.1", "TCP", 80)],
                false,
            ),
            (
                &[hp("10.0.0.1", "TCP", 80)],
                &[hp("10.0.0.1", "TCP", 80)],
                true,
            ),
            (&[hp("", "SCTP", 80)], &[hp("", "SCTP", 80)], true),
            (&[], &[hp("", "TCP", 80)], false),
            (&[hp("", "TCP", 80)], &[], false),
            (
                &[hp("", "TCP", 1), hp("", "TCP", 80)],
                &[hp("", "TCP", 80)],
                true,
            ),
        ];
        for (want, held, expected) in cases {
            assert_eq!(conflicts(want, held), *expected, "{want:?} vs {held:?}");
        }
    }

    #[test]
    fn host_ports_of_the_regular_containers_only() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "initContainers": [{"name": "i", "image": "x",
                    "ports": [{"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}]}],
                "containers": [{"name": "a", "image": "x", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 81},
                    {"containerPort": 82, "hostPort": 8082, "hostIP": "127.0.0.1", "protocol": "UDP"},
                ]}],
            },
        }))
        .unwrap();
        let mapped = |h: HostPort, container_port| HostPort {
            container_port,
            ..h
        };
        assert_eq!(
            host_ports(&pod),
            vec![
                mapped(hp("", "TCP", 8080), 80),
                mapped(hp("127.0.0.1", "UDP", 8082), 82)
            ]
        );
    }
}
