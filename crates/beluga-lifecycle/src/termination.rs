//! The order in which a pod's containers stop (spec §4.5; kubelet's `terminationOrdering`,
//! `pkg/kubelet/kuberuntime/kuberuntime_termination_order.go`): regular containers get their
//! stop signal at once; a sidecar (an init container with `restartPolicy: Always`) only once every
//! regular container and every sidecar declared after it has stopped. Every preStop hook still
//! starts at once; only the signal waits.

use beluga_api::podutil::{containers, init_containers, is_sidecar};
use beluga_api::Pod;
use std::collections::BTreeMap;

/// For each container in `stopping` (names), the names among `stopping` it must see stopped
/// before its stop signal.
pub fn waits_for(pod: &Pod, stopping: &[&str]) -> BTreeMap<String, Vec<String>> {
    let sidecars: Vec<&str> = init_containers(pod)
        .iter()
        .filter(|c| is_sidecar(c))
        .map(|c| c.name.as_str())
        .collect();
    let regular: Vec<&str> = containers(pod).iter().map(|c| c.name.as_str()).collect();
    stopping
        .iter()
        .map(|name| {
            let deps: Vec<String> = match sidecars.iter().position(|s| s == name) {
                None => Vec::new(),
                Some(pos) => stopping
                    .iter()
                    .filter(|other| regular.contains(other) || sidecars[pos + 1..].contains(other))
                    .map(|s| s.to_string())
                    .collect(),
            };
            (name.to_string(), deps)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"initContainers": [
                {"name": "init"}, {"name": "s1", "restartPolicy": "Always"}, {"name": "s2", "restartPolicy": "Always"}],
            "containers": [{"name": "a"}, {"name": "b"}]}}))
        .unwrap()
    }

    // spec §4.5, scenarios T1–T6: regular containers first, then sidecars in reverse order.
    #[test]
    fn sidecars_stop_last_in_reverse_order() {
        let p = pod();
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let all = waits_for(&p, &["s1", "s2", "a", "b"]);
        assert_eq!(all["a"], v(&[]));
        assert_eq!(all["b"], v(&[]));
        assert_eq!(all["s2"], v(&["a", "b"]));
        assert_eq!(all["s1"], v(&["s2", "a", "b"]));
        // Only what is still stopping counts: an exited container is waited for by nobody.
        let some = waits_for(&p, &["s1", "b"]);
        assert_eq!((some["s1"].clone(), some["b"].clone()), (v(&["b"]), v(&[])));
        // A sidecar alone (regular containers done) waits for nothing; a plain init container
        // is not a sidecar.
        assert_eq!(waits_for(&p, &["s1"])["s1"], v(&[]));
        assert_eq!(waits_for(&p, &["init", "a"])["init"], v(&[]));
    }
}
