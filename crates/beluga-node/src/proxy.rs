//! The Services' data plane, as kube-proxy's nftables mode lays it out: one table of beluga's
//! (`--nft-table`), a rule per Service port in `services` sending its cluster IP (and its node
//! port, on the node's own addresses) to a chain that picks a ready endpoint at random and DNATs
//! to it; Service ports without a ready endpoint rejected (connection refused, as kube-proxy
//! does). Every connection through a Service is masqueraded (kube-proxy's `--masquerade-all`):
//! without `br_netfilter`, which beluga does not load into the host's kernel, a reply between two
//! pods of one bridge would otherwise skip the host and never be un-DNATed. The whole table is
//! replaced in one transaction at start and, whenever a Service or a pod changes, updated in one
//! (its rules flushed and made again, its sets kept: `sessionAffinity: ClientIP` remembers each
//! endpoint's clients in a set with the Service's timeout, as kube-proxy does). The default
//! network's pods leaving the pod CIDR are masqueraded here too, by one rule (ip-masq-agent's
//! role; the bridge plugin's `ipMasq` made a chain per pod, and each ADD's iptables call read
//! all of them).

use crate::Daemon;
use beluga_api::k8s_openapi::api::discovery::v1::EndpointSlice;
use beluga_api::service::{self, slices};
use beluga_api::{Pod, Service};
use beluga_net::nft::{self, chain, jump, matches, rule};
use serde_json::{json, Value};
use std::net::SocketAddrV4;
use std::sync::Arc;
use tracing::{info, warn};

/// The mark of a connection that went through a Service: masqueraded on its way out.
pub const MASQ_MARK: u32 = 0x4000;

/// One Service port's traffic: what matches it and where it goes.
struct PortRules {
    id: String,
    protocol: String,
    cluster: Option<(String, i32)>,
    node_port: Option<i32>,
    endpoints: Vec<(String, i32)>,
    /// `sessionAffinity: ClientIP`: how long (s) a client stays with the endpoint it was sent
    /// to (`sessionAffinityConfig.clientIP.timeoutSeconds`, 10800 by default).
    affinity: Option<u32>,
}

/// A chain name of a Service port: stable, short, and free of anything a user wrote.
fn chain_id(parts: &[&str]) -> String {
    format!("{:016x}", service::fnv1a(&parts.join("/")))
}

/// The ready endpoints of a Service port (`address`, port), from its slices.
fn ready_endpoints(port_name: &str, slices: &[EndpointSlice]) -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for s in slices {
        let Some(p) = s
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name)
        else {
            continue;
        };
        for e in &s.endpoints {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false);
            if let (true, Some(addr), Some(port)) = (ready, e.addresses.first(), p.port) {
                out.push((addr.clone(), port));
            }
        }
    }
    out
}

/// The Services whose endpoint is the daemon itself, as a cluster's are the apiserver and its
/// DNS pods: where the daemon serves them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeEndpoints {
    /// The cluster DNS server: `kube-dns` of `kube-system`.
    pub dns: Option<SocketAddrV4>,
    /// The Kubernetes API where pods reach it: `kubernetes` of `default`.
    pub api: Option<SocketAddrV4>,
}

impl NodeEndpoints {
    /// The daemon's own endpoint for `svc`, when it is one of those Services.
    fn of(&self, svc: &Service) -> Option<SocketAddrV4> {
        let key = (
            svc.metadata.namespace.as_deref().unwrap_or(""),
            svc.metadata.name.as_deref().unwrap_or(""),
        );
        if key == crate::services::KUBE_DNS {
            self.dns
        } else if key == crate::services::KUBERNETES {
            self.api
        } else {
            None
        }
    }
}

