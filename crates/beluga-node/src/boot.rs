//! Starting the daemon: the real executor wired (`Daemon::new`), and the pods found on disk
//! re-adopted (`Daemon::adopt`). The one module that knows both the daemon and the worker, so
//! that the daemon itself never imports the worker that calls it.

use crate::executor::{self, Executor};
use crate::podstate::{self, PodHandle};
use crate::{events::EventType, prober};
use crate::{private_root, worker, Config, Daemon, DaemonError};
use beluga_api::{podutil, Pod};
use beluga_lifecycle::observed::{Observed, State};
use beluga_runtime::layout::PodDir;
use beluga_runtime::oci_runtime::OciRuntime;
use std::sync::Arc;
use tracing::{info, warn};

/// The instances a pod's records hold: every regular container's, and the init containers' of
/// the current sandbox only (a new sandbox runs them again).
fn recorded_instances(
    dir: &PodDir,
    pod: &Pod,
    sandbox: u32,
) -> Vec<beluga_lifecycle::observed::Instance> {
    let names: Vec<String> = podutil::all_containers(pod)
        .map(|c| c.name.clone())
        .collect();
    podstate::load_instances(dir, &names)
        .into_iter()
        .filter(|r| {
            r.sandbox == sandbox
                || !podutil::init_containers(pod)
                    .iter()
                    .any(|c| c.name == r.instance.name)
        })
        .map(|r| r.instance)
        .collect()
}

impl Daemon {
    pub fn new(cfg: Config) -> Result<Arc<Daemon>, DaemonError> {
        private_root(&cfg.root)
            .map_err(|e| DaemonError::Setup(format!("creating {}: {e}", cfg.root.display())))?;
        let images = beluga_image::Store::open(&cfg.root.join("images"))
            .map(|s| Arc::new(s.with_max_layer_bytes(cfg.max_layer_bytes)))
            .map_err(|e| DaemonError::Setup(e.to_string()))?;
        let (runtime, why) = OciRuntime::choose(cfg.runtime.as_deref(), &cfg.root.join("runtime"))
            .map_err(|e| DaemonError::Setup(e.to_string()))?;
        info!(runtime = %runtime.path.display(), "OCI runtime: {why}");
        service_cidr_is_free(&cfg)?;
        let network = crate::network::PodNetwork::choose(&cfg.network, cfg.nft_table.is_some())
            .map_err(|e| DaemonError::Setup(format!("pod network: {e}")))?;
        info!("pod network: {}", network.source);
        let launch = executor::shim::ShimLaunch {
            exe: cfg.exe.clone(),
            runtime: runtime.clone(),
            log_max_size: cfg.log_max_size,
            log_max_files: cfg.log_max_files,
            cgroup_root: cfg.cgroup_root.clone(),
        };
        // The node's address on the pod network, where pods reach the DNS and the API.
        let gateway = network.gateway().filter(|_| cfg.nft_table.is_some());
        let dns = gateway.and_then(|g| cluster_dns(&cfg, g));
        let masquerade = network.masquerade;
        let network = Arc::new(network);
        let exec = Executor {
            sandbox: Arc::new(executor::shim::ShimSandbox {
                spares: executor::spare::Spares::new(
                    executor::spare::spare_dir(&cfg.root),
                    cfg.warm_sandboxes,
                    launch.clone(),
                    network.clone(),
                ),
                launch,
                pod_max_pids: cfg.pod_max_pids,
                network,
                cluster_dns: dns.as_ref().map(|(_, c)| c.clone()),
                resolv_conf: cfg.resolv_conf.clone(),
            }),
            runtime: Arc::new(executor::shim::ShimRuntime {
                runtime: runtime.clone(),
                unmanaged: runtime.unmanaged(),
            }),
            images: Arc::new(executor::store::StoreImages {
                store: images.clone(),
                auth_files: executor::store::registry_auth_files(&cfg.root),
            }),
            clock: Arc::new(executor::store::SystemClock),
        };
        let d = Self::assemble(cfg, images, runtime, exec, worker::spawn)?;
        if let Some((server, _)) = dns {
            d.set_dns_config(server);
        }
        if let Some(cidr) = masquerade {
            let _ = d.masquerade.set(cidr);
        }
        if let Some(ip) = gateway {
            d.set_pod_gateway(ip);
        }
        Ok(d)
    }

