//! Pods on real containers: init ordering and failure (spec §3, §13.1), sharing and isolation
//! (§11.3), status and `-o json` (§8), restart policy (§5.2), termination message (§8.3),
//! volumes (§11.1–§11.2), logs and exec.

mod common;
use beluga_api::builder::{ctr, PodBuilder};
use common::*;
use std::time::Duration;

const MARK: &str = "read up _ < /proc/uptime; echo \"$up $NAME";

/// A pod `p` whose init containers and `run1` each run a script, sharing `/shared`.
fn init_pod(policy: &str, inits: &[(&str, &str)], app: &str) -> String {
    let step = |name: &str, script: &str| {
        ctr(name, IMAGE)
            .env("NAME", name)
            .mount("shared", "/shared")
            .command(["sh", "-c", script])
    };
    let mut pod = PodBuilder::new("p")
        .restart_policy(policy)
        .empty_dir("shared");
    for (name, script) in inits {
        pod = pod.init(step(name, script));
    }
    let pod = pod.container(step("run1", app)).build();
    serde_json::to_string(&pod).expect("a pod serializes")
}

// spec §3.1 "Sequential", [e2e] I1/L14: each init container runs after the previous exited 0,
// the app after all; Never + all exit 0 → Succeeded; statuses as §3.1 "Success status".
#[test]
fn init_containers_run_in_order_then_pod_succeeds() {
    let Some(d) = Daemon::start() else { return };
    let step = format!("{MARK} start\" >> /shared/log; sleep 0.3; {MARK} end\" >> /shared/log");
    let yaml = init_pod(
        "Never",
        &[("init1", &step), ("init2", &step), ("init3", &step)],
        &format!("{MARK} start\" >> /shared/log; cat /shared/log"),
    );
    d.apply(&yaml);
    let p = d.wait_phase("p", "Succeeded", Duration::from_secs(30));
    let log = order_log(&d.logs("p", "run1"));
    let order: Vec<String> = log.iter().map(|(_, n, e)| format!("{n}:{e}")).collect();
    assert_eq!(
        order,
        [
            "init1:start",
            "init1:end",
            "init2:start",
            "init2:end",
            "init3:start",
            "init3:end",
            "run1:start"
        ]
    );
    for i in ["init1", "init2", "init3"] {
        let s = status_of(&p, "initContainerStatuses", i);
        assert_eq!(
            (s["ready"].as_bool(), s["started"].as_bool()),
            (Some(true), Some(false)),
            "{i}"
        );
        assert_eq!(s["state"]["terminated"]["exitCode"], 0);
        assert_eq!(s["state"]["terminated"]["reason"], "Completed");
    }
    assert_eq!(condition(&p, "Initialized").0, "True");
    assert_eq!(&d.row("p")[1..3], ["0/1", "Completed"]);
}

// [e2e] I4: restartPolicy Never, init2 fails → Failed, Initialized False with init2 named,
// run1 never starts and stays Waiting{PodInitializing}; kubectl shows Init:Error.
#[test]
fn failed_init_container_fails_never_pod() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&init_pod(
        "Never",
        &[("init1", "true"), ("init2", "exit 1")],
        "true",
    ));
    let p = d.wait_phase("p", "Failed", Duration::from_secs(30));
    assert_eq!(
        condition(&p, "Initialized"),
        (
            "False".into(),
            "ContainersNotInitialized".into(),
            "containers with incomplete status: [init2]".into()
        )
    );
    let run1 = status_of(&p, "containerStatuses", "run1");
    assert_eq!(run1["state"]["waiting"]["reason"], "PodInitializing");
    assert_eq!(run1["restartCount"], 0);
    assert_eq!(
        status_of(&p, "initContainerStatuses", "init2")["state"]["terminated"]["exitCode"],
        1
    );
    assert_eq!(d.row("p")[2], "Init:Error");
    assert!(
        !d.state_dir()
            .join("pods")
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.path().join("run1").exists()),
        "run1 must never have run"
    );
}

