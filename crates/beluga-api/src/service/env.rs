//! The Service environment variables kubelet gives every container
//! (`getServiceEnvVarMap` + `envvars.FromServices`): for each Service of the pod's namespace
//! with a cluster IP (when `enableServiceLinks`), and always the `kubernetes` Service of
//! `default`, `<NAME>_SERVICE_HOST`, `_SERVICE_PORT`, one `_SERVICE_PORT_<PORT NAME>` per named
//! port, and Docker's link variables (`<NAME>_PORT`, `<NAME>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR]`).

use crate::Service;

/// `makeEnvVariableName`: upper case, `-` → `_`.
fn var_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// `IsServiceIPSet`: a cluster IP that is neither empty nor `None`.
fn ip_of(svc: &Service) -> Option<String> {
    svc.spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .filter(|ip| !ip.is_empty() && ip != "None")
}

/// The Services whose variables a pod of `namespace` gets, by name (a Service of the pod's own
/// namespace named `kubernetes` stands for the master one only when links are off).
fn chosen<'a>(services: &'a [Service], namespace: &str, links: bool) -> Vec<&'a Service> {
    let mut by_name: std::collections::BTreeMap<String, &Service> = Default::default();
    for s in services.iter().filter(|s| ip_of(s).is_some()) {
        let name = s.metadata.name.clone().unwrap_or_default();
        let ns = s.metadata.namespace.as_deref().unwrap_or("default");
        if ns == "default" && name == "kubernetes" {
            by_name.entry(name).or_insert(s);
        } else if ns == namespace && links {
            by_name.insert(name, s);
        }
    }
    by_name.into_values().collect()
}

fn one(svc: &Service, out: &mut Vec<(String, String)>) {
    let (Some(ip), Some(spec)) = (ip_of(svc), svc.spec.as_ref()) else {
        return;
    };
    let ports = spec.ports.clone().unwrap_or_default();
    let prefix = var_name(svc.metadata.name.as_deref().unwrap_or(""));
    out.push((format!("{prefix}_SERVICE_HOST"), ip.clone()));
    let Some(first) = ports.first() else { return };
    let service_port = format!("{prefix}_SERVICE_PORT");
    out.push((service_port.clone(), first.port.to_string()));
    for p in ports
        .iter()
        .filter(|p| p.name.as_deref().is_some_and(|n| !n.is_empty()))
    {
        let name = var_name(p.name.as_deref().unwrap_or(""));
        out.push((format!("{service_port}_{name}"), p.port.to_string()));
    }
    for (i, p) in ports.iter().enumerate() {
        let proto = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        let url = format!("{}://{ip}:{}", proto.to_lowercase(), p.port);
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{}_{}", p.port, proto.to_uppercase());
        out.push((pp.clone(), url));
        out.push((format!("{pp}_PROTO"), proto.to_lowercase()));
        out.push((format!("{pp}_PORT"), p.port.to_string()));
        out.push((format!("{pp}_ADDR"), ip.clone()));
    }
}

/// The variables, Services in name order, each Service's in kubelet's order.
pub fn service_env(services: &[Service], namespace: &str, links: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for s in chosen(services, namespace, links) {
        one(s, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns},
            "spec": {"clusterIP": ip, "ports": ports}
        }))
        .unwrap()
    }

    // envvars.FromServices: host, first port, named ports, Docker link variables.
    #[test]
    fn variables_of_one_service() {
        let s = svc(
            "default",
            "my-db",
            "10.96.0.20",
            json!([
                {"name": "pg", "port": 5432, "protocol": "TCP"},
                {"name": "metrics", "port": 9187, "protocol": "UDP"}
            ]),
        );
        let env = service_env(&[s], "default", true);
        let want = [
            ("MY_DB_SERVICE_HOST", "10.96.0.20"),
            ("MY_DB_SERVICE_PORT", "5432"),
            ("MY_DB_SERVICE_PORT_PG", "5432"),
            ("MY_DB_SERVICE_PORT_METRICS", "9187"),
            ("MY_DB_PORT", "tcp://10.96.0.20:5432"),
            ("MY_DB_PORT_5432_TCP", "tcp://10.96.0.20:5432"),
            ("MY_DB_PORT_5432_TCP_PROTO", "tcp"),
            ("MY_DB_PORT_5432_TCP_PORT", "5432"),
            ("MY_DB_PORT_5432_TCP_ADDR", "10.96.0.20"),
            ("MY_DB_PORT_9187_UDP", "udp://10.96.0.20:9187"),
            ("MY_DB_PORT_9187_UDP_PROTO", "udp"),
            ("MY_DB_PORT_9187_UDP_PORT", "9187"),
            ("MY_DB_PORT_9187_UDP_ADDR", "10.96.0.20"),
        ];
        let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    // getServiceEnvVarMap: the pod's namespace only, headless and ExternalName skipped, the
    // master `kubernetes` Service always, even with enableServiceLinks false.
    #[test]
    fn which_services() {
        let all = [
            svc(
                "default",
                "kubernetes",
                "10.96.0.1",
                json!([{"name": "https", "port": 443, "protocol": "TCP"}]),
            ),
            svc(
                "default",
                "web",
                "10.96.0.5",
                json!([{"port": 80, "protocol": "TCP"}]),
            ),
            svc(
                "other",
                "db",
                "10.96.0.6",
                json!([{"port": 5432, "protocol": "TCP"}]),
            ),
            svc(
                "default",
                "headless",
                "None",
                json!([{"port": 80, "protocol": "TCP"}]),
            ),
        ];
        let hosts = |ns: &str, links: bool| -> Vec<String> {
            service_env(&all, ns, links)
                .into_iter()
                .filter(|(k, _)| k.ends_with("_SERVICE_HOST"))
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(
            hosts("default", true),
            ["KUBERNETES_SERVICE_HOST", "WEB_SERVICE_HOST"]
        );
        assert_eq!(hosts("default", false), ["KUBERNETES_SERVICE_HOST"]);
        assert_eq!(
            hosts("other", true),
            ["DB_SERVICE_HOST", "KUBERNETES_SERVICE_HOST"]
        );
    }
}
