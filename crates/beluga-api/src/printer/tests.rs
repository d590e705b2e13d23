//! spec §9.1 / §9.3: the STATUS, READY and RESTARTS each situation prints.
#![allow(clippy::type_complexity)] // table tests read best as tuples

use super::*;
use serde_json::json;

fn now() -> Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

/// Builds a pod from spec containers and status JSON.
fn pod(spec: serde_json::Value, status: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": spec, "status": status,
    }))
    .unwrap()
}

fn cs(name: &str, state: serde_json::Value, ready: bool, restarts: i32) -> serde_json::Value {
    json!({"name": name, "image": "i", "imageID": "", "state": state, "ready": ready, "restartCount": restarts})
}

fn term(code: i32, reason: &str) -> serde_json::Value {
    json!({"terminated": {"exitCode": code, "reason": reason}})
}
fn waiting(reason: &str) -> serde_json::Value {
    json!({"waiting": {"reason": reason}})
}
fn running() -> serde_json::Value {
    json!({"running": {"startedAt": "2026-01-01T00:00:01Z"}})
}

fn row(p: &Pod) -> (String, String, String) {
    let r = pod_row(p, now());
    (r.ready, r.status, r.restarts)
}

#[test]
#[allow(clippy::too_many_lines)] // a table of cases
fn status_table() {
    let one = json!({"containers": [{"name": "a"}]});
    let two = json!({"containers": [{"name": "a"}, {"name": "b"}]});
    let init2 =
        json!({"initContainers": [{"name": "i1"}, {"name": "i2"}], "containers": [{"name": "a"}]});
    let cases: Vec<(&str, Pod, (&str, &str, &str))> = vec![
        (
            "pending, no statuses",
            pod(one.clone(), json!({"phase": "Pending"})),
            ("0/1", "Pending", "0"),
        ),
        (
            "creating",
            pod(
                one.clone(),
                json!({"phase": "Pending", "containerStatuses": [cs("a", waiting("ContainerCreating"), false, 0)]}),
            ),
            ("0/1", "ContainerCreating", "0"),
        ),
        (
            "Init:0/2",
            pod(
                init2.clone(),
                json!({"phase": "Pending", "initContainerStatuses": [cs("i1", running(), false, 0), cs("i2", waiting("PodInitializing"), false, 0)], "containerStatuses": [cs("a", waiting("PodInitializing"), false, 0)]}),
            ),
            ("0/1", "Init:0/2", "0"),
        ),
        (
            "Init:1/2",
            pod(
                init2.clone(),
                json!({"phase": "Pending", "initContainerStatuses": [cs("i1", term(0, "Completed"), true, 0), cs("i2", running(), false, 0)], "containerStatuses": [cs("a", waiting("PodInitializing"), false, 0)]}),
            ),
            ("0/1", "Init:1/2", "0"),
        ),
        (
            "Init:Error",
            pod(
                init2.clone(),
                json!({"phase": "Failed", "initContainerStatuses": [cs("i1", term(1, "Error"), false, 0), cs("i2", waiting("PodInitializing"), false, 0)], "containerStatuses": [cs("a", waiting("PodInitializing"), false, 0)]}),
            ),
            ("0/1", "Init:Error", "0"),
        ),
        (
            "Init:CrashLoopBackOff",
            pod(
                init2.clone(),
                json!({"phase": "Pending", "initContainerStatuses": [cs("i1", waiting("CrashLoopBackOff"), false, 3), cs("i2", waiting("PodInitializing"), false, 0)], "containerStatuses": [cs("a", waiting("PodInitializing"), false, 0)]}),
            ),
            ("0/1", "Init:CrashLoopBackOff", "3"),
        ),
        (
            "Init:Signal:9",
            pod(
                init2.clone(),
                json!({"phase": "Pending", "initContainerStatuses": [cs("i1", json!({"terminated": {"exitCode": 137, "signal": 9}}), false, 0)]}),
            ),
            ("0/1", "Init:Signal:9", "0"),
        ),
        (
            "Init:ExitCode:3",
            pod(
                init2.clone(),
                json!({"phase": "Pending", "initContainerStatuses": [cs("i1", json!({"terminated": {"exitCode": 3}}), false, 0)]}),
            ),
            ("0/1", "Init:ExitCode:3", "0"),
        ),
        (
            "PodInitializing",
            pod(
                init2.clone(),
                json!({"phase": "Pending", "conditions": [{"type": "Initialized", "status": "True"}], "initContainerStatuses": [cs("i1", term(0, "Completed"), true, 0), cs("i2", term(0, "Completed"), true, 0)], "containerStatuses": [cs("a", waiting("PodInitializing"), false, 0)]}),
            ),
            ("0/1", "PodInitializing", "0"),
        ),
        (
            "running",
            pod(
                two.clone(),
                json!({"phase": "Running", "containerStatuses": [cs("a", running(), true, 0), cs("b", running(), true, 0)]}),
            ),
            ("2/2", "Running", "0"),
        ),
        (
            "running, not ready",
            pod(
                one.clone(),
                json!({"phase": "Running", "containerStatuses": [cs("a", running(), false, 0)]}),
            ),
            ("0/1", "Running", "0"),
        ),
        (
            "Completed",
            pod(
                one.clone(),
                json!({"phase": "Succeeded", "containerStatuses": [cs("a", term(0, "Completed"), false, 0)]}),
            ),
            ("0/1", "Completed", "0"),
        ),
        (
            "Error",
            pod(
                one.clone(),
                json!({"phase": "Failed", "containerStatuses": [cs("a", term(1, "Error"), false, 0)]}),
            ),
            ("0/1", "Error", "0"),
        ),
        (
            "OOMKilled",
            pod(
                one.clone(),
                json!({"phase": "Running", "containerStatuses": [cs("a", term(137, "OOMKilled"), false, 0)]}),
            ),
            ("0/1", "OOMKilled", "0"),
        ),
        (
            "NotReady",
            pod(
                two.clone(),
                json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}], "containerStatuses": [cs("a", term(0, "Completed"), false, 0), cs("b", running(), true, 0)]}),
            ),
            ("1/2", "NotReady", "0"),
        ),
        (
            "first container wins",
            pod(
                two.clone(),
                json!({"phase": "Running", "containerStatuses": [cs("a", waiting("CrashLoopBackOff"), false, 2), cs("b", term(1, "Error"), false, 1)]}),
            ),
            ("0/2", "CrashLoopBackOff", "3"),
        ),
        (
            "sidecar counted",
            pod(
                json!({"initContainers": [{"name": "s", "restartPolicy": "Always"}], "containers": [{"name": "a"}]}),
                json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}], "initContainerStatuses": [{"name": "s", "image": "i", "imageID": "", "state": running(), "ready": true, "started": true, "restartCount": 2}], "containerStatuses": [cs("a", running(), true, 0)]}),
            ),
            ("2/2", "Running", "2"),
        ),
    ];
    for (name, p, want) in cases {
        let got = row(&p);
        assert_eq!(
            (got.0.as_str(), got.1.as_str(), got.2.as_str()),
            want,
            "{name}"
        );
    }
}

// §9.1: restarts with a last-restart time print "N (D ago)"; regular init restarts drop out after init.
#[test]
fn restarts_column() {
    let p = pod(
        json!({"initContainers": [{"name": "i"}], "containers": [{"name": "a"}]}),
        json!({"phase": "Running", "conditions": [{"type": "Initialized", "status": "True"}],
               "initContainerStatuses": [cs("i", term(0, "Completed"), true, 4)],
               "containerStatuses": [{"name": "a", "image": "i", "imageID": "", "ready": true, "restartCount": 3,
                  "state": running(), "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:09:48Z"}}}]}),
    );
    assert_eq!(row(&p).2, "3 (12s ago)");
}

#[test]
fn terminating_and_table() {
    let mut p = pod(
        json!({"containers": [{"name": "a"}]}),
        json!({"phase": "Running", "containerStatuses": [cs("a", running(), true, 0)]}),
    );
    p.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
    assert_eq!(row(&p).1, "Terminating");
    let t = pods_table(&[p], now(), false, false);
    assert_eq!(t, "NAME   READY   STATUS        RESTARTS   AGE\np      1/1     Terminating   0          10m\n");
}
