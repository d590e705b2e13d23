//! spec §10.1–§10.4 tables.

use super::*;
use serde_json::json;

fn pod(container: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": {"app": "web"}},
        "spec": {"containers": [container]}}))
    .unwrap()
}

fn image(entry: Option<&[&str]>, cmd: Option<&[&str]>) -> ImageConfig {
    ImageConfig {
        entrypoint: entry.map(|v| v.iter().map(|s| s.to_string()).collect()),
        cmd: cmd.map(|v| v.iter().map(|s| s.to_string()).collect()),
        ..Default::default()
    }
}

// §10.1: the four rows, plus "an empty list counts as unset".
#[test]
fn command_args_matrix() {
    let img = image(Some(&["/ep"]), Some(&["cmd-arg"]));
    let cases = [
        (json!({"name": "c"}), vec!["/ep", "cmd-arg"]),
        (json!({"name": "c", "command": ["/bin/x"]}), vec!["/bin/x"]),
        (json!({"name": "c", "args": ["a1"]}), vec!["/ep", "a1"]),
        (
            json!({"name": "c", "command": ["/bin/x"], "args": ["a1"]}),
            vec!["/bin/x", "a1"],
        ),
        (
            json!({"name": "c", "command": [], "args": []}),
            vec!["/ep", "cmd-arg"],
        ),
    ];
    for (c, want) in cases {
        let p = pod(c.clone());
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(argv(c, &img, &[]), want, "{c:?}");
    }
}

// §10.2: expansion order, forward references, $$ escapes, valueFrom not expanded, command uses final env.
#[test]
fn env_build_and_expansion() {
    let p = pod(json!({"name": "c",
    "command": ["echo", "$(A)", "$(FWD)", "$$(A)", "$(NOPE)"],
    "env": [
        {"name": "A", "value": "a"},
        {"name": "B", "value": "$(A)-b"},
        {"name": "C", "value": "$(FWD)"},
        {"name": "FWD", "value": "f"},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "LBL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "A", "value": "a2"}
    ]}));
    let c = &p.spec.as_ref().unwrap().containers[0];
    let facts = PodFacts {
        pod_ip: "10.0.0.5".into(),
        ..Default::default()
    };
    let env = container_env(&p, c, &facts).unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("B"), Some("a-b"));
    assert_eq!(get("C"), Some("$(FWD)"));
    assert_eq!(get("A"), Some("a2"));
    assert_eq!(get("NAME"), Some("p"));
    assert_eq!(get("LBL"), Some("web"));
    assert_eq!(get("IP"), Some("10.0.0.5"));
    assert_eq!(
        argv(c, &ImageConfig::default(), &env),
        vec!["echo", "a2", "f", "$(A)", "$(NOPE)"]
    );
}

#[test]
fn missing_config_map_is_config_error() {
    let p = pod(
        json!({"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]}),
    );
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert_eq!(
        container_env(&p, c, &PodFacts::default()).unwrap_err().0,
        "configmap \"cm\" not found"
    );
    let p = pod(
        json!({"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": true}}}]}),
    );
    let c = &p.spec.as_ref().unwrap().containers[0];
    assert!(container_env(&p, c, &PodFacts::default())
        .unwrap()
        .is_empty());
}

// DESIGN: PATH default when the image has none; container wins over image by key.
#[test]
fn merged_environment() {
    let img = ImageConfig {
        env: vec!["A=image".into(), "B=image".into()],
        ..Default::default()
    };
    let env = merged_env(&img, &[("A".into(), "container".into())], "web");
    assert_eq!(
        env,
        vec![
            format!("PATH={DEFAULT_PATH}"),
            "HOSTNAME=web".into(),
            "A=container".into(),
            "B=image".into()
        ]
    );
    let img = ImageConfig {
        env: vec!["PATH=/only".into()],
        ..Default::default()
    };
    assert_eq!(merged_env(&img, &[], "h")[0], "PATH=/only");
}

