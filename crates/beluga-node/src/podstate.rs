//! One pod's state in the daemon, and its files: `pod.json` (the object and what the runtime
//! cannot tell again) and one record per container instance. All writes are atomic.

use crate::error::ApiError;
use crate::events::EventType;
use crate::events::Events;
use beluga_api::k8s_openapi::api::core::v1::PodStatus;
use beluga_api::podutil;
use beluga_api::Pod;
use beluga_lifecycle::backoff::Backoff;
use beluga_lifecycle::observed::{Instance, Observed, State};
use beluga_lifecycle::status::{pod_status, StatusInput, WaitingReason};
use beluga_runtime::layout::PodDir;
use beluga_runtime::shim::ExitRecord;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::Notify;

/// What `pod.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodRecord {
    pub pod: Pod,
    pub terminal: bool,
    pub sandbox_attempt: u32,
    pub status: Option<PodStatus>,
}

/// One container instance's file: `<container>/<attempt>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub sandbox: u32,
    pub instance: Instance,
}

#[derive(Debug)]
pub struct PodState {
    pub pod: Pod,
    pub observed: Observed,
    pub waiting: HashMap<String, WaitingReason>,
    pub terminal: bool,
    pub status: Option<PodStatus>,
    pub events: Events,
    pub backoff: Backoff,
    /// Image-pull back-off per `<pod uid>_<image>` (10 s → 300 s, spec §1).
    pub pull_backoff: Backoff,
    /// Probe results by container id (spec §6).
    pub probes: beluga_lifecycle::planner::ProbeResults,
    /// A worker is tearing the pod down; nothing else may start containers.
    pub removing: bool,
    /// kubelet ended the pod itself: (reason, message), e.g. an eviction.
    pub ended: Option<(String, String)>,
    /// The sandbox's IPs (issue 14), kept once it is torn down, as kubelet reports them.
    pub pod_ips: Vec<String>,
    /// Bound to the node (the scheduler's NodePorts filter passed); until then nothing runs.
    pub scheduled: bool,
    /// Not bound, with the scheduler's message (its hostPorts are taken).
    pub unschedulable: Option<String>,
    /// What each volume made from objects last had written (`projected`), by volume name.
    pub projected: HashMap<String, u64>,
    /// The tokens issued for its `serviceAccountToken` projections, by `<volume>/<path>`.
    pub tokens: HashMap<String, crate::tokens::Issued>,
}

pub struct PodHandle {
    pub dir: PodDir,
    pub state: Mutex<PodState>,
    /// Re-run the worker (coalescing: many notifications, one sync).
    pub wake: Notify,
    /// A container exited (waiters re-check the instances).
    pub exited: Notify,
    /// Wakes readiness/liveness workers at once when a startup probe succeeds.
    pub probe_kick: Notify,
    /// The number of the worker's latest sync to begin (the first is 1).
    pub sync_begun: std::sync::atomic::AtomicU64,
    /// The number of the latest sync that ended with the pod settled (a plan made then would
    /// start nothing): what waits for the syncs after an event reads `sync_begun` before waking
    /// it.
    pub synced: tokio::sync::watch::Sender<u64>,
    /// The pod's own tasks (probe workers, the exit follower): owned here and cancelled with
    /// the pod, so none outlives it.
    pub tasks: Mutex<tokio::task::JoinSet<()>>,
    /// Its files, written behind the worker where a crash loses nothing the runtime cannot tell
    /// again (`writes`).
    pub writes: crate::writes::Writes,
    /// Itself, for the blocking task that drains `writes`.
    pub me: std::sync::Weak<PodHandle>,
}

pub fn parse_ts(s: &str) -> Option<beluga_api::k8s_openapi::jiff::Timestamp> {
    s.parse().ok()
}

