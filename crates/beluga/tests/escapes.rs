//! Regression tests for the attacks of `../shared/reviews/attack-report.md` that reached the
//! host (issue "Close the escapes"): each reproduces an attack on a real daemon and real
//! containers, and checks that it is now held. Sections are the report's; the rules they check
//! are spec §11.2 (subPath), §7.6 (grace periods).

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every line a container of the pod ever logged, all attempts (the CRI log files).
fn all_logs(d: &Daemon, pod: &str, container: &str) -> String {
    let dir = d.pod_dir(pod).join(container);
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    out
}

// Report 2.4 (critical; CVE-2017-1002101 class): a sidecar swapping a directory of the volume for
// a symlink to a host directory while other containers mount that subPath. Before the fix the
// first start mounted the host directory read-write. (When `ln` meets a directory it links
// inside it; the swapper removes that link, or the loop would stall on a non-empty directory.)
#[test]
fn subpath_swap_race_never_mounts_outside_the_volume() {
    let Some(d) = Daemon::start() else { return };
    let secret = d.root.path().join("host-secret");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("SECRET"), b"host data").unwrap();
    let h = secret.to_str().unwrap();
    let victims: String = (0..8)
        .map(|i| {
            format!(
                "  - name: victim{i}\n    image: {IMAGE}\n    command: [sh, -c, 'if [ -e /mnt/SECRET ]; then echo ESCAPED; touch /mnt/WRITTEN; fi; exit 1']\n    volumeMounts: [{{name: v, mountPath: /mnt, subPath: d}}]\n"
            )
        })
        .collect();
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: race}}
spec:
  volumes: [{{name: v, emptyDir: {{}}}}]
  initContainers:
  - name: swapper
    image: {IMAGE}
    restartPolicy: Always
    command: [sh, -c, 'exec 2>/dev/null; while :; do mkdir /vol/d; rmdir /vol/d; ln -s {h} /vol/d; rm -f /vol/d/host-secret /vol/d; done']
    volumeMounts: [{{name: v, mountPath: /vol}}]
  containers:
{victims}"#
    ));
    // Before the fix, 40 starts won the race every time. After it, a start meets a symlink (and
    // is refused) or a directory the swapper may delete before the runtime mounts it (and fails):
    // both retry after kubelet's delay, so attempts are counted as restarts plus failures.
    let attempts = || -> i64 {
        let p = d.pod("race");
        let restarts: i64 = (0..8)
            .map(|i| {
                status_of(&p, "containerStatuses", &format!("victim{i}"))["restartCount"]
                    .as_i64()
                    .unwrap_or(0)
            })
            .sum();
        let ev: serde_json::Value =
            serde_json::from_str(&d.ok(&["get", "events", "-o", "json"])).unwrap();
        let failures: i64 = ev["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == "Failed")
            .map(|e| e["count"].as_i64().unwrap_or(1))
            .sum();
        restarts + failures
    };
    let t = std::time::Instant::now();
    while attempts() < 40 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        attempts() >= 16,
        "the victims barely ran: {}",
        d.ok(&["describe", "pod", "race"])
    );
    for i in 0..8 {
        let log = all_logs(&d, "race", &format!("victim{i}"));
        assert!(
            !log.contains("ESCAPED"),
            "victim{i} saw the host directory:\n{log}"
        );
    }
    assert!(!secret.join("WRITTEN").exists());
    assert_eq!(std::fs::read_dir(&secret).unwrap().count(), 1);
}

