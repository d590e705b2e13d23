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
        st.pod_ips = d.exec().sandbox.pod_ips(&h.dir);
    }
    h.persist();
    warn_unmanaged_hugepages(d, h);
    h.spawn(follow_exits(d.clone(), h.clone(), exits));
    tracing::debug!(took = ?t.elapsed(), "sandbox ready");
    Ok(())
}

/// The hugepages a container asks for, when the node's runtime does not manage hugetlb (crun with
/// the cgroup2 hierarchy hidden, issue 13): a Warning event per container, not a silent success.
fn warn_unmanaged_hugepages(d: &Daemon, h: &PodHandle) {
    if !d.exec().runtime.unmanaged().iter().any(|c| c == "hugetlb") {
        return;
    }
    let mut st = h.lock();
    let pod = st.pod.clone();
    for c in podutil::all_containers(&pod) {
        let Some(r) = c.resources.as_ref() else {
            continue;
        };
        let mut asked: Vec<&String> = r
            .limits
            .iter()
            .chain(r.requests.iter())
            .flat_map(|m| m.keys())
            .filter(|k| k.starts_with("hugepages-"))
            .collect();
        asked.sort();
        asked.dedup();
        if asked.is_empty() {
            continue;
        }
        let names: Vec<&str> = asked.iter().map(|k| k.as_str()).collect();
        st.events.record(
            &pod,
            Some(&c.name),
            EventType::Warning,
            "HugePagesNotEnforced",
            format!(
                "{} of container {} not enforced: this node's OCI runtime does not manage the hugetlb cgroup controller",
                names.join(", "),
                c.name
            ),
        );
    }
}
