//! A small inotify wrapper for `logs -f`: wake up when a log grows or an exit file appears,
//! instead of polling.

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use std::os::fd::OwnedFd;
use std::path::Path;
use tokio::io::unix::AsyncFd;

pub struct Watch {
    fd: AsyncFd<OwnedFd>,
}

impl Watch {
    /// Watches a directory for writes, creations and renames into it.
    pub fn dir(path: &Path) -> std::io::Result<Watch> {
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        inotify::add_watch(
            &fd,
            path,
            WatchFlags::MODIFY
                | WatchFlags::CREATE
                | WatchFlags::MOVED_TO
                | WatchFlags::CLOSE_WRITE,
        )?;
        // SAFETY: the AsyncFd owns the fd until it is dropped; nothing else closes it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Watch { fd })
    }

    /// Waits for the next batch of events (their content does not matter: callers re-read). A
    /// broken watch is an error, not a wait forever.
    pub async fn changed(&self) -> std::io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let mut buf = [0u8; 4096];
            match rustix::io::read(self.fd.get_ref(), &mut buf) {
                Ok(n) if n > 0 => return Ok(()),
                Ok(_) | Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