// [e2e] I3: restartPolicy Always, init1 fails → restarted with back-off, pod Pending, app waits.
#[test]
fn failed_init_container_is_retried_under_always() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&init_pod(
        "Always",
        &[("init1", "exit 1"), ("init2", "true")],
        "sleep 3600",
    ));
    let p = d.wait_pod("p", Duration::from_secs(30), "init1 restarted twice", |p| {
        status_of(p, "initContainerStatuses", "init1")["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 2
    });
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(
        condition(&p, "Initialized"),
        (
            "False".into(),
            "ContainersNotInitialized".into(),
            "containers with incomplete status: [init1 init2]".into()
        )
    );
    assert_eq!(
        status_of(&p, "containerStatuses", "run1")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert_eq!(
        status_of(&p, "initContainerStatuses", "init2")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    // Read apart from `p`: between two exits init1 may be running again (on crun a restart is
    // quick enough to be seen), which kubectl shows as Init:0/2.
    let status = d.row("p")[2].clone();
    assert!(
        ["Init:Error", "Init:CrashLoopBackOff", "Init:0/2"].contains(&status.as_str()),
        "{status}"
    );
}

const TWO: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: duo}
spec:
  volumes: [{name: shared, emptyDir: {}}]
  containers:
  - name: a
    image: localhost/busybox:1
    command: [sh, -c, "echo only-in-a > /private; echo from-a > /shared/note; mkdir /www; echo served-by-a > /www/index.html; exec httpd -f -p 8080 -h /www"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  - name: b
    image: localhost/busybox:1
    command: [sleep, "3600"]
    volumeMounts: [{name: shared, mountPath: /data}]
"#;

// spec §11.3: network, UTS (hostname) and volumes shared; PID and mount namespaces private.
#[test]
fn containers_share_localhost_and_volumes_but_not_processes_or_files() {
    let Some(d) = Daemon::start() else { return };
    d.apply(TWO);
    d.wait_running("duo");
    assert_eq!(
        stdout(&d.exec("duo", "b", &["wget", "-qO-", "http://localhost:8080/"])),
        "served-by-a\n"
    );
    assert_eq!(
        stdout(&d.exec("duo", "b", &["cat", "/data/note"])),
        "from-a\n"
    );
    // IPC is shared: a POSIX message queue made in one container is seen in the other.
    assert!(d
        .exec("duo", "a", &["touch", "/dev/mqueue/q"])
        .status
        .success());
    assert_eq!(stdout(&d.exec("duo", "b", &["ls", "/dev/mqueue"])), "q\n");
    let o = d.exec("duo", "b", &["cat", "/private"]);
    assert!(!o.status.success(), "b must not see a's root filesystem");
    let ps = stdout(&d.exec("duo", "a", &["ps", "-o", "pid,args"]));
    assert!(
        ps.contains("1 httpd") && !ps.contains("sleep"),
        "a sees only its own processes:\n{ps}"
    );
    for c in ["a", "b"] {
        assert_eq!(stdout(&d.exec("duo", c, &["hostname"])), "duo\n");
        let hosts = stdout(&d.exec("duo", c, &["cat", "/etc/hosts"]));
        assert!(
            hosts.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
                && hosts.contains("\tduo\n"),
            "{hosts}"
        );
        let ping = stdout(&d.exec("duo", c, &["ping", "-c", "1", "-W", "2", "duo"]));
        assert!(ping.contains("1 packets received"), "{ping}");
    }
}

// spec §8: `get -o json` is a real v1 Pod with the status fields of §8.3 and §8.2's conditions.
#[test]
fn get_json_is_a_v1_pod_with_full_status() {
    let Some(d) = Daemon::start() else { return };
    d.apply(TWO);
    d.wait_running("duo");
    let v = d.pod("duo");
    let pod: beluga_api::Pod = serde_json::from_value(v.clone()).expect("a v1 Pod");
    assert_eq!(
        (v["apiVersion"].as_str(), v["kind"].as_str()),
        (Some("v1"), Some("Pod"))
    );
    assert!(pod.metadata.uid.is_some() && pod.metadata.creation_timestamp.is_some());
    let st = pod.status.expect("status");
    assert_eq!(st.phase.as_deref(), Some("Running"));
    let types: Vec<String> = st
        .conditions
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c.type_, c.status))
        .collect();
    assert_eq!(
        types,
        [
            "PodReadyToStartContainers=True",
            "Initialized=True",
            "Ready=True",
            "ContainersReady=True",
            "PodScheduled=True"
        ]
    );
    for cs in st.container_statuses.unwrap() {
        assert!(
            cs.container_id
                .as_deref()
                .is_some_and(|id| id.starts_with("runc://") || id.starts_with("crun://")),
            "{cs:?}"
        );
        assert!(cs.image_id.starts_with("sha256:"));
        assert_eq!(cs.image, IMAGE);
        assert!(cs.ready && cs.started == Some(true) && cs.restart_count == 0);
        assert!(cs.state.unwrap().running.unwrap().started_at.is_some());
    }
    let list: serde_json::Value =
        serde_json::from_str(&d.ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(d.ok(&["get", "pods", "-o", "name"]), "pod/duo\n");
    let yaml = d.ok(&["get", "pod", "duo", "-o", "yaml"]);
    assert!(
        yaml.contains("kind: Pod") && yaml.contains("phase: Running"),
        "{yaml}"
    );
    // The IP column shows the pod's address from its network (issue 14 item 2).
    let wide = d.ok(&["get", "pods", "-o", "wide"]);
    let ip = v["status"]["podIP"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        wide.starts_with("NAME   READY   STATUS    RESTARTS   AGE   IP ")
            && !ip.is_empty()
            && wide.contains(&format!("   {ip}   ")),
        "{wide}"
    );
}

// spec §5.2 + §8.1 + §9.3: Never/OnFailure/Always outcomes through the CLI.
#[test]
fn restart_policies() {
    let Some(d) = Daemon::start() else { return };
    let pod = |name: &str, policy: &str, script: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, '{script}']}}]\n")
    };
    d.apply(&pod("ok", "Never", "exit 0"));
    d.apply(&pod("bad", "Never", "exit 3"));
    d.apply(&pod("retry", "OnFailure", "exit 1"));
    d.apply(&pod("again", "Always", "exit 0"));
    d.wait_phase("ok", "Succeeded", Duration::from_secs(20));
    let bad = d.wait_phase("bad", "Failed", Duration::from_secs(20));
    assert_eq!(
        status_of(&bad, "containerStatuses", "c")["state"]["terminated"]["exitCode"],
        3
    );
    assert_eq!(d.row("ok")[2], "Completed");
    assert_eq!(d.row("bad")[2], "Error");
    // OnFailure and Always both restart (the first restart immediately, then with back-off).
    for name in ["retry", "again"] {
        let p = d.wait_pod(name, Duration::from_secs(30), "2 restarts", |p| {
            status_of(p, "containerStatuses", "c")["restartCount"]
                .as_i64()
                .unwrap_or(0)
                >= 2
        });
        assert_eq!(p["status"]["phase"], "Running", "{name}");
        let cs = status_of(&p, "containerStatuses", "c");
        assert!(cs["lastState"]["terminated"]["exitCode"].is_i64(), "{cs}");
    }
}

