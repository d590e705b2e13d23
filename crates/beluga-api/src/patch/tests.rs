use super::strategic::{list_kind, ListKind};
use super::*;
use serde_json::json;

fn smp(kind: &str, live: Value, patch: Value) -> Value {
    strategic::apply(kind, &live, &patch).expect("patch applies")
}

// kubectl-api §3.8, the bodies kubectl 1.32 sent: an image change from `apply`.
#[test]
fn kubectls_apply_of_an_image_change() {
    let live = json!({"metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "old"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}], "restartPolicy": "Always"}});
    let patch = json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"}},
        "spec": {"$setElementOrder/containers": [{"name": "web"}], "containers": [{"image": "nginx:1.26", "name": "web"}]}});
    let want = json!({"metadata": {"name": "web", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "new"}},
        "spec": {"containers": [{"name": "web", "image": "nginx:1.26", "ports": [{"containerPort": 80}]}], "restartPolicy": "Always"}});
    assert_eq!(smp("Pod", live, patch), want);
}

// §3.8: containers reordered, an env entry deleted, a label and an annotation removed, a volume
// source switched under `$retainKeys`.
#[test]
fn kubectls_apply_of_many_changes() {
    let live = json!({"metadata": {"labels": {"app": "web", "tier": "x"}, "annotations": {"note": "n", "keep": "k"}},
        "spec": {
            "containers": [
                {"name": "web", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                {"name": "side", "image": "busybox:1.35"}],
            "volumes": [{"name": "data", "emptyDir": {}}]}});
    let patch = json!({"metadata": {"annotations": {"note": null}, "labels": {"tier": null}},
        "spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}], "$setElementOrder/volumes": [{"name": "data"}],
            "containers": [{"image": "busybox:1.36", "name": "side"},
                {"$setElementOrder/env": [{"name": "B"}], "env": [{"name": "B", "value": "3"}, {"$patch": "delete", "name": "A"}], "image": "nginx:1.26", "name": "web"}],
            "volumes": [{"$retainKeys": ["hostPath", "name"], "emptyDir": null, "hostPath": {"path": "/tmp"}, "name": "data"}]}});
    let want = json!({"metadata": {"labels": {"app": "web"}, "annotations": {"keep": "k"}},
        "spec": {
            "containers": [
                {"name": "side", "image": "busybox:1.36"},
                {"name": "web", "image": "nginx:1.26", "env": [{"name": "B", "value": "3"}]}],
            "volumes": [{"name": "data", "hostPath": {"path": "/tmp"}}]}});
    assert_eq!(smp("Pod", live, patch), want);
}

