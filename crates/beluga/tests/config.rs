//! ConfigMaps and Secrets as objects (issue 16 item 1): apply (created, unchanged, configured),
//! get with kubectl's columns, `-o yaml`, describe (a Secret's values shown only as sizes),
//! delete, kept across a daemon restart and at rest readable by root only; validation in the
//! apiserver's words with nothing created on error.

mod common;

use common::*;
use std::time::Duration;

const OBJECTS: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: game-config, labels: {app: game}}
data:
  lives: '3'
  ui.properties: |
    color.good=purple
binaryData:
  icon: AAEC
---
apiVersion: v1
kind: Secret
metadata: {name: db}
stringData:
  password: hunter2
data:
  user: YWRtaW4=
";

#[test]
fn config_maps_and_secrets_are_applied_listed_described_and_kept() {
    let Some(mut d) = Daemon::start() else { return };
    assert_eq!(
        d.apply(OBJECTS),
        "configmap/game-config created\nsecret/db created\n"
    );
    assert_eq!(
        d.apply(OBJECTS),
        "configmap/game-config unchanged\nsecret/db unchanged\n"
    );
    let cm = d.ok(&["get", "configmaps"]);
    let lines: Vec<Vec<&str>> = cm.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(lines[0], ["NAME", "DATA", "AGE"], "{cm}");
    assert_eq!(lines[1][..2], ["game-config", "3"], "{cm}");
    let secrets = d.ok(&["get", "secrets"]);
    let lines: Vec<Vec<&str>> = secrets
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "TYPE", "DATA", "AGE"], "{secrets}");
    assert_eq!(lines[1][..3], ["db", "Opaque", "2"], "{secrets}");
    // stringData is merged into data as the apiserver stores it (base64 on the wire).
    let yaml = d.ok(&["get", "secret", "db", "-o", "yaml"]);
    assert!(yaml.contains("password: aHVudGVyMg=="), "{yaml}");
    assert!(!yaml.contains("stringData"), "{yaml}");
    let text = d.ok(&["describe", "secret", "db"]);
    assert!(text.contains("Type:  Opaque"), "{text}");
    assert!(text.contains("password:  7 bytes"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    let text = d.ok(&["describe", "cm/game-config"]);
    assert!(text.contains("lives:\n----\n3\n"), "{text}");
    assert!(text.contains("icon: 3 bytes"), "{text}");
    // A change is a replace.
    let changed = OBJECTS.replace("lives: '3'", "lives: '4'");
    assert_eq!(
        d.apply(&changed),
        "configmap/game-config configured\nsecret/db unchanged\n"
    );
    // Kept across a restart, in files only root can read.
    d.restart();
    let v: serde_json::Value =
        serde_json::from_str(&d.ok(&["get", "cm", "game-config", "-o", "json"])).expect("json");
    assert_eq!(v["data"]["lives"], "4");
    use std::os::unix::fs::PermissionsExt;
    let dir = d.state_dir().join("secrets");
    let mode = std::fs::metadata(&dir)
        .expect("secrets dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    assert_eq!(
        d.ok(&["delete", "secret/db", "cm/game-config"]),
        "secret \"db\" deleted\nconfigmap \"game-config\" deleted\n"
    );
    let o = d.run(&["get", "secret", "db"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("secrets \"db\" not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn invalid_objects_are_refused_in_the_apiservers_words_and_nothing_is_made() {
    let Some(d) = Daemon::start() else { return };
    let bad = "apiVersion: v1
kind: ConfigMap
metadata: {name: ok}
data: {fine: '1'}
---
apiVersion: v1
kind: Secret
metadata: {name: tls}
type: kubernetes.io/tls
data: {tls.crt: YQ==, ../key: YQ==}
";
    let o = d.apply_output(bad);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("The Secret \"tls\" is invalid: \n* data[../key]: Invalid value: \"../key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
        "{err}"
    );
    assert!(err.contains("* data[tls.key]: Required value"), "{err}");
    // Only what every namespace holds (the root-CA publisher's ConfigMap).
    let listed = d.ok(&["get", "configmaps", "-o", "name"]);
    assert_eq!(listed, "configmap/kube-root-ca.crt\n");
    // The daemon refuses it too, in the same words (a client that skips the check).
    let body = r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1"},"binaryData":{"a":"AA=="}}"#;
    let req = format!("POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    let answer = raw_http(&d.socket, req.as_bytes());
    assert!(answer.starts_with("HTTP/1.1 422"), "{answer}");
    assert!(
        answer.contains("ConfigMap \\\"c\\\" is invalid: data[a]: Invalid value: \\\"a\\\": duplicate of key present in binaryData"),
        "{answer}"
    );
}

const ENV_POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: envy}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/busybox:1
    command: [sh, -c, 'env; sleep 3600']
    envFrom:
    - configMapRef: {name: app-config}
    - prefix: DB_
      secretRef: {name: db-auth}
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db-auth, key: password}}
    - name: MODE
      valueFrom: {configMapKeyRef: {name: app-config, key: mode}}
    - name: EXTRA
      valueFrom: {configMapKeyRef: {name: nowhere, key: x, optional: true}}
";

const ENV_OBJECTS: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: app-config}
data: {mode: fast, LOG_LEVEL: debug, 9lives: cat}
---
apiVersion: v1
kind: Secret
metadata: {name: db-auth}
stringData: {password: s3cret, user: admin}
";

fn waiting(p: &serde_json::Value) -> (String, String) {
    let w = &p["status"]["containerStatuses"][0]["state"]["waiting"];
    (
        w["reason"].as_str().unwrap_or("").to_string(),
        w["message"].as_str().unwrap_or("").to_string(),
    )
}

/// Items 3 and 4: a container whose ConfigMap is missing waits in CreateContainerConfigError
/// with kubelet's message (and its `Failed` event), and starts by itself once the objects are
/// applied; envFrom (with a prefix; a key that is no variable name skipped with kubelet's event)
/// and valueFrom from both kinds, an optional missing source left out.
#[test]
fn environment_from_config_maps_and_secrets() {
    let Some(d) = Daemon::start() else { return };
    d.apply(ENV_POD);
    let p = d.wait_pod("envy", Duration::from_secs(30), "a config error", |p| {
        waiting(p).0 == "CreateContainerConfigError"
    });
    assert_eq!(waiting(&p).1, "configmap \"app-config\" not found");
    assert_eq!(p["status"]["phase"], "Pending");
    let failed = d.event_fields("Failed", "/message");
    assert!(
        failed
            .iter()
            .any(|m| m == "Error: configmap \"app-config\" not found"),
        "{failed:?}"
    );
    // Half of what it needs: the secret's key is still missing.
    d.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: db-auth}\nstringData: {user: admin}\n");
    d.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mode: fast}\n");
    d.wait_pod("envy", Duration::from_secs(30), "the key error", |p| {
        waiting(p).1 == "couldn't find key password in Secret default/db-auth"
    });
    d.apply(ENV_OBJECTS);
    d.wait_running("envy");
    let env = d.wait_logs("envy", "app", Duration::from_secs(10), |l| {
        l.contains("PASSWORD=")
    });
    for want in [
        "MODE=fast",
        "LOG_LEVEL=debug",
        "mode=fast",
        "DB_password=s3cret",
        "DB_user=admin",
        "PASSWORD=s3cret",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} in\n{env}");
    }
    assert!(!env.contains("9lives"), "{env}");
    assert!(!env.contains("EXTRA="), "{env}");
    let skipped = d.event_fields("InvalidEnvironmentVariableNames", "/message");
    assert!(
        skipped.iter().any(|m| m == "Keys [9lives] from the EnvFrom configMap default/app-config were skipped since they are considered invalid environment variable names."),
        "{skipped:?}"
    );
}

