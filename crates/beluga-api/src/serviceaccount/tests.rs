//! The ServiceAccount admission plugin's changes to a pod (admission.go), its printers, and
//! what a replacement keeps of them (issue 16 item 5).

use super::*;

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "app", "namespace": "elastic-stack"},
        "spec": spec,
    }))
    .unwrap()
}

fn mounts(p: &Pod) -> Vec<(String, Vec<String>)> {
    let s = p.spec.as_ref().unwrap();
    s.init_containers
        .iter()
        .flatten()
        .chain(s.containers.iter())
        .map(|c| {
            let m = c.volume_mounts.iter().flatten();
            let at =
                m.map(|m| format!("{}@{}:{}", m.name, m.mount_path, m.read_only == Some(true)));
            (c.name.clone(), at.collect())
        })
        .collect()
}

fn volumes(p: &Pod) -> Vec<String> {
    let vols = p.spec.as_ref().unwrap().volumes.iter().flatten();
    vols.map(|v| v.name.clone()).collect()
}

const TOKEN: &str = "kube-api-access-abcde@/var/run/secrets/kubernetes.io/serviceaccount:true";

#[test]
fn every_container_gets_the_token_volume() {
    let mut p = pod(serde_json::json!({
        "initContainers": [{"name": "init", "image": "i"}],
        "containers": [{"name": "app", "image": "a", "volumeMounts": [{"name": "d", "mountPath": "/d"}]},
                       {"name": "agent", "image": "b"}],
        "volumes": [{"name": "d", "emptyDir": {}}]}));
    admit(&mut p, &default_account("elastic-stack"), "abcde");
    let spec = p.spec.as_ref().unwrap();
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(spec.service_account.as_deref(), Some("default"));
    assert_eq!(volumes(&p), ["d", "kube-api-access-abcde"]);
    assert_eq!(
        mounts(&p),
        [
            ("init".to_string(), vec![TOKEN.to_string()]),
            (
                "app".to_string(),
                vec!["d@/d:false".to_string(), TOKEN.to_string()]
            ),
            ("agent".to_string(), vec![TOKEN.to_string()]),
        ]
    );
    let vol = spec.volumes.as_ref().unwrap().last().unwrap();
    assert_eq!(vol.projected.as_ref(), Some(&token_volume_source()));
    let json = serde_json::to_value(token_volume_source()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]})
    );
}

#[test]
fn automount_is_the_pods_choice_over_the_accounts() {
    let off = ServiceAccount {
        automount_service_account_token: Some(false),
        ..default_account("ns")
    };
    // (pod's automountServiceAccountToken, account's) → volume added?
    for (pod_says, account, want) in [
        (None, &default_account("ns"), true),
        (Some(false), &default_account("ns"), false),
        (None, &off, false),
        (Some(true), &off, true),
    ] {
        let mut p = pod(serde_json::json!({"containers": [{"name": "app", "image": "a"}]}));
        p.spec.as_mut().unwrap().automount_service_account_token = pod_says;
        admit(&mut p, account, "abcde");
        assert_eq!(!volumes(&p).is_empty(), want, "{pod_says:?}");
        assert_eq!(
            p.spec.unwrap().service_account_name.as_deref(),
            Some("default")
        );
    }
}

// admission.go: the account's imagePullSecrets go to a pod that names none.
#[test]
fn the_accounts_pull_secrets_for_a_pod_without_any() {
    let account: ServiceAccount = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "puller"}, "imagePullSecrets": [{"name": "regcred"}]}))
    .unwrap();
    let mut p = pod(serde_json::json!({"containers": [{"name": "app", "image": "a"}]}));
    admit(&mut p, &account, "abcde");
    let names = |p: &Pod| -> Vec<String> {
        let s = p.spec.as_ref().unwrap().image_pull_secrets.iter().flatten();
        s.map(|r| r.name.clone()).collect()
    };
    assert_eq!(names(&p), ["regcred"]);
    let mut p = pod(
        serde_json::json!({"containers": [{"name": "app", "image": "a"}],
        "imagePullSecrets": [{"name": "mine"}]}),
    );
    admit(&mut p, &account, "abcde");
    assert_eq!(names(&p), ["mine"]);
}

