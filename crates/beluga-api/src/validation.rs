//! kube-apiserver's Pod validation (spec §12.2, `ValidatePodCreate` / `ValidatePodUpdate`), in its
//! check order and words. Runs after defaulting.

use crate::field::{dedup, FieldError};
use crate::podutil::is_sidecar;
use crate::{Container, Pod};
use k8s_openapi::api::core::v1::{
    EmptyDirVolumeSource, EnvVar, HostPathVolumeSource, LifecycleHandler, Probe, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::{HashMap, HashSet};

pub const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
pub const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const ENV_NAME_ERR: &str = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')";

fn is_label_body(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `IsDNS1123Label`: the list of problems (empty when valid).
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !is_label_body(s) {
        errs.push(DNS1123_LABEL_ERR.to_string());
    }
    errs
}

/// `IsDNS1123Subdomain`.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.split('.').all(is_label_body) {
        errs.push(DNS1123_SUBDOMAIN_ERR.to_string());
    }
    errs
}

/// `IsValidPortName` (spec V15).
pub fn port_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if !s
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    {
        errs.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if s.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if !s.bytes().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if s.starts_with('-') || s.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
pub fn env_name_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && !b[0].is_ascii_digit()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_'))
}

pub(crate) fn label_errors(errs: &mut Vec<FieldError>, path: &str, value: &str) {
    for msg in dns1123_label(value) {
        errs.push(FieldError::invalid(path, value, msg));
    }
}

/// The most bytes a pod's annotations may take (256 KiB).
const ANNOTATIONS_MAX_BYTES: usize = 256 << 10;

/// `ValidateObjectMeta`'s name check with `NameIsDNSSubdomain` (Pods, ConfigMaps, Secrets).
pub fn subdomain_name(errs: &mut Vec<FieldError>, meta: &crate::ObjectMeta) {
    match meta.name.as_deref() {
        None | Some("") => errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        )),
        Some(n) => {
            for msg in dns1123_subdomain(n) {
                errs.push(FieldError::invalid("metadata.name", n, msg));
            }
        }
    }
}

/// The pod's name (V1), namespace, and annotations (at most 256 KiB in all).
fn validate_metadata(errs: &mut Vec<FieldError>, pod: &Pod) {
    subdomain_name(errs, &pod.metadata);
    if let Some(ns) = pod.metadata.namespace.as_deref() {
        label_errors(errs, "metadata.namespace", ns);
    }
    // apiserver's TotalAnnotationSizeLimitB: keys and values together (attack report 1.6).
    let annotations: usize = pod
        .metadata
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if annotations > ANNOTATIONS_MAX_BYTES {
        errs.push(FieldError::too_long(
            "metadata.annotations",
            ANNOTATIONS_MAX_BYTES,
        ));
    }
}

/// What only init containers are checked for: `restartPolicy` (`Always`, a sidecar, or
/// nothing), no probes or hooks unless a sidecar, no resize policy (V30–V33).
fn validate_init_only(errs: &mut Vec<FieldError>, path: &str, c: &Container, sidecar: bool) {
    match c.restart_policy.as_deref() {
        None | Some("Always") => {}
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.restartPolicy"),
            other,
            &["Always"],
        )),
    }
    if !sidecar {
        let forbid = "may not be set for init containers without restartPolicy=Always";
        if c.lifecycle.is_some() {
            errs.push(FieldError::forbidden(format!("{path}.lifecycle"), forbid));
        }
        if c.liveness_probe.is_some() {
            errs.push(FieldError::forbidden(
                format!("{path}.livenessProbe"),
                forbid,
            ));
        }
        if c.readiness_probe.is_some() {
            errs.push(FieldError::forbidden(
                format!("{path}.readinessProbe"),
                forbid,
            ));
        }
        if c.startup_probe.is_some() {
            errs.push(FieldError::forbidden(
                format!("{path}.startupProbe"),
                forbid,
            ));
        }
    }
    if c.resize_policy.as_ref().is_some_and(|r| !r.is_empty()) {
        errs.push(FieldError::invalid(
            format!("{path}.resizePolicy"),
            crate::field::Value::Raw("[…]".into()),
            "must not be set for init containers",
        ));
    }
}

