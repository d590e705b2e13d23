//! Pod lists and watches: a watch subscribes before it lists and skips what the list showed.

use super::*;
use beluga_api::table::IncludeObject;
use beluga_api::wire::WatchEvent;

pub(super) async fn list_or_watch(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    q: &HashMap<String, Vec<String>>,
    table: Option<IncludeObject>,
) -> Result<Response<ResBody>, ApiError> {
    // A watch subscribes before it lists (review P5): a change published in between is seen.
    let sel = selectors(q, beluga_api::selector::POD_FIELDS)?;
    let rx = q_bool(q, "watch").then(|| d.subscribe());
    let pods: Vec<beluga_api::Pod> = d
        .views(ns)
        .into_iter()
        .filter(|p| selects(&sel, p))
        .collect();
    if let Some(rx) = rx {
        return Ok(watch(rx, ns.map(String::from), None, sel, pods));
    }
    match table {
        Some(include) => Ok(json(
            StatusCode::OK,
            &beluga_api::table::pods(&pods, d.exec().clock.now(), include, ""),
        )),
        None => Ok(json(StatusCode::OK, &pod_list(pods))),
    }
}

/// Whether the selectors pick the pod.
fn selects(sel: &beluga_api::selector::Selectors, p: &beluga_api::Pod) -> bool {
    (sel.labels.is_empty() && sel.fields.is_empty())
        || sel.matches(&serde_json::to_value(p).unwrap_or_default())
}

/// A pod's resourceVersion as a number (0 when unset).
pub(super) fn rv_of(p: &beluga_api::Pod) -> u64 {
    p.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A watch: the current objects as ADDED, then every change, one JSON event per line. `rx` was
/// subscribed before `initial` was read; an event no newer than what `initial` showed of that
/// pod is skipped, so nothing is lost and nothing is sent twice; only pods `sel` picks are
/// sent (a pod that stops being picked is not yet sent as DELETED, as the apiserver does).
pub(super) fn watch(
    mut rx: tokio::sync::broadcast::Receiver<crate::PodEvent>,
    ns: Option<String>,
    name: Option<String>,
    sel: beluga_api::selector::Selectors,
    initial: Vec<beluga_api::Pod>,
) -> Response<ResBody> {
    let seen: HashMap<(String, String), u64> = initial
        .iter()
        .map(|p| {
            let key = (
                podutil::namespace(p).to_string(),
                podutil::name(p).to_string(),
            );
            (key, rv_of(p))
        })
        .collect();
    let (tx, resp) = streaming("application/json");
    tokio::spawn(async move {
        let line = |kind: &str, pod: &beluga_api::Pod| {
            let ev = match kind {
                "ADDED" => WatchEvent::Added(pod),
                "DELETED" => WatchEvent::Deleted(pod),
                _ => WatchEvent::Modified(pod),
            };
            let mut v = serde_json::to_vec(&ev).unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        for p in &initial {
            if tx.send(line("ADDED", p)).await.is_err() {
                return;
            }
        }
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let key = (
                        podutil::namespace(&ev.pod).to_string(),
                        podutil::name(&ev.pod).to_string(),
                    );
                    if ns.as_deref().is_some_and(|n| n != key.0)
                        || name.as_deref().is_some_and(|n| n != key.1)
                        || !selects(&sel, &ev.pod)
                        || (ev.kind != "DELETED"
                            && seen.get(&key).is_some_and(|&r| rv_of(&ev.pod) <= r))
                    {
                        continue;
                    }
                    if tx.send(line(ev.kind, &ev.pod)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    resp
}
