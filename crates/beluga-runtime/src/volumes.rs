//! Pod volumes and per-container mounts (spec §11.1, §11.2, §11.4): emptyDir (disk or tmpfs),
//! hostPath with its type checks, subPath, and the hosts/hostname/resolv.conf files.

use crate::layout::PodDir;
use crate::spec::Bind;
use beluga_api::quantity::parse_bytes;
use beluga_api::{podutil, Container, Pod};
use rustix::mount::{self as rmount, MountFlags, UnmountFlags};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A mount-time failure: kubelet's `FailedMount` event (`MountVolume.SetUp failed for volume …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {message}")]
pub struct MountError {
    pub volume: String,
    pub message: String,
}

/// Why a container's mounts could not be made: a volume's own failure, or kubelet's refusal of a
/// subPath (`detail` is for the log: kubelet keeps host paths out of the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    #[error(transparent)]
    Mount(#[from] MountError),
    #[error("{message}")]
    SubPath { message: String, detail: String },
}

fn merr(volume: &str, message: impl Into<String>) -> MountError {
    MountError {
        volume: volume.into(),
        message: message.into(),
    }
}

/// The hostPath `type` check (spec §11.1). Creates missing `DirectoryOrCreate` / `FileOrCreate`
/// targets, then checks what is at the path.
pub fn check_host_path(volume: &str, path: &Path, kind: &str) -> Result<(), MountError> {
    let p = path.display();
    let missing = std::fs::metadata(path).is_err();
    match kind {
        "DirectoryOrCreate" if missing => {
            std::fs::create_dir_all(path).map_err(|e| merr(volume, format!("{p}: {e}")))?;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
        }
        "FileOrCreate" if missing => {
            // The parent directory is not created (spec §11.1).
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| merr(volume, format!("{p}: {e}")))?;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644));
        }
        _ => {}
    }
    let (is, what): (fn(&std::fs::Metadata) -> bool, &str) = match kind {
        "" => return Ok(()),
        "DirectoryOrCreate" | "Directory" => (|m| m.is_dir(), "a directory"),
        "FileOrCreate" | "File" => (|m| m.is_file(), "a file"),
        "Socket" => (|m| m.file_type().is_socket(), "a socket file"),
        "CharDevice" => (|m| m.file_type().is_char_device(), "a character device"),
        "BlockDevice" => (|m| m.file_type().is_block_device(), "a block device"),
        other => return Err(merr(volume, format!("invalid hostPath type {other:?}"))),
    };
    std::fs::metadata(path)
        .ok()
        .filter(is)
        .map(|_| ())
        .ok_or_else(|| {
            merr(
                volume,
                format!("hostPath type check failed: {p} is not {what}"),
            )
        })
}

/// Prepares the pod's volumes before any container starts: every emptyDir (tmpfs for
/// `medium: Memory`, sized by `sizeLimit`) and every hostPath type check.
pub fn setup_pod_volumes(pod: &Pod, dir: &PodDir) -> Result<(), MountError> {
    for v in pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(hp) = v.host_path.as_ref() {
            check_host_path(
                &v.name,
                Path::new(&hp.path),
                hp.type_.as_deref().unwrap_or(""),
            )?;
        }
        let Some(ed) = v.empty_dir.as_ref() else {
            continue;
        };
        let path = dir.volume(&v.name);
        let fresh = !path.exists();
        std::fs::create_dir_all(&path).map_err(|e| merr(&v.name, e.to_string()))?;
        // kubelet makes emptyDirs world-writable so any container user can use them.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| merr(&v.name, e.to_string()))?;
        if ed.medium.as_deref() == Some("Memory") && (fresh || !is_mount_point(&path)) {
            let size = ed
                .size_limit
                .as_ref()
                .and_then(|q| parse_bytes(&q.0))
                .filter(|b| *b > 0);
            let data = match size {
                Some(b) => format!("mode=0777,size={b}"),
                None => "mode=0777".to_string(),
            };
            rmount::mount(
                "tmpfs",
                &path,
                "tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV,
                Some(std::ffi::CString::new(data).unwrap_or_default().as_c_str()),
            )
            .map_err(|e| merr(&v.name, format!("mounting tmpfs: {e}")))?;
        }
    }
    Ok(())
}

