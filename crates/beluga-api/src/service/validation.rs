//! kube-apiserver's `ValidateService` / `ValidateServiceUpdate`
//! (`pkg/apis/core/validation/validation.go`), in its check order and words, for the fields a
//! single node serves. Runs after `apply_defaults`.

use super::{externally_accessible, is_headless, spec_type};
use crate::field::{dedup, FieldError, Value};
use crate::validation::{dns1123_label, dns1123_subdomain, port_name};
use crate::{Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::HashSet;

pub const DNS1035_LABEL_ERR: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const PORT_RANGE_ERR: &str = "must be between 1 and 65535, inclusive";
const IP_ERR: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

/// `IsDNS1035Label` (a Service's name: it becomes a DNS label and environment variable names).
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-';
    if !ok {
        errs.push(DNS1035_LABEL_ERR.to_string());
    }
    errs
}

fn validate_metadata(errs: &mut Vec<FieldError>, svc: &Service) {
    match svc.metadata.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(n) => {
            for msg in dns1035_label(n) {
                errs.push(FieldError::invalid("metadata.name", n, msg));
            }
        }
    }
    if let Some(ns) = svc.metadata.namespace.as_deref() {
        for msg in dns1123_label(ns) {
            errs.push(FieldError::invalid("metadata.namespace", ns, msg));
        }
    }
}

/// The checks that depend on the type: ports, headless NodePort/LoadBalancer, ExternalName.
fn validate_type_rules(errs: &mut Vec<FieldError>, svc: &Service) {
    let spec = svc.spec.clone().unwrap_or_default();
    let kind = spec_type(svc);
    let headless = is_headless(svc);
    if spec.ports.as_ref().is_none_or(|p| p.is_empty()) && !headless && kind != "ExternalName" {
        errs.push(FieldError::required("spec.ports", ""));
    }
    match kind {
        "LoadBalancer" | "NodePort" if headless => errs.push(FieldError::invalid(
            "spec.clusterIPs[0]",
            "None",
            format!("may not be set to 'None' for {kind} services"),
        )),
        "ExternalName" => {
            if spec.cluster_ips.as_ref().is_some_and(|l| !l.is_empty()) {
                let msg = "may not be set for ExternalName services";
                errs.push(FieldError::forbidden("spec.clusterIPs", msg));
            }
            let cname = spec.external_name.as_deref().unwrap_or("");
            let cname = cname.strip_suffix('.').unwrap_or(cname);
            if cname.is_empty() {
                errs.push(FieldError::required("spec.externalName", ""));
            }
            for msg in dns1123_subdomain(cname)
                .into_iter()
                .filter(|_| !cname.is_empty())
            {
                errs.push(FieldError::invalid("spec.externalName", cname, msg));
            }
        }
        _ => {}
    }
}

/// `validateServicePort`: a name when there are several, unique; the port; the protocol; the
/// target as a number or a port name.
fn validate_port(
    errs: &mut Vec<FieldError>,
    path: &str,
    p: &ServicePort,
    require_name: bool,
    names: &mut HashSet<String>,
) {
    let name = p.name.as_deref().unwrap_or("");
    if require_name && name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else if !name.is_empty() {
        for msg in dns1123_label(name) {
            errs.push(FieldError::invalid(format!("{path}.name"), name, msg));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(format!("{path}.name"), name));
        }
    }
    if !(1..=65535).contains(&p.port) {
        errs.push(FieldError::invalid(
            format!("{path}.port"),
            p.port,
            PORT_RANGE_ERR,
        ));
    }
    match p.protocol.as_deref() {
        None | Some("") => errs.push(FieldError::required(format!("{path}.protocol"), "")),
        Some(pr) if !PROTOCOLS.contains(&pr) => errs.push(FieldError::not_supported(
            format!("{path}.protocol"),
            pr,
            PROTOCOLS,
        )),
        Some(_) => {}
    }
    match p.target_port.as_ref() {
        Some(IntOrString::Int(n)) if !(1..=65535).contains(n) => errs.push(FieldError::invalid(
            format!("{path}.targetPort"),
            *n,
            PORT_RANGE_ERR,
        )),
        Some(IntOrString::String(s)) => {
            for msg in port_name(s) {
                errs.push(FieldError::invalid(format!("{path}.targetPort"), s, msg));
            }
        }
        _ => {}
    }
}

fn validate_affinity(errs: &mut Vec<FieldError>, svc: &Service) {
    let spec = svc.spec.clone().unwrap_or_default();
    match spec.session_affinity.as_deref() {
        None | Some("") => errs.push(FieldError::required("spec.sessionAffinity", "")),
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .and_then(|c| c.client_ip)
                .and_then(|c| c.timeout_seconds);
            let path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds";
            match timeout {
                None => errs.push(FieldError::required(path, "")),
                Some(t) if !(1..=86400).contains(&t) => errs.push(FieldError::invalid(
                    path,
                    t,
                    "must be greater than 0 and less than 86400",
                )),
                Some(_) => {}
            }
        }
        Some("None") => {
            if spec.session_affinity_config.is_some() {
                errs.push(FieldError::forbidden(
                    "spec.sessionAffinityConfig",
                    "must not be set when session affinity is None",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            "spec.sessionAffinity",
            other,
            &["ClientIP", "None"],
        )),
    }
}

/// Each cluster IP: an address, or `None` first (headless); `clusterIP` the first of them.
fn validate_cluster_ips(errs: &mut Vec<FieldError>, svc: &Service) {
    let spec = svc.spec.clone().unwrap_or_default();
    let ips = spec.cluster_ips.clone().unwrap_or_default();
    let single = spec.cluster_ip.as_deref().unwrap_or("");
    let listed = Value::strings(&ips);
    match ips.first() {
        Some(first) if !single.is_empty() && single != first => errs.push(FieldError::invalid(
            "spec.clusterIPs",
            listed,
            "first value must match `clusterIP`",
        )),
        Some(_) if single.is_empty() => errs.push(FieldError::invalid(
            "spec.clusterIPs",
            listed,
            "must be empty when `clusterIP` is not specified",
        )),
        _ => {}
    }
    let list = || Value::strings(&ips);
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == "None" {
            if ips.len() > 1 {
                let msg = "'None' must be the first and only value";
                errs.push(FieldError::invalid("spec.clusterIPs", list(), msg));
            }
            continue;
        }
        if ip.parse::<std::net::IpAddr>().is_err() {
            errs.push(FieldError::invalid(
                format!("spec.clusterIPs[{i}]"),
                ip,
                IP_ERR,
            ));
        }
    }
    if ips.len() > 2 {
        errs.push(FieldError::invalid(
            "spec.clusterIPs",
            list(),
            "may only hold up to 2 values",
        ));
    }
}

