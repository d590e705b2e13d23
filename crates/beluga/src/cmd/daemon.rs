//! `beluga daemon`: the node agent.

use beluga_node::{http, Config, Daemon};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Where pods, images and runtime state live.
    #[arg(long, default_value = "/var/lib/beluga")]
    root: PathBuf,
    /// The API socket (root-only).
    #[arg(long, env = "BELUGA_SOCKET", default_value = crate::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// OCI runtime: crun, runc or a path. Default: crun where the cgroup layout allows it, else runc.
    #[arg(long)]
    runtime: Option<String>,
    /// First crash-loop back-off delay (kubelet's 10s), written like kubelet's flags: 10s, 1m30s.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    crash_loop_backoff_initial: Duration,
    /// Longest crash-loop back-off delay (kubelet's 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    crash_loop_backoff_max: Duration,
    /// Rotate a container's log when it reaches this size (a quantity: 10Mi).
    #[arg(long, default_value = "10Mi", value_parser = parse_size)]
    container_log_max_size: u64,
    /// How many log files to keep per container, the live one included.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(2..))]
    container_log_max_files: u64,
    /// The most processes each container of a pod may have (kubelet's --pod-max-pids), so that a
    /// fork bomb is bounded; -1 for no limit.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(i64).range(-1..))]
    pod_max_pids: i64,
    /// Refuse an image layer that inflates past this size (a quantity: 64Gi), so that a small
    /// compressed layer cannot fill the disk.
    #[arg(long, default_value = "64Gi", value_parser = parse_size)]
    max_layer_size: u64,
    /// Give containers that name no seccompProfile the RuntimeDefault one (kubelet's
    /// --seccomp-default); otherwise they run Unconfined, Kubernetes' default. Localhost
    /// profiles are read from <root>/seccomp.
    #[arg(long)]
    seccomp_default: bool,
    /// Pod sandboxes to keep made ahead (a shim with its namespaces, idle), which new pods take
    /// instead of making theirs: a quicker start for about 300 KiB each; 0 for none.
    #[arg(long, default_value_t = 1)]
    warm_sandboxes: usize,
    /// Where the pod network's configuration is read: the first *.conflist by name (CNI's
    /// order). With none there, pods join beluga's default network: bridge beluga0 with
    /// masquerade, host-local addresses on --pod-cidr, portmap for hostPorts, firewall.
    #[arg(long, default_value = "/etc/beluga/net.d")]
    cni_conf_dir: PathBuf,
    /// Where the CNI plugins are (several directories separated by ':').
    #[arg(long, default_value = "/usr/lib/cni")]
    cni_bin_dir: String,
    /// The default network's pod addresses; refused when it overlaps a route the host has.
    #[arg(long, default_value = "10.88.0.0/16")]
    pod_cidr: ipnet::IpNet,
    /// Where Services' cluster IPs come from (IPv4); the first address is the `kubernetes`
    /// Service's.
    #[arg(long, default_value = "10.96.0.0/16")]
    service_cidr: ipnet::Ipv4Net,
    /// The nftables table (family ip) that holds the Services' rules, replaced whole on every
    /// change; "" for none (Services then have addresses but route nowhere).
    #[arg(long, default_value = "beluga")]
    nft_table: String,
    /// The cluster's DNS domain, served by the daemon's DNS at the kube-dns Service address
    /// (the --service-cidr's tenth, 10.96.0.10 by default).
    #[arg(long, default_value = "cluster.local")]
    cluster_domain: String,
    /// Remove what a stopped daemon leaves in the kernel for Services (the --nft-table) and
    /// exit; pods' own state is left to the next daemon.
    #[arg(long)]
    cleanup: bool,
    /// The cgroup, beneath each cgroup hierarchy's root, that holds the pods' cgroups
    /// (`<root>/pod<uid>`, as kubelet's `kubepods`); one name.
    #[arg(long, default_value = "beluga")]
    cgroup_root: beluga_runtime::cgroups::Root,
    /// The resolver configuration pods' DNS is based on (kubelet's --resolv-conf): its search
    /// list and options in pods' /etc/resolv.conf, its nameservers where the cluster DNS sends
    /// names outside the cluster domain.
    #[arg(long, default_value = "/etc/resolv.conf")]
    resolv_conf: PathBuf,
    /// Where the Kubernetes API is served over TLS for the real kubectl (`beluga kubeconfig`
    /// prints its kubeconfig); port 0 for one the kernel picks; "" for none. Another address
    /// than loopback exposes the API to the network: give one only when that is wanted.
    #[arg(long, default_value = "127.0.0.1:6443", value_parser = parse_listen)]
    api_listen: Listen,
}

