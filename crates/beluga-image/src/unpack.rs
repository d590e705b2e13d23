//! Whiteout-aware layer applier. Every path is resolved beneath the layer root with
//! `openat2(RESOLVE_IN_ROOT)` (`beluga-fsutil`), so no entry name, symlink or hard link can
//! reach outside it.
//! OCI whiteouts become overlayfs whiteouts (a 0:0 character device; `trusted.overlay.opaque=y`).

use crate::{ImageError, IoContext, Result};
use beluga_fsutil::{make_dirs, open_at, Resolve};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags};
use sha2::{Digest, Sha256};
use std::io::{self, Read, Write};
use std::path::Path;

/// A reader that hashes what passes through it (diff IDs are digests of the uncompressed tar).
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    pub bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// Reads to the end (tar readers stop before trailing padding) and returns the digest.
    pub fn finish(mut self) -> io::Result<crate::Digest> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(crate::Digest::from_sha256(&self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Opens a possibly compressed layer stream by sniffing its magic bytes.
pub fn decompress<'a, R: Read + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        let k = r.read(&mut magic[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let head = io::Cursor::new(magic[..n].to_vec()).chain(r);
    if n >= 2 && magic[..2] == [0x1f, 0x8b] {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(head)))
    } else if n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
        Ok(Box::new(zstd::stream::read::Decoder::new(head)?))
    } else {
        Ok(Box::new(head))
    }
}

/// Splits a tar path into clean components; `..` is clamped at the root as Docker does.
pub fn clean_components(raw: &[u8]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in raw.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            p => out.push(String::from_utf8_lossy(p).into_owned()),
        }
    }
    out
}

fn in_root(root: BorrowedFd<'_>, path: &str, flags: OFlags) -> rustix::io::Result<OwnedFd> {
    open_at(root, path, flags, Resolve::InRoot)
}

/// Opens (creating as needed, 0755) the directory `parts` beneath `root`.
fn open_dir(root: BorrowedFd<'_>, parts: &[String]) -> Result<OwnedFd> {
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    make_dirs(root, &parts, Mode::from_raw_mode(0o755), Resolve::InRoot).map_err(|e| {
        ImageError::Io {
            context: format!("creating {}", e.prefix),
            source: e.errno.into(),
        }
    })
}

/// Removes whatever is at `name` in `dir` (recursively for directories); absent is fine.
fn remove_at(dir: BorrowedFd<'_>, name: &str) -> Result<()> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e).ctx(|| format!("stat {name}")),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
            let fd_path = format!(
                "/proc/self/fd/{}/{}",
                rustix::fd::AsRawFd::as_raw_fd(&dir),
                name
            );
            std::fs::remove_dir_all(&fd_path).ctx(|| format!("removing {name}"))
        }
        Ok(_) => rfs::unlinkat(dir, name, AtFlags::empty()).ctx(|| format!("removing {name}")),
    }
}

fn is_dir_at(dir: BorrowedFd<'_>, name: &str) -> bool {
    rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
}

/// Reads a file beneath `root` (an image rootfs) without ever resolving outside it.
pub fn read_in_root(root: &Path, path: &str) -> io::Result<String> {
    let rootfd = rfs::open(
        root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let fd = in_root(rootfd.as_fd(), path, OFlags::RDONLY)?;
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s)?;
    Ok(s)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ApplyStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Applies one uncompressed layer tar onto `root` (an empty directory of its own).
pub fn apply_layer(reader: impl Read, root: &Path) -> Result<ApplyStats> {
    let rootfd = rfs::open(
        root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("opening {}", root.display()))?;
    let root_b = rootfd.as_fd();
    let mut archive = tar::Archive::new(reader);
    let mut stats = ApplyStats::default();
    let entries = archive.entries().ctx(|| "reading layer".into())?;
    for entry in entries {
        let mut entry = entry.ctx(|| "reading layer entry".into())?;
        let raw_path = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw_path).into_owned();
        let mut parts = clean_components(&raw_path);
        let Some(name) = parts.pop() else { continue };
        let header = entry.header().clone();
        let kind = header.entry_type();
        stats.entries += 1;

        let parent = open_dir(root_b, &parts)?;
        if let Some(hidden) = name.strip_prefix(".wh.") {
            apply_whiteout(parent.as_fd(), hidden, &display)?;
            continue;
        }
        let mode = Mode::from_raw_mode(header.mode().unwrap_or(0o644) & 0o7777);
        match kind {
            tar::EntryType::Directory => {
                if !is_dir_at(parent.as_fd(), &name) {
                    remove_at(parent.as_fd(), &name)?;
                    rfs::mkdirat(&parent, name.as_str(), mode)
                        .ctx(|| format!("creating {display}"))?;
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_at(parent.as_fd(), &name)?;
                let fd = rfs::openat(
                    &parent,
                    name.as_str(),
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    mode,
                )
                .ctx(|| format!("creating {display}"))?;
                let mut f = std::fs::File::from(fd);
                stats.bytes += io::copy(&mut entry, &mut f).ctx(|| format!("writing {display}"))?;
                f.flush().ctx(|| format!("writing {display}"))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| ImageError::UnsafeEntry {
                        path: display.clone(),
                        reason: "symlink without target".into(),
                    })?;
                remove_at(parent.as_fd(), &name)?;
                rfs::symlinkat(target.as_ref(), &parent, name.as_str())
                    .ctx(|| format!("creating symlink {display}"))?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().map(|t| t.into_owned());
                hard_link(root_b, parent.as_fd(), &name, target.as_deref(), &display)?;
                continue; // a hard link shares the target's metadata
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ft = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let dev = rfs::makedev(
                    header.device_major().ok().flatten().unwrap_or(0),
                    header.device_minor().ok().flatten().unwrap_or(0),
                );
                remove_at(parent.as_fd(), &name)?;
                rfs::mknodat(&parent, name.as_str(), ft, mode, dev)
                    .ctx(|| format!("creating device {display}"))?;
            }
            // PAX/GNU metadata entries are consumed by the tar reader; anything else is skipped.
            _ => continue,
        }
        set_metadata(parent.as_fd(), &name, &header, mode, &display)?;
    }
    Ok(stats)
}

