//! Conformance scenarios of spec §13.1–§13.3 (and termination order, §4.5), on real containers.
//! Harness as spec §13.0: every container appends `<uptime> <name> Started|Exiting` lines to a
//! shared emptyDir; assertions are about order (`StartsBefore`, `ExitsBefore`, `RunTogether`).

mod common;
use common::*;
use std::time::Duration;

/// A container script: record start, run `secs` (inf = forever), record exit, exit `code`.
/// SIGTERM is trapped (recorded as an exit with code 0) so termination order is observable.
fn script(name: &str, secs: &str, code: i32) -> String {
    let rec =
        |ev: &str| format!("read up _ < /proc/uptime; echo \\\"$up {name} {ev}\\\" >> /log/events");
    let run = if secs == "inf" {
        "sleep 3600 & wait".to_string()
    } else {
        format!("sleep {secs} & wait")
    };
    format!(
        "{}; trap '{}; exit 0' TERM; {run}; {}; exit {code}",
        rec("Started"),
        rec("Exiting"),
        rec("Exiting")
    )
}

struct Spec<'a> {
    name: &'a str,
    policy: &'a str,
    grace: u32,
    /// (name, sidecar?, image tag, secs, exit code)
    inits: Vec<(&'a str, bool, &'a str, &'a str, i32)>,
    /// (name, image tag, secs, exit code)
    regular: Vec<(&'a str, &'a str, &'a str, i32)>,
}

fn yaml(s: &Spec) -> String {
    let mut y = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}}}\nspec:\n  restartPolicy: {}\n  terminationGracePeriodSeconds: {}\n  volumes: [{{name: log, emptyDir: {{}}}}]\n",
        s.name, s.policy, s.grace
    );
    let c = |name: &str, tag: &str, secs: &str, code: i32, sidecar: bool| {
        let rp = if sidecar {
            "    restartPolicy: Always\n"
        } else {
            ""
        };
        format!("  - name: {name}\n    image: localhost/busybox:{tag}\n{rp}    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"{}\"]\n", script(name, secs, code))
    };
    if !s.inits.is_empty() {
        y.push_str("  initContainers:\n");
        for (n, sc, tag, secs, code) in &s.inits {
            y.push_str(&c(n, tag, secs, *code, *sc));
        }
    }
    y.push_str("  containers:\n");
    for (n, tag, secs, code) in &s.regular {
        y.push_str(&c(n, tag, secs, *code, false));
    }
    y
}

/// The pod's event log, read from its emptyDir on the host.
fn events(d: &Daemon, pod: &str) -> Vec<(f64, String, String)> {
    order_log(
        &std::fs::read_to_string(d.pod_dir(pod).join(".volumes/log/events")).unwrap_or_default(),
    )
}

fn first(ev: &[(f64, String, String)], name: &str, what: &str) -> Option<f64> {
    ev.iter()
        .find(|(_, n, e)| n == name && e == what)
        .map(|(t, _, _)| *t)
}

fn count(ev: &[(f64, String, String)], name: &str, what: &str) -> usize {
    ev.iter().filter(|(_, n, e)| n == name && e == what).count()
}

fn starts_before(ev: &[(f64, String, String)], a: &str, b: &str) {
    let (ta, tb) = (first(ev, a, "Started"), first(ev, b, "Started"));
    assert!(
        ta.is_some() && tb.is_some() && ta <= tb,
        "{a} must start before {b}: {ev:?}"
    );
}

/// `a` exited before `b` started.
fn exits_before_start(ev: &[(f64, String, String)], a: &str, b: &str) {
    let (ta, tb) = (first(ev, a, "Exiting"), first(ev, b, "Started"));
    assert!(
        ta.is_some() && tb.is_some() && ta <= tb,
        "{a} must exit before {b} starts: {ev:?}"
    );
}

/// `a`'s first exit came before `b`'s first exit.
fn exits_before(ev: &[(f64, String, String)], a: &str, b: &str) {
    let (ta, tb) = (first(ev, a, "Exiting"), first(ev, b, "Exiting"));
    assert!(
        ta.is_some() && tb.is_some() && ta <= tb,
        "{a} must exit before {b}: {ev:?}"
    );
}

/// Their first runs overlap.
fn run_together(ev: &[(f64, String, String)], a: &str, b: &str) {
    let end = |n: &str| first(ev, n, "Exiting").unwrap_or(f64::MAX);
    let (sa, sb) = (
        first(ev, a, "Started").unwrap_or(f64::MAX),
        first(ev, b, "Started").unwrap_or(f64::MAX),
    );
    assert!(
        sa < end(b) && sb < end(a),
        "{a} and {b} must run together: {ev:?}"
    );
}

