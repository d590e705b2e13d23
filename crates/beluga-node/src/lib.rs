//! The node daemon: owns the image store and every pod's worker, persists pod state, and serves
//! the Kubernetes-shaped REST API on a root-only unix socket.

pub mod boot;
pub mod bundle;
pub mod credentials;
pub mod dns;
pub mod dry_run;
pub mod error;
pub mod events;
pub mod eviction;
pub mod executor;
pub mod handlers;
pub mod history;
pub mod hooks;
pub mod http;
pub mod inotify;
pub mod metrics;
pub mod namespaces;
pub mod network;
pub mod node;
pub mod objects;
pub mod pki;
pub mod podstate;
pub mod prober;
pub mod projected;
pub mod proxy;
pub mod pull_secrets;
pub mod scheduler;
pub mod serviceaccounts;
pub mod services;
pub mod tokens;
pub mod worker;
pub mod writes;

use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use beluga_api::{podutil, Pod};
use beluga_lifecycle::backoff::Backoff;
use beluga_lifecycle::observed::Observed;
use beluga_runtime::layout::PodDir;
use beluga_runtime::oci_runtime::OciRuntime;
pub use error::ApiError;
use executor::Executor;
use podstate::{PodHandle, PodState};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};

#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub socket: PathBuf,
    pub runtime: Option<String>,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// The `beluga-shim` binary, started once per pod.
    pub exe: PathBuf,
    /// kubelet's `--container-log-max-size` (bytes) and `--container-log-max-files`.
    pub log_max_size: u64,
    pub log_max_files: usize,
    /// kubelet's `--pod-max-pids` (`podPidsLimit`), applied to each container; `None`: no limit.
    pub pod_max_pids: Option<i64>,
    /// The most bytes one image layer may inflate to.
    pub max_layer_bytes: u64,
    /// kubelet's `--seccomp-default`: RuntimeDefault for containers that name no profile.
    pub seccomp_default: bool,
    /// How many pod sandboxes to keep made ahead (issue 13); 0 for none.
    pub warm_sandboxes: usize,
    /// How pods are networked (issue 14).
    pub network: network::NetworkConfig,
    /// Where Services' cluster IPs come from (`--service-cidr`, issue 15).
    pub service_cidr: ipnet::Ipv4Net,
    /// The nftables table of the Services' rules (`--nft-table`); `None`: no data plane (and
    /// so no cluster DNS either).
    pub nft_table: Option<String>,
    /// The cluster's DNS domain (`--cluster-domain`).
    pub cluster_domain: String,
    /// The cgroup that holds the pods' (`--cgroup-root`).
    pub cgroup_root: beluga_runtime::cgroups::Root,
    /// kubelet's `--resolv-conf`: the node's resolvers and search list, the basis of pods'
    /// `/etc/resolv.conf` and where the cluster DNS relays other names.
    pub resolv_conf: PathBuf,
    /// Where the Kubernetes API is served over TLS (`--api-listen`, issue 17); `None`: only
    /// on the unix socket.
    pub api_listen: Option<std::net::SocketAddr>,
}

impl Config {
    /// Where `seccompProfile.localhostProfile` names are looked up (kubelet's
    /// `<root-dir>/seccomp`).
    pub fn seccomp_root(&self) -> PathBuf {
        self.root.join("seccomp")
    }
}

/// A change to a pod, broadcast to `?watch=1` clients.
#[derive(Debug, Clone)]
pub struct PodEvent {
    pub kind: &'static str,
    pub pod: Pod,
}

/// How the daemon starts a pod's worker (`Daemon::assemble` takes it, so the daemon never
/// imports the worker: `worker::spawn` in the daemon, the same in tests).
pub type Spawner = fn(&Arc<Daemon>, Arc<PodHandle>);

