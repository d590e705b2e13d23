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

/// kubelet's default hard eviction threshold (`memory.available<100Mi`), which allocatable
/// memory leaves out.
const EVICTION_HARD_MEMORY: u64 = 100 << 20;

/// What the node can give pods (kubelet's allocatable with no reservations): its CPUs, its
/// memory less the hard eviction threshold, the space of the file system under `root`. Read
/// once.
pub fn allocatable(root: &std::path::Path) -> beluga_api::downward::Allocatable {
    static A: std::sync::OnceLock<beluga_api::downward::Allocatable> = std::sync::OnceLock::new();
    *A.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let total = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        let storage = rustix::fs::statvfs(root)
            .map(|s| s.f_blocks * s.f_frsize)
            .unwrap_or(0);
        beluga_api::downward::Allocatable {
            millicores: cpus * 1000,
            memory: total.saturating_sub(EVICTION_HARD_MEMORY),
            ephemeral_storage: storage,
        }
    })
}
