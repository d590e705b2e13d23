//! Starting containers (kubelet's startContainer): back-off, image, bundle, the runtime call,
//! then postStart; the container's process, env and confinement.

use super::*;

/// kubelet's `startContainer` (spec §2.3) with the back-off check first (§5.3).
/// A container instance set up for the runtime: overlay mounted, `config.json` written, its
/// record persisted as Created.
pub(super) struct Prepared {
    c: Container,
    pod: Pod,
    id: String,
    inst: Instance,
    sandbox_gen: u32,
    bundle: std::path::PathBuf,
    now: beluga_api::k8s_openapi::jiff::Timestamp,
}

impl Prepared {
    /// What the runtime is given for it.
    fn launch(&self, h: &PodHandle) -> Launch {
        Launch {
            id: self.id.clone(),
            bundle: self.bundle.clone(),
            log: h.dir.log(&self.c.name, self.inst.attempt),
            exit_file: h.dir.exit_file(&self.c.name, self.inst.attempt),
        }
    }
}

/// Records a container that could not be started as waiting with `reason`, removes its bundle,
/// and returns the retry delay.
pub(super) async fn fail_start(
    d: &Daemon,
    h: &PodHandle,
    name: &str,
    id: &str,
    reason: &str,
    msg: String,
) -> Retry {
    d.exec().runtime.discard(&h.dir, id).await;
    let event = Some((EventType::Warning, "Failed", format!("Error: {msg}")));
    waiting(h, name, reason, msg, event, RETRY)
}

/// kubelet's startContainer: back-off, image, bundle, then the runtime (create + start in one
/// shim request), then postStart.
pub(super) async fn start_container(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    c: &Container,
) -> Result<(), Retry> {
    let t = std::time::Instant::now();
    let p = prepare_container(d, h, c).await?;
    let prepared = t.elapsed();
    let resp = d.exec().runtime.run(&h.dir, &p.launch(h)).await;
    // Where a start's time goes, for profiling (`BELUGA_LOG=debug`).
    tracing::debug!(container = %c.name, ?prepared, runtime = ?(t.elapsed() - prepared), "runtime answered");
    launch(d, h, p, resp).await
}

/// Starts regular containers in order as kubelet does, but has the runtime create them ahead:
/// each container's creation (namespaces, mounts, cgroups) begins as soon as its bundle is
/// ready and overlaps the others' preparation and starts, while their processes still begin one
/// by one, each after the previous one's postStart hook. At most one creation per CPU runs at a
/// time, so the first ones finish early and the starts, in order, overlap the rest.
pub(super) async fn start_containers(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    list: &[&Container],
    out: &mut SyncOutcome,
) {
    if let [c] = list {
        if let Err(r) = start_container(d, h, c).await {
            out.failed(&c.name, r);
        }
        return;
    }
    let t = std::time::Instant::now();
    let slots = Arc::new(tokio::sync::Semaphore::new(create_slots()));
    let mut creating = Vec::new();
    for c in list {
        match prepare_container(d, h, c).await {
            Ok(p) => {
                // The first needs no wait for another: the runtime creates and starts it at once.
                let task = create_ahead(d, h, &p, creating.is_empty(), slots.clone());
                creating.push((p, task));
            }
            Err(r) => out.failed(&c.name, r),
        }
    }
    tracing::debug!(n = creating.len(), took = ?t.elapsed(), "bundles prepared");
    for (p, task) in creating {
        let resp = match task.await {
            Ok(Ok(None)) => {
                tracing::debug!(container = %p.c.name, at = ?t.elapsed(), "created");
                d.exec().runtime.start(&h.dir, &p.id).await
            }
            Ok(Ok(Some(started_at))) => Ok(started_at),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("creating the container: {e}")),
        };
        let name = p.c.name.clone();
        if let Err(r) = launch(d, h, p, resp).await {
            out.failed(&name, r);
        }
    }
}

/// How many containers of a pod the runtime creates at once: one per CPU.
fn create_slots() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The runtime's creation of a prepared container, in a task of its own, once a slot is free;
/// `run_now` creates and starts it in one go (Some(startedAt)).
fn create_ahead(
    d: &Arc<Daemon>,
    h: &PodHandle,
    p: &Prepared,
    run_now: bool,
    slots: Arc<tokio::sync::Semaphore>,
) -> tokio::task::JoinHandle<Result<Option<String>, String>> {
    let (rt, dir, l) = (d.exec().runtime.clone(), h.dir.clone(), p.launch(h));
    tokio::spawn(async move {
        let _slot = slots.acquire_owned().await;
        if run_now {
            rt.run(&dir, &l).await.map(Some)
        } else {
            rt.create(&dir, &l).await.map(|()| None)
        }
    })
}

