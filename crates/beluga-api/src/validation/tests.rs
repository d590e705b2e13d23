//! Table tests for spec §12.2: each row is a manifest fragment and the exact messages it must produce.
#![allow(clippy::type_complexity)] // table tests read best as tuples

use super::*;
use crate::defaults;
use crate::manifest::{parse, ValidateMode};

fn pod(spec_yaml: &str) -> Pod {
    let y = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n{spec_yaml}");
    let mut p = parse(&y, "t", ValidateMode::Strict)
        .unwrap()
        .pods()
        .remove(0);
    defaults::apply(&mut p);
    p
}

fn msgs(spec_yaml: &str) -> Vec<String> {
    validate_pod(&pod(spec_yaml))
        .iter()
        .map(|e| e.to_string())
        .collect()
}

const OK: &str = "  containers: [{name: app, image: busybox}]\n";

// Attack report 1.6: annotations over the apiserver's 256 KiB total are refused.
#[test]
fn annotation_size_limit() {
    let mut p = pod(OK);
    let mut big = std::collections::BTreeMap::new();
    big.insert("a".to_string(), "x".repeat((256 << 10) - 1));
    p.metadata.annotations = Some(big.clone());
    assert!(validate_pod(&p).is_empty());
    big.insert("b".to_string(), String::new());
    p.metadata.annotations = Some(big);
    let msgs: Vec<String> = validate_pod(&p).iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        vec!["metadata.annotations: Too long: must have at most 262144 bytes"]
    );
}

#[test]
fn valid_pod_has_no_errors() {
    assert!(msgs(OK).is_empty());
    assert!(msgs("  initContainers: [{name: i, image: b}, {name: s, image: b, restartPolicy: Always, readinessProbe: {exec: {command: ['true']}}}]\n  containers: [{name: app, image: b, ports: [{name: http, containerPort: 80}], livenessProbe: {httpGet: {port: http}}}]\n").is_empty());
}

