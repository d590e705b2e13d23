//! A pod's cgroup is `/beluga/pod<uid>` (kubelet's `kubepods/pod<uid>`), made here with the
//! pod's pids limit (kubelet's `podPidsLimit`); the runtime creates each container's cgroup at
//! `/beluga/pod<uid>/<id>` and removes it on delete. The pod's cgroup and the shared `/beluga`
//! parent are ours to remove once empty (v1 and v2).

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// The pod's cgroup, relative to a hierarchy's root (the uid without dashes, as in container ids).
pub fn pod_path(uid: &str) -> String {
    format!("beluga/pod{}", uid.replace('-', ""))
}

/// A container's cgroup (the OCI `cgroupsPath`): beneath its pod's, which its id names
/// (`<uid without dashes>-<name>-<attempt>`, see `layout::container_id`).
pub fn container_path(id: &str) -> String {
    let uid = id.split('-').next().unwrap_or(id);
    format!("/{}/{id}", pod_path(uid))
}

/// Whether this host's cgroups are v2 only (`cgroup.controllers` at the root).
fn unified_only() -> bool {
    Path::new(ROOT).join("cgroup.controllers").exists()
}

/// Where the pids controller's cgroups of `rel` live: the v1 `pids` hierarchy, or the v2 tree.
fn pids_dir(rel: &str) -> PathBuf {
    pids_dir_on(rel, unified_only())
}

fn pids_dir_on(rel: &str, v2_only: bool) -> PathBuf {
    if v2_only {
        Path::new(ROOT).join(rel)
    } else {
        Path::new(ROOT).join("pids").join(rel)
    }
}

/// Makes the pod's cgroup and bounds its processes (every container of the pod together, as
/// kubelet's `podPidsLimit`; attack report 5.9). On v2 the pids controller is enabled for
/// `/beluga`'s children first.
pub fn create_pod(uid: &str, pids_max: Option<i64>) -> std::io::Result<()> {
    let dir = pids_dir(&pod_path(uid));
    std::fs::create_dir_all(&dir)?;
    let Some(max) = pids_max else {
        return Ok(());
    };
    if unified_only() {
        for parent in [
            Path::new(ROOT).to_path_buf(),
            Path::new(ROOT).join("beluga"),
        ] {
            std::fs::write(parent.join("cgroup.subtree_control"), "+pids")?;
        }
    }
    std::fs::write(dir.join("pids.max"), max.to_string())
}

/// Removes the pod's cgroup from every hierarchy where it is empty (after its containers').
pub fn remove_pod(uid: &str) {
    let rel = pod_path(uid);
    let _ = std::fs::remove_dir(Path::new(ROOT).join(&rel));
    if let Ok(rd) = std::fs::read_dir(ROOT) {
        for e in rd.flatten() {
            let _ = std::fs::remove_dir(e.path().join(&rel));
        }
    }
}

/// Removes `/beluga` under every cgroup hierarchy where it is empty (rmdir fails when not).
pub fn remove_parent_if_empty() {
    let root = Path::new(ROOT);
    let _ = std::fs::remove_dir(root.join("beluga"));
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let _ = std::fs::remove_dir(e.path().join("beluga"));
        }
    }
}

/// OOM kills recorded for a container's cgroup (v2 `memory.events`, or v1
/// `memory.oom_control`), read before the runtime deletes the cgroup.
pub fn oom_kills(id: &str) -> u64 {
    let rel = container_path(id);
    let rel = rel.trim_start_matches('/');
    let candidates = [
        Path::new(ROOT).join(rel).join("memory.events"),
        Path::new(ROOT)
            .join("memory")
            .join(rel)
            .join("memory.oom_control"),
        Path::new(ROOT)
            .join("unified")
            .join(rel)
            .join("memory.events"),
    ];
    for file in candidates {
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Some(n) = parse_oom_kill(&text) {
                return n;
            }
        }
    }
    0
}

/// The `cgroup.procs` of the caller's own cgroup in the hierarchy that `/proc/self/cgroup`
/// (`text`) names for `pids` (v1), or in the unified tree when the host is v2 only.
pub fn own_procs_file(text: &str, v2_only: bool) -> Option<PathBuf> {
    let rel = text.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let wanted = if v2_only {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == "pids")
        };
        wanted.then(|| path.trim_start_matches('/').to_string())
    })?;
    Some(pids_dir_on(&rel, v2_only).join("cgroup.procs"))
}

/// Moves the calling process into the cgroup it is already in: nothing changes, but the kernel
/// takes its cgroup-migration lock for writing, which first waits for an RCU grace period
/// (10–20 ms here) unless a migration came just before. A container start migrates its first
/// process, so beginning that wait while the pod's files are still being made overlaps it with
/// them (issue 13: `crun run` went from 22 to 11 ms right after such a write). Blocks for the
/// wait; errors (a read-only cgroupfs, a v2 tree that refuses) only mean no head start.
pub fn warm_migration_lock() -> std::io::Result<()> {
    let text = std::fs::read_to_string("/proc/self/cgroup")?;
    let file = own_procs_file(&text, unified_only())
        .ok_or_else(|| std::io::Error::other("no pids cgroup in /proc/self/cgroup"))?;
    std::fs::write(file, std::process::id().to_string())
}

/// The `oom_kill N` line of either file format.
pub fn parse_oom_kill(text: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        l.strip_prefix("oom_kill ")
            .and_then(|n| n.trim().parse().ok())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths() {
        let uid = "5feae3f4-b2cd-4c93-b2cc-ec9df2bc1336";
        let id = crate::layout::container_id(uid, "app", 2);
        assert_eq!(
            super::pod_path(uid),
            "beluga/pod5feae3f4b2cd4c93b2ccec9df2bc1336"
        );
        assert_eq!(
            super::container_path(&id),
            format!("/beluga/pod5feae3f4b2cd4c93b2ccec9df2bc1336/{id}")
        );
    }

    /// The caller's own cgroup, found as the migration-lock warm-up needs it (issue 13 item 3).
    #[test]
    fn own_procs_files() {
        let v1 = "9:name=systemd:/\n8:pids:/a/b\n4:memory:/m\n0::/\n";
        let v2 = "0::/system.slice/x.service\n";
        let cases: [(&str, bool, Option<&str>); 5] = [
            (v1, false, Some("/sys/fs/cgroup/pids/a/b/cgroup.procs")),
            (
                v2,
                true,
                Some("/sys/fs/cgroup/system.slice/x.service/cgroup.procs"),
            ),
            ("0::/\n", true, Some("/sys/fs/cgroup/cgroup.procs")),
            ("4:memory:/m\n", false, None),
            ("garbage", false, None),
        ];
        for (text, v2_only, want) in cases {
            assert_eq!(
                super::own_procs_file(text, v2_only),
                want.map(std::path::PathBuf::from),
                "{text:?}"
            );
        }
    }

    #[test]
    fn oom_kill_lines() {
        assert_eq!(
            super::parse_oom_kill("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"),
            Some(1)
        );
        assert_eq!(
            super::parse_oom_kill("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"),
            Some(2)
        );
        assert_eq!(
            super::parse_oom_kill("oom_kill_disable 0\nunder_oom 0\n"),
            None
        );
    }
}