fn port_rules(svc: &Service, pods: &[Pod], own: NodeEndpoints) -> Vec<PortRules> {
    if service::is_headless(svc) || service::spec_type(svc) == "ExternalName" {
        return Vec::new();
    }
    let spec = svc.spec.clone().unwrap_or_default();
    let sl = slices::slices(svc, pods);
    let ip = spec.cluster_ip.clone().filter(|ip| !ip.is_empty());
    let (ns, name) = (
        svc.metadata.namespace.clone().unwrap_or_default(),
        svc.metadata.name.clone().unwrap_or_default(),
    );
    spec.ports
        .iter()
        .flatten()
        .map(|p| {
            let protocol = p
                .protocol
                .clone()
                .unwrap_or_else(|| "TCP".into())
                .to_lowercase();
            let port_name = p.name.clone().unwrap_or_default();
            PortRules {
                id: chain_id(&[&ns, &name, &port_name, &protocol]),
                protocol,
                cluster: ip.clone().map(|ip| (ip, p.port)),
                node_port: p.node_port.filter(|n| *n > 0),
                affinity: affinity_timeout(&spec),
                endpoints: match own.of(svc) {
                    Some(at) => vec![(at.ip().to_string(), i32::from(at.port()))],
                    None => ready_endpoints(&port_name, &sl),
                },
            }
        })
        .collect()
}

/// The ClientIP affinity's timeout, when the Service asks for it (the apiserver defaults the
/// timeout to 10800 s; validation keeps it in 1..=86400).
fn affinity_timeout(spec: &beluga_api::k8s_openapi::api::core::v1::ServiceSpec) -> Option<u32> {
    if spec.session_affinity.as_deref() != Some("ClientIP") {
        return None;
    }
    let t = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref()?.timeout_seconds)
        .unwrap_or(10800);
    Some(t.clamp(1, 86400) as u32)
}

/// The base chains: DNAT where traffic arrives and where the node sends it; masquerade of
/// marked connections; rejection (in the filter hooks) of ports without endpoints.
fn base(t: &str) -> Vec<Value> {
    let filter = |name: &str, hook: &str| json!({"add": {"chain": {"family": "ip", "table": t, "name": name, "type": "filter", "hook": hook, "prio": -110, "policy": "accept"}}});
    let marked = json!({"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, MASQ_MARK]}, "right": MASQ_MARK}});
    vec![
        chain(t, "services", None),
        chain(t, "nodeports", None),
        chain(t, "no-endpoints", None),
        chain(t, "prerouting", Some(("prerouting", -100))),
        chain(t, "output", Some(("output", -100))),
        chain(t, "postrouting", Some(("postrouting", 100))),
        filter("filter-forward", "forward"),
        filter("filter-output", "output"),
        rule(t, "prerouting", vec![jump("services")]),
        rule(t, "output", vec![jump("services")]),
        rule(t, "postrouting", vec![marked, json!({"masquerade": null})]),
        rule(t, "filter-forward", vec![jump("no-endpoints")]),
        rule(t, "filter-output", vec![jump("no-endpoints")]),
    ]
}

fn service_port_rules(t: &str, p: &PortRules) -> Vec<Value> {
    let svc_chain = format!("svc-{}", p.id);
    let to = |dport: i32| matches(&p.protocol, "dport", dport.into());
    let mut out = Vec::new();
    let local = json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}});
    if p.endpoints.is_empty() {
        if let Some((ip, port)) = &p.cluster {
            let m = vec![
                matches("ip", "daddr", ip.as_str().into()),
                to(*port),
                json!({"reject": null}),
            ];
            out.push(rule(t, "no-endpoints", m));
        }
        if let Some(n) = p.node_port {
            out.push(rule(
                t,
                "no-endpoints",
                vec![local, to(n), json!({"reject": null})],
            ));
        }
        return out;
    }
    out.push(chain(t, &svc_chain, None));
    let mark = json!({"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"|": [{"meta": {"key": "mark"}}, MASQ_MARK]}}});
    out.push(rule(t, &svc_chain, vec![mark]));
    // An endpoint's chain (and its affinity set) is named by the endpoint, so that a client
    // remembered for it stays with it while other endpoints come and go.
    let targets: Vec<String> = p
        .endpoints
        .iter()
        .map(|(addr, port)| format!("sep-{}", chain_id(&[&p.id, addr, &port.to_string()])))
        .collect();
    for (target, (addr, port)) in targets.iter().zip(&p.endpoints) {
        out.push(chain(t, target, None));
        let dnat = json!({"dnat": {"addr": addr, "port": port}});
        let mut expr = vec![l4proto(&p.protocol)];
        if let Some(timeout) = p.affinity {
            // Named by its timeout too: an existing set is kept as it is (`nft::update_table`).
            let set = format!("aff-{target}-{timeout}");
            out.push(nft::timeout_set(t, &set, timeout));
            // A client remembered for this endpoint goes to it again, before any pick.
            out.push(rule(
                t,
                &svc_chain,
                vec![nft::source_in(&set), jump(target)],
            ));
            expr.push(nft::remember_source(&set));
        }
        expr.push(dnat);
        out.push(rule(t, target, expr));
    }
    let mut pick = Vec::new();
    if targets.len() == 1 {
        pick.push(jump(&targets[0]));
    } else {
        let arms: Vec<Value> = targets
            .iter()
            .enumerate()
            .map(|(i, c)| json!([i, jump(c)]))
            .collect();
        pick.push(json!({"vmap": {"key": {"numgen": {"mode": "random", "mod": targets.len(), "offset": 0}}, "data": {"set": arms}}}));
    }
    out.push(rule(t, &svc_chain, pick));
    if let Some((ip, port)) = &p.cluster {
        out.push(rule(
            t,
            "services",
            vec![
                matches("ip", "daddr", ip.as_str().into()),
                to(*port),
                jump(&svc_chain),
            ],
        ));
    }
    if let Some(n) = p.node_port {
        out.push(rule(t, "nodeports", vec![to(n), jump(&svc_chain)]));
    }
    out
}

/// `meta l4proto <proto>` (a DNAT to a port needs the protocol known).
fn l4proto(protocol: &str) -> Value {
    json!({"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": protocol}})
}