#[test]
fn rules_v1_to_v39() {
    let label = DNS1123_LABEL_ERR;
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("V8 no containers", "  containers: []\n", vec!["spec.containers: Required value".into()]),
        ("V9 name required", "  containers: [{name: '', image: b}]\n", vec!["spec.containers[0].name: Required value".into()]),
        ("V9 name format", "  containers: [{name: Main, image: b}]\n", vec![format!("spec.containers[0].name: Invalid value: \"Main\": {label}")]),
        ("V10 duplicate", "  containers: [{name: app, image: b}, {name: app, image: b}]\n", vec!["spec.containers[1].name: Duplicate value: \"app\"".into()]),
        ("V10 init vs regular", "  initContainers: [{name: app, image: b}]\n  containers: [{name: app, image: b}]\n", vec!["spec.initContainers[0].name: Duplicate value: \"app\"".into()]),
        ("V11 image required", "  containers: [{name: app}]\n", vec!["spec.containers[0].image: Required value".into()]),
        ("V11 whitespace", "  containers: [{name: app, image: ' busybox'}]\n", vec!["spec.containers[0].image: Invalid value: \" busybox\": must not have leading or trailing whitespace".into()]),
        ("V12 pull policy", "  containers: [{name: app, image: b, imagePullPolicy: Sometimes}]\n", vec!["spec.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\"".into()]),
        ("V13 message policy", "  containers: [{name: app, image: b, terminationMessagePolicy: X}]\n", vec!["spec.containers[0].terminationMessagePolicy: Unsupported value: \"X\": supported values: \"File\", \"FallbackToLogsOnError\"".into()]),
        ("V14 port range", "  containers: [{name: app, image: b, ports: [{containerPort: 70000}]}]\n", vec!["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive".into()]),
        ("V14 port required", "  containers: [{name: app, image: b, ports: [{containerPort: 0}]}]\n", vec!["spec.containers[0].ports[0].containerPort: Required value".into()]),
        ("V15 port name", "  containers: [{name: app, image: b, ports: [{name: HTTP, containerPort: 80}]}]\n", vec!["spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".into(), "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)".into()]),
        ("V15 port name dup", "  containers: [{name: app, image: b, ports: [{name: http, containerPort: 80}, {name: http, containerPort: 81}]}]\n", vec!["spec.containers[0].ports[1].name: Duplicate value: \"http\"".into()]),
        ("V15 per container", "  containers: [{name: a, image: b, ports: [{name: http, containerPort: 80}]}, {name: c, image: b, ports: [{name: http, containerPort: 81}]}]\n", vec![]),
        ("V16 host port", "  containers: [{name: a, image: b, ports: [{containerPort: 80, hostPort: 8080}]}, {name: c, image: b, ports: [{containerPort: 81, hostPort: 8080}]}]\n", vec!["spec.containers[1].ports[0].hostPort: Duplicate value: \"TCP//8080\"".into()]),
        // Issue 14 item 5: validateHostNetwork.
        ("hostNetwork hostPort", "  hostNetwork: true\n  containers: [{name: a, image: b, ports: [{containerPort: 80, hostPort: 8080}, {containerPort: 81, hostPort: 81}]}]\n", vec!["spec.containers[0].ports[0].hostPort: Invalid value: 8080: must match `containerPort` when `hostNetwork` is true".into()]),
        ("hostNetwork init hostPort", "  hostNetwork: true\n  initContainers: [{name: i, image: b, ports: [{containerPort: 53, hostPort: 5353}]}]\n  containers: [{name: a, image: b}]\n", vec!["spec.initContainers[0].ports[0].hostPort: Invalid value: 5353: must match `containerPort` when `hostNetwork` is true".into()]),
        ("hostNetwork no hostPort", "  hostNetwork: true\n  containers: [{name: a, image: b, ports: [{containerPort: 80}]}]\n", vec![]),
        ("V18 env name", "  containers: [{name: app, image: b, env: [{name: ''}]}]\n", vec!["spec.containers[0].env[0].name: Required value".into()]),
        ("V19 value and valueFrom", "  containers: [{name: app, image: b, env: [{name: A, value: x, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}]\n", vec!["spec.containers[0].env[0].valueFrom: Invalid value: : may not be specified when `value` is not empty".into()]),
        ("V20 mount volume", "  containers: [{name: app, image: b, volumeMounts: [{name: data, mountPath: /d}]}]\n", vec!["spec.containers[0].volumeMounts[0].name: Not found: \"data\"".into()]),
        ("V21 mount unique", "  volumes: [{name: data}]\n  containers: [{name: app, image: b, volumeMounts: [{name: data, mountPath: /data}, {name: data, mountPath: /data}]}]\n", vec!["spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/data\": must be unique".into()]),
        ("V22 subPath", "  volumes: [{name: data}]\n  containers: [{name: app, image: b, volumeMounts: [{name: data, mountPath: /d, subPath: ../x}]}]\n", vec!["spec.containers[0].volumeMounts[0].subPath: Invalid value: \"../x\": must not contain '..'".into()]),
        ("V29 seccomp type", "  securityContext: {seccompProfile: {type: Strict}}\n  containers: [{name: app, image: b}]\n", vec!["spec.securityContext.seccompProfile.type: Unsupported value: \"Strict\": supported values: \"Localhost\", \"RuntimeDefault\", \"Unconfined\"".into()]),
        ("V29 seccomp localhost required", "  containers: [{name: app, image: b, securityContext: {seccompProfile: {type: Localhost}}}]\n", vec!["spec.containers[0].securityContext.seccompProfile.localhostProfile: Required value: must be set when seccomp type is Localhost".into()]),
        ("V29 seccomp localhost path", "  containers: [{name: app, image: b, securityContext: {seccompProfile: {type: Localhost, localhostProfile: ../../etc/x.json}}}]\n", vec!["spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: \"../../etc/x.json\": must not contain '..'".into()]),
        ("V29 seccomp localhost only", "  containers: [{name: app, image: b, securityContext: {seccompProfile: {type: RuntimeDefault, localhostProfile: x.json}}}]\n", vec!["spec.containers[0].securityContext.seccompProfile.localhostProfile: Invalid value: core.SeccompProfile{…}: can only be set when seccomp type is Localhost".into()]),
        ("V23 bidirectional", "  volumes: [{name: data}]\n  containers: [{name: app, image: b, volumeMounts: [{name: data, mountPath: /d, mountPropagation: Bidirectional}]}]\n", vec!["spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: Bidirectional mount propagation is available only to privileged containers".into()]),
        ("V24 restartPolicy on regular", "  containers: [{name: app, image: b, restartPolicy: Always}]\n", vec!["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers".into()]),
        ("V25 no handler", "  containers: [{name: app, image: b, livenessProbe: {periodSeconds: 3}}]\n", vec!["spec.containers[0].livenessProbe: Required value: must specify a handler type".into()]),
        ("V25 two handlers", "  containers: [{name: app, image: b, livenessProbe: {exec: {command: [a]}, tcpSocket: {port: 80}}}]\n", vec!["spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type".into()]),
        ("V26 exec command", "  containers: [{name: app, image: b, readinessProbe: {exec: {command: []}}}]\n", vec!["spec.containers[0].readinessProbe.exec.command: Required value".into()]),
        ("V27 success threshold", "  containers: [{name: app, image: b, livenessProbe: {exec: {command: [a]}, successThreshold: 2}}]\n", vec!["spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1".into()]),
        ("V27 readiness tgps", "  containers: [{name: app, image: b, readinessProbe: {exec: {command: [a]}, terminationGracePeriodSeconds: 10}}]\n", vec!["spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Invalid value: 10: must not be set for readinessProbes".into()]),
        ("V27 negative", "  containers: [{name: app, image: b, readinessProbe: {exec: {command: [a]}, periodSeconds: -1}}]\n", vec!["spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be greater than or equal to 0".into()]),
        ("V28 sleep", "  containers: [{name: app, image: b, lifecycle: {preStop: {sleep: {seconds: 40}}}}]\n", vec!["spec.containers[0].lifecycle.preStop.sleep.seconds: Invalid value: 40: must be greater than 0 and less than terminationGracePeriodSeconds (30). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep.".into()]),
        ("V30 init restartPolicy", "  initContainers: [{name: i, image: b, restartPolicy: OnFailure}]\n  containers: [{name: app, image: b}]\n", vec!["spec.initContainers[0].restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"".into()]),
        ("V31 init probes", "  initContainers: [{name: i, image: b, livenessProbe: {exec: {command: [a]}}, lifecycle: {preStop: {exec: {command: [a]}}}}]\n  containers: [{name: app, image: b}]\n", vec!["spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always".into(), "spec.initContainers[0].livenessProbe: Forbidden: may not be set for init containers without restartPolicy=Always".into()]),
        ("V34 restartPolicy", "  restartPolicy: Sometimes\n" , vec!["spec.containers: Required value".into(), "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"".into()]),
        ("V36 deadline", "  activeDeadlineSeconds: 0\n  containers: [{name: app, image: b}]\n", vec!["spec.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive".into()]),
        ("V38 share pid", "  shareProcessNamespace: true\n  hostPID: true\n  containers: [{name: app, image: b}]\n", vec!["spec.securityContext.shareProcessNamespace: Invalid value: true: ShareProcessNamespace and HostPID cannot both be enabled".into()]),
        ("V3 volume dup", "  volumes: [{name: v}, {name: v}]\n  containers: [{name: app, image: b}]\n", vec!["spec.volumes[1].name: Duplicate value: \"v\"".into()]),
        ("V4 two sources", "  volumes: [{name: v, emptyDir: {}, hostPath: {path: /tmp}}]\n  containers: [{name: app, image: b}]\n", vec!["spec.volumes[0].emptyDir: Forbidden: may not specify more than 1 volume type".into()]),
        ("V5 hostPath ..", "  volumes: [{name: v, hostPath: {path: /a/../b}}]\n  containers: [{name: app, image: b}]\n", vec!["spec.volumes[0].hostPath.path: Invalid value: \"/a/../b\": must not contain '..'".into()]),
        ("V5 hostPath type", "  volumes: [{name: v, hostPath: {path: /a, type: Dir}}]\n  containers: [{name: app, image: b}]\n", vec!["spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"".into()]),
        ("V6 sizeLimit", "  volumes: [{name: v, emptyDir: {sizeLimit: -1Mi}}]\n  containers: [{name: app, image: b}]\n", vec!["spec.volumes[0].emptyDir.sizeLimit: Forbidden: SizeLimit field must be a valid resource quantity".into()]),
        ("V29 privilege", "  containers: [{name: app, image: b, securityContext: {privileged: true, allowPrivilegeEscalation: false}}]\n", vec!["spec.containers[0].securityContext: Invalid value: core.SecurityContext{…}: cannot set `allowPrivilegeEscalation` to false and `privileged` to true".into()]),
    ];
    for (rule, spec, want) in cases {
        assert_eq!(msgs(spec), want, "{rule}");
    }
}

#[test]
fn v1_pod_name() {
    let mut p = pod(OK);
    p.metadata.name = Some("My_Pod".into());
    assert_eq!(
        validate_pod(&p)
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>(),
        vec![format!(
            "metadata.name: Invalid value: \"My_Pod\": {DNS1123_SUBDOMAIN_ERR}"
        )]
    );
    p.metadata.name = None;
    assert_eq!(
        validate_pod(&p)[0].to_string(),
        "metadata.name: Required value: name or generateName is required"
    );
}

// V40: only image changes are allowed on update.
#[test]
fn v40_update() {
    let old = pod(OK);
    let mut new = old.clone();
    new.spec.as_mut().unwrap().containers[0].image = Some("other".into());
    assert!(validate_update(&new, &old).is_empty());
    new.spec.as_mut().unwrap().containers[0].args = Some(vec!["x".into()]);
    let errs = validate_update(&new, &old);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].to_string().starts_with(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    ));
}

#[test]
fn port_name_rules() {
    assert!(port_name("http").is_empty());
    assert_eq!(
        port_name("a--b"),
        vec!["must not contain consecutive hyphens"]
    );
    assert_eq!(
        port_name("-ab"),
        vec!["must not begin or end with a hyphen"]
    );
    assert_eq!(
        port_name("1234"),
        vec!["must contain at least one letter (a-z)"]
    );
    assert_eq!(
        port_name("abcdefghijklmnop"),
        vec!["must be no more than 15 characters"]
    );
}

// Issue 16 item 2, spec §11.1: volumes made from objects, in the apiserver's words
// (`validateConfigMapVolumeSource`, `validateSecretVolumeSource`,
// `validateDownwardAPIVolumeFile`, `validateProjectionSources`).
#[test]
fn volumes_made_from_objects() {
    let with = |volume: &str| format!("{OK}  volumes: [{volume}]\n");
    let table: &[(&str, &[&str])] = &[
        ("{name: v, configMap: {name: c, items: [{key: k, path: a}]}}", &[]),
        ("{name: v, configMap: {name: ''}}", &["spec.volumes[0].configMap.name: Required value"]),
        ("{name: v, configMap: {name: c, defaultMode: 1000}}", &["spec.volumes[0].configMap.defaultMode: Invalid value: 1000: must be a number between 0 and 0777 (octal), both inclusive"]),
        ("{name: v, configMap: {name: c, items: [{key: '', path: ''}]}}", &[
            "spec.volumes[0].configMap.items[0].key: Required value",
            "spec.volumes[0].configMap.items[0].path: Required value"]),
        ("{name: v, configMap: {name: c, items: [{key: k, path: ..data}]}}", &["spec.volumes[0].configMap.items[0].path: Invalid value: \"..data\": must not start with '..'"]),
        ("{name: v, configMap: {name: c, items: [{key: k, path: ../x}]}}", &["spec.volumes[0].configMap.items[0].path: Invalid value: \"../x\": must not contain '..'"]),
        ("{name: v, secret: {items: [{key: k, path: /abs, mode: -1}]}}", &[
            "spec.volumes[0].secret.secretName: Required value",
            "spec.volumes[0].secret.items[0].path: Invalid value: \"/abs\": must be a relative path",
            "spec.volumes[0].secret.items[0].mode: Invalid value: -1: must be a number between 0 and 0777 (octal), both inclusive"]),
        ("{name: v, downwardAPI: {items: [{path: l, fieldRef: {fieldPath: metadata.labels}}, {path: a, fieldRef: {fieldPath: \"metadata.annotations['x']\"}}]}}", &[]),
        ("{name: v, downwardAPI: {items: [{path: f, fieldRef: {fieldPath: spec.nodeName}}]}}", &["spec.volumes[0].downwardAPI.fieldRef.fieldPath: Unsupported value: \"spec.nodeName\": supported values: \"metadata.annotations\", \"metadata.labels\", \"metadata.name\", \"metadata.namespace\", \"metadata.uid\""]),
        ("{name: v, downwardAPI: {items: [{path: f, fieldRef: {fieldPath: \"metadata.name['x']\"}}]}}", &["spec.volumes[0].downwardAPI.fieldRef: Invalid value: \"metadata.name\": does not support subscript"]),
        ("{name: v, downwardAPI: {items: [{path: f}]}}", &["spec.volumes[0].downwardAPI: Required value: one of fieldRef and resourceFieldRef is required"]),
        ("{name: v, downwardAPI: {items: [{path: f, resourceFieldRef: {resource: limits.cpu}}]}}", &["spec.volumes[0].downwardAPI.resourceFieldRef.containerName: Required value"]),
        ("{name: v, downwardAPI: {items: [{path: f, resourceFieldRef: {containerName: app, resource: limits.gpu}}]}}", &["spec.volumes[0].downwardAPI.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\""]),
        ("{name: v, downwardAPI: {items: [{path: f, resourceFieldRef: {containerName: app, resource: limits.cpu, divisor: 2}}]}}", &["spec.volumes[0].downwardAPI.resourceFieldRef.divisor: Invalid value: \"limits.cpu\": only divisor's values 1m and 1 are supported with the cpu resource"]),
        ("{name: v, downwardAPI: {items: [{path: f, fieldRef: {fieldPath: metadata.name}, resourceFieldRef: {containerName: app, resource: limits.cpu}}]}}", &["spec.volumes[0].downwardAPI: Invalid value: \"resource\": fieldRef and resourceFieldRef can not be specified simultaneously"]),
        ("{name: v, projected: {sources: [{configMap: {name: c, items: [{key: k, path: p}]}}, {secret: {name: s, items: [{key: k, path: p}]}}]}}", &["spec.volumes[0].projected: Invalid value: \"s\": conflicting duplicate paths"]),
        ("{name: v, projected: {sources: [{configMap: {name: c}, secret: {name: s}}]}}", &["spec.volumes[0].projected.sources[0]: Forbidden: may not specify more than 1 volume type per source"]),
        ("{name: v, projected: {sources: [{serviceAccountToken: {path: token, expirationSeconds: 60}}]}}", &["spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"]),
    ];
    for (volume, want) in table {
        assert_eq!(msgs(&with(volume)), *want, "{volume}");
    }
}

// Spec §10.2: an env var's resourceFieldRef (its container is its own unless named).
#[test]
fn env_resource_field_refs() {
    let env = |r: &str| {
        format!("  containers: [{{name: app, image: busybox, env: [{{name: A, valueFrom: {{resourceFieldRef: {r}}}}}]}}]\n")
    };
    assert_eq!(
        msgs(&env("{resource: limits.memory, divisor: 1Mi}")),
        Vec::<String>::new()
    );
    assert_eq!(
        msgs(&env("{resource: limits.memory, divisor: 3Mi}")),
        vec!["spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: Invalid value: \"limits.memory\": only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"]
    );
}
