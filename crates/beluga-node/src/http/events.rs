//! `…/events`: kubelet's events (kept with their pods), with the event strategy's field
//! selectors (`involvedObject.*`, `reason`, `type`, …) and `get events`' Table.

use super::*;

pub(super) fn events(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    uri: &hyper::Uri,
    table: Option<beluga_api::table::IncludeObject>,
) -> Result<Response<ResBody>, ApiError> {
    let mut items = Vec::new();
    for h in d.list(ns) {
        items.extend(h.lock().events.list.iter().cloned());
    }
    let mut items = selected(items, uri, beluga_api::event::EVENT_FIELDS)?;
    items.sort_by(|a, b| {
        a.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.last_timestamp.as_ref().map(|t| t.0))
    });
    let rv = d.current_rv();
    Ok(match table {
        Some(include) => json(
            StatusCode::OK,
            &beluga_api::event::table(&items, d.exec().clock.now(), include, &rv),
        ),
        None => json(
            StatusCode::OK,
            &serde_json::json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
        ),
    })
}
