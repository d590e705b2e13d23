//! kubectl's `describe pod` layout (`describePod` in kubectl's `describe.go`): sections of
//! `Key:\tvalue` lines aligned as Go's tabwriter aligns them, then the Events table.

use crate::duration::human_duration;
use crate::podutil::is_sidecar;
use crate::Pod;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, ContainerState, ContainerStatus, Event,
};
use k8s_openapi::jiff::Timestamp;

fn time(t: &Timestamp) -> String {
    t.strftime("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// Aligns each run of lines that contain tabs, padding cells to the widest plus 2 spaces.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].contains('\t') {
            out.push_str(lines[i]);
            out.push('\n');
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && lines[i].contains('\t') {
            i += 1;
        }
        let block: Vec<Vec<&str>> = lines[start..i]
            .iter()
            .map(|l| l.split('\t').collect())
            .collect();
        let cols = block.iter().map(|c| c.len()).max().unwrap_or(0);
        let mut widths = vec![0; cols];
        for cells in &block {
            for (j, c) in cells.iter().enumerate().take(cells.len() - 1) {
                widths[j] = widths[j].max(c.chars().count());
            }
        }
        for cells in &block {
            let mut line = String::new();
            for (j, c) in cells.iter().enumerate() {
                line.push_str(c);
                if j + 1 < cells.len() {
                    line.push_str(&" ".repeat(widths[j] - c.chars().count() + 2));
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    out
}

pub(crate) fn map_lines(
    out: &mut String,
    key: &str,
    m: Option<&std::collections::BTreeMap<String, String>>,
) {
    match m.filter(|m| !m.is_empty()) {
        None => out.push_str(&format!("{key}:\t<none>\n")),
        Some(m) => {
            for (i, (k, v)) in m.iter().enumerate() {
                if i == 0 {
                    out.push_str(&format!("{key}:\t{k}={v}\n"));
                } else {
                    out.push_str(&format!("\t{k}={v}\n"));
                }
            }
        }
    }
}

fn state_lines(out: &mut String, label: &str, s: &ContainerState) {
    let p = "    ";
    if let Some(r) = &s.running {
        out.push_str(&format!("{p}{label}:\tRunning\n"));
        if let Some(t) = &r.started_at {
            out.push_str(&format!("{p}  Started:\t{}\n", time(&t.0)));
        }
    } else if let Some(w) = &s.waiting {
        out.push_str(&format!("{p}{label}:\tWaiting\n"));
        out.push_str(&format!(
            "{p}  Reason:\t{}\n",
            w.reason.clone().unwrap_or_default()
        ));
    } else if let Some(t) = &s.terminated {
        out.push_str(&format!("{p}{label}:\tTerminated\n"));
        out.push_str(&format!(
            "{p}  Reason:\t{}\n",
            t.reason.clone().unwrap_or_default()
        ));
        if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
            out.push_str(&format!("{p}  Message:\t{m}\n"));
        }
        out.push_str(&format!("{p}  Exit Code:\t{}\n", t.exit_code));
        if let Some(sig) = t.signal.filter(|s| *s > 0) {
            out.push_str(&format!("{p}  Signal:\t{sig}\n"));
        }
        if let Some(s) = &t.started_at {
            out.push_str(&format!("{p}  Started:\t{}\n", time(&s.0)));
        }
        if let Some(f) = &t.finished_at {
            out.push_str(&format!("{p}  Finished:\t{}\n", time(&f.0)));
        }
    } else {
        out.push_str(&format!("{p}{label}:\tWaiting\n"));
    }
}

/// A port as kubectl prints it: the number, or the name.
fn port_text(p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    match p {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    }
}

/// kubectl's `Port:`/`Ports:` and `Host Port(s):` lines ("8080/TCP" lists).
fn ports_lines(out: &mut String, c: &Container) {
    let port_list = |number: fn(&ContainerPort) -> i32| -> Vec<String> {
        c.ports
            .iter()
            .flatten()
            .map(|p| format!("{}/{}", number(p), p.protocol.as_deref().unwrap_or("TCP")))
            .collect()
    };
    let ports = port_list(|p| p.container_port);
    let hports = port_list(|p| p.host_port.unwrap_or(0));
    let (pl, hl) = if ports.len() > 1 {
        ("Ports", "Host Ports")
    } else {
        ("Port", "Host Port")
    };
    out.push_str(&format!(
        "    {pl}:\t{}\n",
        if ports.is_empty() {
            "<none>".into()
        } else {
            ports.join(", ")
        }
    ));
    out.push_str(&format!(
        "    {hl}:\t{}\n",
        if hports.is_empty() {
            "<none>".into()
        } else {
            hports.join(", ")
        }
    ));
}

/// One line per probe: its handler and its timing and thresholds.
fn probe_lines(out: &mut String, c: &Container) {
    for (label, p) in [
        ("Liveness", &c.liveness_probe),
        ("Readiness", &c.readiness_probe),
        ("Startup", &c.startup_probe),
    ] {
        if let Some(p) = p {
            let what = if let Some(e) = &p.exec {
                format!("exec [{}]", e.command.clone().unwrap_or_default().join(" "))
            } else if let Some(g) = &p.http_get {
                let port = port_text(&g.port);
                format!(
                    "http-get {}://{}:{port}{}",
                    g.scheme
                        .clone()
                        .unwrap_or_else(|| "HTTP".into())
                        .to_lowercase(),
                    g.host.clone().unwrap_or_default(),
                    g.path.clone().unwrap_or_default()
                )
            } else if let Some(t) = &p.tcp_socket {
                let port = port_text(&t.port);
                format!("tcp-socket :{port}")
            } else if let Some(g) = &p.grpc {
                format!(
                    "grpc <pod>:{} {}",
                    g.port,
                    g.service.clone().unwrap_or_default()
                )
            } else {
                "unknown".into()
            };
            out.push_str(&format!(
                "    {label}:\t{what} delay={}s timeout={}s period={}s #success={} #failure={}\n",
                p.initial_delay_seconds.unwrap_or(0),
                p.timeout_seconds.unwrap_or(1),
                p.period_seconds.unwrap_or(10),
                p.success_threshold.unwrap_or(1),
                p.failure_threshold.unwrap_or(3)
            ));
        }
    }
}

/// The `Environment:` and `Mounts:` blocks.
fn env_and_mount_lines(out: &mut String, c: &Container) {
    match c.env.as_ref().filter(|e| !e.is_empty()) {
        None => out.push_str("    Environment:\t<none>\n"),
        Some(env) => {
            out.push_str("    Environment:\n");
            for e in env {
                let v = match (&e.value, &e.value_from) {
                    (_, Some(vf)) => match &vf.field_ref {
                        Some(f) => format!(
                            " ({}:{})",
                            f.api_version.clone().unwrap_or_else(|| "v1".into()),
                            f.field_path
                        ),
                        None => "<set to a reference>".into(),
                    },
                    (Some(v), None) => v.clone(),
                    (None, None) => String::new(),
                };
                out.push_str(&format!("      {}:\t{v}\n", e.name));
            }
        }
    }
    match c.volume_mounts.as_ref().filter(|m| !m.is_empty()) {
        None => out.push_str("    Mounts:\t<none>\n"),
        Some(ms) => {
            out.push_str("    Mounts:\n");
            for m in ms {
                let mode = if m.read_only == Some(true) {
                    "ro"
                } else {
                    "rw"
                };
                let sub = m
                    .sub_path
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .map(|s| format!(",path={s:?}"))
                    .unwrap_or_default();
                out.push_str(&format!(
                    "      {} from {} ({mode}{sub})\n",
                    m.mount_path, m.name
                ));
            }
        }
    }
}

fn container(out: &mut String, c: &Container, st: Option<&ContainerStatus>, init: bool) {
    out.push_str(&format!("  {}:\n", c.name));
    out.push_str(&format!(
        "    Container ID:\t{}\n",
        st.and_then(|s| s.container_id.clone()).unwrap_or_default()
    ));
    out.push_str(&format!(
        "    Image:\t{}\n",
        c.image.clone().unwrap_or_default()
    ));
    out.push_str(&format!(
        "    Image ID:\t{}\n",
        st.map(|s| s.image_id.clone()).unwrap_or_default()
    ));
    ports_lines(out, c);
    for (label, list) in [("Command", &c.command), ("Args", &c.args)] {
        if let Some(l) = list.as_ref().filter(|l| !l.is_empty()) {
            out.push_str(&format!("    {label}:\n"));
            for a in l {
                for line in a.lines() {
                    out.push_str(&format!("      {line}\n"));
                }
            }
        }
    }
    if let Some(s) = st {
        state_lines(
            out,
            "State",
            s.state.as_ref().unwrap_or(&ContainerState::default()),
        );
        if let Some(ls) = s.last_state.as_ref().filter(|l| l.terminated.is_some()) {
            state_lines(out, "Last State", ls);
        }
        out.push_str(&format!(
            "    Ready:\t{}\n",
            if s.ready { "True" } else { "False" }
        ));
        out.push_str(&format!("    Restart Count:\t{}\n", s.restart_count));
    } else {
        out.push_str("    State:\tWaiting\n    Ready:\tFalse\n    Restart Count:\t0\n");
    }
    let _ = init;
    probe_lines(out, c);
    env_and_mount_lines(out, c);
}

/// The `Volumes:` block.
fn volume_lines(out: &mut String, vols: &[k8s_openapi::api::core::v1::Volume]) {
    if vols.is_empty() {
        out.push_str("Volumes:\t<none>\n");
    } else {
        out.push_str("Volumes:\n");
        for v in vols {
            out.push_str(&format!("  {}:\n", v.name));
            if let Some(e) = &v.empty_dir {
                out.push_str(
                    "    Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n",
                );
                out.push_str(&format!(
                    "    Medium:\t{}\n",
                    e.medium.clone().unwrap_or_default()
                ));
                out.push_str(&format!(
                    "    SizeLimit:\t{}\n",
                    e.size_limit
                        .as_ref()
                        .map(|q| q.0.clone())
                        .unwrap_or_else(|| "<unset>".into())
                ));
            } else if let Some(h) = &v.host_path {
                out.push_str("    Type:\tHostPath (bare host directory volume)\n");
                out.push_str(&format!("    Path:\t{}\n", h.path));
                out.push_str(&format!(
                    "    HostPathType:\t{}\n",
                    h.type_.clone().unwrap_or_default()
                ));
            } else if !object_volume_lines(out, v) {
                out.push_str("    Type:\t<unsupported on this node>\n");
            }
        }
    }
}

/// kubectl's lines for volumes made from objects (describe.go's printConfigMapVolumeSource,
/// printSecretVolumeSource, printDownwardAPIVolumeSource, printProjectedVolumeSource); false
/// for other kinds.
fn object_volume_lines(out: &mut String, v: &k8s_openapi::api::core::v1::Volume) -> bool {
    // A projection's `optional` is printed as Go prints a *bool unset: `<nil>`.
    let opt = |o: Option<bool>| o.map_or_else(|| "<nil>".to_string(), |b| b.to_string());
    if let Some(c) = &v.config_map {
        out.push_str(&format!(
            "    Type:\tConfigMap (a volume populated by a ConfigMap)\n    Name:\t{}\n    Optional:\t{}\n",
            c.name,
            c.optional.unwrap_or(false)
        ));
    } else if let Some(s) = &v.secret {
        out.push_str(&format!(
            "    Type:\tSecret (a volume populated by a Secret)\n    SecretName:\t{}\n    Optional:\t{}\n",
            s.secret_name.clone().unwrap_or_default(),
            s.optional.unwrap_or(false)
        ));
    } else if let Some(d) = &v.downward_api {
        out.push_str(
            "    Type:\tDownwardAPI (a volume populated by information about the pod)\n    Items:\n",
        );
        for item in d.items.iter().flatten() {
            if let Some(f) = &item.field_ref {
                out.push_str(&format!("      {} -> {}\n", f.field_path, item.path));
            }
            if let Some(r) = &item.resource_field_ref {
                out.push_str(&format!("      {} -> {}\n", r.resource, item.path));
            }
        }
    } else if let Some(p) = &v.projected {
        out.push_str(
            "    Type:\tProjected (a volume that contains injected data from multiple sources)\n",
        );
        for s in p.sources.iter().flatten() {
            if let Some(sec) = &s.secret {
                out.push_str(&format!(
                    "    SecretName:\t{}\n    SecretOptionalName:\t{}\n",
                    sec.name,
                    opt(sec.optional)
                ));
            } else if s.downward_api.is_some() {
                out.push_str("    DownwardAPI:\ttrue\n");
            } else if let Some(c) = &s.config_map {
                out.push_str(&format!(
                    "    ConfigMapName:\t{}\n    ConfigMapOptional:\t{}\n",
                    c.name,
                    opt(c.optional)
                ));
            } else if let Some(t) = &s.service_account_token {
                out.push_str(&format!(
                    "    TokenExpirationSeconds:\t{}\n",
                    t.expiration_seconds.unwrap_or(3600)
                ));
            }
        }
    } else {
        return false;
    }
    true
}

/// The `Events:` table, with kubectl's `<age> (x<n> over <span>)`.
pub(crate) fn event_lines(events: &[Event], now: Timestamp) -> String {
    let mut ev = String::from(
        "Events:\n  Type\tReason\tAge\tFrom\tMessage\n  ----\t------\t----\t----\t-------\n",
    );
    for e in events {
        let first = e.first_timestamp.as_ref().map(|t| t.0);
        let last = e.last_timestamp.as_ref().map(|t| t.0).or(first);
        let age = match (first, last, e.count.unwrap_or(1)) {
            (Some(f), Some(l), n) if n > 1 => format!(
                "{} (x{n} over {})",
                human_duration(now.duration_since(l)),
                human_duration(now.duration_since(f))
            ),
            (_, Some(l), _) => human_duration(now.duration_since(l)),
            _ => "<unknown>".into(),
        };
        let from = e
            .source
            .as_ref()
            .and_then(|s| s.component.clone())
            .unwrap_or_default();
        ev.push_str(&format!(
            "  {}\t{}\t{age}\t{from}\t{}\n",
            e.type_.clone().unwrap_or_default(),
            e.reason.clone().unwrap_or_default(),
            e.message.clone().unwrap_or_default().trim()
        ));
    }
    ev
}

/// The whole `describe pod` text.
pub fn pod(pod: &Pod, events: &[Event], now: Timestamp) -> String {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let m = &pod.metadata;
    let mut out = String::new();
    out.push_str(&format!("Name:\t{}\n", m.name.clone().unwrap_or_default()));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        m.namespace.clone().unwrap_or_default()
    ));
    out.push_str(&format!("Priority:\t{}\n", spec.priority.unwrap_or(0)));
    out.push_str(&format!(
        "Service Account:\t{}\n",
        spec.service_account_name
            .clone()
            .unwrap_or_else(|| "default".into())
    ));
    out.push_str(&format!(
        "Node:\t{}/{}\n",
        spec.node_name.clone().unwrap_or_default(),
        status.host_ip.clone().unwrap_or_default()
    ));
    if let Some(t) = &status.start_time {
        out.push_str(&format!("Start Time:\t{}\n", time(&t.0)));
    }
    map_lines(&mut out, "Labels", m.labels.as_ref());
    map_lines(&mut out, "Annotations", m.annotations.as_ref());
    let phase = status.phase.clone().unwrap_or_default();
    if let Some(d) = &m.deletion_timestamp {
        out.push_str(&format!(
            "Status:\tTerminating (lasts {})\n",
            human_duration(now.duration_since(d.0))
        ));
        out.push_str(&format!(
            "Termination Grace Period:\t{}s\n",
            m.deletion_grace_period_seconds.unwrap_or(30)
        ));
    } else {
        out.push_str(&format!("Status:\t{phase}\n"));
    }
    if let Some(r) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        out.push_str(&format!("Reason:\t{r}\n"));
    }
    out.push_str(&format!(
        "IP:\t{}\n",
        status.pod_ip.clone().unwrap_or_default()
    ));
    match status.pod_ips.as_ref().filter(|i| !i.is_empty()) {
        None => out.push_str("IPs:\t<none>\n"),
        Some(ips) => {
            out.push_str("IPs:\n");
            for ip in ips {
                out.push_str(&format!("  IP:\t{}\n", ip.ip));
            }
        }
    }
    let inits = spec.init_containers.clone().unwrap_or_default();
    if !inits.is_empty() {
        out.push_str("Init Containers:\n");
        for c in &inits {
            let st = status
                .init_container_statuses
                .iter()
                .flatten()
                .find(|s| s.name == c.name);
            container(&mut out, c, st, !is_sidecar(c));
        }
    }
    out.push_str("Containers:\n");
    for c in &spec.containers {
        let st = status
            .container_statuses
            .iter()
            .flatten()
            .find(|s| s.name == c.name);
        container(&mut out, c, st, false);
    }
    out.push_str("Conditions:\n  Type\tStatus\n");
    for c in status.conditions.iter().flatten() {
        out.push_str(&format!("  {}\t{} \n", c.type_, c.status));
    }
    volume_lines(&mut out, spec.volumes.as_deref().unwrap_or(&[]));
    out.push_str(&format!(
        "QoS Class:\t{}\n",
        status
            .qos_class
            .clone()
            .unwrap_or_else(|| "BestEffort".into())
    ));
    map_lines(&mut out, "Node-Selectors", spec.node_selector.as_ref());
    out.push_str("Tolerations:\t<none>\n");
    let mut text = tabwrite(&out);
    if events.is_empty() {
        text.push_str("Events:                      <none>\n");
        return text;
    }
    text.push_str(&tabwrite(&event_lines(events, now)));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabwriter_aligns_runs() {
        assert_eq!(
            tabwrite("Name:\tweb\nService Account:\tdefault\nContainers:\n  a:\tb\n"),
            "Name:             web\nService Account:  default\nContainers:\n  a:  b\n"
        );
    }

    #[test]
    fn describes_a_pod() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", "sleep 1"], "ports": [{"containerPort": 8080}, {"containerPort": 53, "hostPort": 5353, "protocol": "UDP"}], "volumeMounts": [{"name": "d", "mountPath": "/d"}]}],
                     "volumes": [{"name": "d", "emptyDir": {}}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "image": "busybox", "imageID": "sha256:x", "ready": true, "restartCount": 2,
                          "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                          "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}}]}
        }))
        .unwrap();
        let out = pod(&p, &[], "2026-01-01T00:01:00Z".parse().unwrap());
        for want in [
            "Name:             web\n",
            "Labels:           app=web\n",
            "Status:           Running\n",
            "    State:          Running\n",
            "      Started:      Thu, 01 Jan 2026 00:00:00 +0000\n",
            "    Last State:     Terminated\n",
            "      Exit Code:    1\n",
            "    Restart Count:  2\n",
            "    Ports:         8080/TCP, 53/UDP\n",
            "    Host Ports:    0/TCP, 5353/UDP\n",
            "      /d from d (rw)\n",
            "  Ready  True \n",
            "Events:                      <none>\n",
            "    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
    }

    // kubectl's describe.go print*VolumeSource lines for volumes made from objects (issue 16).
    #[test]
    fn describes_volumes_made_from_objects() {
        let p: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"containers": [{"name": "app", "image": "busybox"}],
                     "volumes": [
                        {"name": "c", "configMap": {"name": "app-config"}},
                        {"name": "s", "secret": {"secretName": "creds", "optional": true}},
                        {"name": "i", "downwardAPI": {"items": [
                            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                            {"path": "mem", "resourceFieldRef": {"containerName": "app", "resource": "limits.memory"}}]}},
                        {"name": "p", "projected": {"sources": [
                            {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                            {"configMap": {"name": "kube-root-ca.crt"}},
                            {"secret": {"name": "creds", "optional": false}},
                            {"downwardAPI": {"items": []}}]}}]}
        }))
        .unwrap();
        let out = pod(&p, &[], "2026-01-01T00:01:00Z".parse().unwrap());
        // Go's tabwriter aligns each volume's block on its own (the name line has no cell).
        let volumes = &out[out.find("Volumes:").unwrap()..out.find("QoS Class:").unwrap()];
        assert_eq!(
            volumes,
            "Volumes:
  c:
    Type:      ConfigMap (a volume populated by a ConfigMap)
    Name:      app-config
    Optional:  false
  s:
    Type:        Secret (a volume populated by a Secret)
    SecretName:  creds
    Optional:    true
  i:
    Type:  DownwardAPI (a volume populated by information about the pod)
    Items:
      metadata.labels -> labels
      limits.memory -> mem
  p:
    Type:                    Projected (a volume that contains injected data from multiple sources)
    TokenExpirationSeconds:  3607
    ConfigMapName:           kube-root-ca.crt
    ConfigMapOptional:       <nil>
    SecretName:              creds
    SecretOptionalName:      false
    DownwardAPI:             true
"
        );
    }
}
