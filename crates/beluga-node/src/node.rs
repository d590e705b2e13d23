//! Facts about this node that pods see: its name and its address.

/// The node's address (`status.hostIP`, the downward API's `status.hostIP`), as kubelet takes
/// its node IP: the address the host sends from on its default route, found once; pods reach
/// the host and its hostPorts there. The loopback when the host has no default route.
pub fn host_ip() -> String {
    static IP: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IP.get_or_init(|| default_source().unwrap_or_else(|| "127.0.0.1".into()))
        .clone()
}

/// The source address of the default route: a UDP socket "connected" to an address outside
/// every local network (TEST-NET-3) is only routed, never sent a packet.
fn default_source() -> Option<String> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("203.0.113.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then(|| ip.to_string())
}

/// The pod's hostname: its own, or the node's on the host's network (`hostNetwork: true`).
pub fn pod_hostname(pod: &beluga_api::Pod) -> String {
    if beluga_api::podutil::host_network(pod) {
        name()
    } else {
        beluga_api::podutil::hostname(pod)
    }
}

/// The node's name: the machine's hostname.
pub fn name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}