/// Pod-level fields (V34–V39): restart and DNS policies, active deadline, hostname and
/// subdomain, PID namespace sharing, the pod security context.
fn validate_pod_fields(errs: &mut Vec<FieldError>, spec: &k8s_openapi::api::core::v1::PodSpec) {
    match spec.restart_policy.as_deref() {
        Some("Always" | "OnFailure" | "Never") => {}
        None | Some("") => errs.push(FieldError::required("spec.restartPolicy", "")),
        Some(other) => errs.push(FieldError::not_supported(
            "spec.restartPolicy",
            other,
            &["Always", "OnFailure", "Never"],
        )),
    }
    match spec.dns_policy.as_deref() {
        Some("ClusterFirstWithHostNet" | "ClusterFirst" | "Default") | None => {}
        Some("None") => {
            if spec
                .dns_config
                .as_ref()
                .and_then(|d| d.nameservers.as_ref())
                .is_none_or(|n| n.is_empty())
            {
                errs.push(FieldError::required(
                    "spec.dnsConfig",
                    "must provide `dnsConfig` when `dnsPolicy` is None",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            "spec.dnsPolicy",
            other,
            &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        )),
    }
    if let Some(a) = spec.active_deadline_seconds {
        if !(1..=2147483647).contains(&a) {
            errs.push(FieldError::invalid(
                "spec.activeDeadlineSeconds",
                a,
                "must be between 1 and 2147483647, inclusive",
            ));
        }
    }
    if let Some(h) = spec.hostname.as_deref().filter(|h| !h.is_empty()) {
        label_errors(errs, "spec.hostname", h);
    }
    if let Some(s) = spec.subdomain.as_deref().filter(|h| !h.is_empty()) {
        label_errors(errs, "spec.subdomain", s);
    }
    if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
        errs.push(FieldError::invalid(
            "spec.securityContext.shareProcessNamespace",
            true,
            "ShareProcessNamespace and HostPID cannot both be enabled",
        ));
    }
    if let Some(psc) = spec.security_context.as_ref() {
        for (field, v) in [
            ("runAsUser", psc.run_as_user),
            ("runAsGroup", psc.run_as_group),
        ] {
            if let Some(v) = v {
                id_range(errs, &format!("spec.securityContext.{field}"), v);
            }
        }
        if let Some(sp) = psc.seccomp_profile.as_ref() {
            validate_seccomp(errs, "spec.securityContext.seccompProfile", sp);
        }
    }
}

/// `ValidatePodCreate`: every problem, deduplicated, in check order.
pub fn validate_pod(pod: &Pod) -> Vec<FieldError> {
    let mut errs = Vec::new();
    validate_metadata(&mut errs, pod);
    let Some(spec) = pod.spec.as_ref() else {
        errs.push(FieldError::required("spec.containers", ""));
        return errs;
    };
    let grace = spec.termination_grace_period_seconds.unwrap_or(30);

    // Volumes (V2–V7).
    let volumes = spec.volumes.as_deref().unwrap_or(&[]);
    let mut vol_names: HashMap<&str, &Volume> = HashMap::new();
    for (i, v) in volumes.iter().enumerate() {
        let path = format!("spec.volumes[{i}]");
        if v.name.is_empty() {
            errs.push(FieldError::required(format!("{path}.name"), ""));
        } else {
            label_errors(&mut errs, &format!("{path}.name"), &v.name);
            if vol_names.contains_key(v.name.as_str()) {
                errs.push(FieldError::duplicate(format!("{path}.name"), &v.name));
            } else {
                vol_names.insert(&v.name, v);
            }
        }
        validate_volume_source(&mut errs, &path, v);
    }

    // Containers (V8–V29), then init containers (V30–V33).
    let containers = &spec.containers;
    if containers.is_empty() {
        errs.push(FieldError::required("spec.containers", ""));
    }
    let mut all_names: HashSet<&str> = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let path = format!("spec.containers[{i}]");
        validate_container(&mut errs, &path, c, &vol_names, grace, true, &mut all_names);
        if c.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                format!("{path}.restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    validate_host_ports(&mut errs, containers, "spec.containers");
    if spec.host_network == Some(true) {
        validate_host_network(&mut errs, containers, "spec.containers");
        let inits = spec.init_containers.as_deref().unwrap_or(&[]);
        validate_host_network(&mut errs, inits, "spec.initContainers");
    }
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let path = format!("spec.initContainers[{i}]");
        let sidecar = is_sidecar(c);
        validate_container(
            &mut errs,
            &path,
            c,
            &vol_names,
            grace,
            sidecar,
            &mut all_names,
        );
        validate_init_only(&mut errs, &path, c, sidecar);
        validate_host_ports(&mut errs, std::slice::from_ref(c), "spec.initContainers");
    }
    for (i, c) in spec.ephemeral_containers.iter().flatten().enumerate() {
        let path = format!("spec.ephemeralContainers[{i}].name");
        if !c.name.is_empty() && !all_names.insert(&c.name) {
            errs.push(FieldError::duplicate(path, &c.name));
        }
    }

    validate_pod_fields(&mut errs, spec);
    dedup(errs)
}

fn id_range(errs: &mut Vec<FieldError>, path: &str, v: i64) {
    if !(0..=2147483647).contains(&v) {
        errs.push(FieldError::invalid(
            path,
            v,
            "must be between 0 and 2147483647, inclusive",
        ));
    }
}

/// A hostPath's path (no `..`) and type (V5).
fn validate_host_path(errs: &mut Vec<FieldError>, path: &str, hp: &HostPathVolumeSource) {
    if hp.path.is_empty() {
        errs.push(FieldError::required(format!("{path}.hostPath.path"), ""));
    } else if hp.path.split('/').any(|seg| seg == "..") {
        errs.push(FieldError::invalid(
            format!("{path}.hostPath.path"),
            &hp.path,
            "must not contain '..'",
        ));
    }
    const TYPES: [&str; 8] = [
        "",
        "BlockDevice",
        "CharDevice",
        "Directory",
        "DirectoryOrCreate",
        "File",
        "FileOrCreate",
        "Socket",
    ];
    let t = hp.type_.as_deref().unwrap_or("");
    if !TYPES.contains(&t) {
        errs.push(FieldError::not_supported(
            format!("{path}.hostPath.type"),
            t,
            &TYPES,
        ));
    }
}

/// An emptyDir's `sizeLimit` and `medium` (V6).
fn validate_empty_dir(errs: &mut Vec<FieldError>, path: &str, ed: &EmptyDirVolumeSource) {
    if let Some(q) = ed.size_limit.as_ref() {
        if q.0.trim_start().starts_with('-') || !crate::quantity::is_valid(&q.0) {
            errs.push(FieldError::forbidden(
                format!("{path}.emptyDir.sizeLimit"),
                "SizeLimit field must be a valid resource quantity",
            ));
        }
    }
    if let Some(m) = ed.medium.as_deref() {
        if !["", "Memory", "HugePages"].contains(&m) && !m.starts_with("HugePages-") {
            errs.push(FieldError::not_supported(
                format!("{path}.emptyDir.medium"),
                m,
                &["", "Memory", "HugePages"],
            ));
        }
    }
}

fn validate_volume_source(errs: &mut Vec<FieldError>, path: &str, v: &Volume) {
    let mut kinds: Vec<&str> = Vec::new();
    let sources: [(&str, bool); 11] = [
        ("hostPath", v.host_path.is_some()),
        ("emptyDir", v.empty_dir.is_some()),
        ("secret", v.secret.is_some()),
        ("persistentVolumeClaim", v.persistent_volume_claim.is_some()),
        ("configMap", v.config_map.is_some()),
        ("downwardAPI", v.downward_api.is_some()),
        ("projected", v.projected.is_some()),
        ("nfs", v.nfs.is_some()),
        ("csi", v.csi.is_some()),
        ("ephemeral", v.ephemeral.is_some()),
        ("image", v.image.is_some()),
    ];
    for (name, set) in sources {
        if set {
            if !kinds.is_empty() {
                errs.push(FieldError::forbidden(
                    format!("{path}.{name}"),
                    "may not specify more than 1 volume type",
                ));
            }
            kinds.push(name);
        }
    }
    if kinds.is_empty() {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
    if let Some(hp) = v.host_path.as_ref() {
        validate_host_path(errs, path, hp);
    }
    if let Some(ed) = v.empty_dir.as_ref() {
        validate_empty_dir(errs, path, ed);
    }
    projected::validate(errs, path, v);
}

/// A container's ports: names (IANA, unique), container and host port ranges, protocols (V14, V15).
fn validate_ports(errs: &mut Vec<FieldError>, path: &str, c: &Container) {
    let mut port_names = HashSet::new();
    for (j, p) in c.ports.iter().flatten().enumerate() {
        let pp = format!("{path}.ports[{j}]");
        if let Some(n) = p.name.as_deref().filter(|n| !n.is_empty()) {
            for msg in port_name(n) {
                errs.push(FieldError::invalid(format!("{pp}.name"), n, msg));
            }
            if !port_names.insert(n) {
                errs.push(FieldError::duplicate(format!("{pp}.name"), n));
            }
        }
        if p.container_port == 0 {
            errs.push(FieldError::required(format!("{pp}.containerPort"), ""));
        } else if !(1..=65535).contains(&p.container_port) {
            errs.push(FieldError::invalid(
                format!("{pp}.containerPort"),
                p.container_port,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if let Some(h) = p.host_port.filter(|h| *h != 0) {
            if !(1..=65535).contains(&h) {
                errs.push(FieldError::invalid(
                    format!("{pp}.hostPort"),
                    h,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        match p.protocol.as_deref() {
            None | Some("TCP" | "UDP" | "SCTP") => {}
            Some(other) => errs.push(FieldError::not_supported(
                format!("{pp}.protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn validate_container<'a>(
    errs: &mut Vec<FieldError>,
    path: &str,
    c: &'a Container,
    volumes: &HashMap<&str, &Volume>,
    grace: i64,
    may_have_probes: bool,
    all_names: &mut HashSet<&'a str>,
) {
    if c.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else {
        label_errors(errs, &format!("{path}.name"), &c.name);
        if !all_names.insert(&c.name) {
            errs.push(FieldError::duplicate(format!("{path}.name"), &c.name));
        }
    }
    match c.image.as_deref() {
        None | Some("") => errs.push(FieldError::required(format!("{path}.image"), "")),
        Some(img) if img.trim() != img => errs.push(FieldError::invalid(
            format!("{path}.image"),
            img,
            "must not have leading or trailing whitespace",
        )),
        _ => {}
    }
    if may_have_probes {
        if let Some(l) = c.lifecycle.as_ref() {
            if let Some(h) = l.post_start.as_ref() {
                validate_handler(errs, &format!("{path}.lifecycle.postStart"), h, grace);
            }
            if let Some(h) = l.pre_stop.as_ref() {
                validate_handler(errs, &format!("{path}.lifecycle.preStop"), h, grace);
            }
        }
        for (name, p, single_success) in [
            ("livenessProbe", &c.liveness_probe, true),
            ("readinessProbe", &c.readiness_probe, false),
            ("startupProbe", &c.startup_probe, true),
        ] {
            if let Some(p) = p {
                validate_probe(
                    errs,
                    &format!("{path}.{name}"),
                    p,
                    single_success,
                    name == "readinessProbe",
                    c,
                );
            }
        }
    }
    match c.termination_message_policy.as_deref() {
        None | Some("File" | "FallbackToLogsOnError") => {}
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.terminationMessagePolicy"),
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    validate_ports(errs, path, c);
    for (j, e) in c.env.iter().flatten().enumerate() {
        validate_env(errs, &format!("{path}.env[{j}]"), e);
    }
    let mut mount_paths = HashSet::new();
    for (j, m) in c.volume_mounts.iter().flatten().enumerate() {
        validate_mount(
            errs,
            &format!("{path}.volumeMounts[{j}]"),
            m,
            volumes,
            c,
            &mut mount_paths,
        );
    }
    match c.image_pull_policy.as_deref() {
        None | Some("Always" | "IfNotPresent" | "Never") => {}
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.imagePullPolicy"),
            other,
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    if let Some(sc) = c.security_context.as_ref() {
        validate_security_context(errs, &format!("{path}.securityContext"), sc);
    }
}

fn validate_env(errs: &mut Vec<FieldError>, path: &str, e: &EnvVar) {
    if e.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else if !env_name_ok(&e.name) {
        errs.push(FieldError::invalid(
            format!("{path}.name"),
            &e.name,
            ENV_NAME_ERR,
        ));
    }
    if let Some(vf) = e.value_from.as_ref() {
        if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
            errs.push(FieldError::invalid(
                format!("{path}.valueFrom"),
                crate::field::Value::Raw(String::new()),
                "may not be specified when `value` is not empty",
            ));
        }
        let n = [
            vf.field_ref.is_some(),
            vf.resource_field_ref.is_some(),
            vf.config_map_key_ref.is_some(),
            vf.secret_key_ref.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n == 0 {
            errs.push(FieldError::invalid(
                format!("{path}.valueFrom"),
                crate::field::Value::Raw(String::new()),
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
            ));
        } else if n > 1 {
            errs.push(FieldError::invalid(
                format!("{path}.valueFrom"),
                crate::field::Value::Raw(String::new()),
                "may not have more than one field specified at a time",
            ));
        }
        if let Some(r) = vf.resource_field_ref.as_ref() {
            projected::resource_selector(
                errs,
                &format!("{path}.valueFrom.resourceFieldRef"),
                r,
                false,
            );
        }
        if let Some(fr) = vf.field_ref.as_ref() {
            const PATHS: [&str; 11] = [
                "metadata.name",
                "metadata.namespace",
                "metadata.uid",
                "spec.nodeName",
                "spec.serviceAccountName",
                "status.hostIP",
                "status.hostIPs",
                "status.podIP",
                "status.podIPs",
                "metadata.labels",
                "metadata.annotations",
            ];
            let fp = fr.field_path.as_str();
            let ok = PATHS.contains(&fp)
                || fp.starts_with("metadata.labels['")
                || fp.starts_with("metadata.annotations['");
            if !ok {
                errs.push(FieldError::not_supported(
                    format!("{path}.valueFrom.fieldRef.fieldPath"),
                    fp,
                    &PATHS,
                ));
            }
        }
    }
}

fn validate_mount(
    errs: &mut Vec<FieldError>,
    path: &str,
    m: &VolumeMount,
    volumes: &HashMap<&str, &Volume>,
    c: &Container,
    mount_paths: &mut HashSet<String>,
) {
    if m.name.is_empty() {
        errs.push(FieldError::required(format!("{path}.name"), ""));
    } else if !volumes.contains_key(m.name.as_str()) {
        errs.push(FieldError::not_found(format!("{path}.name"), &m.name));
    }
    if m.mount_path.is_empty() {
        errs.push(FieldError::required(format!("{path}.mountPath"), ""));
    } else if !mount_paths.insert(m.mount_path.clone()) {
        errs.push(FieldError::invalid(
            format!("{path}.mountPath"),
            &m.mount_path,
            "must be unique",
        ));
    }
    let sub = m.sub_path.as_deref().unwrap_or("");
    if !sub.is_empty() {
        local_descending_path(errs, &format!("{path}.subPath"), sub);
    }
    if !sub.is_empty() && m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
        errs.push(FieldError::invalid(
            format!("{path}.subPathExpr"),
            m.sub_path_expr.as_deref().unwrap_or(""),
            "subPathExpr and subPath are mutually exclusive",
        ));
    }
    match m.mount_propagation.as_deref() {
        None | Some("None" | "HostToContainer") => {}
        Some("Bidirectional") => {
            if c.security_context.as_ref().and_then(|s| s.privileged) != Some(true) {
                errs.push(FieldError::forbidden(
                    format!("{path}.mountPropagation"),
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        Some(other) => errs.push(FieldError::not_supported(
            format!("{path}.mountPropagation"),
            other,
            &["Bidirectional", "HostToContainer", "None"],
        )),
    }
}

/// apiserver's `validateLocalDescendingPath`: relative, and no `..` segment.
fn local_descending_path(errs: &mut Vec<FieldError>, path: &str, value: &str) {
    if value.starts_with('/') {
        errs.push(FieldError::invalid(path, value, "must be a relative path"));
    }
    if value.split('/').any(|s| s == "..") {
        errs.push(FieldError::invalid(path, value, "must not contain '..'"));
    }
}

/// apiserver's `validateSeccompProfileField` (V29).
fn validate_seccomp(errs: &mut Vec<FieldError>, path: &str, sp: &SeccompProfile) {
    const TYPES: [&str; 3] = ["Localhost", "RuntimeDefault", "Unconfined"];
    match sp.type_.as_str() {
        "" => errs.push(FieldError::required(
            format!("{path}.type"),
            "type is required when seccompProfile is set",
        )),
        t if !TYPES.contains(&t) => {
            errs.push(FieldError::not_supported(format!("{path}.type"), t, &TYPES))
        }
        _ => {}
    }
    let lp = format!("{path}.localhostProfile");
    match (sp.type_.as_str(), sp.localhost_profile.as_deref()) {
        ("Localhost", None) => errs.push(FieldError::required(
            lp,
            "must be set when seccomp type is Localhost",
        )),
        ("Localhost", Some(p)) => local_descending_path(errs, &lp, p),
        (_, Some(_)) => errs.push(FieldError::invalid(
            lp,
            crate::field::Value::Raw("core.SeccompProfile{…}".into()),
            "can only be set when seccomp type is Localhost",
        )),
        (_, None) => {}
    }
}

fn validate_security_context(errs: &mut Vec<FieldError>, path: &str, sc: &SecurityContext) {
    if let Some(sp) = sc.seccomp_profile.as_ref() {
        validate_seccomp(errs, &format!("{path}.seccompProfile"), sp);
    }
    for (field, v) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
    ] {
        if let Some(v) = v {
            id_range(errs, &format!("{path}.{field}"), v);
        }
    }
    if sc.allow_privilege_escalation == Some(false) {
        if sc.privileged == Some(true) {
            errs.push(FieldError::invalid(
                path,
                crate::field::Value::Raw("core.SecurityContext{…}".into()),
                "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
            ));
        }
        let adds_sys_admin = sc
            .capabilities
            .as_ref()
            .and_then(|c| c.add.as_ref())
            .is_some_and(|a| a.iter().any(|c| c == "SYS_ADMIN" || c == "CAP_SYS_ADMIN"));
        if adds_sys_admin {
            errs.push(FieldError::invalid(
                path,
                crate::field::Value::Raw("core.SecurityContext{…}".into()),
                "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN",
            ));
        }
    }
}

fn validate_port_ref(errs: &mut Vec<FieldError>, path: &str, port: &IntOrString, c: &Container) {
    match port {
        IntOrString::Int(n) => {
            if !(1..=65535).contains(n) {
                errs.push(FieldError::invalid(
                    path,
                    *n,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        IntOrString::String(s) => {
            let msgs = port_name(s);
            if !msgs.is_empty() {
                for m in msgs {
                    errs.push(FieldError::invalid(path, s, m));
                }
            } else if !c
                .ports
                .iter()
                .flatten()
                .any(|p| p.name.as_deref() == Some(s))
            {
                errs.push(FieldError::invalid(
                    path,
                    s,
                    "must be a valid port name or number",
                ));
            }
        }
    }
}

fn validate_probe(
    errs: &mut Vec<FieldError>,
    path: &str,
    p: &Probe,
    single_success: bool,
    readiness: bool,
    c: &Container,
) {
    let handlers = [
        ("exec", p.exec.is_some()),
        ("httpGet", p.http_get.is_some()),
        ("tcpSocket", p.tcp_socket.is_some()),
        ("grpc", p.grpc.is_some()),
    ];
    count_handlers(errs, path, &handlers, "must specify a handler type");
    if let Some(e) = p.exec.as_ref() {
        if e.command.as_ref().is_none_or(|c| c.is_empty()) {
            errs.push(FieldError::required(format!("{path}.exec.command"), ""));
        }
    }
    if let Some(g) = p.http_get.as_ref() {
        validate_port_ref(errs, &format!("{path}.httpGet.port"), &g.port, c);
        scheme(errs, &format!("{path}.httpGet.scheme"), g.scheme.as_deref());
    }
    if let Some(t) = p.tcp_socket.as_ref() {
        validate_port_ref(errs, &format!("{path}.tcpSocket.port"), &t.port, c);
    }
    if let Some(g) = p.grpc.as_ref() {
        if !(1..=65535).contains(&g.port) {
            errs.push(FieldError::invalid(
                format!("{path}.grpc.port"),
                g.port,
                "must be between 1 and 65535, inclusive",
            ));
        }
    }
    for (field, v) in [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ] {
        if let Some(v) = v.filter(|v| *v < 0) {
            errs.push(FieldError::invalid(
                format!("{path}.{field}"),
                v,
                "must be greater than or equal to 0",
            ));
        }
    }
    if single_success {
        if let Some(s) = p.success_threshold.filter(|s| *s != 1) {
            errs.push(FieldError::invalid(
                format!("{path}.successThreshold"),
                s,
                "must be 1",
            ));
        }
    }
    if let Some(t) = p.termination_grace_period_seconds {
        if readiness {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                t,
                "must not be set for readinessProbes",
            ));
        } else if t <= 0 {
            errs.push(FieldError::invalid(
                format!("{path}.terminationGracePeriodSeconds"),
                t,
                "must be greater than 0",
            ));
        }
    }
}

fn scheme(errs: &mut Vec<FieldError>, path: &str, s: Option<&str>) {
    match s {
        None | Some("HTTP" | "HTTPS") => {}
        Some(other) => errs.push(FieldError::not_supported(path, other, &["HTTP", "HTTPS"])),
    }
}

fn count_handlers(
    errs: &mut Vec<FieldError>,
    path: &str,
    handlers: &[(&str, bool)],
    none_detail: &str,
) {
    let mut n = 0;
    for (name, set) in handlers {
        if *set {
            if n > 0 {
                errs.push(FieldError::forbidden(
                    format!("{path}.{name}"),
                    "may not specify more than 1 handler type",
                ));
            }
            n += 1;
        }
    }
    if n == 0 {
        errs.push(FieldError::required(path, none_detail));
    }
}

fn validate_handler(errs: &mut Vec<FieldError>, path: &str, h: &LifecycleHandler, grace: i64) {
    let handlers = [
        ("exec", h.exec.is_some()),
        ("httpGet", h.http_get.is_some()),
        ("tcpSocket", h.tcp_socket.is_some()),
        ("sleep", h.sleep.is_some()),
    ];
    count_handlers(errs, path, &handlers, "must specify a handler type");
    if let Some(e) = h.exec.as_ref() {
        if e.command.as_ref().is_none_or(|c| c.is_empty()) {
            errs.push(FieldError::required(format!("{path}.exec.command"), ""));
        }
    }
    if let Some(g) = h.http_get.as_ref() {
        if let IntOrString::Int(n) = g.port {
            if !(1..=65535).contains(&n) {
                errs.push(FieldError::invalid(
                    format!("{path}.httpGet.port"),
                    n,
                    "must be between 1 and 65535, inclusive",
                ));
            }
        }
        scheme(errs, &format!("{path}.httpGet.scheme"), g.scheme.as_deref());
    }
    if let Some(s) = h.sleep.as_ref() {
        if s.seconds <= 0 || s.seconds > grace {
            errs.push(FieldError::invalid(
                format!("{path}.sleep.seconds"),
                s.seconds,
                format!("must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."),
            ));
        }
    }
}

/// `validateHostNetwork`: on the host's network a hostPort is the containerPort (issue 14 item 5).
fn validate_host_network(errs: &mut Vec<FieldError>, containers: &[Container], base: &str) {
    for (i, c) in containers.iter().enumerate() {
        for (j, p) in c.ports.iter().flatten().enumerate() {
            let hp = p.host_port.unwrap_or(0);
            if hp != 0 && hp != p.container_port {
                errs.push(FieldError::invalid(
                    format!("{base}[{i}].ports[{j}].hostPort"),
                    hp,
                    "must match `containerPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

/// hostPort+protocol+hostIP unique among the given containers (V16).
fn validate_host_ports(errs: &mut Vec<FieldError>, containers: &[Container], base: &str) {
    let mut seen = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        for (j, p) in c.ports.iter().flatten().enumerate() {
            let Some(hp) = p.host_port.filter(|h| *h != 0) else {
                continue;
            };
            let key = format!(
                "{}/{}/{}",
                p.protocol.as_deref().unwrap_or("TCP"),
                p.host_ip.as_deref().unwrap_or(""),
                hp
            );
            if !seen.insert(key.clone()) {
                errs.push(FieldError::duplicate(
                    format!("{base}[{i}].ports[{j}].hostPort"),
                    &key,
                ));
            }
        }
    }
}

const UPDATE_FORBIDDEN: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate` (V40): only images (and a few fields we do not run) may change.
pub fn validate_update(new: &Pod, old: &Pod) -> Vec<FieldError> {
    let mut errs = validate_pod(new);
    let (Some(ns), Some(os)) = (new.spec.as_ref(), old.spec.as_ref()) else {
        return errs;
    };
    let mut a = ns.clone();
    let b = os.clone();
    // Copy the mutable fields across, then any remaining difference is forbidden.
    if a.containers.len() == b.containers.len() {
        for (x, y) in a.containers.iter_mut().zip(&b.containers) {
            x.image = y.image.clone();
        }
    }
    if let (Some(ai), Some(bi)) = (a.init_containers.as_mut(), b.init_containers.as_ref()) {
        if ai.len() == bi.len() {
            for (x, y) in ai.iter_mut().zip(bi) {
                x.image = y.image.clone();
            }
        }
    }
    a.active_deadline_seconds = b.active_deadline_seconds;
    a.tolerations = b.tolerations.clone();
    if a != b {
        errs.push(FieldError::forbidden("spec", UPDATE_FORBIDDEN));
    }
    dedup(errs)
}

mod projected;

#[cfg(test)]
mod tests;