// Report 2.2 and 2.3 (high): a symlink planted in an emptyDir (by an init container) or in a
// world-writable hostPath (by a host user) made the daemon create directories outside the volume
// before it refused the mount. Now nothing is created, and the container waits with kubelet's
// CreateContainerConfigError.
#[test]
fn planted_symlinks_create_nothing_outside_the_volume() {
    let Some(d) = Daemon::start() else { return };
    let target = d.root.path().join("host-target");
    let shared = d.root.path().join("shared-tmp");
    for p in [&target, &shared] {
        std::fs::create_dir(p).unwrap();
    }
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::symlink(&target, shared.join("foo")).unwrap();
    let (t, s) = (target.to_str().unwrap(), shared.to_str().unwrap());
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: planted}}
spec:
  volumes:
  - {{name: v, emptyDir: {{}}}}
  - {{name: hp, hostPath: {{path: {s}}}}}
  initContainers:
  - name: plant
    image: {IMAGE}
    command: [sh, -c, 'ln -s {t} /vol/escape && ln -s / /vol/root']
    volumeMounts: [{{name: v, mountPath: /vol}}]
  containers:
  - name: empty
    image: {IMAGE}
    command: [sleep, '3600']
    volumeMounts: [{{name: v, mountPath: /mnt, subPath: escape/newdir}}]
  - name: rooted
    image: {IMAGE}
    command: [sleep, '3600']
    volumeMounts: [{{name: v, mountPath: /mnt, subPath: root/beluga-subpath-probe}}]
  - name: host
    image: {IMAGE}
    command: [sleep, '3600']
    volumeMounts: [{{name: hp, mountPath: /mnt, subPath: foo/bar}}]
"#
    ));
    let p = d.wait_pod("planted", Duration::from_secs(30), "config errors", |p| {
        ["empty", "rooted", "host"].iter().all(|c| {
            status_of(p, "containerStatuses", c)["state"]["waiting"]["reason"]
                == "CreateContainerConfigError"
        })
    });
    for (c, volume) in [("empty", "v"), ("rooted", "v"), ("host", "hp")] {
        assert_eq!(
            status_of(&p, "containerStatuses", c)["state"]["waiting"]["message"],
            format!(
                "failed to create subPath directory for volumeMount {volume:?} of container {c:?}"
            )
        );
    }
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
    assert!(!std::path::Path::new("/beluga-subpath-probe").exists());
    assert_eq!(mode(&target), 0o755);
}

// Report 2.8 and 3.8 (high): the store and the pods were world-traversable, so any local user
// could read a pod's emptyDir, plant symlinks in it, or run a setuid binary from a layer.
#[test]
fn other_local_users_reach_nothing_under_the_root() {
    let Some(d) = Daemon::start() else { return };
    // The report's second daemon: a root whose parents are 0755, as /var/lib/beluga's are.
    std::fs::set_permissions(d.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: private}}
spec:
  securityContext: {{runAsUser: 1000}}
  volumes: [{{name: v, emptyDir: {{}}}}]
  containers:
  - name: c
    image: {IMAGE}
    command: [sh, -c, 'echo token > /vol/token && sleep 3600']
    volumeMounts: [{{name: v, mountPath: /vol}}]
"#
    ));
    d.wait_running("private");
    // The pod's own (non-root) user still writes its emptyDir.
    let token = d.pod_dir("private").join(".volumes/v/token");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "token\n");
    let state = d.state_dir();
    for sub in ["pods", "images", "runtime"] {
        assert_eq!(mode(&state.join(sub)), 0o700, "{sub}");
    }
    let layers = state.join("images/layers");
    for path in [&token, &layers, &d.pod_dir("private").join(".volumes/v")] {
        let o = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg("ls")
            .arg(path)
            .output()
            .expect("setpriv (util-linux)");
        assert!(!o.status.success(), "uid 65534 listed {}", path.display());
    }
}

/// Runs a client command that must finish (the report's hung deletes were cut off by `timeout`).
fn within_60s(d: &Daemon, args: &[&str]) -> std::process::Output {
    std::process::Command::new("timeout")
        .arg("60")
        .arg(bin())
        .args(args)
        .env("BELUGA_SOCKET", &d.socket)
        .output()
        .unwrap()
}

