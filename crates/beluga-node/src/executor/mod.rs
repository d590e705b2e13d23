//! The seams between a pod's worker and the machine: the pod sandbox, the container runtime,
//! images and the clock. The worker decides (kubelet's SyncPod); these act. The real ones go
//! through the shim, the OCI runtime and the image store (`shim.rs`, `store.rs`); the fakes
//! (`fake.rs`) let the worker be tested without root, as kubelet tests SyncPod over a fake runtime.

use crate::bundle::BundleInputs;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::Pod;
use beluga_image::ImageRecord;
use beluga_runtime::layout::PodDir;
use beluga_runtime::shim::{ExitRecord, RunningContainer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[cfg(test)]
pub mod fake;
pub mod shim;
pub mod spare;
pub mod store;

/// The exits of a sandbox's containers; it closes when the sandbox is gone.
pub type Exits = tokio::sync::mpsc::UnboundedReceiver<ExitRecord>;

/// How a handler (an exec, an HTTP GET, a TCP connect) ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    Success(String),
    Failure(String),
    /// Succeeded, with a warning for a `ProbeWarning` event (a redirect to another host).
    Warning(String),
    /// Could not be run at all.
    Error(String),
}

/// Why a sandbox could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    /// A volume could not be set up (kubelet's `FailedMount`).
    #[error("{0}")]
    Mount(String),
    #[error("{0}")]
    Other(String),
}

/// The pod sandbox: the namespaces its containers share (held by the pod's shim), its volumes,
/// cgroup and hosts files.
#[async_trait::async_trait]
pub trait Sandbox: Send + Sync {
    /// Makes the sandbox; its containers' exits arrive on the receiver.
    async fn create(&self, pod: &Pod, dir: &PodDir) -> Result<Exits, SandboxError>;
    /// A sandbox that outlived the daemon, if it is still there: its exits.
    async fn reconnect(&self, dir: &PodDir) -> Option<Exits>;
    /// The IPs the sandbox's network gave it, IPv4 first (none without one).
    fn pod_ips(&self, _dir: &PodDir) -> Vec<String> {
        Vec::new()
    }
    /// Stops the sandbox and everything in it; `ids` are every container the pod has had.
    async fn teardown(&self, pod: &Pod, dir: &PodDir, ids: Vec<String>);
    /// The pod is gone: its volumes and its directory go too.
    async fn remove(&self, dir: &PodDir);
    /// A pod directory whose record cannot be read: whatever of it runs is stopped and the
    /// directory moved under `aside`. Returns where it went.
    async fn abandon(&self, dir: &Path, aside: &Path) -> std::io::Result<PathBuf>;
    /// Gets ready for the next pods (the real one: spare sandboxes made ahead), once the pods on
    /// disk are adopted.
    async fn warm(&self) {}
    /// A new sandbox's first containers have started: what is made ahead for the next pod may
    /// be made now without slowing this one.
    fn settled(&self) {}
    /// The daemon stops: what was made ahead for the next pods is given back (pods' own
    /// sandboxes stay, for the next daemon to adopt).
    async fn release(&self) {}
}

/// One container instance for the runtime: its bundle, log and exit file.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub id: String,
    pub bundle: PathBuf,
    pub log: PathBuf,
    pub exit_file: PathBuf,
}

/// The container runtime, inside a pod's sandbox (containerd's CRI container calls).
#[async_trait::async_trait]
pub trait ContainerRuntime: Send + Sync {
    /// Its name, the scheme of `containerID` (`containerd://` on clusters).
    fn name(&self) -> &str;
    /// Makes the bundle (rootfs, mounts, `config.json`). Err is kubelet's (reason, message).
    async fn prepare(&self, inputs: BundleInputs) -> Result<(), (&'static str, String)>;
    /// Removes what `prepare` made.
    async fn discard(&self, dir: &PodDir, id: &str);
    /// Creates the container; its process waits for `start`.
    async fn create(&self, dir: &PodDir, l: &Launch) -> Result<(), String>;
    /// Starts a created container; Ok is when it started (RFC 3339).
    async fn start(&self, dir: &PodDir, id: &str) -> Result<String, String>;
    /// Creates and starts in one call.
    async fn run(&self, dir: &PodDir, l: &Launch) -> Result<String, String>;
    /// Sends a signal (`TERM`, `KILL`, …); a container already gone is no error.
    async fn kill(&self, dir: &PodDir, id: &str, signal: &str);
    /// Releases an exited container.
    async fn delete(&self, dir: &PodDir, id: &str);
    /// Runs a command in a running container (exec probes and hooks).
    async fn exec(
        &self,
        dir: &PodDir,
        id: &str,
        command: &[String],
        timeout: Option<Duration>,
    ) -> Done;
    /// The containers the sandbox runs; None when it cannot say.
    async fn list(&self, dir: &PodDir) -> Option<Vec<RunningContainer>>;
    /// cgroup controllers that do not limit its containers (hidden from the runtime).
    fn unmanaged(&self) -> Vec<String> {
        vec![]
    }
}

/// The images containers run from.
#[async_trait::async_trait]
pub trait Images: Send + Sync {
    fn get(&self, reference: &str) -> Option<ImageRecord>;
    /// The image's layers, top first, for the rootfs.
    fn lower_dirs(&self, rec: &ImageRecord) -> Vec<PathBuf>;
    /// Pulls with `secrets` (the pod's docker-style pull secrets) before the node's credentials.
    async fn pull(
        &self,
        reference: &str,
        secrets: &[serde_json::Value],
    ) -> Result<ImageRecord, String>;
}

/// The wall clock of timestamps (start and finish times, back-off); durations are tokio's.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// What a worker acts through.
#[derive(Clone)]
pub struct Executor {
    pub sandbox: Arc<dyn Sandbox>,
    pub runtime: Arc<dyn ContainerRuntime>,
    pub images: Arc<dyn Images>,
    pub clock: Arc<dyn Clock>,
}
