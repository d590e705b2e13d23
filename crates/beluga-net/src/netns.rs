//! Whether a sandbox's network namespace is still there to be entered.

use std::path::{Path, PathBuf};

/// `NSFS_MAGIC`: the file system of a namespace file (a pin is a bind mount of one); `f_type`
/// is signed on some architectures, unsigned on others.
const NSFS_MAGIC: u64 = 0x6e73_6673;

/// True when `path` is a namespace file (a live pin), not the empty file a pin leaves once it
/// is unmounted (after a reboot, or a crash mid-teardown).
pub fn is_namespace(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type as u64 == NSFS_MAGIC)
}

/// The `CNI_NETNS` a DEL is given: the pin while it holds a namespace, otherwise none, as
/// containerd passes for a closed one; plugins then release what lives outside the namespace
/// (the address) instead of failing on a file that is no namespace ("unknown FS magic").
pub fn for_del(pin: PathBuf) -> PathBuf {
    if is_namespace(&pin) {
        pin
    } else {
        PathBuf::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 14 item 6: a DEL after the pin is gone still releases the address.
    #[test]
    fn only_namespace_files_are_namespaces() {
        assert!(is_namespace(Path::new("/proc/self/ns/net")));
        let f = std::env::temp_dir().join(format!("beluga-netns-test-{}", std::process::id()));
        std::fs::write(&f, "").unwrap();
        assert!(!is_namespace(&f));
        assert_eq!(for_del(f.clone()), PathBuf::new());
        let _ = std::fs::remove_file(&f);
        assert!(!is_namespace(Path::new("/nonexistent/pin")));
        assert_eq!(
            for_del(PathBuf::from("/proc/self/ns/net")),
            PathBuf::from("/proc/self/ns/net")
        );
    }
}