pub struct Daemon {
    cfg: Config,
    images: Arc<beluga_image::Store>,
    /// Held for the length of a registry pull: pulls go one at a time, as kubelet's do by default
    /// (`serializeImagePulls`), so pods wanting one image download it once.
    pulls: tokio::sync::Mutex<()>,
    /// The OCI runtime, for interactive `exec` (the worker's runtime calls go through `exec`).
    runtime: OciRuntime,
    /// What pod workers act through (the shim, the store, the clock; fakes in tests).
    exec: Executor,
    /// Starts a pod's worker (`worker::spawn`).
    spawn: Spawner,
    pods: Mutex<BTreeMap<(String, String), Arc<PodHandle>>>,
    /// Held while a pod is bound (`scheduler::bind`): one decision at a time.
    binding: Mutex<()>,
    watch: broadcast::Sender<PodEvent>,
    /// The recent pod changes by version, for API watches (`history`).
    history: history::History<Pod>,
    /// Containers' last CPU samples, for `kubectl top` (`metrics`).
    cpu_samples: metrics::Samples,
    versions: Arc<history::Versions>,
    /// The Services (issue 15).
    services: services::Services,
    /// Told when a Service changes (the data plane's sync waits on it).
    services_kick: Notify,
    /// ConfigMaps and Secrets (issue 16).
    config_maps: objects::Store<beluga_api::ConfigMap>,
    secrets: objects::Store<beluga_api::Secret>,
    /// The Namespaces (issue 16, `namespaces`).
    namespaces: objects::Store<beluga_api::Namespace>,
    /// The ServiceAccounts (issue 16, `serviceaccounts`).
    service_accounts: objects::Store<beluga_api::ServiceAccount>,
    /// The cluster CA and the service-account key (`pki`).
    pki: pki::Pki,
    /// The API's admin credentials (`credentials`).
    admin: credentials::Admin,
    /// Where the API is served over TLS, once bound (`http::tls`).
    api_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// Where the cluster DNS listens, once the pod network says where (`boot`).
    dns: std::sync::OnceLock<dns::DnsConfig>,
    /// The pod CIDR the data plane masquerades (the default network's, `boot`).
    masquerade: std::sync::OnceLock<ipnet::Ipv4Net>,
    /// The pod network's gateway on the node, when a data plane routes Services to it (`boot`).
    gateway: std::sync::OnceLock<std::net::Ipv4Addr>,
    /// Where pods reach the API (the `kubernetes` Service's endpoint), once bound (`http::tls`).
    api_for_pods: std::sync::OnceLock<std::net::SocketAddrV4>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{0}")]
    Setup(String),
}

/// Where resourceVersions start: the clock in microseconds, so that a restarted daemon issues
/// versions above any it issued before (for pods since deleted too) unless the clock went back
/// or it issued more than a million a second; adopted pods' versions raise it further.
fn first_resource_version() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX / 2))
}

/// The daemon's root, 0711 when made here (as containerd keeps `/var/lib/containerd`), and its
/// children root's alone (0700, whatever an older daemon left), so that no other local user
/// reaches an image's files, a pod's volumes or a container's rootfs (attack report 2.8, 3.8).
/// An existing root keeps its mode: `--root` may name a directory that is not beluga's.
pub(crate) fn private_root(root: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !root.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)?;
    }
    for d in ["pods", "images", "runtime", "spare"] {
        let p = root.join(d);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&p)?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

impl Daemon {
    /// A registry pull into the daemon's store with its credentials. `_turn` is the `pulls` lock,
    /// held by the caller (who may check the store under it first): pulls go one at a time.
    pub async fn pull(
        &self,
        _turn: &tokio::sync::MutexGuard<'_, ()>,
        reference: &str,
        progress: impl Fn(beluga_image::registry::PullEvent),
    ) -> Result<beluga_image::ImageRecord, beluga_image::ImageError> {
        beluga_image::registry::pull(
            self.images.clone(),
            reference,
            &executor::store::registry_auth_files(&self.cfg.root),
            progress,
        )
        .await
    }