fn doesnt_start(ev: &[(f64, String, String)], a: &str) {
    assert_eq!(count(ev, a, "Started"), 0, "{a} must never start: {ev:?}");
}

fn restarts(p: &serde_json::Value, list: &str, name: &str) -> i64 {
    status_of(p, list, name)["restartCount"]
        .as_i64()
        .unwrap_or(-1)
}

fn with_two_images() -> Option<Daemon> {
    let d = Daemon::start()?;
    d.ok(&[
        "image",
        "import",
        rootfs().to_str().unwrap(),
        "--tag",
        "localhost/busybox:2",
    ]);
    Some(d)
}

const LONG: Duration = Duration::from_secs(40);

// L1–L3 (spec §13.2 item 5, §14.4): an image update restarts that running container under every
// policy, Never included; the other container is untouched.
#[test]
fn l1_l3_image_update_restarts_running_container_under_every_policy() {
    let Some(d) = with_two_images() else { return };
    for policy in ["Always", "OnFailure", "Never"] {
        let name = format!("l-{}", policy.to_lowercase());
        let mut s = Spec {
            name: &name,
            policy,
            grace: 2,
            inits: vec![],
            regular: vec![("c0", "1", "inf", 0), ("c1", "1", "inf", 0)],
        };
        d.apply(&yaml(&s));
        d.wait_running(&name);
        s.regular[0].1 = "2";
        assert_eq!(d.apply(&yaml(&s)), format!("pod/{name} configured\n"));
        let p = d.wait_pod(&name, LONG, "c0 restarted with the new image", |p| {
            restarted_with_image(p, "containerStatuses", "c0", "localhost/busybox:2")
        });
        assert_eq!(restarts(&p, "containerStatuses", "c1"), 0, "{policy}");
        assert_eq!(p["status"]["phase"], "Running");
    }
}

// L4–L6: an image update during initialization (every policy): pod stays Pending, nothing regular
// starts before init ends, then the regular container runs the new image with restartCount 0.
#[test]
fn l4_l6_image_update_during_init() {
    let Some(d) = with_two_images() else { return };
    let policies = ["Never", "OnFailure", "Always"];
    let mut specs: Vec<Spec> = policies
        .iter()
        .map(|p| Spec {
            name: Box::leak(format!("l4-{}", p.to_lowercase()).into_boxed_str()),
            policy: p,
            grace: 2,
            inits: vec![("init-1", false, "1", "3", 0)],
            regular: vec![("regular-1", "1", "inf", 0)],
        })
        .collect();
    for s in &specs {
        d.apply(&yaml(s));
    }
    for s in specs.iter_mut() {
        d.wait_pod(s.name, LONG, "init-1 running", |p| {
            status_of(p, "initContainerStatuses", "init-1")["state"]["running"].is_object()
        });
        s.regular[0].1 = "2";
        d.apply(&yaml(s));
        assert_eq!(d.pod(s.name)["status"]["phase"], "Pending");
    }
    for s in &specs {
        let p = d.wait_running(s.name);
        let r = status_of(&p, "containerStatuses", "regular-1");
        assert_eq!(
            (r["image"].as_str(), r["restartCount"].as_i64()),
            (Some("localhost/busybox:2"), Some(0)),
            "{}",
            s.policy
        );
        exits_before_start(&events(&d, s.name), "init-1", "regular-1");
    }
}

// L22: regular container restarts never re-run (completed) init containers; L29: an init image
// update after the pod runs is ignored (status keeps the old image, restartCount 0).
#[test]
fn l22_l29_completed_init_containers_never_rerun() {
    let Some(d) = with_two_images() else { return };
    let mut s = Spec {
        name: "l22",
        policy: "Always",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 0),
            ("init-2", false, "1", "0", 0),
            ("init-3", false, "1", "0", 0),
        ],
        regular: vec![("regular-1", "1", "1", 1)],
    };
    d.apply(&yaml(&s));
    d.wait_pod("l22", LONG, "regular-1 restarted twice", |p| {
        restarts(p, "containerStatuses", "regular-1") >= 2
    });
    s.inits[0].2 = "2";
    d.apply(&yaml(&s));
    std::thread::sleep(Duration::from_secs(2));
    let ev = events(&d, "l22");
    for i in ["init-1", "init-2", "init-3"] {
        assert_eq!(count(&ev, i, "Started"), 1, "{i} ran once: {ev:?}");
    }
    let p = d.pod("l22");
    let i1 = status_of(&p, "initContainerStatuses", "init-1");
    assert_eq!(
        (i1["image"].as_str(), i1["restartCount"].as_i64()),
        (Some("localhost/busybox:1"), Some(0))
    );
    assert!(count(&ev, "regular-1", "Started") >= 3);
}

