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