const VOLUME_POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {app: vols, tier: one}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/busybox:1
    command: [sleep, '3600']
    resources: {limits: {memory: 64Mi}}
    env:
    - name: MEM_MB
      valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}
    volumeMounts:
    - {name: cfg, mountPath: /etc/cfg}
    - {name: cfg, mountPath: /etc/mode-sub, subPath: mode}
    - {name: sec, mountPath: /etc/sec}
    - {name: info, mountPath: /etc/info}
    - {name: all, mountPath: /etc/all}
  volumes:
  - name: cfg
    configMap:
      name: app-config
      items: [{key: mode, path: mode}, {key: LOG_LEVEL, path: conf/level, mode: 0600}]
  - name: sec
    secret: {secretName: db-auth, defaultMode: 0400}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
      - {path: mem, resourceFieldRef: {containerName: app, resource: limits.memory, divisor: 1Mi}}
  - name: all
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: mode, path: mode}]}
      - secret: {name: db-auth, items: [{key: user, path: user}]}
      - downwardAPI: {items: [{path: namespace, fieldRef: {fieldPath: metadata.namespace}}]}
";

/// Waits until `cat path` in the pod prints `want`; how long it took.
fn wait_file(d: &Daemon, path: &str, want: &str) -> Duration {
    let t = std::time::Instant::now();
    loop {
        let o = d.exec("vols", "app", &["cat", path]);
        if stdout(&o) == want {
            return t.elapsed();
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{path}: {:?} {:?}, not {want:?}",
            stdout(&o),
            stderr(&o)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Item 2 and 4: configMap, secret, downwardAPI and projected volumes. A missing ConfigMap
/// keeps the pod in ContainerCreating with kubelet's FailedMount event until it is applied;
/// then the files are there, in kubelet's atomic-writer layout, with their modes, read-only,
/// the Secret's on tmpfs; a changed ConfigMap and a changed label reach the running pod's
/// files (within 1 s, as the issue asks: measured, not asserted), a subPath mount never changes.
#[test]
fn volumes_from_config_maps_secrets_and_the_downward_api() {
    let Some(d) = Daemon::start() else { return };
    d.apply(VOLUME_POD);
    let p = d.wait_pod("vols", Duration::from_secs(30), "a mount failure", |p| {
        waiting(p).0 == "ContainerCreating"
    });
    assert_eq!(p["status"]["phase"], "Pending");
    let mounts = |d: &Daemon| d.event_fields("FailedMount", "/message");
    let t = std::time::Instant::now();
    while !mounts(&d).iter().any(|m| {
        m == "MountVolume.SetUp failed for volume \"cfg\" : configmap \"app-config\" not found"
    }) {
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", mounts(&d));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        mounts(&d).iter().any(|m| m
            == "MountVolume.SetUp failed for volume \"all\" : [configmap \"app-config\" not found, secret \"db-auth\" not found]"),
        "{:?}",
        mounts(&d)
    );
    d.apply(ENV_OBJECTS);
    d.wait_running("vols");
    wait_file(&d, "/etc/cfg/mode", "fast");
    for (path, want) in [
        ("/etc/cfg/conf/level", "debug"),
        ("/etc/mode-sub", "fast"),
        ("/etc/sec/password", "s3cret"),
        ("/etc/sec/user", "admin"),
        ("/etc/info/labels", "app=\"vols\"\ntier=\"one\""),
        ("/etc/info/name", "vols"),
        ("/etc/info/mem", "64"),
        ("/etc/all/mode", "fast"),
        ("/etc/all/user", "admin"),
        ("/etc/all/namespace", "default"),
    ] {
        let o = d.exec("vols", "app", &["cat", path]);
        assert_eq!(stdout(&o), want, "{path}: {}", stderr(&o));
    }
    let sh = |cmd: &str| stdout(&d.exec("vols", "app", &["sh", "-c", cmd]));
    assert_eq!(sh("echo $MEM_MB"), "64\n");
    // The atomic writer's layout, and the modes through the links.
    assert_eq!(sh("readlink /etc/cfg/mode"), "..data/mode\n");
    assert!(
        sh("readlink /etc/cfg/..data").starts_with(".."),
        "{}",
        sh("ls -la /etc/cfg")
    );
    assert_eq!(
        sh("stat -L -c %a /etc/cfg/mode /etc/cfg/conf/level /etc/sec/password /etc/all/user"),
        "644\n600\n400\n644\n"
    );
    // Read-only, and the Secret's (and the projected volume's) files in memory only.
    assert_eq!(
        sh("touch /etc/cfg/x 2>/dev/null || echo refused"),
        "refused\n"
    );
    let fs = sh("awk '$2 == \"/etc/sec\" || $2 == \"/etc/all\" || $2 == \"/etc/cfg\" {print $2, $3}' /proc/mounts | sort");
    assert!(
        fs.contains("/etc/all tmpfs\n") && fs.contains("/etc/sec tmpfs\n"),
        "{fs}"
    );
    assert!(!fs.contains("/etc/cfg tmpfs"), "{fs}");

    // Updates propagate, but never to a subPath mount.
    d.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {mode: slow, LOG_LEVEL: debug}\n");
    let took = wait_file(&d, "/etc/cfg/mode", "slow");
    eprintln!("configMap update reached the volume after {took:?}");
    wait_file(&d, "/etc/all/mode", "slow");
    assert_eq!(
        stdout(&d.exec("vols", "app", &["cat", "/etc/mode-sub"])),
        "fast"
    );
    d.apply(&VOLUME_POD.replace("tier: one", "tier: two"));
    let took = wait_file(&d, "/etc/info/labels", "app=\"vols\"\ntier=\"two\"");
    eprintln!("label change reached the volume after {took:?}");
}

/// A pod before its Namespace in a file: applied in a dependable order.
const IN_A_NAMESPACE: &str = "apiVersion: v1
kind: Pod
metadata: {name: app, namespace: elastic-stack}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/busybox:1
    command: [sh, -c, 'cat /etc/cfg/level; echo; sleep 3600']
    volumeMounts: [{name: cfg, mountPath: /etc/cfg}]
  volumes: [{name: cfg, configMap: {name: app-config}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: elastic-stack}
data: {level: debug}
---
apiVersion: v1
kind: Namespace
metadata: {name: elastic-stack}
";

/// Item 1, Namespaces: the four every cluster has; a file applied Namespaces first whatever its
/// order; get and describe as kubectl shows them; nothing created in a namespace that does not
/// exist or is being deleted (NamespaceLifecycle's words), `default` never deleted; a deletion
/// `Terminating` until its pods are gone, then everything in it gone.
#[test]
fn namespaces_hold_their_objects_and_go_with_them() {
    let Some(d) = Daemon::start() else { return };
    assert_eq!(
        d.apply(IN_A_NAMESPACE),
        "namespace/elastic-stack created\nconfigmap/app-config created\npod/app created\n"
    );
    let listed = d.ok(&["get", "namespaces"]);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["NAME", "STATUS"],
            vec!["default", "Active"],
            vec!["elastic-stack", "Active"],
            vec!["kube-node-lease", "Active"],
            vec!["kube-public", "Active"],
            vec!["kube-system", "Active"]
        ],
        "{listed}"
    );
    let text = d.ok(&["describe", "ns", "elastic-stack"]);
    assert!(
        text.starts_with("Name:         elastic-stack\nLabels:       kubernetes.io/metadata.name=elastic-stack\nAnnotations:  <none>\nStatus:       Active\n"),
        "{text}"
    );
    assert_eq!(
        d.apply(IN_A_NAMESPACE),
        "namespace/elastic-stack unchanged\nconfigmap/app-config unchanged\npod/app unchanged\n"
    );
    let o = d.apply_output(&VOLUME_POD.replace("name: vols,", "name: vols, namespace: nowhere,"));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("namespaces \"nowhere\" not found"),
        "{}",
        stderr(&o)
    );
    let o = d.run(&["delete", "namespace", "default"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o)
            .contains("namespaces \"default\" is forbidden: this namespace may not be deleted"),
        "{}",
        stderr(&o)
    );
    // Running, its volume from the ConfigMap of its own namespace.
    let t = std::time::Instant::now();
    while stdout(&d.run(&["logs", "app", "-n", "elastic-stack"])) != "debug\n" {
        let o = d.run(&["logs", "app", "-n", "elastic-stack"]);
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{:?} {:?} {}",
            stdout(&o),
            stderr(&o),
            d.ok(&["describe", "pod", "app", "-n", "elastic-stack"])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        d.ok(&["delete", "ns", "elastic-stack", "--wait=false"]),
        "namespace \"elastic-stack\" deleted\n"
    );
    let row = d.ok(&["get", "ns", "elastic-stack"]);
    assert!(
        row.lines()
            .nth(1)
            .is_some_and(|l| l.contains("Terminating")),
        "{row}"
    );
    let o = d.apply_output(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: elastic-stack}\n",
    );
    assert!(
        stderr(&o).contains("configmaps \"late\" is forbidden: unable to create new content in namespace elastic-stack because it is being terminated"),
        "{}",
        stderr(&o)
    );
    // `delete` waits, as kubectl's does, until the namespace is gone.
    d.ok(&["delete", "ns", "elastic-stack"]);
    let o = d.run(&["get", "ns", "elastic-stack"]);
    assert!(
        stderr(&o).contains("namespaces \"elastic-stack\" not found"),
        "{}",
        stderr(&o)
    );
    for kind in ["pods", "configmaps"] {
        let o = d.run(&["get", kind, "-n", "elastic-stack"]);
        assert_eq!(stdout(&o), "", "{kind}: {}", stderr(&o));
    }
}

