//! The OCI runtime layer against both binaries where the host allows it (DESIGN.md: crun where it
//! can run, runc where crun refuses the cgroup layout, `--runtime` overrides).

mod common;
use beluga_runtime::oci_runtime::{Layout, OciRuntime};
use common::*;

#[test]
fn choice_follows_the_cgroup_layout() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::detect();
    let (rt, why) = OciRuntime::choose(None, dir.path()).expect("a runtime is installed");
    if layout.crun_as_is() {
        assert_eq!((rt.name.as_str(), &rt.hide_mount), ("crun", &None), "{why}");
    } else if let Some((mount, _)) = layout.hideable() {
        // Issue 13: crun, in a mount namespace of its own without the cgroup2 mount.
        assert_eq!(rt.name, "crun", "{why}");
        assert_eq!(rt.hide_mount.as_deref(), Some(mount));
        assert!(why.contains("private mount namespace"), "{why}");
    } else {
        assert_eq!(rt.name, "runc", "{why}");
        assert!(why.contains("crun refuses"), "{why}");
    }
    assert!(why.contains(&layout.describe()), "{why}");
    let (forced, why) = OciRuntime::choose(Some("runc"), dir.path()).unwrap();
    assert_eq!(
        (forced.name.as_str(), why.as_str()),
        ("runc", "--runtime runc")
    );
    assert!(OciRuntime::choose(Some("/nonexistent/runtime"), dir.path())
        .is_ok_and(|(r, _)| r.name == "runtime"));
}

/// A pod runs under each runtime this host can use.
#[test]
fn pods_run_under_each_usable_runtime() {
    let layout = Layout::detect();
    let crun_runs = layout.crun_as_is() || layout.hideable().is_some();
    let mut runtimes = vec!["runc"];
    if crun_runs && std::path::Path::new("/usr/bin/crun").exists() {
        runtimes.push("crun");
    } else {
        eprintln!("crun refuses this host's cgroup layout: testing runc only");
    }
    for rt in runtimes {
        let Some(d) = Daemon::start_with(&["--runtime", rt]) else {
            return;
        };
        let id = sleeper_container_id(&d, "rt");
        assert!(id.starts_with(&format!("{rt}://")), "{id}");
        assert_eq!(stdout(&d.exec("rt", "c", &["hostname"])), "rt\n");
    }
}

/// What a runtime run with the cgroup2 mount hidden finds at the mount point.
fn beneath_hidden_mount(mount: &std::path::Path) -> Vec<String> {
    let script = format!(
        "umount -l {m} && find {m} -mindepth 1 -maxdepth 3",
        m = mount.display()
    );
    let o = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "slave", "sh", "-c", &script])
        .output()
        .expect("unshare");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().map(String::from).collect()
}

// Issue 13 ("the host's mounts never change"): crun, with the hybrid host's cgroup2 mount
// hidden, still sees the hierarchy in /proc/self/cgroup and makes its directories under the
// mount point; they go to a tmpfs of its own namespace, never into the host's /sys/fs/cgroup
// beneath the mount. Containers' v1 cgroups are made and removed as before.
#[test]
fn nothing_is_written_beneath_the_hidden_cgroup2_mount() {
    let Some((mount, _)) = Layout::detect()
        .hideable()
        .map(|(m, c)| (m.to_path_buf(), c.len()))
    else {
        eprintln!("no hideable cgroup2 mount on this host");
        return;
    };
    let Some(d) = Daemon::start_with(&["--runtime", "crun"]) else {
        return;
    };
    let before = beneath_hidden_mount(&mount);
    let id = sleeper_container_id(&d, "rt");
    let uid = d.pod("rt")["metadata"]["uid"]
        .as_str()
        .unwrap()
        .replace('-', "");
    let root = d.cgroup_root();
    assert!(std::path::Path::new(&format!("/sys/fs/cgroup/memory/{root}/pod{uid}")).is_dir());
    let during = beneath_hidden_mount(&mount);
    assert_eq!(
        during,
        before,
        "written beneath {} while {id} runs",
        mount.display()
    );
    d.ok(&["delete", "pod", "rt", "--now"]);
    assert_eq!(beneath_hidden_mount(&mount), before);
}