// §3.8: `kubectl set image` names one container of two; `kubectl patch -p` adds a field.
#[test]
fn set_image_and_patch() {
    let live = json!({"spec": {"containers": [{"name": "web", "image": "a"}, {"name": "side", "image": "b"}]}});
    let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "side"}], "containers": [{"image": "nginx:1.27", "name": "web"}]}});
    assert_eq!(
        smp("Pod", live.clone(), patch),
        json!({"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "side", "image": "b"}]}})
    );
    let patch = json!({"spec": {"activeDeadlineSeconds": 100}});
    assert_eq!(
        smp("Pod", live, patch)["spec"]["activeDeadlineSeconds"],
        100
    );
}

// The directives one by one (apimachinery strategicpatch semantics).
#[test]
fn directives() {
    type Case = (&'static str, Value, Value, Value);
    let cases: Vec<Case> = vec![
        (
            "a new keyed item is appended",
            json!({"spec": {"containers": [{"name": "a"}]}}),
            json!({"spec": {"containers": [{"name": "b", "image": "x"}]}}),
            json!({"spec": {"containers": [{"name": "a"}, {"name": "b", "image": "x"}]}}),
        ),
        (
            "an atomic list is replaced",
            json!({"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}),
            json!({"spec": {"tolerations": [{"key": "c"}]}}),
            json!({"spec": {"tolerations": [{"key": "c"}]}}),
        ),
        (
            "args are atomic",
            json!({"spec": {"containers": [{"name": "a", "args": ["1", "2"]}]}}),
            json!({"spec": {"containers": [{"name": "a", "args": ["3"]}]}}),
            json!({"spec": {"containers": [{"name": "a", "args": ["3"]}]}}),
        ),
        (
            "a list with $patch: replace is replaced",
            json!({"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b"}]}}),
            json!({"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}),
            json!({"spec": {"containers": [{"name": "c"}]}}),
        ),
        (
            "a map with $patch: replace is replaced",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "c": "3"}}}),
            json!({"metadata": {"labels": {"c": "3"}}}),
        ),
        (
            "a map with $patch: delete is removed",
            json!({"spec": {"securityContext": {"runAsUser": 1}, "x": 1}}),
            json!({"spec": {"securityContext": {"$patch": "delete"}}}),
            json!({"spec": {"x": 1}}),
        ),
        (
            "finalizers merge as a set, and $deleteFromPrimitiveList removes",
            json!({"metadata": {"finalizers": ["a", "b"]}}),
            json!({"metadata": {"finalizers": ["b", "c"], "$deleteFromPrimitiveList/finalizers": ["a"]}}),
            json!({"metadata": {"finalizers": ["b", "c"]}}),
        ),
        (
            "ports merge by containerPort",
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http"}]}]}}),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}]}}),
            json!({"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}, {"containerPort": 443}]}]}}),
        ),
        (
            "directives never reach a new value",
            json!({"spec": {}}),
            json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}, {"name": "Y", "$patch": "delete"}], "$setElementOrder/env": [{"name": "X"}]}]}}),
            json!({"spec": {"containers": [{"name": "a", "env": [{"name": "X", "value": "1"}]}]}}),
        ),
        (
            "null removes a key; a scalar replaces",
            json!({"spec": {"a": 1, "b": {"c": 2}}}),
            json!({"spec": {"a": null, "b": 3}}),
            json!({"spec": {"b": 3}}),
        ),
        (
            "service ports merge by port",
            json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 81}]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}),
            json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"port": 81}]}}),
        ),
    ];
    for (what, live, patch, want) in cases {
        let kind = if what.starts_with("service") {
            "Service"
        } else {
            "Pod"
        };
        assert_eq!(smp(kind, live, patch), want, "{what}");
    }
}

#[test]
fn broken_patches_are_refused() {
    let live = json!({"spec": {"containers": [{"name": "a"}]}});
    let no_key = json!({"spec": {"containers": [{"image": "x"}]}});
    assert!(matches!(
        strategic::apply("Pod", &live, &no_key),
        Err(PatchError::Bad(m)) if m.contains("does not contain declared merge key: name")
    ));
    let bad = json!({"spec": {"$patch": "frobnicate"}});
    assert!(strategic::apply("Pod", &live, &bad).is_err());
    assert!(matches!(
        apply("Pod", PatchType::Strategic, &live, b"[1]"),
        Err(PatchError::Bad(_))
    ));
    assert!(matches!(
        apply("Pod", PatchType::Merge, &live, b"{"),
        Err(PatchError::Bad(_))
    ));
}

// §3.8: `kubectl label` sends a merge patch, `kubectl patch --type=json` a JSON patch.
#[test]
fn merge_and_json_patches() {
    let live = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "web", "image": "busybox:1.36"}, {"name": "b"}]}});
    let merged = apply(
        "Pod",
        PatchType::Merge,
        &live,
        br#"{"metadata":{"labels":{"x":"y","a":null}}}"#,
    )
    .expect("merge");
    assert_eq!(merged["metadata"]["labels"], json!({"x": "y"}));
    // A merge patch replaces lists.
    let merged = apply(
        "Pod",
        PatchType::Merge,
        &live,
        br#"{"spec":{"containers":[{"name":"c"}]}}"#,
    )
    .expect("merge");
    assert_eq!(merged["spec"]["containers"], json!([{"name": "c"}]));
    let patched = apply(
        "Pod",
        PatchType::Json,
        &live,
        br#"[{"op":"replace","path":"/spec/containers/0/image","value":"busybox:1.37"}]"#,
    )
    .expect("json patch");
    assert_eq!(patched["spec"]["containers"][0]["image"], "busybox:1.37");
    let failed = apply(
        "Pod",
        PatchType::Json,
        &live,
        br#"[{"op":"test","path":"/spec/containers/0/image","value":"other"}]"#,
    );
    assert!(matches!(failed, Err(PatchError::Failed(_))), "{failed:?}");
}

