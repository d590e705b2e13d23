//! A container's output: pipes, and their lines written to the CRI log.

use crate::crilog::{write_record, LineSplitter};
use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;

/// A close-on-exec pipe: (read end, write end).
pub(super) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(std::io::Error::from)?;
    Ok((r, w))
}

thread_local! {
    /// The one read buffer of all the shim's pumps. The shim runs on one thread and a pump
    /// holds the buffer only between two awaits, so every container's streams share it instead
    /// of keeping a buffer each (memory per pod is a density figure).
    static READ_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 64 * 1024]);
}

/// The most bytes of records written to the log at once: lines are batched into few writes
/// (one each was a system call per line), and a rotation still falls between records, each
/// file staying within its size for any size above this.
const BATCH: usize = 16 * 1024;

/// The records of `lines`, written in batches of at most `BATCH` bytes (a longer record alone).
fn write_records(
    log: &mut crate::crilog::RotatingLog,
    stream: &str,
    lines: impl IntoIterator<Item = (bool, Vec<u8>)>,
) {
    use std::io::Write;
    let mut batch = Vec::with_capacity(BATCH);
    for (partial, line) in lines {
        let before = batch.len();
        let _ = write_record(&mut batch, stream, partial, &line);
        if batch.len() > BATCH && before > 0 {
            // This record would overflow the batch: what came before goes first.
            let _ = log.write_all(&batch[..before]);
            batch.drain(..before);
        }
        if batch.len() >= BATCH {
            let _ = log.write_all(&batch);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        let _ = log.write_all(&batch);
    }
}

/// Copies one output stream of a container into its CRI log, line by line, until it closes.
pub(super) async fn pump(
    fd: OwnedFd,
    stream: &'static str,
    log: Rc<RefCell<crate::crilog::RotatingLog>>,
) {
    let Ok(rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut split = LineSplitter::default();
    loop {
        if rx.readable().await.is_err() {
            break;
        }
        let more = READ_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            match rx.try_read(&mut buf) {
                Ok(0) => false,
                Ok(n) => {
                    write_records(&mut log.borrow_mut(), stream, split.push(&buf[..n]));
                    true
                }
                Err(e) => matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ),
            }
        });
        if !more {
            break;
        }
        // `readable` answers at once while data waits: without a turn given after each read a
        // flooding container kept the shim's one thread from its other containers' output and
        // requests for seconds (a budget of 128 reads was ≈ 400,000 short lines).
        tokio::task::yield_now().await;
    }
    if let Some((partial, line)) = split.finish() {
        let _ = write_record(&mut *log.borrow_mut(), stream, partial, &line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Batched records still rotate between records: every file within its size, every line
    // there once, in order.
    #[test]
    fn batched_records_rotate_between_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.log");
        let mut log = crate::crilog::RotatingLog::open(&path, 64 * 1024, 1000).expect("log");
        let lines: Vec<(bool, Vec<u8>)> = (0..20_000)
            .map(|i| (false, format!("line {i}").into_bytes()))
            .collect();
        write_records(&mut log, "stdout", lines);
        // The compression runs on a thread of its own: it must be done before the tempdir goes
        // (a dropped log leaves it running, and it once outlived the directory's removal).
        log.wait_compression();
        drop(log);
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        // Rotated files by their time (compressed or not), the live one last.
        let plain =
            |p: &std::path::PathBuf| p.to_string_lossy().trim_end_matches(".gz").to_string();
        files.sort_by_key(|p| (p == &path, plain(p)));
        let mut seen = Vec::new();
        for f in &files {
            let mut text = String::new();
            let file = std::fs::File::open(f).expect("open");
            if f.to_string_lossy().ends_with(".gz") {
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(file), &mut text)
            } else {
                std::io::Read::read_to_string(&mut &file, &mut text)
            }
            .expect("read");
            assert!(text.len() <= 64 * 1024, "{f:?}: {}", text.len());
            assert!(text.ends_with('\n'));
            seen.extend(
                text.lines()
                    .map(|l| l.rsplit(" F ").next().unwrap_or("").to_string()),
            );
        }
        // Every line once, in order, across the rotated files (plain or gzipped) and the live one.
        let numbers: Vec<usize> = seen
            .iter()
            .map(|l| l.trim_start_matches("line ").parse().expect("number"))
            .collect();
        assert_eq!(numbers, (0..20_000).collect::<Vec<_>>());
        let live = std::fs::read_to_string(&path).expect("live");
        let first: usize = live
            .lines()
            .next()
            .and_then(|l| l.rsplit("line ").next())
            .and_then(|n| n.parse().ok())
            .expect("first");
        let count = live.lines().count();
        assert_eq!(first + count, 20_000, "the live file holds a gapless tail");
    }
}