/// The masquerade of the pods' traffic leaving `cidr` (not to multicast), as the bridge
/// plugin's `ipMasq` does it per pod.
fn egress_masquerade(t: &str, cidr: ipnet::Ipv4Net) -> Value {
    let prefix = json!({"prefix": {"addr": cidr.network().to_string(), "len": cidr.prefix_len()}});
    let field = |f: &str| json!({"payload": {"protocol": "ip", "field": f}});
    let multicast = json!({"prefix": {"addr": "224.0.0.0", "len": 4}});
    rule(
        t,
        "postrouting",
        vec![
            json!({"match": {"op": "==", "left": field("saddr"), "right": prefix}}),
            json!({"match": {"op": "!=", "left": field("daddr"), "right": prefix}}),
            json!({"match": {"op": "!=", "left": field("daddr"), "right": multicast}}),
            json!({"masquerade": null}),
        ],
    )
}

/// What the table holds for these Services and pods: base chains, the pods' egress
/// masquerade, then every Service port's (for `nft::replace_table` / `nft::update_table`).
pub fn ruleset(
    table: &str,
    services: &[Service],
    pods: &[Pod],
    own: NodeEndpoints,
    masquerade: Option<ipnet::Ipv4Net>,
) -> Vec<Value> {
    let mut body = base(table);
    body.extend(masquerade.map(|cidr| egress_masquerade(table, cidr)));
    let local = json!({"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}});
    for svc in services {
        for p in port_rules(svc, pods, own) {
            body.extend(service_port_rules(table, &p));
        }
    }
    // Node ports last, as kube-proxy orders them: a cluster IP match wins.
    body.push(rule(table, "services", vec![local, jump("nodeports")]));
    body
}

/// Keeps the table in step with the Services and pods: at start, then on every pod event and
/// Service change (coalesced: what queued up while a sync ran is one more sync).
pub async fn run(d: Arc<Daemon>, table: String) {
    let mut pods = d.subscribe();
    let mut last: Option<Vec<Value>> = None;
    loop {
        let services = d.services().list(None);
        let views = d.views(None);
        let own = NodeEndpoints {
            dns: d.dns_config().map(|c| c.listen),
            api: d.api_for_pods(),
        };
        let want = ruleset(&table, &services, &views, own, d.pod_masquerade());
        if last.as_ref() != Some(&want) {
            let cmds = nft::update_table(&table, last.as_deref(), want.clone());
            match tokio::task::spawn_blocking(move || nft::apply(cmds)).await {
                Ok(Ok(())) => {
                    if last.is_none() {
                        info!(table = %table, "service rules in nftables table ip {table}");
                    }
                    last = Some(want);
                }
                Ok(Err(e)) => warn!("service rules: {e}"),
                Err(e) => warn!("service rules: {e}"),
            }
        }
        tokio::select! {
            r = pods.recv() => {
                if matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed)) {
                    return;
                }
            }
            _ = d.services_changed() => {}
        }
        while pods.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(v: Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c"}]},
            "status": {"podIP": ip, "phase": "Running",
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    fn web(extra: Value) -> Service {
        let mut v = json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.5.5", "clusterIPs": ["10.96.5.5"],
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}
        });
        if let (Some(spec), Some(extra)) = (v["spec"].as_object_mut(), extra.as_object()) {
            spec.extend(extra.clone());
        }
        svc(v)
    }

    /// Every DNAT's `address:port`, in the table's order.
    fn dnats(cmds: &[Value]) -> Vec<String> {
        cmds.iter()
            .filter_map(|c| c["add"]["rule"]["expr"][1]["dnat"].as_object())
            .map(|d| format!("{}:{}", d["addr"].as_str().unwrap(), d["port"]))
            .collect()
    }

    fn rules_of<'a>(cmds: &'a [Value], chain: &str) -> Vec<&'a Value> {
        cmds.iter()
            .filter_map(|c| c["add"]["rule"].as_object().map(|_| &c["add"]["rule"]))
            .filter(|r| r["chain"] == chain)
            .collect()
    }

    // Spec item 3 (kube-proxy's nftables layout): a cluster IP port jumps to its chain, which
    // marks for masquerade and picks one of the ready endpoints; unready ones are not there.
    #[test]
    fn ready_endpoints_only_picked_at_random() {
        let pods = [
            pod("a", "10.88.0.2", true),
            pod("b", "10.88.0.3", true),
            pod("c", "10.88.0.4", false),
        ];
        let cmds = ruleset(
            "t",
            &[web(json!({}))],
            &pods,
            NodeEndpoints::default(),
            None,
        );
        let services = rules_of(&cmds, "services");
        assert_eq!(
            services.len(),
            2,
            "the cluster IP rule and the node-port jump"
        );
        assert_eq!(services[0]["expr"][0]["match"]["right"], "10.96.5.5");
        assert_eq!(services[0]["expr"][1]["match"]["right"], 80);
        let target = services[0]["expr"][2]["jump"]["target"]
            .as_str()
            .unwrap()
            .to_string();
        let pick = rules_of(&cmds, &target);
        assert!(pick[0]["expr"][0]["mangle"].is_object(), "marked first");
        assert_eq!(pick[1]["expr"][0]["vmap"]["key"]["numgen"]["mod"], 2);
        assert_eq!(pick.len(), 2, "no affinity rules without sessionAffinity");
        assert_eq!(dnats(&cmds), ["10.88.0.2:8080", "10.88.0.3:8080"]);
        assert!(rules_of(&cmds, "no-endpoints").is_empty());
    }

    // Issue 16 item 5: `kubernetes` of `default` goes to where the daemon serves the API for
    // pods, `kube-dns` of `kube-system` to its DNS server; a Service of those names elsewhere
    // is an ordinary one (no pods: rejected).
    #[test]
    fn the_daemons_own_services_go_to_the_daemon() {
        let named = |ns: &str, name: &str, ip: &str, port: i32, target: i32| {
            svc(json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"clusterIP": ip, "ports": [{"name": "p", "port": port, "protocol": "TCP", "targetPort": target}]}
            }))
        };
        let services = [
            named("default", "kubernetes", "10.96.0.1", 443, 6443),
            named("kube-system", "kube-dns", "10.96.0.10", 53, 53),
            named("other", "kubernetes", "10.96.0.7", 443, 6443),
        ];
        let own = NodeEndpoints {
            dns: Some("10.88.0.1:53".parse().unwrap()),
            api: Some("10.88.0.1:41234".parse().unwrap()),
        };
        let cmds = ruleset("t", &services, &[], own, None);
        assert_eq!(dnats(&cmds), ["10.88.0.1:41234", "10.88.0.1:53"]);
        assert_eq!(rules_of(&cmds, "no-endpoints").len(), 1, "other/kubernetes");
        // Before the API is bound, the kubernetes Service has no endpoint.
        let none = ruleset("t", &services[..1], &[], NodeEndpoints::default(), None);
        assert_eq!(rules_of(&none, "no-endpoints").len(), 1);
    }

    // Spec item 1, `sessionAffinity: ClientIP` (kube-proxy's nftables layout): each endpoint
    // remembers its clients in a set with the Service's timeout, and a remembered client goes
    // back to its endpoint before the random pick; the endpoint's chain and set are named by
    // the endpoint, so they survive other endpoints coming and going.
    #[test]
    fn client_ip_affinity() {
        let affine = |timeout: Option<i32>| {
            let mut spec = json!({"sessionAffinity": "ClientIP"});
            if let Some(t) = timeout {
                spec["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": t}});
            }
            web(spec)
        };
        let two = [pod("a", "10.88.0.2", true), pod("b", "10.88.0.3", true)];
        let cmds = ruleset(
            "t",
            &[affine(Some(60))],
            &two,
            NodeEndpoints::default(),
            None,
        );
        let sets: Vec<&Value> = cmds
            .iter()
            .filter_map(|c| c["add"]["set"].as_object().map(|_| &c["add"]["set"]))
            .collect();
        assert_eq!(sets.len(), 2);
        assert!(sets
            .iter()
            .all(|s| s["timeout"] == 60 && s["type"] == "ipv4_addr"));
        let target = rules_of(&cmds, "services")[0]["expr"][2]["jump"]["target"]
            .as_str()
            .unwrap()
            .to_string();
        let svc = rules_of(&cmds, &target);
        assert_eq!(svc.len(), 4, "mark, two remembered clients, the pick");
        for (i, set) in sets.iter().enumerate() {
            let sep = svc[1 + i]["expr"][1]["jump"]["target"].as_str().unwrap();
            assert_eq!(
                svc[1 + i]["expr"][0]["match"]["right"],
                format!("@{}", set["name"].as_str().unwrap())
            );
            let ep = rules_of(&cmds, sep);
            assert_eq!(ep[0]["expr"][1]["set"]["op"], "update");
        }
        // The default timeout, 3 hours.
        let cmds = ruleset("t", &[affine(None)], &two, NodeEndpoints::default(), None);
        assert!(cmds.iter().any(|c| c["add"]["set"]["timeout"] == 10800));
        // One endpoint gone: the other's chain keeps its name.
        let names = |cmds: &[Value]| -> Vec<String> {
            cmds.iter()
                .filter_map(|c| c["add"]["chain"]["name"].as_str())
                .filter(|n| n.starts_with("sep-"))
                .map(String::from)
                .collect()
        };
        let both = names(&ruleset(
            "t",
            &[affine(None)],
            &two,
            NodeEndpoints::default(),
            None,
        ));
        let one = names(&ruleset(
            "t",
            &[affine(None)],
            &two[1..],
            NodeEndpoints::default(),
            None,
        ));
        assert_eq!(one.len(), 1);
        assert!(both.contains(&one[0]));
    }

    // No ready endpoint: the port is refused; headless Services get no rules; a node port is
    // matched on the node's own addresses.
    #[test]
    fn rejections_headless_and_node_ports() {
        let cmds = ruleset(
            "t",
            &[web(json!({}))],
            &[pod("c", "10.88.0.4", false)],
            NodeEndpoints::default(),
            None,
        );
        let reject = rules_of(&cmds, "no-endpoints");
        assert_eq!(reject.len(), 1);
        assert_eq!(reject[0]["expr"][2], json!({"reject": null}));
        let headless = web(json!({"clusterIP": "None", "clusterIPs": ["None"]}));
        let cmds = ruleset(
            "t",
            &[headless],
            &[pod("a", "10.88.0.2", true)],
            NodeEndpoints::default(),
            None,
        );
        assert_eq!(
            rules_of(&cmds, "services").len(),
            1,
            "only the node-port jump"
        );
        let np = web(
            json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]}),
        );
        let cmds = ruleset(
            "t",
            &[np],
            &[pod("a", "10.88.0.2", true)],
            NodeEndpoints::default(),
            None,
        );
        let nodeports = rules_of(&cmds, "nodeports");
        assert_eq!(nodeports[0]["expr"][0]["match"]["right"], 30080);
    }

    /// Root and nft: the tests that hand their documents to the real nft.
    fn nft_at_hand() -> bool {
        rustix::process::geteuid().is_root()
            && std::process::Command::new("nft").arg("-v").output().is_ok()
    }

    // The document is one nft accepts (checked by nft itself, not applied), where nft and
    // root are at hand.
    #[test]
    fn nft_accepts_the_document() {
        if !nft_at_hand() {
            return;
        }
        let pods = [pod("a", "10.88.0.2", true), pod("b", "10.88.0.3", true)];
        let np = web(
            json!({"type": "NodePort", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080, "nodePort": 30080}]}),
        );
        let affine = svc(
            json!({"metadata": {"name": "aff", "namespace": "default", "uid": "f"},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.5.7", "clusterIPs": ["10.96.5.7"],
                     "sessionAffinity": "ClientIP", "ports": [{"port": 81, "protocol": "TCP", "targetPort": 8080}]}}),
        );
        let empty = svc(
            json!({"metadata": {"name": "e", "namespace": "default", "uid": "e"},
            "spec": {"selector": {"app": "x"}, "clusterIP": "10.96.5.6", "clusterIPs": ["10.96.5.6"],
                     "type": "NodePort", "ports": [{"port": 53, "protocol": "UDP", "nodePort": 30053}]}}),
        );
        nft::check(nft::replace_table(
            "beluga-unit-check",
            ruleset(
                "beluga-unit-check",
                &[np, empty, affine],
                &pods,
                NodeEndpoints {
                    dns: Some("10.88.0.1:53".parse().unwrap()),
                    api: Some("10.88.0.1:6443".parse().unwrap()),
                },
                Some("10.88.0.0/16".parse().unwrap()),
            ),
        ))
        .expect("nft -c");
    }

    // On the real nft (root only): a table made whole, then updated as endpoints come and go
    // and a Service with affinity appears and goes, each update one transaction nft accepts.
    #[test]
    fn updates_apply_on_the_real_nft() {
        if !nft_at_hand() {
            return;
        }
        let t = format!("beluga-unit-upd-{}", std::process::id());
        let affine = web(json!({"sessionAffinity": "ClientIP"}));
        let (a, b) = (pod("a", "10.88.0.2", true), pod("b", "10.88.0.3", true));
        let steps: [(Vec<Service>, Vec<Pod>); 5] = [
            (vec![affine.clone()], vec![a.clone()]),
            (vec![affine.clone()], vec![a.clone(), b.clone()]),
            (vec![affine.clone()], vec![b.clone()]),
            (vec![web(json!({}))], vec![a.clone(), b.clone()]),
            (vec![], vec![]),
        ];
        let mut last: Option<Vec<Value>> = None;
        let mut results = Vec::new();
        for (services, pods) in steps {
            let body = ruleset(
                &t,
                &services,
                &pods,
                NodeEndpoints::default(),
                Some("10.88.0.0/16".parse().unwrap()),
            );
            results.push(nft::apply(nft::update_table(
                &t,
                last.as_deref(),
                body.clone(),
            )));
            last = Some(body);
        }
        let _ = nft::delete_table(&t);
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    }

    // Issue 13 item 5: the default network's egress is one masquerade rule for the whole pod
    // CIDR (what the bridge plugin's `ipMasq` does per pod: not to the pod CIDR, not to
    // multicast), whatever the number of pods; none when the network masquerades itself.
    #[test]
    fn one_masquerade_rule_for_the_pod_cidr() {
        let pods: Vec<Pod> = (2..200)
            .map(|i| pod(&format!("p{i}"), &format!("10.88.0.{i}"), true))
            .collect();
        let masq = |cmds: &[Value]| -> Vec<Value> {
            rules_of(cmds, "postrouting")
                .into_iter()
                .filter(|r| r["expr"].as_array().is_some_and(|e| e.len() == 4))
                .map(|r| r["expr"].clone())
                .collect()
        };
        let cmds = ruleset(
            "t",
            &[],
            &pods,
            NodeEndpoints::default(),
            Some("10.88.0.0/16".parse().unwrap()),
        );
        let prefix = json!({"prefix": {"addr": "10.88.0.0", "len": 16}});
        assert_eq!(
            masq(&cmds),
            [json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": prefix}},
                {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": prefix}},
                {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "224.0.0.0", "len": 4}}}},
                {"masquerade": null},
            ])]
        );
        assert!(masq(&ruleset("t", &[], &pods, NodeEndpoints::default(), None)).is_empty());
    }
}
