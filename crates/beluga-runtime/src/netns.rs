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

/// The gRPC health-check request body (`grpc.health.v1.HealthCheckRequest{service}`), framed.
pub fn grpc_health_request(service: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        let mut n = service.len();
        // varint length
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                msg.push(b);
                break;
            }
            msg.push(b | 0x80);
        }
        msg.extend_from_slice(service.as_bytes());
    }
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    framed.extend_from_slice(&msg);
    framed
}

/// The `status` of a framed `HealthCheckResponse` (1 = SERVING); None when malformed.
pub fn grpc_health_status(body: &[u8]) -> Option<u64> {
    if body.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let msg = body.get(5..5 + len)?;
    let mut i = 0;
    let mut status = 0; // proto3 default: UNKNOWN
    while i < msg.len() {
        let key = msg[i];
        i += 1;
        let (mut v, mut shift) = (0u64, 0);
        if key & 7 != 0 {
            return None; // only varints in this message
        }
        loop {
            let b = *msg.get(i)?;
            i += 1;
            v |= u64::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        if key >> 3 == 1 {
            status = v;
        }
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_framing() {
        assert_eq!(grpc_health_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            grpc_health_request("svc"),
            vec![0, 0, 0, 0, 5, 0x0a, 3, b's', b'v', b'c']
        );
        assert_eq!(grpc_health_status(&[0, 0, 0, 0, 2, 0x08, 0x01]), Some(1));
        assert_eq!(grpc_health_status(&[0, 0, 0, 0, 2, 0x08, 0x02]), Some(2));
        assert_eq!(grpc_health_status(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(grpc_health_status(&[0, 0]), None);
    }
}