// spec §8.3 / §2.3.8: the termination message file, and FallbackToLogsOnError.
#[test]
fn termination_messages() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: msg}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: file, image: {IMAGE}, command: [sh, -c, 'printf bye > /dev/termination-log']}}\n  - {{name: logs, image: {IMAGE}, terminationMessagePolicy: FallbackToLogsOnError, command: [sh, -c, 'echo first; echo last words; exit 2']}}\n  - {{name: custom, image: {IMAGE}, terminationMessagePath: /tmp/why, command: [sh, -c, 'echo custom > /tmp/why']}}\n"
    ));
    let p = d.wait_phase("msg", "Failed", Duration::from_secs(20));
    assert_eq!(
        status_of(&p, "containerStatuses", "file")["state"]["terminated"]["message"],
        "bye"
    );
    assert_eq!(
        status_of(&p, "containerStatuses", "logs")["state"]["terminated"]["message"],
        "first\nlast words\n"
    );
    assert_eq!(
        status_of(&p, "containerStatuses", "custom")["state"]["terminated"]["message"],
        "custom\n"
    );
}

// spec §11.1–§11.2: hostPath types, readOnly, subPath, emptyDir on tmpfs with sizeLimit.
#[test]
fn volumes() {
    let Some(d) = Daemon::start() else { return };
    let host = d.root.path().join("host-data");
    let h = host.to_str().unwrap();
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: vols}}
spec:
  volumes:
  - {{name: hp, hostPath: {{path: {h}, type: DirectoryOrCreate}}}}
  - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 8Mi}}}}
  containers:
  - name: c
    image: {IMAGE}
    command: [sh, -c, "echo written > /host/out; sleep 3600"]
    volumeMounts:
    - {{name: hp, mountPath: /host}}
    - {{name: hp, mountPath: /ro, readOnly: true}}
    - {{name: hp, mountPath: /sub, subPath: nested/dir}}
    - {{name: mem, mountPath: /mem}}
