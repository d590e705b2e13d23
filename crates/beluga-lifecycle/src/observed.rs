//! The runtime's view of a pod: every container instance in the current sandbox.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    Created,
    Running,
    Exited,
    Unknown,
}

/// One instance (attempt) of a container, as the runtime recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub name: String,
    /// The restartCount this instance was started with.
    pub attempt: i32,
    /// Runtime container id.
    pub id: String,
    pub image: String,
    pub image_id: String,
    /// Hash of the container's spec when it was created (spec §2.1 "definition changed").
    pub spec_hash: u64,
    pub state: State,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    /// `OOMKilled`, … when the runtime knows better than the exit code.
    pub reason: Option<String>,
    /// Termination message (spec §8.3).
    pub message: Option<String>,
}

/// kubelet's words for a container that vanished with its sandbox (a reboot, a lost shim's
/// records): exit code 137, `ContainerStatusUnknown`.
pub const LOST_EXIT_CODE: i32 = 137;
pub const LOST_REASON: &str = "ContainerStatusUnknown";
pub const LOST_MESSAGE: &str = "The container could not be located when the pod was terminated";

impl Instance {
    /// Records the instance as lost at `now` (see [`LOST_REASON`]).
    pub fn mark_lost(&mut self, now: Timestamp) {
        self.state = State::Exited;
        self.exit_code = Some(LOST_EXIT_CODE);
        self.reason = Some(LOST_REASON.into());
        self.message = Some(LOST_MESSAGE.into());
        self.finished_at = Some(now);
    }
}

/// Everything the runtime can say about one pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    /// The pod's sandbox (namespaces + shim) exists and is healthy.
    pub sandbox_ready: bool,
    /// How many sandboxes were created before the current one (kubelet's `Attempt`).
    pub sandbox_attempt: u32,
    pub instances: Vec<Instance>,
}

impl Observed {
    /// The newest instance of a container (kubelet's `FindContainerStatusByName`).
    pub fn newest(&self, name: &str) -> Option<&Instance> {
        self.instances
            .iter()
            .filter(|i| i.name == name)
            .max_by_key(|i| i.attempt)
    }

    /// The second newest instance (its terminated state becomes `lastState`).
    pub fn previous(&self, name: &str) -> Option<&Instance> {
        let newest = self.newest(name)?.attempt;
        self.instances
            .iter()
            .filter(|i| i.name == name && i.attempt < newest)
            .max_by_key(|i| i.attempt)
    }

    pub fn next_attempt(&self, name: &str) -> i32 {
        self.newest(name).map(|i| i.attempt + 1).unwrap_or(0)
    }
}

/// Stable hash of the parts of a container spec that may change on update (only `image`).
pub fn spec_hash(c: &beluga_api::Container) -> u64 {
    // FNV-1a: stable across processes and releases, unlike std's SipHash keys.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in c
        .name
        .bytes()
        .chain([0])
        .chain(c.image.as_deref().unwrap_or("").bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