/// Everything before the runtime: back-off, image, bundle (overlay, config.json), the Created
/// record and events. Err says why not, and when to try again.
pub(super) async fn prepare_container(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    c: &Container,
) -> Result<Prepared, Retry> {
    let (pod, newest, attempt) = {
        let st = h.lock();
        let newest = st.observed.newest(&c.name).cloned();
        let from_logs = highest_log_attempt(&h.dir, &c.name)
            .map(|a| a + 1)
            .unwrap_or(0);
        (
            st.pod.clone(),
            newest,
            st.observed.next_attempt(&c.name).max(from_logs),
        )
    };
    let hash = spec_hash(c);
    let now = d.exec().clock.now();
    crash_loop_backoff(h, &pod, c, newest.as_ref(), hash, now)?;
    let (record, pulled) = ensure_image(d, h, &pod, c, now).await?;

    let id = beluga_runtime::layout::container_id(podutil::uid(&pod), &c.name, attempt);
    let bundle = h.dir.bundle(&id);
    // The Services that exist as the container starts, as kubelet reads them then.
    let service_env = beluga_api::service::env::service_env(
        &d.services().list(None),
        podutil::namespace(&pod),
        pod.spec
            .as_ref()
            .and_then(|s| s.enable_service_links)
            .unwrap_or(true),
    );
    let config = env_config(d, h, &pod, c);
    let ips = h.lock().pod_ips.clone();
    let facts = crate::bundle::facts(&pod, &ips, service_env, config, d.allocatable());
    // A missing ConfigMap, Secret or key is known before anything is mounted.
    if let Err(e) = beluga_runtime::process::container_env(&pod, c, &facts) {
        let reason = "CreateContainerConfigError";
        return Err(fail_start(d, h, &c.name, &id, reason, e.0).await);
    }
    let inputs = BundleInputs {
        pod: pod.clone(),
        c: c.clone(),
        image: record.config.clone(),
        lower: d.exec().images.lower_dirs(&record),
        dir: h.dir.clone(),
        bundle: bundle.clone(),
        id: id.clone(),
        seccomp_root: d.config().seccomp_root(),
        cgroups_path: d.config().cgroup_root.container_path(&id),
        seccomp_default: d.config().seccomp_default,
        facts,
    };
    if let Err((reason, msg)) = d.exec().runtime.prepare(inputs).await {
        return Err(fail_start(d, h, &c.name, &id, reason, msg).await);
    }
    let inst = Instance {
        name: c.name.clone(),
        attempt,
        id: id.clone(),
        image: c.image.clone().unwrap_or_default(),
        image_id: record.id.to_string(),
        spec_hash: hash,
        state: State::Created,
        created_at: now,
        started_at: None,
        finished_at: None,
        exit_code: None,
        reason: None,
        message: None,
    };
    let sandbox_gen = record_created(h, &pod, c, &inst, pulled);
    Ok(Prepared {
        c: c.clone(),
        pod,
        id,
        inst,
        sandbox_gen,
        bundle,
        now,
    })
}

/// The ConfigMaps and Secrets of the pod's namespace that the container's environment names
/// (issue 16), as they are when it starts; envFrom keys that are no variable names are kubelet's
/// `InvalidEnvironmentVariableNames` events.
fn env_config(
    d: &Daemon,
    h: &PodHandle,
    pod: &Pod,
    c: &Container,
) -> beluga_runtime::process::ConfigSources {
    let ns = podutil::namespace(pod);
    let (cms, secrets) = beluga_runtime::process::env_sources(c);
    let mut config = beluga_runtime::process::ConfigSources::default();
    for name in cms {
        if let Some(cm) = d.config_maps().get(ns, &name) {
            config
                .config_maps
                .insert(name, cm.data.unwrap_or_default().into_iter().collect());
        }
    }
    for name in secrets {
        if let Some(s) = d.secrets().get(ns, &name) {
            let data = s.data.unwrap_or_default().into_iter();
            config
                .secrets
                .insert(name, data.map(|(k, v)| (k, v.0)).collect());
        }
    }
    let facts = beluga_runtime::process::PodFacts {
        config: config.clone(),
        ..Default::default()
    };
    for msg in beluga_runtime::process::skipped_env_names(pod, c, &facts) {
        let event = (EventType::Warning, "InvalidEnvironmentVariableNames", msg);
        h.lock().events.record(pod, None, event.0, event.1, event.2);
    }
    config
}

/// kubelet's crash-loop back-off (spec §5.3): Err(remaining) while it lasts, with the
/// `CrashLoopBackOff` reason and `BackOff` event; otherwise the next step is taken.
fn crash_loop_backoff(
    h: &PodHandle,
    pod: &Pod,
    c: &Container,
    newest: Option<&Instance>,
    hash: u64,
    now: beluga_api::k8s_openapi::jiff::Timestamp,
) -> Result<(), Retry> {
    let Some(finished) = newest.and_then(|i| i.finished_at) else {
        return Ok(());
    };
    let key = backoff::key(
        podutil::name(pod),
        podutil::namespace(pod),
        podutil::uid(pod),
        &c.name,
        hash,
    );
    let mut st = h.lock();
    if let Some(rem) = st.backoff.remaining(&key, finished, now) {
        let delay = st.backoff.current(&key).unwrap_or(rem);
        drop(st);
        let kpod = podutil::kubelet_name(pod);
        return Err(waiting(
            h,
            &c.name,
            "CrashLoopBackOff",
            waiting_message(delay, &c.name, &kpod),
            Some((
                EventType::Warning,
                "BackOff",
                format!(
                    "Back-off restarting failed container {} in pod {kpod}",
                    c.name
                ),
            )),
            rem,
        ));
    }
    st.backoff.next(&key, finished, now);
    // Entries of container specs no longer in use (an image update) go, as client-go's do.
    st.backoff.gc(now);
    Ok(())
}