"#
    ));
    d.wait_running("vols");
    assert_eq!(
        std::fs::read_to_string(host.join("out")).unwrap(),
        "written\n"
    );
    assert!(
        !d.exec("vols", "c", &["touch", "/ro/x"]).status.success(),
        "readOnly mount must refuse writes"
    );
    assert!(d.exec("vols", "c", &["touch", "/sub/y"]).status.success());
    assert!(
        host.join("nested/dir/y").exists(),
        "subPath directory created inside the volume"
    );
    let mounts = stdout(&d.exec("vols", "c", &["cat", "/proc/mounts"]));
    let mem = mounts
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("/mem"))
        .unwrap_or_else(|| panic!("{mounts}"));
    assert!(
        mem.starts_with("tmpfs /mem tmpfs") && mem.contains("size=8192k"),
        "{mem}"
    );

    // A hostPath whose type check fails: FailedMount, and no container starts.
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: nofile}}\nspec:\n  volumes: [{{name: f, hostPath: {{path: {h}/missing, type: File}}}}]\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '60'], volumeMounts: [{{name: f, mountPath: /f}}]}}]\n"));
    std::thread::sleep(Duration::from_secs(2));
    let p = d.pod("nofile");
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(
        status_of(&p, "containerStatuses", "c")["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    let describe = d.ok(&["describe", "pod", "nofile"]);
    assert!(
        describe.contains("FailedMount") && describe.contains("is not a file"),
        "{describe}"
    );
}

// Logs: --tail, --timestamps, --previous, --all-containers, and kubelet's messages.
#[test]
fn logs_options() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: lg}}\nspec:\n  restartPolicy: OnFailure\n  containers:\n  - {{name: a, image: {IMAGE}, command: [sh, -c, 'echo one; echo two; echo three >&2; sleep 0.5; [ -f /tmp/x ] || exit 1']}}\n  - {{name: b, image: {IMAGE}, command: [sh, -c, 'echo bee; sleep 3600']}}\n"
    ));
    d.wait_pod("lg", Duration::from_secs(30), "a restarted", |p| {
        status_of(p, "containerStatuses", "a")["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    // stdout and stderr are separate pipes, so only the order within a stream is defined.
    let prev = d.ok(&["logs", "lg", "-c", "a", "-p"]);
    let mut lines: Vec<&str> = prev.lines().collect();
    assert!(
        prev.find("one").unwrap() < prev.find("two").unwrap(),
        "{prev}"
    );
    lines.sort();
    assert_eq!(lines, ["one", "three", "two"]);
    let last = d.ok(&["logs", "lg", "-c", "a", "-p", "--tail", "1"]);
    assert_eq!(last, format!("{}\n", prev.lines().last().unwrap()));
    let ts = d.ok(&["logs", "lg", "-c", "b", "--timestamps"]);
    let (stamp, rest) = ts.split_once(' ').unwrap();
    assert_eq!(rest, "bee\n");
    assert!(
        stamp
            .parse::<beluga_api::k8s_openapi::jiff::Timestamp>()
            .is_ok(),
        "{stamp}"
    );
    let all = d.ok(&["logs", "lg", "--all-containers", "--prefix"]);
    assert!(all.contains("[pod/lg/b] bee\n"), "{all}");
    let o = d.run(&["logs", "lg"]);
    assert!(!o.status.success());
    assert_eq!(stderr(&o).trim(), "Error from server (BadRequest): a container name must be specified for pod lg, choose one of: [a b]");
}

// exec: exit codes pass through, stdin with -i, container must exist.
#[test]
fn exec_passes_exit_code_and_stdin() {
    let Some(d) = Daemon::start() else { return };
    d.apply(TWO);
    d.wait_running("duo");
    let o = d.exec("duo", "b", &["sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(stdout(&o), "out\n");
    assert!(
        stderr(&o).contains("err\n") && stderr(&o).contains("command terminated with exit code 7")
    );
    let mut child = d
        .cmd(&["exec", "-i", "duo", "-c", "b", "--", "tr", "a-z", "A-Z"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"shout\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), "SHOUT\n");
    let o = d.exec("duo", "nope", &["true"]);
    assert!(
        !o.status.success() && stderr(&o).contains("container nope is not valid for pod duo"),
        "{}",
        stderr(&o)
    );
}

// spec §7.4–§7.6: delete sends SIGTERM; a container that handles it exits at once (Succeeded
// before removal), one that ignores it is killed when the grace period ends.
#[test]
fn delete_is_graceful() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: polite}}\nspec:\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, 'trap \"exit 0\" TERM; while true; do sleep 0.1; done']}}]\n"));
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: stubborn}}\nspec:\n  terminationGracePeriodSeconds: 3\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    d.wait_running("polite");
    d.wait_running("stubborn");
    let t = std::time::Instant::now();
    assert_eq!(
        d.ok(&["delete", "pod", "polite"]),
        "pod \"polite\" deleted\n"
    );
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "a TERM-handling container must not wait for the 30 s grace period"
    );
    let t = std::time::Instant::now();
    d.ok(&["delete", "pod", "stubborn"]);
    // PID 1 ignores SIGTERM: SIGKILL after the 3 s grace period.
    assert!(
        t.elapsed() >= Duration::from_secs(3),
        "killed before the grace period ended"
    );
    assert!(!d.run(&["get", "pod", "stubborn"]).status.success());
}

