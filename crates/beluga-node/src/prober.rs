//! Probe workers (spec §6): one task per container instance and probe type, following kubelet's
//! worker algorithm (§6.3). Results land in the pod's `ProbeResults`; a change re-plans the pod.

use crate::events::EventType;
use crate::handlers::{self, Done};
use crate::podstate::PodHandle;
use crate::Daemon;
use beluga_api::expand::expand_env;
use beluga_api::k8s_openapi::api::core::v1::{Container, Probe};
use beluga_lifecycle::observed::State;
use beluga_lifecycle::planner::ProbeResult;
use beluga_lifecycle::probe::{Counter, Kind, MAX_RETRIES};
use std::sync::Arc;
use std::time::Duration;

fn results(
    st: &mut crate::podstate::PodState,
    kind: Kind,
) -> &mut std::collections::HashMap<String, ProbeResult> {
    match kind {
        Kind::Startup => &mut st.probes.startup,
        Kind::Liveness => &mut st.probes.liveness,
        Kind::Readiness => &mut st.probes.readiness,
    }
}

/// Starts the probe workers of a container instance that just started.
pub fn start(d: &Arc<Daemon>, h: &Arc<PodHandle>, c: &Container, id: &str) {
    for (kind, p) in [
        (Kind::Startup, &c.startup_probe),
        (Kind::Liveness, &c.liveness_probe),
        (Kind::Readiness, &c.readiness_probe),
    ] {
        let Some(p) = p.clone() else { continue };
        {
            let mut st = h.lock();
            if let Some(r) = kind.initial() {
                results(&mut st, kind).insert(id.to_string(), r);
            }
        }
        h.spawn(worker(
            d.clone(),
            h.clone(),
            c.clone(),
            id.to_string(),
            kind,
            p,
        ));
    }
}

/// What the worker needs to know on each tick.
struct Tick {
    running: bool,
    deleting: bool,
    terminal: bool,
    since_start: Duration,
    started: bool,
}

fn tick_state(d: &Daemon, h: &PodHandle, c: &Container, id: &str) -> Tick {
    let st = h.lock();
    let inst = st.observed.instances.iter().find(|i| i.id == id);
    let since_start = inst
        .and_then(|i| i.started_at)
        .map(|t| Duration::try_from(d.exec().clock.now().duration_since(t)).unwrap_or_default())
        .unwrap_or_default();
    Tick {
        running: inst.is_some_and(|i| i.state == State::Running),
        deleting: st.pod.metadata.deletion_timestamp.is_some() || st.removing,
        terminal: st.terminal,
        since_start,
        started: c.startup_probe.is_none()
            || st.probes.startup.get(id) == Some(&ProbeResult::Success),
    }
}

async fn worker(d: Arc<Daemon>, h: Arc<PodHandle>, c: Container, id: String, kind: Kind, p: Probe) {
    let period = Duration::from_secs(p.period_seconds.unwrap_or(10).max(1) as u64);
    let timeout = Duration::from_secs(p.timeout_seconds.unwrap_or(1).max(1) as u64);
    let delay = Duration::from_secs(p.initial_delay_seconds.unwrap_or(0).max(0) as u64);
    let mut counter = Counter::new(
        kind,
        p.success_threshold.unwrap_or(1),
        p.failure_threshold.unwrap_or(3),
    );
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Readiness and liveness are also woken when the startup probe succeeds (§6.4, [e2e] C17).
        tokio::select! {
            _ = ticker.tick() => {}
            _ = h.probe_kick.notified(), if kind != Kind::Startup => {}
        }
        let t = tick_state(&d, &h, &c, &id);
        if t.terminal || !t.running {
            return;
        }
        if t.deleting && kind != Kind::Readiness {
            // Liveness and startup stop when deletion begins; readiness goes on (§6.3, §7.6).
            results(&mut h.lock(), kind).insert(id.clone(), ProbeResult::Success);
            return;
        }
        if t.since_start < delay {
            continue;
        }
        match kind {
            Kind::Startup if t.started => return,
            Kind::Liveness | Kind::Readiness if !t.started => continue,
            _ => {}
        }
        let mut outcome = Done::Error(String::new());
        for _ in 0..MAX_RETRIES {
            outcome = run(&d, &h, &c, &id, &p, timeout).await;
            if !matches!(outcome, Done::Error(_)) {
                break;
            }
        }
        let result = match &outcome {
            Done::Success(_) => ProbeResult::Success,
            Done::Warning(w) => {
                event(
                    &h,
                    &c,
                    EventType::Warning,
                    "ProbeWarning",
                    format!("{} probe warning: {w}", kind.name()),
                );
                ProbeResult::Success
            }
            Done::Failure(out) => {
                event(
                    &h,
                    &c,
                    EventType::Warning,
                    "Unhealthy",
                    format!("{} probe failed: {}", kind.name(), out.trim_end()),
                );
                ProbeResult::Failure
            }
            // Errors are retried, then the attempt is dropped (§6.3).
            Done::Error(e) => {
                tracing::debug!(container = %c.name, error = %e, "{} probe errored", kind.name());
                continue;
            }
        };
        if let Some(new) = counter.observe(result) {
            tracing::info!(container = %c.name, id = %id, probe = kind.name(), result = ?new, "probe result recorded");
            results(&mut h.lock(), kind).insert(id.clone(), new);
            if kind == Kind::Startup && new == ProbeResult::Success {
                h.probe_kick.notify_waiters();
            }
            h.wake.notify_one();
            d.publish(&h, "MODIFIED");
        }
        if counter.on_hold {
            return;
        }
    }
}

fn event(h: &PodHandle, c: &Container, kind: EventType, reason: &str, msg: String) {
    let mut st = h.lock();
    let pod = st.pod.clone();
    st.events.record(&pod, Some(&c.name), kind, reason, msg);
}

async fn run(
    d: &Daemon,
    h: &Arc<PodHandle>,
    c: &Container,
    id: &str,
    p: &Probe,
    timeout: Duration,
) -> Done {
    if let Some(e) = &p.exec {
        // `$(VAR)` in exec probes expands only from the container's literal env values (§6.2).
        let env: Vec<(String, String)> = c
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.value.clone().map(|v| (e.name.clone(), v)))
            .collect();
        let cmd: Vec<String> = e
            .command
            .iter()
            .flatten()
            .map(|a| {
                expand_env(a, |n| {
                    env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
                })
            })
            .collect();
        return d.exec().runtime.exec(&h.dir, id, &cmd, Some(timeout)).await;
    }
    if let Some(g) = &p.http_get {
        return handlers::http(h, c, g, timeout, true).await;
    }
    if let Some(t) = &p.tcp_socket {
        return match handlers::resolve_port(c, &t.port) {
            Ok(port) => handlers::tcp(h, t.host.clone(), port, timeout).await,
            Err(e) => Done::Error(e),
        };
    }
    if let Some(g) = &p.grpc {
        return handlers::grpc(
            h,
            g.port as u16,
            g.service.as_deref().unwrap_or(""),
            timeout,
        )
        .await;
    }
    Done::Error("probe has no handler".into())
}
