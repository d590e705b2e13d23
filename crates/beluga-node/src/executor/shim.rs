//! The real sandbox and container runtime: the pod's shim (`beluga-runtime::shim`), which holds
//! the namespaces and runs containers with the OCI runtime; volumes, cgroups and bundle mounts.

use super::{ContainerRuntime, Done, Exits, Launch, Sandbox, SandboxError};
use crate::bundle::{materialize, BundleInputs};
use beluga_api::{podutil, Pod};
use beluga_runtime::layout::PodDir;
use beluga_runtime::oci_runtime::OciRuntime;
use beluga_runtime::shim::{self, ExitRecord, Request, Response, RunningContainer, ShimClient};
use beluga_runtime::{cgroups, volumes};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tracing::warn;

fn client(dir: &PodDir) -> ShimClient {
    ShimClient {
        socket: dir.shim_socket(),
    }
}

/// Runs blocking work (mounts, file writes) off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Begins, on a blocking thread, the kernel's wait that a container start's first cgroup
/// migration would otherwise make inline (`cgroups::warm_migration_lock`). The warm-up holds the
/// cgroup mutex while it waits, so it comes after the pod's own cgroup is made, and before a
/// restart only because the exited container's cgroups are removed after the replacement starts
/// (beside it they waited behind the warm-up: a restart measured 5 ms slower). One at a time:
/// the kernel's lock is global, so a burst of pods shares one.
fn warm_migration_lock() {
    static WARMING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if WARMING.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return;
    }
    tokio::task::spawn_blocking(|| {
        if let Err(e) = cgroups::warm_migration_lock() {
            tracing::debug!(error = %e, "no cgroup migration warm-up");
        }
        WARMING.store(false, std::sync::atomic::Ordering::Release);
    });
}

/// How a pod's shim is started: the same for a pod's own and for a spare.
#[derive(Clone)]
pub struct ShimLaunch {
    /// The `beluga-shim` binary.
    pub exe: PathBuf,
    pub runtime: OciRuntime,
    pub log_max_size: u64,
    pub log_max_files: usize,
    /// The cgroup that holds the pods' (`--cgroup-root`).
    pub cgroup_root: cgroups::Root,
}

impl ShimLaunch {
    /// Starts a shim for `pod_dir` (a spare when `spare_of` names the daemon) and reaps it
    /// whenever it exits; its exit is seen through the end of its exit subscription.
    pub async fn start(
        &self,
        pod_dir: &Path,
        hostname: String,
        spare_of: Option<u32>,
        host_network: bool,
    ) -> std::io::Result<()> {
        let opts = shim::ShimOptions {
            pod_dir: pod_dir.to_path_buf(),
            hostname,
            runtime: self.runtime.clone(),
            log_max_size: self.log_max_size,
            log_max_files: self.log_max_files,
            spare_of,
            host_network,
            cgroup_root: self.cgroup_root.clone(),
        };
        let mut child = shim::spawn(&self.exe, &opts).await?;
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(())
    }
}

/// Pods' sandboxes as shims: one `beluga-shim` process per pod.
pub struct ShimSandbox {
    pub launch: ShimLaunch,
    /// kubelet's `podPidsLimit`.
    pub pod_max_pids: Option<i64>,
    /// Sandboxes made ahead, which a new pod takes instead of starting its shim.
    pub spares: std::sync::Arc<super::spare::Spares>,
    /// The network every sandbox is attached to (issue 14).
    pub network: std::sync::Arc<crate::network::PodNetwork>,
    /// The cluster DNS pods of the cluster DNS type are given (issue 15).
    pub cluster_dns: Option<volumes::ClusterDns>,
    /// The node's resolver configuration (`--resolv-conf`).
    pub resolv_conf: PathBuf,
}

/// The pod's volumes, cgroup, and the files every container mounts (`/etc/hosts`,
/// `/etc/hostname`, `/etc/resolv.conf`).
fn prepare_sandbox(
    pod: &Pod,
    dir: &PodDir,
    cluster_dns: Option<&volumes::ClusterDns>,
    resolv_conf: &Path,
) -> Result<(), SandboxError> {
    volumes::setup_pod_volumes(pod, dir).map_err(|e| SandboxError::Mount(e.to_string()))?;
    let other = |e: std::io::Error| SandboxError::Other(e.to_string());
    let hostname = crate::node::pod_hostname(pod);
    let sandbox = dir.sandbox();
    std::fs::create_dir_all(&sandbox).map_err(other)?;
    let hosts = if podutil::host_network(pod) {
        std::fs::write(host_network_marker(dir), "").map_err(other)?;
        let node_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        volumes::host_network_hosts_file(pod, &node_hosts)
    } else {
        volumes::hosts_file(pod, &hostname, &["127.0.1.1".to_string()])
    };
    std::fs::write(sandbox.join("hosts"), hosts).map_err(other)?;
    std::fs::write(sandbox.join("hostname"), format!("{hostname}\n")).map_err(other)?;
    let host_resolv = std::fs::read_to_string(resolv_conf).unwrap_or_default();
    std::fs::write(
        sandbox.join("resolv.conf"),
        volumes::resolv_conf(pod, &host_resolv, cluster_dns),
    )
    .map_err(other)
}