// §10.4 identity and runAsNonRoot messages.
#[test]
fn identity_rules() {
    let passwd = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n";
    let group = "root:x:0:\nwww:x:34:\nextra:x:50:www\n";
    let p = pod(json!({"name": "c"}));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    let img = |u: &str| ImageConfig {
        user: Some(u.into()),
        ..Default::default()
    };
    assert_eq!(
        identity(&p, &c, &ImageConfig::default(), passwd, group).unwrap(),
        (0, 0, vec![])
    );
    assert_eq!(
        identity(&p, &c, &img("www"), passwd, group).unwrap(),
        (33, 34, vec![50])
    );
    assert_eq!(
        identity(&p, &c, &img("33"), passwd, group).unwrap(),
        (33, 34, vec![])
    );
    assert_eq!(
        identity(&p, &c, &img("1000:2000"), passwd, group).unwrap(),
        (1000, 2000, vec![])
    );
    assert!(identity(&p, &c, &img("nobody"), passwd, group).is_err());

    let p = pod(json!({"name": "c", "securityContext": {"runAsUser": 1234, "runAsGroup": 5}}));
    let c = p.spec.as_ref().unwrap().containers[0].clone();
    assert_eq!(
        identity(&p, &c, &img("www"), passwd, group).unwrap(),
        (1234, 5, vec![])
    );

    let nonroot = |sc: serde_json::Value, u: Option<&str>| {
        let p = pod(json!({"name": "c", "securityContext": sc}));
        let c = p.spec.as_ref().unwrap().containers[0].clone();
        identity(
            &p,
            &c,
            &ImageConfig {
                user: u.map(String::from),
                ..Default::default()
            },
            passwd,
            group,
        )
    };
    assert_eq!(
        nonroot(json!({"runAsNonRoot": true, "runAsUser": 0}), None)
            .unwrap_err()
            .0,
        "container's runAsUser breaks non-root policy (pod: \"p_ns(u1)\", container: c)"
    );
    assert_eq!(
        nonroot(json!({"runAsNonRoot": true}), None).unwrap_err().0,
        "container has runAsNonRoot and image will run as root (pod: \"p_ns(u1)\", container: c)"
    );
    assert_eq!(nonroot(json!({"runAsNonRoot": true}), Some("www")).unwrap_err().0, "container has runAsNonRoot and image has non-numeric user (www), cannot verify user is non-root (pod: \"p_ns(u1)\", container: c)");
    assert!(nonroot(json!({"runAsNonRoot": true}), Some("33")).is_ok());
    assert!(nonroot(json!({"runAsNonRoot": true, "runAsUser": 5}), None).is_ok());
}

// §10.2 at scale (attack report 1.7): 60 000 variables, each expanding the one before, the last
// set twice; built in linear time (quadratic took minutes), order and last-wins kept.
#[test]
fn large_environments() {
    let n = 60_000;
    let mut env: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let value = if i == 0 {
                "v".to_string()
            } else {
                format!("$(V{})", i - 1)
            };
            json!({"name": format!("V{i}"), "value": value})
        })
        .collect();
    env.push(json!({"name": "V0", "value": "last"}));
    let p = pod(json!({"name": "c", "env": env}));
    let c = &p.spec.as_ref().unwrap().containers[0];
    let built = container_env(&p, c, &PodFacts::default()).unwrap();
    assert_eq!(built.len(), n);
    assert_eq!(built[0], ("V0".to_string(), "last".to_string()));
    assert_eq!(built[n - 1], (format!("V{}", n - 1), "v".to_string()));
    let merged = merged_env(&ImageConfig::default(), &built, "h");
    assert_eq!(merged.len(), n + 2);
    assert_eq!(merged[2], "V0=last");
}

// §10.2 step 3 (kubelet's makeEnvironmentVariables): the Services' variables are seen by
// `$(VAR)` expansion and added after the container's own, never over one it sets.
#[test]
fn service_variables() {
    let p = pod(json!({"name": "c", "env": [
        {"name": "DB", "value": "$(DB_SERVICE_HOST):$(DB_SERVICE_PORT)"},
        {"name": "DB_SERVICE_PORT", "value": "mine"}
    ]}));
    let c = &p.spec.as_ref().unwrap().containers[0];
    let facts = PodFacts {
        service_env: vec![
            ("DB_SERVICE_HOST".into(), "10.96.0.6".into()),
            ("DB_SERVICE_PORT".into(), "5432".into()),
        ],
        ..Default::default()
    };
    let env = container_env(&p, c, &facts).unwrap();
    let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("DB", "10.96.0.6:5432"),
            ("DB_SERVICE_PORT", "mine"),
            ("DB_SERVICE_HOST", "10.96.0.6"),
        ]
    );
}

