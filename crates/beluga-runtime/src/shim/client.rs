//! The daemon's side of a shim: spawning it, calls bounded by kubelet's runtime request timeout,
//! the exit subscription, and waiting for the shim to be gone.

use super::args::ShimOptions;
use super::protocol::Request;
use super::protocol::Response;
use crate::layout::PodDir;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A unix socket path usable whatever its length: `sun_path` holds 108 bytes, pod directories can
/// be longer, so long paths go through `/proc/self/fd/<dir>/<name>` (keep the guard alive).
pub fn short_socket_path(path: &Path) -> std::io::Result<(PathBuf, Option<std::fs::File>)> {
    if path.as_os_str().len() < 100 {
        return Ok((path.to_path_buf(), None));
    }
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("socket path has no directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("socket path has no file name"))?;
    let f = std::fs::File::open(dir)?;
    Ok((
        PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd())).join(name),
        Some(f),
    ))
}

/// A daemon-side connection to a pod's shim.
pub struct ShimClient {
    pub socket: PathBuf,
}

/// kubelet's default `--runtime-request-timeout`.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

async fn bounded<T>(
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the pod's shim did not answer within 2m0s",
            ))
        })
}

impl ShimClient {
    async fn connect(&self) -> std::io::Result<tokio::net::UnixStream> {
        let (path, _guard) = short_socket_path(&self.socket)?;
        tokio::net::UnixStream::connect(&path).await
    }

    /// One request and its answer, within kubelet's `runtimeRequestTimeout` (2 minutes): a
    /// stuck shim fails the call instead of holding the pod's worker forever.
    pub async fn call(&self, req: &Request) -> std::io::Result<Response> {
        bounded(self.call_unbounded(req)).await
    }

    async fn call_unbounded(&self, req: &Request) -> std::io::Result<Response> {
        let stream = self.connect().await?;
        let (r, mut w) = stream.into_split();
        let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
        line.push(b'\n');
        w.write_all(&line).await?;
        let mut lines = BufReader::new(r).lines();
        let resp = lines.next_line().await?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "shim closed the connection",
            )
        })?;
        serde_json::from_str(&resp).map_err(std::io::Error::other)
    }

    /// A stream of exits; ends (None) when the shim goes away.
    pub async fn subscribe(
        &self,
    ) -> std::io::Result<tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>> {
        // The handshake is bounded; the stream itself lasts as long as the shim.
        bounded(self.subscribe_unbounded()).await
    }

    async fn subscribe_unbounded(
        &self,
    ) -> std::io::Result<tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>> {
        let stream = self.connect().await?;
        let (r, mut w) = stream.into_split();
        w.write_all(b"{\"op\":\"subscribe\"}\n").await?;
        let mut lines = BufReader::new(r).lines();
        let first = lines.next_line().await?;
        if first
            .as_deref()
            .map(|l| serde_json::from_str::<Response>(l).ok())
            != Some(Some(Response::Ok))
        {
            return Err(std::io::Error::other("shim refused subscription"));
        }
        // The write half stays open as long as the read half (dropping it would shut the
        // socket's write side); `forget` ties it to the read half instead of leaking the socket.
        w.forget();
        Ok(lines)
    }
}

/// Starts the shim binary `exe` for a pod and waits for its `ready` line. The shim is its own session so
/// it survives the daemon.
pub async fn spawn(exe: &Path, opts: &ShimOptions) -> std::io::Result<tokio::process::Child> {
    let dir = PodDir(opts.pod_dir.clone());
    std::fs::create_dir_all(dir.sandbox())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.sandbox().join("shim.log"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.args(opts.to_args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(log))
        .kill_on_drop(false);
    // SAFETY: setsid is async-signal-safe (pre_exec runs between fork and exec).
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no shim stdout"))?;
    let mut line = String::new();
    // A shim that never says `ready` is killed rather than waited on forever.
    let read = bounded(BufReader::new(stdout).read_line(&mut line)).await;
    if read.is_err() || line.trim() != "ready" {
        let _ = child.start_kill();
        let _ = child.wait().await;
        let log = std::fs::read_to_string(dir.sandbox().join("shim.log")).unwrap_or_default();
        return Err(std::io::Error::other(format!(
            "shim failed to start: {} {}",
            line.trim(),
            log.trim()
        )));
    }
    Ok(child)
}

/// Whether process `pid` is the shim of the pod in `dir`: its command line names the directory,
/// or (a spare sandbox the pod claimed, started for another directory) it holds the network
/// namespace pinned there. A stale `shim.pid` (after a reboot) may name someone else.
fn is_pods_shim(pid: i32, dir: &PodDir) -> bool {
    use std::os::unix::fs::MetadataExt;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = dir.path().as_os_str().as_encoded_bytes();
    if cmdline.windows(needle.len().max(1)).any(|w| w == needle) {
        return true;
    }
    let ns = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    let theirs = ns(Path::new(&format!("/proc/{pid}/ns/net")));
    theirs.is_some() && theirs == ns(&dir.ns("net"))
}

/// Waits, up to `timeout`, until the pod's shim process is gone (after `Shutdown`), so that a
/// finished teardown leaves no process of the pod; only the pod's own shim is waited for.
pub async fn wait_exit(dir: &PodDir, timeout: std::time::Duration) {
    let Some(pid) = std::fs::read_to_string(dir.sandbox().join("shim.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // A pidfd pins the process, whatever happens to the pid; none: already gone (and reaped).
    let Some(fd) = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
    else {
        return;
    };
    if !is_pods_shim(pid, dir) {
        return;
    }
    // SAFETY: the AsyncFd owns the pidfd and drops it with itself.
    if let Ok(afd) = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    } {
        let _ = tokio::time::timeout(timeout, afd.readable()).await;
    }
}
