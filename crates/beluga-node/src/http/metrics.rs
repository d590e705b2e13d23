//! `/apis/metrics.k8s.io/v1beta1/[namespaces/{ns}/]pods[/{name}]` (`kubectl top pod`, spec
//! §6): each pod's running containers with their CPU rate and memory working set, read from
//! their cgroups (`beluga_runtime::cgroups::Root::usage`). The first request for a container
//! samples it twice, `FIRST_WINDOW` apart; later ones measure since the last sample.

use super::*;
use crate::metrics::{cpu_quantity, memory_quantity, window};
use beluga_lifecycle::observed::State;
use std::time::{Duration, Instant};

const FIRST_WINDOW: Duration = Duration::from_millis(250);

/// A pod's running containers: (pod, [(container name, id)]).
type Targets = Vec<(beluga_api::Pod, Vec<(String, String)>)>;

fn targets(d: &Daemon, ns: Option<&str>, name: Option<&str>) -> Targets {
    d.list(ns)
        .into_iter()
        .filter_map(|h| {
            let st = h.lock();
            let pod = st.pod.clone();
            if name.is_some_and(|n| n != podutil::name(&pod)) {
                return None;
            }
            let running: Vec<(String, String)> = st
                .observed
                .instances
                .iter()
                .filter(|i| i.state == State::Running)
                .map(|i| (i.name.clone(), i.id.clone()))
                .collect();
            (!running.is_empty()).then_some((pod, running))
        })
        .collect()
}

/// Every container's (cpu nanocores, working set, window), sampled now (off the executor).
async fn sample(d: &Arc<Daemon>, ids: Vec<String>) -> HashMap<String, (u64, u64, Duration)> {
    let d = d.clone();
    tokio::task::spawn_blocking(move || {
        let root = &d.config().cgroup_root;
        let mut out = HashMap::new();
        let mut pending = Vec::new();
        for id in ids {
            let Some(u) = root.usage(&id) else { continue };
            match d.cpu_samples().rate(&id, Instant::now(), u.cpu_ns) {
                Some((cpu, w)) => drop(out.insert(id, (cpu, u.working_set, w))),
                None => pending.push(id),
            }
        }
        if !pending.is_empty() {
            std::thread::sleep(FIRST_WINDOW);
            for id in pending {
                let Some(u) = root.usage(&id) else { continue };
                if let Some((cpu, w)) = d.cpu_samples().rate(&id, Instant::now(), u.cpu_ns) {
                    out.insert(id, (cpu, u.working_set, w));
                }
            }
        }
        out
    })
    .await
    .unwrap_or_default()
}

/// `PodMetrics` of one pod or a `PodMetricsList`.
pub(super) async fn pod_metrics(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<Response<ResBody>, ApiError> {
    let targets = targets(d, ns, name);
    let ids: Vec<String> = targets
        .iter()
        .flat_map(|(_, cs)| cs.iter().map(|(_, id)| id.clone()))
        .collect();
    let live: std::collections::HashSet<String> = ids.iter().cloned().collect();
    let usage = sample(d, ids).await;
    if ns.is_none() {
        // A list of every pod knows which containers still run: forget the others.
        d.cpu_samples().retain(&|id| live.contains(id));
    }
    let now = serde_json::to_value(
        beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(d.exec().clock.now()),
    )
    .unwrap_or_default();
    let items: Vec<serde_json::Value> = targets
        .iter()
        .filter_map(|(pod, containers)| {
            let cs: Vec<_> = containers.iter().filter_map(|(n, id)| Some((n, usage.get(id)?))).collect();
            let w = cs.iter().map(|(_, u)| u.2).max()?;
            let containers: Vec<_> = cs
                .iter()
                .map(|(n, u)| serde_json::json!({"name": n, "usage": {"cpu": cpu_quantity(u.0), "memory": memory_quantity(u.1)}}))
                .collect();
            Some(serde_json::json!({
                "metadata": {"name": podutil::name(pod), "namespace": podutil::namespace(pod),
                             "creationTimestamp": now, "labels": pod.metadata.labels},
                "timestamp": now, "window": window(w), "containers": containers}))
        })
        .collect();
    if let Some(n) = name {
        let mut item = items.into_iter().next().ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("podmetrics.metrics.k8s.io {n:?} not found"),
            )
        })?;
        item["kind"] = "PodMetrics".into();
        item["apiVersion"] = "metrics.k8s.io/v1beta1".into();
        return Ok(json(StatusCode::OK, &item));
    }
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": items}),
    ))
}
