//! Issue 5 pieces: bounded logs under a flood, a root-only socket, and requests that are
//! malformed, too large or half-sent, none of which affects the daemon.

mod common;
use common::*;
use std::io::Write;
use std::time::Duration;

// Issue 5 "bounded logs": a container flooding stdout cannot grow its logs past
// max-size × max-files, and its neighbour's log is intact.
#[test]
fn flooding_container_logs_are_bounded() {
    let Some(d) = Daemon::start_with(&[
        "--container-log-max-size",
        "256Ki",
        "--container-log-max-files",
        "3",
    ]) else {
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: flood}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: loud, image: {IMAGE}, command: ['yes', 'all work and no play']}}\n  - {{name: quiet, image: {IMAGE}, command: [sh, -c, 'for i in 1 2 3 4 5; do echo quiet $i; sleep 0.2; done; sleep 600']}}\n"
    ));
    d.wait_running("flood");
    std::thread::sleep(Duration::from_secs(3));
    let dir = d.pod_dir("flood").join("loud");
    let files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        // `….gz.tmp` is a compression under way (transient, smaller than what it replaces).
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("0.log") && !n.ends_with(".tmp")
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    // Between the rename of `X.gz` into place and the removal of `X` both exist: one file.
    let names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let files: Vec<(String, u64)> = files
        .into_iter()
        .filter(|(n, _)| !names.contains(&format!("{n}.gz")))
        .collect();
    let total: u64 = files.iter().map(|f| f.1).sum();
    assert!(files.len() <= 3 && files.len() >= 2, "{files:?}");
    assert!(total <= 3 * 256 * 1024, "{files:?}");
    assert_eq!(
        d.ok(&["logs", "flood", "-c", "loud", "--tail", "1"]),
        "all work and no play\n"
    );
    assert_eq!(
        d.ok(&["logs", "flood", "-c", "quiet"]),
        "quiet 1\nquiet 2\nquiet 3\nquiet 4\nquiet 5\n"
    );
}

// Issue 5 "access": a non-root user gets a clear "permission denied" and learns nothing.
#[test]
fn non_root_users_are_refused() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: secret-pod}}\nspec: {{containers: [{{name: c, image: {IMAGE}, command: [sleep, '600']}}]}}\n"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&d.socket).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // A copy of the binary that any user can run.
    let exe = std::env::temp_dir().join(format!("beluga-nonroot-{}", std::process::id()));
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["get", "pods", "--socket"])
        .arg(&d.socket)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&exe);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    assert!(!err.contains("secret-pod") && stdout(&o).is_empty());
}