// spec §5.4: OOMKilled (a memory limit the process exceeds), StartError (exit 128, the command
// cannot be started; RunContainerError while waiting), InvalidImageName.
#[test]
fn oom_start_error_and_invalid_image_reasons() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: oom}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: {IMAGE}\n    resources: {{limits: {{memory: 16Mi}}}}\n    command: [sh, -c, 'x=$(head -c 200000000 /dev/zero | tr \"\\\\000\" a); echo survived']\n"
    ));
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: noexec}}\nspec:\n  restartPolicy: Never\n  containers: [{{name: c, image: {IMAGE}, command: [/no/such/binary]}}]\n"));
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: noexec-always}}\nspec:\n  containers: [{{name: c, image: {IMAGE}, command: [/no/such/binary]}}]\n"));
    d.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: badref}\nspec:\n  containers: [{name: c, image: 'Local/UPPER:1'}]\n");
    let p = d.wait_phase("oom", "Failed", Duration::from_secs(30));
    let t = &status_of(&p, "containerStatuses", "c")["state"]["terminated"];
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("OOMKilled"), Some(137)),
        "{t}"
    );
    assert_eq!(d.row("oom")[2], "OOMKilled");
    // A memory limit alone (requests defaulted to it, no cpu) is Burstable; nothing is BestEffort.
    assert_eq!(p["status"]["qosClass"], "Burstable");
    assert_eq!(
        p["spec"]["containers"][0]["resources"]["requests"]["memory"],
        "16Mi"
    );
    assert_eq!(d.pod("noexec")["status"]["qosClass"], "BestEffort");
    let p = d.wait_phase("noexec", "Failed", Duration::from_secs(30));
    let t = &status_of(&p, "containerStatuses", "c")["state"]["terminated"];
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("StartError"), Some(128)),
        "{t}"
    );
    // containerd's words with the runtime's own message, not its log line.
    assert!(
        t["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("OCI runtime create failed: ")
                && m.contains("no/such/binary")
                && !m.contains("level=")),
        "{t}"
    );
    let p = d.wait_pod(
        "noexec-always",
        Duration::from_secs(30),
        "restarted with back-off",
        |p| restarts_of(p) >= 1,
    );
    let c = status_of(&p, "containerStatuses", "c");
    let waiting = c["state"]["waiting"]["reason"].as_str().unwrap_or("");
    assert!(
        waiting == "RunContainerError" || waiting == "CrashLoopBackOff",
        "{c}"
    );
    assert_eq!(c["lastState"]["terminated"]["reason"], "StartError");
    let p = d.wait_pod("badref", Duration::from_secs(10), "InvalidImageName", |p| {
        status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"] == "InvalidImageName"
    });
    assert!(
        status_of(&p, "containerStatuses", "c")["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Failed to apply default image tag \"Local/UPPER:1\"")
    );
}

fn restarts_of(p: &serde_json::Value) -> i64 {
    status_of(p, "containerStatuses", "c")["restartCount"]
        .as_i64()
        .unwrap_or(0)
}

