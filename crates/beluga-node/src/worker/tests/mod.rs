//! The worker over the executor fakes (`executor::fake`), without root: kubelet's SyncPod order,
//! each start-failure reason, kill ordering with sidecars, grace periods, exits, re-adoption.
//! Time is tokio's paused clock: grace periods and back-offs pass at once, and what the fake
//! logs says when, in virtual time, each call was made.

use crate::executor::fake::{self, Call, Fake};
use crate::podstate::PodHandle;
use crate::{Config, Daemon};
use beluga_api::k8s_openapi::api::core::v1::ContainerStatus;
use beluga_api::Pod;
use beluga_runtime::oci_runtime::OciRuntime;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod adoption;
mod failures;
mod order;
mod stopping;
mod tokens;

pub(super) const IMG: &str = "localhost/busybox:latest";

pub(super) fn config(root: &Path) -> Config {
    Config {
        root: root.to_path_buf(),
        socket: root.join("beluga.sock"),
        runtime: None,
        backoff_initial: Duration::from_secs(10),
        backoff_max: Duration::from_secs(300),
        exe: "/nonexistent/beluga-shim".into(),
        log_max_size: 0,
        log_max_files: 5,
        pod_max_pids: None,
        max_layer_bytes: 1 << 30,
        seccomp_default: false,
        warm_sandboxes: 0,
        network: crate::network::NetworkConfig {
            conf_dir: "/nonexistent".into(),
            bin_dirs: vec![],
            pod_cidr: "10.88.0.0/16".parse().unwrap(),
        },
        service_cidr: "10.96.0.0/16".parse().unwrap(),
        nft_table: None,
        cgroup_root: Default::default(),
        resolv_conf: "/etc/resolv.conf".into(),
        cluster_domain: "cluster.local".into(),
        api_listen: None,
    }
}

/// A daemon over the fakes, in a temporary root.
pub(super) struct Node {
    pub d: Arc<Daemon>,
    pub fake: Fake,
    /// The root, when this node made it (a restarted daemon reuses another's).
    _root: Option<tempfile::TempDir>,
}

pub(super) fn daemon(root: &Path, fake: &Fake) -> Arc<Daemon> {
    let store = beluga_image::Store::open(&root.join("images")).expect("image store");
    let runtime = OciRuntime {
        name: "fake".into(),
        path: "/nonexistent/runtime".into(),
        state_root: root.join("runtime"),
        hide_mount: None,
    };
    Daemon::assemble(
        config(root),
        Arc::new(store),
        runtime,
        fake.executor(),
        crate::worker::spawn,
    )
    .expect("daemon")
}

impl Node {
    pub fn new() -> Node {
        let root = tempfile::tempdir().expect("tempdir");
        let fake = Fake::default();
        fake.add_image(fake::image(IMG, Default::default()));
        let d = daemon(root.path(), &fake);
        Node {
            d,
            fake,
            _root: Some(root),
        }
    }

    /// A daemon over an existing root and fake (a restart).
    pub fn over(root: &Path, fake: &Fake) -> Node {
        Node {
            d: daemon(root, fake),
            fake: fake.clone(),
            _root: None,
        }
    }

    pub fn apply(&self, pod: Pod) {
        if let Err(e) = self.d.create(pod, "default") {
            panic!("create: {}", e.message);
        }
    }

    pub fn handle(&self, name: &str) -> Arc<PodHandle> {
        self.d.get("default", name).expect("the pod exists")
    }

    pub fn pod(&self, name: &str) -> Pod {
        self.d.view(&self.handle(name))
    }

    /// Waits (in virtual time, up to an hour) until `f` holds for the pod.
    pub async fn until(&self, name: &str, what: &str, f: impl Fn(&Pod) -> bool) -> Pod {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        loop {
            if let Some(h) = self.d.get("default", name) {
                let p = self.d.view(&h);
                if f(&p) {
                    return p;
                }
                if tokio::time::Instant::now() > deadline {
                    panic!(
                        "{what}: never; status {:#?}\ncalls {:#?}",
                        p.status,
                        self.fake.calls()
                    );
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the pod is gone.
    pub async fn gone(&self, name: &str) {
        for _ in 0..72_000 {
            if self.d.get("default", name).is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} never went; calls {:#?}", self.fake.calls());
    }

    /// The pod's events as `Reason: message`.
    pub fn events(&self, name: &str) -> Vec<String> {
        self.handle(name)
            .lock()
            .events
            .list
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e.reason.as_deref().unwrap_or(""),
                    e.message.as_deref().unwrap_or("")
                )
            })
            .collect()
    }

    pub fn has_event(&self, name: &str, needle: &str) -> bool {
        self.events(name).iter().any(|e| e.contains(needle))
    }
}

pub(super) fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// A container's status, regular or init.
pub(super) fn status<'a>(p: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let s = p.status.as_ref()?;
    s.container_statuses
        .iter()
        .flatten()
        .chain(s.init_container_statuses.iter().flatten())
        .find(|c| c.name == name)
}

pub(super) fn waiting(p: &Pod, name: &str) -> String {
    status(p, name)
        .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .unwrap_or_default()
}

pub(super) fn running(p: &Pod, name: &str) -> bool {
    status(p, name).is_some_and(|c| c.state.as_ref().is_some_and(|s| s.running.is_some()))
}

pub(super) fn restarts(p: &Pod, name: &str) -> i32 {
    status(p, name).map_or(-1, |c| c.restart_count)
}

pub(super) fn terminated(p: &Pod, name: &str) -> Option<(i32, String, Option<String>)> {
    let t = status(p, name)?.state.as_ref()?.terminated.as_ref()?;
    Some((
        t.exit_code,
        t.reason.clone().unwrap_or_default(),
        t.message.clone(),
    ))
}

/// Where a call first appears in the log.
pub(super) fn index_of(calls: &[Call], c: &Call) -> usize {
    calls
        .iter()
        .position(|x| x == c)
        .unwrap_or_else(|| panic!("{c:?} never called: {calls:#?}"))
}

pub(super) fn run(name: &str) -> Call {
    Call::Run(name.into())
}

pub(super) fn kill(name: &str, sig: &str) -> Call {
    Call::Kill(name.into(), sig.into())
}

/// Exits after `secs` with `code`, every attempt.
pub(super) fn exits(secs: u64, code: i32) -> fake::Script {
    fake::Script {
        exits: vec![Some((Duration::from_secs(secs), code))],
        ..Default::default()
    }
}
