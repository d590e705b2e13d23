//! Small facts about a Pod that every layer asks.

use crate::{Container, Pod};

/// A native sidecar: an init container with `restartPolicy: Always` (spec §4).
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or("")
}

pub fn namespace(pod: &Pod) -> &str {
    pod.metadata.namespace.as_deref().unwrap_or("default")
}

pub fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or("")
}

/// kubelet's `format.Pod`: `<name>_<ns>(<uid>)`.
pub fn kubelet_name(pod: &Pod) -> String {
    format!("{}_{}({})", name(pod), namespace(pod), uid(pod))
}

pub fn restart_policy(pod: &Pod) -> &str {
    pod.spec
        .as_ref()
        .and_then(|s| s.restart_policy.as_deref())
        .unwrap_or("Always")
}

pub fn init_containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[])
}

pub fn containers(pod: &Pod) -> &[Container] {
    pod.spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[])
}

/// Every container of the pod, init containers first (sidecars included), then the regular ones.
pub fn all_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    init_containers(pod).iter().chain(containers(pod))
}

/// The container (init or regular) of that name.
pub fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    all_containers(pod).find(|c| c.name == name)
}

/// Hostname per spec §11.4: `spec.hostname` or the name, cut to 63 chars, trailing `-`/`.` trimmed.
/// `spec.hostNetwork`.
pub fn host_network(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.host_network) == Some(true)
}

/// Where a pod's DNS comes from: kubelet's `getPodDNSType` (`pkg/kubelet/network/dns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsType {
    /// The cluster DNS (the node's resolver when the node has no cluster DNS).
    Cluster,
    /// The node's resolver.
    Host,
    /// `dnsConfig` only.
    None,
}

/// `ClusterFirst` on the host's network falls back to the node's resolver — a pod must ask
/// for `ClusterFirstWithHostNet` to keep the cluster DNS there (spec §11.4).
pub fn dns_type(pod: &Pod) -> DnsType {
    let policy = pod.spec.as_ref().and_then(|s| s.dns_policy.as_deref());
    match policy {
        Some("None") => DnsType::None,
        Some("ClusterFirstWithHostNet") => DnsType::Cluster,
        Some("Default") => DnsType::Host,
        _ if host_network(pod) => DnsType::Host,
        _ => DnsType::Cluster,
    }
}

pub fn hostname(pod: &Pod) -> String {
    let h = pod
        .spec
        .as_ref()
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| name(pod).to_string());
    let cut: String = h.chars().take(63).collect();
    cut.trim_end_matches(['-', '.']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §11.4 (kubelet's getPodDNSType): every policy, on and off the host's network.
    #[test]
    fn dns_types() {
        let cases = [
            (None, false, DnsType::Cluster),
            (None, true, DnsType::Host),
            (Some("ClusterFirst"), false, DnsType::Cluster),
            (Some("ClusterFirst"), true, DnsType::Host),
            (Some("ClusterFirstWithHostNet"), false, DnsType::Cluster),
            (Some("ClusterFirstWithHostNet"), true, DnsType::Cluster),
            (Some("Default"), false, DnsType::Host),
            (Some("Default"), true, DnsType::Host),
            (Some("None"), false, DnsType::None),
            (Some("None"), true, DnsType::None),
        ];
        for (policy, host_network, want) in cases {
            let pod = Pod {
                spec: Some(crate::PodSpec {
                    dns_policy: policy.map(String::from),
                    host_network: Some(host_network),
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(
                dns_type(&pod),
                want,
                "{policy:?} hostNetwork={host_network}"
            );
        }
    }

    // spec §11.4: truncation then trim.
    #[test]
    fn hostname_truncation() {
        let mut pod = Pod::default();
        let long = format!("{}-.{}", "a".repeat(61), "b".repeat(10));
        pod.metadata.name = Some(long);
        assert_eq!(hostname(&pod), "a".repeat(61));
        pod.metadata.name = Some("web".into());
        assert_eq!(hostname(&pod), "web");
        pod.spec = Some(crate::PodSpec {
            hostname: Some("h".into()),
            ..Default::default()
        });
        assert_eq!(hostname(&pod), "h");
    }
}
