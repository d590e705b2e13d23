//! The per-pod shim (the `beluga-shim` binary): one single-threaded process per pod that
//! * holds the pod's network, IPC and UTS namespaces (bind-mounted to files, so no pause process),
//! * is the child subreaper of the pod's containers and waits each one with a pidfd,
//! * owns their stdout/stderr and writes CRI logs, and
//! * records every exit in `<container>/<attempt>.exit` before announcing it.
//!
//! It outlives the daemon: a daemon restart reconnects to `shim.sock`.
//! Protocol: one JSON [`Request`] per line, one JSON [`Response`] per line; `Subscribe` turns the
//! connection into a stream of [`ExitRecord`] lines.
//!
//! One concern a module: `protocol` (the wire types), `args` (the shim's command line, both
//! ways), `sandbox` (the namespaces it holds), `server` (its loop and requests), `containers`
//! (create and start through the OCI runtime), `io` (output to CRI logs), `reaper` (exits), and
//! `client` (the daemon's side: spawn, calls bounded in time, subscribe, wait for exit).

mod args;
mod client;
mod containers;
mod io;
mod protocol;
mod reaper;
mod sandbox;
mod server;

pub use args::ShimOptions;
pub use client::{short_socket_path, spawn, wait_exit, ShimClient, CALL_TIMEOUT};
pub use protocol::{ExitRecord, Request, Response, RunningContainer};
pub use sandbox::teardown_sandbox;
pub use server::main;