fn sources() -> ConfigSources {
    let mut s = ConfigSources::default();
    s.config_maps.insert(
        "cfg".into(),
        [
            ("LEVEL".to_string(), "debug".to_string()),
            ("log.format".to_string(), "json".to_string()),
            ("1BAD".to_string(), "x".to_string()),
            ("has space".to_string(), "x".to_string()),
        ]
        .into(),
    );
    s.secrets.insert(
        "db".into(),
        [("password".to_string(), b"hunter2".to_vec())].into(),
    );
    s
}

// Issue 16 item 3 / spec §10.2: envFrom in order with its prefix (invalid names skipped with
// kubelet's event words), then env (configMapKeyRef / secretKeyRef, later wins, expansion over
// what envFrom set), optional sources left out.
#[test]
fn env_from_config_maps_and_secrets() {
    let p = pod(json!({"name": "c",
    "envFrom": [
        {"configMapRef": {"name": "cfg"}},
        {"prefix": "DB_", "secretRef": {"name": "db"}},
        {"configMapRef": {"name": "absent", "optional": true}}
    ],
    "env": [
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "L2", "value": "$(LEVEL)-2"},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "log.format"}}},
        {"name": "GONE", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": true}}},
        {"name": "GONE2", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k", "optional": true}}}
    ]}));
    let c = &p.spec.as_ref().unwrap().containers[0];
    let facts = PodFacts {
        config: sources(),
        ..Default::default()
    };
    let env = container_env(&p, c, &facts).unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("log.format"), Some("json"));
    assert_eq!(get("DB_password"), Some("hunter2"));
    assert_eq!(get("PW"), Some("hunter2"));
    assert_eq!(get("L2"), Some("debug-2"));
    assert_eq!(get("LEVEL"), Some("json"));
    assert_eq!(get("GONE"), None);
    assert_eq!(get("GONE2"), None);
    assert_eq!(get("1BAD"), None);
    assert_eq!(
        skipped_env_names(&p, c, &facts),
        ["Keys [1BAD, has space] from the EnvFrom configMap ns/cfg were skipped since they are considered invalid environment variable names."]
    );
    assert_eq!(
        env_sources(c),
        (
            vec![
                "cfg".to_string(),
                "absent".into(),
                "cfg".into(),
                "cfg".into()
            ],
            vec!["db".to_string(), "db".into(), "absent".into()]
        )
    );
}

// Issue 16 item 4: kubelet's CreateContainerConfigError messages.
#[test]
fn missing_sources_and_keys_in_kubelets_words() {
    let facts = PodFacts {
        config: sources(),
        ..Default::default()
    };
    let cases = [
        (
            json!({"envFrom": [{"configMapRef": {"name": "nope"}}]}),
            "configmap \"nope\" not found",
        ),
        (
            json!({"envFrom": [{"secretRef": {"name": "nope"}}]}),
            "secret \"nope\" not found",
        ),
        (
            json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}),
            "couldn't find key k in ConfigMap ns/cfg",
        ),
        (
            json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k"}}}]}),
            "couldn't find key k in Secret ns/db",
        ),
        (
            json!({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]}),
            "secret \"nope\" not found",
        ),
    ];
    for (extra, want) in cases {
        let mut c = json!({"name": "c"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        let p = pod(c);
        let c = &p.spec.as_ref().unwrap().containers[0];
        assert_eq!(container_env(&p, c, &facts).unwrap_err().0, want);
    }
}

// Spec §10.2: resourceFieldRef in env: the container's own unless another is named, the
// node's allocatable for an unset limit, ceil(value / divisor).
#[test]
fn resource_field_refs() {
    let p: Pod = serde_json::from_value(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [
            {"name": "a", "image": "i", "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}},
             "env": [
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU_REQ", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
                {"name": "CPU_LIM", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "B_MEM", "valueFrom": {"resourceFieldRef": {"containerName": "b", "resource": "limits.memory"}}}
             ]},
            {"name": "b", "image": "i"}
        ]}
    }))
    .unwrap();
    let facts = PodFacts {
        allocatable: beluga_api::downward::Allocatable {
            millicores: 4000,
            memory: 1000,
            ephemeral_storage: 0,
        },
        ..Default::default()
    };
    let env = container_env(&p, &p.spec.as_ref().unwrap().containers[0], &facts).unwrap();
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        (get("MEM"), get("CPU_REQ"), get("CPU_LIM"), get("B_MEM")),
        (Some("256"), Some("100"), Some("4"), Some("1000"))
    );
}
