//! Pod status from spec + observation (spec §3.2, §5.4, §8): container statuses, phase, conditions.
//! Never stored as truth: recomputed on every read.

use crate::observed::{Instance, Observed, State};
use crate::planner::{should_container_be_restarted, ProbeResult, ProbeResults};
use crate::Timestamp;
use beluga_api::k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, PodCondition, PodStatus,
};
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use beluga_api::podutil::{containers, init_containers, is_sidecar, restart_policy};
use beluga_api::{Container, Pod};
use std::collections::HashMap;

/// Why a container that should run is waiting (kubelet's reason cache): set on a failed start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingReason {
    pub reason: String,
    pub message: String,
}

/// Everything status derivation reads besides the spec.
#[derive(Debug, Clone, Default)]
pub struct StatusInput<'a> {
    pub observed: Option<&'a Observed>,
    pub probes: Option<&'a ProbeResults>,
    /// Reason cache by container name.
    pub waiting: HashMap<String, WaitingReason>,
    /// kubelet has finished terminating the pod.
    pub terminal: bool,
    /// The previous status, for sticky terminal phases and condition transition times.
    pub previous: Option<&'a PodStatus>,
    /// Runtime name for `containerID` (`runc://…`).
    pub runtime: &'a str,
    pub host_ip: Option<String>,
    /// The sandbox's IPs, IPv4 first (`podIP` is the first).
    pub pod_ips: Vec<String>,
    pub start_time: Option<Timestamp>,
    /// The time conditions change at (the caller's clock).
    pub now: Timestamp,
    /// kubelet ended the pod itself, with this (reason, message): an eviction (`Evicted`).
    pub ended: Option<(String, String)>,
    /// The scheduler has not bound the pod, with this message (its hostPorts are taken).
    pub unschedulable: Option<String>,
}

fn terminated(i: &Instance, runtime: &str) -> ContainerStateTerminated {
    let code = i.exit_code.unwrap_or(0);
    let reason = i.reason.clone().unwrap_or_else(|| {
        if code == 0 {
            "Completed".into()
        } else {
            "Error".into()
        }
    });
    ContainerStateTerminated {
        exit_code: code,
        reason: Some(reason),
        message: i.message.clone().filter(|m| !m.is_empty()),
        started_at: i.started_at.map(Time),
        finished_at: i.finished_at.map(Time),
        container_id: Some(format!("{runtime}://{}", i.id)),
        signal: None,
    }
}

fn started(c: &Container, i: &Instance, probes: Option<&ProbeResults>) -> bool {
    if i.state != State::Running {
        return false;
    }
    if c.startup_probe.is_some() {
        return probes.and_then(|p| p.startup.get(&i.id)) == Some(&ProbeResult::Success);
    }
    true
}

fn ready(c: &Container, i: &Instance, probes: Option<&ProbeResults>) -> bool {
    if !started(c, i, probes) {
        return false;
    }
    if c.readiness_probe.is_some() {
        return probes.and_then(|p| p.readiness.get(&i.id)) == Some(&ProbeResult::Success);
    }
    true
}