// Report 1.15 (medium): a grace period of 2^63-1 seconds panicked the pod's worker; the pod was
// stuck Terminating and even a forced delete hung. Now the period is bounded (spec §7.6).
#[test]
fn huge_grace_periods_neither_panic_nor_block_a_forced_delete() {
    let Some(d) = Daemon::start() else { return };
    let max = i64::MAX.to_string();
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: polite}}\nspec:\n  terminationGracePeriodSeconds: {max}\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, 'trap \"exit 0\" TERM; while :; do sleep 0.1; done']}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: stubborn}}\nspec:\n  terminationGracePeriodSeconds: {max}\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, 'trap \"\" TERM; while :; do sleep 0.1; done']}}]\n"
    ));
    d.wait_running("polite");
    d.wait_running("stubborn");
    // A container that stops on SIGTERM is gone as soon as it stops.
    let o = within_60s(&d, &["delete", "pod", "polite"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // One that ignores it waits out its (bounded) grace, until a forced delete.
    let o = d.run(&[
        "delete",
        "pod",
        "stubborn",
        "--grace-period",
        &max,
        "--wait=false",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::thread::sleep(Duration::from_secs(1));
    let o = within_60s(
        &d,
        &["delete", "pod", "stubborn", "--grace-period=0", "--force"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!d.run(&["get", "pod", "stubborn"]).status.success());
    assert!(
        !d.daemon_log().contains("panicked"),
        "{}",
        tail(&d.daemon_log(), 30)
    );
}

// Report 4.0 (medium): `--socket /tmp/x.sock` turned /tmp 0700.
#[test]
fn socket_in_a_shared_directory_keeps_its_mode() {
    if !is_root() {
        return;
    }
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let socket = shared.path().join("beluga.sock");
    let Some(d) = Daemon::start_custom(&[], Some(socket.clone()), &[]) else {
        return;
    };
    assert_eq!(mode(shared.path()), 0o1777);
    assert_eq!(mode(&socket), 0o600);
    // Nothing of the private staging directory stays beside the socket.
    let names: Vec<_> = std::fs::read_dir(shared.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("beluga.sock")]);
    assert!(d.run(&["get", "pods"]).status.success());
}

// Report 4.6 (medium): with few descriptors, idle connections made `accept` fail and the daemon
// exit. Now its soft limit is raised to the hard one, connections are bounded, and it lives.
#[test]
fn descriptor_exhaustion_never_ends_the_daemon() {
    let Some(mut d) = Daemon::start_custom(&["prlimit", "--nofile=40:120", "--"], None, &[]) else {
        return;
    };
    let pid = d.pid().unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["120", "120"],
        "{line}"
    );
    let held: Vec<_> = (0..300)
        .filter_map(|_| std::os::unix::net::UnixStream::connect(&d.socket).ok())
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    assert!(d.alive(), "{}", tail(&d.daemon_log(), 20));
    drop(held);
    let o = d.run(&["get", "pods"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.alive());
}

// Report 5.7 (medium): seccompProfile was ignored. RuntimeDefault is now containerd's filter
// (`Seccomp: 2`, no user namespaces without CAP_SYS_ADMIN), a Localhost profile is loaded from
// `<root>/seccomp`, and a missing one fails the container as containerd does (spec §10.5).
#[test]
fn seccomp_profiles_are_applied() {
    let Some(d) = Daemon::start() else { return };
    let profiles = d.state_dir().join("seccomp");
    std::fs::create_dir_all(&profiles).unwrap();
    // Everything allowed but mkdir/mkdirat, which answer EPERM.
    std::fs::write(
        profiles.join("no-mkdir.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let probe = "grep Seccomp: /proc/self/status; unshare -U true && echo USERNS_ALLOWED; mkdir /tmp/d && echo MKDIR_ALLOWED; sleep 3600";
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: filtered}}
spec:
  securityContext: {{seccompProfile: {{type: RuntimeDefault}}}}
  containers:
  - {{name: default, image: {IMAGE}, command: [sh, -c, '{probe}']}}
  - name: local
    image: {IMAGE}
    command: [sh, -c, '{probe}']
    securityContext: {{seccompProfile: {{type: Localhost, localhostProfile: no-mkdir.json}}}}
  - name: open
    image: {IMAGE}
    command: [sh, -c, '{probe}']
    securityContext: {{seccompProfile: {{type: Unconfined}}}}
---
apiVersion: v1
kind: Pod
metadata: {{name: missing-profile}}
spec:
  containers:
  - name: c
    image: {IMAGE}
    command: [sleep, '3600']
    securityContext: {{seccompProfile: {{type: Localhost, localhostProfile: nonexistent.json}}}}
"#
    ));
    d.wait_running("filtered");
    let wait_log = |c: &str| {
        d.wait_logs("filtered", c, Duration::from_secs(10), |l| {
            l.contains("Seccomp:") && l.lines().count() >= 2
        })
    };
    let l = wait_log("default");
    assert!(
        l.contains("Seccomp:\t2") && !l.contains("USERNS_ALLOWED") && l.contains("MKDIR_ALLOWED"),
        "{l}"
    );
    let l = wait_log("local");
    assert!(
        l.contains("Seccomp:\t2") && l.contains("USERNS_ALLOWED") && !l.contains("MKDIR_ALLOWED"),
        "{l}"
    );
    let l = wait_log("open");
    assert!(
        l.contains("Seccomp:\t0") && l.contains("USERNS_ALLOWED"),
        "{l}"
    );
    let p = d.wait_pod(
        "missing-profile",
        Duration::from_secs(20),
        "CreateContainerError",
        |p| {
            status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"]
                == "CreateContainerError"
        },
    );
    let msg = status_of(&p, "containerStatuses", "c")["state"]["waiting"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    let path = profiles.join("nonexistent.json").display().to_string();
    assert!(msg.starts_with("failed to generate container \""), "{msg}");
    assert!(
        msg.ends_with(&format!(
            "spec: cannot load seccomp profile {path:?}: open {path}: no such file or directory"
        )),
        "{msg}"
    );
}

// Report 5.9 (low, item 5 of the issue): a fork bomb took the node. `--pod-max-pids` bounds
// the processes of a pod, all its containers together (kubelet's podPidsLimit on the pod's
// cgroup), and the pod's cgroup goes with the pod.
#[test]
fn process_count_is_bounded_per_pod() {
    let Some(d) = Daemon::start_with(&["--pod-max-pids", "40"]) else {
        return;
    };
    // `first` takes 16 processes of the pod's 40, then the bomb starts (once `first` is up, so
    // that the runtime's own processes for `first` never meet a full cgroup).
    d.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: forks}}
spec:
  volumes: [{{name: shared, emptyDir: {{}}}}]
  containers:
  - name: first
    image: {IMAGE}
    command: [sh, -c, 'for i in $(seq 15); do sleep 3600 & done; touch /shared/ready; exec sleep 3600']
    volumeMounts: [{{name: shared, mountPath: /shared}}]
  - name: bomb
    image: {IMAGE}
    command: [sh, -c, 'until [ -e /shared/ready ]; do sleep 0.1; done; (for i in $(seq 100); do sleep 3600 & done) 2>&1; echo spawned; exec sleep 3600']
    volumeMounts: [{{name: shared, mountPath: /shared}}]
"#
    ));
    let p = d.wait_running("forks");
    let uid = p["metadata"]["uid"].as_str().unwrap().replace('-', "");
    let root = d.cgroup_root();
    let cgroup = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"]
        .iter()
        .map(|base| std::path::Path::new(base).join(format!("{root}/pod{uid}")))
        .find(|p| p.join("pids.max").exists())
        .expect("the pod's pids cgroup");
    assert_eq!(
        std::fs::read_to_string(cgroup.join("pids.max"))
            .unwrap()
            .trim(),
        "40"
    );
    d.wait_logs("forks", "bomb", Duration::from_secs(30), |l| {
        l.contains("spawned")
    });
    let current: u64 = std::fs::read_to_string(cgroup.join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // A limit per container would have let the bomb reach 40 on its own, 56 in all.
    assert!((30..=40).contains(&current), "{current} processes");
    let log = d.logs("forks", "bomb");
    assert!(
        log.contains("spawned") && log.contains("can't fork"),
        "{log}"
    );
    d.ok(&["delete", "pod", "forks", "--grace-period=1"]);
    assert!(!cgroup.exists(), "the pod's cgroup outlived it");
}

