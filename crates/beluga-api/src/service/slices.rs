//! A Service's EndpointSlices (`discovery.k8s.io/v1`) and its `v1` Endpoints, as the
//! endpoint-slice and endpoints controllers derive them from the pods its selector picks
//! (`pkg/controller/endpointslice`, `pkg/controller/endpoint`). Derived on every read: they
//! hold nothing the Service and its pods do not.

use super::endpoints::{selects, target_port};
use super::is_headless;
use crate::{Pod, Service};
use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, ObjectReference,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use std::collections::BTreeMap;

/// Endpoints a slice holds at most (`--max-endpoints-per-slice` default).
pub const MAX_PER_SLICE: usize = 100;
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// `IsPodReady`: the Ready condition is True.
pub fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn terminal(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    matches!(phase, Some("Succeeded" | "Failed"))
}

/// The pod's first IPv4 address (the slices of an IPv4 Service).
fn ipv4(pod: &Pod) -> Option<String> {
    let st = pod.status.as_ref()?;
    let listed = st.pod_ips.iter().flatten().map(|p| p.ip.clone());
    std::iter::once(st.pod_ip.clone().unwrap_or_default())
        .chain(listed)
        .find(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
}

/// `ShouldSetHostname`: the pod names a hostname and this Service as its subdomain.
fn hostname(svc: &Service, pod: &Pod) -> Option<String> {
    let spec = pod.spec.as_ref()?;
    let h = spec.hostname.clone().filter(|h| !h.is_empty())?;
    (spec.subdomain.as_deref() == svc.metadata.name.as_deref()
        && pod.metadata.namespace == svc.metadata.namespace)
        .then_some(h)
}

fn target_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        kind: Some("Pod".into()),
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        uid: pod.metadata.uid.clone(),
        ..Default::default()
    }
}

