//! File-system primitives that both the image store and the runtime need, in one place:
//! atomic writes, and resolution of untrusted paths beneath a directory descriptor. Two
//! resolutions exist because two meanings exist: an image layer's paths live *in* its root (an
//! absolute symlink means the layer's own `/`), a subPath must stay *beneath* its volume (a
//! symlink that leaves it is refused, as kubelet refuses it).

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{self as rfs, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use std::io::Write;
use std::path::Path;

/// Writes `data` to `path` atomically: a temp file beside it, fsync, rename, then an fsync of
/// the directory so the rename itself survives a crash.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// How a path is resolved against its root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// As if the root were `/` (`RESOLVE_IN_ROOT`): `..` and absolute symlinks stay inside.
    InRoot,
    /// Never out of the root (`RESOLVE_BENEATH`): a path that would leave it is `EXDEV`.
    Beneath,
}

/// Opens `path` relative to `root` with `flags`, resolved as `how` says; magic links
/// (`/proc/self/fd/…`) are never followed. An empty path is the root itself.
pub fn open_at(
    root: BorrowedFd<'_>,
    path: &str,
    flags: OFlags,
    how: Resolve,
) -> rustix::io::Result<OwnedFd> {
    let resolve = match how {
        Resolve::InRoot => ResolveFlags::IN_ROOT,
        Resolve::Beneath => ResolveFlags::BENEATH,
    } | ResolveFlags::NO_MAGICLINKS;
    rfs::openat2(
        root,
        if path.is_empty() { "." } else { path },
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        resolve,
    )
}

/// A failure of [`make_dirs`]: the errno and the prefix it happened at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MakeDirsError {
    pub errno: Errno,
    pub prefix: String,
}

/// Opens the directory `parts` beneath `root`, making each missing component with `mode`
/// (exactly: the umask is undone with `fchmod`) by `mkdirat` beside its parent's descriptor —
/// never by path, so nothing is ever made outside the root, whatever symlinks appear meanwhile.
pub fn make_dirs(
    root: BorrowedFd<'_>,
    parts: &[&str],
    mode: Mode,
    how: Resolve,
) -> Result<OwnedFd, MakeDirsError> {
    let fail = |errno, prefix: &str| MakeDirsError {
        errno,
        prefix: prefix.to_string(),
    };
    let dir = OFlags::RDONLY | OFlags::DIRECTORY;
    // Most calls find the directory there (an image layer opens one per entry); any failure
    // is judged component by component below.
    if let Ok(fd) = open_at(root, &parts.join("/"), dir, how) {
        return Ok(fd);
    }
    let mut parent = open_at(root, "", dir, how).map_err(|e| fail(e, ""))?;
    for i in 0..parts.len() {
        let prefix = parts[..=i].join("/");
        match open_at(root, &prefix, dir, how) {
            Ok(fd) => parent = fd,
            Err(Errno::NOENT) => {
                // mkdirat never follows a symlink in its last component: a name swapped for
                // one meanwhile is EEXIST, and the open below judges what is there now.
                match rfs::mkdirat(&parent, parts[i], mode) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(fail(e, &prefix)),
                }
                let made = open_at(root, &prefix, dir, how).map_err(|e| fail(e, &prefix))?;
                rfs::fchmod(&made, mode).map_err(|e| fail(e, &prefix))?;
                parent = made;
            }
            Err(e) => return Err(fail(e, &prefix)),
        }
    }
    Ok(parent)
}

/// For tests that need root: whether they run as root. Without root they pass vacuously, except
/// under `CI=true`, where that would hide a skipped suite, so there it panics.
pub fn running_as_root_for_tests() -> bool {
    let root = rustix::process::geteuid().is_root();
    assert!(
        root || std::env::var("CI").as_deref() != Ok("true"),
        "this test needs root, and CI=true runs every test"
    );
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fd::AsFd;
    use std::os::unix::fs::PermissionsExt;

    fn root_fd(p: &Path) -> OwnedFd {
        rfs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    // The two resolutions of one symlink that leaves the root.
    #[test]
    fn in_root_and_beneath() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/f"), b"inside").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        let fd = root_fd(&root);
        // InRoot: `/etc` is the root's own etc.
        let f = open_at(fd.as_fd(), "abs/f", OFlags::RDONLY, Resolve::InRoot).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(f), &mut s).unwrap();
        assert_eq!(s, "inside");
        // Beneath: refused.
        let e = open_at(fd.as_fd(), "abs/f", OFlags::RDONLY, Resolve::Beneath).unwrap_err();
        assert_eq!(e, Errno::XDEV);
        assert_eq!(
            open_at(fd.as_fd(), "../x", OFlags::RDONLY, Resolve::Beneath).unwrap_err(),
            Errno::XDEV
        );
    }

    #[test]
    fn make_dirs_stays_beneath_with_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let outside = d.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out")).unwrap();
        let fd = root_fd(&root);
        let mode = Mode::from_raw_mode(0o1777);
        make_dirs(fd.as_fd(), &["a", "b"], mode, Resolve::Beneath).unwrap();
        let m = std::fs::metadata(root.join("a/b"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(m, 0o1777);
        let e = make_dirs(fd.as_fd(), &["out", "x"], mode, Resolve::Beneath).unwrap_err();
        assert_eq!((e.errno, e.prefix.as_str()), (Errno::XDEV, "out"));
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        // InRoot: the symlink's target is looked for inside the root; it is not there, and the
        // symlink's own name is taken: refused, nothing made anywhere.
        assert!(make_dirs(fd.as_fd(), &["out", "x"], mode, Resolve::InRoot).is_err());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        std::fs::create_dir_all(root.join(outside.strip_prefix("/").unwrap())).unwrap();
        make_dirs(fd.as_fd(), &["out", "x"], mode, Resolve::InRoot).unwrap();
        assert!(root
            .join(outside.strip_prefix("/").unwrap())
            .join("x")
            .is_dir());
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn atomic_writes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