// L11–L13: an image update while the pod terminates does not restart the container.
#[test]
fn l11_image_update_during_termination_is_ignored() {
    let Some(d) = with_two_images() else { return };
    let host_log = d.root.path().join("l11-log");
    let volume = format!(
        "{{name: log, hostPath: {{path: {}, type: DirectoryOrCreate}}}}",
        host_log.display()
    );
    let mut s = Spec {
        name: "l11",
        policy: "Always",
        grace: 30,
        inits: vec![],
        regular: vec![("c", "1", "inf", 0)],
    };
    // The container takes 2 s to handle SIGTERM, leaving time to update it mid-termination.
    let manifest = |s: &Spec| {
        yaml(s)
            .replace("trap '", "trap 'sleep 2; ")
            .replace("{name: log, emptyDir: {}}", &volume)
    };
    d.apply(&manifest(&s));
    d.wait_running("l11");
    let del = d.cmd(&["delete", "pod", "l11"]).spawn().unwrap();
    d.wait_pod("l11", LONG, "deletion started", |p| {
        p["metadata"]["deletionTimestamp"].is_string()
    });
    s.regular[0].1 = "2";
    let _ = d.apply_output(&manifest(&s));
    assert!(del.wait_with_output().unwrap().status.success());
    let ev = order_log(&std::fs::read_to_string(host_log.join("events")).unwrap());
    assert_eq!(
        count(&ev, "c", "Started"),
        1,
        "not restarted during termination: {ev:?}"
    );
    assert_eq!(count(&ev, "c", "Exiting"), 1, "{ev:?}");
}

// S1 (Never) and S10 (OnFailure): init-1 < ri-1 < init-2 (running with ri-1) < ri-2 < init-3 < regular-1; both
// sidecars run with regular-1; after it exits 0 the sidecars are stopped and the pod Succeeds.
#[test]
fn s1_s10_sidecars_start_in_place_and_pod_succeeds() {
    let Some(d) = Daemon::start() else { return };
    for (name, policy) in [("s1", "Never"), ("s10", "OnFailure")] {
        sidecar_pod_succeeds(&d, name, policy);
    }
}

fn sidecar_pod_succeeds(d: &Daemon, name: &str, policy: &str) {
    let s = Spec {
        name,
        policy,
        grace: 5,
        inits: vec![
            ("init-1", false, "1", "0.2", 0),
            ("ri-1", true, "1", "inf", 0),
            ("init-2", false, "1", "0.2", 0),
            ("ri-2", true, "1", "inf", 0),
            ("init-3", false, "1", "0.2", 0),
        ],
        regular: vec![("regular-1", "1", "1", 0)],
    };
    d.apply(&yaml(&s));
    let p = d.wait_phase(name, "Succeeded", LONG);
    let ev = events(d, name);
    exits_before_start(&ev, "init-1", "ri-1");
    starts_before(&ev, "ri-1", "init-2");
    run_together(&ev, "ri-1", "init-2");
    exits_before_start(&ev, "init-2", "ri-2");
    starts_before(&ev, "ri-2", "init-3");
    exits_before_start(&ev, "init-3", "regular-1");
    run_together(&ev, "ri-1", "regular-1");
    run_together(&ev, "ri-2", "regular-1");
    for ri in ["ri-1", "ri-2"] {
        assert_eq!(count(&ev, ri, "Started"), 1, "{ri} not restarted");
        assert_eq!(restarts(&p, "initContainerStatuses", ri), 0);
    }
    // §4.5: after the main container, sidecars stop in reverse order.
    exits_before(&ev, "regular-1", "ri-2");
    exits_before(&ev, "ri-2", "ri-1");
    assert_eq!(d.row(name)[2], "Completed");
}

// S6/S7 (Never) and S13/S14 (OnFailure): a sidecar that keeps exiting (0 or 1) is restarted before and after the regular
// container starts; its exits never fail the pod.
#[test]
fn s6_s7_exiting_sidecar_is_restarted_and_ignored_for_phase() {
    let Some(d) = Daemon::start() else { return };
    let cases = [
        ("s6", 0, "Never"),
        ("s7", 1, "Never"),
        ("s13", 0, "OnFailure"),
        ("s14", 1, "OnFailure"),
    ];
    for (name, code, policy) in cases {
        let s = Spec {
            name,
            policy,
            grace: 2,
            inits: vec![
                ("ri-1", true, "1", "0.5", code),
                ("init-1", false, "1", "2", 0),
            ],
            regular: vec![("regular-1", "1", "4", 0)],
        };
        d.apply(&yaml(&s));
    }
    for (name, _, _) in cases {
        let p = d.wait_phase(name, "Succeeded", LONG);
        let ev = events(&d, name);
        let reg_start = first(&ev, "regular-1", "Started").unwrap();
        let ri_starts: Vec<f64> = ev
            .iter()
            .filter(|(_, n, e)| n == "ri-1" && e == "Started")
            .map(|e| e.0)
            .collect();
        assert!(
            ri_starts.iter().filter(|t| **t < reg_start).count() >= 2,
            "{name}: restarted before regular-1: {ev:?}"
        );
        assert!(
            ri_starts.iter().any(|t| *t > reg_start),
            "{name}: restarted after regular-1 started: {ev:?}"
        );
        assert!(restarts(&p, "initContainerStatuses", "ri-1") >= 2);
    }
}

