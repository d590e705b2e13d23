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
                    let mut f = log.borrow_mut();
                    for (partial, line) in split.push(&buf[..n]) {
                        let _ = write_record(&mut *f, stream, partial, &line);
                    }
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
        // `readable` answers at once while data waits: without this a flooding container would
        // keep the shim's one thread from its other containers' output and requests.
        tokio::task::coop::consume_budget().await;
    }
    if let Some((partial, line)) = split.finish() {
        let _ = write_record(&mut *log.borrow_mut(), stream, partial, &line);
    }
}
