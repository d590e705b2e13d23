//! The pod network (issue 14), as kubelet + containerd set it up: one CNI configuration list,
//! chosen at start (the first in `--cni-conf-dir`, else beluga's default bridge on
//! `--pod-cidr`); an ADD once a sandbox's network namespace is pinned, a DEL when the sandbox is
//! torn down; the ADD's result kept in the pod's `.sandbox/network/` until then, so that a DEL
//! after a restart (or a configuration change) releases exactly what the ADD took, and the pod's
//! IPs are read back from it when the daemon adopts the pod again.

use beluga_api::{podutil, Pod};
use beluga_net::cache::{self, Cached};
use beluga_net::conf::{self, ConfList, DefaultNetwork};
use beluga_net::invoke::{Attachment, Plugins};
use beluga_net::{hostlocal, routes, NetError};
use beluga_runtime::layout::PodDir;
use std::path::PathBuf;

/// beluga's default network: its name and its bridge.
pub const DEFAULT_NAME: &str = "beluga";
pub const DEFAULT_BRIDGE: &str = "beluga0";
/// The pod's interface (kubelet's `eth0`).
pub const IFNAME: &str = "eth0";

/// How pods are networked (`--cni-conf-dir`, `--cni-bin-dir`, `--pod-cidr`).
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    pub conf_dir: PathBuf,
    pub bin_dirs: Vec<PathBuf>,
    pub pod_cidr: ipnet::IpNet,
}

/// The network pods are attached to.
#[derive(Debug, Clone)]
pub struct PodNetwork {
    list: ConfList,
    plugins: Plugins,
    /// Where the list came from (a file, or beluga's default), for the start-up log line.
    pub source: String,
    /// The pod CIDR the daemon masquerades with one rule of its nftables table (the default
    /// network's, IPv4, when the daemon has a table): its bridge then makes no chain per pod.
    pub masquerade: Option<ipnet::Ipv4Net>,
}

impl PodNetwork {
    /// The first list in the configuration directory, or the default one, whose pod CIDR must
    /// not overlap a route the host has (other than our own bridge's). With `nft_masquerade`
    /// (the daemon has an nftables table) the default network's IPv4 pods are masqueraded there
    /// instead of by the bridge plugin.
    pub fn choose(cfg: &NetworkConfig, nft_masquerade: bool) -> Result<PodNetwork, NetError> {
        let plugins = Plugins {
            dirs: cfg.bin_dirs.clone(),
        };
        if let Some((path, list)) = conf::first_in(&cfg.conf_dir)? {
            return Ok(PodNetwork {
                list,
                plugins,
                source: path.display().to_string(),
                masquerade: None,
            });
        }
        let host = routes::host_routes();
        if let Some(r) = routes::overlapping(&cfg.pod_cidr, &host, DEFAULT_BRIDGE) {
            return Err(NetError::Config(format!(
                "the pod CIDR {} (--pod-cidr) overlaps the host's route to {} on {}: choose another with --pod-cidr",
                cfg.pod_cidr, r.dst, r.dev
            )));
        }
        let masquerade = match cfg.pod_cidr {
            ipnet::IpNet::V4(v4) if nft_masquerade => Some(v4.trunc()),
            _ => None,
        };
        let firewall = conf::host_forward_drops();
        let list = conf::default_list(&DefaultNetwork {
            name: DEFAULT_NAME.into(),
            bridge: DEFAULT_BRIDGE.into(),
            subnet: cfg.pod_cidr,
            data_dir: PathBuf::from(hostlocal::DEFAULT_DATA_DIR),
            ip_masq: masquerade.is_none(),
            firewall,
        });
        let by = if masquerade.is_some() {
            "one nftables rule"
        } else {
            "the bridge plugin"
        };
        let why_firewall = if firewall {
            "; firewall, as the host's FORWARD drops"
        } else {
            ""
        };
        Ok(PodNetwork {
            list,
            plugins,
            source: format!(
                "beluga's default (bridge {DEFAULT_BRIDGE} on {}, masqueraded by {by}{why_firewall}; no list in {})",
                cfg.pod_cidr,
                cfg.conf_dir.display()
            ),
            masquerade,
        })
    }

    /// The IPv4 gateway the list's IPAM gives pods (its range's `gateway`, else the subnet's
    /// first address, as host-local chooses it): where the node is reachable from every pod.
    pub fn gateway(&self) -> Option<std::net::Ipv4Addr> {
        let ipam = self.list.plugins.iter().find_map(|p| p.get("ipam"))?;
        let ranges = ipam.get("ranges").and_then(|r| r.as_array());
        let candidates = ranges
            .into_iter()
            .flatten()
            .filter_map(|set| set.as_array())
            .flatten()
            .chain(std::iter::once(ipam));
        for r in candidates {
            let Some(net) = r
                .get("subnet")
                .and_then(|s| s.as_str()?.parse::<ipnet::Ipv4Net>().ok())
            else {
                continue;
            };
            let explicit = r.get("gateway").and_then(|g| g.as_str()?.parse().ok());
            return explicit.or_else(|| net.hosts().next());
        }
        None
    }

