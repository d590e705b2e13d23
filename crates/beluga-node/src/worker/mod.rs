//! The pod worker: one task per pod that re-runs the planner on every event (container exit,
//! back-off expiry, spec change, delete) and carries out its actions in kubelet's order (spec §2.2).

use crate::bundle::BundleInputs;
use crate::events::EventType;
use crate::executor::{Exits, Launch, SandboxError};
use crate::podstate::{highest_log_attempt, PodHandle};
use crate::Daemon;
use crate::{hooks, prober};
use beluga_api::podutil::{self, containers, find_container, init_containers, is_sidecar};
use beluga_api::{Container, Pod};
use beluga_lifecycle::backoff::{self, waiting_message};
use beluga_lifecycle::grace;
use beluga_lifecycle::observed::{spec_hash, Instance, State};
use beluga_lifecycle::planner::{compute_pod_actions, KillReason};
use beluga_lifecycle::status::WaitingReason;
use beluga_runtime::shim::ExitRecord;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn, Instrument};

mod exits;
mod image;
mod remove;
mod sandbox;
mod start;
mod stop;

pub use exits::follow_exits;
use image::*;
use remove::*;
use sandbox::*;
use start::*;
use stop::*;

/// The pod's `terminationGracePeriodSeconds` (defaulted to 30), bounded.
fn pod_grace(pod: &Pod) -> Duration {
    let secs = pod
        .spec
        .as_ref()
        .and_then(|s| s.termination_grace_period_seconds)
        .unwrap_or(grace::DEFAULT_SECONDS);
    grace::from_seconds(secs)
}

/// kubelet's requeue after a failed sync (spec §1, ≈10 s).
const RETRY: Duration = Duration::from_secs(10);

/// The floor of any container's stop timeout (spec §4.5, §7.5).
const MIN_GRACE: Duration = grace::MIN_STOP;

enum Next {
    Idle,
    After(Duration),
    Done,
}

