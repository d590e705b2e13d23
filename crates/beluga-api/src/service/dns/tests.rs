//! The Kubernetes DNS specification's records (issue 15 item 4).

use super::*;
use serde_json::json;

fn svc(v: serde_json::Value) -> Service {
    serde_json::from_value(v).unwrap()
}

fn pod(name: &str, ip: &str, ready: bool, host: Option<&str>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "db"}},
        "spec": {"hostname": host, "subdomain": "db", "containers": [{"name": "c", "ports": [{"name": "pg", "containerPort": 5432}]}]},
        "status": {"podIP": ip, "phase": "Running",
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    }))
    .unwrap()
}

fn world() -> (Vec<Service>, Vec<Pod>) {
    let services = vec![
        svc(json!({"metadata": {"name": "web", "namespace": "default"},
            "spec": {"clusterIP": "10.96.0.5", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}})),
        svc(json!({"metadata": {"name": "db", "namespace": "default"},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}})),
        svc(json!({"metadata": {"name": "ext", "namespace": "default"},
            "spec": {"type": "ExternalName", "externalName": "db.example.com"}})),
    ];
    let pods = vec![
        pod("db-0", "10.88.0.7", true, Some("db-0")),
        pod("db-1", "10.88.0.8", true, None),
        pod("db-2", "10.88.0.9", false, None),
    ];
    (services, pods)
}

fn a(name: &str, ip: &str) -> Rec {
    Rec {
        name: name.into(),
        data: Data::A(ip.parse().unwrap()),
    }
}

// Services, headless Services (ready endpoints only), ExternalName, pods, NXDOMAIN against an
// empty answer, and names outside the zone.
#[test]
fn forward_records() {
    let (services, pods) = world();
    let z = Zone {
        domain: "cluster.local",
        services: &services,
        pods: &pods,
    };
    let q = "web.default.svc.cluster.local.";
    assert_eq!(
        z.answer(q, Kind::A),
        Answer::Records(vec![a(q, "10.96.0.5")])
    );
    assert_eq!(
        z.answer("WEB.default.svc.cluster.local", Kind::A),
        Answer::Records(vec![a(q, "10.96.0.5")])
    );
    assert_eq!(
        z.answer(q, Kind::Aaaa),
        Answer::Records(vec![]),
        "exists, no AAAA: empty, not NXDOMAIN"
    );
    assert_eq!(
        z.answer("nope.default.svc.cluster.local.", Kind::A),
        Answer::NxDomain
    );
    assert_eq!(
        z.answer("web.other.svc.cluster.local.", Kind::A),
        Answer::NxDomain
    );
    let d = "db.default.svc.cluster.local.";
    assert_eq!(
        z.answer(d, Kind::A),
        Answer::Records(vec![a(d, "10.88.0.7"), a(d, "10.88.0.8")])
    );
    let h = "db-0.db.default.svc.cluster.local.";
    assert_eq!(
        z.answer(h, Kind::A),
        Answer::Records(vec![a(h, "10.88.0.7")])
    );
    let g = "10-88-0-8.db.default.svc.cluster.local.";
    assert_eq!(
        z.answer(g, Kind::A),
        Answer::Records(vec![a(g, "10.88.0.8")])
    );
    assert_eq!(
        z.answer("10-88-0-9.db.default.svc.cluster.local.", Kind::A),
        Answer::NxDomain,
        "not ready"
    );
    let p = "10-1-2-3.default.pod.cluster.local.";
    assert_eq!(
        z.answer(p, Kind::A),
        Answer::Records(vec![a(p, "10.1.2.3")])
    );
    let e = "ext.default.svc.cluster.local.";
    assert_eq!(
        z.answer(e, Kind::A),
        Answer::Records(vec![Rec {
            name: e.into(),
            data: Data::Cname("db.example.com.".into())
        }])
    );
    for exists in [
        "cluster.local.",
        "svc.cluster.local.",
        "default.svc.cluster.local.",
    ] {
        assert_eq!(
            z.answer(exists, Kind::A),
            Answer::Records(vec![]),
            "{exists}"
        );
    }
    assert_eq!(
        z.answer("nons.svc.cluster.local.", Kind::A),
        Answer::NxDomain
    );
    assert_eq!(z.answer("example.com.", Kind::A), Answer::NotOurs);
}

// SRV for named ports (a Service's own name; each ready endpoint of a headless one), PTR for
// cluster IPs and headless endpoints.
#[test]
fn srv_and_ptr() {
    let (services, pods) = world();
    let z = Zone {
        domain: "cluster.local",
        services: &services,
        pods: &pods,
    };
    let q = "_http._tcp.web.default.svc.cluster.local.";
    assert_eq!(
        z.answer(q, Kind::Srv),
        Answer::Records(vec![Rec {
            name: q.into(),
            data: Data::Srv {
                weight: 100,
                port: 80,
                target: "web.default.svc.cluster.local.".into()
            }
        }])
    );
    assert_eq!(
        z.answer("_http._udp.web.default.svc.cluster.local.", Kind::Srv),
        Answer::NxDomain
    );
    let h = "_pg._tcp.db.default.svc.cluster.local.";
    let Answer::Records(recs) = z.answer(h, Kind::Srv) else {
        panic!()
    };
    let targets: Vec<&Data> = recs.iter().map(|r| &r.data).collect();
    assert_eq!(
        targets,
        [
            &Data::Srv {
                weight: 50,
                port: 5432,
                target: "db-0.db.default.svc.cluster.local.".into()
            },
            &Data::Srv {
                weight: 50,
                port: 5432,
                target: "10-88-0-8.db.default.svc.cluster.local.".into()
            },
        ]
    );
    let r = "5.0.96.10.in-addr.arpa.";
    assert_eq!(
        z.answer(r, Kind::Ptr),
        Answer::Records(vec![Rec {
            name: r.into(),
            data: Data::Ptr("web.default.svc.cluster.local.".into())
        }])
    );
    let r = "7.0.88.10.in-addr.arpa.";
    assert_eq!(
        z.answer(r, Kind::Ptr),
        Answer::Records(vec![Rec {
            name: r.into(),
            data: Data::Ptr("db-0.db.default.svc.cluster.local.".into())
        }])
    );
    assert_eq!(
        z.answer("1.1.168.192.in-addr.arpa.", Kind::Ptr),
        Answer::NotOurs
    );
}