    /// A daemon from its parts: the store (for the image API), the OCI runtime (for interactive
    /// exec) and what its workers act through.
    pub fn assemble(
        cfg: Config,
        images: Arc<beluga_image::Store>,
        runtime: OciRuntime,
        exec: Executor,
        spawn: Spawner,
    ) -> Result<Arc<Daemon>, DaemonError> {
        let (watch, _) = broadcast::channel(1024);
        let services = services::Services::open(&cfg.root.join("services"), cfg.service_cidr)
            .map_err(|e| DaemonError::Setup(format!("services: {e}")))?;
        let open = |what: &str, e: std::io::Error| DaemonError::Setup(format!("{what}: {e}"));
        // One counter for every kind; it starts past every version kept (below).
        let versions = Arc::new(history::Versions::default());
        let config_maps = objects::Store::open(&cfg.root.join("configmaps"), &versions)
            .map_err(|e| open("configmaps", e))?;
        let secrets = objects::Store::open(&cfg.root.join("secrets"), &versions)
            .map_err(|e| open("secrets", e))?;
        let namespaces = objects::Store::open(&cfg.root.join("namespaces"), &versions)
            .map_err(|e| open("namespaces", e))?;
        let service_accounts = objects::Store::open(&cfg.root.join("serviceaccounts"), &versions)
            .map_err(|e| open("serviceaccounts", e))?;
        let pki = pki::Pki::load_or_create(&cfg.root.join("pki"))
            .map_err(|e| DaemonError::Setup(format!("the cluster CA: {e}")))?;
        let admin = credentials::admin(&pki, &cfg.root.join("pki"))
            .map_err(|e| DaemonError::Setup(format!("the API's credentials: {e}")))?;
        let kept = [
            namespaces.max_resource_version(),
            service_accounts.max_resource_version(),
            services.max_resource_version(),
            config_maps.max_resource_version(),
            secrets.max_resource_version(),
        ];
        let first = first_resource_version().max(kept.into_iter().flatten().max().unwrap_or(0) + 1);
        versions.past(first - 1);
        let d = Arc::new(Daemon {
            cfg,
            images,
            pulls: tokio::sync::Mutex::new(()),
            runtime,
            exec,
            spawn,
            pods: Mutex::new(BTreeMap::new()),
            binding: Mutex::new(()),
            watch,
            history: history::History::new(history::CAPACITY),
            cpu_samples: metrics::Samples::default(),
            versions: versions.clone(),
            services,
            services_kick: Notify::new(),
            config_maps,
            secrets,
            namespaces,
            service_accounts,
            pki,
            admin,
            api_addr: std::sync::OnceLock::new(),
            dns: std::sync::OnceLock::new(),
            masquerade: std::sync::OnceLock::new(),
            gateway: std::sync::OnceLock::new(),
            api_for_pods: std::sync::OnceLock::new(),
        });
        d.ensure_initial_namespaces()
            .map_err(|e| DaemonError::Setup(format!("the namespaces: {}", e.message)))?;
        let (rv, now) = (d.next_rv(), d.exec.clock.now());
        d.services
            .ensure_kubernetes(rv, now)
            .map_err(|e| DaemonError::Setup(format!("the kubernetes Service: {}", e.message)))?;
        let (rv, now) = (d.next_rv(), d.exec.clock.now());
        d.services
            .ensure_kube_dns(rv, now)
            .map_err(|e| DaemonError::Setup(format!("the kube-dns Service: {}", e.message)))?;
        Ok(d)
    }

    /// The cluster CA and the service-account key.
    pub fn pki(&self) -> &pki::Pki {
        &self.pki
    }

    /// The API's admin credentials.
    pub fn admin(&self) -> &credentials::Admin {
        &self.admin
    }

    /// Where the API is served over TLS, once it is.
    pub fn api_addr(&self) -> Option<std::net::SocketAddr> {
        self.api_addr.get().copied()
    }

