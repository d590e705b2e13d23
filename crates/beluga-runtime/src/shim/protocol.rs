//! The shim's protocol: one JSON [`Request`] per line, one JSON [`Response`] per line;
//! `Subscribe` turns the connection into a stream of [`ExitRecord`] lines.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The containers this shim started that have not exited.
    List,
    /// Create and start a container from its bundle, in one runtime call (`run --detach`).
    Start {
        id: String,
        bundle: PathBuf,
        log: PathBuf,
        exit_file: PathBuf,
    },
    /// Create a container (the runtime's namespaces, mounts and cgroups; its process waits) so
    /// that several can be set up at once and then started one by one, in order.
    Create {
        id: String,
        bundle: PathBuf,
        log: PathBuf,
        exit_file: PathBuf,
    },
    /// Start a container made by `Create`.
    StartCreated {
        id: String,
    },
    Kill {
        id: String,
        signal: String,
    },
    Delete {
        id: String,
    },
    Subscribe,
    Shutdown,
    /// A spare sandbox becomes a pod's: its hostname is set, and it no longer dies with the
    /// daemon (a pod's shim outlives daemon restarts).
    Claim {
        hostname: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Created { pid: i32 },
    Started { pid: i32, started_at: String },
    Running { containers: Vec<RunningContainer> },
    Error { message: String },
}

/// A container the shim runs: its id, pid and start time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunningContainer {
    pub id: String,
    pub pid: i32,
    pub started_at: String,
}

/// How one container instance ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitRecord {
    pub id: String,
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended it (`OOMKilled`).
    #[serde(default)]
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
}
