//! The apiserver's defaulting (spec §1, `pkg/apis/core/v1/defaults.go`). Runs before validation.

use crate::{Container, Pod};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, PodSecurityContext, Probe, ResourceRequirements,
};

pub const DEFAULT_TERMINATION_GRACE_PERIOD: i64 = 30;
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

/// `Always` for `:latest` or an untagged, undigested reference; otherwise `IfNotPresent`.
pub fn default_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

pub fn apply(pod: &mut Pod) {
    if pod.metadata.namespace.as_deref().unwrap_or("").is_empty() {
        pod.metadata.namespace = Some("default".into());
    }
    let spec = pod.spec.get_or_insert_with(Default::default);
    spec.restart_policy.get_or_insert_with(|| "Always".into());
    spec.termination_grace_period_seconds
        .get_or_insert(DEFAULT_TERMINATION_GRACE_PERIOD);
    spec.dns_policy.get_or_insert_with(|| "ClusterFirst".into());
    spec.scheduler_name
        .get_or_insert_with(|| "default-scheduler".into());
    spec.security_context
        .get_or_insert_with(PodSecurityContext::default);
    spec.enable_service_links.get_or_insert(true);
    spec.preemption_policy
        .get_or_insert_with(|| "PreemptLowerPriority".into());
    spec.priority.get_or_insert(0);
    for v in spec.volumes.iter_mut().flatten() {
        let has_source = v.host_path.is_some()
            || v.empty_dir.is_some()
            || v.config_map.is_some()
            || v.secret.is_some()
            || v.downward_api.is_some()
            || v.projected.is_some()
            || v.persistent_volume_claim.is_some()
            || v.nfs.is_some()
            || v.csi.is_some()
            || v.ephemeral.is_some()
            || v.image.is_some();
        if !has_source {
            v.empty_dir = Some(EmptyDirVolumeSource::default());
        }
        if let Some(hp) = v.host_path.as_mut() {
            hp.type_.get_or_insert_with(String::new);
        }
        if let Some(cm) = v.config_map.as_mut() {
            cm.default_mode.get_or_insert(0o644);
        }
        if let Some(s) = v.secret.as_mut() {
            s.default_mode.get_or_insert(0o644);
        }
        if let Some(d) = v.downward_api.as_mut() {
            d.default_mode.get_or_insert(0o644);
        }
        if let Some(p) = v.projected.as_mut() {
            p.default_mode.get_or_insert(0o644);
        }
    }
    let host_network = spec.host_network == Some(true);
    for c in spec.init_containers.iter_mut().flatten() {
        container(c, host_network);
    }
    for c in spec.containers.iter_mut() {
        container(c, host_network);
    }
}

fn container(c: &mut Container, host_network: bool) {
    if c.image_pull_policy.as_deref().unwrap_or("").is_empty() {
        let image = c.image.clone().unwrap_or_default();
        c.image_pull_policy = Some(default_pull_policy(&image).into());
    }
    c.termination_message_path
        .get_or_insert_with(|| DEFAULT_TERMINATION_MESSAGE_PATH.into());
    c.termination_message_policy
        .get_or_insert_with(|| "File".into());
    let r = c
        .resources
        .get_or_insert_with(ResourceRequirements::default);
    // apiserver's SetDefaults_Pod: a limit without a request requests the limit.
    if let Some(limits) = r.limits.clone() {
        let requests = r.requests.get_or_insert_with(Default::default);
        for (k, v) in limits {
            requests.entry(k).or_insert(v);
        }
    }
    for p in c.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
        // defaultHostNetworkPorts: on the host's network a port is a host port.
        if host_network && p.host_port.unwrap_or(0) == 0 {
            p.host_port = Some(p.container_port);
        }
    }
    for p in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe(p);
    }
    if let Some(l) = c.lifecycle.as_mut() {
        for h in [&mut l.post_start, &mut l.pre_stop].into_iter().flatten() {
            if let Some(g) = h.http_get.as_mut() {
                g.path.get_or_insert_with(|| "/".into());
                g.scheme.get_or_insert_with(|| "HTTP".into());
            }
        }
    }
}