    /// A pod directory whose record cannot be read: nothing of it may run unmanaged (attack
    /// report 6.3), so its shim and containers are stopped and its mounts undone, as kubelet
    /// removes the containers of a pod it does not know; the directory (logs included) is kept
    /// aside under `pods-orphaned/`, so the name is free and nothing is lost.
    async fn abandon(&self, dir: &std::path::Path, why: &str) {
        let aside = self.cfg.root.join("pods-orphaned");
        match self.exec.sandbox.abandon(dir, &aside).await {
            Ok(to) => {
                warn!(error = %why, kept = %to.display(), "pod record unreadable: its shim and containers were stopped; its files are kept")
            }
            Err(e) => {
                warn!(error = %why, result = %e, "pod record unreadable: its shim and containers were stopped")
            }
        }
    }

    /// Re-adopts the pods found on disk: their shims are reconnected when alive; otherwise the
    /// planner sees a lost sandbox and acts as kubelet does after a reboot.
    pub async fn adopt(self: &Arc<Self>) {
        if let Ok(rd) = std::fs::read_dir(self.cfg.root.join("pods")) {
            for e in rd.flatten() {
                match podstate::read_record(&PodDir(e.path())) {
                    Ok((rec, recovered)) => self.adopt_one(&e.path(), rec, recovered).await,
                    Err(err) => self.abandon(&e.path(), &err).await,
                }
            }
        }
        // A namespace whose deletion the last daemon did not finish.
        self.resume_namespace_deletions();
        // Then the sandboxes the next pods will take.
        self.exec.sandbox.warm().await;
    }

    /// The daemon stops (SIGTERM, Ctrl-C): pods keep running for the next daemon; what was made
    /// ahead for new ones goes.
    pub async fn stop(&self) {
        // What is queued behind the workers is on disk before the daemon goes.
        for h in self.list(None) {
            h.flush_writes();
        }
        self.exec.sandbox.release().await;
    }

    /// One pod found on disk: its instances from their records, reconciled with what its shim
    /// still runs (or all lost, when the shim is gone), then its worker, exit follower and probes.
    async fn adopt_one(
        self: &Arc<Self>,
        path: &std::path::Path,
        rec: podstate::PodRecord,
        recovered: Option<String>,
    ) {
        let pod = rec.pod.clone();
        let dir = PodDir::new(
            &self.cfg.root,
            podutil::namespace(&pod),
            podutil::name(&pod),
            podutil::uid(&pod),
        );
        let mut instances = recorded_instances(&dir, &pod, rec.sandbox_attempt);
        let exits = self.exec.sandbox.reconnect(&dir).await;
        if exits.is_some() {
            self.reconcile_with_sandbox(&dir, &mut instances).await;
        } else {
            // The sandbox is gone (a reboot, or the shim died): its containers went with it.
            let now = self.exec.clock.now();
            for i in instances
                .iter_mut()
                .filter(|i| matches!(i.state, State::Running | State::Created | State::Unknown))
            {
                i.mark_lost(now);
            }
        }
        let observed = Observed {
            sandbox_ready: exits.is_some(),
            sandbox_attempt: rec.sandbox_attempt,
            instances,
        };
        self.resume_rv(pod.metadata.resource_version.as_deref());
        let h = self.new_handle(pod.clone(), observed, rec.terminal, rec.status);
        h.lock().pod_ips = self.exec.sandbox.pod_ips(&dir);
        if let Some(why) = recovered {
            warn!(dir = %path.display(), error = %why, "pod.json unreadable: re-adopted from the record before it");
            h.lock().events.record(
                &pod,
                None,
                EventType::Warning,
                "PodRecordRecovered",
                format!("The pod's record could not be read ({why}); it was re-adopted from the record before it"),
            );
        }
        let key = (
            podutil::namespace(&pod).to_string(),
            podutil::name(&pod).to_string(),
        );
        self.pods().insert(key, h.clone());
        if let Some(exits) = exits {
            h.spawn(worker::follow_exits(self.clone(), h.clone(), exits));
            self.restart_probes(&h);
        }
        info!(pod = %format!("{}/{}", podutil::namespace(&pod), podutil::name(&pod)), "re-adopted");
        worker::spawn(self, h);
    }