// kubectl's `wait pods --all` and `delete pods --all`: every pod of the namespace; a multi-pod
// delete sends every delete before waiting, so the pods' grace periods run side by side (§7.5).
#[test]
fn wait_all_and_delete_all() {
    let Some(d) = Daemon::start() else { return };
    for n in ["a1", "a2", "a3"] {
        d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {n}}}\nspec:\n  terminationGracePeriodSeconds: 5\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    }
    let out = d.ok(&[
        "wait",
        "pods",
        "--all",
        "--for=condition=Ready",
        "--timeout=60s",
    ]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "pod/a1 condition met",
            "pod/a2 condition met",
            "pod/a3 condition met"
        ]
    );
    let mut del = d
        .cmd(&["delete", "pods", "--all"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // PID 1 ignores SIGTERM, so each pod lives out its 5 s grace period; all three must be
    // terminating at once while the first still exists.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list: serde_json::Value =
            serde_json::from_str(&d.ok(&["get", "pods", "-o", "json"])).unwrap();
        let items = list["items"].as_array().unwrap();
        let terminating = items
            .iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_string())
            .count();
        if terminating == 3 {
            break;
        }
        assert_eq!(items.len(), 3, "a pod went away before all were deleted");
        assert!(std::time::Instant::now() < deadline, "{list}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(del.wait().unwrap().success());
    assert_eq!(
        stderr(&d.run(&["get", "pods"])),
        "No resources found in default namespace.\n"
    );
    let o = d.run(&["wait", "pods", "--all", "--for=delete"]);
    assert_eq!(stderr(&o).trim(), "error: no matching resources found");
}

// kubelet's SyncPod starts the regular containers one by one and goes on past one that fails to
// start (§5.4 StartError / RunContainerError). beluga has the runtime create them at once, then
// starts them in order: the events keep the pod's order and the failure touches only its own.
#[test]
fn containers_start_in_order_and_one_failure_spares_the_others() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: trio}}\nspec:\n  restartPolicy: Never\n  containers:\n  - {{name: first, image: {IMAGE}, command: [sleep, '600']}}\n  - {{name: broken, image: {IMAGE}, command: [/no/such/binary]}}\n  - {{name: third, image: {IMAGE}, command: [sleep, '600']}}\n"));
    let p = d.wait_pod(
        "trio",
        Duration::from_secs(30),
        "first and third running",
        |p| {
            ["first", "third"]
                .iter()
                .all(|c| status_of(p, "containerStatuses", c)["state"]["running"].is_object())
                && status_of(p, "containerStatuses", "broken")["state"]["terminated"].is_object()
        },
    );
    let broken = status_of(&p, "containerStatuses", "broken");
    assert_eq!(
        broken["state"]["terminated"]["reason"], "StartError",
        "{broken}"
    );
    assert_eq!(broken["state"]["terminated"]["exitCode"], 128, "{broken}");
    assert_eq!(
        d.event_fields("Started", "/involvedObject/fieldPath"),
        ["spec.containers{first}", "spec.containers{third}"]
    );
}

// Review P5: a GET stored the status it computed, so a change read by someone before the worker
// published it never reached watchers, and a watch listed before it subscribed. 200 short pods,
// each waited on while another client polls `get pods`: every wait returns.
#[test]
fn waits_never_miss_a_change() {
    let Some(d) = Daemon::start() else { return };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (stop, socket) = (stop.clone(), d.socket.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::process::Command::new(bin())
                    .args(["get", "pods", "-o", "json"])
                    .env("BELUGA_SOCKET", &socket)
                    .output();
            }
        })
    };
    for i in 0..200 {
        let name = format!("short{i}");
        d.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  containers: [{{name: c, image: {IMAGE}, command: ['true']}}]\n"
        ));
        let o = d.run(&[
            "wait",
            &format!("pod/{name}"),
            "--for=jsonpath={.status.phase}=Succeeded",
            "--timeout=20s",
        ]);
        if !o.status.success() {
            // What the pod shows, and what the daemon did, for the one run in many that fails.
            let p = d.pod(&name);
            panic!(
                "{name}: {}\nstatus: {}\ndaemon log:\n{}",
                stderr(&o),
                p["status"],
                tail(&d.daemon_log(), 40)
            );
        }
        d.ok(&["delete", "pod", &name, "--wait=false"]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    poller.join().unwrap();
}

