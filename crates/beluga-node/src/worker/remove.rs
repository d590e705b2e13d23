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
pub(super) async fn kill_running_now(h: &PodHandle) {
    let ids: Vec<String> = h
        .lock()
        .observed
        .instances
        .iter()
        .filter(|i| i.state == State::Running)
        .map(|i| i.id.clone())
        .collect();
    for id in ids {
        let _ = shim_client(h)
            .call(&Request::Kill {
                id,
                signal: "KILL".into(),
            })
            .await;
    }
}

/// Stops the shim and removes the sandbox's namespaces and mounts (volumes stay for the pod).
/// Every runtime container of the pod is deleted here too, whatever the shim managed to do
/// before it went (an exit's own delete may race with the shutdown).
pub(super) async fn teardown(d: &Arc<Daemon>, h: &Arc<PodHandle>) {
    let _ = shim_client(h).call(&Request::Shutdown).await;
    // The shim answers before it exits: wait for it, so nothing of the pod outlives teardown.
    shim::wait_exit(&h.dir, Duration::from_secs(2)).await;
    let ids: Vec<String> = h
        .lock()
        .observed
        .instances
        .iter()
        .map(|i| i.id.clone())
        .collect();
    let dir = h.dir.clone();
    let runtime = d.runtime.clone();
    let uid = podutil::uid(&h.lock().pod).to_string();
    let _ = tokio::task::spawn_blocking(move || {
        for id in ids {
            let _ = runtime.delete_force(&id);
        }
        beluga_runtime::cgroups::remove_pod(&uid);
        // Any container bundle still mounted (a container that never exited cleanly).
        volumes::unmount_below(&dir.path().join(".containers"));
        shim::teardown_sandbox(&dir);
    })
    .await;
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
            kill_running_now(h).await;
        }
        tokio::select! {
            _ = kill_all(d, h, grace::from_seconds(secs)) => break,
            _ = grace_shortened(h, secs) => {}
        }
    }
    teardown(d, h).await;
    h.lock().terminal = true;
    let dir = h.dir.clone();
    let _ = tokio::task::spawn_blocking(move || {
        volumes::unmount_below(dir.path());
        let _ = std::fs::remove_dir_all(dir.path());
        beluga_runtime::cgroups::remove_parent_if_empty();
    })
    .await;
    // Gone from the API before anyone watching hears DELETED.
    d.forget(h);
    d.publish(h, "DELETED");
    info!("pod deleted");
}