/// `--api-listen`: an address, or none.
#[derive(Debug, Clone)]
pub struct Listen(Option<std::net::SocketAddr>);

fn parse_listen(s: &str) -> Result<Listen, String> {
    if s.is_empty() {
        return Ok(Listen(None));
    }
    s.parse()
        .map(|a| Listen(Some(a)))
        .map_err(|e| format!("{s:?} is no address and port: {e}"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    beluga_api::quantity::parse_bytes(s).ok_or_else(|| format!("invalid quantity {s:?}"))
}

/// Go's `time.ParseDuration` for the units a flag needs (`300ms`, `10s`, `5m`, `1h30m`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(format!("invalid duration {s:?}"));
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {s:?}"))?;
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("unknown unit {u:?} in duration {s:?}")),
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("duration {s:?} is too long"))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as containerd does at start: each pod
/// holds descriptors of the daemon's and each client one more, and a 1024 soft limit stopped the
/// daemon near 500 pods (attack report 4.6). Never above the hard limit (no CAP_SYS_RESOURCE).
fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current < l.maximum {
        l.current = l.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            tracing::warn!(error = %e, "could not raise the open-files limit");
        }
    }
}

/// What runs beside the API: eviction, the Services' rules, the cluster DNS.
fn background(d: &std::sync::Arc<Daemon>) {
    tokio::spawn(beluga_node::eviction::run(d.clone()));
    if let Some(table) = d.config().nft_table.clone() {
        tokio::spawn(beluga_node::proxy::run(d.clone(), table));
    }
    if let Some(dns) = d.dns_config().cloned() {
        tokio::spawn(beluga_node::dns::run(d.clone(), dns));
    }
}

/// The daemon's configuration from its flags.
fn config(a: Args, exe: PathBuf) -> Config {
    Config {
        root: a.root,
        socket: a.socket,
        runtime: a.runtime,
        backoff_initial: a.crash_loop_backoff_initial,
        backoff_max: a.crash_loop_backoff_max,
        exe,
        log_max_size: a.container_log_max_size,
        log_max_files: a.container_log_max_files as usize,
        pod_max_pids: (a.pod_max_pids > 0).then_some(a.pod_max_pids),
        max_layer_bytes: a.max_layer_size,
        seccomp_default: a.seccomp_default,
        warm_sandboxes: a.warm_sandboxes,
        network: beluga_node::network::NetworkConfig {
            conf_dir: a.cni_conf_dir,
            bin_dirs: a.cni_bin_dir.split(':').map(PathBuf::from).collect(),
            pod_cidr: a.pod_cidr,
        },
        service_cidr: a.service_cidr,
        nft_table: (!a.nft_table.is_empty()).then(|| a.nft_table.clone()),
        cluster_domain: a.cluster_domain.clone(),
        cgroup_root: a.cgroup_root.clone(),
        resolv_conf: a.resolv_conf.clone(),
        api_listen: a.api_listen.0,
    }
}

pub fn run(a: Args) -> i32 {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BELUGA_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colours only for a terminal: log files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if !rustix::process::geteuid().is_root() {
        eprintln!("error: beluga daemon must run as root (it creates namespaces and mounts)");
        return 1;
    }
    if a.cleanup {
        a.cgroup_root.remove_if_empty();
        return match beluga_net::nft::delete_table(&a.nft_table) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e}");
                1
            }
        };
    }
    // The shim is installed beside this binary (one package, two executables).
    let exe = match std::env::current_exe() {
        Ok(e) => e.with_file_name("beluga-shim"),
        Err(e) => {
            eprintln!("error: cannot find this executable: {e}");
            return 1;
        }
    };
    if !exe.is_file() {
        eprintln!(
            "error: {} is missing: install beluga-shim beside beluga",
            exe.display()
        );
        return 1;
    }
    raise_nofile();
    let cfg = config(a, exe);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    rt.block_on(async move {
        let d = match Daemon::new(cfg) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        d.adopt().await;
        background(&d);
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
        // Containers keep running when the daemon stops; a new daemon re-adopts them.
        let code = tokio::select! {
            r = http::serve(d.clone()) => {
                if let Err(e) = r {
                    eprintln!("error: {e}");
                    return 1;
                }
                0
            }
            _ = tokio::signal::ctrl_c() => 0,
            _ = term.recv() => 0,
        };
        d.stop().await;
        code
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("").is_err());
        // Attack report 7.1: a flag error, not a panic.
        assert!(parse_duration("99999999999999999999999h")
            .unwrap_err()
            .contains("too long"));
    }
}
