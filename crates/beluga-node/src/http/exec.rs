//! `POST …/pods/{name}/exec`: runs a command in a container through the OCI runtime's `exec`.
//! kubectl's WebSocket upgrade is served by `websocket`; beluga's own CLI upgrades the
//! connection with `Upgrade: beluga-exec`, then sends raw stdin and a
//! write shutdown for EOF; the server sends `beluga_api::wire::exec` frames (stdout, stderr, then
//! the exit code). With `tty=1` the process gets a pty and everything arrives on stdout.

use super::body::{full, ResBody};
use super::query::{q1, q_bool};
use crate::podstate::PodHandle;
use crate::{ApiError, Daemon};
use beluga_lifecycle::observed::State;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use beluga_api::wire::exec::{exit_frame, frame, STDERR, STDOUT};

/// A new pseudo-terminal of `cols` × `rows`: (master, slave), both close-on-exec.
fn openpty(cols: u16, rows: u16) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname(&master, Vec::new())?;
    let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC;
    let slave = rustix::fs::open(name.as_c_str(), flags, Mode::empty())?;
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    rustix::termios::tcsetwinsize(&master, size)?;
    Ok((master, slave))
}

pub async fn serve(
    d: Arc<Daemon>,
    h: Arc<PodHandle>,
    req: Request<Incoming>,
    q: &HashMap<String, Vec<String>>,
) -> Result<Response<ResBody>, ApiError> {
    let inst = h.pick(q1(q, "container"), false)?;
    if inst.state != State::Running {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!("container {} is not running", inst.name),
        ));
    }
    let command: Vec<String> = q.get("command").cloned().unwrap_or_default();
    if command.is_empty() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "you must specify at least one command for the container",
        ));
    }
    let (mut cmd, pty) = exec_command(&d, &h, &inst.id, &command, q)?;
    let child = cmd
        .spawn()
        .map_err(|e| ApiError::new(500, "InternalError", format!("exec: {e}")))?;
    // kubectl's WebSocket protocol, or beluga's own framing.
    if let Some(protocol) = super::websocket::offered(&req) {
        let resp = super::websocket::accept(&req, protocol);
        let upgrade = hyper::upgrade::on(req);
        tokio::spawn(super::websocket::relay(upgrade, child, pty, command));
        return Ok(resp);
    }
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(relay(upgrade, child, pty));
    Ok(switching_protocols())
}

/// The runtime's `exec` for `command` in container `id`: with `tty=1` on a pty of the asked size
/// (the process its session leader, the pty its controlling terminal), else on pipes.
fn exec_command(
    d: &Daemon,
    h: &PodHandle,
    id: &str,
    command: &[String],
    q: &HashMap<String, Vec<String>>,
) -> Result<(tokio::process::Command, Option<OwnedFd>), ApiError> {
    let tty = q_bool(q, "tty");
    let std_cmd = d.oci_runtime().exec_command(&h.dir.bundle(id), id, tty);
    let mut cmd = tokio::process::Command::from(std_cmd);
    cmd.args(command).kill_on_drop(true);
    if !tty {
        let stdin = if q_bool(q, "stdin") {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        };
        cmd.stdin(stdin)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        return Ok((cmd, None));
    }
    let cols = q1(q, "cols").and_then(|c| c.parse().ok()).unwrap_or(80);
    let rows = q1(q, "rows").and_then(|c| c.parse().ok()).unwrap_or(24);
    let (master, slave) = openpty(cols, rows)
        .map_err(|e| ApiError::new(500, "InternalError", format!("openpty: {e}")))?;
    // The pty's slave end as the process's stdio: three checked dups (EMFILE is an error here,
    // not a descriptor -1 handed to `from_raw_fd`).
    let dup = || {
        rustix::io::dup(&slave)
            .map(std::process::Stdio::from)
            .map_err(|e| ApiError::new(500, "InternalError", format!("dup: {e}")))
    };
    cmd.stdin(dup()?).stdout(dup()?).stderr(dup()?);
    // SAFETY: the closure runs in the child between fork and exec, and only makes two raw
    // syscalls (setsid, TIOCSCTTY on its stdin, the pty), which are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()?;
            rustix::process::ioctl_tiocsctty(std::os::fd::BorrowedFd::borrow_raw(0))?;
            Ok(())
        });
    }
    Ok((cmd, Some(master)))
}

/// The `101 Switching Protocols` answer that hands the connection to [`relay`].
fn switching_protocols() -> Response<ResBody> {
    let mut resp = full(
        StatusCode::SWITCHING_PROTOCOLS,
        "application/octet-stream",
        "",
    );
    resp.headers_mut().insert(
        "connection",
        hyper::header::HeaderValue::from_static("Upgrade"),
    );
    resp.headers_mut().insert(
        "upgrade",
        hyper::header::HeaderValue::from_static("beluga-exec"),
    );
    resp
}

type FrameWriter = Arc<
    tokio::sync::Mutex<tokio::io::WriteHalf<hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>>>,
>;

/// Copies `from` to the client as `stream` frames until either side ends.
async fn pump(mut from: impl tokio::io::AsyncRead + Unpin, w: FrameWriter, stream: u8) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0
            || w.lock()
                .await
                .write_all(&frame(stream, &buf[..n]))
                .await
                .is_err()
        {
            break;
        }
    }
}

/// The upgraded connection: the client's bytes to the process's stdin (or pty), its output as
/// frames, then the exit code frame.
async fn relay(
    upgrade: hyper::upgrade::OnUpgrade,
    mut child: tokio::process::Child,
    pty: Option<OwnedFd>,
) {
    let Ok(upgraded) = upgrade.await else {
        let _ = child.start_kill();
        return;
    };
    let (mut rd, wr) = tokio::io::split(hyper_util::rt::TokioIo::new(upgraded));
    let wr: FrameWriter = Arc::new(tokio::sync::Mutex::new(wr));
    let mut tasks = Vec::new();
    if let Some(master) = pty {
        let Ok(m2) = master.try_clone().map(std::fs::File::from) else {
            tracing::warn!("exec: could not duplicate the pty");
            let _ = child.start_kill();
            return;
        };
        let reader = tokio::fs::File::from_std(std::fs::File::from(master));
        let mut writer = tokio::fs::File::from_std(m2);
        tasks.push(tokio::spawn(pump(reader, wr.clone(), STDOUT)));
        tokio::spawn(async move {
            let _ = tokio::io::copy(&mut rd, &mut writer).await;
        });
    } else {
        if let Some(mut cin) = child.stdin.take() {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut rd, &mut cin).await;
                let _ = cin.shutdown().await;
            });
        }
        if let Some(out) = child.stdout.take() {
            tasks.push(tokio::spawn(pump(out, wr.clone(), STDOUT)));
        }
        if let Some(err) = child.stderr.take() {
            tasks.push(tokio::spawn(pump(err, wr.clone(), STDERR)));
        }
    }
    let code = super::websocket::exit_code(child.wait().await);
    for t in tasks {
        // A pty reader ends with EIO once the child and its descendants closed the slave.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), t).await;
    }
    let mut w = wr.lock().await;
    let _ = w.write_all(&exit_frame(code)).await;
    let _ = w.shutdown().await;
}