/// Zero counts as unset, as it does for Go's zero values.
fn default_int(v: &mut Option<i32>, d: i32) {
    if v.unwrap_or(0) == 0 {
        *v = Some(d);
    }
}

fn probe(p: &mut Probe) {
    default_int(&mut p.timeout_seconds, 1);
    default_int(&mut p.period_seconds, 10);
    default_int(&mut p.success_threshold, 1);
    default_int(&mut p.failure_threshold, 3);
    p.initial_delay_seconds.get_or_insert(0);
    if let Some(g) = p.http_get.as_mut() {
        g.path.get_or_insert_with(|| "/".into());
        g.scheme.get_or_insert_with(|| "HTTP".into());
    }
    if let Some(g) = p.grpc.as_mut() {
        g.service.get_or_insert_with(String::new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{parse, ValidateMode};

    // spec §1: the pull-policy rule.
    #[test]
    fn pull_policy_table() {
        for (image, want) in [
            ("busybox", "Always"),
            ("busybox:latest", "Always"),
            ("busybox:1.36", "IfNotPresent"),
            ("localhost:5000/busybox", "Always"),
            ("localhost:5000/busybox:1", "IfNotPresent"),
            ("busybox@sha256:abc", "IfNotPresent"),
        ] {
            assert_eq!(default_pull_policy(image), want, "{image}");
        }
    }

    /// The one pod of `y`, defaulted.
    fn defaulted(y: &str) -> Pod {
        let mut pod = parse(y, "f", ValidateMode::Strict)
            .unwrap()
            .pods()
            .remove(0);
        apply(&mut pod);
        pod
    }

    // Issue 14 item 5 (SetDefaults_PodSpec's defaultHostNetworkPorts): with hostNetwork a port
    // without a hostPort gets its containerPort as one; a given one is kept.
    #[test]
    fn host_network_ports_default_to_host_ports() {
        let y = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  hostNetwork: true\n  initContainers: [{name: i, image: x, ports: [{containerPort: 53}]}]\n  containers:\n  - {name: c, image: x, ports: [{containerPort: 80}, {containerPort: 81, hostPort: 9081}]}\n";
        let pod = defaulted(y);
        let spec = pod.spec.as_ref().unwrap();
        let ports = spec.containers[0].ports.as_ref().unwrap();
        assert_eq!(
            (ports[0].host_port, ports[1].host_port),
            (Some(80), Some(9081))
        );
        let init = &spec.init_containers.as_ref().unwrap()[0];
        assert_eq!(init.ports.as_ref().unwrap()[0].host_port, Some(53));
    }

    // spec §1: constants defaulted on the pod, containers, probes and volumes.
    #[test]
    fn defaults_applied() {
        let y = r#"
apiVersion: v1
kind: Pod
metadata: {name: a}
spec:
  volumes: [{name: v}]
  containers:
  - name: c
    image: busybox:1
    ports: [{containerPort: 80}]
    livenessProbe: {httpGet: {port: 80}, periodSeconds: 0}
"#;
        let pod = defaulted(y);
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
        assert_eq!(spec.termination_grace_period_seconds, Some(30));
        assert!(spec.volumes.as_ref().unwrap()[0].empty_dir.is_some());
        let c = &spec.containers[0];
        assert_eq!(c.image_pull_policy.as_deref(), Some("IfNotPresent"));
        assert_eq!(
            c.termination_message_path.as_deref(),
            Some("/dev/termination-log")
        );
        assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
        assert_eq!(
            c.ports.as_ref().unwrap()[0].protocol.as_deref(),
            Some("TCP")
        );
        let p = c.liveness_probe.as_ref().unwrap();
        assert_eq!(
            (
                p.timeout_seconds,
                p.period_seconds,
                p.success_threshold,
                p.failure_threshold
            ),
            (Some(1), Some(10), Some(1), Some(3))
        );
        let g = p.http_get.as_ref().unwrap();
        assert_eq!(
            (g.path.as_deref(), g.scheme.as_deref()),
            (Some("/"), Some("HTTP"))
        );
    }
}