/// Whether `path` is the root of a mount. `statx`'s mount-root attribute (Linux 5.8) answers
/// without reading the mount table, whose size grows with every pod's mounts; older kernels
/// read `mountinfo`.
pub fn is_mount_point(path: &Path) -> bool {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    match statx(CWD, path, AtFlags::NO_AUTOMOUNT, StatxFlags::empty()) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Ok(_) => is_mount_point_listed(path),
        Err(_) => false,
    }
}

/// [`is_mount_point`] from `/proc/self/mountinfo`.
fn is_mount_point_listed(path: &Path) -> bool {
    let Ok(canon) = path.canonicalize() else {
        return false;
    };
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let needle = canon.to_string_lossy().into_owned();
    mi.lines()
        .any(|l| l.split_whitespace().nth(4) == Some(needle.as_str()))
}

/// Unmounts every mount at or below `dir` (deepest first), lazily if busy.
pub fn unmount_below(dir: &Path) {
    let Ok(canon) = dir.canonicalize() else {
        return;
    };
    let prefix = canon.to_string_lossy().into_owned();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mi
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
        .filter(|m| m == &prefix || m.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if rmount::unmount(p.as_str(), UnmountFlags::empty()).is_err() {
            let _ = rmount::unmount(p.as_str(), UnmountFlags::DETACH);
        }
    }
}

/// The bind mounts of one container's volumeMounts, with hostPath checks done now (at start).
/// A subPath is resolved and bind-mounted at `subpaths/<index>` (in the container's bundle), and
/// that is what the runtime mounts (see [`crate::subpath`]).
pub fn container_binds(
    pod: &Pod,
    c: &Container,
    dir: &PodDir,
    env: &[(String, String)],
    subpaths: &Path,
) -> Result<Vec<Bind>, BindError> {
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.clone())
        .unwrap_or_default();
    let mut binds = Vec::new();
    for (index, m) in c.volume_mounts.iter().flatten().enumerate() {
        let v = volumes
            .iter()
            .find(|v| v.name == m.name)
            .ok_or_else(|| merr(&m.name, "volume not found"))?;
        let root = if let Some(hp) = v.host_path.as_ref() {
            let p = PathBuf::from(&hp.path);
            check_host_path(&v.name, &p, hp.type_.as_deref().unwrap_or(""))?;
            p
        } else if v.empty_dir.is_some() || crate::projection::medium(v).is_some() {
            dir.volume(&v.name)
        } else {
            return Err(merr(
                &v.name,
                "this volume type is not supported on a single node (only emptyDir, hostPath, configMap, secret, downwardAPI and projected)",
            )
            .into());
        };
        let sub = match (
            m.sub_path.as_deref().filter(|s| !s.is_empty()),
            m.sub_path_expr.as_deref().filter(|s| !s.is_empty()),
        ) {
            (Some(s), _) => Some(s.to_string()),
            (None, Some(expr)) => {
                let undefined = std::cell::RefCell::new(None);
                let expanded = beluga_api::expand::expand_env(expr, |n| {
                    let v = env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
                    if v.as_deref().is_none_or(str::is_empty) {
                        *undefined.borrow_mut() = Some(n.to_string());
                    }
                    v
                });
                let undefined = undefined.into_inner();
                if let Some(n) = undefined {
                    return Err(merr(
                        &v.name,
                        format!("subPathExpr {expr:?}: variable {n} is undefined or empty"),
                    )
                    .into());
                }
                Some(expanded)
            }
            _ => None,
        };
        let source = match sub {
            Some(s) => {
                let target = subpaths.join(index.to_string());
                crate::subpath::prepare(&root, &s, &target).map_err(|f| BindError::SubPath {
                    message: f.message(&m.name, &c.name),
                    detail: f.detail().to_string(),
                })?;
                target
            }
            None => root,
        };
        binds.push(Bind {
            source: source.to_string_lossy().into_owned(),
            destination: m.mount_path.clone(),
            // Volumes made from objects are always read-only (kubelet since CVE-2017-1002102).
            readonly: m.read_only == Some(true) || crate::projection::medium(v).is_some(),
        });
    }
    Ok(binds)
}