// S8 (Never): an init container before the sidecar fails → Failed, the sidecar never starts.
// S9 (Never): an init container after the sidecar fails → Failed, both ran together.
#[test]
fn s8_s9_failing_init_around_a_sidecar_under_never() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "s8",
        policy: "Never",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 1),
            ("ri-1", true, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "1", 0)],
    }));
    d.apply(&yaml(&Spec {
        name: "s9",
        policy: "Never",
        grace: 2,
        inits: vec![
            ("ri-1", true, "1", "inf", 0),
            ("init-1", false, "1", "1", 1),
        ],
        regular: vec![("regular-1", "1", "1", 0)],
    }));
    d.wait_phase("s8", "Failed", LONG);
    let ev = events(&d, "s8");
    doesnt_start(&ev, "ri-1");
    doesnt_start(&ev, "regular-1");
    let p = d.wait_phase("s9", "Failed", LONG);
    let ev = events(&d, "s9");
    run_together(&ev, "ri-1", "init-1");
    doesnt_start(&ev, "regular-1");
    assert_eq!(d.row("s9")[2], "Init:Error");
    // The sidecar was stopped when the pod failed.
    d.wait_pod("s9", LONG, "ri-1 terminated", |p| {
        status_of(p, "initContainerStatuses", "ri-1")["state"]["terminated"].is_object()
    });
    let _ = p;
}

// S15/S16 (OnFailure): a failing init container before the sidecar keeps the pod Pending and the
// sidecar never starts; one after the sidecar restarts again and again alongside it.
#[test]
fn s15_s16_failing_init_around_a_sidecar_under_onfailure() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "s15",
        policy: "OnFailure",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 1),
            ("ri-1", true, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "1", 0)],
    }));
    d.apply(&yaml(&Spec {
        name: "s16",
        policy: "OnFailure",
        grace: 2,
        inits: vec![
            ("ri-1", true, "1", "0.5", 1),
            ("init-1", false, "1", "0.5", 1),
        ],
        regular: vec![("regular-1", "1", "1", 0)],
    }));
    let p = d.wait_pod("s15", LONG, "init-1 restarted 3 times", |p| {
        restarts(p, "initContainerStatuses", "init-1") >= 3
    });
    assert_eq!(p["status"]["phase"], "Pending");
    doesnt_start(&events(&d, "s15"), "ri-1");
    let p = d.wait_pod("s16", LONG, "ri-1 and init-1 restarted", |p| {
        restarts(p, "initContainerStatuses", "ri-1") >= 3
            && restarts(p, "initContainerStatuses", "init-1") >= 1
    });
    assert_eq!(p["status"]["phase"], "Pending");
    let ev = events(&d, "s16");
    run_together(&ev, "ri-1", "init-1");
    doesnt_start(&ev, "regular-1");
}

// S4 (Never): updating a running sidecar's image restarts only that sidecar.
#[test]
fn s4_sidecar_image_update_restarts_only_it() {
    let Some(d) = with_two_images() else { return };
    let mut s = Spec {
        name: "s4",
        policy: "Never",
        grace: 2,
        inits: vec![("ri-1", true, "1", "inf", 0), ("ri-2", true, "1", "inf", 0)],
        regular: vec![("regular-1", "1", "inf", 0)],
    };
    d.apply(&yaml(&s));
    d.wait_running("s4");
    s.inits[0].2 = "2";
    d.apply(&yaml(&s));
    let p = d.wait_pod("s4", LONG, "ri-1 restarted with the new image", |p| {
        restarted_with_image(p, "initContainerStatuses", "ri-1", "localhost/busybox:2")
    });
    assert_eq!(restarts(&p, "initContainerStatuses", "ri-2"), 0);
    assert_eq!(restarts(&p, "containerStatuses", "regular-1"), 0);
}

