//! Registry pulls against a real registry (Debian's `docker-registry`) on 127.0.0.1, holding an
//! image pushed by `skopeo`: `image pull` with progress, and kubelet's pull when a pod starts
//! (spec §2.3 step 1: Pulling / Pulled events; a failure is ErrImagePull, then ImagePullBackOff).

mod common;
use common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A registry on a free loopback port, stopped (and its storage removed) on drop.
struct Registry {
    /// The registry's storage, removed with it.
    _dir: tempfile::TempDir,
    child: Child,
    addr: String,
}

impl Registry {
    fn start() -> Registry {
        Registry::start_with_auth(None)
    }

    /// With `Some((user, password))` the registry takes only those (htpasswd, bcrypt).
    fn start_with_auth(auth: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = dir.path().join("config.yml");
        let mut yaml = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {}}}}}\nhttp: {{addr: {addr}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = auth {
            let o = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (Debian package apache2-utils)");
            assert!(o.status.success(), "{}", stderr(&o));
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &o.stdout).unwrap();
            yaml.push_str(&format!(
                "auth: {{htpasswd: {{realm: beluga-test, path: {}}}}}\n",
                file.display()
            ));
        }
        std::fs::write(&config, yaml).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry)");
        // Ready once it accepts connections.
        let t = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "registry did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Registry {
            _dir: dir,
            child,
            addr,
        }
    }

    /// Pushes a `docker save` archive to `name` here with skopeo (as `creds` when given).
    fn push(&self, archive: &std::path::Path, name: &str) {
        self.push_as(archive, name, None)
    }

    fn push_as(&self, archive: &std::path::Path, name: &str, creds: Option<&str>) {
        let mut c = Command::new("skopeo");
        if let Some(creds) = creds {
            c.arg("copy").arg(format!("--dest-creds={creds}"));
        } else {
            c.arg("copy");
        }
        let o = c
            .args(["--quiet", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", archive.display()))
            .arg(format!("docker://{}/{name}", self.addr))
            .output()
            .expect("skopeo (Debian package skopeo)");
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[allow(clippy::too_many_lines)] // one scenario, step by step
fn pull_by_command_and_on_pod_start() {
    let Some(d) = Daemon::start() else { return };
    let reg = Registry::start();
    let archive = docker_archive(
        &d.root.path().join("archive"),
        serde_json::json!({"Cmd": ["sh", "-c", "echo from the registry; sleep 3600"]}),
        "busybox:reg",
    );
    reg.push(&archive, "busybox:1");
    reg.push(&archive, "busybox:2");
    reg.push(&archive, "busybox:3");
    let image = format!("{}/busybox:1", reg.addr);

    // `image pull`: progress on stderr, the reference and ID on stdout; a second pull finds the
    // layer present.
    let o = d.run(&["image", "pull", &image]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with(&format!("{image} sha256:")),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains(&format!("Pulling {image}")) && stderr(&o).contains("done"),
        "{}",
        stderr(&o)
    );
    assert!(d
        .ok(&["image", "ls"])
        .contains(&format!("{}/busybox", reg.addr)));
    let o = d.run(&["image", "pull", &image]);
    assert!(
        o.status.success() && stderr(&o).contains("already present"),
        "{}",
        stderr(&o)
    );

    // A missing tag: the registry's words, exit status 1, nothing stored.
    let missing = format!("{}/busybox:nope", reg.addr);
    let o = d.run(&["image", "pull", &missing]);
    assert!(
        !o.status.success() && stderr(&o).contains("manifest unknown"),
        "{}",
        stderr(&o)
    );
    assert!(!d.ok(&["image", "ls"]).contains("nope"));
    // localhost/ images are made here, never pulled.
    let o = d.run(&["image", "pull", "localhost/absent:1"]);
    assert!(
        !o.status.success() && stderr(&o).contains("localhost/ images are added with"),
        "{}",
        stderr(&o)
    );

    // spec §2.3: a pod whose image is not in the store gets it pulled before the container is
    // created, with kubelet's Pulling and Pulled events, and runs the image's command.
    let on_start = format!("{}/busybox:2", reg.addr);
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: pulled}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: '{on_start}'}}]\n"
    ));
    d.wait_running("pulled");
    assert_eq!(d.logs("pulled", "c"), "from the registry\n");
    let messages = d.event_fields("Pulled", "/message");
    assert!(
        messages.iter().any(|m| m
            .starts_with(&format!("Successfully pulled image {on_start:?} in "))
            && !m.ends_with("Image size: 0 bytes.")),
        "{messages:?}"
    );
    // Its layer was already there (busybox:1's): the size still counts it.
    let ls = d.ok(&["image", "ls"]);
    let size_of = |tag: &str| {
        ls.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(tag) && l.contains(&reg.addr))
            .and_then(|l| l.split_whitespace().last().map(String::from))
    };
    assert_eq!(size_of("1"), size_of("2"), "{ls}");
    assert!(
        d.event_fields("Pulling", "/message")
            .contains(&format!("Pulling image {on_start:?}")),
        "{:?}",
        d.event_fields("Pulling", "/message")
    );

    // Two pods wanting one missing image at once: pulls go one at a time, so it is pulled once
    // and the second pod finds it present.
    let shared = format!("{}/busybox:3", reg.addr);
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: first}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: '{shared}'}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: second}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: '{shared}'}}]\n"
    ));
    d.wait_running("first");
    d.wait_running("second");
    let pulled = d.event_fields("Pulled", "/message");
    let of = |prefix: String| pulled.iter().filter(|m| m.starts_with(&prefix)).count();
    assert_eq!(
        (
            of(format!("Successfully pulled image {shared:?}")),
            of(format!("Container image {shared:?} already present"))
        ),
        (1, 1),
        "{pulled:?}"
    );

    // spec §2.3: `Always` pulls even an image the store has (busybox:1 was pulled above).
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: always}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: '{image}', imagePullPolicy: Always}}]\n"
    ));
    d.wait_running("always");
    assert!(
        d.event_fields("Pulled", "/message")
            .iter()
            .any(|m| m.starts_with(&format!("Successfully pulled image {image:?} in "))),
        "{:?}",
        d.event_fields("Pulled", "/message")
    );

    // A tag the registry does not have: ErrImagePull with its words, then ImagePullBackOff.
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: nope}}\nspec:\n  containers: [{{name: c, image: '{missing}'}}]\n"
    ));
    let p = d.wait_pod("nope", Duration::from_secs(30), "ErrImagePull", |p| {
        status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"] == "ErrImagePull"
    });
    let msg = status_of(&p, "containerStatuses", "c")["state"]["waiting"]["message"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(msg.contains("manifest unknown"), "{msg}");
    d.wait_pod("nope", Duration::from_secs(30), "ImagePullBackOff", |p| {
        status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"] == "ImagePullBackOff"
    });
    d.ok(&["delete", "pods", "--all"]);
}

