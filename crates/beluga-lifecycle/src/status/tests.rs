//! spec §8.1 phase, §8.2 conditions, §5.4 reasons, §3.2 waiting reasons.
#![allow(clippy::type_complexity)] // table tests read best as tuples

use super::*;
use crate::planner::tests_support::{inst, pod};
use State::*;

fn status(p: &Pod, instances: Vec<Instance>, terminal: bool) -> PodStatus {
    let o = Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances,
    };
    pod_status(
        p,
        &StatusInput {
            observed: Some(&o),
            terminal,
            runtime: "runc",
            ..Default::default()
        },
    )
}

fn cond<'a>(s: &'a PodStatus, kind: &str) -> &'a PodCondition {
    s.conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == kind)
        .unwrap()
}

#[test]
#[allow(clippy::too_many_lines)] // a table of cases
fn phase_table() {
    let cases: Vec<(&str, Pod, Vec<(&str, i32, State, Option<i32>)>, bool, &str)> = vec![
        (
            "init running → Pending",
            pod("Always", &[("i", false)], &["a"]),
            vec![("i", 0, Running, None)],
            false,
            "Pending",
        ),
        (
            "init failed + Never → Failed",
            pod("Never", &[("i", false)], &["a"]),
            vec![("i", 0, Exited, Some(1))],
            false,
            "Failed",
        ),
        (
            "init failed + Always → Pending",
            pod("Always", &[("i", false)], &["a"]),
            vec![("i", 0, Exited, Some(1))],
            false,
            "Pending",
        ),
        (
            "running",
            pod("Always", &[], &["a"]),
            vec![("a", 0, Running, None)],
            false,
            "Running",
        ),
        (
            "exited 0 under Always → Running",
            pod("Always", &[], &["a"]),
            vec![("a", 0, Exited, Some(0))],
            false,
            "Running",
        ),
        (
            "exited 0 under Never → Succeeded",
            pod("Never", &[], &["a"]),
            vec![("a", 0, Exited, Some(0))],
            false,
            "Succeeded",
        ),
        (
            "exited 1 under Never → Failed",
            pod("Never", &[], &["a"]),
            vec![("a", 0, Exited, Some(1))],
            false,
            "Failed",
        ),
        (
            "exited 1 under OnFailure → Running",
            pod("OnFailure", &[], &["a"]),
            vec![("a", 0, Exited, Some(1))],
            false,
            "Running",
        ),
        (
            "terminal + 137 → Failed",
            pod("Always", &[], &["a"]),
            vec![("a", 0, Exited, Some(137))],
            true,
            "Failed",
        ),
        (
            "terminal + 0 → Succeeded",
            pod("Always", &[], &["a"]),
            vec![("a", 0, Exited, Some(0))],
            true,
            "Succeeded",
        ),
        (
            "not created → Pending",
            pod("Always", &[], &["a"]),
            vec![],
            false,
            "Pending",
        ),
        (
            "sidecar ignored for phase",
            pod("Never", &[("s", true)], &["a"]),
            vec![("s", 0, Exited, Some(137)), ("a", 0, Exited, Some(0))],
            true,
            "Succeeded",
        ),
        (
            "sidecar running not-started before init → Pending",
            pod("Never", &[("s", true)], &["a"]),
            vec![],
            false,
            "Pending",
        ),
    ];
    for (name, p, insts, terminal, want) in cases {
        let instances = insts
            .into_iter()
            .map(|(n, a, s, e)| inst(&p, n, a, s, e))
            .collect();
        assert_eq!(
            status(&p, instances, terminal).phase.as_deref(),
            Some(want),
            "{name}"
        );
    }
}

#[test]
fn waiting_reasons_before_start() {
    // §3.2: PodInitializing with init containers, ContainerCreating without.
    let p = pod("Always", &[("i1", false), ("i2", false)], &["a"]);
    let s = status(&p, vec![inst(&p, "i1", 0, Running, None)], false);
    let w = |st: &ContainerStatus| {
        st.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .clone()
            .unwrap()
    };
    assert_eq!(
        w(&s.init_container_statuses.as_ref().unwrap()[1]),
        "PodInitializing"
    );
    assert_eq!(
        w(&s.container_statuses.as_ref().unwrap()[0]),
        "PodInitializing"
    );
    let p = pod("Always", &[], &["a"]);
    let s = status(&p, vec![], false);
    assert_eq!(
        w(&s.container_statuses.as_ref().unwrap()[0]),
        "ContainerCreating"
    );
}