/// The instance is created: its record, and kubelet's Pulled (when present) and Created events.
fn record_created(h: &PodHandle, pod: &Pod, c: &Container, inst: &Instance, pulled: bool) -> u32 {
    let sandbox_gen = {
        let mut st = h.lock();
        st.observed.instances.push(inst.clone());
        if !pulled {
            st.events.record(
                pod,
                Some(&c.name),
                EventType::Normal,
                "Pulled",
                format!(
                    "Container image {:?} already present on machine",
                    inst.image
                ),
            );
        }
        st.events.record(
            pod,
            Some(&c.name),
            EventType::Normal,
            "Created",
            format!("Created container: {}", c.name),
        );
        st.observed.sandbox_attempt
    };
    h.persist_instance_now(inst, sandbox_gen);
    sandbox_gen
}

/// What the runtime answered for a prepared container: a started container gets its postStart
/// hook and probes; a failure is kept as containerd does (exit 128, StartError).
pub(super) async fn launch(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    p: Prepared,
    resp: Result<String, String>,
) -> Result<(), Retry> {
    match resp {
        Ok(started_at) => started(d, h, p, &started_at).await,
        Err(msg) => Err(start_failed(d, h, p, msg).await),
    }
}

/// The runtime started the container: `Started`, then postStart (which blocks the next
/// container; until it returns the container still reads as ContainerCreating, §7.2; a failure
/// kills it), then the probes.
async fn started(
    d: &Arc<Daemon>,
    h: &Arc<PodHandle>,
    p: Prepared,
    started_at: &str,
) -> Result<(), Retry> {
    let Prepared {
        c,
        pod,
        id,
        mut inst,
        sandbox_gen,
        ..
    } = p;
    {
        let mut st = h.lock();
        if let Some(i) = st.observed.instances.iter_mut().find(|i| i.id == id) {
            i.started_at = started_at.parse().ok();
        }
        st.waiting.remove(&c.name);
        st.events.record(
            &pod,
            Some(&c.name),
            EventType::Normal,
            "Started",
            format!("Started container {}", c.name),
        );
    }
    if let Some(hook) = c.lifecycle.as_ref().and_then(|l| l.post_start.as_ref()) {
        if let Err(msg) = hooks::run(d, h, &c, &id, hook, None).await {
            {
                let mut st = h.lock();
                st.events.record(
                    &pod,
                    Some(&c.name),
                    EventType::Warning,
                    "FailedPostStartHook",
                    msg.clone(),
                );
                if let Some(i) = st
                    .observed
                    .instances
                    .iter_mut()
                    .find(|i| i.id == id && i.state == State::Created)
                {
                    i.state = State::Running;
                }
            }
            stop_container(d, h, &id, pod_grace(&pod)).await;
            return Err(waiting(
                h,
                &c.name,
                "PostStartHookError",
                msg,
                None,
                Duration::ZERO,
            ));
        }
    }
    {
        let mut st = h.lock();
        // The exit may already have been applied by the exit stream.
        if let Some(i) = st.observed.instances.iter_mut().find(|i| i.id == id) {
            if i.state == State::Created {
                i.state = State::Running;
            }
            inst = i.clone();
        }
    }
    h.persist_instance(&inst, sandbox_gen);
    if inst.state == State::Running {
        prober::start(d, h, &c, &id);
    }
    info!(container = %c.name, attempt = inst.attempt, "container started");
    Ok(())
}

/// The runtime could not start it: containerd keeps such a container as exited with 128 /
/// StartError, so the restart policy and back-off apply to it like to any other exit.
async fn start_failed(d: &Daemon, h: &PodHandle, p: Prepared, msg: String) -> Retry {
    let Prepared {
        c,
        id,
        mut inst,
        sandbox_gen,
        now,
        ..
    } = p;
    inst.state = State::Exited;
    inst.exit_code = Some(128);
    inst.reason = Some("StartError".into());
    inst.message = Some(msg.clone());
    inst.started_at = Some(now);
    inst.finished_at = Some(d.exec().clock.now());
    {
        let mut st = h.lock();
        if let Some(i) = st.observed.instances.iter_mut().find(|i| i.id == id) {
            *i = inst.clone();
        }
    }
    h.persist_instance(&inst, sandbox_gen);
    fail_start(d, h, &c.name, &id, "RunContainerError", msg).await
}
