//! Table tests for spec §2.1, §3.3, §4.1, §4.3, §4.4 and §5.2.
#![allow(clippy::type_complexity)] // table tests read best as tuples

use super::*;
use crate::observed::Instance;
use crate::Timestamp;
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

/// `inits`: (name, sidecar); `regular`: names.
pub fn pod(policy: &str, inits: &[(&str, bool)], regular: &[&str]) -> Pod {
    let init: Vec<_> = inits
        .iter()
        .map(|(n, s)| {
            if *s {
                json!({"name": n, "image": "i", "restartPolicy": "Always"})
            } else {
                json!({"name": n, "image": "i"})
            }
        })
        .collect();
    let cs: Vec<_> = regular
        .iter()
        .map(|n| json!({"name": n, "image": "i"}))
        .collect();
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "uid": "u"},
        "spec": {"restartPolicy": policy, "initContainers": init, "containers": cs}}))
    .unwrap()
}

pub fn inst(pod: &Pod, name: &str, attempt: i32, state: State, exit: Option<i32>) -> Instance {
    let c = beluga_api::podutil::all_containers(pod)
        .find(|c| c.name == name)
        .unwrap();
    let t0 = Timestamp::from_second(1_700_000_000).unwrap();
    Instance {
        name: name.into(),
        attempt,
        id: format!("{name}-{attempt}"),
        image: "i".into(),
        image_id: String::new(),
        spec_hash: spec_hash(c),
        state,
        created_at: t0,
        started_at: Some(t0),
        finished_at: (state == State::Exited).then_some(t0),
        exit_code: exit,
        reason: None,
        message: None,
    }
}

fn obs(instances: Vec<Instance>) -> Observed {
    Observed {
        sandbox_ready: true,
        sandbox_attempt: 0,
        instances,
    }
}

fn plan(p: &Pod, o: &Observed) -> PodActions {
    compute_pod_actions(p, o, &ProbeResults::default())
}

use State::*;

#[test]
fn new_pod_without_sandbox() {
    // §2.1.1: no sandbox → create it; with init containers start initContainers[0] only.
    let p = pod("Always", &[("i1", false), ("i2", false)], &["a"]);
    let a = compute_pod_actions(&p, &Observed::default(), &ProbeResults::default());
    assert!(a.create_sandbox && a.kill_pod);
    assert_eq!((a.init_to_start, a.containers_to_start), (vec![0], vec![]));
    let p = pod("Always", &[], &["a", "b"]);
    let a = compute_pod_actions(&p, &Observed::default(), &ProbeResults::default());
    assert_eq!(a.containers_to_start, vec![0, 1]);
}

#[test]
fn sandbox_lost_never_pod_is_done() {
    // §2.1.1 / §14.16: Never + attempt != 0 + statuses → no new sandbox.
    let p = pod("Never", &[], &["a"]);
    let o = Observed {
        sandbox_ready: false,
        sandbox_attempt: 1,
        instances: vec![inst(&p, "a", 0, Exited, Some(0))],
    };
    let a = compute_pod_actions(&p, &o, &ProbeResults::default());
    assert!(a.kill_pod && !a.create_sandbox);
    // Always: recreated, init containers from the first (§3.1 "sandbox recreation re-runs everything").
    let p = pod("Always", &[("i1", false)], &["a"]);
    let o = Observed {
        sandbox_ready: false,
        sandbox_attempt: 1,
        instances: vec![
            inst(&p, "i1", 0, Exited, Some(0)),
            inst(&p, "a", 0, Exited, Some(1)),
        ],
    };
    let a = compute_pod_actions(&p, &o, &ProbeResults::default());
    assert!(a.create_sandbox);
    assert_eq!(a.init_to_start, vec![0]);
    // OnFailure: succeeded containers are skipped; nothing to start and initialized → no sandbox.
    let p = pod("OnFailure", &[], &["a"]);
    let o = Observed {
        sandbox_ready: false,
        sandbox_attempt: 1,
        instances: vec![inst(&p, "a", 0, Exited, Some(0))],
    };
    let a = compute_pod_actions(&p, &o, &ProbeResults::default());
    assert!(a.kill_pod && !a.create_sandbox);
}