#[test]
fn initialized_condition_messages() {
    // §8.2, [e2e] I3: failing init1 with init2 after it.
    let p = pod("Always", &[("init1", false), ("init2", false)], &["run1"]);
    let s = status(&p, vec![inst(&p, "init1", 0, Exited, Some(1))], false);
    let c = cond(&s, "Initialized");
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
        (
            "False",
            Some("ContainersNotInitialized"),
            Some("containers with incomplete status: [init1 init2]")
        )
    );
    // I4: init1 succeeded, init2 failed.
    let p = pod("Never", &[("init1", false), ("init2", false)], &["run1"]);
    let s = status(
        &p,
        vec![
            inst(&p, "init1", 0, Exited, Some(0)),
            inst(&p, "init2", 0, Exited, Some(1)),
        ],
        false,
    );
    assert_eq!(
        cond(&s, "Initialized").message.as_deref(),
        Some("containers with incomplete status: [init2]")
    );
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    // Completed init: ready, started false, terminated Completed.
    let s = status(
        &p,
        vec![
            inst(&p, "init1", 0, Exited, Some(0)),
            inst(&p, "init2", 0, Exited, Some(0)),
            inst(&p, "run1", 0, Running, None),
        ],
        false,
    );
    let i1 = &s.init_container_statuses.as_ref().unwrap()[0];
    assert!(i1.ready);
    assert_eq!(i1.started, Some(false));
    assert_eq!(
        i1.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    assert_eq!(cond(&s, "Initialized").status, "True");
    assert_eq!(cond(&s, "Ready").status, "True");
}

#[test]
fn ready_conditions() {
    // §8.2: ContainersNotReady lists unready containers; sidecars count.
    let p = pod("Always", &[("s", true)], &["a", "b"]);
    let s = status(
        &p,
        vec![
            inst(&p, "s", 0, Running, None),
            inst(&p, "a", 0, Running, None),
            inst(&p, "b", 0, Exited, Some(1)),
        ],
        false,
    );
    let c = cond(&s, "ContainersReady");
    assert_eq!(
        (c.status.as_str(), c.reason.as_deref(), c.message.as_deref()),
        (
            "False",
            Some("ContainersNotReady"),
            Some("containers with unready status: [b]")
        )
    );
    let p = pod("Never", &[], &["a"]);
    let s = status(&p, vec![inst(&p, "a", 0, Exited, Some(0))], false);
    assert_eq!(cond(&s, "Ready").reason.as_deref(), Some("PodCompleted"));
}

#[test]
fn crash_loop_waiting_and_last_state() {
    // §5.4: waiting CrashLoopBackOff with lastState.terminated from the previous instance.
    let p = pod("Always", &[], &["a"]);
    let o = Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances: vec![
            inst(&p, "a", 0, Exited, Some(1)),
            inst(&p, "a", 1, Exited, Some(1)),
        ],
    };
    let mut waiting = HashMap::new();
    waiting.insert(
        "a".into(),
        WaitingReason {
            reason: "CrashLoopBackOff".into(),
            message: "back-off 10s restarting failed container=a pod=p_default(u)".into(),
        },
    );
    let s = pod_status(
        &p,
        &StatusInput {
            observed: Some(&o),
            waiting,
            runtime: "runc",
            ..Default::default()
        },
    );
    let cs = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(cs.restart_count, 1);
    assert_eq!(
        cs.state
            .as_ref()
            .unwrap()
            .waiting
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("CrashLoopBackOff")
    );
    assert_eq!(
        cs.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
    assert_eq!(s.phase.as_deref(), Some("Running"));
}

#[test]
fn terminal_phase_sticks() {
    // §8.1 post-processing.
    let p = pod("Always", &[], &["a"]);
    let prev = PodStatus {
        phase: Some("Failed".into()),
        ..Default::default()
    };
    let o = Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances: vec![inst(&p, "a", 0, Running, None)],
    };
    let s = pod_status(
        &p,
        &StatusInput {
            observed: Some(&o),
            previous: Some(&prev),
            runtime: "runc",
            ..Default::default()
        },
    );
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

