//! Service defaulting and validation (issue 15 item 1), as the apiserver does them.

use super::validation::{validate, validate_update};
use super::*;
use crate::field::status_message;
use crate::manifest::{parse, Object, ValidateMode};

/// The Service of `spec_yaml`, defaulted.
fn svc(spec_yaml: &str) -> Service {
    let y = format!("apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n{spec_yaml}");
    let mut s = match parse(&y, "t", ValidateMode::Strict)
        .unwrap()
        .objects
        .remove(0)
    {
        Object::Service(s) => *s,
        other => panic!("{other:?}"),
    };
    apply_defaults(&mut s);
    s
}

fn message(s: &Service) -> String {
    status_message(
        "Service",
        s.metadata.name.as_deref().unwrap_or(""),
        &validate(s),
    )
}

// SetDefaults_Service: type, affinity, protocol, targetPort, traffic policies.
#[test]
fn defaults() {
    let s = svc("  selector: {app: web}\n  ports: [{port: 80}, {name: dns, port: 53, protocol: UDP, targetPort: dns}]\n");
    let spec = s.spec.clone().unwrap();
    assert_eq!(s.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(spec.external_traffic_policy, None);
    let ports = spec.ports.unwrap();
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    assert_eq!(ports[0].target_port, Some(IntOrString::Int(80)));
    assert_eq!(
        ports[1].target_port,
        Some(IntOrString::String("dns".into()))
    );
    let n = svc("  type: NodePort\n  sessionAffinity: ClientIP\n  ports: [{port: 80}]\n");
    let spec = n.spec.unwrap();
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    let timeout = spec
        .session_affinity_config
        .and_then(|c| c.client_ip)
        .and_then(|c| c.timeout_seconds);
    assert_eq!(timeout, Some(10800));
    let c = svc("  clusterIP: 10.96.0.10\n  ports: [{port: 53}]\n");
    assert_eq!(
        c.spec.unwrap().cluster_ips,
        Some(vec!["10.96.0.10".to_string()])
    );
}

// ValidateService: each rule and its words.
#[test]
fn validation_messages() {
    let cases = [
        ("  selector: {app: web}\n", "Service \"web\" is invalid: spec.ports: Required value"),
        ("  ports: [{port: 80}, {port: 81}]\n", "Service \"web\" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]"),
        // targetPort defaults to the port, so a bad port is a bad target too, as upstream reports.
        ("  ports: [{port: 0}]\n", "Service \"web\" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive]"),
        ("  ports: [{port: 80, protocol: ICMP}]\n", "Service \"web\" is invalid: spec.ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""),
        ("  ports: [{port: 80, targetPort: 70000}]\n", "Service \"web\" is invalid: spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive"),
        ("  ports: [{port: 80, targetPort: Web_Port}]\n", "Service \"web\" is invalid: spec.ports[0].targetPort: Invalid value: \"Web_Port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
        ("  ports: [{port: 80, nodePort: 30080}]\n", "Service \"web\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"),
        ("  type: Bogus\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.type: Unsupported value: \"Bogus\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\""),
        ("  type: NodePort\n  clusterIP: None\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"),
        ("  clusterIP: 10.96.0.300\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"10.96.0.300\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
        ("  clusterIP: 10.96.0.5\n  clusterIPs: [10.96.0.6]\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.6\"}: first value must match `clusterIP`"),
        ("  sessionAffinity: Sticky\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\""),
        ("  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400"),
        ("  externalTrafficPolicy: Local\n  ports: [{port: 80}]\n", "Service \"web\" is invalid: spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services"),
        ("  ports: [{name: a, port: 80}, {name: b, port: 80}]\n", "Service \"web\" is invalid: spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}"),
        ("  ports: [{name: a, port: 80}, {name: a, port: 81}]\n", "Service \"web\" is invalid: spec.ports[1].name: Duplicate value: \"a\""),
        ("  type: ExternalName\n", "Service \"web\" is invalid: spec.externalName: Required value"),
    ];
    for (spec, want) in cases {
        assert_eq!(message(&svc(spec)), want, "for\n{spec}");
    }
    // A headless Service needs no ports; an ExternalName one names a host.
    assert!(validate(&svc("  clusterIP: None\n  selector: {app: web}\n")).is_empty());
    assert!(validate(&svc(
        "  type: ExternalName\n  externalName: db.example.com.\n"
    ))
    .is_empty());
    assert!(validate(&svc(
        "  type: NodePort\n  ports: [{port: 80, nodePort: 30080}]\n"
    ))
    .is_empty());
}

// ValidateServiceName: a DNS-1035 label (no leading digit, unlike a pod's name).
#[test]
fn names_are_dns1035_labels() {
    let mut s = svc("  ports: [{port: 80}]\n");
    s.metadata.name = Some("1web".into());
    assert_eq!(
        message(&s),
        format!(
            "Service \"1web\" is invalid: metadata.name: Invalid value: \"1web\": {}",
            validation::DNS1035_LABEL_ERR
        )
    );
    s.metadata.name = None;
    assert_eq!(
        message(&s),
        "Service \"\" is invalid: metadata.name: Required value: name or generateName is required"
    );
}

// patchAllocatedValues then validateUpgradeDowngradeClusterIPs: a re-applied manifest keeps its
// allocations; changing the address is refused.
#[test]
fn updates_keep_allocations() {
    let mut old = svc("  type: NodePort\n  ports: [{port: 80}]\n");
    let spec = old.spec.as_mut().unwrap();
    spec.cluster_ip = Some("10.96.3.4".into());
    spec.cluster_ips = Some(vec!["10.96.3.4".into()]);
    spec.ports.as_mut().unwrap()[0].node_port = Some(30555);
    let mut new = svc("  type: NodePort\n  ports: [{port: 80}]\n");
    patch_allocated_values(&mut new, &old);
    assert!(validate_update(&new, &old).is_empty());
    let spec = new.spec.clone().unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.3.4"));
    assert_eq!(spec.ports.unwrap()[0].node_port, Some(30555));
    let mut moved = svc("  type: NodePort\n  clusterIP: 10.96.9.9\n  ports: [{port: 80}]\n");
    patch_allocated_values(&mut moved, &old);
    assert_eq!(
        status_message("Service", "web", &validate_update(&moved, &old)),
        "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.96.9.9\"}: may not change once set"
    );
}
