//! The pod sandbox (kubelet's createPodSandbox step): made through the executor, its exits
//! followed; a lost sandbox is torn down first, and a new one runs the init containers again.

use super::*;

/// Makes the sandbox and starts following its exits. Init-container records are purged so
/// every init container runs again.
pub(super) async fn create_sandbox(d: &Arc<Daemon>, h: &Arc<PodHandle>) -> Result<(), String> {
    let t = std::time::Instant::now();
    let pod = h.lock().pod.clone();
    // A previous sandbox (a lost shim): clear it first.
    let had_sandbox = {
        let st = h.lock();
        st.observed.sandbox_attempt > 0 || !st.observed.instances.is_empty()
    };
    if had_sandbox || h.dir.ns("net").exists() {
        teardown(d, h).await;
    }
    let exits = match d.exec().sandbox.create(&pod, &h.dir).await {
        Ok(exits) => exits,
        Err(SandboxError::Mount(e)) => {
            h.lock()
                .events
                .record(&pod, None, EventType::Warning, "FailedMount", e.clone());
            return Err(e);
        }
        Err(SandboxError::Other(e)) => return Err(e),
    };
    {
        let mut st = h.lock();
        if had_sandbox {
            st.observed.sandbox_attempt += 1;
            let init_names: Vec<String> = init_containers(&st.pod)
                .iter()
                .map(|c| c.name.clone())
                .collect();
            st.observed
                .instances
                .retain(|i| !init_names.contains(&i.name));
            let pod = st.pod.clone();
            st.events.record(
                &pod,
                None,
                EventType::Normal,
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.".into(),
            );
        }
        st.observed.sandbox_ready = true;
    }
    h.persist();
    h.spawn(follow_exits(d.clone(), h.clone(), exits));
    tracing::debug!(took = ?t.elapsed(), "sandbox ready");
    Ok(())
}
