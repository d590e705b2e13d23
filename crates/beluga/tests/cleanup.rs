//! After `delete`, nothing of the pod remains: no mount, namespace, runtime container, shim,
//! cgroup or pod directory (issue 2 "cleanup").

mod common;
use common::*;

fn mounts_under(prefix: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(String::from))
        .filter(|m| m.starts_with(prefix))
        .collect()
}

fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(cmd);
            }
        }
    }
    out
}

#[test]
fn delete_leaves_nothing_behind() {
    let Some(d) = Daemon::start() else { return };
    let state = d.state_dir();
    let prefix = state.to_string_lossy().into_owned();
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: gone}}\nspec:\n  terminationGracePeriodSeconds: 2\n  volumes: [{{name: m, emptyDir: {{medium: Memory}}}}, {{name: disk, emptyDir: {{}}}}]\n  initContainers: [{{name: i, image: {IMAGE}, command: ['true']}}, {{name: side, image: {IMAGE}, restartPolicy: Always, command: [sleep, '3600']}}]\n  containers:\n  - {{name: a, image: {IMAGE}, command: [sleep, '3600'], volumeMounts: [{{name: m, mountPath: /m}}, {{name: disk, mountPath: /d}}]}}\n  - {{name: b, image: {IMAGE}, command: [sleep, '3600']}}\n"
    ));
    let p = d.wait_running("gone");
    let ids: Vec<String> = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|l| p["status"][l].as_array().cloned().unwrap_or_default())
        .filter_map(|c| {
            c["containerID"]
                .as_str()
                .map(|s| s.split("://").nth(1).unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(ids.len(), 4);
    let uid = p["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(
        !mounts_under(&prefix).is_empty(),
        "the running pod has mounts"
    );
    // The pod's shim (a spare sandbox's, issue 13, names another directory on its command line).
    let shim = d.shim_pid("gone");
    assert!(alive(shim), "the running pod has a shim");

    d.ok(&["delete", "pod", "gone"]);
    assert!(!d.run(&["get", "pod", "gone"]).status.success());
    // The daemon's spare sandbox (issue 13) is not the pod's.
    let spare = state.join("spare").to_string_lossy().into_owned();
    let left: Vec<String> = mounts_under(&prefix)
        .into_iter()
        .filter(|m| !m.starts_with(&spare))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "mounts left behind");
    assert_eq!(
        processes_mentioning(&uid),
        Vec::<String>::new(),
        "processes left behind"
    );
    assert!(!alive(shim), "the pod's shim outlived the delete");
    let runtime_state = state.join("runtime");
    let left: Vec<_> = std::fs::read_dir(&runtime_state)
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "runtime containers left behind: {left:?}");
    let pods_left: Vec<_> = walk(&state.join("pods"));
    assert!(
        pods_left.is_empty(),
        "pod directory left behind: {pods_left:?}"
    );
    let root: beluga_runtime::cgroups::Root = d.cgroup_root().parse().unwrap();
    for ctl in ["memory", "pids", "cpu", "unified", ""] {
        for id in &ids {
            let cg = std::path::Path::new("/sys/fs/cgroup")
                .join(ctl)
                .join(root.container_path(id).trim_start_matches('/'));
            assert!(!cg.exists(), "cgroup left behind: {}", cg.display());
        }
        let pod_cg = std::path::Path::new("/sys/fs/cgroup")
            .join(ctl)
            .join(root.pod_path(&uid));
        assert!(!pod_cg.exists(), "cgroup left behind: {}", pod_cg.display());
    }
    // The cgroup root stays while the daemon runs (removed with the last pod, it raced the
    // runtime making the next pod's cgroups beneath it) and goes when the daemon stops.
    let pids_root = std::path::Path::new("/sys/fs/cgroup/pids").join(root.to_string());
    let v1 = std::path::Path::new("/sys/fs/cgroup/pids").is_dir();
    if v1 {
        assert!(pids_root.is_dir(), "{} is gone", pids_root.display());
    }
    let mut d = d;
    d.stop_gracefully();
    assert!(
        !pids_root.exists(),
        "{} outlived the daemon, holding {:?}",
        pids_root.display(),
        walk(&pids_root)
            .into_iter()
            .filter(|p| p.is_dir())
            .collect::<Vec<_>>()
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push(e.path());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        }
    }
    out
}

