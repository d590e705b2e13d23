//! kubelet's `AtomicWriter` (issue 16 item 2): a volume's files in a hidden timestamped
//! directory, `..data` a symlink to it, each top-level name a symlink through `..data`; a new
//! version is written beside the old one and `..data` renamed over, so a reader sees the old set
//! or the new one, never a mix. Names starting with `..` are the writer's.

use crate::projection::Payload;
use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

const DATA: &str = "..data";
const DATA_TMP: &str = "..data_tmp";

/// Writes `payload` into `target` (which exists) unless it holds that content already; with
/// `fs_group`, the files are that group's and readable by it (kubelet's `SetVolumeOwnership` of a
/// read-only volume). Returns whether anything was written.
pub fn write(target: &Path, payload: &Payload, fs_group: Option<u32>) -> io::Result<bool> {
    let data_link = target.join(DATA);
    let old = match std::fs::read_link(&data_link) {
        Ok(p) => Some(target.join(p)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    let mut remove = BTreeSet::new();
    if let Some(old) = old.as_deref() {
        remove = paths_to_remove(payload, old)?;
        if !differs(payload, old)? && remove.is_empty() {
            return Ok(false);
        }
    }
    let ts = new_timestamp_dir(target)?;
    let written = write_payload(payload, &ts).and_then(|()| match fs_group {
        Some(g) => own(&ts, g),
        None => Ok(()),
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&ts);
        return Err(e);
    }
    visible_links(target, payload)?;
    let tmp_link = target.join(DATA_TMP);
    let _ = std::fs::remove_file(&tmp_link);
    let name = ts.file_name().map(PathBuf::from).unwrap_or_default();
    let swapped = std::os::unix::fs::symlink(&name, &tmp_link)
        .and_then(|()| std::fs::rename(&tmp_link, &data_link));
    if let Err(e) = swapped {
        let _ = std::fs::remove_file(&tmp_link);
        let _ = std::fs::remove_dir_all(&ts);
        return Err(e);
    }
    for p in remove.iter().filter(|p| !p.contains('/')) {
        let _ = std::fs::remove_file(target.join(p));
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(old)?;
    }
    Ok(true)
}

/// Whether any file of the payload is missing from, or other than, the current version.
fn differs(payload: &Payload, old: &Path) -> io::Result<bool> {
    for (path, f) in payload {
        match std::fs::read(old.join(path)) {
            Ok(on_disk) if on_disk == f.data => {}
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}

/// The current version's paths (files and directories) that the payload no longer has.
fn paths_to_remove(payload: &Payload, old: &Path) -> io::Result<BTreeSet<String>> {
    let mut current = BTreeSet::new();
    walk(old, "", &mut current)?;
    let mut keep = BTreeSet::new();
    for path in payload.keys() {
        let mut p = path.as_str();
        loop {
            keep.insert(p.to_string());
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => break,
            }
        }
    }
    Ok(current.difference(&keep).cloned().collect())
}

fn walk(dir: &Path, prefix: &str, out: &mut BTreeSet<String>) -> io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for e in entries {
        let e = e?;
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        if e.file_type()?.is_dir() {
            walk(&e.path(), &format!("{name}/"), out)?;
        }
        out.insert(name);
    }
    Ok(())
}

/// `..<UTC time>.<digits>`, 0755 whatever the umask.
fn new_timestamp_dir(target: &Path) -> io::Result<PathBuf> {
    let now = beluga_api::k8s_openapi::jiff::Timestamp::now();
    let stamp = now.strftime("%Y_%m_%d_%H_%M_%S").to_string();
    let mut n = now.subsec_nanosecond().unsigned_abs() ^ std::process::id();
    loop {
        let dir = target.join(format!("..{stamp}.{n:09}"));
        match std::fs::DirBuilder::new().mode(0o755).create(&dir) {
            Ok(()) => {
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
                return Ok(dir);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n = n.wrapping_add(1),
            Err(e) => return Err(e),
        }
    }
}

/// Each file at its mode (not masked by the umask), directories 0755.
fn write_payload(payload: &Payload, dir: &Path) -> io::Result<()> {
    for (path, f) in payload {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(parent)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(f.mode)
            .open(&full)?;
        io::Write::write_all(&mut file, &f.data)?;
        file.set_permissions(std::fs::Permissions::from_mode(f.mode))?;
    }
    Ok(())
}

/// The top-level names as symlinks through `..data` (made once; they follow every version).
fn visible_links(target: &Path, payload: &Payload) -> io::Result<()> {
    let tops: BTreeSet<&str> = payload
        .keys()
        .map(|p| p.split('/').next().unwrap_or(p))
        .collect();
    for top in tops {
        let link = target.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA).join(top), &link)?;
        }
    }
    Ok(())
}

/// kubelet's `SetVolumeOwnership` for a read-only volume: group `gid`, group-readable files,
/// group-searchable set-gid directories.
fn own(dir: &Path, gid: u32) -> io::Result<()> {
    let set = |p: &Path, is_dir: bool| -> io::Result<()> {
        std::os::unix::fs::lchown(p, None, Some(gid))?;
        let mode = std::fs::metadata(p)?.permissions().mode() & 0o7777;
        let add = if is_dir { 0o550 | 0o2000 } else { 0o440 };
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | add))
    };
    set(dir, true)?;
    let mut all = BTreeSet::new();
    walk(dir, "", &mut all)?;
    for p in all {
        let full = dir.join(&p);
        set(&full, std::fs::symlink_metadata(&full)?.is_dir())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