    /// Attaches the pod's sandbox (ADD) and keeps the result: the pod's IPs, IPv4 first.
    /// A failed ADD is undone (DEL), so that nothing of it stays reserved.
    pub async fn attach(&self, pod: &Pod, dir: &PodDir) -> Result<Vec<String>, NetError> {
        let at = attachment(pod, dir);
        let marker = adding_marker(dir);
        std::fs::create_dir_all(cache_dir(dir))?;
        std::fs::write(&marker, &at.container_id)?;
        let ips = self.add_and_keep(&at, dir).await;
        let _ = std::fs::remove_file(&marker);
        ips
    }

    async fn add_and_keep(&self, at: &Attachment, dir: &PodDir) -> Result<Vec<String>, NetError> {
        let result = match self.plugins.add(&self.list, at).await {
            Ok(r) => r,
            Err(e) => {
                let _ = self.plugins.del(&self.list, at, None).await;
                return Err(e);
            }
        };
        let cached = Cached {
            container_id: at.container_id.clone(),
            ifname: at.ifname.clone(),
            list: self.list.clone(),
            result,
            args: at.args.clone(),
            capability_args: at.capability_args.clone(),
        };
        if let Err(e) = cache::write(&cache_dir(dir), &cached) {
            let _ = self.plugins.del(&self.list, at, Some(&cached.result)).await;
            return Err(e.into());
        }
        Ok(ip_strings(&cached))
    }

    /// Attaches a spare sandbox (made ahead, issue 13) under its own id, so that the pod that
    /// takes it starts without waiting for the ADD. Without a pod there are no `K8S_POD_*`
    /// arguments and no port mappings: a pod with hostPorts makes its own sandbox.
    pub async fn attach_spare(&self, dir: &PodDir) -> Result<(), NetError> {
        self.add_and_keep(&bare_attachment(dir), dir)
            .await
            .map(|_| ())
    }

    /// Detaches the sandbox in `dir` (DEL) with what its ADD kept, under the id it was made
    /// with; with nothing kept (an ADD cut short), a DEL with the current list, the
    /// directory's id and the pod's port mappings (when the pod is known) still releases what
    /// it took.
    pub async fn detach(&self, dir: &PodDir, pod: Option<&Pod>) -> Result<(), NetError> {
        let kept = cache::entries(&cache_dir(dir));
        let mut at = pod.map_or_else(|| bare_attachment(dir), |pod| attachment(pod, dir));
        at.netns = beluga_net::netns::for_del(at.netns);
        if kept.is_empty() {
            // An ADD cut short kept no result: what host-local reserved stands in for it.
            let stand_in = hostlocal::data_dir(&self.list)
                .map(|d| hostlocal::reserved(&d, &at.container_id, &at.ifname))
                .filter(|ips| !ips.is_empty())
                .map(|ips| hostlocal::stand_in(&ips));
            return self.plugins.del(&self.list, &at, stand_in.as_ref()).await;
        }
        let mut first = Ok(());
        for (path, c) in kept {
            at.container_id = c.container_id.clone();
            at.ifname = c.ifname.clone();
            at.args = c.args.clone();
            at.capability_args = c.capability_args.clone();
            match self.plugins.del(&c.list, &at, Some(&c.result)).await {
                Ok(()) => {
                    let _ = std::fs::remove_file(path);
                }
                Err(e) if first.is_ok() => first = Err(e),
                Err(_) => {}
            }
        }
        first
    }
}

/// True when an ADD for the sandbox in `dir` began and never ended (the daemon was killed during
/// it): the sandbox has no network it can account for, and is made again (its DEL first).
pub fn attach_cut_short(dir: &PodDir) -> bool {
    adding_marker(dir).exists() || claim_marker(dir).exists()
}

/// Written before an ADD, removed once its result is kept (or it failed and was undone).
fn adding_marker(dir: &PodDir) -> PathBuf {
    cache_dir(dir).join("adding")
}

/// The IPs the sandbox in `dir` was given, from what its ADD kept (none when not attached).
pub fn pod_ips(dir: &PodDir) -> Vec<String> {
    cache::entries(&cache_dir(dir))
        .first()
        .map(|(_, c)| ip_strings(c))
        .unwrap_or_default()
}

/// Whether the pod can take a sandbox attached ahead: not with hostPorts, whose mappings the
/// ADD must carry.
pub fn spare_fits(pod: &Pod) -> bool {
    port_mappings(pod).is_empty()
}

