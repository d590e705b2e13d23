//! core/v1 Events as the apiserver serves them (kubectl-api §5): the fields they are selected
//! by, and `get events`' Table (`eventColumnDefinitions` / `printEvent`, every cell filled as
//! the server's Table is: kubectl shows the priority-0 columns, all of them with `-o wide`).

use crate::duration::human_duration;
use crate::table::{column, IncludeObject, Table};
use k8s_openapi::api::core::v1::Event;
use k8s_openapi::jiff::Timestamp;

/// The fields an Event can be selected by (the event strategy's `ToSelectableFields`).
pub const EVENT_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// `eventColumnDefinitions`.
pub fn columns() -> Vec<crate::table::Column> {
    vec![
        column("Last Seen", "", 0, "The last time the event was seen"),
        column("Type", "", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
        column("Reason", "", 0, "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
        column("Object", "", 0, "The object that this event is about."),
        column("Subobject", "", 1, "The subobject that this event is about."),
        column("Source", "", 1, "The component reporting this event. Should be a short machine understandable string."),
        column("Message", "", 0, "A human-readable description of the status of this operation."),
        column("First Seen", "", 1, "The first time the event was seen"),
        column("Count", "", 1, "The number of times this event has occurred."),
        column("Name", "name", 1, "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
    ]
}

/// `printEvent` with `Wide` (the server's cells).
pub fn row(e: &Event, now: Timestamp) -> Vec<String> {
    let since = |t: Option<Timestamp>| {
        t.map_or("<unknown>".to_string(), |t| {
            human_duration(now.duration_since(t))
        })
    };
    let first_time = e
        .first_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(e.event_time.as_ref().map(|t| t.0));
    let first = since(first_time);
    let last = match &e.last_timestamp {
        Some(t) => since(Some(t.0)),
        None => first.clone(),
    };
    let o = &e.involved_object;
    let kind = o.kind.as_deref().unwrap_or("").to_lowercase();
    let target = match o.name.as_deref() {
        Some(n) if !n.is_empty() => format!("{kind}/{n}"),
        _ => kind,
    };
    let source = e.source.as_ref();
    let component = first_non_empty(
        source.and_then(|s| s.component.as_deref()),
        e.reporting_component.as_deref(),
    );
    let instance = first_non_empty(
        source.and_then(|s| s.host.as_deref()),
        e.reporting_instance.as_deref(),
    );
    let source = match (component, instance) {
        ("", _) => "<unknown>".to_string(),
        (c, "") => c.to_string(),
        (c, i) => format!("{c}, {i}"),
    };
    vec![
        last,
        e.type_.clone().unwrap_or_default(),
        e.reason.clone().unwrap_or_default(),
        target,
        o.field_path.clone().unwrap_or_default(),
        source,
        e.message.as_deref().unwrap_or("").trim().to_string(),
        first,
        e.count.unwrap_or(0).to_string(),
        e.metadata.name.clone().unwrap_or_default(),
    ]
}

fn first_non_empty<'a>(a: Option<&'a str>, b: Option<&'a str>) -> &'a str {
    a.filter(|s| !s.is_empty()).or(b).unwrap_or("")
}

/// The Table of `events`.
pub fn table(events: &[Event], now: Timestamp, include: IncludeObject, rv: &str) -> Table {
    crate::table::objects(
        columns(),
        events,
        |e| &e.metadata,
        |e| row(e, now),
        include,
        rv,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    // kubectl-api §5: `get events` shows `5m  Normal  Started  pod/web  Started container`.
    #[test]
    fn rows_are_print_events() {
        let now: Timestamp = "2026-12-03T12:05:00Z".parse().expect("time");
        let then: Timestamp = "2026-12-03T12:00:00Z".parse().expect("time");
        let mut e = Event::default();
        e.metadata.name = Some("web.1".into());
        e.involved_object.kind = Some("Pod".into());
        e.involved_object.name = Some("web".into());
        e.involved_object.field_path = Some("spec.containers{web}".into());
        e.reason = Some("Started".into());
        e.message = Some("Started container web ".into());
        e.type_ = Some("Normal".into());
        e.count = Some(2);
        e.first_timestamp = Some(Time(then));
        e.source = Some(k8s_openapi::api::core::v1::EventSource {
            component: Some("kubelet".into()),
            host: Some("node".into()),
        });
        assert_eq!(
            row(&e, now),
            [
                "5m",
                "Normal",
                "Started",
                "pod/web",
                "spec.containers{web}",
                "kubelet, node",
                "Started container web",
                "5m",
                "2",
                "web.1"
            ]
        );
        e.source = None;
        e.first_timestamp = None;
        assert_eq!(row(&e, now)[0], "<unknown>");
        assert_eq!(row(&e, now)[5], "<unknown>");
        assert_eq!(columns().iter().filter(|c| c.priority == 0).count(), 5);
    }
}
