//! A container's bundle: its rootfs (overlay), mounts (volumes, subPaths, the pod's hosts files,
//! the termination log), process (command, env, user, working directory; spec §10), limits and
//! confinement (capabilities, seccomp; spec §10.5), written as `config.json`.

use beluga_api::{podutil, Container, Pod};
use beluga_runtime::process::{self, PodFacts, Process};
use beluga_runtime::spec::{self, Bind, ContainerSpec};
use beluga_runtime::volumes;
use tracing::warn;

/// Everything a bundle is made from: plain data, so that making it can run off the executor.
pub struct BundleInputs {
    pub pod: Pod,
    pub c: Container,
    pub image: beluga_image::ImageConfig,
    /// The image's layers, top first.
    pub lower: Vec<std::path::PathBuf>,
    pub dir: beluga_runtime::layout::PodDir,
    pub bundle: std::path::PathBuf,
    pub id: String,
    pub seccomp_root: std::path::PathBuf,
    pub seccomp_default: bool,
    /// What the environment reads: the sandbox's addresses (the downward API's
    /// `status.podIP(s)`), the Services' variables, the ConfigMaps and Secrets it names.
    pub facts: PodFacts,
    /// The container's cgroup (`cgroups::Root::container_path`).
    pub cgroups_path: String,
}

/// Makes the bundle: the overlay rootfs, the binds (subPaths resolved and mounted), the
/// termination log, and `config.json`. Err is kubelet's (reason, message).
pub fn materialize(i: &BundleInputs) -> Result<(), (&'static str, String)> {
    let (pod, c) = (&i.pod, &i.c);
    let rootfs = volumes::mount_overlay(&i.lower, &i.bundle)
        .map_err(|e| ("CreateContainerError", format!("mounting rootfs: {e}")))?;
    let (proc_, env) = container_process(pod, c, &i.image, &rootfs, &i.facts)
        .map_err(|e| ("CreateContainerConfigError", e))?;
    let mut binds = volumes::container_binds(pod, c, &i.dir, &env, &i.bundle.join("subpaths"))
        .map_err(|e| {
            if let volumes::BindError::SubPath { detail, .. } = &e {
                warn!(container = %c.name, %detail, "subPath refused");
            }
            ("CreateContainerConfigError", e.to_string())
        })?;
    let tlog = i.bundle.join("termination-log");
    let tlog_ok = std::fs::write(&tlog, b"").is_ok() && {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tlog, std::fs::Permissions::from_mode(0o666)).is_ok()
    };
    let sandbox = i.dir.sandbox();
    binds.extend(pod_binds(
        &binds,
        &sandbox,
        c,
        tlog_ok.then_some(tlog.as_path()),
    ));
    let sc = c.security_context.clone().unwrap_or_default();
    let privileged = sc.privileged == Some(true);
    let (caps, seccomp) = confinement(&i.seccomp_root, i.seccomp_default, pod, c, privileged)
        .map_err(|e| {
            let msg = format!("failed to generate container {:?} spec: {e}", i.id);
            ("CreateContainerError", msg)
        })?;
    let cfg = spec::config_json(&ContainerSpec {
        process: &proc_,
        rootfs: &rootfs,
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
        privileged,
        caps,
        seccomp,
        no_new_privileges: sc.allow_privilege_escalation == Some(false) && !privileged,
        binds,
        sandbox: &sandbox,
        host_network: beluga_api::podutil::host_network(pod),
        cgroups_path: i.cgroups_path.clone(),
        memory_limit: limit(c, "memory").and_then(|q| beluga_api::quantity::parse_bytes(&q)),
        cpu_limit_millis: limit(c, "cpu").and_then(|q| beluga_api::quantity::parse_millicores(&q)),
    });
    let data =
        serde_json::to_vec_pretty(&cfg).map_err(|e| ("CreateContainerError", e.to_string()))?;
    std::fs::write(i.bundle.join("config.json"), data)
        .map_err(|e| ("CreateContainerError", e.to_string()))?;
    if let Some(logs) = i.dir.log(&c.name, 0).parent() {
        let _ = std::fs::create_dir_all(logs);
    }
    Ok(())
}