// Report 6.2 (medium): after `kill -9` of a pod's shim its containers were gone, yet the pod
// showed `2/2 Running` and only the init container ran again. Now the lost containers are
// recorded as exited (255, as containerd records a dead shim's tasks), the sandbox is made again
// and every container restarts per the restart policy.
#[test]
fn a_killed_shim_is_noticed_and_the_pod_recovered() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: k2}}\nspec:\n  initContainers: [{{name: init, image: {IMAGE}, command: ['true']}}]\n  containers:\n  - {{name: a, image: {IMAGE}, command: [sleep, '3600']}}\n  - {{name: b, image: {IMAGE}, command: [sleep, '3600']}}\n"
    ));
    d.wait_running("k2");
    let pidfile = d.pod_dir("k2").join(".sandbox/shim.pid");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let p = d.wait_pod(
        "k2",
        Duration::from_secs(60),
        "both containers restarted",
        |p| {
            ["a", "b"].iter().all(|c| {
                let s = status_of(p, "containerStatuses", c);
                s["restartCount"].as_i64().unwrap_or(0) >= 1 && s["state"]["running"].is_object()
            })
        },
    );
    let a = status_of(&p, "containerStatuses", "a");
    assert_eq!(a["lastState"]["terminated"]["exitCode"], 255, "{a}");
    // Really running: exec reaches both.
    for c in ["a", "b"] {
        assert!(d.exec("k2", c, &["true"]).status.success(), "{c}");
    }
    let new_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_ne!(new_pid, pid);
}