impl PodHandle {
    /// Which instance `logs` or `exec` means, with kubelet's messages when there is none.
    pub fn pick(&self, container: Option<&str>, previous: bool) -> Result<Instance, ApiError> {
        let st = self.lock();
        let pod = &st.pod;
        let name = podutil::name(pod);
        let regular: Vec<&str> = podutil::containers(pod)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let inits: Vec<&str> = podutil::init_containers(pod)
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        let c = match container {
            Some(c) => {
                if !regular.contains(&c) && !inits.contains(&c) {
                    return Err(ApiError::new(
                        400,
                        "BadRequest",
                        format!("container {c} is not valid for pod {name}"),
                    ));
                }
                c.to_string()
            }
            None if regular.len() == 1 => regular[0].to_string(),
            None => {
                let mut msg = format!(
                    "a container name must be specified for pod {name}, choose one of: [{}]",
                    regular.join(" ")
                );
                if !inits.is_empty() {
                    msg.push_str(&format!(
                        " or one of the init containers: [{}]",
                        inits.join(" ")
                    ));
                }
                return Err(ApiError::new(400, "BadRequest", msg));
            }
        };
        let found = if previous {
            st.observed.previous(&c)
        } else {
            st.observed.newest(&c)
        };
        match found {
            Some(i) => Ok(i.clone()),
            None if previous => Err(ApiError::new(
                400,
                "BadRequest",
                format!("previous terminated container {c:?} in pod {name:?} not found"),
            )),
            None => {
                let reason = st
                    .waiting
                    .get(&c)
                    .map(|w| w.reason.clone())
                    .unwrap_or_else(|| {
                        if inits.is_empty() {
                            "ContainerCreating".into()
                        } else {
                            "PodInitializing".into()
                        }
                    });
                Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("container {c:?} in pod {name:?} is waiting to start: {reason}"),
                ))
            }
        }
    }

    /// Runs one of the pod's tasks (a probe worker, the exit follower); finished ones are
    /// reaped here, so the set holds only live ones.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Ends every task of the pod (it is gone).
    pub fn cancel_tasks(&self) {
        self.tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .abort_all();
    }

    /// How many of the pod's tasks still run.
    pub fn live_tasks(&self) -> usize {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.len()
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, PodState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pod with a freshly derived status (spec §8). A read only: what was last published
    /// stays the reference for transition times and for "did it change" (a GET used to store
    /// it, and so swallowed the MODIFIED event the worker was about to publish; review P5).
    pub fn current(&self, runtime: &str, now: beluga_api::k8s_openapi::jiff::Timestamp) -> Pod {
        let st = self.lock();
        let status = {
            let input = StatusInput {
                observed: Some(&st.observed),
                probes: Some(&st.probes),
                waiting: st.waiting.clone(),
                terminal: st.terminal,
                previous: st.status.as_ref(),
                runtime,
                host_ip: Some(crate::node::host_ip()),
                pod_ips: st.pod_ips.clone(),
                unschedulable: st.unschedulable.clone(),
                start_time: st.pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
                ended: st.ended.clone(),
                now,
            };
            pod_status(&st.pod, &input)
        };
        let mut pod = st.pod.clone();
        if st.unschedulable.is_some() {
            // Not bound to the node yet (`NODE <none>`).
            if let Some(spec) = pod.spec.as_mut() {
                spec.node_name = None;
            }
        }
        pod.status = Some(status);
        pod
    }

    /// Records `pod` as published: its status and resourceVersion become the stored ones.
    pub fn remember(&self, pod: &Pod) {
        let mut st = self.lock();
        st.status = pod.status.clone();
        st.pod.metadata.resource_version = pod.metadata.resource_version.clone();
    }

    /// Writes `pod.json` behind the worker (a status, the sandbox's attempt: a crash before it
    /// is written loses nothing the sandbox cannot tell again); a failure is logged and becomes a
    /// Warning event on the pod (review P7: re-adoption trusts these records, so a failed write
    /// must not pass unseen).
    pub fn persist(&self) {
        self.queue(self.record_job());
    }

    /// Writes `pod.json` before returning (what the API changed, a pod that ended), after
    /// everything queued before it; failures as [`PodHandle::persist`].
    pub fn persist_now(&self) {
        if let Err(e) = self.write_now(self.record_job()) {
            self.persist_failed("pod.json", &e);
        }
    }

    /// Writes one instance's record behind the worker (one seen running or exited: the shim's
    /// list and exit files tell it again); failures as [`PodHandle::persist`].
    pub fn persist_instance(&self, inst: &Instance, sandbox: u32) {
        self.queue(self.instance_job(inst, sandbox));
    }

    /// Writes one instance's record before returning (a Created one, before the runtime makes
    /// the container: a container without its record would be unknown after a crash).
    pub fn persist_instance_now(&self, inst: &Instance, sandbox: u32) {
        let job = self.instance_job(inst, sandbox);
        let what = job.what.clone();
        if let Err(e) = self.write_now(job) {
            self.persist_failed(&what, &e);
        }
    }

    /// `pod.json` written now, its error returned (a create gives the name back on failure).
    pub fn write_record(&self) -> std::io::Result<()> {
        self.write_now(self.record_job())
    }

    /// Everything queued is written; nothing more will be (the pod's directory is going).
    pub fn close_writes(&self) {
        let failures = self.writes.close();
        self.report(failures);
    }

    /// Everything queued is written (the daemon stops).
    pub fn flush_writes(&self) {
        let failures = self.writes.flush();
        self.report(failures);
    }

    fn queue(&self, job: crate::writes::Job) {
        if !self.writes.push(job) {
            return;
        }
        match (tokio::runtime::Handle::try_current(), self.me.upgrade()) {
            (Ok(rt), Some(me)) => {
                rt.spawn_blocking(move || {
                    let failures = me.writes.drain_queued();
                    me.report(failures);
                });
            }
            _ => self.report(self.writes.drain_queued()),
        }
    }

    /// `job` and everything queued before it written by the caller; `job`'s own error back.
    fn write_now(&self, job: crate::writes::Job) -> std::io::Result<()> {
        let what = job.what.clone();
        let failures = if self.writes.push(job) {
            self.writes.drain_queued()
        } else {
            self.writes.flush()
        };
        let mut own = Ok(());
        let mut others = Vec::new();
        for (w, e) in failures {
            if w == what && own.is_ok() {
                own = Err(e);
            } else {
                others.push((w, e));
            }
        }
        self.report(others);
        own
    }

    fn report(&self, failures: Vec<crate::writes::Failure>) {
        for (what, e) in failures {
            self.persist_failed(&what, &e);
        }
    }

    fn persist_failed(&self, what: &str, e: &std::io::Error) {
        tracing::warn!(dir = %self.dir.path().display(), error = %e, "writing {what}");
        let mut st = self.lock();
        let pod = st.pod.clone();
        st.events.record(
            &pod,
            None,
            EventType::Warning,
            "FailedToPersist",
            format!("Failed to record the pod's state ({what}): {e}"),
        );
    }

    /// `pod.json` as the state is now; the record before it stays, linked (so `pod.json`
    /// itself never goes missing): if `pod.json` is found damaged, the pod is re-adopted from
    /// it (attack report 6.3).
    fn record_job(&self) -> crate::writes::Job {
        let rec = {
            let st = self.lock();
            PodRecord {
                pod: st.pod.clone(),
                terminal: st.terminal,
                sandbox_attempt: st.observed.sandbox_attempt,
                status: st.status.clone(),
            }
        };
        let dir = self.dir.clone();
        let (current, previous) = record_paths(&dir);
        crate::writes::Job {
            path: current.clone(),
            what: "pod.json".into(),
            write: Box::new(move || {
                std::fs::create_dir_all(dir.path())?;
                let data = serde_json::to_vec_pretty(&rec).map_err(std::io::Error::other)?;
                let _ = std::fs::remove_file(&previous);
                let _ = std::fs::hard_link(&current, &previous);
                beluga_runtime::write_atomic(&current, &data)
            }),
        }
    }

    fn instance_job(&self, inst: &Instance, sandbox: u32) -> crate::writes::Job {
        let path = self.dir.record(&inst.name, inst.attempt);
        let rec = InstanceRecord {
            sandbox,
            instance: inst.clone(),
        };
        let at = path.clone();
        crate::writes::Job {
            path,
            what: format!("the record of {}", inst.id),
            write: Box::new(move || {
                if let Some(p) = at.parent() {
                    std::fs::create_dir_all(p)?;
                }
                let data = serde_json::to_vec_pretty(&rec).map_err(std::io::Error::other)?;
                beluga_runtime::write_atomic(&at, &data)
            }),
        }
    }

    /// Applies an exit the shim reported; returns the finished instance.
    pub fn apply_exit(&self, rec: &ExitRecord, message: Option<String>) -> Option<Instance> {
        let (inst, sandbox) = {
            let mut st = self.lock();
            let sandbox = st.observed.sandbox_attempt;
            let inst = st.observed.instances.iter_mut().find(|i| i.id == rec.id)?;
            inst.state = State::Exited;
            inst.exit_code = Some(rec.exit_code);
            inst.finished_at = parse_ts(&rec.finished_at);
            if inst.started_at.is_none() {
                inst.started_at = parse_ts(&rec.started_at);
            }
            inst.message = message;
            // The runtime's word replaces any provisional reason set at re-adoption.
            inst.reason = rec.oom_killed.then(|| "OOMKilled".to_string());
            (inst.clone(), sandbox)
        };
        self.persist_instance(&inst, sandbox);
        Some(inst)
    }
}