/// The Service's ports as this pod serves them (a named target it lacks is left out).
fn pod_ports(svc: &Service, pod: &Pod) -> Vec<EndpointPort> {
    svc.spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .filter_map(|p| {
            Some(EndpointPort {
                name: Some(p.name.clone().unwrap_or_default()),
                port: Some(target_port(p, pod)?),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect()
}

/// `podToEndpoint`: ready only when serving and not terminating (or publishNotReadyAddresses).
fn endpoint(svc: &Service, pod: &Pod, ip: String) -> Endpoint {
    let serving = pod_ready(pod);
    let terminating = pod.metadata.deletion_timestamp.is_some();
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    Endpoint {
        addresses: vec![ip],
        conditions: Some(EndpointConditions {
            ready: Some(publish || (serving && !terminating)),
            serving: Some(serving),
            terminating: Some(terminating),
        }),
        hostname: hostname(svc, pod),
        node_name: pod.spec.as_ref().and_then(|s| s.node_name.clone()),
        target_ref: Some(target_ref(pod)),
        ..Default::default()
    }
}

/// A stable suffix in the alphabet of apimachinery's `rand.String` (FNV-1a of `seed`).
fn suffix(seed: &str) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let h = super::fnv1a(seed);
    (0..5)
        .map(|i| ALPHABET[((h >> (i * 8)) % ALPHABET.len() as u64) as usize] as char)
        .collect()
}

fn slice_meta(svc: &Service, index: usize) -> crate::ObjectMeta {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut labels = svc.metadata.labels.clone().unwrap_or_default();
    labels.insert(LABEL_SERVICE_NAME.into(), name.clone());
    labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
    if is_headless(svc) {
        labels.insert(LABEL_HEADLESS.into(), String::new());
    }
    let uid = svc.metadata.uid.clone().unwrap_or_default();
    crate::ObjectMeta {
        name: Some(format!("{name}-{}", suffix(&format!("{uid}/{index}")))),
        generate_name: Some(format!("{name}-")),
        namespace: svc.metadata.namespace.clone(),
        labels: Some(labels),
        creation_timestamp: svc.metadata.creation_timestamp.clone(),
        resource_version: svc.metadata.resource_version.clone(),
        owner_references: Some(vec![OwnerReference {
            api_version: "v1".into(),
            kind: "Service".into(),
            name,
            uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..Default::default()
    }
}

/// The Service's slices: pods grouped by the ports they serve, at most 100 a slice; one empty
/// slice when nothing matches; none without a selector (nothing manages its endpoints).
pub fn slices(svc: &Service, pods: &[Pod]) -> Vec<EndpointSlice> {
    let has_selector = svc
        .spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty());
    if !has_selector || super::spec_type(svc) == "ExternalName" {
        return Vec::new();
    }
    let mut groups: Vec<(Vec<EndpointPort>, Vec<Endpoint>)> = Vec::new();
    for pod in pods.iter().filter(|p| selects(svc, p) && !terminal(p)) {
        let Some(ip) = ipv4(pod) else { continue };
        let ports = pod_ports(svc, pod);
        let ep = endpoint(svc, pod, ip);
        match groups
            .iter_mut()
            .find(|(p, e)| *p == ports && e.len() < MAX_PER_SLICE)
        {
            Some((_, e)) => e.push(ep),
            None => groups.push((ports, vec![ep])),
        }
    }
    if groups.is_empty() {
        groups.push((Vec::new(), Vec::new()));
    }
    groups
        .into_iter()
        .enumerate()
        .map(|(i, (ports, endpoints))| EndpointSlice {
            address_type: "IPv4".into(),
            endpoints,
            metadata: slice_meta(svc, i),
            ports: Some(ports),
        })
        .collect()
}

/// The `v1` Endpoints of a Service with a selector (`None` without one): ready pods in
/// `addresses`, the others in `notReadyAddresses`, terminating ones left out unless
/// `publishNotReadyAddresses`; one subset per set of ports, addresses in IP order.
pub fn endpoints_object(svc: &Service, pods: &[Pod]) -> Option<Endpoints> {
    let sl = slices(svc, pods);
    let first = sl.first()?;
    let publish = svc
        .spec
        .as_ref()
        .and_then(|s| s.publish_not_ready_addresses)
        .unwrap_or(false);
    let mut subsets: BTreeMap<String, EndpointSubset> = BTreeMap::new();
    for s in &sl {
        let ports: Vec<CorePort> = s
            .ports
            .iter()
            .flatten()
            .map(|p| CorePort {
                name: p.name.clone().filter(|n| !n.is_empty()),
                port: p.port.unwrap_or(0),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            })
            .collect();
        let key = serde_json::to_string(&ports).unwrap_or_default();
        let subset = subsets.entry(key).or_insert_with(|| EndpointSubset {
            ports: Some(ports).filter(|p| !p.is_empty()),
            ..Default::default()
        });
        for e in &s.endpoints {
            let c = e.conditions.clone().unwrap_or_default();
            if c.terminating == Some(true) && !publish {
                continue;
            }
            let addr = EndpointAddress {
                ip: e.addresses[0].clone(),
                hostname: e.hostname.clone(),
                node_name: e.node_name.clone(),
                target_ref: e.target_ref.clone(),
            };
            let list = if c.ready == Some(true) {
                &mut subset.addresses
            } else {
                &mut subset.not_ready_addresses
            };
            list.get_or_insert_with(Vec::new).push(addr);
        }
    }
    let mut subsets: Vec<EndpointSubset> = subsets
        .into_values()
        .filter(|s| s.addresses.is_some() || s.not_ready_addresses.is_some())
        .collect();
    for s in subsets.iter_mut() {
        for list in [&mut s.addresses, &mut s.not_ready_addresses]
            .into_iter()
            .flatten()
        {
            list.sort_by_key(|a| a.ip.parse::<std::net::Ipv4Addr>().ok());
        }
    }
    let mut meta = first.metadata.clone();
    meta.name = svc.metadata.name.clone();
    meta.generate_name = None;
    meta.owner_references = None;
    if let Some(l) = meta.labels.as_mut() {
        l.remove(LABEL_SERVICE_NAME);
        l.remove(LABEL_MANAGED_BY);
    }
    Some(Endpoints {
        metadata: meta,
        subsets: Some(subsets).filter(|s| !s.is_empty()),
    })
}

/// kubectl's `formatEndpointSlices` for one Service port (describe's `Endpoints:`): each
/// endpoint at the port of that name, three then `+ N more...`; `<unset>` without slices.
pub fn describe_line(svc: &Service, port: &crate::ServicePort, pods: &[Pod]) -> String {
    let sl = slices(svc, pods);
    if sl.is_empty() {
        return "<unset>".into();
    }
    let name = port.name.clone().unwrap_or_default();
    let mut all = Vec::new();
    for s in &sl {
        for p in s
            .ports
            .iter()
            .flatten()
            .filter(|p| p.name.as_deref() == Some(name.as_str()))
        {
            for e in &s.endpoints {
                all.push(format!("{}:{}", e.addresses[0], p.port.unwrap_or(0)));
            }
        }
    }
    super::print::three_then_more(all, "")
}

#[cfg(test)]
mod tests;