#[test]
fn init_containers_run_one_at_a_time() {
    // §3.1 Sequential: i2 starts only after i1 exited 0; regular containers wait for all.
    let p = pod("Always", &[("i1", false), ("i2", false)], &["a"]);
    let cases: Vec<(&str, Vec<Instance>, Vec<usize>, Vec<usize>)> = vec![
        ("nothing ran", vec![], vec![0], vec![]),
        (
            "i1 running",
            vec![inst(&p, "i1", 0, Running, None)],
            vec![],
            vec![],
        ),
        (
            "i1 done",
            vec![inst(&p, "i1", 0, Exited, Some(0))],
            vec![1],
            vec![],
        ),
        (
            "i2 running",
            vec![
                inst(&p, "i1", 0, Exited, Some(0)),
                inst(&p, "i2", 0, Running, None),
            ],
            vec![],
            vec![],
        ),
        (
            "all done",
            vec![
                inst(&p, "i1", 0, Exited, Some(0)),
                inst(&p, "i2", 0, Exited, Some(0)),
            ],
            vec![],
            vec![0],
        ),
        (
            "i1 failed, Always: restart i1",
            vec![inst(&p, "i1", 0, Exited, Some(1))],
            vec![0],
            vec![],
        ),
        (
            "i1 created: start again",
            vec![inst(&p, "i1", 0, Created, None)],
            vec![0],
            vec![],
        ),
    ];
    for (name, instances, init, regular) in cases {
        let a = plan(&p, &obs(instances));
        assert_eq!(
            (a.init_to_start, a.containers_to_start, a.kill_pod),
            (init, regular, false),
            "{name}"
        );
    }
}

#[test]
fn failed_init_under_never_kills_pod() {
    // §3.1: restartPolicy Never + failed init → KillPod, nothing started.
    let p = pod("Never", &[("i1", false), ("i2", false)], &["a"]);
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "i1", 0, Exited, Some(0)),
            inst(&p, "i2", 0, Exited, Some(1)),
        ]),
    );
    assert!(a.kill_pod);
    assert!(a.init_to_start.is_empty() && a.containers_to_start.is_empty());
    // OnFailure retries it.
    let p = pod("OnFailure", &[("i1", false)], &["a"]);
    let a = plan(&p, &obs(vec![inst(&p, "i1", 0, Exited, Some(2))]));
    assert!(!a.kill_pod);
    assert_eq!(a.init_to_start, vec![0]);
}

#[test]
fn completed_init_never_reruns() {
    // §3.1: once a regular container runs, regular init containers are not looked at again,
    // even when their records are gone (§3.2, L34).
    let p = pod("Always", &[("i1", false), ("i2", false)], &["a"]);
    let a = plan(&p, &obs(vec![inst(&p, "a", 0, Running, None)]));
    assert!(a.init_to_start.is_empty() && a.containers_to_start.is_empty() && !a.kill_pod);
    // Regular container crashed: restarted, init containers untouched (L22).
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "i1", 0, Exited, Some(0)),
            inst(&p, "i2", 0, Exited, Some(0)),
            inst(&p, "a", 0, Exited, Some(1)),
        ]),
    );
    assert_eq!((a.init_to_start, a.containers_to_start), (vec![], vec![0]));
}

#[test]
fn sidecars_start_in_place() {
    // §4.1: the next init container is created once the sidecar is started (running, no startup probe).
    let p = pod(
        "Never",
        &[("i1", false), ("s1", true), ("i2", false)],
        &["a"],
    );
    let a = plan(&p, &obs(vec![inst(&p, "i1", 0, Exited, Some(0))]));
    assert_eq!(a.init_to_start, vec![1]);
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "i1", 0, Exited, Some(0)),
            inst(&p, "s1", 0, Running, None),
        ]),
    );
    assert_eq!(a.init_to_start, vec![2]);
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "i1", 0, Exited, Some(0)),
            inst(&p, "s1", 0, Running, None),
            inst(&p, "i2", 0, Exited, Some(0)),
        ]),
    );
    assert_eq!((a.init_to_start, a.containers_to_start), (vec![], vec![0]));
    // §4.3: a sidecar that exited (even 0, even under Never) is restarted; i2 keeps running.
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "i1", 0, Exited, Some(0)),
            inst(&p, "s1", 0, Exited, Some(0)),
            inst(&p, "i2", 0, Running, None),
        ]),
    );
    assert_eq!(a.init_to_start, vec![1]);
    // After init, a lost sidecar record is started again.
    let a = plan(&p, &obs(vec![inst(&p, "a", 0, Running, None)]));
    assert_eq!(a.init_to_start, vec![1]);
}

#[test]
fn sidecar_with_startup_probe_gates_next() {
    // §4.1.2: started only when the startup probe first succeeds.
    let mut p = pod("Always", &[("s1", true), ("i1", false)], &["a"]);
    p.spec.as_mut().unwrap().init_containers.as_mut().unwrap()[0].startup_probe =
        Some(Default::default());
    let o = obs(vec![inst(&p, "s1", 0, Running, None)]);
    assert!(plan(&p, &o).init_to_start.is_empty());
    let mut probes = ProbeResults::default();
    probes.startup.insert("s1-0".into(), ProbeResult::Success);
    assert_eq!(compute_pod_actions(&p, &o, &probes).init_to_start, vec![1]);
    probes.startup.insert("s1-0".into(), ProbeResult::Failure);
    let a = compute_pod_actions(&p, &o, &probes);
    assert_eq!(a.init_to_start, vec![0]);
    assert_eq!(
        a.to_kill[0].message,
        "Init container s1 failed startup probe"
    );
}