/// Marks a sandbox on the host's network (`hostNetwork: true`): no attachment to make or
/// release, the node's address as the pod's.
fn host_network_marker(dir: &PodDir) -> PathBuf {
    dir.sandbox().join("host-network")
}

/// The pod's `/etc/hosts`, with its addresses.
fn write_hosts(
    pod: &Pod,
    dir: &PodDir,
    hostname: &str,
    ips: &[String],
) -> Result<(), SandboxError> {
    let hosts = volumes::hosts_file(pod, hostname, ips);
    std::fs::write(dir.sandbox().join("hosts"), hosts)
        .map_err(|e| SandboxError::Other(e.to_string()))
}

/// The shim's exit stream, forwarded until the shim goes away (its socket closes).
async fn exits_of(dir: &PodDir) -> std::io::Result<Exits> {
    let mut lines = client(dir).subscribe().await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(rec) = serde_json::from_str::<ExitRecord>(&line) {
                if tx.send(rec).is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

#[async_trait::async_trait]
impl Sandbox for ShimSandbox {
    async fn create(&self, pod: &Pod, dir: &PodDir) -> Result<Exits, SandboxError> {
        let other = |e: std::io::Error| SandboxError::Other(e.to_string());
        let hostname = crate::node::pod_hostname(pod);
        let host_network = podutil::host_network(pod);
        let fits = !host_network && crate::network::spare_fits(pod);
        // A spare is claimed while the pod's cgroup and files are made: neither needs the other.
        let (prepared, claimed) = tokio::join!(self.prepare_sandbox(pod, dir), async {
            fits && self.claim_spare(dir, &hostname).await
        });
        self.spares.refill();
        prepared?;
        if !claimed {
            self.launch
                .start(dir.path(), hostname.clone(), None, host_network)
                .await
                .map_err(other)?;
        }
        // On the host's network there is nothing to attach (its /etc/hosts is written above);
        // a spare came attached, and only /etc/hosts learns the address.
        if !host_network {
            let ips = crate::network::pod_ips(dir);
            if claimed && !ips.is_empty() {
                write_hosts(pod, dir, &hostname, &ips)?;
            } else {
                self.attach_network(pod, dir, &hostname).await?;
            }
        }
        exits_of(dir).await.map_err(other)
    }

    fn pod_ips(&self, dir: &PodDir) -> Vec<String> {
        if host_network_marker(dir).exists() {
            return vec![crate::node::host_ip()];
        }
        crate::network::pod_ips(dir)
    }

    async fn warm(&self) {
        self.spares.clear_leftovers().await;
        self.spares.refill();
    }

    fn settled(&self) {
        self.spares.go_ahead();
    }

    async fn release(&self) {
        self.spares.release().await;
        // No pod starts any more: the root goes if no pod's cgroup is left in it.
        let root = self.launch.cgroup_root.clone();
        blocking(move || root.remove_if_empty()).await;
    }

    async fn reconnect(&self, dir: &PodDir) -> Option<Exits> {
        if !dir.shim_socket().exists() {
            return None;
        }
        if crate::network::attach_cut_short(dir) {
            // Killed during the network's ADD: the planner sees a lost sandbox, which is torn
            // down (DEL) and made again.
            warn!("the daemon stopped while the pod's network was being set up: its sandbox is made again");
            return None;
        }
        exits_of(dir).await.ok()
    }

    async fn teardown(&self, pod: &Pod, dir: &PodDir, ids: Vec<String>) {
        let _ = client(dir).call(&Request::Shutdown).await;
        // The shim answers before it exits: wait for it, so nothing of the pod outlives teardown.
        shim::wait_exit(dir, Duration::from_secs(2)).await;
        let (d, runtime) = (dir.clone(), self.launch.runtime.clone());
        let (uid, root) = (
            podutil::uid(pod).to_string(),
            self.launch.cgroup_root.clone(),
        );
        let cleanup = blocking(move || {
            for id in ids {
                let _ = runtime.delete_force(&id);
            }
            root.remove_pod(&uid);
            // Any container bundle still mounted (a container that never exited cleanly).
            volumes::unmount_below(&d.path().join(".containers"));
        });
        // The network's DEL (60–100 ms of plugins) beside the containers' and cgroups' removal,
        // which it does not touch; the namespace pins it needs go after both.
        tokio::join!(self.detach_network(dir, Some(pod)), cleanup);
        let d = dir.clone();
        blocking(move || shim::teardown_sandbox(&d)).await;
    }

    async fn remove(&self, dir: &PodDir) {
        let dir = dir.clone();
        blocking(move || {
            volumes::unmount_below(dir.path());
            let _ = std::fs::remove_dir_all(dir.path());
        })
        .await;
    }

    async fn abandon(&self, dir: &Path, aside: &Path) -> std::io::Result<PathBuf> {
        let pd = PodDir(dir.to_path_buf());
        let uid = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit('_').next())
            .unwrap_or_default()
            .replace('-', "");
        if pd.shim_socket().exists() {
            let _ = client(&pd).call(&Request::Shutdown).await;
            shim::wait_exit(&pd, Duration::from_secs(2)).await;
        }
        self.detach_network(&pd, None).await;
        let root = self.launch.cgroup_root.clone();
        let (runtime, aside, dir) = (
            self.launch.runtime.clone(),
            aside.to_path_buf(),
            dir.to_path_buf(),
        );
        blocking(move || {
            if !uid.is_empty() {
                for id in runtime
                    .list()
                    .into_iter()
                    .filter(|id| id.starts_with(&format!("{uid}-")))
                {
                    let _ = runtime.delete_force(&id);
                }
                root.remove_pod(&uid);
            }
            shim::teardown_sandbox(&pd);
            volumes::unmount_below(&dir);
            let _ = std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
                .create(&aside);
            let to = aside.join(dir.file_name().unwrap_or_default());
            std::fs::rename(&dir, &to).map(|_| to)
        })
        .await
        .unwrap_or_else(|| Err(std::io::Error::other("abandoning the pod panicked")))
    }
}

impl ShimSandbox {
    /// The network ADD, once the shim holds the pod's network namespace; then `/etc/hosts` gets
    /// the pod's IPs. A failure tears the new shim down again: no half-made sandbox.
    async fn attach_network(
        &self,
        pod: &Pod,
        dir: &PodDir,
        hostname: &str,
    ) -> Result<(), SandboxError> {
        let ips = match self.network.attach(pod, dir).await {
            Ok(ips) => ips,
            Err(e) => {
                let _ = client(dir).call(&Request::Shutdown).await;
                shim::wait_exit(dir, Duration::from_secs(2)).await;
                let d = dir.clone();
                blocking(move || shim::teardown_sandbox(&d)).await;
                let id = podutil::uid(pod).replace('-', "");
                return Err(SandboxError::Other(format!(
                    "failed to setup network for sandbox {id:?}: {e}"
                )));
            }
        };
        write_hosts(pod, dir, hostname, &ips)
    }

    /// The network DEL (its result kept since the ADD); a failure is logged, and the next
    /// teardown of the pod tries again.
    async fn detach_network(&self, dir: &PodDir, pod: Option<&Pod>) {
        if host_network_marker(dir).exists() {
            return;
        }
        if let Err(e) = self.network.detach(dir, pod).await {
            warn!(error = %e, "the pod's network could not be released");
        }
    }

    /// The pod's cgroup (with its pids limit), then the kernel's cgroup-migration lock warmed
    /// (a cgroup made during the warm-up would wait for it), which runs while the rest of the
    /// sandbox and the first bundle are made; then the pod's volumes and files.
    async fn prepare_sandbox(&self, pod: &Pod, dir: &PodDir) -> Result<(), SandboxError> {
        let (uid, pids) = (podutil::uid(pod).to_string(), self.pod_max_pids);
        let root = self.launch.cgroup_root.clone();
        if let Some(Err(e)) = blocking(move || root.create_pod(&uid, pids)).await {
            warn!(error = %e, "the pod's cgroup (and its pids limit) could not be made");
        }
        warm_migration_lock();
        let (p, d, dns) = (pod.clone(), dir.clone(), self.cluster_dns.clone());
        let resolv = self.resolv_conf.clone();
        blocking(move || prepare_sandbox(&p, &d, dns.as_ref(), &resolv))
            .await
            .unwrap_or_else(|| Err(SandboxError::Other("sandbox preparation panicked".into())))
    }

    /// Takes a spare sandbox for the pod in `dir`, if one is ready and the claim works (a spare
    /// that fails it is discarded, and the pod gets a shim of its own).
    async fn claim_spare(&self, dir: &PodDir, hostname: &str) -> bool {
        let Some(spare) = self.spares.take() else {
            return false;
        };
        match super::spare::claim(&spare, dir, hostname).await {
            Ok(()) => true,
            Err(e) => {
                warn!(error = %e, spare = %spare.path().display(), "a spare sandbox could not be claimed");
                self.spares.discard(&spare).await;
                // Its attachment, if it had moved into the pod's directory, goes too.
                if !crate::network::pod_ips(dir).is_empty() {
                    self.detach_network(dir, None).await;
                }
                let _ = crate::network::mark_attaching(dir, false);
                false
            }
        }
    }
}

/// Containers run by the pod's shim with the OCI runtime.
pub struct ShimRuntime {
    pub runtime: OciRuntime,
    /// The controllers hidden from it (read once, at start).
    pub unmanaged: Vec<String>,
}

/// A shim answer that is not the one wanted, as the error kubelet shows.
fn unexpected(resp: std::io::Result<Response>) -> String {
    match resp {
        Ok(Response::Error { message }) => message,
        Ok(r) => format!("unexpected shim answer {r:?}"),
        Err(e) => format!("shim: {e}"),
    }
}

fn started(resp: std::io::Result<Response>) -> Result<String, String> {
    match resp {
        Ok(Response::Started { started_at, .. }) => Ok(started_at),
        other => Err(unexpected(other)),
    }
}

#[async_trait::async_trait]
impl ContainerRuntime for ShimRuntime {
    fn name(&self) -> &str {
        &self.runtime.name
    }

    async fn prepare(&self, inputs: BundleInputs) -> Result<(), (&'static str, String)> {
        // A restart: the runtime's migration of the replacement's first process waits less
        // when the kernel's wait begins now, beside the bundle (now that the exited
        // container's cgroups go after the replacement starts). A first start has the
        // sandbox's warm-up.
        if beluga_runtime::layout::attempt_of(&inputs.id).is_some_and(|a| a > 0) {
            warm_migration_lock();
        }
        // Mounts, reads of the image's passwd/group and file writes: off the executor.
        blocking(move || materialize(&inputs))
            .await
            .unwrap_or_else(|| Err(("CreateContainerError", "bundle preparation panicked".into())))
    }

    async fn discard(&self, dir: &PodDir, id: &str) {
        let b = dir.bundle(id);
        blocking(move || {
            volumes::unmount_below(&b);
            let _ = std::fs::remove_dir_all(&b);
        })
        .await;
    }

    async fn create(&self, dir: &PodDir, l: &Launch) -> Result<(), String> {
        let req = Request::Create {
            id: l.id.clone(),
            bundle: l.bundle.clone(),
            log: l.log.clone(),
            exit_file: l.exit_file.clone(),
        };
        match client(dir).call(&req).await {
            Ok(Response::Created { .. }) => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn start(&self, dir: &PodDir, id: &str) -> Result<String, String> {
        let req = Request::StartCreated { id: id.to_string() };
        started(client(dir).call(&req).await)
    }

    async fn run(&self, dir: &PodDir, l: &Launch) -> Result<String, String> {
        let req = Request::Start {
            id: l.id.clone(),
            bundle: l.bundle.clone(),
            log: l.log.clone(),
            exit_file: l.exit_file.clone(),
        };
        started(client(dir).call(&req).await)
    }

    async fn kill(&self, dir: &PodDir, id: &str, signal: &str) {
        let req = Request::Kill {
            id: id.to_string(),
            signal: signal.to_string(),
        };
        let _ = client(dir).call(&req).await;
    }

    async fn delete(&self, dir: &PodDir, id: &str) {
        let _ = client(dir)
            .call(&Request::Delete { id: id.to_string() })
            .await;
    }

    async fn exec(
        &self,
        dir: &PodDir,
        id: &str,
        command: &[String],
        timeout: Option<Duration>,
    ) -> Done {
        exec(&self.runtime, &dir.bundle(id), id, command, timeout).await
    }

    async fn list(&self, dir: &PodDir) -> Option<Vec<RunningContainer>> {
        match client(dir).call(&Request::List).await {
            Ok(Response::Running { containers }) => Some(containers),
            _ => None,
        }
    }

    fn unmanaged(&self) -> Vec<String> {
        self.unmanaged.clone()
    }
}

/// Runs `command` in container `id`; Failure on a non-zero exit or a timeout.
async fn exec(
    runtime: &OciRuntime,
    bundle: &Path,
    id: &str,
    command: &[String],
    timeout: Option<Duration>,
) -> Done {
    let mut cmd = tokio::process::Command::from(runtime.exec_command(
        bundle,
        id,
        beluga_runtime::oci_runtime::Tty::None,
    ));
    cmd.args(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = cmd.output();
    let res = match timeout {
        Some(t) => match tokio::time::timeout(t, out).await {
            Ok(r) => r,
            Err(_) => return Done::Failure(format!("command {command:?} timed out")),
        },
        None => out.await,
    };
    match res {
        Ok(o) => {
            let mut text = String::from_utf8_lossy(&o.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&o.stderr));
            if o.status.success() {
                Done::Success(text)
            } else {
                Done::Failure(format!(
                    "command {command:?} exited with {}: {text}",
                    o.status.code().unwrap_or(-1)
                ))
            }
        }
        Err(e) => Done::Error(e.to_string()),
    }
}