/// One `ContainerStatus` (spec §8.3), with the reason cache applied as kubelet does.
fn container_status(
    pod: &Pod,
    c: &Container,
    init: bool,
    default_waiting: &str,
    input: &StatusInput,
) -> ContainerStatus {
    let empty = Observed::default();
    let observed = input.observed.unwrap_or(&empty);
    let mut st = ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: String::new(),
        ready: false,
        restart_count: 0,
        started: Some(false),
        state: Some(ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(default_waiting.into()),
                message: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let Some(newest) = observed.newest(&c.name) else {
        // §3.2: a regular init container whose record is gone after the pod initialized.
        let initialized = containers(pod)
            .iter()
            .any(|r| observed.newest(&r.name).is_some());
        if init && !is_sidecar(c) && initialized {
            st.state = Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: 0,
                    reason: Some("Completed".into()),
                    message: Some("Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally".into()),
                    ..Default::default()
                }),
                ..Default::default()
            });
            st.ready = true;
            return st;
        }
        apply_waiting(pod, c, init, observed, input, &mut st);
        return st;
    };
    st.restart_count = newest.attempt;
    st.image = newest.image.clone();
    st.image_id = newest.image_id.clone();
    st.container_id = Some(format!("{}://{}", input.runtime, newest.id));
    st.state = Some(match newest.state {
        State::Running => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: newest.started_at.map(Time),
            }),
            ..Default::default()
        },
        State::Exited => ContainerState {
            terminated: Some(terminated(newest, input.runtime)),
            ..Default::default()
        },
        State::Created => ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some("ContainerCreating".into()),
                message: None,
            }),
            ..Default::default()
        },
        State::Unknown => ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: crate::observed::LOST_EXIT_CODE,
                reason: Some(crate::observed::LOST_REASON.into()),
                message: Some(crate::observed::LOST_MESSAGE.into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    });
    if let Some(prev) = observed
        .previous(&c.name)
        .filter(|p| p.state == State::Exited)
    {
        st.last_state = Some(ContainerState {
            terminated: Some(terminated(prev, input.runtime)),
            ..Default::default()
        });
    }
    st.started = Some(started(c, newest, input.probes));
    st.ready = if init && !is_sidecar(c) {
        // A regular init container is ready once it exited 0.
        newest.state == State::Exited && newest.exit_code == Some(0)
    } else {
        ready(c, newest, input.probes)
    };
    apply_waiting(pod, c, init, observed, input, &mut st);
    st
}

/// kubelet: a container that will be restarted and has a cached failure reason is *Waiting*.
fn apply_waiting(
    pod: &Pod,
    c: &Container,
    init: bool,
    observed: &Observed,
    input: &StatusInput,
    st: &mut ContainerStatus,
) {
    let newest = observed.newest(&c.name);
    if init
        && newest.is_some_and(|s| s.state == State::Exited && s.exit_code == Some(0))
        && !is_sidecar(c)
    {
        return;
    }
    let restartable = if is_sidecar(c) {
        pod.metadata.deletion_timestamp.is_none()
            && newest.is_none_or(|s| s.state != State::Running)
    } else {
        should_container_be_restarted(c, pod, observed)
    };
    if !restartable || input.terminal {
        return;
    }
    let Some(w) = input.waiting.get(&c.name) else {
        return;
    };
    if let Some(t) = st.state.as_ref().and_then(|s| s.terminated.clone()) {
        st.last_state = Some(ContainerState {
            terminated: Some(t),
            ..Default::default()
        });
    }
    st.state = Some(ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(w.reason.clone()),
            message: Some(w.message.clone()).filter(|m| !m.is_empty()),
        }),
        ..Default::default()
    });
}

fn waiting_has_last(st: &ContainerStatus) -> Option<i32> {
    st.last_state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| t.exit_code)
}