    /// Probe state is not persisted: re-adopted containers start from the initial results, as
    /// after a kubelet restart.
    fn restart_probes(self: &Arc<Self>, h: &Arc<PodHandle>) {
        let running: Vec<(beluga_api::Container, String)> = {
            let st = h.lock();
            st.observed
                .instances
                .iter()
                .filter(|i| i.state == State::Running)
                .filter_map(|i| {
                    podutil::find_container(&st.pod, &i.name).map(|c| (c.clone(), i.id.clone()))
                })
                .collect()
        };
        for (c, id) in running {
            prober::start(self, h, &c, &id);
        }
    }

    /// After a daemon crash the records may lag behind the sandbox: a container started after its
    /// record was written (still `Created`), or one that is no longer known. The runtime's
    /// running set wins.
    async fn reconcile_with_sandbox(
        &self,
        dir: &PodDir,
        instances: &mut [beluga_lifecycle::observed::Instance],
    ) {
        let Some(containers) = self.exec.runtime.list(dir).await else {
            return;
        };
        let now = self.exec.clock.now();
        for i in instances.iter_mut() {
            match containers.iter().find(|c| c.id == i.id) {
                Some(c) => {
                    if i.state != State::Running {
                        tracing::info!(container = %i.name, id = %i.id, "re-adopted a container the records had not seen start");
                    }
                    i.state = State::Running;
                    i.started_at = i.started_at.or_else(|| c.started_at.parse().ok());
                }
                None if matches!(i.state, State::Running | State::Created | State::Unknown) => {
                    // Neither running nor recorded as exited: it never started, or its exit was
                    // lost. One created but never started (a crash between the two) is removed.
                    if i.state == State::Created {
                        self.exec.runtime.delete(dir, &i.id).await;
                    }
                    i.mark_lost(now);
                }
                None => {}
            }
        }
    }
}

/// Cluster IPs are DNATed before routing: a Service range over a network the host reaches
/// (the pod network's bridge included) would take that network's traffic, so it is refused.
fn service_cidr_is_free(cfg: &Config) -> Result<(), DaemonError> {
    if cfg.nft_table.is_none() {
        return Ok(());
    }
    let host = beluga_net::routes::host_routes();
    let cidr = ipnet::IpNet::V4(cfg.service_cidr);
    match beluga_net::routes::overlapping(&cidr, &host, "") {
        Some(r) => Err(DaemonError::Setup(format!(
            "the Service CIDR {} (--service-cidr) overlaps the host's route to {} on {}: choose another with --service-cidr",
            cfg.service_cidr, r.dst, r.dev
        ))),
        None => Ok(()),
    }
}

/// The cluster DNS on the pod network's `gateway` (there is one only with a data plane to
/// route the Service address): the server's address and what pods are told.
fn cluster_dns(
    cfg: &Config,
    gateway: std::net::Ipv4Addr,
) -> Option<(crate::dns::DnsConfig, beluga_runtime::volumes::ClusterDns)> {
    let ip = beluga_api::service::alloc::dns_ip(cfg.service_cidr)?;
    let host = std::fs::read_to_string(&cfg.resolv_conf).unwrap_or_default();
    let server = crate::dns::DnsConfig {
        listen: std::net::SocketAddrV4::new(gateway, 53),
        domain: cfg.cluster_domain.clone(),
        upstream: crate::dns::upstream_of(&host),
    };
    info!(dns = %ip, listen = %server.listen, "cluster DNS for {}", cfg.cluster_domain);
    let told = beluga_runtime::volumes::ClusterDns {
        nameserver: ip.to_string(),
        domain: cfg.cluster_domain.clone(),
    };
    Some((server, told))
}