/// Runs a pod's worker, and runs it again if it panics: a bug met by one pod's input must not
/// leave that pod stuck (its delete unserved) while the daemon lives on (attack report 1.15).
pub fn spawn(d: &Arc<Daemon>, h: Arc<PodHandle>) {
    let d = d.clone();
    tokio::spawn(async move {
        loop {
            match tokio::spawn(run(d.clone(), h.clone())).await {
                Err(e) if e.is_panic() => {
                    let pod = {
                        let st = h.lock();
                        format!("{}/{}", podutil::namespace(&st.pod), podutil::name(&st.pod))
                    };
                    tracing::error!(%pod, "the pod's worker panicked; starting it again");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                _ => break,
            }
        }
    });
}

/// Runs a pod's worker until the pod is removed.
pub async fn run(d: Arc<Daemon>, h: Arc<PodHandle>) {
    let (ns, name) = {
        let st = h.lock();
        (
            podutil::namespace(&st.pod).to_string(),
            podutil::name(&st.pod).to_string(),
        )
    };
    let span = tracing::info_span!("pod", pod = %format!("{ns}/{name}"));
    async move {
        loop {
            let n = h
                .sync_begun
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1;
            let wait = match sync(&d, &h).await {
                Next::Done => break,
                Next::Idle => None,
                Next::After(t) => Some(t),
            };
            d.publish(&h, "MODIFIED");
            if wait != Some(Duration::ZERO) && settled(&h) {
                h.synced.send_replace(n);
            }
            match wait {
                None => h.wake.notified().await,
                Some(t) if t.is_zero() => {}
                Some(t) => {
                    tokio::select! {
                        _ = h.wake.notified() => {}
                        _ = tokio::time::sleep(t) => {}
                    }
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// A plan made now would start nothing (and make no sandbox): what the pod's last sync started
/// is up, and nothing else waits to.
fn settled(h: &PodHandle) -> bool {
    let st = h.lock();
    let plan = compute_pod_actions(&st.pod, &st.observed, &st.probes);
    !plan.create_sandbox && plan.init_to_start.is_empty() && plan.containers_to_start.is_empty()
}

async fn sync(d: &Arc<Daemon>, h: &Arc<PodHandle>) -> Next {
    let (pod, observed, terminal, probes) = {
        let st = h.lock();
        (
            st.pod.clone(),
            st.observed.clone(),
            st.terminal,
            st.probes.clone(),
        )
    };
    if pod.metadata.deletion_timestamp.is_some() {
        remove_pod(d, h).await;
        return Next::Done;
    }
    if terminal {
        return Next::Idle;
    }
    if h.lock().ended.is_some() {
        // Evicted (kubelet's grace override 0: each container still gets the 2 s floor).
        finish(d, h, Duration::ZERO, "pod evicted").await;
        return Next::Idle;
    }
    let scheduled = h.lock().scheduled;
    if !scheduled && !d.bind(h) {
        // Pending, Unschedulable: woken when a pod holding its ports ends or goes.
        return Next::Idle;
    }
    if !volumes_ready(d, h, &pod) {
        return Next::After(RETRY);
    }
    let plan = compute_pod_actions(&pod, &observed, &probes);
    tracing::debug!(?plan, "planned");
    if plan.kill_pod && !plan.create_sandbox {
        // The pod is finished (§2.1.5, §4.4): stop what still runs, then tear the sandbox down.
        finish(d, h, pod_grace(&pod), "pod completed").await;
        return Next::Idle;
    }
    if plan.create_sandbox {
        if observed.instances.iter().any(|i| i.state == State::Running) {
            kill_all(d, h, MIN_GRACE).await;
        }
        if let Err(e) = create_sandbox(d, h).await {
            warn!(error = %e, "sandbox creation failed");
            let mut st = h.lock();
            let pod = st.pod.clone();
            st.events.record(
                &pod,
                None,
                EventType::Warning,
                "FailedCreatePodSandBox",
                format!("Failed to create pod sandbox: {e}"),
            );
            return Next::After(RETRY);
        }
    }
    kill_planned(d, h, &pod, &plan.to_kill).await;
    let out = start_planned(d, h, &pod, &plan.init_to_start, &plan.containers_to_start).await;
    let first_regular = !plan.containers_to_start.is_empty()
        && !podutil::containers(&pod)
            .iter()
            .any(|c| observed.newest(&c.name).is_some());
    if first_regular {
        // The pod's app containers are up for the first time (after its init containers).
        d.exec().sandbox.settled();
    }
    if !out.failures.is_empty() {
        tracing::debug!(failures = ?out.failures, "sync steps that did not go through");
    }
    // A token due for renewal is a reason to sync then, as kubelet's token manager's is.
    match (out.next(), crate::projected::next_token_refresh(d, h)) {
        (Next::Idle, Some(t)) => Next::After(t),
        (Next::After(a), Some(t)) => Next::After(a.min(t)),
        (next, _) => next,
    }
}

/// kubelet's `WaitForAttachAndMount`: the volumes made from objects set up or refreshed
/// (`projected`), each failure a `FailedMount` event; false while one was never set up (the
/// containers wait in `ContainerCreating`; a written object or the retry tries again).
fn volumes_ready(d: &Daemon, h: &PodHandle, pod: &Pod) -> bool {
    let failed = crate::projected::refresh(d, h);
    let mut st = h.lock();
    for f in &failed {
        let message = f.error.to_string();
        st.events
            .record(pod, None, EventType::Warning, "FailedMount", message);
    }
    failed.iter().all(|f| f.set_up)
}

/// The pod ends (completed or evicted): everything stopped within `grace`, the sandbox torn
/// down, the pod terminal.
async fn finish(d: &Arc<Daemon>, h: &Arc<PodHandle>, grace: Duration, what: &str) {
    kill_all(d, h, grace).await;
    teardown(d, h).await;
    h.lock().terminal = true;
    h.persist_now();
    d.wake_unschedulable();
    info!("{what}");
}

/// SyncPod step 2: the containers the plan kills, each with kubelet's `Killing` event and its
/// grace (a liveness or startup kill uses the probe's `terminationGracePeriodSeconds`, §7.5).
async fn kill_planned(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    pod: &Pod,
    to_kill: &[beluga_lifecycle::planner::Kill],
) {
    for k in to_kill {
        h.lock().events.record(
            pod,
            Some(&k.container),
            EventType::Normal,
            "Killing",
            k.message.clone(),
        );
        let c = find_container(pod, &k.container);
        let probe = c.and_then(|c| match k.reason {
            KillReason::LivenessProbe => c.liveness_probe.as_ref(),
            KillReason::StartupProbe => c.startup_probe.as_ref(),
            _ => None,
        });
        let grace = probe
            .and_then(|p| p.termination_grace_period_seconds)
            .map(grace::from_seconds)
            .unwrap_or_else(|| pod_grace(pod));
        stop_container(d, h, &k.id, grace).await;
    }
}

/// SyncPod steps 6 and 8: init containers in order (a regular one that fails to start ends the
/// step, §2.2.6), then the regular containers.
async fn start_planned(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    pod: &Pod,
    init_to_start: &[usize],
    containers_to_start: &[usize],
) -> SyncOutcome {
    let mut out = SyncOutcome::default();
    let inits = init_containers(pod);
    for &i in init_to_start {
        let c = &inits[i];
        match start_container(d, h, c).await {
            // A started container is an event (kubelet's PLEG "ContainerStarted"): plan again,
            // so the next init container or the regular containers follow a started sidecar.
            Ok(()) => out.again_after(Duration::ZERO),
            Err(retry) => {
                out.failed(&c.name, retry);
                if !is_sidecar(c) {
                    break;
                }
            }
        }
    }
    let regular = containers(pod);
    let to_start: Vec<&Container> = containers_to_start.iter().map(|&i| &regular[i]).collect();
    start_containers(d, h, &to_start, &mut out).await;
    out
}

/// A step that did not go through: kubelet's reason (shown as the container's waiting reason or
/// an event) and when to try again — kept apart, as kube-rs keeps its `Action` apart from errors.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Retry {
    pub reason: String,
    pub after: Duration,
}

/// What a sync's actions leave: when to run again, and which steps did not go through.
#[derive(Debug, Default)]
pub(super) struct SyncOutcome {
    requeue: Option<Duration>,
    failures: Vec<(String, Retry)>,
}

impl SyncOutcome {
    fn again_after(&mut self, t: Duration) {
        self.requeue = Some(self.requeue.map_or(t, |q| q.min(t)));
    }

    pub(super) fn failed(&mut self, container: &str, r: Retry) {
        self.again_after(r.after);
        self.failures.push((container.to_string(), r));
    }

    fn next(&self) -> Next {
        self.requeue.map_or(Next::Idle, Next::After)
    }
}

/// Sets the container's waiting reason (and an event), and says when to try again.
fn waiting(
    h: &PodHandle,
    name: &str,
    reason: &str,
    message: String,
    event: Option<(EventType, &str, String)>,
    after: Duration,
) -> Retry {
    set_waiting(h, name, reason, message, event);
    Retry {
        reason: reason.to_string(),
        after,
    }
}

fn set_waiting(
    h: &PodHandle,
    name: &str,
    reason: &str,
    message: String,
    event: Option<(EventType, &str, String)>,
) {
    let mut st = h.lock();
    st.waiting.insert(
        name.to_string(),
        WaitingReason {
            reason: reason.into(),
            message,
        },
    );
    if let Some((kind, ev_reason, ev_msg)) = event {
        let pod = st.pod.clone();
        st.events.record(&pod, Some(name), kind, ev_reason, ev_msg);
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod outcome_tests {
    use super::*;

    // The earliest retry wins; a started container plans again at once; no retry is idle.
    #[test]
    fn sync_outcomes() {
        let mut out = SyncOutcome::default();
        assert!(matches!(out.next(), Next::Idle));
        let retry = |reason: &str, s| Retry {
            reason: reason.into(),
            after: Duration::from_secs(s),
        };
        out.failed("a", retry("CrashLoopBackOff", 8));
        out.failed("b", retry("ErrImagePull", 3));
        assert!(matches!(out.next(), Next::After(t) if t == Duration::from_secs(3)));
        out.again_after(Duration::ZERO);
        assert!(matches!(out.next(), Next::After(t) if t.is_zero()));
        let reasons: Vec<&str> = out
            .failures
            .iter()
            .map(|(_, r)| r.reason.as_str())
            .collect();
        assert_eq!(reasons, ["CrashLoopBackOff", "ErrImagePull"]);
    }
}
