//! The pod sandbox: the shim (which makes the namespaces), volumes, the hosts files, and the
//! exit subscription; a lost sandbox is torn down first.

use super::*;

/// Spawns the shim (which makes the namespaces), prepares volumes and the hosts files, and
/// starts following exits. Init-container records are purged so every init container runs again.
pub(super) async fn create_sandbox(d: &Arc<Daemon>, h: &Arc<PodHandle>) -> Result<(), String> {
    let t = std::time::Instant::now();
    let pod = h.lock().pod.clone();
    // A previous sandbox (lost shim): clear it first.
    if h.dir.ns("net").exists() {
        teardown(d, h).await;
    }
    if let Err(e) = volumes::setup_pod_volumes(&pod, &h.dir) {
        h.lock()
            .events
            .record(&pod, None, "Warning", "FailedMount", e.to_string());
        return Err(e.to_string());
    }
    if let Err(e) = beluga_runtime::cgroups::create_pod(podutil::uid(&pod), d.cfg.pod_max_pids) {
        warn!(error = %e, "the pod's cgroup (and its pids limit) could not be made");
    }
    let hostname = podutil::hostname(&pod);
    let sandbox = h.dir.sandbox();
    std::fs::create_dir_all(&sandbox).map_err(|e| e.to_string())?;
    let hosts = volumes::hosts_file(&pod, &hostname, &["127.0.1.1".to_string()]);
    std::fs::write(sandbox.join("hosts"), hosts).map_err(|e| e.to_string())?;
    std::fs::write(sandbox.join("hostname"), format!("{hostname}\n")).map_err(|e| e.to_string())?;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    std::fs::write(
        sandbox.join("resolv.conf"),
        volumes::resolv_conf(&pod, &host_resolv),
    )
    .map_err(|e| e.to_string())?;

    let opts = ShimOptions {
        pod_dir: h.dir.path().to_path_buf(),
        hostname,
        runtime: d.runtime.clone(),
        log_max_size: d.cfg.log_max_size,
        log_max_files: d.cfg.log_max_files,
    };
    let mut child = shim::spawn(&d.cfg.exe, &opts)
        .await
        .map_err(|e| e.to_string())?;
    // Reap the shim whenever it exits; its exit is seen through the subscription's end.
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    let lines = shim_client(h)
        .subscribe()
        .await
        .map_err(|e| e.to_string())?;
    {
        let mut st = h.lock();
        let had_sandbox = st.observed.sandbox_attempt > 0 || !st.observed.instances.is_empty();
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
                "Normal",
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.".into(),
            );
        }
        st.observed.sandbox_ready = true;
    }
    h.persist();
    tokio::spawn(follow_exits(d.clone(), h.clone(), lines));
    tracing::debug!(took = ?t.elapsed(), "sandbox ready");
    Ok(())
}
