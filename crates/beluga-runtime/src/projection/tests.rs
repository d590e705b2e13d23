//! Spec §11.1 (configMap / secret / downwardAPI / projected volumes), against kubelet's
//! `MakePayload`, `CollectData` and the projected plugin's `collectData`.

use super::*;
use serde_json::json;

fn objects() -> Objects {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cfg"},
        "data": {"a.conf": "alpha", "b.conf": "beta"},
        "binaryData": {"blob": "AAEC"}
    }))
    .unwrap();
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "pw"},
        "data": {"password": "czNjcmV0"}
    }))
    .unwrap();
    Objects {
        config_maps: [("cfg".to_string(), cm)].into(),
        secrets: [("pw".to_string(), secret)].into(),
        tokens: [
            ("token".to_string(), Ok("header.claims.sig".to_string())),
            (
                "denied".to_string(),
                Err("serviceaccounts \"builder\" not found".to_string()),
            ),
        ]
        .into(),
    }
}

fn pod() -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": "u1",
            "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"memory": "64Mi"}}}]}
    }))
    .unwrap()
}

fn volume(v: serde_json::Value) -> Volume {
    serde_json::from_value(v).unwrap()
}

fn files(p: &Payload) -> Vec<(String, String, u32)> {
    p.iter()
        .map(|(k, f)| {
            (
                k.clone(),
                String::from_utf8_lossy(&f.data).into_owned(),
                f.mode,
            )
        })
        .collect()
}

fn run(v: serde_json::Value) -> Result<Vec<(String, String, u32)>, String> {
    let node = Allocatable {
        millicores: 2000,
        memory: 1 << 30,
        ephemeral_storage: 1 << 33,
    };
    payload(&volume(v), &pod(), &objects(), &node).map(|p| files(&p))
}

fn f(path: &str, data: &str, mode: u32) -> (String, String, u32) {
    (path.into(), data.into(), mode)
}

#[test]
fn config_maps_every_key_or_the_items() {
    assert_eq!(
        run(json!({"name": "v", "configMap": {"name": "cfg"}})),
        Ok(vec![
            f("a.conf", "alpha", 0o644),
            f("b.conf", "beta", 0o644),
            f("blob", "\0\u{1}\u{2}", 0o644)
        ])
    );
    assert_eq!(
        run(
            json!({"name": "v", "configMap": {"name": "cfg", "defaultMode": 0o400,
            "items": [{"key": "a.conf", "path": "conf/./a"}, {"key": "b.conf", "path": "b", "mode": 0o600}]}})
        ),
        Ok(vec![f("b", "beta", 0o600), f("conf/a", "alpha", 0o400)])
    );
    assert_eq!(
        run(
            json!({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "nope", "path": "x"}]}})
        ),
        Err("configmap references non-existent config key: nope".into())
    );
    assert_eq!(
        run(
            json!({"name": "v", "configMap": {"name": "cfg", "optional": true,
            "items": [{"key": "nope", "path": "x"}, {"key": "a.conf", "path": "a"}]}})
        ),
        Ok(vec![f("a", "alpha", 0o644)])
    );
}

#[test]
fn missing_objects_are_kubelets_not_found() {
    assert_eq!(
        run(json!({"name": "v", "configMap": {"name": "gone"}})),
        Err(r#"configmap "gone" not found"#.into())
    );
    assert_eq!(
        run(json!({"name": "v", "secret": {"secretName": "gone"}})),
        Err(r#"secret "gone" not found"#.into())
    );
    assert_eq!(
        run(json!({"name": "v", "configMap": {"name": "gone", "optional": true}})),
        Ok(vec![])
    );
    assert_eq!(
        run(json!({"name": "v", "secret": {"secretName": "gone", "optional": true}})),
        Ok(vec![])
    );
}

#[test]
fn secrets_decoded() {
    assert_eq!(
        run(json!({"name": "v", "secret": {"secretName": "pw", "defaultMode": 0o440}})),
        Ok(vec![f("password", "s3cret", 0o440)])
    );
    assert_eq!(
        run(
            json!({"name": "v", "secret": {"secretName": "pw", "items": [{"key": "user", "path": "u"}]}})
        ),
        Err("secret references non-existent secret key: user".into())
    );
}

#[test]
fn downward_api_fields_and_resources() {
    assert_eq!(
        run(json!({"name": "v", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o600},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
            {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}}
        ]}})),
        Ok(vec![
            f("cpu", "2", 0o644),
            f("labels", "app=\"web\"", 0o644),
            f("mem", "64", 0o644),
            f("name", "web", 0o600)
        ])
    );
    assert_eq!(
        run(json!({"name": "v", "downwardAPI": {"items": [
            {"path": "a", "resourceFieldRef": {"containerName": "x", "resource": "limits.cpu"}},
            {"path": "b", "fieldRef": {"fieldPath": "spec.nodeName"}}
        ]}})),
        Err("[container x not found, unsupported fieldPath: spec.nodeName]".into())
    );
}

#[test]
fn projected_sources_merge_under_one_mode() {
    assert_eq!(
        run(
            json!({"name": "v", "projected": {"defaultMode": 0o400, "sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "a"}]}},
                {"secret": {"name": "pw"}},
                {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
            ]}})
        ),
        Ok(vec![
            f("a", "alpha", 0o400),
            f("ns", "default", 0o400),
            f("password", "s3cret", 0o400)
        ])
    );
    assert_eq!(
        run(json!({"name": "v", "projected": {"sources": [
            {"configMap": {"name": "gone"}}, {"secret": {"name": "gone2"}}
        ]}})),
        Err(r#"[configmap "gone" not found, secret "gone2" not found]"#.into())
    );
}

// The token the node issued for a serviceAccountToken source is its file, under the volume's
// mode; one that could not be issued is kubelet's `failed to fetch token: …`.
#[test]
fn service_account_tokens() {
    assert_eq!(
        run(
            json!({"name": "kube-api-access-abcde", "projected": {"defaultMode": 0o644, "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}
            ]}})
        ),
        Ok(vec![
            f("namespace", "default", 0o644),
            f("token", "header.claims.sig", 0o644)
        ])
    );
    assert_eq!(
        run(json!({"name": "v", "projected": {"sources": [
            {"serviceAccountToken": {"path": "denied"}}
        ]}})),
        Err(r#"failed to fetch token: serviceaccounts "builder" not found"#.into())
    );
    assert_eq!(
        run(json!({"name": "v", "projected": {"sources": [
            {"serviceAccountToken": {"path": "never-asked"}}
        ]}})),
        Err("failed to fetch token: none was issued".into())
    );
}

#[test]
fn media_and_sources() {
    let cm = volume(json!({"name": "v", "configMap": {"name": "cfg"}}));
    let s = volume(json!({"name": "v", "secret": {"secretName": "pw"}}));
    let p = volume(json!({"name": "v", "projected": {"sources": [
        {"configMap": {"name": "c1"}}, {"secret": {"name": "s1"}}]}}));
    let e = volume(json!({"name": "v", "emptyDir": {}}));
    assert_eq!(medium(&cm), Some(Medium::Disk));
    assert_eq!(medium(&s), Some(Medium::Memory));
    assert_eq!(medium(&p), Some(Medium::Memory));
    assert_eq!(medium(&e), None);
    assert_eq!(sources(&p), (vec!["c1".into()], vec!["s1".into()]));
    assert_eq!(sources(&s), (vec![], vec!["pw".into()]));
}
