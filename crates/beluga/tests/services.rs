//! Services as objects (issue 15 item 1): apply, get (kubectl's columns), describe, delete,
//! cluster IPs and node ports allocated once and kept across daemon restarts, validation in the
//! apiserver's words with nothing created on error. Routing and DNS are not here yet.

mod common;

use common::*;
use std::time::Duration;

const WEB: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: localhost/busybox:1
    ports: [{name: http, containerPort: 8080}]
    command: [sleep, '3600']
";

fn service(d: &Daemon, name: &str) -> serde_json::Value {
    serde_json::from_str(&d.ok(&["get", "svc", name, "-o", "json"])).expect("service json")
}

fn cluster_ip(d: &Daemon, name: &str) -> String {
    service(d, name)["spec"]["clusterIP"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Item 1: kubectl's `get services` table (and `-o wide`'s SELECTOR), the `kubernetes`
/// Service at the range's first address, a cluster IP chosen from `--service-cidr`, `describe`
/// with the selected pod as the endpoint, re-apply unchanged.
#[test]
fn services_are_listed_described_and_kept() {
    let Some(mut d) = Daemon::start() else { return };
    assert_eq!(d.apply(WEB), "service/web created\npod/web-1 created\n");
    let ip = cluster_ip(&d, "web");
    let net: ipnet::Ipv4Net = "10.96.0.0/16".parse().unwrap();
    assert!(
        net.contains(&ip.parse::<std::net::Ipv4Addr>().unwrap()),
        "{ip}"
    );
    let s = service(&d, "web");
    assert_eq!(s["spec"]["ipFamilies"], serde_json::json!(["IPv4"]));
    assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
    assert_eq!(s["spec"]["sessionAffinity"], "None");
    let table = d.ok(&["get", "svc"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    let cells = |name: &str, t: &str| -> Vec<String> {
        t.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{t}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        cells("kubernetes", &table)[..5],
        ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]
    );
    assert_eq!(
        cells("web", &table)[..5],
        ["web", "ClusterIP", ip.as_str(), "<none>", "80/TCP"]
    );
    let wide = d.ok(&["get", "svc", "web", "-o", "wide"]);
    assert_eq!(
        cells("web", &wide).last().map(String::as_str),
        Some("app=web")
    );
    d.wait_running("web-1");
    let pod_ip = d.pod("web-1")["status"]["podIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let text = d.ok(&["describe", "svc", "web"]);
    for want in [
        "Name:                     web".to_string(),
        "Selector:                 app=web".to_string(),
        format!("IP:                       {ip}"),
        "Port:                     http  80/TCP".to_string(),
        "TargetPort:               http/TCP".to_string(),
        format!("Endpoints:                {pod_ip}:8080"),
        "Internal Traffic Policy:  Cluster".to_string(),
        "Events:                   <none>".to_string(),
    ] {
        assert!(text.contains(&want), "{want:?} not in\n{text}");
    }
    let slices = d.ok(&["get", "endpointslices"]);
    let lines: Vec<&str> = slices.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    );
    let row: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("web-"))
        .unwrap_or(&"")
        .split_whitespace()
        .collect();
    assert_eq!(row[1..4], ["IPv4", "8080", pod_ip.as_str()], "{slices}");
    let ep = d.ok(&["get", "endpoints", "web"]);
    assert_eq!(cells("web", &ep)[1], format!("{pod_ip}:8080"));
    assert_eq!(d.apply(WEB), "service/web unchanged\npod/web-1 unchanged\n");
    d.restart();
    assert_eq!(cluster_ip(&d, "web"), ip, "the address survives a restart");
    assert_eq!(d.apply(WEB), "service/web unchanged\npod/web-1 unchanged\n");
    assert_eq!(d.ok(&["delete", "svc", "web"]), "service \"web\" deleted\n");
    let o = d.run(&["get", "svc", "web"]);
    assert_eq!(
        stderr(&o).trim(),
        "Error from server (NotFound): services \"web\" not found"
    );
}

/// Item 1: a requested cluster IP, a taken one refused in the allocator's words, headless and
/// NodePort Services as kubectl prints them, and a bad Service in a file creating nothing.
#[test]
fn addresses_and_ports_are_given_once() {
    let Some(d) = Daemon::start() else { return };
    let svc = |name: &str, spec: &str| {
        format!("apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n{spec}")
    };
    d.apply(&svc("dns", "  clusterIP: 10.96.0.10\n  selector: {app: dns}\n  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53}]\n"));
    assert_eq!(cluster_ip(&d, "dns"), "10.96.0.10");
    let o = d.apply_output(&svc(
        "other",
        "  clusterIP: 10.96.0.10\n  ports: [{port: 80}]\n",
    ));
    assert!(!o.status.success());
    assert_eq!(
        stderr(&o).trim(),
        "The Service \"other\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
    d.apply(&svc(
        "db",
        "  clusterIP: None\n  selector: {app: db}\n  ports: [{port: 5432}]\n",
    ));
    d.apply(&svc(
        "front",
        "  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, nodePort: 30080}]\n",
    ));
    let table = d.ok(&["get", "services"]);
    let row = |name: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        row("db")[..5],
        ["db", "ClusterIP", "None", "<none>", "5432/TCP"]
    );
    assert_eq!(row("front")[1], "NodePort");
    assert_eq!(row("front")[4], "80:30080/TCP");
    assert_eq!(row("dns")[4], "53/UDP,53/TCP");
    let o = d.apply_output(&svc(
        "front2",
        "  type: NodePort\n  ports: [{port: 80, nodePort: 30080}]\n",
    ));
    assert_eq!(
        stderr(&o).trim(),
        "The Service \"front2\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
    );
    let bad = format!(
        "{}---\n{}",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: lonely}\nspec: {containers: [{name: c, image: localhost/busybox:1}]}\n",
        svc("Bad_Name", "  ports: [{port: 80}]\n")
    );
    let o = d.apply_output(&bad);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("The Service \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a DNS-1035 label"), "{}", stderr(&o));
    assert!(
        !stdout(&d.run(&["get", "pods"])).contains("lonely"),
        "a bad file created its pod"
    );
    std::thread::sleep(Duration::from_millis(10));
}

