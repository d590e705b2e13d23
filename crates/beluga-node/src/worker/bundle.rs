//! What goes into a container's bundle besides mounts: its process (command, env, user, working
//! directory; spec §10), its limits and its confinement (capabilities, seccomp; spec §10.5).

use super::*;

/// The container's capabilities and seccomp filter (spec §10.5), containerd's words on failure.
pub(super) fn confinement(
    d: &Daemon,
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
    let default = if d.cfg.seccomp_default {
        beluga_runtime::seccomp::Profile::RuntimeDefault
    } else {
        beluga_runtime::seccomp::Profile::Unconfined
    };
    let profile = beluga_runtime::seccomp::profile_of(pod, c, default);
    let filter =
        beluga_runtime::seccomp::linux_seccomp(&profile, &caps, privileged, &d.cfg.seccomp_root())?;
    Ok((caps, filter))
}

pub(super) fn limit(c: &Container, resource: &str) -> Option<String> {
    c.resources
        .as_ref()?
        .limits
        .as_ref()?
        .get(resource)
        .map(|q| q.0.clone())
}

pub fn facts(pod: &Pod) -> PodFacts {
    PodFacts {
        pod_ip: String::new(),
        host_ip: crate::HOST_IP.into(),
        node_name: crate::node_name(),
        hostname: podutil::hostname(pod),
    }
}

/// Reads a file of the image beneath its rootfs, never following a link out of it.
pub(super) fn read_in_rootfs(rootfs: &std::path::Path, path: &str) -> String {
    beluga_image::unpack::read_in_root(rootfs, path).unwrap_or_default()
}

/// Spec §10: the full process of a container, and the container's own env (for subPathExpr).
pub fn container_process(
    pod: &Pod,
    c: &Container,
    image: &beluga_image::ImageConfig,
    rootfs: &std::path::Path,
) -> Result<(Process, Vec<(String, String)>), String> {
    let env = process::container_env(pod, c, &facts(pod)).map_err(|e| e.0)?;
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