// Issue 5 "access": malformed, too large and half-sent requests are refused without affecting
// the daemon.
#[test]
fn bad_requests_do_not_hurt_the_daemon() {
    let Some(d) = Daemon::start() else { return };
    let garbage = raw_http(&d.socket, b"\x00\x01GARBAGE\r\n\r\n");
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    let big = vec![b'x'; 5 << 20];
    let mut req = format!(
        "POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let too_large = raw_http(&d.socket, &req);
    assert!(
        too_large.starts_with("HTTP/1.1 413"),
        "{}",
        &too_large[..too_large.len().min(200)]
    );
    let bad_json = raw_http(&d.socket, b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{nope");
    assert!(bad_json.starts_with("HTTP/1.1 400"), "{bad_json}");
    // Half-sent: headers never finished; the daemon keeps serving everyone else.
    let mut half = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    half.write_all(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert_eq!(d.ok(&["get", "pods", "-o", "name"]), "");
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: still}}\nspec: {{containers: [{{name: c, image: {IMAGE}, command: [sleep, '600']}}]}}\n"));
    d.wait_running("still");
    drop(half);
}

/// A tiny deterministic pseudo-random sequence (no dependency needed for jitter).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

// Issue 5 "the daemon can die at any moment": SIGKILL the daemon at random points of a churn of
// creates, crash-restarts and deletes; after each restart every pod is re-adopted, no container
// runs twice, restart counts never go down, interrupted deletes finish, and nothing is left.
#[test]
fn daemon_sigkill_during_churn_loses_nothing() {
    let Some(mut d) = Daemon::start() else { return };
    let mut rng = Lcg(std::process::id() as u64);
    let mut max_restarts: std::collections::HashMap<String, i64> = Default::default();
    let mut live: Vec<String> = Vec::new();
    let kills = 8;
    for i in 0..kills {
        let name = format!("churn-{i}");
        d.apply(&format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  initContainers: [{{name: init, image: {IMAGE}, command: ['true']}}]\n  containers:\n  - {{name: steady, image: {IMAGE}, command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]}}\n  - {{name: crashy, image: {IMAGE}, command: [sh, -c, 'sleep 0.3; exit 1']}}\n"
        ));
        live.push(name);
        if i % 3 == 2 {
            // Delete the oldest pod without waiting: the kill may land in the middle of it.
            let victim = live.remove(0);
            d.ok(&["delete", "pod", &victim, "--wait=false"]);
        }
        std::thread::sleep(Duration::from_millis(rng.next(1200)));
        d.stop(); // SIGKILL
        std::thread::sleep(Duration::from_millis(rng.next(300)));
        d.restart();
        // Every live pod converges: steady runs, exactly one runtime container per running name.
        for p in &live {
            let pod = d.wait_pod(p, Duration::from_secs(30), "steady running", |v| {
                status_of(v, "containerStatuses", "steady")["state"]["running"].is_object()
            });
            for c in ["steady", "crashy"] {
                let r = status_of(&pod, "containerStatuses", c)["restartCount"]
                    .as_i64()
                    .unwrap_or(0);
                let key = format!("{p}/{c}");
                let before = max_restarts.get(&key).copied().unwrap_or(0);
                assert!(
                    r >= before,
                    "{key}: restart count went from {before} to {r}"
                );
                max_restarts.insert(key, r);
            }
            assert_eq!(
                status_of(&pod, "initContainerStatuses", "init")["restartCount"],
                0,
                "{p}: init re-run"
            );
        }
        let running = d.running_runtime_containers();
        let mut names: Vec<String> = running
            .iter()
            .map(|id| {
                id.rsplit_once('-')
                    .map(|x| x.0.to_string())
                    .unwrap_or_default()
            })
            .collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a container runs twice: {running:?}");
    }
    // Interrupted deletes finished; then everything goes, leaving nothing behind.
    let listed = d.ok(&["get", "pods", "-o", "name"]);
    for p in &live {
        assert!(listed.contains(&format!("pod/{p}\n")), "{p} lost: {listed}");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let listed = d.ok(&["get", "pods", "-o", "name"]);
        if listed.lines().count() == live.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "interrupted deletes never finished: {listed}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for p in &live {
        d.ok(&["delete", "pod", p]);
    }
    assert!(d.running_runtime_containers().is_empty());
    let prefix = d.state_dir().to_string_lossy().into_owned();
    let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&prefix))
        .map(String::from)
        .collect();
    // Only the live daemon's spare sandbox (issue 13) may hold mounts: what the killed daemons'
    // spares pinned was cleared.
    let spare = d.state_dir().join("spare").to_string_lossy().into_owned();
    let spares: std::collections::BTreeSet<&str> = mounts
        .iter()
        .filter_map(|m| m.strip_prefix(&spare))
        .filter_map(|m| m.split('/').nth(1))
        .collect();
    assert!(
        spares.len() <= 1 && mounts.iter().all(|m| m.starts_with(&spare)),
        "{mounts:?}"
    );
    eprintln!("survived {kills} daemon SIGKILLs");
}

// Issue 5 "clean teardown": a delete interrupted by a crash after the runtime's part was done
// (shim gone, runtime containers deleted, namespaces unmounted) but before the pod's directory,
// mounts and record were removed finishes when the daemon returns: the pod is gone from the API
// and nothing of it is left on disk or in the mount table.
#[test]
fn delete_interrupted_after_runtime_teardown_finishes_on_restart() {
    let Some(mut d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: half}}\nspec:\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sleep, '3600']\n    volumeMounts: [{{name: scratch, mountPath: /scratch}}]\n  volumes:\n  - {{name: scratch, emptyDir: {{medium: Memory}}}}\n"));
    d.wait_running("half");
    let dir = d.pod_dir("half");
    // The state a crash leaves between teardown() and the directory's removal.
    machine_crash(&mut d);
    let runtime_root = d.state_dir().join("runtime");
    for e in std::fs::read_dir(&runtime_root)
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = test_runtime(&runtime_root)
            .command()
            .args(["delete", "--force", &e.file_name().to_string_lossy()])
            .status();
    }
    let _ = std::fs::remove_file(dir.join(".sandbox/shim.sock"));
    let record = dir.join("pod.json");
    let mut rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    rec["pod"]["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
    rec["pod"]["metadata"]["deletionGracePeriodSeconds"] = 30.into();
    std::fs::write(&record, rec.to_string()).unwrap();
    let dir_s = dir.to_string_lossy().into_owned();
    let mounts = || {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
            .filter(|m| m.starts_with(&dir_s))
            .collect::<Vec<_>>()
    };
    assert!(
        !mounts().is_empty(),
        "the simulation should leave the pod's overlay and tmpfs mounted"
    );
    d.restart();
    let o = d.run(&["wait", "pod/half", "--for=delete", "--timeout=60s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!d.run(&["get", "pod", "half"]).status.success());
    assert!(!dir.exists(), "pod directory left behind");
    assert_eq!(mounts(), Vec::<String>::new(), "mounts left behind");
    assert!(
        d.daemon_log().contains("pod deleted"),
        "{}",
        tail(&d.daemon_log(), 20)
    );
}

// Review P5: resourceVersions only grow, across a daemon restart too (a restarted daemon that
// started again from 1 reissued versions clients had already seen).
#[test]
fn resource_versions_grow_across_restarts() {
    let Some(mut d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: rv}}\nspec:\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"
    ));
    let rv = |p: &serde_json::Value| -> u64 {
        p["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = rv(&d.wait_running("rv"));
    let again = rv(&d.pod("rv"));
    assert!(again >= first, "a read never goes back: {first} → {again}");
    d.restart();
    let after = rv(&d.pod("rv"));
    assert!(after >= again, "{again} → {after}");
    d.ok(&["delete", "pod", "rv", "--wait=false"]);
    let deleting = rv(&d.pod("rv"));
    assert!(deleting > again, "{again} → {deleting}");
}

// Review P7: writes of the records re-adoption trusts were dropped with `let _ =`. A failed
// write is now logged and shown as a Warning event on the pod.
#[test]
fn failed_record_writes_are_events() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: ro}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"
    ));
    d.wait_running("ro");
    // pod.json becomes a non-empty directory: the atomic rename over it fails.
    let record = d.pod_dir("ro").join("pod.json");
    std::fs::remove_file(&record).unwrap();
    std::fs::create_dir_all(record.join("blocker")).unwrap();
    d.ok(&["delete", "pod", "ro", "--wait=false"]);
    let t = std::time::Instant::now();
    let failed = loop {
        let found = d.event_fields("FailedToPersist", "/message");
        if !found.is_empty() || t.elapsed() > Duration::from_secs(10) {
            break found;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        failed
            .iter()
            .any(|m| m.starts_with("Failed to record the pod's state (pod.json): ")),
        "{failed:?}"
    );
    assert!(d.daemon_log().contains("writing pod.json"));
}

