//! The runtime creates each container's cgroup at `/beluga/<id>` and removes it on delete; the
//! shared `/beluga` parent is ours to remove once no container is left in it (v1 and v2).

use std::path::Path;

/// Removes `/beluga` under every cgroup hierarchy where it is empty (rmdir fails when not).
pub fn remove_parent_if_empty() {
    let root = Path::new("/sys/fs/cgroup");
    let _ = std::fs::remove_dir(root.join("beluga"));
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let _ = std::fs::remove_dir(e.path().join("beluga"));
        }
    }
}

/// OOM kills recorded for a container's cgroup `/beluga/<id>` (v2 `memory.events`, or v1
/// `memory.oom_control`), read before the runtime deletes the cgroup.
pub fn oom_kills(id: &str) -> u64 {
    let candidates = [
        Path::new("/sys/fs/cgroup/beluga")
            .join(id)
            .join("memory.events"),
        Path::new("/sys/fs/cgroup/memory/beluga")
            .join(id)
            .join("memory.oom_control"),
        Path::new("/sys/fs/cgroup/unified/beluga")
            .join(id)
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