// T1 / §4.5: on deletion the main container stops first, then sidecars in reverse order.
#[test]
fn t1_sidecars_stop_in_reverse_order_on_delete() {
    let Some(d) = Daemon::start() else { return };
    // The log lives on a hostPath so it outlives the pod's directory.
    let host_log = d.root.path().join("t1-log");
    let y = yaml(&Spec {
        name: "t1",
        policy: "Always",
        grace: 10,
        inits: vec![
            ("ri-1", true, "1", "inf", 0),
            ("ri-2", true, "1", "inf", 0),
            ("ri-3", true, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    })
    .replace(
        "{name: log, emptyDir: {}}",
        &format!(
            "{{name: log, hostPath: {{path: {}, type: DirectoryOrCreate}}}}",
            host_log.display()
        ),
    );
    d.apply(&y);
    d.wait_running("t1");
    d.ok(&["delete", "pod", "t1"]);
    let ev = order_log(&std::fs::read_to_string(host_log.join("events")).unwrap());
    for c in ["regular-1", "ri-1", "ri-2", "ri-3"] {
        assert_eq!(
            count(&ev, c, "Exiting"),
            1,
            "{c} handled SIGTERM once: {ev:?}"
        );
    }
    exits_before(&ev, "regular-1", "ri-3");
    exits_before(&ev, "ri-3", "ri-2");
    exits_before(&ev, "ri-2", "ri-1");
}

// T7/T8: deleting a pod while an init container (regular or sidecar) runs never hangs.
#[test]
fn t7_delete_during_initialization_does_not_hang() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "t7",
        policy: "Always",
        grace: 3,
        inits: vec![
            ("ri-1", true, "1", "inf", 0),
            ("init-1", false, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    }));
    d.wait_pod("t7", LONG, "init-1 running", |p| {
        status_of(p, "initContainerStatuses", "init-1")["state"]["running"].is_object()
    });
    let t = std::time::Instant::now();
    d.ok(&["delete", "pod", "t7"]);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "deletion during init took {:?}",
        t.elapsed()
    );
}

// §5.3 / §9: a crash-looping container shows CrashLoopBackOff with kubelet's message, and
// RESTARTS "N (D ago)".
#[test]
fn crash_loop_back_off_status() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "crashy",
        policy: "Always",
        grace: 2,
        inits: vec![],
        regular: vec![("c", "1", "0", 1)],
    }));
    let p = d.wait_pod("crashy", LONG, "CrashLoopBackOff", |p| {
        status_of(p, "containerStatuses", "c")["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    let c = status_of(&p, "containerStatuses", "c");
    let uid = p["metadata"]["uid"].as_str().unwrap();
    let msg = c["state"]["waiting"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("back-off ")
            && msg.ends_with(&format!(
                " restarting failed container=c pod=crashy_default({uid})"
            )),
        "{msg}"
    );
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 1);
    assert_eq!(c["lastState"]["terminated"]["reason"], "Error");
    assert_eq!(p["status"]["phase"], "Running");
    let row = d.row("crashy");
    assert_eq!(row[1], "0/1");
    assert!(
        row[3].parse::<i64>().unwrap() >= 1 && row[4].starts_with('(') && row[5] == "ago)",
        "{row:?}"
    );
    let describe = d.ok(&["describe", "pod", "crashy"]);
    assert!(
        describe.contains("Back-off restarting failed container c in pod crashy_default("),
        "{describe}"
    );
    let ev = d.ok(&["get", "events"]);
    assert!(
        ev.starts_with("LAST SEEN") && ev.contains("BackOff") && ev.contains("pod/crashy"),
        "{ev}"
    );
}

/// The last object a `get pod NAME -w -o json` prints before the pod goes away.
fn final_object(d: &Daemon, name: &str, act: impl FnOnce()) -> serde_json::Value {
    let child = d
        .cmd(&["get", "pod", name, "-w", "-o", "json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    act();
    // The watch stream ends when the daemon ends it; stop it once the pod is gone.
    std::thread::sleep(Duration::from_millis(300));
    let mut child = child;
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut objects: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    objects.pop().unwrap_or_default()
}

// §7.6 step 4 / §14.15: after deletion the terminal phase follows the exit codes: a main
// container that handles SIGTERM and exits 0 → Succeeded; one that is SIGKILLed (137) → Failed.
#[test]
fn terminal_phase_after_deletion_follows_exit_codes() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "polite",
        policy: "Always",
        grace: 2,
        inits: vec![("ri-1", true, "1", "inf", 0)],
        regular: vec![("main", "1", "inf", 0)],
    }));
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: rude}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: main, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    d.wait_running("polite");
    d.wait_running("rude");
    let last = final_object(&d, "polite", || {
        d.ok(&["delete", "pod", "polite"]);
    });
    assert_eq!(last["status"]["phase"], "Succeeded", "{}", last["status"]);
    assert_eq!(
        status_of(&last, "containerStatuses", "main")["state"]["terminated"]["exitCode"],
        0
    );
    let last = final_object(&d, "rude", || {
        d.ok(&["delete", "pod", "rude"]);
    });
    assert_eq!(last["status"]["phase"], "Failed", "{}", last["status"]);
    assert_eq!(
        status_of(&last, "containerStatuses", "main")["state"]["terminated"]["exitCode"],
        137
    );
}