// Issue 13 item 3: a sandbox made ahead is the next pod's — the pod's own hostname and
// namespaces, its shim the former spare — and another is made; a spare dies with its daemon
// while a claimed one lives on, the next daemon clears what the dead spare pinned, and deleting
// the pod still waits for its shim.
#[test]
fn a_spare_sandbox_becomes_the_next_pods() {
    let Some(mut d) = Daemon::start() else { return };
    let first = ready_spare(&d, &[]);
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: warm}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: c, image: {IMAGE}, command: [sleep, '3600']}}\n"
    ));
    d.wait_running("warm");
    let shim = d.shim_pid("warm");
    let cmdline = std::fs::read_to_string(format!("/proc/{shim}/cmdline")).unwrap();
    assert!(
        cmdline.contains(&*first.to_string_lossy()),
        "not the spare's shim: {cmdline}"
    );
    // Its old directory (and pins) go shortly after the claim, off the pod's path.
    let t = std::time::Instant::now();
    while first.exists() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!first.exists(), "the spare's directory stayed");
    assert_eq!(stdout(&d.exec("warm", "c", &["hostname"])), "warm\n");
    assert_eq!(
        stdout(&d.exec("warm", "c", &["cat", "/etc/hostname"])),
        "warm\n"
    );
    let net = std::fs::read_link(format!("/proc/{shim}/ns/net")).unwrap();
    let theirs = stdout(&d.exec("warm", "c", &["readlink", "/proc/self/ns/net"]));
    assert_eq!(
        theirs.trim(),
        net.to_string_lossy(),
        "the container is not in the sandbox's network"
    );
    // Another spare, for the pod after this one.
    let second = ready_spare(&d, std::slice::from_ref(&first));
    let spare_shim = pid_in(&second.join(".sandbox/shim.pid"));
    d.stop();
    assert!(
        gone_within(spare_shim, Duration::from_secs(5)),
        "the spare outlived its daemon"
    );
    assert!(alive(shim), "the pod's shim died with the daemon");
    d.restart();
    d.wait_running("warm");
    let third = ready_spare(&d, &[first, second.clone()]);
    assert!(!second.exists(), "the dead spare's directory stayed");
    assert_ne!(third, second);
    d.ok(&["delete", "pod", "warm", "--grace-period=1"]);
    assert!(
        !alive(shim),
        "delete returned before the pod's shim was gone"
    );
}

// Issue 13 item 3: `--warm-sandboxes 0` makes none.
#[test]
fn no_spare_sandboxes_when_asked_for_none() {
    let Some(d) = Daemon::start_with(&["--warm-sandboxes", "0"]) else {
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: cold}}\nspec:\n  containers:\n  - {{name: c, image: {IMAGE}, command: [sleep, '3600']}}\n"
    ));
    d.wait_running("cold");
    std::thread::sleep(Duration::from_millis(300));
    let spares: Vec<_> = std::fs::read_dir(d.state_dir().join("spare"))
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert!(spares.is_empty(), "{spares:?}");
}

// Issue 13 item 3: a daemon stopped with SIGTERM gives its spare back (shim stopped, pins and
// directory removed); pods stay for the next daemon.
#[test]
fn a_stopped_daemon_leaves_no_spare() {
    let Some(mut d) = Daemon::start() else { return };
    let spare = ready_spare(&d, &[]);
    let shim = pid_in(&spare.join(".sandbox/shim.pid"));
    let pid = d.pid().unwrap();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(10)),
        "the daemon did not stop"
    );
    d.stop();
    assert!(!spare.exists(), "the spare's directory stayed");
    assert!(!alive(shim), "the spare's shim stayed");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&*spare.to_string_lossy()),
        "the spare's pins stayed"
    );
}
