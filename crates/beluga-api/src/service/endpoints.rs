//! A Service's endpoints as the endpoint-slice controller picks them
//! (`pkg/controller/endpointslice`): the pods of its namespace that its selector matches, that
//! have an address and have not finished, each at the port its `targetPort` names.

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

/// The `address:port` of each endpoint of `port`, in pod order.
pub fn addresses(svc: &Service, port: &ServicePort, pods: &[Pod]) -> Vec<String> {
    pods.iter()
        .filter(|p| selects(svc, p))
        .filter(|p| {
            let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
            !matches!(phase, Some("Succeeded" | "Failed"))
        })
        .filter_map(|p| {
            let ip = p
                .status
                .as_ref()?
                .pod_ip
                .clone()
                .filter(|ip| !ip.is_empty())?;
            Some(format!("{ip}:{}", target_port(port, p)?))
        })
        .collect()
}

/// kubectl's `formatEndpointSlices` for one port: `<unset>` without a selector (no slices), at
/// most three addresses then `+ N more...`.
pub fn describe_line(svc: &Service, port: &ServicePort, pods: &[Pod]) -> String {
    let has_selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    if !has_selector {
        return "<unset>".into();
    }
    let all = addresses(svc, port, pods);
    let shown = all.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    if all.len() > 3 {
        format!("{shown} + {} more...", all.len() - 3)
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: serde_json::Value, ip: &str, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"podIP": ip, "phase": phase}
        }))
        .unwrap()
    }

    fn svc(selector: serde_json::Value, target: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": selector, "ports": [{"port": 80, "protocol": "TCP", "targetPort": target}]}
        }))
        .unwrap()
    }

    // The controller's choice: selector match, an address, not finished; named targets per pod.
    #[test]
    fn endpoints_of_a_port() {
        let pods = [
            pod("a", json!({"app": "web"}), "10.88.0.2", "Running"),
            pod("b", json!({"app": "web", "x": "y"}), "10.88.0.3", "Pending"),
            pod("c", json!({"app": "db"}), "10.88.0.4", "Running"),
            pod("d", json!({"app": "web"}), "", "Pending"),
            pod("e", json!({"app": "web"}), "10.88.0.6", "Succeeded"),
        ];
        let s = svc(json!({"app": "web"}), json!("http"));
        let port = s.spec.clone().unwrap().ports.unwrap()[0].clone();
        assert_eq!(
            addresses(&s, &port, &pods),
            ["10.88.0.2:8080", "10.88.0.3:8080"]
        );
        let s = svc(json!({"app": "web"}), json!("grpc"));
        let port = s.spec.clone().unwrap().ports.unwrap()[0].clone();
        assert!(addresses(&s, &port, &pods).is_empty());
        assert_eq!(describe_line(&s, &port, &pods), "");
        let s = svc(json!({}), json!(9000));
        let port = s.spec.clone().unwrap().ports.unwrap()[0].clone();
        assert_eq!(describe_line(&s, &port, &pods), "<unset>");
    }

    #[test]
    fn describe_shows_three_then_a_count() {
        let pods: Vec<Pod> = (2..7)
            .map(|i| {
                pod(
                    &format!("p{i}"),
                    json!({"app": "web"}),
                    &format!("10.88.0.{i}"),
                    "Running",
                )
            })
            .collect();
        let s = svc(json!({"app": "web"}), json!(8080));
        let port = s.spec.clone().unwrap().ports.unwrap()[0].clone();
        assert_eq!(
            describe_line(&s, &port, &pods),
            "10.88.0.2:8080,10.88.0.3:8080,10.88.0.4:8080 + 2 more..."
        );
    }
}