// S5 (Never): a sidecar whose image cannot be pulled: ErrImagePull then ImagePullBackOff,
// nothing after it starts, and the pod stays Pending (this is not a container exit).
#[test]
fn s5_sidecar_with_missing_image_blocks_the_pod() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "s5",
        policy: "Never",
        grace: 2,
        inits: vec![("ri-1", true, "9", "inf", 0)],
        regular: vec![("regular-1", "1", "1", 0)],
    }));
    let p = d.wait_pod("s5", LONG, "ErrImagePull", |p| {
        status_of(p, "initContainerStatuses", "ri-1")["state"]["waiting"]["reason"]
            == "ErrImagePull"
    });
    assert_eq!(d.row("s5")[2], "Init:ErrImagePull");
    assert_eq!(p["status"]["phase"], "Pending");
    let p = d.wait_pod("s5", LONG, "ImagePullBackOff", |p| {
        status_of(p, "initContainerStatuses", "ri-1")["state"]["waiting"]["reason"]
            == "ImagePullBackOff"
    });
    assert_eq!(
        status_of(&p, "initContainerStatuses", "ri-1")["state"]["waiting"]["message"],
        "Back-off pulling image \"localhost/busybox:9\""
    );
    assert_eq!(d.row("s5")[2], "Init:ImagePullBackOff");
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(
        status_of(&p, "containerStatuses", "regular-1")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    let describe = d.ok(&["describe", "pod", "s5"]);
    assert!(
        describe.contains("Failed to pull image \"localhost/busybox:9\"")
            && describe.contains("Back-off pulling image"),
        "{describe}"
    );
}

// S2 (Always): while init-2 runs, updating the running sidecar ri-1's image restarts only ri-1;
// init-1 and init-2 are not restarted and nothing after init-2 starts.
#[test]
fn s2_sidecar_image_update_during_init() {
    let Some(d) = with_two_images() else { return };
    let mut s = Spec {
        name: "s2",
        policy: "Always",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 0),
            ("ri-1", true, "1", "inf", 0),
            ("init-2", false, "1", "inf", 0),
            ("ri-2", true, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    };
    d.apply(&yaml(&s));
    d.wait_pod("s2", LONG, "init-2 running", |p| {
        status_of(p, "initContainerStatuses", "init-2")["state"]["running"].is_object()
    });
    s.inits[1].2 = "2";
    d.apply(&yaml(&s));
    let p = d.wait_pod("s2", LONG, "ri-1 restarted with the new image", |p| {
        restarted_with_image(p, "initContainerStatuses", "ri-1", "localhost/busybox:2")
    });
    assert_eq!(p["status"]["phase"], "Pending");
    let ev = events(&d, "s2");
    assert_eq!(
        (
            count(&ev, "init-1", "Started"),
            count(&ev, "init-2", "Started")
        ),
        (1, 1),
        "{ev:?}"
    );
    doesnt_start(&ev, "ri-2");
    doesnt_start(&ev, "regular-1");
}

// L33: a daemon (kubelet) restart with a running, initialized pod re-runs nothing: the same
// containers keep running and restart counts stay 0.
#[test]
fn l33_daemon_restart_reruns_nothing() {
    let Some(mut d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "l33",
        policy: "Always",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 0),
            ("ri-1", true, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    }));
    let before = d.wait_running("l33");
    d.restart();
    std::thread::sleep(Duration::from_secs(2));
    let after = d.wait_running("l33");
    for (list, c) in [
        ("initContainerStatuses", "ri-1"),
        ("containerStatuses", "regular-1"),
    ] {
        assert_eq!(
            status_of(&after, list, c)["containerID"],
            status_of(&before, list, c)["containerID"],
            "{c} kept running"
        );
        assert_eq!(restarts(&after, list, c), 0);
    }
    let ev = events(&d, "l33");
    for c in ["init-1", "ri-1", "regular-1"] {
        assert_eq!(count(&ev, c, "Started"), 1, "{c}: {ev:?}");
    }
    // The re-adopted pod still works: exec and delete.
    assert_eq!(stdout(&d.exec("l33", "regular-1", &["hostname"])), "l33\n");
    d.ok(&["delete", "pod", "l33"]);
}

