//! Following a container's CRI log as it grows, across rotations (`logs -f`). The reader keeps
//! its file open: a rotation renames the live name to `<n>.log.<stamp>` (the same file, so the
//! open descriptor still reads everything written before it) and puts a fresh file at the live
//! name. When the live name stops being the file held, that file is read to its end, then any
//! rotated file that came after it (plain or already gzipped), then the new live file from its
//! start: no record is lost or read twice (review P6: reopening the path at the old offset
//! skipped the start of every new file). kubelet's reader reopens on rotation the same way.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A log being followed.
pub struct Follower {
    path: PathBuf,
    file: Option<std::fs::File>,
    /// (device, inode) of `file`.
    id: Option<(u64, u64)>,
    /// The newest rotation stamp older than `file`: when `file` is rotated its stamp is the
    /// first one after this, whatever became of it since (gzipped: another inode).
    before: String,
}

fn id_of(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

fn read_to_end(f: &mut std::fs::File, out: &mut Vec<u8>) {
    let _ = f.read_to_end(out);
}

impl Follower {
    /// Follows `path` from byte `offset` of the file now at that name.
    pub fn new(path: &Path, offset: u64) -> Follower {
        let mut f = Follower {
            path: path.to_path_buf(),
            file: None,
            id: None,
            before: String::new(),
        };
        if let Ok(mut file) = std::fs::File::open(path) {
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                f.id = file.metadata().ok().map(|m| id_of(&m));
                f.file = Some(file);
                f.before = f.stamp_before_held();
            }
        }
        f
    }

    /// Everything written since the last call, in order, across any rotations meanwhile.
    pub fn read_new(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.file.is_none() && !self.open_live(&mut out) {
            return out;
        }
        for _ in 0..64 {
            if let Some(f) = self.file.as_mut() {
                read_to_end(f, &mut out);
            }
            let live = std::fs::metadata(&self.path).ok().map(|m| id_of(&m));
            if live.is_none() || live == self.id {
                break;
            }
            // Rotated: what was written to the held file before the rotation is read above
            // (the writer switches files only when it rotates); then the files after it.
            for later in self.rotated_after() {
                read_whole(&later, &mut out);
            }
            self.file = None;
            if !self.open_live(&mut out) {
                break;
            }
        }
        out
    }

    /// Opens the file now at the live name, from its start.
    fn open_live(&mut self, out: &mut Vec<u8>) -> bool {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return false;
        };
        self.id = file.metadata().ok().map(|m| id_of(&m));
        read_to_end(&mut file, out);
        self.file = Some(file);
        self.before = self.stamp_before_held();
        true
    }

    /// The rotated files by stamp, oldest first, one entry per rotation (a plain file and its
    /// `.gz` are the same one), compressions under way left out.
    fn rotated(&self) -> Vec<(String, PathBuf)> {
        let (Some(dir), Some(name)) = (
            self.path.parent(),
            self.path.file_name().and_then(|n| n.to_str()),
        ) else {
            return vec![];
        };
        let prefix = format!("{name}.");
        let mut rotated: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let n = e.file_name().to_str()?.to_string();
                let stamp = n.strip_prefix(&prefix)?.trim_end_matches(".gz").to_string();
                (!n.ends_with(".tmp")).then_some((stamp, e.path()))
            })
            .collect();
        rotated.sort();
        rotated.dedup_by(|a, b| a.0 == b.0);
        rotated
    }

    /// Where the held file's own rotation will sort: after every rotation there now, except its
    /// own if it was rotated already between its opening and this look (found by its inode).
    fn stamp_before_held(&self) -> String {
        let rotated = self.rotated();
        let own = rotated.iter().position(|(_, p)| self.is_held(p));
        let older = match own {
            Some(i) => &rotated[..i],
            None => &rotated[..],
        };
        older.last().map(|(s, _)| s.clone()).unwrap_or_default()
    }

    fn is_held(&self, p: &Path) -> bool {
        std::fs::symlink_metadata(p).is_ok_and(|m| Some(id_of(&m)) == self.id)
    }

    /// Rotated files newer than the one held, oldest first. The held file is found among them
    /// by its inode while it is there as a plain file; once gzipped (another inode) by its
    /// stamp, the first after the newest rotation older than it.
    fn rotated_after(&self) -> Vec<PathBuf> {
        let rotated = self.rotated();
        let first_later = rotated.iter().position(|(s, _)| *s > self.before);
        let held = rotated
            .iter()
            .position(|(_, p)| self.is_held(p))
            .or_else(|| {
                // Its stamp, if that is the held file gzipped (and not pruned, the next one left).
                first_later.filter(|&i| self.is_held_gzipped(&rotated[i].1))
            });
        match (held, first_later) {
            (Some(i), _) => rotated[i + 1..].iter().map(|(_, p)| p.clone()).collect(),
            // The held file was pruned before it was seen rotated: everything after it.
            (None, Some(i)) => rotated[i..].iter().map(|(_, p)| p.clone()).collect(),
            (None, None) => vec![],
        }
    }

    /// Whether `p` (a rotated name) is now the held file's `.gz`: gzip's trailer gives the size
    /// of what it holds (mod 2³²), which must be the held file's.
    fn is_held_gzipped(&self, p: &Path) -> bool {
        let gz = PathBuf::from(format!(
            "{}.gz",
            p.to_string_lossy().trim_end_matches(".gz")
        ));
        let Some(size) = self
            .file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.len())
        else {
            return false;
        };
        let Ok(mut f) = std::fs::File::open(&gz) else {
            return false;
        };
        let mut isize = [0u8; 4];
        f.seek(SeekFrom::End(-4)).is_ok()
            && f.read_exact(&mut isize).is_ok()
            && u64::from(u32::from_le_bytes(isize)) == size % (1 << 32)
    }
}

