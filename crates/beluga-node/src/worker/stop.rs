//! Stopping containers: preStop, the stop signal, SIGKILL after the grace period (2 s floor),
//! and the pod-wide kill in kubelet's sidecar order (spec §4.5).

use super::*;

pub(super) fn stop_signal(d: &Daemon, h: &PodHandle, id: &str) -> String {
    let image = h
        .lock()
        .observed
        .instances
        .iter()
        .find(|i| i.id == id)
        .map(|i| i.image.clone());
    image
        .and_then(|img| d.exec().images.get(&img))
        .and_then(|r| r.config.stop_signal)
        .map(|s| s.trim_start_matches("SIG").to_string())
        .unwrap_or_else(|| "TERM".into())
}

pub(super) fn is_stopped(h: &PodHandle, id: &str) -> bool {
    let st = h.lock();
    !st.observed.sandbox_ready
        || st
            .observed
            .instances
            .iter()
            .find(|i| i.id == id)
            .is_none_or(|i| i.state == State::Exited)
}

/// Waits until `done()` or the deadline; true if done.
pub(super) async fn wait_until(
    h: &PodHandle,
    deadline: tokio::time::Instant,
    done: impl Fn() -> bool,
) -> bool {
    loop {
        let notified = h.exited.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if done() {
            return true;
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep_until(deadline) => return done(),
        }
    }
}

/// Runs the container's preStop hook, if it has one and still runs, bounded by `deadline` (§7.3).
pub(super) async fn pre_stop(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    id: &str,
    deadline: tokio::time::Instant,
) {
    let (c, running) = {
        let st = h.lock();
        let inst = st.observed.instances.iter().find(|i| i.id == id);
        let c = inst.and_then(|i| find_container(&st.pod, &i.name).cloned());
        (c, inst.is_some_and(|i| i.state == State::Running))
    };
    let Some(c) = c.filter(|_| running) else {
        return;
    };
    let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.clone()) else {
        return;
    };
    let limit = deadline.saturating_duration_since(tokio::time::Instant::now());
    if let Err(msg) = hooks::run(d, h, &c, id, &hook, Some(limit)).await {
        let mut st = h.lock();
        let pod = st.pod.clone();
        // A preStop failure is only an event: it changes no exit code or reason (§7.3).
        st.events.record(
            &pod,
            Some(&c.name),
            EventType::Warning,
            "FailedPreStopHook",
            msg,
        );
    }
}

/// `StopContainer(timeout)`: preStop, then the stop signal, then SIGKILL once what is left of
/// the timeout (at least 2 s) passes.
pub(super) async fn stop_container(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    id: &str,
    timeout: Duration,
) {
    if is_stopped(h, id) {
        return;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    pre_stop(d, h, id, deadline).await;
    signal_and_wait(
        d,
        h,
        id,
        deadline.saturating_duration_since(tokio::time::Instant::now()),
    )
    .await;
}

/// The stop signal, then SIGKILL after `timeout` (floored at 2 s).
pub(super) async fn signal_and_wait(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    id: &str,
    timeout: Duration,
) {
    if is_stopped(h, id) {
        return;
    }
    let timeout = timeout.max(MIN_GRACE);
    let sig = stop_signal(d, h, id);
    d.exec().runtime.kill(&h.dir, id, &sig).await;
    let deadline = tokio::time::Instant::now() + timeout;
    if wait_until(h, deadline, || is_stopped(h, id)).await {
        return;
    }
    d.exec().runtime.kill(&h.dir, id, "KILL").await;
    let _ = wait_until(
        h,
        tokio::time::Instant::now() + Duration::from_secs(10),
        || is_stopped(h, id),
    )
    .await;
}

/// Kills every running container in parallel with kubelet's order (spec §4.5, §7.6): regular
/// containers at once; each sidecar after every regular container and every later sidecar exited.
pub(super) async fn kill_all(d: &Arc<Daemon>, h: &Arc<PodHandle>, grace: Duration) {
    let (running, order) = {
        let st = h.lock();
        let running: Vec<Instance> = st
            .observed
            .instances
            .iter()
            .filter(|i| matches!(i.state, State::Running | State::Created))
            .cloned()
            .collect();
        let names: Vec<&str> = running.iter().map(|i| i.name.as_str()).collect();
        let order = beluga_lifecycle::termination::waits_for(&st.pod, &names);
        (running, order)
    };
    {
        let mut st = h.lock();
        let pod = st.pod.clone();
        for inst in &running {
            st.events.record(
                &pod,
                Some(&inst.name),
                EventType::Normal,
                "Killing",
                format!("Stopping container {}", inst.name),
            );
        }
    }
    let deadline = tokio::time::Instant::now() + grace;
    let mut set = tokio::task::JoinSet::new();
    for inst in running {
        let (d, h) = (d.clone(), h.clone());
        let first = order.get(&inst.name).cloned().unwrap_or_default();
        set.spawn(async move {
            // Every preStop starts at once, sidecars' included (§4.5, [e2e] T5/T6).
            pre_stop(&d, &h, &inst.id, deadline).await;
            if !first.is_empty() {
                let hh = h.clone();
                let others_done = move || {
                    let st = hh.lock();
                    !st.observed.instances.iter().any(|i| {
                        matches!(i.state, State::Running | State::Created)
                            && first.contains(&i.name)
                    })
                };
                wait_until(&h, deadline, others_done).await;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            signal_and_wait(&d, &h, &inst.id, left).await;
        });
    }
    while set.join_next().await.is_some() {}
}