/// The seed notes' `app` pod as the apiserver returned it (less its resourceVersion), the two
/// images the busybox image's, before its Namespace in the file: its own `kube-api-access-…`
/// volume, which only `app` mounts, `nodeName`, tolerations and all.
const SEED_APP: &str = "apiVersion: v1
kind: Pod
metadata:
  creationTimestamp: \"2024-01-15T18:41:47Z\"
  labels:
    name: app
  name: app
  namespace: elastic-stack
  uid: d04c10b8-4601-4c65-bd65-989015caa711
spec:
  containers:
  - image: localhost/busybox:1
    imagePullPolicy: IfNotPresent
    name: app
    command: [sh, -c, 'while true; do date >> /log/app.log; sleep 1; done']
    resources: {}
    terminationMessagePath: /dev/termination-log
    terminationMessagePolicy: File
    volumeMounts:
    - mountPath: /log
      name: log-volume
    - mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      name: kube-api-access-h589q
      readOnly: true
  - name: sidecar
    image: localhost/busybox:1
    command: [sh, -c, 'tail -F /var/log/event-simulator/app.log']
    volumeMounts:
    - mountPath: /var/log/event-simulator/
      name: log-volume
  dnsPolicy: ClusterFirst
  enableServiceLinks: true
  nodeName: controlplane
  preemptionPolicy: PreemptLowerPriority
  priority: 0
  restartPolicy: Always
  schedulerName: default-scheduler
  securityContext: {}
  serviceAccount: default
  serviceAccountName: default
  terminationGracePeriodSeconds: 1
  tolerations:
  - effect: NoExecute
    key: node.kubernetes.io/not-ready
    operator: Exists
    tolerationSeconds: 300
  - effect: NoExecute
    key: node.kubernetes.io/unreachable
    operator: Exists
    tolerationSeconds: 300
  volumes:
  - emptyDir: {}
    name: log-volume
  - name: kube-api-access-h589q
    projected:
      defaultMode: 420
      sources:
      - serviceAccountToken:
          expirationSeconds: 3607
          path: token
      - configMap:
          items:
          - key: ca.crt
            path: ca.crt
          name: kube-root-ca.crt
      - downwardAPI:
          items:
          - fieldRef:
              apiVersion: v1
              fieldPath: metadata.namespace
            path: namespace