/// A rotated file's records, gzipped or not (a compression may swap the file for its `.gz`
/// meanwhile: the other name is tried).
fn read_whole(path: &Path, out: &mut Vec<u8>) {
    let plain = PathBuf::from(path.to_string_lossy().trim_end_matches(".gz").to_string());
    let gz = PathBuf::from(format!("{}.gz", plain.display()));
    if let Ok(mut f) = std::fs::File::open(&plain) {
        read_to_end(&mut f, out);
    } else if let Ok(f) = std::fs::File::open(&gz) {
        let _ = flate2::read::GzDecoder::new(f).read_to_end(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crilog::{read_lines, write_record, RotatingLog};

    // Review P6: every record, once, in order, however often the log rotates between reads
    // (one rotation, several, with gzipped files in between).
    #[test]
    fn follows_across_rotations() {
        for (per_read, max_files) in [(1usize, 5usize), (7, 5), (20, 12), (40, 3), (200, 10)] {
            let d = tempfile::tempdir().unwrap();
            let path = d.path().join("0.log");
            let mut log = RotatingLog::open(&path, 300, max_files).unwrap();
            let mut follow = Follower::new(&path, 0);
            let mut got = Vec::new();
            for i in 0..1000 {
                write_record(&mut log, "stdout", false, format!("{i:05}").as_bytes()).unwrap();
                if i % per_read == 0 {
                    log.wait_compression();
                    got.extend(follow.read_new());
                }
            }
            log.wait_compression();
            got.extend(follow.read_new());
            let lines: Vec<String> = read_lines(&got)
                .into_iter()
                .map(|l| String::from_utf8(l.content).unwrap().trim_end().to_string())
                .collect();
            let want: Vec<String> = (0..1000).map(|i| format!("{i:05}")).collect();
            if per_read * 50 <= 300 * (max_files - 1) {
                // The reader keeps up with pruning: nothing may be missing.
                assert!(
                    lines == want,
                    "every {per_read} records, {max_files} files: {} of 1000",
                    lines.len()
                );
            } else {
                // Records pruned before a slow reader came are gone, but never out of order
                // or twice.
                let mut sorted = lines.clone();
                sorted.sort();
                sorted.dedup();
                assert!(
                    sorted == lines && lines.last() == want.last(),
                    "every {per_read} records, {max_files} files"
                );
            }
        }
    }
}
