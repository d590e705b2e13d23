//! `POST …/pods/{name}/exec`: runs a command in a container through the OCI runtime's `exec`
//! (`exec_process`). kubectl's WebSocket upgrade is served by `websocket`; beluga's own CLI
//! upgrades the connection with `Upgrade: beluga-exec`, then sends raw stdin and a write shutdown
//! for EOF; the server sends `beluga_api::wire::exec` frames (stdout, stderr, then the exit code).
//! With `tty=1` the process gets a pty (of the query's `cols` × `rows`) and everything arrives on
//! stdout.

use super::body::ResBody;
use super::exec_process::{Exec, Started};
use crate::podstate::PodHandle;
use crate::{ApiError, Daemon};
use hyper::body::Incoming;
use hyper::{Request, Response};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use beluga_api::wire::exec::{exit_frame, frame, STDERR, STDOUT};

pub async fn serve(
    d: Arc<Daemon>,
    h: Arc<PodHandle>,
    req: Request<Incoming>,
    q: &HashMap<String, Vec<String>>,
) -> Result<Response<ResBody>, ApiError> {
    let exec = Exec::asked(&d, &h, q)?;
    // kubectl's WebSocket protocol: with a terminal, the process starts once kubectl's first
    // resize gave its size (so what it prints first fits the user's terminal).
    if let Some(protocol) = super::websocket::offered(&req) {
        let started = if exec.tty {
            None
        } else {
            Some(exec.start().await?)
        };
        let resp = super::websocket::accept(&req, protocol);
        let upgrade = hyper::upgrade::on(req);
        tokio::spawn(super::websocket::relay(upgrade, exec, started));
        return Ok(resp);
    }
    // beluga's own framing, the size in the query.
    let started = exec.start().await?;
    let upgrade = hyper::upgrade::on(req);
    tokio::spawn(relay(upgrade, started));
    // The `101` that hands the connection to [`relay`].
    Ok(super::body::switching_protocols("beluga-exec", &[]))
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
async fn relay(upgrade: hyper::upgrade::OnUpgrade, started: Started) {
    let Started {
        mut child,
        pty,
        outer: _outer,
    } = started;
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