#[test]
fn an_own_mount_at_the_path_or_an_own_volume_is_kept() {
    // A container with a mount at the path gets none; when all have one, no volume is made.
    let mut p = pod(serde_json::json!({
        "serviceAccountName": "builder",
        "containers": [{"name": "app", "image": "a", "volumeMounts": [{"name": "mine", "mountPath": MOUNT_PATH}]}],
        "volumes": [{"name": "mine", "emptyDir": {}}]}));
    admit(&mut p, &default_account("ns"), "abcde");
    assert_eq!(volumes(&p), ["mine"]);
    assert_eq!(
        p.spec.as_ref().unwrap().service_account.as_deref(),
        Some("builder")
    );
    // A volume already named kube-api-access-… is the one mounted (a pod applied as returned).
    let mut p = pod(serde_json::json!({
        "containers": [{"name": "app", "image": "a"}],
        "volumes": [{"name": "kube-api-access-xyz12", "projected": {"sources": []}}]}));
    admit(&mut p, &default_account("ns"), "abcde");
    assert_eq!(volumes(&p), ["kube-api-access-xyz12"]);
    assert_eq!(
        mounts(&p),
        [(
            "app".to_string(),
            vec![
                "kube-api-access-xyz12@/var/run/secrets/kubernetes.io/serviceaccount:true"
                    .to_string()
            ]
        )]
    );
}

#[test]
fn a_replacement_keeps_what_the_admission_added() {
    let manifest = pod(serde_json::json!({
        "containers": [{"name": "app", "image": "a"}, {"name": "agent", "image": "b"}]}));
    let mut created = manifest.clone();
    admit(&mut created, &default_account("ns"), "abcde");
    let mut again = manifest.clone();
    carry_admitted(&created, &mut again);
    assert_eq!(again, created);
    // A manifest with the volume that only one container mounts gets the other's mount back.
    let mut own = manifest.clone();
    own.spec.as_mut().unwrap().volumes = created.spec.as_ref().unwrap().volumes.clone();
    own.spec.as_mut().unwrap().containers[0].volume_mounts =
        created.spec.as_ref().unwrap().containers[0]
            .volume_mounts
            .clone();
    let mut admitted = own.clone();
    admit(&mut admitted, &default_account("ns"), "zzzzz");
    assert_eq!(admitted, created);
    let mut again = own.clone();
    carry_admitted(&admitted, &mut again);
    assert_eq!(again, created);
    // A new container (a spec change the update refuses anyway) gets nothing carried.
    let mut changed = pod(serde_json::json!({"containers": [{"name": "other", "image": "a"}]}));
    carry_admitted(&created, &mut changed);
    assert_eq!(mounts(&changed), [("other".to_string(), vec![])]);
}

#[test]
fn printers_and_messages() {
    let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
    let mut sa = default_account("web");
    sa.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        now - std::time::Duration::from_secs(300),
    ));
    assert_eq!(row(&sa, now), ["default", "0", "5m"]);
    assert_eq!(
        describe(&sa),
        "Name:                default\nNamespace:           web\nLabels:              <none>\nAnnotations:         <none>\nImage pull secrets:  <none>\nMountable secrets:   <none>\nTokens:              <none>\n"
    );
    assert_eq!(
        missing_account_message("app", "web", "builder"),
        "pods \"app\" is forbidden: error looking up service account web/builder: serviceaccount \"builder\" not found"
    );
    let names: Vec<String> = validate(&ServiceAccount {
        metadata: ObjectMeta {
            name: Some("Bad_Name".into()),
            ..Default::default()
        },
        ..Default::default()
    })
    .iter()
    .map(|e| e.to_string())
    .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with(
            "metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"
        ),
        "{names:?}"
    );
    for bits in [0, 1, u64::MAX, 0x1234_5678_9abc_def0] {
        let s = name_suffix(bits);
        assert_eq!(s.len(), 5);
        assert!(
            s.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{s}"
        );
    }
    let cm = root_ca_config_map("web", "PEM");
    assert_eq!(cm.data.unwrap()["ca.crt"], "PEM");
}
