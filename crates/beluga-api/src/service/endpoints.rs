//! Which pods a Service's selector picks and at which port each serves a Service port
//! (`podutil.FindPort`), for the slices (`slices`).

use crate::{podutil, Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Whether the selector (every key=value) matches the pod's labels; an empty selector selects
/// nothing (a Service without one has no controller-made endpoints).
pub fn selects(svc: &Service, pod: &Pod) -> bool {
    let Some(sel) = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    else {
        return false;
    };
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    svc.metadata.namespace.as_deref().unwrap_or("default") == podutil::namespace(pod)
        && sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `podutil.FindPort`: a number as it is; a name among the ports of the containers (and of
/// sidecars, which serve as long as the pod does) with the same protocol.
pub fn target_port(port: &ServicePort, pod: &Pod) -> Option<i32> {
    let protocol = port.protocol.as_deref().unwrap_or("TCP");
    match port.target_port.as_ref() {
        None => Some(port.port),
        Some(IntOrString::Int(n)) => Some(*n),
        Some(IntOrString::String(name)) => podutil::containers(pod)
            .iter()
            .chain(
                podutil::init_containers(pod)
                    .iter()
                    .filter(|c| podutil::is_sidecar(c)),
            )
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| {
                p.name.as_deref() == Some(name.as_str())
                    && p.protocol.as_deref().unwrap_or("TCP") == protocol
            })
            .map(|p| p.container_port),
    }
}