// Credentials come from docker-style config files, as kubelet's node credentials do: without
// them the registry refuses the pull; with `<root>/config.json` naming it, the pull succeeds.
#[test]
fn pull_with_credentials_from_config_json() {
    let Some(d) = Daemon::start() else { return };
    let reg = Registry::start_with_auth(Some(("beluga", "s3cret")));
    let archive = docker_archive(
        &d.root.path().join("archive"),
        serde_json::json!({"Cmd": ["true"]}),
        "busybox:auth",
    );
    reg.push_as(&archive, "private:1", Some("beluga:s3cret"));
    let image = format!("{}/private:1", reg.addr);
    let o = d.run(&["image", "pull", &image]);
    assert!(
        !o.status.success()
            && stderr(&o).contains(&format!("failed to pull image {image:?}: Not authorized")),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        d.state_dir().join("config.json"),
        serde_json::json!({"auths": {(reg.addr.clone()): {"username": "beluga", "password": "s3cret"}}}).to_string(),
    )
    .unwrap();
    let o = d.run(&["image", "pull", &image]);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// One HTTP/1.1 request to the registry: (status, Location header).
fn http(addr: &str, method: &str, path: &str, kind: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let location = out
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("location"))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, location)
}

/// Pushes a blob by the registry's monolithic upload (POST, then PUT with the digest).
fn push_blob(addr: &str, name: &str, data: &[u8]) -> String {
    let digest = format!("sha256:{}", sha256(data));
    let (status, location) = http(
        addr,
        "POST",
        &format!("/v2/{name}/blobs/uploads/"),
        "application/octet-stream",
        b"",
    );
    assert_eq!(status, 202, "upload start");
    let path = location
        .split_once(addr)
        .map(|(_, p)| p.to_string())
        .unwrap_or(location);
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, _) = http(
        addr,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        "application/octet-stream",
        data,
    );
    assert_eq!(status, 201, "blob upload");
    digest
}

