//! Connections made inside a pod's network namespace (probes and hooks reach the pod at
//! `localhost`, since pods have no address of their own yet). A short-lived thread joins the
//! namespace and connects; the socket stays in that namespace after the thread is gone.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let ns = std::fs::File::open(netns)?;
    std::thread::spawn(move || {
        rustix::thread::move_into_link_name_space(
            ns.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(|e| std::io::Error::other(format!("joining the pod network namespace: {e}")))?;
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("network namespace thread panicked"))?
}

/// A TCP connection to `addr` from inside the namespace pinned at `netns`.
pub fn connect(netns: &Path, addr: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    in_netns(netns, move || {
        TcpStream::connect_timeout(&addr, timeout.max(Duration::from_millis(1)))
    })
}

/// A listener bound inside the namespace (tests run servers "in" a pod this way).
pub fn listen(netns: &Path, addr: SocketAddr) -> std::io::Result<TcpListener> {
    in_netns(netns, move || TcpListener::bind(addr))
}