/// kubelet's `/etc/hosts` (spec §11.4).
pub fn hosts_file(pod: &Pod, hostname: &str, ips: &[String]) -> String {
    let mut s = String::from("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n");
    let spec = pod.spec.clone().unwrap_or_default();
    let sub = spec.subdomain.clone().filter(|s| !s.is_empty());
    let ns = beluga_api::podutil::namespace(pod);
    for ip in ips {
        match &sub {
            Some(sd) => s.push_str(&format!(
                "{ip}\t{hostname}.{sd}.{ns}.svc.cluster.local\t{hostname}\n"
            )),
            None => s.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    s.push_str(&host_aliases(&spec));
    s
}

/// kubelet's `/etc/hosts` of a `hostNetwork: true` pod (`nodeHostsFileContent`): the node's own,
/// under its header, with the pod's HostAliases.
pub fn host_network_hosts_file(pod: &Pod, node_hosts: &str) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    format!(
        "# Kubernetes-managed hosts file (host network).\n{node_hosts}{}",
        host_aliases(&spec)
    )
}

fn host_aliases(spec: &beluga_api::PodSpec) -> String {
    let mut s = String::new();
    if let Some(aliases) = spec.host_aliases.as_ref().filter(|a| !a.is_empty()) {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names = a.hostnames.clone().unwrap_or_default().join("\t");
            s.push_str(&format!("{}\t{names}\n", a.ip));
        }
    }
    s
}

/// The cluster DNS a pod of the cluster DNS type is given: its Service address and the
/// cluster's domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDns {
    pub nameserver: String,
    pub domain: String,
}

/// The node's resolver: its nameservers, searches and options.
fn host_parts(host: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut ns, mut search, mut opts) = (Vec::new(), Vec::new(), Vec::new());
    for l in host.lines() {
        let mut f = l.split_whitespace();
        match f.next() {
            Some("nameserver") => ns.extend(f.next().map(String::from)),
            Some("search") | Some("domain") => search.extend(f.map(String::from)),
            Some("options") => opts.extend(f.map(String::from)),
            _ => {}
        }
    }
    (ns, search, opts)
}

