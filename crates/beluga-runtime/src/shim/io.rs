//! A container's output: pipes, and their lines written to the CRI log.

use crate::crilog::{write_record, LineSplitter};
use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use tokio::io::AsyncReadExt;

/// A close-on-exec pipe: (read end, write end).
pub(super) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(std::io::Error::from)?;
    Ok((r, w))
}

/// Copies one output stream of a container into its CRI log, line by line, until it closes.
pub(super) async fn pump(
    fd: OwnedFd,
    stream: &'static str,
    log: Rc<RefCell<crate::crilog::RotatingLog>>,
) {
    let Ok(mut rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut split = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut f = log.borrow_mut();
        for (partial, line) in split.push(&buf[..n]) {
            let _ = write_record(&mut *f, stream, partial, &line);
        }
    }
    if let Some((partial, line)) = split.finish() {
        let _ = write_record(&mut *log.borrow_mut(), stream, partial, &line);
    }
}