// Report 6.3 (medium): a truncated pod.json at start left that pod's shim and containers running
// unmanaged, and a re-apply ran a second copy. Now the pod is re-adopted from the record before
// (with an event saying so), or, when no record can be read, stopped and set aside.
#[test]
fn a_damaged_pod_record_never_leaves_containers_unmanaged() {
    let Some(mut d) = Daemon::start() else { return };
    let manifest = |name: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - {{name: a, image: {IMAGE}, command: [sh, -c, 'echo hello from {name}; sleep 3600']}}\n  - {{name: b, image: {IMAGE}, command: [sleep, '3600']}}\n")
    };
    d.apply(&manifest("k1"));
    d.apply(&manifest("k3"));
    let k1 = d.wait_running("k1");
    let k3 = d.wait_running("k3");
    let (k1_dir, k3_dir) = (d.pod_dir("k1"), d.pod_dir("k3"));
    let k3_uid = k3["metadata"]["uid"].as_str().unwrap().replace('-', "");
    d.stop();
    let truncate = |p: std::path::PathBuf| {
        let data = std::fs::read(&p).unwrap();
        std::fs::write(&p, &data[..200.min(data.len())]).unwrap();
    };
    truncate(k1_dir.join("pod.json"));
    truncate(k3_dir.join("pod.json"));
    truncate(k3_dir.join("pod.prev.json"));
    d.restart();
    // k1: re-adopted, the same containers, one copy, an event.
    let p = d.wait_running("k1");
    assert_eq!(p["metadata"]["uid"], k1["metadata"]["uid"]);
    assert_eq!(status_of(&p, "containerStatuses", "a")["restartCount"], 0);
    assert!(d
        .ok(&["describe", "pod", "k1"])
        .contains("PodRecordRecovered"));
    // k3: nothing of it runs, its files (logs) are kept aside, and it can be created again once.
    assert!(!d.run(&["get", "pod", "k3"]).status.success());
    assert!(
        !d.running_runtime_containers()
            .iter()
            .any(|id| id.starts_with(&k3_uid)),
        "{:?}",
        d.running_runtime_containers()
    );
    let aside = d
        .state_dir()
        .join("pods-orphaned")
        .join(k3_dir.file_name().unwrap());
    let log = std::fs::read_to_string(aside.join("a/0.log")).unwrap();
    assert!(log.contains("hello from k3"), "{log}");
    d.apply(&manifest("k3"));
    d.wait_running("k3");
    let dirs = std::fs::read_dir(d.state_dir().join("pods"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("default_k3_"))
        .count();
    assert_eq!(dirs, 1);
}