/// `pod.json` and the record before it.
fn record_paths(dir: &PodDir) -> (std::path::PathBuf, std::path::PathBuf) {
    (
        dir.path().join("pod.json"),
        dir.path().join("pod.prev.json"),
    )
}

/// A pod directory's record: `pod.json`, else the one before it, with a note saying why the
/// latter was used. `Err` when neither can be read.
pub fn read_record(dir: &PodDir) -> Result<(PodRecord, Option<String>), String> {
    let (current, previous) = record_paths(dir);
    let read = |p: &std::path::Path| -> Result<PodRecord, String> {
        let data = std::fs::read(p).map_err(|e| e.to_string())?;
        serde_json::from_slice(&data).map_err(|e| e.to_string())
    };
    match read(&current) {
        Ok(r) => Ok((r, None)),
        Err(first) => match read(&previous) {
            Ok(r) => Ok((r, Some(first))),
            Err(second) => Err(format!("pod.json: {first}; pod.prev.json: {second}")),
        },
    }
}

/// Highest attempt number among a container's log files (kubelet's fallback for restartCount).
pub fn highest_log_attempt(dir: &PodDir, name: &str) -> Option<i32> {
    std::fs::read_dir(dir.container_dir(name))
        .ok()?
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse::<i32>()
                .ok()
        })
        .max()
}

