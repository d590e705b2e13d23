//! How kubectl shows a Service: `printService` (the `get services` row and its columns,
//! `pkg/printers/internalversion/printers.go`) and `describeService` (kubectl's
//! `pkg/describe/describe.go`).

use crate::describe::{event_lines, map_lines, tabwrite};
use crate::duration::human_duration;
use crate::table::{column, Column};
use crate::Service;
use k8s_openapi::api::core::v1::{Endpoints, Event};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

/// `serviceColumnDefinitions`.
pub fn columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
        column("Type", "", 0, "The type of service."),
        column("Cluster-IP", "", 0, "The IP address of the service."),
        column("External-IP", "", 0, "The list of external IP addresses of the service."),
        column("Port(s)", "", 0, "The ports of the service."),
        column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
        column("Selector", "", 1, "Route service traffic to pods with label keys and values matching this selector. If empty or not present, the service is assumed to have an external process managing its endpoints, which Kubernetes will not modify. Only applies to types ClusterIP, NodePort, and LoadBalancer. Ignored if type is ExternalName. More info: https://kubernetes.io/docs/concepts/services-networking/service/"),
    ]
}

fn age(meta: &crate::ObjectMeta, now: Timestamp) -> String {
    meta.creation_timestamp
        .as_ref()
        .map_or("<unknown>".into(), |t| {
            human_duration(now.duration_since(t.0))
        })
}

/// `listWithMoreString`: at most three, then `+ N more...`; `empty` for none.
pub(crate) fn three_then_more(all: Vec<String>, empty: &str) -> String {
    let shown = all.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    match all.len() {
        0 => empty.into(),
        n if n > 3 => format!("{shown} + {} more...", n - 3),
        _ => shown,
    }
}

/// `endpointSliceColumnDefinitions`.
pub fn slice_columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, "Name must be unique within a namespace."),
        column("AddressType", "", 0, "Type of address carried by this EndpointSlice."),
        column("Ports", "", 0, "Port numbers available on the related service."),
        column("Endpoints", "", 0, "List of endpoints in this slice."),
        column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ]
}

/// `printEndpointSlice`: ports (`formatDiscoveryPorts`) and addresses
/// (`formatDiscoveryEndpoints`), three then a count, `<unset>` for none.
pub fn slice_row(s: &EndpointSlice, now: Timestamp) -> Vec<String> {
    let ports = s
        .ports
        .iter()
        .flatten()
        .map(|p| match (p.port, p.name.as_ref()) {
            (Some(n), _) => n.to_string(),
            (None, Some(name)) => name.clone(),
            _ => "*".into(),
        })
        .collect();
    let addresses = s
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.clone())
        .collect();
    vec![
        s.metadata.name.clone().unwrap_or_default(),
        s.address_type.clone(),
        three_then_more(ports, "<unset>"),
        three_then_more(addresses, "<unset>"),
        age(&s.metadata, now),
    ]
}

/// `endpointColumnDefinitions`.
pub fn endpoints_columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, "Name must be unique within a namespace."),
        column("Endpoints", "", 0, "Endpoints of the service."),
        column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created."),
    ]
}

/// `printEndpoints` (`formatEndpoints`): each ready address with each port, `<none>` for no
/// subsets.
pub fn endpoints_row(e: &Endpoints, now: Timestamp) -> Vec<String> {
    let mut all = Vec::new();
    for ss in e.subsets.iter().flatten() {
        let addrs = ss.addresses.iter().flatten();
        match ss.ports.as_ref().filter(|p| !p.is_empty()) {
            None => all.extend(addrs.map(|a| a.ip.clone())),
            Some(ports) => {
                for p in ports {
                    all.extend(
                        ss.addresses
                            .iter()
                            .flatten()
                            .map(|a| format!("{}:{}", a.ip, p.port)),
                    );
                }
            }
        }
    }
    let text = if e.subsets.as_ref().is_none_or(|s| s.is_empty()) {
        "<none>".to_string()
    } else {
        three_then_more(all, "")
    };
    vec![
        e.metadata.name.clone().unwrap_or_default(),
        text,
        age(&e.metadata, now),
    ]
}