/// An OCI whiteout in `dir`: `.wh..wh..opq` marks the directory opaque, `.wh.<name>` hides
/// `<name>` of the layers below (an overlayfs 0:0 character device). It names an entry of this
/// directory of this layer: never the directory itself or its parent (`.wh...` once emptied the
/// store's staging area, attack report 3.6).
fn apply_whiteout(dir: BorrowedFd<'_>, hidden: &str, display: &str) -> Result<()> {
    if matches!(hidden, "" | "." | "..") {
        return Err(ImageError::UnsafeEntry {
            path: display.to_string(),
            reason: "a whiteout must name an entry of its directory".into(),
        });
    }
    if hidden == ".wh..opq" {
        return rfs::fsetxattr(
            dir,
            "trusted.overlay.opaque",
            b"y",
            rfs::XattrFlags::empty(),
        )
        .ctx(|| format!("marking {display} opaque"));
    }
    remove_at(dir, hidden)?;
    rfs::mknodat(
        dir,
        hidden,
        FileType::CharacterDevice,
        Mode::empty(),
        rfs::makedev(0, 0),
    )
    .ctx(|| format!("creating whiteout for {display}"))
}

/// A hard link to an entry already in the layer (resolved inside its root, never outside).
fn hard_link(
    root: BorrowedFd<'_>,
    dir: BorrowedFd<'_>,
    name: &str,
    target: Option<&[u8]>,
    display: &str,
) -> Result<()> {
    let unsafe_entry = |reason: String| ImageError::UnsafeEntry {
        path: display.to_string(),
        reason,
    };
    let target = target.ok_or_else(|| unsafe_entry("hard link without target".into()))?;
    let target = clean_components(target).join("/");
    let src = in_root(root, &target, OFlags::PATH | OFlags::NOFOLLOW)
        .map_err(|e| unsafe_entry(format!("hard link target {target:?}: {e}")))?;
    remove_at(dir, name)?;
    rfs::linkat(&src, "", dir, name, AtFlags::EMPTY_PATH).ctx(|| format!("linking {display}"))
}