/// Moves the attachment kept in `from` (a spare's sandbox) into `to` (the pod's) in one rename.
pub fn move_attachment(from: &PodDir, to: &PodDir) -> std::io::Result<()> {
    let src = cache_dir(from);
    if !src.exists() {
        return Ok(());
    }
    std::fs::rename(src, cache_dir(to))
}

/// Marks the pod's sandbox as being attached (see [`attach_cut_short`]) while a spare's
/// attachment is moved into it, or unmarks it.
pub fn mark_attaching(dir: &PodDir, on: bool) -> std::io::Result<()> {
    if on {
        std::fs::create_dir_all(dir.sandbox())?;
        std::fs::write(claim_marker(dir), "")
    } else {
        match std::fs::remove_file(claim_marker(dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

fn claim_marker(dir: &PodDir) -> PathBuf {
    dir.sandbox().join("network-claim")
}

fn ip_strings(c: &Cached) -> Vec<String> {
    c.result.pod_ips().iter().map(|ip| ip.to_string()).collect()
}

fn cache_dir(dir: &PodDir) -> PathBuf {
    dir.sandbox().join("network")
}

/// The sandbox's id for CNI (`CNI_CONTAINERID`): the pod's uid without dashes, as the pod
/// directory's name ends with it (`<ns>_<name>_<uid>`).
fn sandbox_id_of(dir: &PodDir) -> String {
    let name = dir
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    sandbox_id(name.rsplit('_').next().unwrap_or_default())
}

fn sandbox_id(uid: &str) -> String {
    uid.replace('-', "")
}

/// An attachment under the directory's own id, with no pod to tell the plugins about (a spare,
/// or a sandbox whose pod is not known).
fn bare_attachment(dir: &PodDir) -> Attachment {
    Attachment {
        container_id: sandbox_id_of(dir),
        netns: dir.ns("net"),
        ifname: IFNAME.into(),
        ..Default::default()
    }
}

/// What the plugins are told about the pod (kubelet's CNI_ARGS and port mappings).
fn attachment(pod: &Pod, dir: &PodDir) -> Attachment {
    let id = sandbox_id(podutil::uid(pod));
    let mut capability_args = serde_json::Map::new();
    let ports = port_mappings(pod);
    if !ports.is_empty() {
        capability_args.insert("portMappings".into(), ports.into());
    }
    Attachment {
        container_id: id.clone(),
        netns: dir.ns("net"),
        ifname: IFNAME.into(),
        args: vec![
            ("K8S_POD_NAMESPACE".into(), podutil::namespace(pod).into()),
            ("K8S_POD_NAME".into(), podutil::name(pod).into()),
            ("K8S_POD_INFRA_CONTAINER_ID".into(), id),
            ("K8S_POD_UID".into(), podutil::uid(pod).into()),
        ],
        capability_args,
    }
}

/// The `portMappings` runtime config of the pod's hostPorts (the regular containers' ones, as
/// the scheduler sees them; containerd's `toCNIPortMappings`: protocol in lower case, `hostIP`
/// when set).
pub fn port_mappings(pod: &Pod) -> Vec<serde_json::Value> {
    beluga_lifecycle::scheduling::host_ports(pod)
        .into_iter()
        .map(|p| {
            let mut m = serde_json::json!({
                "hostPort": p.port,
                "containerPort": p.container_port,
                "protocol": p.protocol.to_lowercase(),
            });
            if !p.ip.is_empty() {
                m["hostIP"] = p.ip.into();
            }
            m
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 14 item 4: hostPorts become portmap's runtime config as kubelet and containerd
    // build it (an init container's hostPort is not mapped).
    #[test]
    fn port_mappings_from_host_ports() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "uid": "1111-2222"},
            "spec": {
                "initContainers": [{"name": "i", "image": "x",
                    "ports": [{"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}]}],
                "containers": [{"name": "a", "image": "x", "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 81},
                    {"containerPort": 82, "hostPort": 8082, "hostIP": "127.0.0.1", "protocol": "TCP"},
                ]}],
            },
        }))
        .unwrap();
        let got = port_mappings(&pod);
        assert_eq!(
            got,
            vec![
                serde_json::json!({"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}),
                serde_json::json!({"hostPort": 8082, "containerPort": 82, "protocol": "tcp", "hostIP": "127.0.0.1"}),
            ]
        );
        let at = attachment(&pod, &PodDir("/x/default_p_1111-2222".into()));
        assert_eq!(at.container_id, "11112222");
        assert_eq!(
            sandbox_id_of(&PodDir("/x/default_p_1111-2222".into())),
            "11112222"
        );
        assert!(at.args.contains(&("K8S_POD_NAME".into(), "p".into())));
        assert_eq!(
            at.capability_args["portMappings"].as_array().map(Vec::len),
            Some(2)
        );
    }
}