/// `labels.FormatLabels`: `k=v,k2=v2` in key order, `<none>` for none.
pub fn format_labels(m: Option<&std::collections::BTreeMap<String, String>>) -> String {
    match m.filter(|m| !m.is_empty()) {
        None => "<none>".into(),
        Some(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// `makePortString`: `80/TCP`, `80:30080/TCP` with a node port.
fn ports(svc: &Service) -> String {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let text = ports
        .iter()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port.filter(|n| *n > 0) {
                Some(n) => format!("{}:{n}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

/// `getServiceExternalIP`: the external IPs, `<pending>` for a LoadBalancer without any (no
/// load balancer serves one node), the external name.
fn external_ip(svc: &Service) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let ips = spec.external_ips.unwrap_or_default();
    match spec.type_.as_deref().unwrap_or("ClusterIP") {
        "ClusterIP" | "NodePort" if !ips.is_empty() => ips.join(","),
        "ClusterIP" | "NodePort" => "<none>".into(),
        "LoadBalancer" if !ips.is_empty() => ips.join(","),
        "LoadBalancer" => "<pending>".into(),
        "ExternalName" => spec.external_name.unwrap_or_default(),
        _ => "<unknown>".into(),
    }
}

/// The cells of one row, the wide one (Selector) last.
pub fn row(svc: &Service, now: Timestamp) -> Vec<String> {
    let spec = svc.spec.clone().unwrap_or_default();
    let ip = spec
        .cluster_ips
        .as_ref()
        .and_then(|l| l.first().cloned())
        .unwrap_or_else(|| "<none>".into());
    let age = svc
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or("<unknown>".into(), |t| {
            human_duration(now.duration_since(t.0))
        });
    vec![
        svc.metadata.name.clone().unwrap_or_default(),
        spec.type_.clone().unwrap_or_default(),
        ip,
        external_ip(svc),
        ports(svc),
        age,
        format_labels(spec.selector.as_ref()),
    ]
}

fn port_lines(out: &mut String, svc: &Service, endpoints: &dyn Fn(&crate::ServicePort) -> String) {
    for p in svc.spec.iter().flat_map(|s| s.ports.iter().flatten()) {
        let name = p
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "<unset>".into());
        let proto = p.protocol.as_deref().unwrap_or("TCP");
        out.push_str(&format!("Port:\t{name}\t{}/{proto}\n", p.port));
        match p.target_port.as_ref() {
            Some(IntOrString::Int(n)) => out.push_str(&format!("TargetPort:\t{n}/{proto}\n")),
            Some(IntOrString::String(s)) => out.push_str(&format!("TargetPort:\t{s}/{proto}\n")),
            None => out.push_str(&format!("TargetPort:\t{}/{proto}\n", p.port)),
        }
        if let Some(n) = p.node_port.filter(|n| *n != 0) {
            out.push_str(&format!("NodePort:\t{name}\t{n}/{proto}\n"));
        }
        out.push_str(&format!("Endpoints:\t{}\n", endpoints(p)));
    }
}

/// The whole `describe service` text; `endpoints` gives a port's `Endpoints:` value.
pub fn describe(
    svc: &Service,
    events: &[Event],
    now: Timestamp,
    endpoints: &dyn Fn(&crate::ServicePort) -> String,
) -> String {
    let spec = svc.spec.clone().unwrap_or_default();
    let m = &svc.metadata;
    let mut out = String::new();
    out.push_str(&format!("Name:\t{}\n", m.name.clone().unwrap_or_default()));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        m.namespace.clone().unwrap_or_default()
    ));
    map_lines(&mut out, "Labels", m.labels.as_ref());
    map_lines(&mut out, "Annotations", m.annotations.as_ref());
    out.push_str(&format!(
        "Selector:\t{}\n",
        format_labels(spec.selector.as_ref())
    ));
    out.push_str(&format!(
        "Type:\t{}\n",
        spec.type_.clone().unwrap_or_default()
    ));
    if let Some(p) = &spec.ip_family_policy {
        out.push_str(&format!("IP Family Policy:\t{p}\n"));
    }
    let join = |l: &Option<Vec<String>>| match l.as_ref().filter(|l| !l.is_empty()) {
        Some(l) => l.join(","),
        None => "<none>".into(),
    };
    out.push_str(&format!("IP Families:\t{}\n", join(&spec.ip_families)));
    out.push_str(&format!(
        "IP:\t{}\n",
        spec.cluster_ip.clone().unwrap_or_default()
    ));
    out.push_str(&format!("IPs:\t{}\n", join(&spec.cluster_ips)));
    if let Some(ips) = spec.external_ips.as_ref().filter(|l| !l.is_empty()) {
        out.push_str(&format!("External IPs:\t{}\n", ips.join(",")));
    }
    if let Some(n) = spec.external_name.as_ref().filter(|n| !n.is_empty()) {
        out.push_str(&format!("External Name:\t{n}\n"));
    }
    port_lines(&mut out, svc, endpoints);
    out.push_str(&format!(
        "Session Affinity:\t{}\n",
        spec.session_affinity.clone().unwrap_or_default()
    ));
    if let Some(p) = &spec.external_traffic_policy {
        out.push_str(&format!("External Traffic Policy:\t{p}\n"));
    }
    if let Some(p) = &spec.internal_traffic_policy {
        out.push_str(&format!("Internal Traffic Policy:\t{p}\n"));
    }
    if events.is_empty() {
        out.push_str("Events:\t<none>\n");
        return tabwrite(&out);
    }
    let mut text = tabwrite(&out);
    text.push_str(&tabwrite(&event_lines(events, now)));
    text
}