/// Owner, mode (after chown, which clears set-id bits; creation modes are also umasked) and
/// modification time of an entry, as the tar header says.
fn set_metadata(
    dir: BorrowedFd<'_>,
    name: &str,
    header: &tar::Header,
    mode: Mode,
    display: &str,
) -> Result<()> {
    let uid = header.uid().unwrap_or(0) as u32;
    let gid = header.gid().unwrap_or(0) as u32;
    rfs::chownat(
        dir,
        name,
        Some(rfs::Uid::from_raw(uid)),
        Some(rfs::Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .ctx(|| format!("chown {display}"))?;
    if header.entry_type() != tar::EntryType::Symlink {
        rfs::chmodat(dir, name, mode, AtFlags::empty()).ctx(|| format!("chmod {display}"))?;
    }
    let ts = rfs::Timespec {
        tv_sec: header.mtime().unwrap_or(0) as i64,
        tv_nsec: 0,
    };
    let _ = rfs::utimensat(
        dir,
        name,
        &rfs::Timestamps {
            last_access: ts,
            last_modification: ts,
        },
        AtFlags::SYMLINK_NOFOLLOW,
    );
    Ok(())
}

/// Writes a directory tree as an uncompressed tar (the layer of `image import DIR`).
pub fn tar_directory(dir: &Path, out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", dir)
        .ctx(|| format!("archiving {}", dir.display()))?;
    b.into_inner()
        .ctx(|| "finishing archive".into())?
        .flush()
        .ctx(|| "finishing archive".into())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    fn layer(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // Write the name bytes directly so `..` and absolute names reach the applier unchanged.
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_mode(0o777);
        let old = h.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        old.linkname[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        b.append(&h, &[][..]).unwrap();
    }

    fn is_root() -> bool {
        beluga_fsutil::running_as_root_for_tests()
    }

    #[test]
    fn entries_cannot_escape() {
        if !is_root() {
            eprintln!("skipped: needs root for chown");
            return;
        }
        let outside = tempfile::tempdir().unwrap();
        let root_parent = tempfile::tempdir().unwrap();
        let root = root_parent.path().join("layer");
        std::fs::create_dir(&root).unwrap();
        let victim = outside.path().join("victim");
        std::fs::write(&victim, b"original").unwrap();
        let out = outside.path().to_str().unwrap().to_string();
        let data = layer(|b| {
            file(b, "../../escape-dotdot", b"x");
            file(b, "/abs-file", b"x");
            // The symlink's target exists inside the root too: resolution must land there.
            file(
                b,
                &format!("{}/placeholder", out.trim_start_matches('/')),
                b"",
            );
            link(b, tar::EntryType::Symlink, "evil", &out);
            file(b, "evil/victim", b"pwned");
            link(b, tar::EntryType::Symlink, "up", "../../..");
            file(b, "up/through-up", b"x");
            link(b, tar::EntryType::Link, "hard", &format!("{out}/victim"));
        });
        apply_layer(&data[..], &root).unwrap();
        // Nothing outside was touched; the hard link resolved to the copy inside the root.
        assert_eq!(std::fs::read(&victim).unwrap(), b"original");
        assert!(root.join("escape-dotdot").exists());
        assert!(root.join("abs-file").exists());
        // `evil` → <outside> resolved inside the root: the file landed at <root>/<outside>/victim.
        assert_eq!(
            std::fs::read(root.join(out.trim_start_matches('/')).join("victim")).unwrap(),
            b"pwned"
        );
        assert!(root.join("through-up").exists());
        assert!(!root_parent.path().join("escape-dotdot").exists());
        let inside = root.join(out.trim_start_matches('/')).join("victim");
        assert_eq!(
            std::fs::metadata(root.join("hard")).unwrap().ino(),
            std::fs::metadata(&inside).unwrap().ino()
        );
        assert_ne!(
            std::fs::metadata(root.join("hard")).unwrap().ino(),
            std::fs::metadata(&victim).unwrap().ino()
        );
        // A hard link to something that is not inside the root is refused.
        let data = layer(|b| link(b, tar::EntryType::Link, "hard2", "/etc/hostname"));
        let err = apply_layer(&data[..], &root).unwrap_err();
        assert!(matches!(err, ImageError::UnsafeEntry { .. }), "{err}");
    }

    #[test]
    fn whiteouts_become_overlay_whiteouts() {
        if !is_root() {
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let data = layer(|b| {
            file(b, "dir/keep", b"k");
            file(b, "dir/.wh.gone", b"");
            file(b, "opaque/.wh..wh..opq", b"");
            file(b, "hard-src", b"data");
            link(b, tar::EntryType::Link, "hard-dst", "hard-src");
        });
        apply_layer(&data[..], root.path()).unwrap();
        let wh = std::fs::symlink_metadata(root.path().join("dir/gone")).unwrap();
        assert!(wh.file_type().is_char_device());
        assert_eq!(wh.rdev(), 0);
        let v = rustix::fs::getxattr(
            root.path().join("opaque"),
            "trusted.overlay.opaque",
            &mut [0u8; 8],
        )
        .unwrap();
        assert_eq!(v, 1);
        assert_eq!(
            std::fs::metadata(root.path().join("hard-dst"))
                .unwrap()
                .ino(),
            std::fs::metadata(root.path().join("hard-src"))
                .unwrap()
                .ino()
        );
    }

    // Attack report 3.6: `.wh...` at a layer's root once emptied the directory holding it.
    #[test]
    fn whiteouts_name_only_entries_of_their_directory() {
        if !is_root() {
            return;
        }
        let parent = tempfile::tempdir().unwrap();
        let sibling = parent.path().join("other-import/data");
        std::fs::create_dir_all(&sibling).unwrap();
        let root = parent.path().join("layer");
        for name in [".wh...", "d/.wh...", ".wh..", ".wh."] {
            std::fs::create_dir_all(&root).unwrap();
            let data = layer(|b| file(b, name, b""));
            let err = apply_layer(&data[..], &root).unwrap_err();
            assert!(
                matches!(err, ImageError::UnsafeEntry { .. }),
                "{name}: {err}"
            );
            assert!(sibling.is_dir(), "{name} removed a sibling of the layer");
            assert!(root.is_dir(), "{name} removed the layer itself");
        }
    }

    #[test]
    fn clean() {
        assert_eq!(clean_components(b"/a/./b/../c/"), vec!["a", "c"]);
        assert_eq!(clean_components(b"../../x"), vec!["x"]);
        assert!(clean_components(b"./").is_empty());
    }
}