// Attack report 3.13 (critical): a registry serving an image whose config lists a diff ID that
// is a path (`sha256:../../…/etc`) made the pull take the host's /etc for a layer "already
// present" without fetching anything. The pull is refused now, by command and by a pod.
#[test]
fn a_registry_cannot_name_host_paths_as_layers() {
    let Some(d) = Daemon::start() else { return };
    let reg = Registry::start();
    let dir = d.root.path().join("evil");
    std::fs::create_dir_all(&dir).unwrap();
    let layer_path = dir.join("layer.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(rootfs())
        .arg("-cf")
        .arg(&layer_path)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let layer = std::fs::read(&layer_path).unwrap();
    let diff = format!("sha256:{}", sha256(&layer));
    let escape = format!("sha256:{}etc", "../".repeat(12));
    let config = serde_json::to_vec(
        &serde_json::json!({"architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff, escape]}}),
    )
    .unwrap();
    let layer_digest = push_blob(&reg.addr, "evil", &layer);
    let config_digest = push_blob(&reg.addr, "evil", &config);
    let layer_desc = serde_json::json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar", "size": layer.len(), "digest": layer_digest});
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": config.len(), "digest": config_digest},
        "layers": [layer_desc, layer_desc]})).unwrap();
    let (status, _) = http(
        &reg.addr,
        "PUT",
        "/v2/evil/manifests/1",
        "application/vnd.docker.distribution.manifest.v2+json",
        &manifest,
    );
    assert_eq!(status, 201, "manifest upload");
    let image = format!("{}/evil:1", reg.addr);
    let o = d.run(&["image", "pull", &image]);
    assert!(!o.status.success(), "{}", stdout(&o));
    assert!(stderr(&o).contains("invalid diff ID"), "{}", stderr(&o));
    assert!(!d.ok(&["image", "ls"]).contains("evil"));
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: evil}}\nspec:\n  containers: [{{name: c, image: '{image}', command: [cat, /shadow]}}]\n"
    ));
    let p = d.wait_pod("evil", Duration::from_secs(30), "ErrImagePull", |p| {
        status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"] == "ErrImagePull"
    });
    let msg = status_of(&p, "containerStatuses", "c")["state"]["waiting"]["message"].to_string();
    assert!(msg.contains("invalid diff ID"), "{msg}");
}

// Issue 16 item 6: a pod's `imagePullSecrets` (a `kubernetes.io/dockerconfigjson` Secret, or
// its ServiceAccount's) carry the registry's credentials for its pull, with no node
// credentials at all; a pull secret that does not exist is kubelet's
// `FailedToRetrieveImagePullSecret` warning, and the pull goes ahead (refused here).
#[test]
fn pods_pull_with_their_image_pull_secrets() {
    let Some(d) = Daemon::start() else { return };
    let reg = Registry::start_with_auth(Some(("beluga", "s3cret")));
    let archive = docker_archive(
        &d.root.path().join("archive"),
        serde_json::json!({"Cmd": ["sleep", "3600"]}),
        "busybox:auth",
    );
    // A tag for each pod, so that each one pulls (a present image is not pulled again).
    for tag in ["private:1", "private:2", "private:3"] {
        reg.push_as(&archive, tag, Some("beluga:s3cret"));
    }
    let config =
        serde_json::json!({"auths": {(reg.addr.clone()): {"auth": "YmVsdWdhOnMzY3JldA=="}}});
    let pod = |name: &str, tag: u8, spec: &str| {
        let image = format!("{}/private:{tag}", reg.addr);
        format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec}  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: '{image}'}}]\n")
    };
    let file = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{config}'\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: puller}}\nimagePullSecrets: [{{name: regcred}}]\n{}{}{}",
        pod("own", 1, "  imagePullSecrets: [{name: regcred}]\n"),
        pod("by-account", 2, "  serviceAccountName: puller\n"),
        pod("missing", 3, "  imagePullSecrets: [{name: nowhere}]\n"),
    );
    d.apply(&file);
    d.wait_running("own");
    let p = d.wait_running("by-account");
    assert_eq!(
        p["spec"]["imagePullSecrets"],
        serde_json::json!([{"name": "regcred"}])
    );
    let t = std::time::Instant::now();
    while !d
        .event_fields("FailedToRetrieveImagePullSecret", "/message")
        .iter()
        .any(|m| m == "Unable to retrieve some image pull secrets (nowhere); attempting to pull the image may not succeed.")
    {
        assert!(t.elapsed() < Duration::from_secs(20), "no warning: {}", d.ok(&["get", "events"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    d.wait_pod("missing", Duration::from_secs(20), "a refused pull", |p| {
        let w = &status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"];
        w == "ErrImagePull" || w == "ImagePullBackOff"
    });
}