// Report 5.11 (medium): 2 GiB written to an emptyDir with `sizeLimit: 100Mi` went unnoticed.
// Now the pod is evicted as kubelet evicts it (spec §11.1): Failed, reason Evicted, its
// containers stopped, and the event says why.
#[test]
fn an_emptydir_over_its_size_limit_evicts_the_pod() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hog}}\nspec:\n  volumes: [{{name: v, emptyDir: {{sizeLimit: 8Mi}}}}]\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, 'dd if=/dev/zero of=/v/fill bs=1M count=16; sleep 3600'], volumeMounts: [{{name: v, mountPath: /v}}]}}]\n"
    ));
    let p = d.wait_pod("hog", Duration::from_secs(45), "eviction", |p| {
        p["status"]["phase"] == "Failed"
            && status_of(p, "containerStatuses", "c")["state"]["terminated"].is_object()
    });
    let msg = "Usage of EmptyDir volume \"v\" exceeds the limit \"8Mi\". ";
    assert_eq!(p["status"]["reason"], "Evicted");
    assert_eq!(p["status"]["message"], msg);
    // kubectl's STATUS column shows the killed container's reason, as for evictions on a cluster.
    assert_eq!(d.row("hog")[2], "Error");
    assert_eq!(d.event_fields("Evicted", "/message"), vec![msg.to_string()]);
    assert!(d.running_runtime_containers().is_empty());
}

// Report 5.6 (low): with kubelet's `--seccomp-default`, a container naming no profile gets
// RuntimeDefault; one that asks for Unconfined keeps it.
#[test]
fn seccomp_default_flag() {
    let Some(d) = Daemon::start_with(&["--seccomp-default"]) else {
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: sd}}\nspec:\n  containers:\n  - {{name: plain, image: {IMAGE}, command: [sh, -c, 'grep Seccomp: /proc/self/status; sleep 3600']}}\n  - {{name: open, image: {IMAGE}, command: [sh, -c, 'grep Seccomp: /proc/self/status; sleep 3600'], securityContext: {{seccompProfile: {{type: Unconfined}}}}}}\n"
    ));
    d.wait_running("sd");
    let seccomp_line = |c: &str| d.wait_logs("sd", c, Duration::from_secs(10), |l| !l.is_empty());
    assert_eq!(seccomp_line("plain"), "Seccomp:\t2\n");
    assert_eq!(seccomp_line("open"), "Seccomp:\t0\n");
}

// Report 1.7 (medium): 60 000 variables took seven minutes to start and blocked `get pods` for
// everyone. Environments are now built in linear time off the executor: a pod with 20 000
// variables (what `apply` takes under its node budget) starts, sees them all, and other clients
// are answered meanwhile.
#[test]
fn large_environments_start_without_blocking_the_daemon() {
    let Some(d) = Daemon::start() else { return };
    let mut yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: envy}}\nspec:\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, 'env | grep -c ^V; sleep 3600']\n    env:\n"
    );
    for i in 0..20_000 {
        yaml.push_str(&format!(
            "    - {{name: V{i}, value: '$(V{})'}}\n",
            i.max(1) - 1
        ));
    }
    d.apply(&yaml);
    // Answered while the pod starts (before the fix this blocked for tens of seconds).
    assert!(d.run(&["get", "pods"]).status.success());
    d.wait_running("envy");
    let count = d.wait_logs("envy", "c", Duration::from_secs(20), |l| !l.is_empty());
    assert_eq!(count, "20000\n");
}
