//! The pod's QoS class (`status.qosClass`), as kubelet's `GetPodQOS` computes it from the cpu
//! and memory requests and limits of all containers (init containers included): BestEffort
//! without any, Guaranteed when every container limits both and the summed requests equal the
//! summed limits, Burstable otherwise. (Requests default to limits when only limits are set.)

use beluga_api::quantity::{parse_bytes, parse_millicores};
use beluga_api::Pod;
use std::collections::BTreeMap;

/// A quantity of a QoS resource in comparable units (millicores, bytes); `None` for others.
fn amount(resource: &str, q: &str) -> Option<u64> {
    match resource {
        "cpu" => parse_millicores(q),
        "memory" => parse_bytes(q),
        _ => None,
    }
}

/// `Guaranteed`, `Burstable` or `BestEffort`.
pub fn qos_class(pod: &Pod) -> &'static str {
    let Some(spec) = pod.spec.as_ref() else {
        return "BestEffort";
    };
    let mut requests: BTreeMap<&str, u64> = BTreeMap::new();
    let mut limits: BTreeMap<&str, u64> = BTreeMap::new();
    let mut guaranteed = true;
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for c in all {
        let r = c.resources.as_ref();
        for (name, q) in r.and_then(|r| r.requests.as_ref()).into_iter().flatten() {
            if let Some(n) = amount(name, &q.0).filter(|n| *n > 0) {
                *requests.entry(name.as_str()).or_default() += n;
            }
        }
        let mut found = 0;
        for (name, q) in r.and_then(|r| r.limits.as_ref()).into_iter().flatten() {
            if let Some(n) = amount(name, &q.0).filter(|n| *n > 0) {
                *limits.entry(name.as_str()).or_default() += n;
                found += 1;
            }
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return "BestEffort";
    }
    if guaranteed
        && requests.iter().all(|(k, v)| limits.get(k) == Some(v))
        && requests.len() == limits.len()
    {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: serde_json::Value, inits: serde_json::Value) -> Pod {
        let mut p: Pod = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p"}, "spec": {"containers": containers, "initContainers": inits}}))
        .unwrap();
        beluga_api::defaults::apply(&mut p);
        p
    }

    // kubelet's GetPodQOS (pkg/apis/core/helper/qos), with apiserver's request defaulting.
    #[test]
    fn qos_classes() {
        let both = json!({"cpu": "500m", "memory": "64Mi"});
        for (what, containers, inits, want) in [
            ("nothing", json!([{"name": "a"}]), json!([]), "BestEffort"),
            (
                "limits only (requests defaulted)",
                json!([{"name": "a", "resources": {"limits": both}}]),
                json!([]),
                "Guaranteed",
            ),
            (
                "requests equal limits",
                json!([{"name": "a", "resources": {"limits": both, "requests": both}}]),
                json!([]),
                "Guaranteed",
            ),
            (
                "requests below limits",
                json!([{"name": "a", "resources": {"limits": both, "requests": {"cpu": "100m"}}}]),
                json!([]),
                "Burstable",
            ),
            (
                "memory limit only",
                json!([{"name": "a", "resources": {"limits": {"memory": "64Mi"}}}]),
                json!([]),
                "Burstable",
            ),
            (
                "requests only",
                json!([{"name": "a", "resources": {"requests": {"cpu": "1"}}}]),
                json!([]),
                "Burstable",
            ),
            (
                "one container without",
                json!([{"name": "a", "resources": {"limits": both}}, {"name": "b"}]),
                json!([]),
                "Burstable",
            ),
            (
                "an init container without",
                json!([{"name": "a", "resources": {"limits": both}}]),
                json!([{"name": "i"}]),
                "Burstable",
            ),
            (
                "other resources do not count",
                json!([{"name": "a", "resources": {"limits": {"ephemeral-storage": "1Gi"}}}]),
                json!([]),
                "BestEffort",
            ),
            (
                "zero is none",
                json!([{"name": "a", "resources": {"limits": {"cpu": "0", "memory": "0"}}}]),
                json!([]),
                "BestEffort",
            ),
            (
                "same amount, other units",
                json!([{"name": "a", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}}]),
                json!([]),
                "Guaranteed",
            ),
        ] {
            assert_eq!(qos_class(&pod(containers, inits)), want, "{what}");
        }
    }
}
