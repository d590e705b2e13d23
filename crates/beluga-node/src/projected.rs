//! A pod's volumes made from objects — `configMap`, `secret`, `downwardAPI`, `projected`
//! (issue 16 item 2) — set up and kept current, as kubelet's volume manager does: each sync
//! computes every such volume's files from the ConfigMaps, Secrets and the pod itself and
//! writes them through the atomic writer when they changed (a written object or a changed pod
//! wakes the pod's worker, so an update reaches its volumes at once). Secrets and projected
//! volumes live on a tmpfs of their own.

use crate::podstate::PodHandle;
use crate::{tokens, Daemon};
use beluga_api::{podutil, Pod};
use beluga_runtime::atomic_writer;
use beluga_runtime::projection::{self, Medium, Objects, Payload};
use beluga_runtime::volumes::{is_mount_point, MountError};
use rustix::mount::{self as rmount, MountFlags};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A volume that could not be set up or refreshed, and whether it was ever set up (a pod's
/// containers wait only for volumes never set up; a running pod keeps the last content).
#[derive(Debug)]
pub struct Failed {
    pub error: MountError,
    pub set_up: bool,
}

/// Sets up or refreshes each of the pod's volumes made from objects; what failed.
pub fn refresh(d: &Daemon, h: &PodHandle) -> Vec<Failed> {
    let pod = h.lock().pod.clone();
    let volumes = pod
        .spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten();
    let mut failed = Vec::new();
    for v in volumes {
        let Some(medium) = projection::medium(v) else {
            continue;
        };
        let dir = h.dir.volume(&v.name);
        let error = |message: String| Failed {
            error: MountError {
                volume: v.name.clone(),
                message,
            },
            set_up: dir.join("..data").exists(),
        };
        let mut objects = objects_of(d, &pod, v);
        objects.tokens = tokens_of(d, h, &pod, v);
        let payload = match projection::payload(v, &pod, &objects, &d.allocatable()) {
            Ok(p) => p,
            Err(e) => {
                failed.push(error(e));
                continue;
            }
        };
        let fs_group = fs_group(&pod);
        let memo = digest(&payload, fs_group);
        if h.lock().projected.get(&v.name) == Some(&memo) {
            continue;
        }
        match write(&dir, medium, &payload, fs_group) {
            Ok(()) => {
                h.lock().projected.insert(v.name.clone(), memo);
            }
            Err(e) => failed.push(error(e.to_string())),
        }
    }
    failed
}

/// The ConfigMaps and Secrets of the pod's namespace the volume names (those that exist).
fn objects_of(
    d: &Daemon,
    pod: &Pod,
    v: &beluga_api::k8s_openapi::api::core::v1::Volume,
) -> Objects {
    let ns = podutil::namespace(pod);
    let (cms, secrets) = projection::sources(v);
    let mut objects = Objects::default();
    for name in cms {
        if let Some(cm) = d.config_maps().get(ns, &name) {
            objects.config_maps.insert(name, cm);
        }
    }
    for name in secrets {
        if let Some(s) = d.secrets().get(ns, &name) {
            objects.secrets.insert(name, s);
        }
    }
    objects
}

/// The volume's tokens by path: each the one issued before while kubelet's rule keeps it,
/// else a new one (`Daemon::issue_token`).
fn tokens_of(
    d: &Daemon,
    h: &PodHandle,
    pod: &Pod,
    v: &beluga_api::k8s_openapi::api::core::v1::Volume,
) -> BTreeMap<String, Result<String, String>> {
    let now = d.exec().clock.now();
    let mut out = BTreeMap::new();
    let sources = v.projected.iter().flat_map(|p| p.sources.iter().flatten());
    for t in sources.filter_map(|s| s.service_account_token.as_ref()) {
        let key = format!("{}/{}", v.name, t.path);
        let kept = h.lock().tokens.get(&key).cloned();
        let token = match kept.filter(|k| now < tokens::refresh_at(k)) {
            Some(k) => Ok(k.token),
            None => d.issue_token(pod, t).map(|issued| {
                let token = issued.token.clone();
                h.lock().tokens.insert(key, issued);
                token
            }),
        };
        out.insert(t.path.clone(), token);
    }
    out
}

/// How long until the first of the pod's tokens is to be renewed (its worker syncs then).
pub fn next_token_refresh(d: &Daemon, h: &PodHandle) -> Option<std::time::Duration> {
    let now = d.exec().clock.now();
    let st = h.lock();
    let first = st.tokens.values().map(tokens::refresh_at).min()?;
    Some(
        first
            .duration_since(now)
            .try_into()
            .unwrap_or(std::time::Duration::ZERO),
    )
}

fn fs_group(pod: &Pod) -> Option<u32> {
    pod.spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref())
        .and_then(|sc| sc.fs_group)
        .and_then(|g| u32::try_from(g).ok())
}

/// What was last written, to skip the comparison with the files when nothing changed.
fn digest(payload: &Payload, fs_group: Option<u32>) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    payload.hash(&mut hasher);
    fs_group.hash(&mut hasher);
    hasher.finish()
}

/// The volume's directory (world-writable on disk as kubelet's wrapped emptyDir; a tmpfs of
/// its own in memory), then the files.
fn write(
    dir: &Path,
    medium: Medium,
    payload: &Payload,
    fs_group: Option<u32>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    match medium {
        Medium::Disk => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?,
        Medium::Memory if !is_mount_point(dir) => rmount::mount(
            "tmpfs",
            dir,
            "tmpfs",
            MountFlags::NOSUID | MountFlags::NODEV,
            None,
        )?,
        Medium::Memory => {}
    }
    atomic_writer::write(dir, payload, fs_group).map(|_| ())
}
