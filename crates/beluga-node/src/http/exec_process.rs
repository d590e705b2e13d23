//! An exec's process: the request checked (`Exec`), then started through the OCI runtime's
//! `exec` (`Started`) on pipes or a terminal. With crun the container's own pty is handed over
//! on a console socket; runc relays a pty of ours.

use super::pty::{openpty, ConsoleSocket, Size};
use super::query::{q1, q_bool};
use crate::podstate::PodHandle;
use crate::{ApiError, Daemon};
use beluga_lifecycle::observed::State;
use beluga_runtime::oci_runtime::{OciRuntime, Tty};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncReadExt;

/// An exec asked for and checked, not started yet: with a terminal it starts once the
/// terminal's size is known.
pub(super) struct Exec {
    runtime: OciRuntime,
    bundle: PathBuf,
    id: String,
    pub command: Vec<String>,
    pub tty: bool,
    stdin: bool,
    pub size: Size,
}

/// A started exec: the process, and the master of the terminal it is on (none for pipes).
pub(super) struct Started {
    pub child: tokio::process::Child,
    pub pty: Option<OwnedFd>,
    /// Our own terminal the runtime relays, or took the size from: open while the process runs.
    pub outer: Option<OwnedFd>,
}

impl Exec {
    /// The exec `q` asks for in a running container of `h`.
    pub fn asked(
        d: &Daemon,
        h: &PodHandle,
        q: &HashMap<String, Vec<String>>,
    ) -> Result<Exec, ApiError> {
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
        let dim = |k: &str, default| q1(q, k).and_then(|c| c.parse().ok()).unwrap_or(default);
        Ok(Exec {
            runtime: d.oci_runtime().clone(),
            bundle: h.dir.bundle(&inst.id),
            id: inst.id.clone(),
            command,
            tty: q_bool(q, "tty"),
            stdin: q_bool(q, "stdin"),
            size: Size {
                cols: dim("cols", 80),
                rows: dim("rows", 24),
            },
        })
    }

    /// Runs the command through the runtime's `exec`: on pipes, or on a terminal of `size`.
    pub async fn start(&self) -> Result<Started, ApiError> {
        if !self.tty {
            return self.on_pipes();
        }
        if self.runtime.hands_over_exec_console() {
            return self.on_containers_terminal().await;
        }
        self.on_relayed_terminal()
    }

    fn command(&self, tty: Tty) -> tokio::process::Command {
        let std_cmd = self.runtime.exec_command(&self.bundle, &self.id, tty);
        let mut cmd = tokio::process::Command::from(std_cmd);
        cmd.args(&self.command).kill_on_drop(true);
        cmd
    }

    fn on_pipes(&self) -> Result<Started, ApiError> {
        let mut cmd = self.command(Tty::None);
        let stdin = if self.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        };
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Ok(Started {
            child: spawn(cmd)?,
            pty: None,
            outer: None,
        })
    }

    /// runc: our pty as the runtime's stdio (it makes the container's, relays it, and passes our
    /// size on at SIGWINCH); the runtime its session leader, the pty its controlling terminal.
    fn on_relayed_terminal(&self) -> Result<Started, ApiError> {
        let (master, slave) = our_pty(self.size)?;
        let mut cmd = self.command(Tty::Relayed);
        cmd.stdin(dup(&slave)?)
            .stdout(dup(&slave)?)
            .stderr(dup(&slave)?);
        // SAFETY: the closure runs in the child between fork and exec, and only makes two raw
        // syscalls (setsid, TIOCSCTTY on its stdin, the pty), which are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(std::os::fd::BorrowedFd::borrow_raw(0))?;
                Ok(())
            });
        }
        Ok(Started {
            child: spawn(cmd)?,
            pty: Some(master),
            outer: None,
        })
    }

    /// crun: the container's own pty, handed over on a console socket, so output, input and
    /// resizes go to it directly (crun's own relay passes no resize on). crun sizes it from its
    /// stdin: our pty of the asked size.
    async fn on_containers_terminal(&self) -> Result<Started, ApiError> {
        let internal = |what: &str, e: std::io::Error| {
            ApiError::new(500, "InternalError", format!("exec: {what}: {e}"))
        };
        let socket = ConsoleSocket::bind().map_err(|e| internal("console socket", e))?;
        let path = socket.path();
        let (outer, slave) = our_pty(self.size)?;
        let mut cmd = self.command(Tty::HandedOver(&path));
        cmd.stdin(dup(&slave)?)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = spawn(cmd)?;
        let received = tokio::select! {
            m = socket.receive() => m.map_err(|e| internal("receiving the terminal", e)),
            _ = child.wait() => Err(runtime_failed(&mut child).await),
        };
        Ok(Started {
            child,
            pty: Some(received?),
            outer: Some(outer),
        })
    }
}

fn our_pty(size: Size) -> Result<(OwnedFd, OwnedFd), ApiError> {
    openpty(size).map_err(|e| ApiError::new(500, "InternalError", format!("openpty: {e}")))
}

/// A checked dup of the pty's slave as a process's stdio (EMFILE is an error here, not a
/// descriptor -1 handed to `from_raw_fd`).
fn dup(slave: &OwnedFd) -> Result<Stdio, ApiError> {
    rustix::io::dup(slave)
        .map(Stdio::from)
        .map_err(|e| ApiError::new(500, "InternalError", format!("dup: {e}")))
}

fn spawn(mut cmd: tokio::process::Command) -> Result<tokio::process::Child, ApiError> {
    cmd.spawn()
        .map_err(|e| ApiError::new(500, "InternalError", format!("exec: {e}")))
}

/// The error of a runtime that ended before handing the terminal over, in its own words.
async fn runtime_failed(child: &mut tokio::process::Child) -> ApiError {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text).await;
    }
    let message = beluga_runtime::oci_runtime::runtime_message(&text);
    ApiError::new(500, "InternalError", format!("exec: {message}"))
}
