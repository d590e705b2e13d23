//! Deletion (spec §7.6): the kill within the grace period (restarted when a delete shortens it),
//! then teardown and forgetting the pod.

use super::*;

pub(super) fn deletion_seconds(h: &PodHandle) -> i64 {
    h.lock()
        .pod
        .metadata
        .deletion_grace_period_seconds
        .unwrap_or(grace::DEFAULT_SECONDS)
}

/// Returns once a delete has shortened the grace period below `secs`.
pub(super) async fn grace_shortened(h: &PodHandle, secs: i64) {
    loop {
        let woken = h.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if deletion_seconds(h) < secs {
            return;
        }
        woken.await;
    }
}

/// SIGKILL to every running container of the pod, without waiting.
pub(super) async fn kill_running_now(d: &Daemon, h: &PodHandle) {
    let ids: Vec<String> = h
        .lock()
        .observed
        .instances
        .iter()
        .filter(|i| i.state == State::Running)
        .map(|i| i.id.clone())
        .collect();
    for id in ids {
        d.exec().runtime.kill(&h.dir, &id, "KILL").await;
    }
}

/// Stops the shim and removes the sandbox's namespaces and mounts (volumes stay for the pod).
/// Every runtime container of the pod is deleted here too, whatever the shim managed to do
/// before it went (an exit's own delete may race with the shutdown).
pub(super) async fn teardown(d: &Arc<Daemon>, h: &Arc<PodHandle>) {
    let (pod, ids) = {
        let st = h.lock();
        let ids = st.observed.instances.iter().map(|i| i.id.clone()).collect();
        (st.pod.clone(), ids)
    };
    d.exec().sandbox.teardown(&pod, &h.dir, ids).await;
    h.lock().observed.sandbox_ready = false;
}

/// Deletion (spec §7.6): stop everything within the grace period, tear down, forget the pod.
/// A later delete with a shorter period (`--now`, `--force --grace-period=0`) restarts the kill
/// with it, as kubelet's pod workers cancel a termination whose grace was shortened.
pub(super) async fn remove_pod(d: &Arc<Daemon>, h: &Arc<PodHandle>) {
    h.lock().removing = true;
    loop {
        let secs = deletion_seconds(h);
        if secs == 0 {
            // --grace-period=0 --force: no stop signal, straight to SIGKILL.
            kill_running_now(d, h).await;
        }
        tokio::select! {
            _ = kill_all(d, h, grace::from_seconds(secs)) => break,
            _ = grace_shortened(h, secs) => {}
        }
    }
    teardown(d, h).await;
    h.lock().terminal = true;
    // Nothing is written into the directory as it goes.
    h.close_writes();
    d.exec().sandbox.remove(&h.dir).await;
    // Its probers and exit follower end with it.
    h.cancel_tasks();
    // Gone from the API before anyone watching hears DELETED.
    d.forget(h);
    d.publish(h, "DELETED");
    info!("pod deleted");
}
