//! A pod's cgroup is `<root>/pod<uid>` (kubelet's `kubepods/pod<uid>`), `<root>` being the
//! daemon's `--cgroup-root` (`beluga` by default), made here with the pod's pids limit (kubelet's
//! `podPidsLimit`); the runtime creates each container's cgroup at `<root>/pod<uid>/<id>` and
//! removes it on delete. The pod's cgroup is ours to remove once empty (v1 and v2); the root stays
//! while the daemon runs (as kubelet's `kubepods` does): removed when a pod goes, it raced the
//! runtime making the next container's cgroup beneath it (`mkdir …/beluga/pod…: no such file`).

use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup, under each hierarchy's root, that holds the pods' cgroups: one path component
/// (letters, digits, `.`, `_`, `-`; not `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(String);

impl Default for Root {
    fn default() -> Self {
        Root("beluga".into())
    }
}

impl std::str::FromStr for Root {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if s.is_empty() || s == "." || s == ".." || !s.chars().all(allowed) {
            return Err(format!(
                "{s:?}: a cgroup root is one name of letters, digits, '.', '_' and '-'"
            ));
        }
        Ok(Root(s.to_string()))
    }
}

impl std::fmt::Display for Root {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Root {
    /// The pod's cgroup, relative to a hierarchy's root (the uid without dashes, as in
    /// container ids).
    pub fn pod_path(&self, uid: &str) -> String {
        format!("{}/pod{}", self.0, uid.replace('-', ""))
    }

    /// A container's cgroup (the OCI `cgroupsPath`): beneath its pod's, which its id names
    /// (`<uid without dashes>-<name>-<attempt>`, see `layout::container_id`).
    pub fn container_path(&self, id: &str) -> String {
        let uid = id.split('-').next().unwrap_or(id);
        format!("/{}/{id}", self.pod_path(uid))
    }

    /// Makes the pod's cgroup and bounds its processes (every container of the pod together,
    /// as kubelet's `podPidsLimit`; attack report 5.9). On v2 the pids controller is enabled
    /// for the root's children first.
    pub fn create_pod(&self, uid: &str, pids_max: Option<i64>) -> std::io::Result<()> {
        let dir = pids_dir(&self.pod_path(uid));
        std::fs::create_dir_all(&dir)?;
        let Some(max) = pids_max else {
            return Ok(());
        };
        if unified_only() {
            for parent in [Path::new(ROOT).to_path_buf(), Path::new(ROOT).join(&self.0)] {
                std::fs::write(parent.join("cgroup.subtree_control"), "+pids")?;
            }
        }
        std::fs::write(dir.join("pids.max"), max.to_string())
    }

    /// Removes the pod's cgroup from every hierarchy where it is empty (after its
    /// containers').
    pub fn remove_pod(&self, uid: &str) {
        remove_everywhere(&self.pod_path(uid));
    }

    /// Removes the root under every hierarchy where it is empty (rmdir fails when not): only
    /// when no pod can be starting (the daemon stops, or `--cleanup`).
    pub fn remove_if_empty(&self) {
        remove_everywhere(&self.0);
    }

    /// OOM kills recorded for a container's cgroup (v2 `memory.events`, or v1
    /// `memory.oom_control`), read before the runtime deletes the cgroup.
    pub fn oom_kills(&self, id: &str) -> u64 {
        let rel = self.container_path(id);
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
        candidates
            .iter()
            .find_map(|f| parse_oom_kill(&std::fs::read_to_string(f).ok()?))
            .unwrap_or(0)
    }
}

/// What a container's cgroup has used: CPU time (ns, cumulative) and the memory working set
/// (bytes: usage less inactive file pages, as cAdvisor and metrics-server count it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub cpu_ns: u64,
    pub working_set: u64,
}

impl Root {
    /// A container's usage now, from v2 (`cpu.stat`, `memory.current`, `memory.stat`) or v1
    /// (`cpuacct.usage`, `memory.usage_in_bytes`, `memory.stat`); `None` when its cgroup is gone.
    pub fn usage(&self, id: &str) -> Option<Usage> {
        let rel = self.container_path(id);
        let rel = rel.trim_start_matches('/');
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        let v2 = Path::new(ROOT).join(rel);
        if let Some(stat) = read(v2.join("cpu.stat")) {
            let cpu_ns = stat_value(&stat, "usage_usec")? * 1000;
            let current: u64 = read(v2.join("memory.current"))?.trim().parse().ok()?;
            let inactive = read(v2.join("memory.stat"))
                .and_then(|m| stat_value(&m, "inactive_file"))
                .unwrap_or(0);
            return Some(Usage {
                cpu_ns,
                working_set: current.saturating_sub(inactive),
            });
        }
        let cpu_ns = read(
            Path::new(ROOT)
                .join("cpuacct")
                .join(rel)
                .join("cpuacct.usage"),
        )?
        .trim()
        .parse()
        .ok()?;
        let memory = Path::new(ROOT).join("memory").join(rel);
        let usage: u64 = read(memory.join("memory.usage_in_bytes"))?
            .trim()
            .parse()
            .ok()?;
        let inactive = read(memory.join("memory.stat"))
            .and_then(|m| stat_value(&m, "total_inactive_file"))
            .unwrap_or(0);
        Some(Usage {
            cpu_ns,
            working_set: usage.saturating_sub(inactive),
        })
    }
}

/// A `key value` line's value in a cgroup stat file.
pub fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// rmdir of `rel` in the v2 tree and under every v1 hierarchy (each fails when not empty).
fn remove_everywhere(rel: &str) {
    let _ = std::fs::remove_dir(Path::new(ROOT).join(rel));
    if let Ok(rd) = std::fs::read_dir(ROOT) {
        for e in rd.flatten() {
            let _ = std::fs::remove_dir(e.path().join(rel));
        }
    }
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
    fn stat_values() {
        let stat =
            "usage_usec 1500\nuser_usec 1000\ninactive_file 4096\ntotal_inactive_file 8192\n";
        assert_eq!(super::stat_value(stat, "usage_usec"), Some(1500));
        assert_eq!(super::stat_value(stat, "inactive_file"), Some(4096));
        assert_eq!(super::stat_value(stat, "total_inactive_file"), Some(8192));
        assert_eq!(super::stat_value(stat, "missing"), None);
    }

    use super::Root;

    #[test]
    fn paths() {
        let uid = "5feae3f4-b2cd-4c93-b2cc-ec9df2bc1336";
        let id = crate::layout::container_id(uid, "app", 2);
        let root = Root::default();
        assert_eq!(
            root.pod_path(uid),
            "beluga/pod5feae3f4b2cd4c93b2ccec9df2bc1336"
        );
        assert_eq!(
            root.container_path(&id),
            format!("/beluga/pod5feae3f4b2cd4c93b2ccec9df2bc1336/{id}")
        );
        let other: Root = "beluga-t3".parse().unwrap();
        assert_eq!(
            other.container_path(&id),
            format!("/beluga-t3/pod5feae3f4b2cd4c93b2ccec9df2bc1336/{id}")
        );
    }

    /// `--cgroup-root` names one cgroup beneath each hierarchy's root, nothing else.
    #[test]
    fn roots() {
        for ok in ["beluga", "beluga-t12", "kube_pods.1"] {
            assert_eq!(ok.parse::<Root>().map(|r| r.to_string()), Ok(ok.into()));
        }
        for bad in ["", ".", "..", "a/b", "/beluga", "a b", "é"] {
            assert!(bad.parse::<Root>().is_err(), "{bad:?}");
        }
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
