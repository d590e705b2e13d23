//! Services (issue 15): the apiserver's defaulting (`SetDefaults_Service` and the REST
//! strategy's normalization), validation in its words (`validation`), and the choice of cluster
//! IPs and node ports (`alloc`). Pure: the daemon holds the objects and what is allocated.

pub mod alloc;
pub mod dns;
pub mod endpoints;
pub mod env;
pub mod print;
pub mod slices;
pub mod validation;

use crate::Service;
use k8s_openapi::api::core::v1::{ClientIPConfig, ServiceStatus, SessionAffinityConfig};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `DefaultClientIPServiceAffinitySeconds`: three hours.
pub const DEFAULT_CLIENT_IP_AFFINITY_SECONDS: i32 = 10800;

pub fn spec_type(svc: &Service) -> &str {
    svc.spec
        .as_ref()
        .and_then(|s| s.type_.as_deref())
        .unwrap_or("ClusterIP")
}

/// FNV-1a of `s`: the stable short names derived from a Service (its slices', its rules'
/// chains), free of anything a user wrote.
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    h
}

/// `clusterIP: None`.
pub fn is_headless(svc: &Service) -> bool {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// `ExternallyAccessible`: NodePort, LoadBalancer, or a ClusterIP Service with external IPs.
pub fn externally_accessible(svc: &Service) -> bool {
    let external_ips = svc
        .spec
        .as_ref()
        .and_then(|s| s.external_ips.as_ref())
        .is_some_and(|ips| !ips.is_empty());
    match spec_type(svc) {
        "NodePort" | "LoadBalancer" => true,
        "ClusterIP" => external_ips,
        _ => false,
    }
}

/// What the apiserver fills in before validation: `SetDefaults_Service`, the namespace, the
/// strategy's `clusterIP`/`clusterIPs` normalization, and an empty status (a client's status is
/// dropped on create).
pub fn apply_defaults(svc: &mut Service) {
    if svc.metadata.namespace.as_deref().unwrap_or("").is_empty() {
        svc.metadata.namespace = Some("default".into());
    }
    let accessible = externally_accessible(svc);
    let spec = svc.spec.get_or_insert_with(Default::default);
    let affinity = spec
        .session_affinity
        .get_or_insert_with(|| "None".into())
        .clone();
    match affinity.as_str() {
        "None" => spec.session_affinity_config = None,
        "ClientIP" => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|c| c.client_ip.as_ref())
                .and_then(|c| c.timeout_seconds);
            if timeout.is_none() {
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(DEFAULT_CLIENT_IP_AFFINITY_SECONDS),
                    }),
                });
            }
        }
        _ => {}
    }
    let kind = spec.type_.get_or_insert_with(|| "ClusterIP".into()).clone();
    for p in spec.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
    if accessible && spec.external_traffic_policy.is_none() {
        spec.external_traffic_policy = Some("Cluster".into());
    }
    if matches!(kind.as_str(), "ClusterIP" | "NodePort" | "LoadBalancer") {
        spec.internal_traffic_policy
            .get_or_insert_with(|| "Cluster".into());
    }
    if kind == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
    normalize_cluster_ips(spec);
    svc.status = Some(ServiceStatus {
        load_balancer: Some(Default::default()),
        ..Default::default()
    });
}

/// The strategy's `normalizeClusterIPs` on create: one of `clusterIP`/`clusterIPs` given sets
/// the other.
fn normalize_cluster_ips(spec: &mut crate::ServiceSpec) {
    let single = spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
    let list = spec.cluster_ips.clone().filter(|l| !l.is_empty());
    match (single, list) {
        (Some(ip), None) => spec.cluster_ips = Some(vec![ip]),
        (None, Some(l)) => spec.cluster_ip = Some(l[0].clone()),
        _ => {}
    }
}

/// The REST storage's `patchAllocatedValues` on update: a replacement that leaves out what was
/// allocated (a re-applied manifest names no cluster IP or node port) keeps the old values.
pub fn patch_allocated_values(new: &mut Service, old: &Service) {
    let (Some(spec), Some(old_spec)) = (new.spec.as_mut(), old.spec.as_ref()) else {
        return;
    };
    let needs_ip = |t: Option<&str>| t.unwrap_or("ClusterIP") != "ExternalName";
    if needs_ip(spec.type_.as_deref()) && needs_ip(old_spec.type_.as_deref()) {
        if spec.cluster_ip.as_deref().unwrap_or("").is_empty() {
            spec.cluster_ip = old_spec.cluster_ip.clone();
        }
        if spec.cluster_ips.as_ref().is_none_or(|l| l.is_empty()) {
            spec.cluster_ips = old_spec.cluster_ips.clone();
        }
        if spec.ip_families.as_ref().is_none_or(|l| l.is_empty()) {
            spec.ip_families = old_spec.ip_families.clone();
        }
        if spec.ip_family_policy.is_none() {
            spec.ip_family_policy = old_spec.ip_family_policy.clone();
        }
    }
    let needs_node_port = |t: Option<&str>| matches!(t, Some("NodePort" | "LoadBalancer"));
    if needs_node_port(spec.type_.as_deref()) && needs_node_port(old_spec.type_.as_deref()) {
        let old_ports = old_spec.ports.clone().unwrap_or_default();
        for p in spec.ports.iter_mut().flatten() {
            if p.node_port.unwrap_or(0) != 0 {
                continue;
            }
            p.node_port = old_ports
                .iter()
                .find(|o| o.port == p.port && o.protocol == p.protocol)
                .and_then(|o| o.node_port);
        }
    }
}

#[cfg(test)]
mod tests;