// L35: a daemon restart while the pod initializes: completed init containers are not re-run and
// initialization carries on.
#[test]
fn l35_daemon_restart_during_init() {
    let Some(mut d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "l35",
        policy: "Always",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 0),
            ("init-2", false, "1", "0", 0),
            ("init-3", false, "1", "3", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    }));
    d.wait_pod("l35", LONG, "init-3 running", |p| {
        status_of(p, "initContainerStatuses", "init-3")["state"]["running"].is_object()
    });
    d.restart();
    d.wait_running("l35");
    let ev = events(&d, "l35");
    for c in ["init-1", "init-2", "init-3"] {
        assert_eq!(count(&ev, c, "Started"), 1, "{c}: {ev:?}");
    }
    exits_before_start(&ev, "init-3", "regular-1");
}

// L19–L21 (Never): an init container whose image cannot be pulled: ErrImagePull →
// ImagePullBackOff; neither it nor the regular container ever runs; the pod stays Pending.
#[test]
fn l19_init_container_with_missing_image() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "l19",
        policy: "Never",
        grace: 2,
        inits: vec![("init-1", false, "9", "0", 0)],
        regular: vec![("regular-1", "1", "1", 0)],
    }));
    let p = d.wait_pod("l19", LONG, "ImagePullBackOff", |p| {
        status_of(p, "initContainerStatuses", "init-1")["state"]["waiting"]["reason"]
            == "ImagePullBackOff"
    });
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(d.row("l19")[2], "Init:ImagePullBackOff");
    assert_eq!(
        status_of(&p, "containerStatuses", "regular-1")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert!(events(&d, "l19").is_empty());
}

// L30 / L31: an init container's image updated to one that does not exist, after the pod runs or
// while it terminates: the completed init container is not re-run; the pod keeps running / ends.
#[test]
fn l30_l31_init_image_updates_after_init_are_ignored() {
    let Some(d) = Daemon::start() else { return };
    let mut s = Spec {
        name: "l30",
        policy: "Always",
        grace: 2,
        inits: vec![("init-1", false, "1", "0", 0)],
        regular: vec![("regular-1", "1", "inf", 0)],
    };
    d.apply(&yaml(&s));
    d.wait_running("l30");
    s.inits[0].2 = "9";
    d.apply(&yaml(&s));
    std::thread::sleep(Duration::from_secs(2));
    let p = d.wait_running("l30");
    let i = status_of(&p, "initContainerStatuses", "init-1");
    assert_eq!(
        (i["image"].as_str(), i["restartCount"].as_i64()),
        (Some("localhost/busybox:1"), Some(0))
    );
    assert_eq!(count(&events(&d, "l30"), "init-1", "Started"), 1);
    // L31: the same update during termination.
    let del = d.cmd(&["delete", "pod", "l30"]).spawn().unwrap();
    s.inits[0].2 = "1";
    let _ = d.apply_output(&yaml(&s));
    assert!(del.wait_with_output().unwrap().status.success());
}

// S2 (Never variant): init-2 fails while the sidecar is updated → ri-1 restarted with the new
// image, the pod Fails, init-1/init-2 are not restarted, nothing later starts, ri-1 stopped last.
#[test]
fn s2_never_init_fails_while_sidecar_updates() {
    let Some(d) = with_two_images() else { return };
    let mut s = Spec {
        name: "s2n",
        policy: "Never",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 0),
            ("ri-1", true, "1", "inf", 0),
            ("init-2", false, "1", "3", 1),
            ("ri-2", true, "1", "inf", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    };
    d.apply(&yaml(&s));
    d.wait_pod("s2n", LONG, "init-2 running", |p| {
        status_of(p, "initContainerStatuses", "init-2")["state"]["running"].is_object()
    });
    s.inits[1].2 = "2";
    d.apply(&yaml(&s));
    let p = d.wait_phase("s2n", "Failed", LONG);
    assert_eq!(
        status_of(&p, "initContainerStatuses", "ri-1")["image"],
        "localhost/busybox:2"
    );
    let ev = events(&d, "s2n");
    assert_eq!(
        (
            count(&ev, "init-1", "Started"),
            count(&ev, "init-2", "Started")
        ),
        (1, 1),
        "{ev:?}"
    );
    doesnt_start(&ev, "ri-2");
    doesnt_start(&ev, "regular-1");
    d.wait_pod("s2n", LONG, "ri-1 stopped", |p| {
        status_of(p, "initContainerStatuses", "ri-1")["state"]["terminated"].is_object()
    });
    // The sidecar's final stop comes after init-2 failed (its first exit was the image update).
    let ev = events(&d, "s2n");
    let last_ri = ev
        .iter()
        .rev()
        .find(|(_, n, e)| n == "ri-1" && e == "Exiting")
        .map(|e| e.0);
    assert!(first(&ev, "init-2", "Exiting") <= last_ri, "{ev:?}");
}