/// The binds every container gets unless a volume is mounted there already: the pod's
/// `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, and the termination log at
/// `terminationMessagePath` (spec §8.3, §11.4). Pure.
pub fn pod_binds(
    volume_binds: &[Bind],
    sandbox: &std::path::Path,
    c: &Container,
    termination_log: Option<&std::path::Path>,
) -> Vec<Bind> {
    let mounted = |p: &str| volume_binds.iter().any(|b| b.destination == p);
    let mut extra = Vec::new();
    for (file, dest) in [
        ("hosts", "/etc/hosts"),
        ("hostname", "/etc/hostname"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        if !mounted(dest) {
            extra.push(Bind {
                source: sandbox.join(file).to_string_lossy().into_owned(),
                destination: dest.into(),
                readonly: false,
            });
        }
    }
    let dest = c
        .termination_message_path
        .clone()
        .unwrap_or_else(|| "/dev/termination-log".into());
    if let Some(tlog) = termination_log.filter(|_| !mounted(&dest)) {
        extra.push(Bind {
            source: tlog.to_string_lossy().into_owned(),
            destination: dest,
            readonly: false,
        });
    }
    extra
}

/// The container's capabilities and seccomp filter (spec §10.5), containerd's words on failure.
pub fn confinement(
    seccomp_root: &std::path::Path,
    seccomp_default: bool,
    pod: &Pod,
    c: &Container,
    privileged: bool,
) -> Result<(Vec<String>, Option<serde_json::Value>), String> {
    let caps = c
        .security_context
        .as_ref()
        .and_then(|s| s.capabilities.clone())
        .unwrap_or_default();
    let caps = spec::capabilities(
        &caps.add.unwrap_or_default(),
        &caps.drop.unwrap_or_default(),
        privileged,
    );
    let default = if seccomp_default {
        beluga_runtime::seccomp::Profile::RuntimeDefault
    } else {
        beluga_runtime::seccomp::Profile::Unconfined
    };
    let profile = beluga_runtime::seccomp::profile_of(pod, c, default);
    let filter = beluga_runtime::seccomp::linux_seccomp(&profile, &caps, privileged, seccomp_root)?;
    Ok((caps, filter))
}

pub fn limit(c: &Container, resource: &str) -> Option<String> {
    c.resources
        .as_ref()?
        .limits
        .as_ref()?
        .get(resource)
        .map(|q| q.0.clone())
}

pub fn facts(
    pod: &Pod,
    pod_ips: &[String],
    service_env: Vec<(String, String)>,
    config: process::ConfigSources,
    allocatable: beluga_api::downward::Allocatable,
) -> PodFacts {
    PodFacts {
        config,
        allocatable,
        service_env,
        pod_ip: pod_ips.first().cloned().unwrap_or_default(),
        host_ip: crate::node::host_ip(),
        node_name: crate::node::name(),
        hostname: crate::node::pod_hostname(pod),
    }
}

/// Reads a file of the image beneath its rootfs, never following a link out of it.
pub fn read_in_rootfs(rootfs: &std::path::Path, path: &str) -> String {
    beluga_image::unpack::read_in_root(rootfs, path).unwrap_or_default()
}

/// Spec §10: the full process of a container, and the container's own env (for subPathExpr).
pub fn container_process(
    pod: &Pod,
    c: &Container,
    image: &beluga_image::ImageConfig,
    rootfs: &std::path::Path,
    facts: &PodFacts,
) -> Result<(Process, Vec<(String, String)>), String> {
    let env = process::container_env(pod, c, facts).map_err(|e| e.0)?;
    let args = process::argv(c, image, &env);
    if args.is_empty() {
        return Err("no command specified".into());
    }
    let passwd = read_in_rootfs(rootfs, "etc/passwd");
    let group = read_in_rootfs(rootfs, "etc/group");
    let (uid, gid, additional_gids) =
        process::identity(pod, c, image, &passwd, &group).map_err(|e| e.0)?;
    let cwd = c
        .working_dir
        .clone()
        .filter(|w| !w.is_empty())
        .or_else(|| image.working_dir.clone())
        .unwrap_or_else(|| "/".into());
    let process = Process {
        args,
        env: process::merged_env(image, &env, &podutil::hostname(pod)),
        cwd,
        uid,
        gid,
        additional_gids,
    };
    Ok((process, env))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container(v: serde_json::Value) -> Container {
        serde_json::from_value(v).unwrap()
    }

    fn bind(dest: &str) -> Bind {
        Bind {
            source: "/vol".into(),
            destination: dest.into(),
            readonly: false,
        }
    }

    // spec §8.3 and §11.4: the pod's files and the termination log, unless a volume is there.
    #[test]
    fn pod_binds_yield_to_volumes() {
        let sandbox = std::path::Path::new("/pod/.sandbox");
        let tlog = std::path::Path::new("/pod/.containers/x/termination-log");
        let dests = |binds: Vec<Bind>| -> Vec<(String, String)> {
            binds
                .into_iter()
                .map(|b| (b.destination, b.source))
                .collect()
        };
        let plain = container(serde_json::json!({"name": "c"}));
        assert_eq!(
            dests(pod_binds(&[], sandbox, &plain, Some(tlog))),
            vec![
                ("/etc/hosts".into(), "/pod/.sandbox/hosts".into()),
                ("/etc/hostname".into(), "/pod/.sandbox/hostname".into()),
                (
                    "/etc/resolv.conf".into(),
                    "/pod/.sandbox/resolv.conf".into()
                ),
                ("/dev/termination-log".into(), tlog.display().to_string()),
            ]
        );
        let custom =
            container(serde_json::json!({"name": "c", "terminationMessagePath": "/tmp/msg"}));
        let got = dests(pod_binds(
            &[bind("/etc/hosts"), bind("/tmp/msg")],
            sandbox,
            &custom,
            Some(tlog),
        ));
        assert_eq!(
            got.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(),
            ["/etc/hostname", "/etc/resolv.conf"]
        );
        // No termination log file (it could not be made): no bind for it.
        assert_eq!(pod_binds(&[], sandbox, &plain, None).len(), 3);
    }
}