#[test]
fn content_types() {
    let cases = [
        (
            "application/strategic-merge-patch+json",
            Some(PatchType::Strategic),
        ),
        (
            "application/merge-patch+json; charset=utf-8",
            Some(PatchType::Merge),
        ),
        ("application/json-patch+json", Some(PatchType::Json)),
        ("application/apply-patch+yaml", Some(PatchType::Apply)),
        ("application/json", None),
        ("", None),
    ];
    for (ct, want) in cases {
        assert_eq!(PatchType::from_content_type(ct), want, "{ct}");
    }
}

// §3.8: "a unit test can check the SMP engine's key table against" k8s-openapi's generated
// `DeepMerge`, which carries the upstream merge keys: for a patch without nulls or directives
// the two must agree, list by list.
#[test]
fn the_key_table_agrees_with_k8s_openapis_deep_merge() {
    use k8s_openapi::DeepMerge;
    // Each list: a live item the patch changes, one it leaves alone, one it adds — a keyed
    // list keeps the second, an atomic one drops it.
    let live = json!({"metadata": {"name": "p", "finalizers": ["a", "z"], "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "1"}, {"apiVersion": "v1", "kind": "X", "name": "q", "uid": "2"}]},
        "spec": {
            "containers": [{"name": "a", "image": "i",
                "ports": [{"containerPort": 80, "name": "http"}, {"containerPort": 90}],
                "env": [{"name": "E", "value": "1"}, {"name": "G", "value": "1"}],
                "volumeMounts": [{"name": "v", "mountPath": "/m"}, {"name": "v", "mountPath": "/n"}],
                "volumeDevices": [{"name": "v", "devicePath": "/d"}, {"name": "v", "devicePath": "/e"}],
                "args": ["x", "z"]}, {"name": "z", "image": "z"}],
            "initContainers": [{"name": "i", "image": "i"}, {"name": "z", "image": "z"}],
            "volumes": [{"name": "v", "emptyDir": {}}, {"name": "z", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "s"}, {"name": "z"}],
            "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["a"]}, {"ip": "9.9.9.9"}],
            "schedulingGates": [{"name": "g"}, {"name": "z"}],
            "tolerations": [{"key": "t"}, {"key": "z"}],
            "topologySpreadConstraints": [{"topologyKey": "k", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}, {"topologyKey": "z", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}],
            "readinessGates": [{"conditionType": "r"}, {"conditionType": "z"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}, {"type": "Z", "status": "True"}],
            "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}]}});
    let patch = json!({"metadata": {"finalizers": ["b"], "ownerReferences": [{"apiVersion": "v1", "kind": "Y", "name": "o", "uid": "1"}]},
        "spec": {
            "containers": [{"name": "a", "image": "j",
                "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 81}],
                "env": [{"name": "E", "value": "2"}, {"name": "F", "value": "3"}],
                "volumeMounts": [{"name": "w", "mountPath": "/m"}],
                "volumeDevices": [{"name": "w", "devicePath": "/d"}],
                "args": ["y"]}, {"name": "b", "image": "k"}],
            "initContainers": [{"name": "i2", "image": "i"}],
            "volumes": [{"name": "w", "emptyDir": {}}],
            "imagePullSecrets": [{"name": "t"}],
            "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["b"]}],
            "schedulingGates": [{"name": "h"}],
            "tolerations": [{"key": "u"}],
            "topologySpreadConstraints": [{"topologyKey": "k", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}],
            "readinessGates": [{"conditionType": "s"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "podIPs": [{"ip": "10.0.0.2"}]}});
    let ours: crate::Pod =
        serde_json::from_value(smp("Pod", live.clone(), patch.clone())).expect("pod");
    let mut theirs: crate::Pod = serde_json::from_value(live).expect("live pod");
    theirs.merge_from(serde_json::from_value(patch).expect("patch pod"));
    assert_eq!(ours, theirs);
}

#[test]
fn list_kinds() {
    assert_eq!(
        list_kind("Pod", &["spec", "containers"]),
        ListKind::Keyed("name")
    );
    assert_eq!(
        list_kind("Pod", &["spec", "initContainers", "env"]),
        ListKind::Keyed("name")
    );
    assert_eq!(
        list_kind("Pod", &["spec", "containers", "command"]),
        ListKind::Atomic
    );
    assert_eq!(
        list_kind("ConfigMap", &["metadata", "finalizers"]),
        ListKind::Set
    );
    // A Service's ports are not a pod's.
    assert_eq!(list_kind("Pod", &["spec", "ports"]), ListKind::Atomic);
}

mod server_side_apply {
    use super::super::apply::apply;
    use serde_json::{json, Value};

    fn pod(labels: Value, env: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "busybox", "env": env}]}})
    }

    fn strip_managed(mut v: Value) -> Value {
        if let Some(m) = v["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        v
    }

    // Spec §3.9: a first apply is the configuration, with the manager's fields recorded the
    // apiserver's way (FieldsV1).
    #[test]
    fn a_first_apply_records_the_managers_fields() {
        let cfg = pod(json!({"app": "web"}), json!([{"name": "A", "value": "1"}]));
        let out = apply("Pod", None, &cfg, "kubectl", "2026-12-03T00:00:00Z").expect("apply");
        assert_eq!(strip_managed(out.clone()), cfg);
        let entries = out["metadata"]["managedFields"]
            .as_array()
            .expect("managed");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["manager"], "kubectl");
        assert_eq!(entries[0]["operation"], "Apply");
        assert_eq!(entries[0]["fieldsType"], "FieldsV1");
        assert_eq!(
            entries[0]["fieldsV1"],
            json!({"f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {},
                    "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}})
        );
    }

    // What the manager applied before and omits now goes; what it never applied stays.
    #[test]
    fn fields_the_manager_drops_are_removed() {
        let first = pod(
            json!({"app": "web", "tier": "x"}),
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]),
        );
        let mut live = apply("Pod", None, &first, "kubectl", "t1").expect("first");
        // Someone else's change (an update: no fields recorded), and the server's status.
        live["metadata"]["annotations"] = json!({"note": "kept"});
        live["status"] = json!({"phase": "Running"});
        let second = pod(json!({"app": "web"}), json!([{"name": "B", "value": "3"}]));
        let out = apply("Pod", Some(&live), &second, "kubectl", "t2").expect("second");
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            out["spec"]["containers"][0]["env"],
            json!([{"name": "B", "value": "3"}])
        );
        assert_eq!(out["metadata"]["annotations"], json!({"note": "kept"}));
        assert_eq!(out["status"]["phase"], "Running");
        let entries = out["metadata"]["managedFields"]
            .as_array()
            .expect("managed");
        assert_eq!(entries.len(), 1, "one entry per manager: {entries:?}");
        assert_eq!(entries[0]["time"], "t2");
    }

    // A field another manager applied too stays when this one drops it; a dropped container
    // goes as a whole.
    #[test]
    fn another_managers_fields_stay() {
        let mine = pod(json!({"app": "web", "tier": "x"}), json!([]));
        let live = apply("Pod", None, &mine, "kubectl", "t1").expect("mine");
        let theirs = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"tier": "x"}}});
        let live = apply("Pod", Some(&live), &theirs, "other", "t2").expect("theirs");
        let mine = pod(json!({"app": "web"}), json!([]));
        let out = apply("Pod", Some(&live), &mine, "kubectl", "t3").expect("again");
        assert_eq!(
            out["metadata"]["labels"],
            json!({"app": "web", "tier": "x"})
        );
        let two = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "web", "image": "b"}, {"name": "side", "image": "c"}]}});
        let live = apply("Pod", Some(&out), &two, "kubectl", "t4").expect("two");
        let one = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "web", "image": "b"}]}});
        let out = apply("Pod", Some(&live), &one, "kubectl", "t5").expect("one");
        let names: Vec<&str> = out["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .filter_map(|c| c["name"].as_str())
            .collect();
        assert_eq!(names, ["web"]);
        // kubectl's own label went with the kubectl manager's configuration; the other's stays.
        assert_eq!(out["metadata"]["labels"], json!({"tier": "x"}));
    }

    #[test]
    fn managed_fields_in_the_body_are_refused() {
        let cfg = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "managedFields": []}});
        let e = apply("Pod", None, &cfg, "kubectl", "t").expect_err("refused");
        assert_eq!(e.to_string(), "metadata.managedFields must be nil");
    }
}
