//! Pod events (spec §5.5) in kubelet's words, kept per pod for `describe` and `get events`.

use beluga_api::k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::Pod;

const MAX_EVENTS: usize = 1000;

/// An event's `type`: kubelet's two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Events {
    /// Oldest first; a deque, since the oldest goes when the list is full.
    pub list: std::collections::VecDeque<Event>,
}

impl Events {
    /// Records an event; a repeat of the last identical one only bumps its count (kubectl's `x3 over 2m`).
    pub fn record(
        &mut self,
        pod: &Pod,
        container: Option<&str>,
        kind: EventType,
        reason: &str,
        message: String,
    ) {
        let kubelet = EventSource {
            component: Some("kubelet".into()),
            host: Some(crate::node::name()),
        };
        self.record_from(kubelet, pod, container, kind, reason, message);
    }

    /// An event of the scheduler's (`From default-scheduler`, no host: it is not on the node).
    pub fn record_scheduler(&mut self, pod: &Pod, kind: EventType, reason: &str, message: String) {
        let scheduler = EventSource {
            component: Some("default-scheduler".into()),
            host: None,
        };
        self.record_from(scheduler, pod, None, kind, reason, message);
    }

    fn record_from(
        &mut self,
        source: EventSource,
        pod: &Pod,
        container: Option<&str>,
        kind: EventType,
        reason: &str,
        message: String,
    ) {
        let now = Time(Timestamp::now());
        let field_path = container.map(|c| {
            let init = beluga_api::podutil::init_containers(pod)
                .iter()
                .any(|i| i.name == c);
            if init {
                format!("spec.initContainers{{{c}}}")
            } else {
                format!("spec.containers{{{c}}}")
            }
        });
        if let Some(e) = self.list.iter_mut().rev().find(|e| {
            e.reason.as_deref() == Some(reason)
                && e.message.as_deref() == Some(message.as_str())
                && e.involved_object.field_path == field_path
        }) {
            e.count = Some(e.count.unwrap_or(1) + 1);
            e.last_timestamp = Some(now);
            return;
        }
        let name = beluga_api::podutil::name(pod);
        let ns = beluga_api::podutil::namespace(pod).to_string();
        let seq = self.list.len();
        self.list.push_back(Event {
            metadata: ObjectMeta {
                name: Some(format!(
                    "{name}.{:x}{seq:04x}",
                    Timestamp::now().as_nanosecond() as u64
                )),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("Pod".into()),
                name: Some(name.to_string()),
                namespace: Some(ns),
                uid: pod.metadata.uid.clone(),
                field_path,
                ..Default::default()
            },
            reason: Some(reason.to_string()),
            message: Some(message),
            type_: Some(kind.as_str().to_string()),
            count: Some(1),
            first_timestamp: Some(now.clone()),
            last_timestamp: Some(now),
            source: Some(source),
            ..Default::default()
        });
        if self.list.len() > MAX_EVENTS {
            self.list.pop_front();
        }
    }
}