/// Reads every instance record of a pod (for re-adoption), with exits recorded by the shim applied.
pub fn load_instances(dir: &PodDir, names: &[String]) -> Vec<InstanceRecord> {
    let mut out = Vec::new();
    for name in names {
        let Ok(rd) = std::fs::read_dir(dir.container_dir(name)) else {
            continue;
        };
        for e in rd.flatten() {
            let fname = e.file_name();
            let Some(attempt) = fname
                .to_str()
                .and_then(|f| f.strip_suffix(".json"))
                .and_then(|a| a.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(data) = std::fs::read(e.path()) else {
                continue;
            };
            let Ok(mut rec) = serde_json::from_slice::<InstanceRecord>(&data) else {
                tracing::warn!(path = %e.path().display(), "skipping corrupt instance record");
                continue;
            };
            if rec.instance.state != State::Exited {
                let exit = std::fs::read(dir.exit_file(name, attempt))
                    .map(|d| serde_json::from_slice::<ExitRecord>(&d));
                if let Ok(Ok(x)) = exit {
                    rec.instance.state = State::Exited;
                    rec.instance.exit_code = Some(x.exit_code);
                    rec.instance.finished_at = parse_ts(&x.finished_at);
                }
            }
            out.push(rec);
        }
    }
    out
}