// §4.5 grace arithmetic: a sidecar waits for the main container, then still gets the 2 s floor,
// so a pod whose containers all ignore SIGTERM takes about TGPS + 2 s to delete.
#[test]
fn sidecar_gets_the_two_second_floor_after_the_grace_period() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: floor}}\nspec:\n  terminationGracePeriodSeconds: 3\n  initContainers: [{{name: side, image: {IMAGE}, restartPolicy: Always, command: [sleep, '3600']}}]\n  containers: [{{name: main, image: {IMAGE}, command: [sleep, '3600']}}]\n"
    ));
    d.wait_running("floor");
    let t = std::time::Instant::now();
    d.ok(&["delete", "pod", "floor"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(4500) && took < Duration::from_secs(12),
        "expected ≈ 3 s + 2 s, took {took:?}"
    );
}

// L32 / §3.1 / §14.16: after a reboot the sandbox is recreated and every init container runs again,
// in order, before the regular container restarts; under Never a finished pod is not recreated.
#[test]
fn l32_reboot_reruns_init_containers() {
    let Some(mut d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "l32",
        policy: "Always",
        grace: 2,
        inits: vec![
            ("init-1", false, "1", "0", 0),
            ("init-2", false, "1", "0", 0),
            ("init-3", false, "1", "0", 0),
        ],
        regular: vec![("regular-1", "1", "inf", 0)],
    }));
    d.apply(&yaml(&Spec {
        name: "l32-never",
        policy: "Never",
        grace: 2,
        inits: vec![],
        regular: vec![("regular-1", "1", "inf", 0)],
    }));
    d.wait_running("l32");
    d.wait_running("l32-never");
    machine_crash(&mut d);
    d.restart();
    let p = d.wait_pod("l32", LONG, "regular-1 running again", |p| {
        restarts(p, "containerStatuses", "regular-1") >= 1
            && status_of(p, "containerStatuses", "regular-1")["state"]["running"].is_object()
    });
    let ev = events(&d, "l32");
    for c in ["init-1", "init-2", "init-3", "regular-1"] {
        assert_eq!(count(&ev, c, "Started"), 2, "{c}: {ev:?}");
    }
    let second = |c: &str| {
        ev.iter()
            .filter(|(_, n, e)| n == c && e == "Started")
            .nth(1)
            .map(|e| e.0)
            .unwrap()
    };
    assert!(
        second("init-1") < second("init-2")
            && second("init-2") < second("init-3")
            && second("init-3") < second("regular-1"),
        "{ev:?}"
    );
    assert_eq!(p["status"]["phase"], "Running");
    // Never: not recreated; the container that went with the sandbox is ContainerStatusUnknown.
    let p = d.wait_phase("l32-never", "Failed", LONG);
    let t = &status_of(&p, "containerStatuses", "regular-1")["state"]["terminated"];
    assert_eq!(
        (t["reason"].as_str(), t["exitCode"].as_i64()),
        (Some("ContainerStatusUnknown"), Some(137)),
        "{t}"
    );
    assert_eq!(count(&events(&d, "l32-never"), "regular-1", "Started"), 1);
}

// L34: a daemon restart after the records of completed init containers were deleted: they are
// not re-run (status made up as Completed, §3.2) and the regular container keeps running.
#[test]
fn l34_lost_init_records_do_not_rerun() {
    let Some(mut d) = Daemon::start() else { return };
    d.apply(&yaml(&Spec {
        name: "l34",
        policy: "Always",
        grace: 2,
        inits: vec![("init-1", false, "1", "0", 0)],
        regular: vec![("regular-1", "1", "inf", 0)],
    }));
    let before = d.wait_running("l34");
    d.stop();
    let dir = d.pod_dir("l34");
    std::fs::remove_dir_all(dir.join("init-1")).unwrap();
    d.restart();
    std::thread::sleep(Duration::from_secs(2));
    let p = d.wait_running("l34");
    let t = &status_of(&p, "initContainerStatuses", "init-1")["state"]["terminated"];
    assert_eq!(t["reason"], "Completed", "{t}");
    assert_eq!(
        status_of(&p, "containerStatuses", "regular-1")["containerID"],
        status_of(&before, "containerStatuses", "regular-1")["containerID"]
    );
    assert_eq!(count(&events(&d, "l34"), "init-1", "Started"), 1);
}