// spec §4.6: what sidecars do to phase, Initialized and readiness.
#[test]
fn sidecar_effects_table() {
    let p = pod("Always", &[("s", true)], &["a"]);
    // Running sidecar after init: counts as running → Running, Initialized, both must be ready.
    let st = status(
        &p,
        vec![
            inst(&p, "s", 0, Running, None),
            inst(&p, "a", 0, Running, None),
        ],
        false,
    );
    assert_eq!(st.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&st, "Initialized").status, "True");
    assert_eq!(cond(&st, "ContainersReady").status, "True");
    // A restarting sidecar (waiting with lastState) after init is ignored: still Running, but
    // not ready, so ContainersReady is False and names it.
    let o = Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances: vec![
            inst(&p, "s", 0, Exited, Some(1)),
            inst(&p, "a", 0, Running, None),
        ],
    };
    let mut waiting = HashMap::new();
    waiting.insert(
        "s".to_string(),
        WaitingReason {
            reason: "CrashLoopBackOff".into(),
            message: String::new(),
        },
    );
    let st = pod_status(
        &p,
        &StatusInput {
            observed: Some(&o),
            waiting,
            runtime: "runc",
            ..Default::default()
        },
    );
    assert_eq!(st.phase.as_deref(), Some("Running"));
    assert_eq!(
        cond(&st, "ContainersReady").message.as_deref(),
        Some("containers with unready status: [s]")
    );
    // Sidecar not started yet (startup probe pending) before any regular container: Pending,
    // Initialized False naming the sidecar.
    let mut p2 = p.clone();
    p2.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[0].startup_probe =
        Some(Default::default());
    let st = status(&p2, vec![inst(&p2, "s", 0, Running, None)], false);
    assert_eq!(st.phase.as_deref(), Some("Pending"));
    assert_eq!(
        cond(&st, "Initialized").message.as_deref(),
        Some("containers with incomplete status: [s]")
    );
    let s = &st.init_container_statuses.as_ref().unwrap()[0];
    assert_eq!((s.started, s.ready), (Some(false), false));
    // With a recorded startup success it is started (and ready, having no readiness probe).
    let o = Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances: vec![inst(&p2, "s", 0, Running, None)],
    };
    let mut probes = ProbeResults::default();
    probes.startup.insert("s-0".into(), ProbeResult::Success);
    let st = pod_status(
        &p2,
        &StatusInput {
            observed: Some(&o),
            probes: Some(&probes),
            runtime: "runc",
            ..Default::default()
        },
    );
    let s = &st.init_container_statuses.as_ref().unwrap()[0];
    assert_eq!((s.started, s.ready), (Some(true), true));
    assert_eq!(cond(&st, "Initialized").status, "True");
}

// spec §3.2: a completed init container whose runtime record is gone is reported Completed.
#[test]
fn lost_init_record_after_initialization() {
    let p = pod("Always", &[("i", false)], &["a"]);
    let st = status(&p, vec![inst(&p, "a", 0, Running, None)], false);
    let i = &st.init_container_statuses.as_ref().unwrap()[0];
    let t = i.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    assert_eq!(t.message.as_deref(), Some("Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally"));
    assert!(i.ready);
    assert_eq!(st.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&st, "Initialized").status, "True");
}

// spec §11.1 (emptyDir sizeLimit eviction), attack report 5.11: an evicted pod is Failed with
// kubelet's reason and message, which stay once the pod is terminal.
#[test]
fn evicted_pods_are_failed_with_reason() {
    let p = pod("Always", &[], &["a"]);
    let o = Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances: vec![inst(&p, "a", 0, Running, None)],
    };
    let msg = "Usage of EmptyDir volume \"v\" exceeds the limit \"100Mi\". ".to_string();
    let evicted = pod_status(
        &p,
        &StatusInput {
            observed: Some(&o),
            runtime: "runc",
            ended: Some(("Evicted".into(), msg.clone())),
            ..Default::default()
        },
    );
    assert_eq!(evicted.phase.as_deref(), Some("Failed"));
    assert_eq!(evicted.reason.as_deref(), Some("Evicted"));
    assert_eq!(evicted.message.as_deref(), Some(msg.as_str()));
    // Later statuses keep them through the previous one (after a daemon restart too).
    let later = pod_status(
        &p,
        &StatusInput {
            observed: Some(&o),
            runtime: "runc",
            terminal: true,
            previous: Some(&evicted),
            ..Default::default()
        },
    );
    assert_eq!(
        (later.phase, later.reason),
        (Some("Failed".into()), Some("Evicted".into()))
    );
    // A pod that is not ended has neither.
    let running = status(&p, vec![inst(&p, "a", 0, Running, None)], false);
    assert_eq!((running.reason, running.message), (None, None));
}

// Issue 14 item 4: a pod the scheduler could not bind (its hostPorts taken) is Pending with only
// PodScheduled=False, reason Unschedulable and the scheduler's message; no kubelet status.
#[test]
fn an_unschedulable_pod_shows_only_the_scheduler_condition() {
    let p = pod("Always", &[], &["app"]);
    let s = pod_status(
        &p,
        &StatusInput {
            unschedulable: Some(crate::scheduling::NO_FREE_PORTS.into()),
            runtime: "runc",
            host_ip: Some("192.0.2.10".into()),
            pod_ips: vec!["10.88.0.2".into()],
            ..Default::default()
        },
    );
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let conds = s.conditions.as_ref().unwrap();
    assert_eq!(conds.len(), 1);
    assert_eq!(
        (
            conds[0].type_.as_str(),
            conds[0].status.as_str(),
            conds[0].reason.as_deref(),
            conds[0].message.as_deref()
        ),
        (
            "PodScheduled",
            "False",
            Some("Unschedulable"),
            Some(crate::scheduling::NO_FREE_PORTS)
        )
    );
    assert!(s.container_statuses.is_none() && s.host_ip.is_none() && s.pod_ip.is_none());
    assert!(s.start_time.is_none());
}