/// `/etc/resolv.conf` as kubelet forms it from the pod's DNS type (spec §11.4, kubelet's
/// `GetPodDNS`): the cluster's (`nameserver <dns>`, `search <ns>.svc.<domain> svc.<domain>
/// <domain> <node's searches>`, `options ndots:5`; the node's own while there is no cluster
/// DNS), the node's, or none, then `dnsConfig` merged in (options by name, the pod's winning).
pub fn resolv_conf(pod: &Pod, host: &str, cluster: Option<&ClusterDns>) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let cfg = spec.dns_config.clone().unwrap_or_default();
    let (host_ns, host_search, host_opts) = host_parts(host);
    let (mut nameservers, mut searches, mut options) = match (podutil::dns_type(pod), cluster) {
        (podutil::DnsType::None, _) => (vec![], vec![], vec![]),
        (podutil::DnsType::Cluster, Some(c)) => {
            let ns = podutil::namespace(pod);
            let mut s = vec![
                format!("{ns}.svc.{}", c.domain),
                format!("svc.{}", c.domain),
                c.domain.clone(),
            ];
            s.extend(host_search);
            (vec![c.nameserver.clone()], s, vec!["ndots:5".to_string()])
        }
        _ => (host_ns, host_search, host_opts),
    };
    nameservers.extend(cfg.nameservers.unwrap_or_default());
    searches.extend(cfg.searches.unwrap_or_default());
    for o in cfg.options.unwrap_or_default() {
        let name = o.name.unwrap_or_default();
        options.retain(|x| x.split(':').next() != Some(name.as_str()));
        options.push(match o.value {
            Some(v) => format!("{name}:{v}"),
            None => name,
        });
    }
    let mut s = String::new();
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    for n in nameservers {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// The overlay rootfs of one container: shared read-only lower layers, private upper.
pub fn mount_overlay(lower: &[PathBuf], bundle: &Path) -> std::io::Result<PathBuf> {
    let rootfs = bundle.join("rootfs");
    let upper = bundle.join("upper");
    let work = bundle.join("work");
    for d in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(d)?;
    }
    if is_mount_point(&rootfs) {
        return Ok(rootfs);
    }
    let lowers: Vec<String> = lower
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        upper.display(),
        work.display()
    );
    let data = std::ffi::CString::new(data).map_err(std::io::Error::other)?;
    rmount::mount(
        "overlay",
        &rootfs,
        "overlay",
        MountFlags::empty(),
        Some(data.as_c_str()),
    )?;
    Ok(rootfs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"}, "spec": spec})).unwrap()
    }

    // The statx answer and the mount table's agree: mounts, plain directories, a missing path.
    #[test]
    fn mount_points_from_statx_match_the_mount_table() {
        let tmp = tempfile::tempdir().unwrap();
        for (path, want) in [
            (Path::new("/"), true),
            (Path::new("/proc"), true),
            (Path::new("/proc/self"), false),
            (tmp.path(), false),
            (&tmp.path().join("missing"), false),
        ] {
            assert_eq!(is_mount_point(path), want, "{}", path.display());
            assert_eq!(is_mount_point_listed(path), want, "{}", path.display());
        }
    }

    // spec §11.4: the exact hosts file.
    #[test]
    fn hosts() {
        let p = pod(
            json!({"containers": [], "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["foo", "bar"]}]}),
        );
        assert_eq!(
            hosts_file(&p, "web", &["127.0.1.1".into()]),
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n127.0.1.1\tweb\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo\tbar\n"
        );
        assert_eq!(
            host_network_hosts_file(&p, "127.0.0.1\tlocalhost\n"),
            "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n\n# Entries added by HostAliases.\n10.1.2.3\tfoo\tbar\n"
        );
        let p = pod(json!({"containers": [], "subdomain": "sd"}));
        assert!(hosts_file(&p, "web", &["10.0.0.2".into()])
            .ends_with("10.0.0.2\tweb.sd.default.svc.cluster.local\tweb\n"));
    }

    #[test]
    fn resolv() {
        let host = "# comment\nnameserver 1.1.1.1\nsearch example.com\noptions ndots:2\n";
        let p = pod(json!({"containers": []}));
        assert_eq!(
            resolv_conf(&p, host, None),
            "search example.com\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
        // The cluster type with a cluster DNS: its search path, then the node's; ndots:5,
        // overridden by the pod's dnsConfig option of that name.
        let dns = ClusterDns {
            nameserver: "10.96.0.10".into(),
            domain: "cluster.local".into(),
        };
        let p = pod(
            json!({"containers": [], "dnsConfig": {"options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]}}),
        );
        assert_eq!(
            resolv_conf(&p, host, Some(&dns)),
            "search default.svc.cluster.local svc.cluster.local cluster.local example.com\nnameserver 10.96.0.10\noptions ndots:2 edns0\n"
        );
        // Default: the node's, cluster DNS or not.
        let p = pod(json!({"containers": [], "dnsPolicy": "Default"}));
        assert_eq!(
            resolv_conf(&p, host, Some(&dns)),
            "search example.com\nnameserver 1.1.1.1\noptions ndots:2\n"
        );
        let p = pod(
            json!({"containers": [], "dnsPolicy": "None", "dnsConfig": {"nameservers": ["9.9.9.9"], "options": [{"name": "ndots", "value": "5"}]}}),
        );
        assert_eq!(
            resolv_conf(&p, host, Some(&dns)),
            "nameserver 9.9.9.9\noptions ndots:5\n"
        );
    }

    // spec §11.1: every hostPath type and its message.
    #[test]
    fn host_path_types() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("f");
        std::fs::write(&file, b"").unwrap();
        let missing = d.path().join("missing");
        assert!(check_host_path("v", &missing, "").is_ok());
        assert!(check_host_path("v", d.path(), "Directory").is_ok());
        let e = check_host_path("v", &file, "Directory").unwrap_err();
        assert_eq!(e.to_string(), format!("MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: {} is not a directory", file.display()));
        assert!(check_host_path("v", &missing, "Directory").is_err());
        assert!(check_host_path("v", &file, "File").is_ok());
        assert!(check_host_path("v", d.path(), "File")
            .unwrap_err()
            .message
            .ends_with("is not a file"));
        assert!(check_host_path("v", &file, "Socket")
            .unwrap_err()
            .message
            .ends_with("is not a socket file"));
        assert!(check_host_path("v", Path::new("/dev/null"), "CharDevice").is_ok());
        assert!(check_host_path("v", &file, "BlockDevice")
            .unwrap_err()
            .message
            .ends_with("is not a block device"));
        check_host_path("v", &d.path().join("new/dir"), "DirectoryOrCreate").unwrap();
        assert!(d.path().join("new/dir").is_dir());
        check_host_path("v", &d.path().join("newfile"), "FileOrCreate").unwrap();
        assert!(d.path().join("newfile").is_file());
        // FileOrCreate does not create the parent.
        assert!(check_host_path("v", &d.path().join("nope/file"), "FileOrCreate").is_err());
    }
}
