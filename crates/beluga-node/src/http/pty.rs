//! Pseudo-terminals for exec: one of ours of a given size, and the container's own received from
//! the OCI runtime over a console socket (`--console-socket`, the runtime sends the master with
//! `SCM_RIGHTS`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// A terminal's size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub cols: u16,
    pub rows: u16,
}

/// A terminal size's `TIOCSWINSZ` on `master` (a pty master, ours or the container's).
pub fn set_size(master: &OwnedFd, size: Size) -> std::io::Result<()> {
    let ws = rustix::termios::Winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(master, ws)?;
    Ok(())
}

/// A new pseudo-terminal of `size`: (master, slave), both close-on-exec.
pub fn openpty(size: Size) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let slave = rustix::fs::open(name.as_c_str(), flags, Mode::empty())?;
    set_size(&master, size)?;
    Ok((master, slave))
}

/// A listening unix socket in a private directory of its own (removed on drop) for the runtime
/// to send a container's pty master to.
pub struct ConsoleSocket {
    dir: tempfile::TempDir,
    listener: tokio::net::UnixListener,
}

impl ConsoleSocket {
    pub fn bind() -> std::io::Result<ConsoleSocket> {
        // The system's temporary directory keeps the path short (a socket's is at most 107 bytes).
        let dir = tempfile::Builder::new()
            .prefix("beluga-console-")
            .tempdir()?;
        let listener = tokio::net::UnixListener::bind(dir.path().join("s"))?;
        Ok(ConsoleSocket { dir, listener })
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("s")
    }

    /// The master the runtime sends (one connection, one descriptor).
    pub async fn receive(&self) -> std::io::Result<OwnedFd> {
        let (stream, _) = self.listener.accept().await?;
        loop {
            stream.readable().await?;
            match stream.try_io(tokio::io::Interest::READABLE, || receive_fd(&stream)) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                other => return other,
            }
        }
    }
}

/// One `recvmsg` that must carry one descriptor.
fn receive_fd(stream: &tokio::net::UnixStream) -> std::io::Result<OwnedFd> {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    // crun sends the terminal's name as the message's bytes; only the descriptor matters.
    let mut buf = [0u8; 512];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let flags = RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT;
    rustix::net::recvmsg(stream, &mut iov, &mut cmsg, flags)?;
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            if let Some(fd) = fds.next() {
                return Ok(fd);
            }
        }
    }
    Err(std::io::Error::other(
        "the runtime sent no terminal on the console socket",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;
    use std::path::Path;

    // The runtime's side of `--console-socket`: connect, send a pty master with SCM_RIGHTS.
    fn send(path: &Path, fd: &OwnedFd) {
        use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
        let s = UnixStream::connect(path).unwrap();
        let fds = [std::os::fd::AsFd::as_fd(fd)];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        assert!(cmsg.push(SendAncillaryMessage::ScmRights(&fds)));
        let iov = [std::io::IoSlice::new(b"/dev/pts/9")];
        rustix::net::sendmsg(&s, &iov, &mut cmsg, SendFlags::empty()).unwrap();
    }

    #[tokio::test]
    async fn a_sent_master_is_received_with_its_size() {
        let socket = ConsoleSocket::bind().unwrap();
        let (master, _slave) = openpty(Size {
            cols: 100,
            rows: 30,
        })
        .unwrap();
        let path = socket.path();
        let sender = std::thread::spawn(move || send(&path, &master));
        let got = socket.receive().await.unwrap();
        sender.join().unwrap();
        let ws = rustix::termios::tcgetwinsize(&got).unwrap();
        assert_eq!((ws.ws_col, ws.ws_row), (100, 30));
        let path = socket.path();
        drop(socket);
        assert!(!path.exists(), "the socket's directory goes with it");
    }

    #[tokio::test]
    async fn a_message_without_a_descriptor_is_an_error() {
        let socket = ConsoleSocket::bind().unwrap();
        let path = socket.path();
        let sender = std::thread::spawn(move || {
            use std::io::Write;
            UnixStream::connect(path).unwrap().write_all(b"x").unwrap();
        });
        let err = socket.receive().await.unwrap_err();
        sender.join().unwrap();
        assert!(err.to_string().contains("no terminal"), "{err}");
    }
}