/// Item 2: the endpoints follow readiness at once: a pod whose readiness probe starts failing
/// leaves the ready set (`notReadyAddresses`, `ready: false` in its slice) and comes back.
#[test]
fn endpoints_follow_readiness() {
    let Some(d) = Daemon::start() else { return };
    d.apply(
        "apiVersion: v1
kind: Service
metadata: {name: app}
spec:
  selector: {app: app}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: app-1, labels: {app: app}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/busybox:1
    command: [sh, -c, 'touch /tmp/ready; exec sleep 3600']
    readinessProbe: {exec: {command: [cat, /tmp/ready]}, periodSeconds: 1}
",
    );
    let ready = |want: bool| {
        let t = std::time::Instant::now();
        loop {
            let v: serde_json::Value =
                serde_json::from_str(&d.ok(&["get", "endpointslices", "-o", "json"]))
                    .expect("json");
            let cond = &v["items"][0]["endpoints"][0]["conditions"];
            if cond["ready"] == want && cond["serving"] == want {
                return v;
            }
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "ready never became {want}: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    ready(true);
    let ip = d.pod("app-1")["status"]["podIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let ep: serde_json::Value =
        serde_json::from_str(&d.ok(&["get", "endpoints", "app", "-o", "json"])).expect("json");
    assert_eq!(ep["subsets"][0]["addresses"][0]["ip"], ip.as_str());
    assert_eq!(ep["subsets"][0]["ports"][0]["port"], 8080);
    d.exec("app-1", "app", &["rm", "/tmp/ready"]);
    ready(false);
    let ep: serde_json::Value =
        serde_json::from_str(&d.ok(&["get", "endpoints", "app", "-o", "json"])).expect("json");
    assert_eq!(ep["subsets"][0]["notReadyAddresses"][0]["ip"], ip.as_str());
    assert!(ep["subsets"][0]["addresses"].is_null(), "{ep}");
    d.exec("app-1", "app", &["touch", "/tmp/ready"]);
    ready(true);
}