---
apiVersion: v1
kind: Namespace
metadata: {name: elastic-stack}
";

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or_default()
}

fn in_pod(d: &Daemon, ns: &str, pod: &str, c: &str, cmd: &[&str]) -> std::process::Output {
    let mut args = vec!["exec", "-n", ns, pod, "-c", c, "--"];
    args.extend_from_slice(cmd);
    d.run(&args)
}

fn wait_ready_in(d: &Daemon, ns: &str, pod: &str) -> serde_json::Value {
    let t = std::time::Instant::now();
    loop {
        let o = d.run(&["get", "pod", pod, "-n", ns, "-o", "json"]);
        let p: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        if condition(&p, "Ready").0 == "True" {
            return p;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{ns}/{pod} never ready: {}",
            d.run(&["describe", "pod", pod, "-n", ns])
                .stdout
                .escape_ascii()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Item 5 and the issue's "done when": every namespace has its `default` ServiceAccount and
/// `kube-root-ca.crt`; the ServiceAccount admission names a pod's account and mounts the
/// `kube-api-access-…` volume (the pod's own when it has one) in every container; the token is
/// the node's, bound to the pod and its account; a missing account is refused in the
/// apiserver's words; `automountServiceAccountToken: false` mounts nothing.
#[test]
fn service_accounts_and_their_tokens_in_every_container() {
    let Some(d) = Daemon::start() else { return };
    assert_eq!(
        d.apply(SEED_APP),
        "namespace/elastic-stack created\npod/app created\n"
    );
    let p = wait_ready_in(&d, "elastic-stack", "app");
    let uid = p["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_ne!(
        uid, "d04c10b8-4601-4c65-bd65-989015caa711",
        "a create gets its own uid"
    );
    let vols: Vec<&str> = p["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(vols, ["log-volume", "kube-api-access-h589q"]);
    let ca = d.ok(&[
        "get",
        "configmap",
        "kube-root-ca.crt",
        "-n",
        "elastic-stack",
        "-o",
        "json",
    ]);
    let ca: serde_json::Value = serde_json::from_str(&ca).unwrap();
    let ca = ca["data"]["ca.crt"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    for c in ["app", "sidecar"] {
        let read = |f: &str| {
            stdout(&in_pod(
                &d,
                "elastic-stack",
                "app",
                c,
                &["cat", &format!("{SA_DIR}/{f}")],
            ))
        };
        assert_eq!(read("namespace"), "elastic-stack", "{c}");
        assert_eq!(read("ca.crt"), ca, "{c}");
        let claims = claims_of(&read("token"));
        assert_eq!(
            claims["sub"], "system:serviceaccount:elastic-stack:default",
            "{c}"
        );
        assert_eq!(claims["kubernetes.io"]["pod"]["uid"], uid.as_str(), "{c}");
        assert_eq!(claims["kubernetes.io"]["pod"]["name"], "app", "{c}");
        let o = in_pod(
            &d,
            "elastic-stack",
            "app",
            c,
            &["touch", &format!("{SA_DIR}/x")],
        );
        assert!(!o.status.success(), "{c}: the token volume is read-only");
    }
    assert_eq!(
        d.apply(SEED_APP),
        "namespace/elastic-stack unchanged\npod/app unchanged\n"
    );
    let listed = d.ok(&["get", "serviceaccounts", "-n", "elastic-stack"]);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split_whitespace().take(2).collect())
        .collect();
    assert_eq!(
        rows,
        [vec!["NAME", "SECRETS"], vec!["default", "0"]],
        "{listed}"
    );
    let text = d.ok(&["describe", "sa", "default", "-n", "elastic-stack"]);
    assert!(
        text.starts_with("Name:                default\nNamespace:           elastic-stack\n"),
        "{text}"
    );
}

/// Item 5: the controllers keep what they put in a namespace — `kube-root-ca.crt` deleted or
/// replaced is made again with the cluster CA (the root-CA publisher), a deleted `default`
/// account is made again (the service-account controller); nothing is restored in a namespace
/// being deleted.
#[test]
fn the_controllers_restore_the_ca_and_the_default_account() {
    let Some(d) = Daemon::start() else { return };
    let ca = |d: &Daemon| -> String {
        let cm: serde_json::Value =
            serde_json::from_str(&d.ok(&["get", "configmap", "kube-root-ca.crt", "-o", "json"]))
                .expect("json");
        cm["data"]["ca.crt"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = ca(&d);
    assert!(
        before.starts_with("-----BEGIN CERTIFICATE-----"),
        "{before}"
    );
    d.ok(&["delete", "configmap", "kube-root-ca.crt"]);
    assert_eq!(ca(&d), before, "made again at once");
    d.apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-root-ca.crt}\ndata: {ca.crt: mine}\n");
    assert_eq!(ca(&d), before, "put back as it was");
    d.ok(&["delete", "serviceaccount", "default"]);
    let listed = d.ok(&["get", "serviceaccounts", "-o", "name"]);
    assert_eq!(listed, "serviceaccount/default\n");
}

/// Item 5: an account applied and named is the token's subject; one that does not exist is
/// refused in the admission's words; `automountServiceAccountToken: false` mounts nothing.
#[test]
fn accounts_named_missing_or_not_mounted() {
    let Some(d) = Daemon::start() else { return };
    let pods = "apiVersion: v1
kind: ServiceAccount
metadata: {name: builder}
---
apiVersion: v1
kind: Pod
metadata: {name: built}
spec:
  serviceAccountName: builder
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:1, command: [sleep, '3600']}]
---
apiVersion: v1
kind: Pod
metadata: {name: bare}
spec:
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 1
  containers: [{name: c, image: localhost/busybox:1, command: [sleep, '3600']}]
";
    assert_eq!(
        d.apply(pods),
        "serviceaccount/builder created\npod/built created\npod/bare created\n"
    );
    wait_ready_in(&d, "default", "built");
    let token = stdout(&in_pod(
        &d,
        "default",
        "built",
        "c",
        &["cat", &format!("{SA_DIR}/token")],
    ));
    assert_eq!(
        claims_of(&token)["sub"],
        "system:serviceaccount:default:builder"
    );
    wait_ready_in(&d, "default", "bare");
    assert!(!in_pod(&d, "default", "bare", "c", &["ls", SA_DIR])
        .status
        .success());
    let o = d.apply_output(&VOLUME_POD.replace("spec:\n", "spec:\n  serviceAccountName: nobody\n"));
    assert!(
        stderr(&o).contains("pods \"vols\" is forbidden: error looking up service account default/nobody: serviceaccount \"nobody\" not found"),
        "{}",
        stderr(&o)
    );
}
