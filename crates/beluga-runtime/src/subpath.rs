//! Safe subPath mounts (spec §11.2), as kubelet does them since CVE-2017-1002101: the subPath is
//! resolved beneath the volume root on descriptors (`openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_MAGICLINKS)`, `beluga-fsutil`), missing directories are made with `mkdirat`
//! relative to the descriptor of their parent, and what was resolved is bind-mounted through its descriptor
//! (`/proc/self/fd/N`) onto a path of beluga's own, which the runtime then mounts. Nothing
//! re-resolves the user's path after the check, so a container swapping a directory for a
//! symlink cannot redirect the mount (attack report 2.2–2.4), and nothing is ever made outside
//! the volume.

use beluga_fsutil::{make_dirs, open_at, Resolve};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{self as rfs, Mode, OFlags};
use rustix::io::Errno;
use std::path::Path;

/// Which of kubelet's two steps failed; the detail is for the daemon's log only (kubelet keeps
/// host paths out of what users see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Making a missing directory of the subPath (`SafeMakeDir`).
    Create(String),
    /// Resolving or mounting it (`PrepareSafeSubpath`).
    Prepare(String),
}

impl Failure {
    /// kubelet's message for the container's `CreateContainerConfigError`.
    pub fn message(&self, mount: &str, container: &str) -> String {
        match self {
            Failure::Create(_) => format!(
                "failed to create subPath directory for volumeMount {mount:?} of container {container:?}"
            ),
            Failure::Prepare(_) => format!(
                "failed to prepare subPath for volumeMount {mount:?} of container {container:?}"
            ),
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Failure::Create(d) | Failure::Prepare(d) => d,
        }
    }
}

/// The clean components of a subPath; `..` and absolute paths are refused (validation already
/// refuses them in `subPath`; `subPathExpr` is only known here).
pub fn components(sub: &str) -> Result<Vec<&str>, Failure> {
    if sub.starts_with('/') {
        return Err(Failure::Prepare(format!(
            "subPath {sub:?} must be relative"
        )));
    }
    let parts: Vec<&str> = sub
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.contains(&"..") {
        return Err(Failure::Prepare(format!(
            "subPath {sub:?} must not contain '..'"
        )));
    }
    Ok(parts)
}

fn describe(sub: &str, e: Errno) -> String {
    match e {
        Errno::XDEV | Errno::LOOP => format!("subPath {sub:?} resolves outside the volume"),
        e => format!("subPath {sub:?}: {}", std::io::Error::from(e)),
    }
}

/// Resolves `sub` beneath the volume at `root` (creating missing directories) and bind-mounts
/// it at `target`, a path of beluga's own that is made here (a directory or an empty file, as
/// what was resolved). The runtime mounts `target`, never the user's path.
pub fn prepare(root: &Path, sub: &str, target: &Path) -> Result<(), Failure> {
    let parts = components(sub)?;
    // The volume's own path is beluga's (emptyDir) or the pod author's (hostPath): trusted.
    let rootfd = rfs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        Failure::Prepare(format!(
            "volume {}: {}",
            root.display(),
            std::io::Error::from(e)
        ))
    })?;
    let joined = parts.join("/");
    let fd = match open_at(rootfd.as_fd(), &joined, OFlags::PATH, Resolve::Beneath) {
        Ok(fd) => fd,
        // Missing: made as a directory with the volume root's mode, as kubelet does.
        Err(Errno::NOENT) => {
            let mode = rfs::fstat(&rootfd)
                .map(|st| Mode::from_raw_mode(st.st_mode & 0o7777))
                .map_err(|e| Failure::Create(describe(sub, e)))?;
            make_dirs(rootfd.as_fd(), &parts, mode, Resolve::Beneath)
                .map_err(|e| Failure::Create(describe(sub, e.errno)))?
        }
        // kubelet's first step (SafeMakeDir) is what refuses a subPath leaving the volume.
        Err(e) => return Err(Failure::Create(describe(sub, e))),
    };
    let is_dir = rfs::fstat(&fd)
        .map(|st| rfs::FileType::from_raw_mode(st.st_mode) == rfs::FileType::Directory)
        .map_err(|e| Failure::Prepare(describe(sub, e)))?;
    bind_fd(&fd, is_dir, target).map_err(|e| Failure::Prepare(format!("subPath {sub:?}: {e}")))
}