/// `getPhase` (spec §8.1).
pub fn phase(
    pod: &Pod,
    init: &[ContainerStatus],
    regular: &[ContainerStatus],
    pod_has_initialized: bool,
    terminal: bool,
) -> &'static str {
    let policy = restart_policy(pod);
    let (mut pending_init, mut failed_init, mut pending_sidecar) = (0, 0, 0);
    let (mut unknown, mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0, 0);
    let specs = init_containers(pod);
    for c in specs {
        let st = init.iter().find(|s| s.name == c.name);
        let state = st.and_then(|s| s.state.clone()).unwrap_or_default();
        if is_sidecar(c) {
            match st {
                None => unknown += 1,
                Some(s) if state.running.is_some() => {
                    running += 1;
                    if s.started != Some(true) {
                        pending_sidecar += 1;
                    }
                }
                Some(_) if state.terminated.is_some() => {}
                Some(s) if state.waiting.is_some() && waiting_has_last(s).is_none() => {
                    pending_sidecar += 1;
                    waiting += 1;
                }
                Some(_) => {}
            }
            continue;
        }
        match st {
            None => pending_init += 1,
            Some(s) => {
                if let Some(t) = state.terminated.as_ref() {
                    if t.exit_code != 0 {
                        failed_init += 1;
                    }
                } else if state.waiting.is_some() {
                    match waiting_has_last(s) {
                        Some(code) if code != 0 => failed_init += 1,
                        Some(_) => {}
                        None => pending_init += 1,
                    }
                } else {
                    pending_init += 1;
                }
            }
        }
    }
    for c in containers(pod) {
        let Some(s) = regular.iter().find(|s| s.name == c.name) else {
            unknown += 1;
            continue;
        };
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = state.terminated.as_ref() {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if state.waiting.is_some() {
            if waiting_has_last(s).is_some() {
                stopped += 1;
            } else {
                waiting += 1;
            }
        } else {
            unknown += 1;
        }
    }
    if failed_init > 0 && policy == "Never" {
        return "Failed";
    }
    if pending_init > 0 || (pending_sidecar > 0 && !pod_has_initialized) || waiting > 0 {
        return "Pending";
    }
    if running > 0 && unknown == 0 {
        return "Running";
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        return match policy {
            "Always" => "Running",
            _ if stopped == succeeded => "Succeeded",
            "Never" => "Failed",
            _ => "Running",
        };
    }
    "Pending"
}

fn condition(
    kind: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
    previous: Option<&PodStatus>,
    now: Timestamp,
) -> PodCondition {
    let status = if ok { "True" } else { "False" }.to_string();
    let prev = previous
        .and_then(|p| p.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == kind));
    let last = match prev {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    PodCondition {
        type_: kind.into(),
        status,
        reason,
        message,
        last_transition_time: last,
        last_probe_time: None,
        observed_generation: None,
    }
}

/// The pod's containers beside their statuses, spec order.
struct ContainerStatuses<'a> {
    inits: &'a [Container],
    regular: &'a [Container],
    init_statuses: &'a [ContainerStatus],
    statuses: &'a [ContainerStatus],
}

