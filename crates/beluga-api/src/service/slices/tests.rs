//! The endpoint-slice and endpoints controllers' choices (issue 15 item 2).

use super::*;
use crate::service::print::{endpoints_row, slice_row};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

fn pod(name: &str, labels: serde_json::Value, ip: &str, phase: &str, ready: bool) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"nodeName": "vm", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"podIP": ip, "phase": phase,
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

fn svc(spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "svc-uid", "labels": {"tier": "front"}},
        "spec": spec
    }))
    .unwrap()
}

fn web() -> Service {
    svc(
        json!({"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]}),
    )
}

// podToEndpoint and ShouldPodBeInEndpoints(pod, true): selector, an address, not terminal;
// ready = serving and not terminating; terminating pods stay (serving, not ready).
#[test]
fn conditions_per_pod() {
    let mut terminating = pod("t", json!({"app": "web"}), "10.88.0.5", "Running", true);
    terminating.metadata.deletion_timestamp = Some(
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::UNIX_EPOCH),
    );
    let pods = [
        pod("a", json!({"app": "web"}), "10.88.0.2", "Running", true),
        pod("b", json!({"app": "web"}), "10.88.0.3", "Running", false),
        pod("c", json!({"app": "db"}), "10.88.0.4", "Running", true),
        pod("d", json!({"app": "web"}), "", "Pending", false),
        pod("e", json!({"app": "web"}), "10.88.0.6", "Succeeded", false),
        terminating,
    ];
    let sl = slices(&web(), &pods);
    assert_eq!(sl.len(), 1);
    type Row = (String, Option<bool>, Option<bool>, Option<bool>);
    let got: Vec<Row> = sl[0]
        .endpoints
        .iter()
        .map(|e| {
            let c = e.conditions.clone().unwrap();
            (e.addresses[0].clone(), c.ready, c.serving, c.terminating)
        })
        .collect();
    assert_eq!(
        got,
        [
            ("10.88.0.2".into(), Some(true), Some(true), Some(false)),
            ("10.88.0.3".into(), Some(false), Some(false), Some(false)),
            ("10.88.0.5".into(), Some(false), Some(true), Some(true)),
        ]
    );
    let ports = sl[0].ports.clone().unwrap();
    assert_eq!(ports[0].port, Some(8080));
    assert_eq!(ports[0].name.as_deref(), Some("http"));
    let labels = sl[0].metadata.labels.clone().unwrap();
    assert_eq!(labels[LABEL_SERVICE_NAME], "web");
    assert_eq!(labels[LABEL_MANAGED_BY], MANAGED_BY);
    assert_eq!(labels["tier"], "front");
    assert!(sl[0].metadata.name.as_deref().unwrap().starts_with("web-"));
    assert_eq!(
        slices(&web(), &pods)[0].metadata.name,
        sl[0].metadata.name,
        "stable name"
    );
    let owner = &sl[0].metadata.owner_references.clone().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Service", "svc-uid", Some(true))
    );
    // The v1 view: ready in addresses, not ready in notReadyAddresses, terminating left out.
    let e = endpoints_object(&web(), &pods).unwrap();
    let ss = &e.subsets.clone().unwrap()[0];
    let ips = |l: &Option<Vec<EndpointAddress>>| {
        l.iter().flatten().map(|a| a.ip.clone()).collect::<Vec<_>>()
    };
    assert_eq!(ips(&ss.addresses), ["10.88.0.2"]);
    assert_eq!(ips(&ss.not_ready_addresses), ["10.88.0.3"]);
    assert_eq!(
        endpoints_row(&e, Timestamp::UNIX_EPOCH)[1],
        "10.88.0.2:8080"
    );
    assert_eq!(
        slice_row(&sl[0], Timestamp::UNIX_EPOCH)[1..4],
        ["IPv4", "8080", "10.88.0.2,10.88.0.3,10.88.0.5"]
    );
    assert_eq!(
        describe_line(&web(), &web().spec.unwrap().ports.unwrap()[0], &pods),
        "10.88.0.2:8080,10.88.0.3:8080,10.88.0.5:8080"
    );
}

// publishNotReadyAddresses: every endpoint ready; a pod lacking the named port is a slice of
// its own with no port; no selector, no slices; no pods, one empty slice.
#[test]
fn slices_by_ports_and_the_edges() {
    let mut s = web();
    s.spec.as_mut().unwrap().publish_not_ready_addresses = Some(true);
    let mut other = pod("z", json!({"app": "web"}), "10.88.0.9", "Running", true);
    other.spec.as_mut().unwrap().containers[0].ports = None;
    let pods = [
        pod("b", json!({"app": "web"}), "10.88.0.3", "Running", false),
        other,
    ];
    let sl = slices(&s, &pods);
    assert_eq!(sl.len(), 2);
    assert_eq!(
        sl[0].endpoints[0].conditions.clone().unwrap().ready,
        Some(true)
    );
    assert_eq!(sl[1].ports, Some(vec![]));
    assert_ne!(sl[0].metadata.name, sl[1].metadata.name);
    let e = endpoints_object(&s, &pods).unwrap();
    assert_eq!(e.subsets.as_ref().map(Vec::len), Some(2));
    let none = svc(json!({"ports": [{"port": 80, "protocol": "TCP"}]}));
    assert!(slices(&none, &pods).is_empty());
    assert!(endpoints_object(&none, &pods).is_none());
    let empty = slices(&web(), &[]);
    assert_eq!(empty.len(), 1);
    assert!(empty[0].endpoints.is_empty());
    assert_eq!(
        slice_row(&empty[0], Timestamp::UNIX_EPOCH)[2..4],
        ["<unset>", "<unset>"]
    );
    let e = endpoints_object(&web(), &[]).unwrap();
    assert_eq!(endpoints_row(&e, Timestamp::UNIX_EPOCH)[1], "<none>");
    // More than 100 pods: a second slice.
    let many: Vec<Pod> = (0..150)
        .map(|i| {
            pod(
                &format!("p{i}"),
                json!({"app": "web"}),
                &format!("10.88.{}.{}", i / 200, i % 200 + 2),
                "Running",
                true,
            )
        })
        .collect();
    let sl = slices(&web(), &many);
    assert_eq!(
        sl.iter().map(|s| s.endpoints.len()).collect::<Vec<_>>(),
        [100, 50]
    );
}

// ShouldSetHostname: a pod naming this Service as its subdomain gets its hostname in the slice.
#[test]
fn hostnames_for_the_subdomain() {
    let mut p = pod("a", json!({"app": "web"}), "10.88.0.2", "Running", true);
    let spec = p.spec.as_mut().unwrap();
    spec.hostname = Some("a-0".into());
    spec.subdomain = Some("web".into());
    let sl = slices(&web(), &[p.clone()]);
    assert_eq!(sl[0].endpoints[0].hostname.as_deref(), Some("a-0"));
    p.spec.as_mut().unwrap().subdomain = Some("other".into());
    assert_eq!(slices(&web(), &[p])[0].endpoints[0].hostname, None);
}
