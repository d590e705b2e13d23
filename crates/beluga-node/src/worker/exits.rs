//! Container exits: the shim's exit stream, a lost shim's containers, termination messages.

use super::*;

/// Follows the sandbox's exits; when they end the sandbox is gone.
pub async fn follow_exits(d: Arc<Daemon>, h: Arc<PodHandle>, mut exits: Exits) {
    while let Some(rec) = exits.recv().await {
        on_exit(&d, &h, rec).await;
    }
    sandbox_lost(&d, &h);
    h.exited.notify_waiters();
    h.wake.notify_one();
}

/// The shim is gone (killed, or shut down): whatever it ran is gone with it. A container it
/// never reported exiting is recorded as containerd records a task of a dead shim: exited 255,
/// so the planner restarts it per the restart policy instead of showing it running (attack report
/// 6.2: `2/2 Running` with nothing running).
pub(super) fn sandbox_lost(d: &Daemon, h: &PodHandle) {
    let orphans: Vec<Instance> = {
        let mut st = h.lock();
        st.observed.sandbox_ready = false;
        st.observed
            .instances
            .iter()
            .filter(|i| matches!(i.state, State::Running | State::Created))
            .cloned()
            .collect()
    };
    let now = d.exec().clock.now().to_string();
    for inst in orphans {
        let rec = ExitRecord {
            id: inst.id.clone(),
            exit_code: 255,
            signal: None,
            oom_killed: false,
            started_at: inst
                .started_at
                .map(|t| t.to_string())
                .unwrap_or_else(|| now.clone()),
            finished_at: now.clone(),
        };
        let _ = h.apply_exit(&rec, None);
        warn!(container = %inst.name, id = %inst.id, "the pod's shim is gone: container recorded as exited (255)");
    }
}

/// Reads the termination message (spec §8.3): the file, or with FallbackToLogsOnError the log tail.
pub(super) fn termination_message(
    h: &PodHandle,
    c: Option<&Container>,
    inst: &Instance,
    code: i32,
) -> Option<String> {
    let bundle = h.dir.bundle(&inst.id);
    let mut msg = std::fs::read(bundle.join("termination-log"))
        .ok()
        .map(|mut b| {
            b.truncate(4096);
            String::from_utf8_lossy(&b).into_owned()
        });
    let fallback =
        c.and_then(|c| c.termination_message_policy.as_deref()) == Some("FallbackToLogsOnError");
    if fallback && code != 0 && msg.as_deref().is_none_or(str::is_empty) {
        let data = std::fs::read(h.dir.log(&inst.name, inst.attempt)).unwrap_or_default();
        let lines = beluga_runtime::crilog::read_lines(&data);
        let tail: Vec<u8> = lines
            .iter()
            .rev()
            .take(80)
            .rev()
            .flat_map(|l| l.content.clone())
            .collect();
        let start = tail.len().saturating_sub(2048);
        msg = Some(String::from_utf8_lossy(&tail[start..]).into_owned());
    }
    msg.filter(|m| !m.is_empty())
}

pub(super) async fn on_exit(d: &Arc<Daemon>, h: &Arc<PodHandle>, rec: ExitRecord) {
    let (inst, c) = {
        let st = h.lock();
        let Some(inst) = st
            .observed
            .instances
            .iter()
            .find(|i| i.id == rec.id)
            .cloned()
        else {
            return;
        };
        let c = find_container(&st.pod, &inst.name).cloned();
        (inst, c)
    };
    let msg = termination_message(h, c.as_ref(), &inst, rec.exit_code);
    let _ = h.apply_exit(&rec, msg);
    info!(container = %inst.name, id = %rec.id, exit_code = rec.exit_code, "container exited");
    let mut synced = h.synced.subscribe();
    // The sync this exit wakes is the next to begin (one may be running now).
    let woken = h.sync_begun.load(std::sync::atomic::Ordering::SeqCst) + 1;
    h.exited.notify_waiters();
    h.wake.notify_one();
    // Release the runtime's container and the rootfs (logs and records stay) once the pod is
    // settled after the sync this exit wakes (what it starts, and what is to start after it, is
    // up): beside a runtime call, the removal of the old container's cgroups and mounts slowed
    // it by a third to a half (issue 13: a restart's 27–35 ms against crun's 19 ms; an init
    // container's removal beside the sidecar's start, 35 ms against 18). Within a second in any
    // case. A pod removed meanwhile cancels this; its teardown deletes every instance anyway.
    let (d, h2, id) = (d.clone(), h.clone(), rec.id.clone());
    h.spawn(async move {
        let settled = synced.wait_for(|&n| n >= woken);
        let _ = tokio::time::timeout(Duration::from_secs(1), settled).await;
        d.exec().runtime.delete(&h2.dir, &id).await;
        d.exec().runtime.discard(&h2.dir, &id).await;
    });
}