/// kubelet's conditions, in its order (spec §8.2): PodReadyToStartContainers, Initialized, Ready,
/// ContainersReady, PodScheduled.
fn conditions(
    cs: &ContainerStatuses<'_>,
    phase: &str,
    observed: &Observed,
    input: &StatusInput,
    now: Timestamp,
) -> Vec<PodCondition> {
    let (inits, regular) = (cs.inits, cs.regular);
    let (init_statuses, statuses) = (cs.init_statuses, cs.statuses);
    let sandbox_ok = observed.sandbox_ready && !input.terminal;
    let mut conditions = vec![condition(
        "PodReadyToStartContainers",
        sandbox_ok,
        None,
        None,
        input.previous,
        now,
    )];
    let incomplete: Vec<&str> = inits
        .iter()
        .zip(init_statuses)
        .filter(|(c, s)| {
            if is_sidecar(c) {
                s.started != Some(true)
            } else {
                !s.ready
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let any_regular_started = statuses.iter().any(|s| {
        s.state
            .as_ref()
            .is_some_and(|st| st.running.is_some() || st.terminated.is_some())
    });
    let initialized = incomplete.is_empty() || any_regular_started || phase == "Succeeded";
    conditions.push(if initialized {
        let reason =
            (phase == "Succeeded" && !incomplete.is_empty()).then(|| "PodCompleted".to_string());
        condition("Initialized", true, reason, None, input.previous, now)
    } else {
        condition(
            "Initialized",
            false,
            Some("ContainersNotInitialized".into()),
            Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
            input.previous,
            now,
        )
    });
    let mut unready: Vec<&str> = Vec::new();
    for (c, s) in inits.iter().zip(init_statuses) {
        if is_sidecar(c) && !s.ready {
            unready.push(&c.name);
        }
    }
    for (c, s) in regular.iter().zip(statuses) {
        if !s.ready {
            unready.push(&c.name);
        }
    }
    let (cr_ok, cr_reason, cr_msg) = match phase {
        "Succeeded" => (false, Some("PodCompleted".to_string()), None),
        "Failed" => (false, Some("PodFailed".to_string()), None),
        _ if unready.is_empty() => (true, None, None),
        _ => (
            false,
            Some("ContainersNotReady".to_string()),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        ),
    };
    conditions.push(condition(
        "Ready",
        cr_ok,
        cr_reason.clone(),
        cr_msg.clone(),
        input.previous,
        now,
    ));
    conditions.push(condition(
        "ContainersReady",
        cr_ok,
        cr_reason,
        cr_msg,
        input.previous,
        now,
    ));
    conditions.push(condition(
        "PodScheduled",
        true,
        None,
        None,
        input.previous,
        now,
    ));

    conditions
}

/// The whole `PodStatus` (spec §8).
pub fn pod_status(pod: &Pod, input: &StatusInput) -> PodStatus {
    if let Some(message) = &input.unschedulable {
        return unscheduled(pod, message, input);
    }
    let now = input.now;
    let empty = Observed::default();
    let observed = input.observed.unwrap_or(&empty);
    let inits = init_containers(pod);
    let regular = containers(pod);
    let default_waiting = if inits.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    };
    let init_statuses: Vec<ContainerStatus> = inits
        .iter()
        .map(|c| container_status(pod, c, true, "PodInitializing", input))
        .collect();
    let statuses: Vec<ContainerStatus> = regular
        .iter()
        .map(|c| container_status(pod, c, false, default_waiting, input))
        .collect();
    let pod_has_initialized = regular.iter().any(|c| observed.newest(&c.name).is_some());

    let prev_phase = input.previous.and_then(|p| p.phase.as_deref());
    let phase = match prev_phase {
        _ if input.ended.is_some() => "Failed".to_string(),
        Some(p @ ("Succeeded" | "Failed")) => p.to_string(),
        _ => phase(
            pod,
            &init_statuses,
            &statuses,
            pod_has_initialized,
            input.terminal,
        )
        .to_string(),
    };

    let statuses_of = ContainerStatuses {
        inits,
        regular,
        init_statuses: &init_statuses,
        statuses: &statuses,
    };
    let conditions = conditions(&statuses_of, &phase, observed, input, now);
    let pod_ip = input.pod_ips.first().cloned();
    // An eviction's reason and message stay with the terminal phase they came with.
    let (reason, message) = match (&input.ended, input.previous) {
        (Some((r, m)), _) => (Some(r.clone()), Some(m.clone())),
        (None, Some(p)) if matches!(prev_phase, Some("Succeeded" | "Failed")) => {
            (p.reason.clone(), p.message.clone())
        }
        _ => (None, None),
    };
    PodStatus {
        phase: Some(phase),
        reason,
        message,
        conditions: Some(conditions),
        init_container_statuses: (!inits.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        host_ip: input.host_ip.clone(),
        host_ips: input
            .host_ip
            .clone()
            .map(|ip| vec![beluga_api::k8s_openapi::api::core::v1::HostIP { ip }]),
        pod_ip: pod_ip.clone(),
        pod_ips: (!input.pod_ips.is_empty()).then(|| {
            input
                .pod_ips
                .iter()
                .map(|ip| beluga_api::k8s_openapi::api::core::v1::PodIP { ip: ip.clone() })
                .collect()
        }),
        start_time: input.start_time.map(Time),
        qos_class: Some(crate::qos::qos_class(pod).into()),
        ..Default::default()
    }
}

/// A pod the scheduler could not bind: what the apiserver holds for it, with no node, no kubelet
/// status, only `PodScheduled=False` (reason `Unschedulable`).
fn unscheduled(pod: &Pod, message: &str, input: &StatusInput) -> PodStatus {
    PodStatus {
        phase: Some("Pending".into()),
        conditions: Some(vec![condition(
            "PodScheduled",
            false,
            Some(crate::scheduling::UNSCHEDULABLE.into()),
            Some(message.into()),
            input.previous,
            input.now,
        )]),
        qos_class: Some(crate::qos::qos_class(pod).into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
