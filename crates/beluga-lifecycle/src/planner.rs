//! `computePodActions` + `computeInitContainerActions` (spec §2.1, §3.3, §5.2): a pure plan from the
//! pod spec and what the runtime shows.

use crate::observed::{spec_hash, Instance, Observed, State};
use beluga_api::podutil::{containers, init_containers, is_sidecar, restart_policy};
use beluga_api::{Container, Pod};
use std::collections::HashMap;

/// A probe's latest recorded result for one container instance (spec §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    Failure,
}

/// Probe results by container id. Absent = not run yet (kubelet's `found == false`).
#[derive(Debug, Clone, Default)]
pub struct ProbeResults {
    pub liveness: HashMap<String, ProbeResult>,
    pub startup: HashMap<String, ProbeResult>,
    pub readiness: HashMap<String, ProbeResult>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Spec changed (image update).
    DefinitionChanged,
    LivenessProbe,
    StartupProbe,
    /// State unknown: kill before restarting.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub container: String,
    pub id: String,
    pub reason: KillReason,
    /// The `Killing` event's message (`Container x definition changed, will be restarted`).
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodActions {
    /// Kill every container and the sandbox.
    pub kill_pod: bool,
    /// (Re)create the sandbox; implies purging init-container records.
    pub create_sandbox: bool,
    /// Indices into `spec.initContainers`, in start order.
    pub init_to_start: Vec<usize>,
    /// Indices into `spec.containers`, in start order.
    pub containers_to_start: Vec<usize>,
    pub to_kill: Vec<Kill>,
}

fn should_restart_on_failure(pod: &Pod) -> bool {
    restart_policy(pod) != "Never"
}

/// `ShouldContainerBeRestarted` (spec §5.2).
pub fn should_container_be_restarted(c: &Container, pod: &Pod, observed: &Observed) -> bool {
    if pod.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let Some(status) = observed.newest(&c.name) else {
        return true;
    };
    match status.state {
        State::Running => false,
        State::Unknown | State::Created => true,
        State::Exited => match restart_policy(pod) {
            "Never" => false,
            "OnFailure" => status.exit_code != Some(0),
            _ => true,
        },
    }
}

fn init_failed(s: &Instance) -> bool {
    match s.state {
        State::Exited => s.exit_code != Some(0),
        State::Unknown => true,
        _ => false,
    }
}

fn changed(c: &Container, s: &Instance) -> bool {
    spec_hash(c) != s.spec_hash
}

fn kill(c: &Container, s: &Instance, reason: KillReason, message: String) -> Kill {
    Kill {
        container: c.name.clone(),
        id: s.id.clone(),
        reason,
        message,
    }
}

/// Kills an init container (or sidecar) and starts it again: `Init container <c> <what>`.
fn restart_init(
    a: &mut PodActions,
    c: &Container,
    status: &Instance,
    i: usize,
    reason: KillReason,
    what: &str,
) {
    let message = format!("Init container {} {what}", c.name);
    a.to_kill.push(kill(c, status, reason, message));
    a.init_to_start.push(i);
}

/// Where a running sidecar stands in the init-container walk.
struct SidecarCtx {
    index: usize,
    last: usize,
    previously_initialized: bool,
}

/// The walk's step for a running sidecar (spec §3.3): a startup probe not yet passed holds
/// everything after it, a failed one restarts it; once started it lets the next init container
/// start (or, as the last, initializes the pod), and is restarted on a changed image or a failed
/// liveness probe. Returns whether it initializes the pod.
fn running_sidecar(
    c: &Container,
    status: &Instance,
    ctx: &SidecarCtx,
    probes: &ProbeResults,
    a: &mut PodActions,
) -> bool {
    let i = ctx.index;
    if c.startup_probe.is_some() {
        match probes.startup.get(&status.id) {
            None => return false,
            Some(ProbeResult::Failure) => {
                restart_init(
                    a,
                    c,
                    status,
                    i,
                    KillReason::StartupProbe,
                    "failed startup probe",
                );
                return false;
            }
            Some(ProbeResult::Success) => {}
        }
    }
    let initializes = i == ctx.last;
    if !initializes && !ctx.previously_initialized {
        a.init_to_start.push(i + 1);
    }
    if changed(c, status) {
        restart_init(
            a,
            c,
            status,
            i,
            KillReason::DefinitionChanged,
            "definition changed",
        );
        return initializes;
    }
    if c.liveness_probe.is_some() && probes.liveness.get(&status.id) == Some(&ProbeResult::Failure)
    {
        restart_init(
            a,
            c,
            status,
            i,
            KillReason::LivenessProbe,
            "failed liveness probe",
        );
    }
    initializes
}

/// `computeInitContainerActions`: returns whether the pod is initialized.
fn compute_init_actions(
    pod: &Pod,
    observed: &Observed,
    probes: &ProbeResults,
    a: &mut PodActions,
) -> bool {
    let inits = init_containers(pod);
    if inits.is_empty() {
        return true;
    }
    // Any regular container created or running ⇒ initialized. Exited ones do not count
    // (a reboot leaves them exited while the new sandbox is not initialized).
    let mut pod_has_initialized = containers(pod)
        .iter()
        .filter_map(|c| observed.newest(&c.name))
        .any(|s| matches!(s.state, State::Created | State::Running));
    let mut previously_initialized = pod_has_initialized;
    let restart_on_failure = should_restart_on_failure(pod);
    let last = inits.len() - 1;

    for i in (0..inits.len()).rev() {
        let c = &inits[i];
        let sidecar = is_sidecar(c);
        let Some(status) = observed.newest(&c.name) else {
            if previously_initialized && sidecar {
                a.init_to_start.push(i);
            }
            continue;
        };
        if previously_initialized && !sidecar {
            continue;
        }
        match status.state {
            State::Created => a.init_to_start.push(i),
            State::Running if sidecar => {
                let ctx = SidecarCtx {
                    index: i,
                    last,
                    previously_initialized,
                };
                if running_sidecar(c, status, &ctx, probes, a) {
                    pod_has_initialized = true;
                }
            }
            // A regular init container that runs: wait for it.
            State::Running => {}
            State::Exited => {
                if sidecar {
                    a.init_to_start.push(i);
                } else if init_failed(status) {
                    a.init_to_start.push(i);
                    if !restart_on_failure {
                        a.kill_pod = true;
                        a.init_to_start.clear();
                        return false;
                    }
                } else if i == last {
                    pod_has_initialized = true;
                } else {
                    a.init_to_start.push(i + 1);
                }
            }
            State::Unknown => {
                if !sidecar && !restart_on_failure {
                    a.kill_pod = true;
                    a.init_to_start.clear();
                    return false;
                }
                restart_init(a, c, status, i, KillReason::Unknown, "is in unknown state");
            }
        }
        previously_initialized = true;
    }
    if !previously_initialized {
        a.init_to_start.push(0);
    }
    a.init_to_start.reverse();
    pod_has_initialized
}

/// `computePodActions` (spec §2.1).
pub fn compute_pod_actions(pod: &Pod, observed: &Observed, probes: &ProbeResults) -> PodActions {
    let mut a = PodActions::default();
    let regular = containers(pod);
    if !observed.sandbox_ready {
        a.kill_pod = true;
        a.create_sandbox = true;
        // kubelet: `attempt != 0 && len(ContainerStatuses) != 0`; containers that ran imply an
        // earlier sandbox, so their presence is the whole condition here.
        let has_statuses = !observed.instances.is_empty();
        if !should_restart_on_failure(pod) && has_statuses {
            // A `Never` pod whose sandbox died after its containers ran is finished.
            a.create_sandbox = false;
            return a;
        }
        let to_start: Vec<usize> = regular
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                !(restart_policy(pod) == "OnFailure"
                    && observed
                        .newest(&c.name)
                        .is_some_and(|s| s.state == State::Exited && s.exit_code == Some(0)))
            })
            .map(|(i, _)| i)
            .collect();
        if to_start.is_empty() {
            let has_initialized = regular.iter().any(|c| observed.newest(&c.name).is_some());
            if has_initialized {
                a.create_sandbox = false;
                return a;
            }
        }
        if !init_containers(pod).is_empty() {
            a.init_to_start = vec![0];
        } else {
            a.containers_to_start = to_start;
        }
        return a;
    }

    let initialized = compute_init_actions(pod, observed, probes, &mut a);
    if a.kill_pod || !initialized {
        return a;
    }

    let mut keep = 0;
    for (idx, c) in regular.iter().enumerate() {
        let status = observed.newest(&c.name);
        match status {
            Some(s) if s.state == State::Running => {
                let mut restart = should_restart_on_failure(pod);
                let (reason, message) = if changed(c, s) {
                    restart = true;
                    (
                        KillReason::DefinitionChanged,
                        format!("Container {} definition changed", c.name),
                    )
                } else if probes.liveness.get(&s.id) == Some(&ProbeResult::Failure) {
                    (
                        KillReason::LivenessProbe,
                        format!("Container {} failed liveness probe", c.name),
                    )
                } else if probes.startup.get(&s.id) == Some(&ProbeResult::Failure) {
                    (
                        KillReason::StartupProbe,
                        format!("Container {} failed startup probe", c.name),
                    )
                } else {
                    keep += 1;
                    continue;
                };
                let message = if restart {
                    a.containers_to_start.push(idx);
                    format!("{message}, will be restarted")
                } else {
                    message
                };
                a.to_kill.push(kill(c, s, reason, message));
            }
            _ => {
                if should_container_be_restarted(c, pod, observed) {
                    a.containers_to_start.push(idx);
                    if let Some(s) = status.filter(|s| s.state == State::Unknown) {
                        a.to_kill.push(kill(
                            c,
                            s,
                            KillReason::Unknown,
                            format!("Container {} is in unknown state", c.name),
                        ));
                    }
                }
            }
        }
    }
    if keep == 0 && a.containers_to_start.is_empty() {
        // Every regular container is done and none restarts: the pod completes, sidecars included.
        a.kill_pod = true;
        a.init_to_start.clear();
    }
    a
}

#[cfg(test)]
pub(crate) mod tests;
#[cfg(test)]
pub(crate) use tests as tests_support;