/// Node ports: none on a ClusterIP Service; no (protocol, nodePort) and no (protocol, port)
/// twice.
fn validate_port_uniqueness(errs: &mut Vec<FieldError>, svc: &Service) {
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let cluster_ip = spec_type(svc) == "ClusterIP";
    let (mut node_ports, mut seen) = (HashSet::new(), HashSet::new());
    for (i, p) in ports.iter().enumerate() {
        let protocol = p.protocol.clone().unwrap_or_default();
        let node_port = p.node_port.unwrap_or(0);
        if cluster_ip && node_port != 0 {
            errs.push(FieldError::forbidden(
                format!("spec.ports[{i}].nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        }
        if node_port != 0 && !node_ports.insert((protocol.clone(), node_port)) {
            errs.push(FieldError::duplicate(
                format!("spec.ports[{i}].nodePort"),
                node_port,
            ));
        }
        if !seen.insert((protocol.clone(), p.port)) {
            // The apiserver prints the internal ServicePort it keyed on, Go's %#v.
            let key = format!("core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{}, TargetPort:intstr.IntOrString{{Type:0, IntVal:0, StrVal:\"\"}}, NodePort:0}}", crate::field::go_quote(&protocol), p.port);
            errs.push(FieldError::duplicate(
                format!("spec.ports[{i}]"),
                Value::Raw(key),
            ));
        }
    }
}

fn validate_traffic_policies(errs: &mut Vec<FieldError>, svc: &Service) {
    let spec = svc.spec.clone().unwrap_or_default();
    match spec.external_traffic_policy.as_deref() {
        Some(p) if !externally_accessible(svc) => errs.push(FieldError::invalid(
            "spec.externalTrafficPolicy",
            p,
            "may only be set for externally-accessible services",
        )),
        Some(p) if !["Cluster", "Local"].contains(&p) => errs.push(FieldError::not_supported(
            "spec.externalTrafficPolicy",
            p,
            &["Cluster", "Local"],
        )),
        None if externally_accessible(svc) => {
            errs.push(FieldError::required("spec.externalTrafficPolicy", ""))
        }
        _ => {}
    }
    if let Some(p) = spec.internal_traffic_policy.as_deref() {
        if !["Cluster", "Local"].contains(&p) {
            errs.push(FieldError::not_supported(
                "spec.internalTrafficPolicy",
                p,
                &["Cluster", "Local"],
            ));
        }
    }
}

/// `ValidateService`, in its order.
pub fn validate(svc: &Service) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(&mut errs, svc);
    validate_type_rules(&mut errs, svc);
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let path = format!("spec.ports[{i}]");
        validate_port(&mut errs, &path, p, ports.len() > 1, &mut names);
    }
    validate_affinity(&mut errs, svc);
    validate_cluster_ips(&mut errs, svc);
    match svc.spec.as_ref().and_then(|s| s.type_.as_deref()) {
        None | Some("") => errs.push(FieldError::required("spec.type", "")),
        Some(t) if !TYPES.contains(&t) => {
            errs.push(FieldError::not_supported("spec.type", t, TYPES))
        }
        Some(_) => {}
    }
    validate_port_uniqueness(&mut errs, svc);
    validate_traffic_policies(&mut errs, svc);
    dedup(errs)
}

/// `ValidateServiceUpdate`: the cluster IPs may not change (`validateUpgradeDowngradeClusterIPs`
/// for one family: beluga serves one), then everything `validate` checks.
pub fn validate_update(new: &Service, old: &Service) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let ips = |s: &Service| {
        s.spec
            .as_ref()
            .and_then(|s| s.cluster_ips.clone())
            .unwrap_or_default()
    };
    let (new_ips, old_ips) = (ips(new), ips(old));
    let external = spec_type(new) == "ExternalName" || spec_type(old) == "ExternalName";
    let both_headless = is_headless(new) && is_headless(old);
    if !external && !both_headless {
        let listed = || Value::strings(&new_ips);
        for (i, ip) in old_ips.iter().enumerate() {
            match new_ips.get(i) {
                Some(n) if n == ip => {}
                None if i > 0 => {}
                None => errs.push(FieldError::invalid(
                    "spec.clusterIPs[0]",
                    listed(),
                    "primary clusterIP can not be unset",
                )),
                Some(_) => errs.push(FieldError::invalid(
                    format!("spec.clusterIPs[{i}]"),
                    listed(),
                    "may not change once set",
                )),
            }
        }
    }
    errs.extend(validate(new));
    dedup(errs)
}