// Review P6: `logs -f` kept an offset into the file it first opened and reopened the live name
// at that offset, so after a rotation it skipped the new file's start. 50 000 numbered lines
// through several rotations come back complete, in order, once each.
#[test]
fn logs_follow_across_rotations() {
    let Some(d) = Daemon::start_with(&[
        "--container-log-max-size",
        "256Ki",
        "--container-log-max-files",
        "12",
    ]) else {
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: chatty}}\nspec:\n  restartPolicy: Never\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, 'sleep 2; i=0; while [ $i -lt 50000 ]; do echo $i; i=$((i+1)); done']}}]\n"
    ));
    d.wait_running("chatty");
    let o = std::process::Command::new("timeout")
        .arg("120")
        .arg(bin())
        .args(["logs", "-f", "chatty"])
        .env("BELUGA_SOCKET", &d.socket)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let got: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    let first_wrong = got
        .iter()
        .enumerate()
        .find(|(i, l)| **l != i.to_string())
        .map(|(i, l)| format!("line {i} is {l:?}"));
    assert!(
        got.len() == 50_000 && first_wrong.is_none(),
        "{} lines, {first_wrong:?}",
        got.len()
    );
    let rotated = std::fs::read_dir(d.pod_dir("chatty").join("c"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("0.log."))
        .count();
    assert!(rotated >= 3, "{rotated} rotations");
}

// `exec -it`: the command gets a terminal (the pty path of the exec endpoint), its exit code
// comes back.
#[test]
fn exec_with_a_terminal() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: term}}\nspec:\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"
    ));
    d.wait_running("term");
    let o = d.run(&[
        "exec",
        "-i",
        "-t",
        "term",
        "-c",
        "c",
        "--",
        "sh",
        "-c",
        "tty; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stdout(&o).contains("/dev/pts/"), "{}", stdout(&o));
}

// Issue 13: containers run on the runtime chosen for this host (crun wherever it can be made to
// run), or on the one the runtime matrix asks for (`BELUGA_TEST_RUNTIME`).
#[test]
fn containers_run_on_the_chosen_runtime() {
    let Some(d) = Daemon::start() else { return };
    let want = test_runtime(&d.state_dir().join("runtime")).name;
    let id = sleeper_container_id(&d, "rt");
    assert!(id.starts_with(&format!("{want}://")), "{id}");
}

/// A GET with `accept`, over the daemon's socket: the answer's JSON body.
fn get_as(d: &Daemon, path: &str, accept: &str) -> serde_json::Value {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: beluga\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    );
    let answer = raw_http(&d.socket, req.as_bytes());
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

// kubectl-api spec §3.2/§3.3: kubectl's human-output Accept gets a meta.k8s.io/v1 Table (a list,
// or one row for one pod) with printPod's cells; plain JSON still gets the pods.
#[test]
fn kubectls_table_accept_gets_a_server_side_table() {
    let Some(d) = Daemon::start() else { return };
    d.apply(
        &serde_json::to_string(
            &PodBuilder::new("web")
                .container(ctr("c", IMAGE).command(["sleep", "3600"]))
                .build(),
        )
        .unwrap(),
    );
    d.wait_running("web");
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let list = get_as(&d, "/api/v1/namespaces/default/pods", accept);
    assert_eq!(list["kind"], "Table", "{list}");
    assert_eq!(list["columnDefinitions"].as_array().map(Vec::len), Some(9));
    let cells = &list["rows"][0]["cells"];
    assert_eq!(
        (cells[0].as_str(), cells[1].as_str(), cells[2].as_str()),
        (Some("web"), Some("1/1"), Some("Running")),
        "{list}"
    );
    assert_eq!(list["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(
        list["rows"][0]["object"]["metadata"]["namespace"],
        "default"
    );
    let one = get_as(
        &d,
        "/api/v1/namespaces/default/pods/web?includeObject=None",
        accept,
    );
    assert_eq!(one["rows"].as_array().map(Vec::len), Some(1), "{one}");
    assert!(one["rows"][0].get("object").is_none());
    assert!(one["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|rv| !rv.is_empty()));
    let plain = get_as(&d, "/api/v1/namespaces/default/pods", "application/json");
    assert_eq!(plain["kind"], "PodList");
    // The CLI prints from the Table: the same row kubectl would print.
    let row = d.row("web");
    assert_eq!(row[..3], ["web", "1/1", "Running"]);
}