/// Bind-mounts the file `fd` refers to at `target` through the descriptor itself.
fn bind_fd(fd: &OwnedFd, is_dir: bool, target: &Path) -> std::io::Result<()> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)?;
    }
    if is_dir {
        std::fs::create_dir_all(target)?;
    } else {
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(target)?;
    }
    let source = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::mount::mount_bind(source.as_str(), target)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn is_root() -> bool {
        beluga_fsutil::running_as_root_for_tests()
    }

    // spec §11.2: relative, no `..`.
    #[test]
    fn components_are_clean_and_relative() {
        assert_eq!(components("a/./b//c/").unwrap(), vec!["a", "b", "c"]);
        assert!(components("").unwrap().is_empty());
        assert!(components("/etc").is_err());
        assert!(components("a/../../x").is_err());
        let f = Failure::Create("x".into());
        assert_eq!(
            f.message("data", "app"),
            "failed to create subPath directory for volumeMount \"data\" of container \"app\""
        );
        assert_eq!(
            Failure::Prepare("x".into()).message("data", "app"),
            "failed to prepare subPath for volumeMount \"data\" of container \"app\""
        );
    }

    // Attack report 2.2/2.3: a symlink planted in the volume never makes the daemon create
    // anything outside it, and the mount is refused.
    #[test]
    fn nothing_is_made_outside_the_volume() {
        if !is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let vol = d.path().join("vol");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&vol).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::set_permissions(&vol, std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::os::unix::fs::symlink(&outside, vol.join("escape")).unwrap();
        std::os::unix::fs::symlink("../outside", vol.join("climb")).unwrap();
        std::os::unix::fs::symlink("/", vol.join("root")).unwrap();
        for sub in [
            "escape/newdir",
            "climb/a/b/c",
            "root/beluga-subpath-probe",
            "escape",
            "root",
        ] {
            let target = d.path().join("target").join(sub.replace('/', "_"));
            let err = prepare(&vol, sub, &target).unwrap_err();
            assert!(
                matches!(err, Failure::Create(_) | Failure::Prepare(_)),
                "{sub}"
            );
            assert!(
                err.detail().contains("outside the volume"),
                "{sub}: {err:?}"
            );
        }
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert!(!Path::new("/beluga-subpath-probe").exists());
    }

    // spec §11.2: a missing subPath is made inside the volume with the root's mode, mounted
    // through its descriptor; a symlink that stays inside is followed, as kubelet does.
    #[test]
    fn made_inside_with_the_volume_mode_and_mounted() {
        if !is_root() {
            return;
        }
        let d = tempfile::tempdir().unwrap();
        let vol = d.path().join("vol");
        std::fs::create_dir_all(vol.join("real")).unwrap();
        std::fs::set_permissions(&vol, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink("real", vol.join("inside")).unwrap();
        std::fs::write(vol.join("real/file"), b"f").unwrap();
        let target = d.path().join("t/0");
        prepare(&vol, "a/b", &target).unwrap();
        let mode = std::fs::metadata(vol.join("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(mode, 0o777);
        std::fs::write(target.join("through-mount"), b"x").unwrap();
        assert!(vol.join("a/b/through-mount").is_file());
        rustix::mount::unmount(&target, rustix::mount::UnmountFlags::empty()).unwrap();
        let file_target = d.path().join("t/1");
        prepare(&vol, "inside/file", &file_target).unwrap();
        assert_eq!(std::fs::read(&file_target).unwrap(), b"f");
        rustix::mount::unmount(&file_target, rustix::mount::UnmountFlags::empty()).unwrap();
    }
}