// Issue 5 "clean teardown": when `delete` returns, no process of the pods is left — not even a
// shim that has answered its shutdown but not yet exited — however many pods went at once.
#[test]
fn no_process_outlives_a_delete() {
    let Some(d) = Daemon::start() else { return };
    let pods = d.state_dir().join("pods").to_string_lossy().into_owned();
    // Shims name their pod directory (or, a spare's, are known by their pid file); containers
    // sit in cgroups `/<cgroup root>/pod<uid>/<uid>-<name>-<n>`.
    let root = d.cgroup_root();
    let left = |uids: &[String], shims: &[u32]| {
        let mut v = processes_mentioning(&pods);
        v.extend(
            shims
                .iter()
                .filter(|p| alive(**p))
                .map(|p| format!("shim {p}")),
        );
        v.sort();
        v.dedup();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
            if uids
                .iter()
                .any(|u| cg.contains(&format!("/{root}/pod{u}/{u}-")))
            {
                v.push(format!(
                    "pid {} in {}",
                    e.file_name().to_string_lossy(),
                    cg.lines().next().unwrap_or("")
                ));
            }
        }
        v
    };
    let mut yaml = String::new();
    for i in 0..12 {
        yaml.push_str(&format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]}}]\n"));
    }
    d.apply(&yaml);
    d.ok(&[
        "wait",
        "pods",
        "--all",
        "--for=condition=Ready",
        "--timeout=60s",
    ]);
    let list: serde_json::Value =
        serde_json::from_str(&d.ok(&["get", "pods", "-o", "json"])).unwrap();
    let uids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["uid"].as_str().unwrap().replace('-', ""))
        .collect();
    let shims: Vec<u32> = (0..12).map(|i| d.shim_pid(&format!("p{i}"))).collect();
    let before = left(&uids, &shims);
    // A shim and its `sh` + `sleep` per pod (a claimed spare's shim counted once).
    assert!(before.len() >= 36, "{before:?}");
    d.ok(&["delete", "pods", "--all"]);
    assert_eq!(
        left(&uids, &shims),
        Vec::<String>::new(),
        "processes left behind"
    );
}

// Review P9: each sandbox's exit subscription leaked its socket (`mem::forget` of the write
// half). After pods come and go, the daemon holds no more descriptors than before.
#[test]
fn no_descriptor_outlives_a_pod() {
    let Some(d) = Daemon::start() else { return };
    let pid = d.pid().unwrap();
    let count = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count()
    };
    // Counted once the daemon is quiet: a spare sandbox made ahead (its CNI ADD's pipes, its
    // shim's socket) is in flight for a while after each pod starts.
    let fds = || {
        let mut last = Vec::new();
        for _ in 0..100 {
            last.push(count());
            if last.len() >= 5
                && last[last.len() - 5..]
                    .iter()
                    .all(|n| *n == last[last.len() - 1])
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        last.last().copied().unwrap_or(0)
    };
    // One pod first, so that lazily opened descriptors (the runtime, the watch) are counted.
    let pod = |i: usize| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: fd{i}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sh, -c, 'trap \"exit 0\" TERM; while :; do sleep 0.1; done']}}]\n")
    };
    d.apply(&pod(0));
    d.wait_running("fd0");
    d.ok(&["delete", "pod", "fd0"]);
    let before = fds();
    for i in 1..=8 {
        d.apply(&pod(i));
        d.wait_running(&format!("fd{i}"));
        d.ok(&["delete", "pod", &format!("fd{i}")]);
    }
    let after = fds();
    assert!(
        after <= before + 1,
        "descriptors: {before} before, {after} after 8 pods"
    );
}
