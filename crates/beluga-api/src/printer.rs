//! kubectl's `get pods` columns (spec §9.1, `printers.go printPod`) and its tab-aligned table.

use crate::duration::human_duration;
use crate::podutil::is_sidecar;
use crate::Pod;
use k8s_openapi::api::core::v1::{ContainerState, ContainerStatus, PodSpec, PodStatus};
use k8s_openapi::jiff::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    pub name: String,
    pub ready: String,
    pub status: String,
    pub restarts: String,
    pub age: String,
    pub ip: String,
    pub node: String,
    pub nominated: String,
    pub gates: String,
}

fn condition_true(pod: &Pod, kind: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

fn finished_at(cs: &ContainerStatus) -> Option<Timestamp> {
    cs.last_state
        .as_ref()?
        .terminated
        .as_ref()?
        .finished_at
        .as_ref()
        .map(|t| t.0)
}

/// An unfinished init container's STATUS: `Init:<reason>`, `Init:Signal:<n>`,
/// `Init:ExitCode:<n>`, or `Init:<i>/<n>` while it simply runs or waits to.
fn init_reason(state: &ContainerState, i: usize, n: usize) -> String {
    if let Some(t) = state.terminated.as_ref() {
        return match (
            t.reason.as_deref().filter(|r| !r.is_empty()),
            t.signal.unwrap_or(0),
        ) {
            (Some(r), _) => format!("Init:{r}"),
            (None, s) if s != 0 => format!("Init:Signal:{s}"),
            (None, _) => format!("Init:ExitCode:{}", t.exit_code),
        };
    }
    match state
        .waiting
        .as_ref()
        .and_then(|w| w.reason.as_deref())
        .filter(|r| !r.is_empty() && *r != "PodInitializing")
    {
        Some(r) => format!("Init:{r}"),
        None => format!("Init:{i}/{n}"),
    }
}

/// A regular container's STATUS word when it waits or has terminated (its reason, or
/// `Signal:<n>` / `ExitCode:<n>`); `None` when it runs.
fn container_reason(state: &ContainerState) -> Option<String> {
    if let Some(r) = state
        .waiting
        .as_ref()
        .and_then(|w| w.reason.clone())
        .filter(|r| !r.is_empty())
    {
        return Some(r);
    }
    let t = state.terminated.as_ref()?;
    Some(match t.reason.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None => match t.signal.unwrap_or(0) {
            0 => format!("ExitCode:{}", t.exit_code),
            s => format!("Signal:{s}"),
        },
    })
}

/// `-o wide`'s IP, NODE, NOMINATED NODE and READINESS GATES.
fn wide_columns(pod: &Pod, spec: &PodSpec, status: &PodStatus) -> (String, String, String, String) {
    let none = || "<none>".to_string();
    let ip = status
        .pod_ips
        .as_ref()
        .and_then(|ips| ips.first())
        .map(|i| i.ip.clone())
        .or(status.pod_ip.clone())
        .unwrap_or_else(none);
    let node = spec
        .node_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(none);
    let nominated = status
        .nominated_node_name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(none);
    let gates = match spec.readiness_gates.as_ref().filter(|g| !g.is_empty()) {
        None => none(),
        Some(gs) => {
            let ok = gs
                .iter()
                .filter(|g| condition_true(pod, &g.condition_type))
                .count();
            format!("{ok}/{}", gs.len())
        }
    };
    (ip, node, nominated, gates)
}

/// STATUS before the containers are looked at: the pod's reason, else its phase;
/// `SchedulingGated` while the scheduler holds it.
fn starting_reason(status: &PodStatus) -> String {
    let gated = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"));
    if gated {
        return "SchedulingGated".into();
    }
    match status.reason.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None => status.phase.clone().unwrap_or_default(),
    }
}

/// One row, exactly as `printPod` computes it.
pub fn pod_row(pod: &Pod, now: Timestamp) -> PodRow {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.clone().unwrap_or_default();
    let sidecars: Vec<&str> = init_specs
        .iter()
        .filter(|c| is_sidecar(c))
        .map(|c| c.name.as_str())
        .collect();
    let total = spec.containers.len() + sidecars.len();
    let mut restarts: i32 = 0;
    let mut sidecar_restarts: i32 = 0;
    let mut ready = 0;
    let mut last_restart: Option<Timestamp> = None;
    let mut sidecar_last_restart: Option<Timestamp> = None;
    let mut reason = starting_reason(&status);

    let mut initializing = false;
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    for (i, cs) in init_statuses.iter().enumerate() {
        restarts += cs.restart_count;
        if let Some(t) = finished_at(cs) {
            last_restart = last_restart.max(Some(t));
        }
        let sidecar = sidecars.contains(&cs.name.as_str());
        if sidecar {
            sidecar_restarts += cs.restart_count;
            if let Some(t) = finished_at(cs) {
                sidecar_last_restart = sidecar_last_restart.max(Some(t));
            }
        }
        let state = cs.state.clone().unwrap_or_default();
        if let Some(t) = state.terminated.as_ref() {
            if t.exit_code == 0 {
                continue;
            }
        }
        if sidecar && cs.started == Some(true) {
            if cs.ready {
                ready += 1;
            }
            continue;
        }
        reason = init_reason(&state, i, init_specs.len());
        initializing = true;
        break;
    }

    if !initializing || condition_true(pod, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = sidecar_last_restart;
        let mut has_running = false;
        for cs in status.container_statuses.iter().flatten().rev() {
            restarts += cs.restart_count;
            if let Some(t) = finished_at(cs) {
                last_restart = last_restart.max(Some(t));
            }
            let state = cs.state.clone().unwrap_or_default();
            if let Some(r) = container_reason(&state) {
                reason = r;
            } else if cs.ready && state.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(pod, "Ready") {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }

    let phase = status.phase.as_deref().unwrap_or("");
    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }

    let restarts_col = match last_restart {
        Some(t) if restarts != 0 => {
            format!("{restarts} ({} ago)", human_duration(now.duration_since(t)))
        }
        _ => restarts.to_string(),
    };
    let age = pod.metadata.creation_timestamp.as_ref().map_or_else(
        || "<unknown>".to_string(),
        |t| human_duration(now.duration_since(t.0)),
    );
    let (ip, node, nominated, gates) = wide_columns(pod, &spec, &status);
    PodRow {
        name: pod.metadata.name.clone().unwrap_or_default(),
        ready: format!("{ready}/{total}"),
        status: reason,
        restarts: restarts_col,
        age,
        ip,
        node,
        nominated,
        gates,
    }
}

/// kubectl's tabwriter layout: columns padded to the widest cell plus 3 spaces; the last unpadded.
pub fn format_table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            line.push_str(c);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 3));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The `get pods` table for a set of pods (`wide` adds the four extra columns; `namespace`
/// prepends NAMESPACE as `-A` does): the server-side Table of them, rendered as kubectl does.
pub fn pods_table(pods: &[Pod], now: Timestamp, wide: bool, namespace: bool) -> String {
    let t = crate::table::pods(pods, now, crate::table::IncludeObject::Metadata, "");
    crate::table::render(&t, wide, namespace)
}

#[cfg(test)]
mod tests;