    pub(crate) fn set_api_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.api_addr.set(addr);
    }

    /// The node's address on the pod network, when Services are routed there (what the
    /// cluster DNS and the API listen on for pods).
    pub fn pod_gateway(&self) -> Option<std::net::Ipv4Addr> {
        self.gateway.get().copied()
    }

    pub(crate) fn set_pod_gateway(&self, ip: std::net::Ipv4Addr) {
        let _ = self.gateway.set(ip);
    }

    /// Where pods reach the API: the `kubernetes` Service's endpoint.
    pub fn api_for_pods(&self) -> Option<std::net::SocketAddrV4> {
        self.api_for_pods.get().copied()
    }

    /// Records where pods reach the API, and has the data plane route the `kubernetes`
    /// Service there.
    pub(crate) fn set_api_for_pods(&self, addr: std::net::SocketAddrV4) {
        let _ = self.api_for_pods.set(addr);
        self.services_kick.notify_one();
    }

    /// The `kubernetes` Service's cluster IP (what in-pod clients dial).
    pub fn kubernetes_service_ip(&self) -> Option<std::net::IpAddr> {
        let (ns, name) = services::KUBERNETES;
        let svc = self.services.get(ns, name)?;
        svc.spec?.cluster_ip?.parse().ok()
    }

    /// The name of the runtime, the scheme of `containerID`.
    pub fn runtime_name(&self) -> &str {
        self.exec.runtime.name()
    }

    /// The pod as the API shows it now: its status freshly derived.
    pub fn view(&self, h: &PodHandle) -> Pod {
        h.current(self.runtime_name(), self.exec.clock.now())
    }

    /// Where the cluster DNS listens (none without a pod network gateway or a data plane).
    pub fn dns_config(&self) -> Option<&dns::DnsConfig> {
        self.dns.get()
    }

    pub(crate) fn set_dns_config(&self, cfg: dns::DnsConfig) {
        let _ = self.dns.set(cfg);
    }

    /// The pods' egress the data plane masquerades (`network::PodNetwork::masquerade`).
    pub fn pod_masquerade(&self) -> Option<ipnet::Ipv4Net> {
        self.masquerade.get().copied()
    }

    pub fn services(&self) -> &services::Services {
        &self.services
    }

    /// `POST /services`, with the next resourceVersion and the clock's time.
    pub fn create_service(
        &self,
        svc: beluga_api::Service,
        ns: &str,
    ) -> Result<beluga_api::Service, ApiError> {
        let out = self
            .services
            .create(svc, ns, self.next_rv(), self.exec.clock.now())?;
        self.services_kick.notify_one();
        Ok(out)
    }

    /// `DELETE /services/{name}`.
    pub fn delete_service(&self, ns: &str, name: &str) -> Result<beluga_api::Service, ApiError> {
        let out = self.services.delete(ns, name)?;
        self.services_kick.notify_one();
        Ok(out)
    }

    /// Resolves when a Service was created, changed or deleted since the last call.
    pub async fn services_changed(&self) {
        self.services_kick.notified().await
    }

    /// `PUT /services/{name}`.
    pub fn update_service(
        &self,
        svc: beluga_api::Service,
        ns: &str,
        name: &str,
    ) -> Result<beluga_api::Service, ApiError> {
        let out = self.services.update(svc, ns, name, self.next_rv())?;
        self.services_kick.notify_one();
        Ok(out)
    }

    /// The ConfigMaps (issue 16).
    pub fn config_maps(&self) -> &objects::Store<beluga_api::ConfigMap> {
        &self.config_maps
    }

    /// What the node can give pods (`resourceFieldRef`s without a limit).
    pub fn allocatable(&self) -> beluga_api::downward::Allocatable {
        node::allocatable(&self.cfg.root)
    }

    /// The Secrets (issue 16).
    pub fn secrets(&self) -> &objects::Store<beluga_api::Secret> {
        &self.secrets
    }

    /// A ConfigMap or Secret of `ns` was written: its pods try again at once what waited for
    /// one (a container's missing source or key, issue 16 item 4), as kubelet's next sync does.
    pub fn config_changed(&self, ns: &str) {
        for h in self.list(Some(ns)) {
            h.wake.notify_one();
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The image store (the image API's `ls`, `rm`, `import`).
    pub fn store(&self) -> &Arc<beluga_image::Store> {
        &self.images
    }

    /// The OCI runtime itself, for interactive `exec`.
    pub fn oci_runtime(&self) -> &OciRuntime {
        &self.runtime
    }

    /// What pod workers act through.
    pub fn exec(&self) -> &Executor {
        &self.exec
    }

    /// A registry pull's turn: pulls go one at a time.
    pub async fn pull_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.pulls.lock().await
    }

    /// Every pod change from now on (for watches).
    pub fn subscribe(&self) -> broadcast::Receiver<PodEvent> {
        self.watch.subscribe()
    }

    fn pods(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Arc<PodHandle>>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, ns: &str, name: &str) -> Option<Arc<PodHandle>> {
        self.pods()
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// The pods of one namespace or all, as the API shows them now.
    pub fn views(&self, ns: Option<&str>) -> Vec<Pod> {
        self.list(ns).iter().map(|h| self.view(h)).collect()
    }

    pub fn list(&self, ns: Option<&str>) -> Vec<Arc<PodHandle>> {
        self.pods()
            .iter()
            .filter(|((n, _), _)| ns.is_none_or(|want| want == n))
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// Never reissues one given before a restart: the counter starts past every adopted pod's.
    fn resume_rv(&self, rv: Option<&str>) {
        if let Some(n) = rv.and_then(|v| v.parse::<u64>().ok()) {
            self.versions.past(n);
        }
    }

    /// The newest resourceVersion issued (a list's).
    pub fn current_rv(&self) -> String {
        self.current_version().to_string()
    }

    fn current_version(&self) -> u64 {
        self.versions.current()
    }

    fn next_rv(&self) -> String {
        self.next_version().to_string()
    }

    fn next_version(&self) -> u64 {
        self.versions.next()
    }

    /// Sends a watch event with the pod's current status (if it changed, for MODIFIED).
    pub fn publish(&self, h: &PodHandle, kind: &'static str) {
        let before = h.lock().status.clone();
        let pod = self.view(h);
        if kind == "MODIFIED" && before.as_ref() == pod.status.as_ref() {
            return;
        }
        self.announce(h, kind, pod);
        if !h.lock().removing {
            h.persist();
        }
    }

    /// Gives `pod` the next resourceVersion, records it as published, and tells the watchers:
    /// all under the history's lock, so that changes are recorded in version order.
    fn announce(&self, h: &PodHandle, kind: &'static str, mut pod: Pod) -> Pod {
        let mut ring = self.history.lock();
        let rv = self.next_version();
        pod.metadata.resource_version = Some(rv.to_string());
        h.remember(&pod);
        let key = format!(
            "{}/{}",
            beluga_api::podutil::namespace(&pod),
            beluga_api::podutil::name(&pod)
        );
        self.history.record(&mut ring, rv, kind, key, pod.clone());
        let ev = PodEvent { kind, pod };
        let _ = self.watch.send(ev.clone());
        ev.pod
    }

    /// The pods of `ns` (or all) and the version they are at: nothing published later shows in
    /// them, nothing published earlier is missing (a list that a watch resumes from).
    pub fn snapshot(&self, ns: Option<&str>) -> (Vec<Pod>, u64) {
        let _ring = self.history.lock();
        let views = self.views(ns);
        (views, self.current_version())
    }

    /// Containers' last CPU samples (`kubectl top`).
    pub fn cpu_samples(&self) -> &metrics::Samples {
        &self.cpu_samples
    }

    /// The recent pod changes (API watches).
    pub fn history(&self) -> &history::History<Pod> {
        &self.history
    }

    /// After a spec or deletion change: persist, wake the worker (and any waiter), announce.
    fn changed(&self, h: &PodHandle) -> Pod {
        let out = self.announce(h, "MODIFIED", self.view(h));
        h.persist_now();
        h.wake.notify_one();
        h.exited.notify_waiters();
        out
    }

    pub fn forget(&self, h: &PodHandle) {
        let key = {
            let st = h.lock();
            (
                podutil::namespace(&st.pod).to_string(),
                podutil::name(&st.pod).to_string(),
            )
        };
        {
            let mut pods = self.pods();
            if pods.get(&key).is_some_and(|p| std::ptr::eq(p.as_ref(), h)) {
                pods.remove(&key);
            }
        }
        self.wake_unschedulable();
    }

    fn new_handle(
        &self,
        pod: Pod,
        observed: Observed,
        terminal: bool,
        status: Option<beluga_api::PodStatus>,
    ) -> Arc<PodHandle> {
        // A pod found running (or done) was bound before; a new one is bound by its worker's
        // first sync.
        let scheduled = terminal
            || observed.sandbox_ready
            || observed.sandbox_attempt > 0
            || !observed.instances.is_empty();
        let dir = PodDir::new(
            &self.cfg.root,
            podutil::namespace(&pod),
            podutil::name(&pod),
            podutil::uid(&pod),
        );
        Arc::new_cyclic(|me| PodHandle {
            dir,
            state: Mutex::new(PodState {
                pod,
                observed,
                waiting: Default::default(),
                terminal,
                status,
                events: Default::default(),
                backoff: Backoff::new(self.cfg.backoff_initial, self.cfg.backoff_max),
                pull_backoff: Backoff::default(),
                probes: Default::default(),
                removing: false,
                pod_ips: Vec::new(),
                ended: None,
                scheduled,
                unschedulable: None,
                projected: Default::default(),
                tokens: Default::default(),
            }),
            wake: Notify::new(),
            exited: Notify::new(),
            probe_kick: Notify::new(),
            sync_begun: Default::default(),
            synced: tokio::sync::watch::Sender::new(0),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            writes: Default::default(),
            me: me.clone(),
        })
    }

    /// `POST /pods`: defaults, validation, then a worker. Nothing is created on error.
    pub fn create(self: &Arc<Self>, mut pod: Pod, ns: &str) -> Result<Pod, ApiError> {
        if let Some(pns) = pod.metadata.namespace.as_deref().filter(|n| !n.is_empty()) {
            if pns != ns {
                return Err(ApiError::new(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
            }
        }
        pod.metadata.namespace = Some(ns.to_string());
        if pod.metadata.name.as_deref().unwrap_or("").is_empty() {
            if let Some(g) = pod.metadata.generate_name.clone().filter(|g| !g.is_empty()) {
                let suffix: String = uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .chars()
                    .take(5)
                    .collect();
                pod.metadata.name = Some(format!("{g}{suffix}"));
            }
        }
        beluga_api::defaults::apply(&mut pod);
        let name = pod.metadata.name.clone().unwrap_or_default();
        let errs = beluga_api::validation::validate_pod(&pod);
        if !errs.is_empty() {
            return Err(ApiError::invalid(&name, errs));
        }
        let key = (ns.to_string(), name.clone());
        let mut pods = self.pods();
        if pods.contains_key(&key) {
            return Err(ApiError::already_exists("pods", &name));
        }
        pod.metadata.uid = Some(uuid::Uuid::new_v4().to_string());
        pod.metadata.creation_timestamp = Some(Time(self.exec.clock.now()));
        pod.metadata.deletion_timestamp = None;
        pod.metadata.deletion_grace_period_seconds = None;
        pod.status = None;
        let spec = pod.spec.get_or_insert_with(Default::default);
        spec.node_name = Some(node::name());
        if dry_run::active() {
            return Ok(pod);
        }
        pod.metadata.resource_version = Some(self.next_rv());
        let h = self.new_handle(pod, Observed::default(), false, None);
        // The name is taken under the lock; the record (an fsync) is written after it, so that
        // no reader waits on the disk (review P8). A failed write gives the name back.
        pods.insert(key.clone(), h.clone());
        drop(pods);
        if let Err(e) = h.write_record() {
            self.pods().remove(&key);
            let _ = std::fs::remove_dir_all(h.dir.path());
            return Err(ApiError::new(
                500,
                "InternalError",
                format!("persisting pod: {e}"),
            ));
        }
        let out = self.announce(&h, "ADDED", self.view(&h));
        (self.spawn)(self, h);
        Ok(out)
    }

    /// `PUT /pods/{name}`: only image changes are accepted (spec V40); the worker restarts what changed.
    pub fn update(&self, mut pod: Pod, ns: &str, name: &str) -> Result<Pod, ApiError> {
        let h = self
            .get(ns, name)
            .ok_or_else(|| ApiError::not_found(name))?;
        pod.metadata.namespace = Some(ns.to_string());
        beluga_api::defaults::apply(&mut pod);
        {
            let mut st = h.lock();
            let old = st.pod.clone();
            ApiError::check_version(
                "pods",
                name,
                pod.metadata.resource_version.as_deref(),
                old.metadata.resource_version.as_deref(),
            )?;
            // Fields the server owns are carried over from the stored object.
            pod.metadata.uid = old.metadata.uid.clone();
            pod.metadata.creation_timestamp = old.metadata.creation_timestamp.clone();
            pod.metadata.deletion_timestamp = old.metadata.deletion_timestamp.clone();
            pod.metadata.deletion_grace_period_seconds = old.metadata.deletion_grace_period_seconds;
            // A body without managedFields keeps the recorded ones (as the apiserver does).
            if pod.metadata.managed_fields.is_none() {
                pod.metadata.managed_fields = old.metadata.managed_fields.clone();
            }
            if let (Some(new), Some(o)) = (pod.spec.as_mut(), old.spec.as_ref()) {
                new.node_name = o.node_name.clone();
            }
            // What the ServiceAccount admission added at create stays (kubectl's apply keeps it).
            beluga_api::serviceaccount::carry_admitted(&old, &mut pod);
            let errs = beluga_api::validation::validate_update(&pod, &old);
            if !errs.is_empty() {
                return Err(ApiError::invalid(name, errs));
            }
            if pod.spec == old.spec
                && pod.metadata.labels == old.metadata.labels
                && pod.metadata.annotations == old.metadata.annotations
                && pod.metadata.managed_fields == old.metadata.managed_fields
            {
                drop(st);
                return Ok(self.view(&h));
            }
            pod.status = None;
            if dry_run::active() {
                pod.metadata.resource_version = old.metadata.resource_version.clone();
                drop(st);
                pod.status = self.view(&h).status;
                return Ok(pod);
            }
            st.pod = pod;
        }
        Ok(self.changed(&h))
    }

    /// `DELETE /pods/{name}`: marks the pod (a later delete may only shorten the grace period).
    pub fn delete(&self, ns: &str, name: &str, grace: Option<i64>) -> Result<Pod, ApiError> {
        let h = self
            .get(ns, name)
            .ok_or_else(|| ApiError::not_found(name))?;
        if dry_run::active() {
            let mut pod = self.view(&h);
            self.mark_deleted(&mut pod, grace);
            return Ok(pod);
        }
        self.mark_deleted(&mut h.lock().pod, grace);
        Ok(self.changed(&h))
    }

    /// The deletion mark: its grace period (a later delete may only shorten it) and time.
    fn mark_deleted(&self, pod: &mut Pod, grace: Option<i64>) {
        let spec_grace = pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds);
        let current = pod.metadata.deletion_grace_period_seconds;
        pod.metadata.deletion_grace_period_seconds = Some(
            beluga_lifecycle::grace::deletion_seconds(grace, spec_grace, current),
        );
        if pod.metadata.deletion_timestamp.is_none() {
            pod.metadata.deletion_timestamp = Some(Time(self.exec.clock.now()));
        }
    }
}