#[test]
fn restart_policy_table() {
    // §5.2: every row of the table.
    let rows = [
        ("Always", Some(0), true),
        ("Always", Some(1), true),
        ("OnFailure", Some(0), false),
        ("OnFailure", Some(1), true),
        ("OnFailure", Some(137), true),
        ("Never", Some(0), false),
        ("Never", Some(1), false),
    ];
    for (policy, code, restart) in rows {
        let p = pod(policy, &[], &["a", "b"]);
        let o = obs(vec![
            inst(&p, "a", 0, Exited, code),
            inst(&p, "b", 0, Running, None),
        ]);
        assert_eq!(
            should_container_be_restarted(&p.spec.as_ref().unwrap().containers[0], &p, &o),
            restart,
            "{policy} {code:?}"
        );
        assert_eq!(
            plan(&p, &o).containers_to_start == vec![0],
            restart,
            "{policy} {code:?}"
        );
    }
    // Deletion: never restart.
    let mut p = pod("Always", &[], &["a"]);
    p.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(0).unwrap()));
    let o = obs(vec![inst(&p, "a", 0, Exited, Some(1))]);
    assert!(!should_container_be_restarted(
        &p.spec.as_ref().unwrap().containers[0],
        &p,
        &o
    ));
    // Created / Unknown: restart.
    let p = pod("Never", &[], &["a"]);
    assert!(should_container_be_restarted(
        &p.spec.as_ref().unwrap().containers[0],
        &p,
        &obs(vec![inst(&p, "a", 0, Created, None)])
    ));
    let a = plan(&p, &obs(vec![inst(&p, "a", 0, Unknown, None)]));
    assert_eq!(a.containers_to_start, vec![0]);
    assert_eq!(a.to_kill.len(), 1);
}

#[test]
fn image_change_restarts_even_under_never() {
    // §2.1.4, §14.4: a changed spec hash kills and restarts the running container whatever the policy.
    let p = pod("Never", &[], &["a", "b"]);
    let mut old = inst(&p, "a", 0, Running, None);
    old.spec_hash ^= 1;
    let a = plan(&p, &obs(vec![old, inst(&p, "b", 0, Running, None)]));
    assert_eq!(a.containers_to_start, vec![0]);
    assert_eq!(
        a.to_kill[0].message,
        "Container a definition changed, will be restarted"
    );
    assert_eq!(a.to_kill[0].reason, KillReason::DefinitionChanged);
}

#[test]
fn liveness_failure_kill() {
    // §2.1.4: liveness failure kills; `, will be restarted` only when the policy restarts.
    for (policy, restart) in [("Always", true), ("Never", false)] {
        let p = pod(policy, &[], &["a"]);
        let mut probes = ProbeResults::default();
        probes.liveness.insert("a-0".into(), ProbeResult::Failure);
        let a = compute_pod_actions(&p, &obs(vec![inst(&p, "a", 0, Running, None)]), &probes);
        let want = if restart {
            "Container a failed liveness probe, will be restarted"
        } else {
            "Container a failed liveness probe"
        };
        assert_eq!(a.to_kill[0].message, want);
        assert_eq!(a.containers_to_start.is_empty(), !restart);
    }
}

#[test]
fn pod_with_sidecar_completes() {
    // §2.1.5, §4.4: all regular containers done and none restarts → KillPod, sidecars not restarted.
    let p = pod("Never", &[("s1", true)], &["a"]);
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "s1", 0, Running, None),
            inst(&p, "a", 0, Exited, Some(0)),
        ]),
    );
    assert!(a.kill_pod);
    assert!(a.init_to_start.is_empty());
    // OnFailure with a failed container: restart, not complete.
    let p = pod("OnFailure", &[("s1", true)], &["a"]);
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "s1", 0, Running, None),
            inst(&p, "a", 0, Exited, Some(1)),
        ]),
    );
    assert!(!a.kill_pod);
    assert_eq!(a.containers_to_start, vec![0]);
    // Always never completes.
    let p = pod("Always", &[], &["a"]);
    assert!(!plan(&p, &obs(vec![inst(&p, "a", 0, Exited, Some(0))])).kill_pod);
}

#[test]
fn sidecar_crash_does_not_block_later_inits() {
    // §3.3 consequences / S9: once started, a crashing sidecar is restarted while init-1 keeps running.
    let p = pod("Never", &[("s1", true), ("i1", false)], &["a"]);
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "s1", 1, Exited, Some(1)),
            inst(&p, "i1", 0, Running, None),
        ]),
    );
    assert_eq!(a.init_to_start, vec![0]);
    assert!(!a.kill_pod);
    // S9: then init-1 fails under Never → pod killed.
    let a = plan(
        &p,
        &obs(vec![
            inst(&p, "s1", 1, Running, None),
            inst(&p, "i1", 0, Exited, Some(1)),
        ]),
    );
    assert!(a.kill_pod);
}
