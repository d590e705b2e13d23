//! `…/events`: kubelet's events, with kubectl's field selectors.

use super::*;

pub(super) fn events(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    q: &HashMap<String, Vec<String>>,
) -> Response<ResBody> {
    // fieldSelector=involvedObject.name=web[,involvedObject.namespace=…]
    let mut want_name = None;
    for sel in q1(q, "fieldSelector").unwrap_or("").split(',') {
        if let Some(v) = sel.strip_prefix("involvedObject.name=") {
            want_name = Some(v.to_string());
        }
    }
    let mut items = Vec::new();
    for h in d.list(ns) {
        let st = h.lock();
        if want_name
            .as_deref()
            .is_some_and(|n| n != podutil::name(&st.pod))
        {
            continue;
        }
        items.extend(st.events.list.iter().cloned());
    }
    items.sort_by(|a, b| {
        a.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.last_timestamp.as_ref().map(|t| t.0))
    });
    json(
        StatusCode::OK,
        &serde_json::json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items}),
    )
}
