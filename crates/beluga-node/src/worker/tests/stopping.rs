//! Stopping (spec §4.5, §7.3–§7.6): preStop, the stop signal, SIGKILL after the grace period with
//! its 2 s floor, sidecars last in reverse order, a delete that shortens the grace, probes that
//! kill, a lost sandbox, and the pod's tasks ending with it.

use super::*;
use crate::executor::fake::{ExecScript, Script};
use crate::executor::Done;
use beluga_api::builder::{ctr, PodBuilder};

fn stubborn() -> Script {
    Script {
        ignores_term: true,
        ..Default::default()
    }
}

fn first_at(n: &Node, c: &Call) -> Duration {
    n.fake
        .timed_calls()
        .into_iter()
        .find(|(_, x)| x == c)
        .map(|(t, _)| t)
        .unwrap_or_else(|| panic!("{c:?} never called: {:#?}", n.fake.calls()))
}

async fn running_pod(n: &Node, pod: Pod, names: &[&str]) {
    n.apply(pod);
    n.until("p", "all running", |p| names.iter().all(|c| running(p, c)))
        .await;
}

fn sidecar_pod() -> Pod {
    PodBuilder::new("p")
        .grace(30)
        .sidecar(ctr("s1", IMG))
        .sidecar(ctr("s2", IMG))
        .container(ctr("a", IMG))
        .container(ctr("b", IMG))
        .build()
}

// spec §4.5, §7.6: on delete the regular containers are stopped first, then the sidecars one by
// one in reverse order; then the sandbox goes.
#[tokio::test(start_paused = true)]
async fn delete_stops_regular_containers_then_sidecars_in_reverse() {
    let n = Node::new();
    running_pod(&n, sidecar_pod(), &["s1", "s2", "a", "b"]).await;
    n.d.delete("default", "p", None).expect("deleted");
    n.gone("p").await;
    let calls = n.fake.calls();
    let at = |c: Call| index_of(&calls, &c);
    assert!(at(kill("a", "TERM")) < at(kill("s2", "TERM")));
    assert!(at(kill("b", "TERM")) < at(kill("s2", "TERM")));
    assert!(at(kill("s2", "TERM")) < at(kill("s1", "TERM")));
    assert!(at(kill("s1", "TERM")) < at(Call::Teardown));
    assert!(at(Call::Teardown) < at(Call::Remove));
    assert!(n.fake.running().is_empty());
}

// spec §4.5, §7.5: a sidecar waits for the others at most until the grace period ends: a
// regular container that ignores its signal holds the sidecars until then, and is killed.
#[tokio::test(start_paused = true)]
async fn a_stubborn_container_holds_the_sidecars_until_the_grace_period_ends() {
    let n = Node::new();
    n.fake.script("a", stubborn());
    running_pod(&n, sidecar_pod(), &["s1", "s2", "a", "b"]).await;
    let t0 = first_at(&n, &run("a"));
    n.d.delete("default", "p", None).expect("deleted");
    n.gone("p").await;
    let term_a = first_at(&n, &kill("a", "TERM"));
    assert!(first_at(&n, &kill("a", "KILL")) - term_a >= Duration::from_secs(30));
    assert!(first_at(&n, &kill("s2", "TERM")) - t0 >= Duration::from_secs(30));
    assert!(first_at(&n, &kill("s1", "TERM")) - t0 >= Duration::from_secs(30));
}

// spec §7.5: SIGKILL once the grace period passes, and never sooner than 2 s after the signal.
#[tokio::test(start_paused = true)]
async fn sigkill_after_the_grace_period_with_a_two_second_floor() {
    // Each node lives to the end: a dropped one's root would go while its worker still runs.
    let mut nodes = Vec::new();
    for (grace, want) in [(5, 5), (1, 2)] {
        let n = Node::new();
        n.fake.script("a", stubborn());
        running_pod(
            &n,
            PodBuilder::new("p")
                .grace(grace)
                .container(ctr("a", IMG))
                .build(),
            &["a"],
        )
        .await;
        n.d.delete("default", "p", None).expect("deleted");
        n.gone("p").await;
        let waited = first_at(&n, &kill("a", "KILL")) - first_at(&n, &kill("a", "TERM"));
        assert_eq!(waited.as_secs(), want, "grace {grace}");
        nodes.push(n);
    }
}

// spec §7.6: `--grace-period=0 --force` sends SIGKILL at once, without the stop signal first.
#[tokio::test(start_paused = true)]
async fn a_forced_delete_kills_at_once() {
    let n = Node::new();
    n.fake.script("a", stubborn());
    running_pod(
        &n,
        PodBuilder::new("p").container(ctr("a", IMG)).build(),
        &["a"],
    )
    .await;
    n.d.delete("default", "p", Some(0)).expect("deleted");
    n.gone("p").await;
    let calls = n.fake.calls();
    assert!(
        index_of(&calls, &kill("a", "KILL"))
            < calls
                .iter()
                .position(|c| *c == kill("a", "TERM"))
                .unwrap_or(usize::MAX)
    );
}

// spec §7.6, attack report 1.15: a second delete with a shorter grace restarts the kill with it.
#[tokio::test(start_paused = true)]
async fn a_shorter_delete_restarts_the_kill() {
    let n = Node::new();
    n.fake.script("a", stubborn());
    running_pod(
        &n,
        PodBuilder::new("p")
            .grace(300)
            .container(ctr("a", IMG))
            .build(),
        &["a"],
    )
    .await;
    n.d.delete("default", "p", None).expect("deleted");
    tokio::time::sleep(Duration::from_secs(1)).await;
    n.d.delete("default", "p", Some(3)).expect("deleted again");
    n.gone("p").await;
    let waited = first_at(&n, &kill("a", "KILL")) - first_at(&n, &kill("a", "TERM"));
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

// spec §7.3: preStop runs before the stop signal, inside the grace period; one that outlasts
// it is cut off (FailedPreStopHook), and the signal follows.
#[tokio::test(start_paused = true)]
async fn pre_stop_runs_first_and_within_the_grace_period() {
    // Each node lives to the end: a dropped one's root would go while its worker still runs.
    let mut nodes = Vec::new();
    for (takes, grace, signal_after, failed) in [(3, 30, 3, false), (100, 5, 5, true)] {
        let n = Node::new();
        let hook = ExecScript {
            takes: Duration::from_secs(takes),
            done: Done::Success(String::new()),
        };
        n.fake.exec_answers("a", "drain", hook);
        let pod = PodBuilder::new("p")
            .grace(grace)
            .container(ctr("a", IMG).pre_stop(&["drain"]))
            .build();
        running_pod(&n, pod, &["a"]).await;
        n.d.delete("default", "p", None).expect("deleted");
        let h = n.handle("p");
        n.gone("p").await;
        let hook_at = first_at(&n, &Call::Exec("a".into(), "drain".into()));
        let term_at = first_at(&n, &kill("a", "TERM"));
        assert_eq!(
            (term_at - hook_at).as_secs(),
            signal_after,
            "hook of {takes}s, grace {grace}"
        );
        let failed_event = h
            .lock()
            .events
            .list
            .iter()
            .any(|e| e.reason.as_deref() == Some("FailedPreStopHook"));
        assert_eq!(failed_event, failed);
        nodes.push(n);
    }
}

// spec §7.4: the image's STOPSIGNAL is the stop signal.
#[tokio::test(start_paused = true)]
async fn the_image_stop_signal_is_used() {
    let n = Node::new();
    let config = beluga_image::ImageConfig {
        stop_signal: Some("SIGQUIT".into()),
        ..Default::default()
    };
    n.fake.add_image(fake::image("localhost/quits:1", config));
    running_pod(
        &n,
        PodBuilder::new("p")
            .container(ctr("a", "localhost/quits:1"))
            .build(),
        &["a"],
    )
    .await;
    n.d.delete("default", "p", None).expect("deleted");
    n.gone("p").await;
    assert!(n.fake.calls().contains(&kill("a", "QUIT")));
    assert!(!n.fake.calls().contains(&kill("a", "TERM")));
}

// spec §6.4, §7.5: a failed liveness probe kills the container with kubelet's event and the
// probe's own terminationGracePeriodSeconds, and it is started again.
#[tokio::test(start_paused = true)]
async fn a_failed_liveness_probe_restarts_with_the_probe_grace() {
    let n = Node::new();
    n.fake.script("a", stubborn());
    let fails = ExecScript {
        takes: Duration::ZERO,
        done: Done::Failure("command [\"check\"] exited with 1: ".into()),
    };
    n.fake.exec_answers("a", "check", fails);
    let c = ctr("a", IMG).liveness(&["check"], 1, 1).with(|c| {
        if let Some(p) = c.liveness_probe.as_mut() {
            p.termination_grace_period_seconds = Some(3);
        }
    });
    n.apply(PodBuilder::new("p").grace(60).container(c).build());
    n.until("p", "restarted", |p| restarts(p, "a") >= 1).await;
    assert!(n.has_event(
        "p",
        "Killing: Container a failed liveness probe, will be restarted"
    ));
    assert!(n.has_event(
        "p",
        "Unhealthy: Liveness probe failed: command [\"check\"] exited with 1"
    ));
    let waited = first_at(&n, &kill("a", "KILL")) - first_at(&n, &kill("a", "TERM"));
    assert_eq!(waited.as_secs(), 3);
}

// spec §6.4, §8.2: readiness follows the probe: unready while it fails, Ready once it passes.
#[tokio::test(start_paused = true)]
async fn readiness_follows_the_probe() {
    let n = Node::new();
    let answer = |done| ExecScript {
        takes: Duration::ZERO,
        done,
    };
    n.fake
        .exec_answers("a", "ready?", answer(Done::Failure("no".into())));
    n.apply(
        PodBuilder::new("p")
            .container(ctr("a", IMG).readiness(&["ready?"], 1, 1))
            .build(),
    );
    let ready = |p: &Pod| status(p, "a").is_some_and(|c| c.ready);
    let p = n.until("p", "running", |p| running(p, "a")).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(!ready(&p) && !ready(&n.pod("p")));
    n.fake
        .exec_answers("a", "ready?", answer(Done::Success(String::new())));
    let p = n.until("p", "ready", ready).await;
    let cond = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.clone());
    assert_eq!(cond.as_deref(), Some("True"));
}

// spec §2.1: a lost sandbox: its containers count as exited, a new sandbox is made
// (SandboxChanged), the init containers run again and the regular ones are restarted.
#[tokio::test(start_paused = true)]
async fn a_lost_sandbox_is_made_again_and_inits_rerun() {
    let n = Node::new();
    n.fake.script("i", exits(1, 0));
    let pod = PodBuilder::new("p")
        .init(ctr("i", IMG))
        .container(ctr("a", IMG))
        .build();
    running_pod(&n, pod, &["a"]).await;
    let dir = n.handle("p").dir.path().to_path_buf();
    n.fake.lose_sandbox(&dir);
    n.until("p", "a restarted", |p| {
        restarts(p, "a") == 1 && running(p, "a")
    })
    .await;
    let calls = n.fake.calls();
    assert_eq!(
        calls.iter().filter(|c| **c == Call::CreateSandbox).count(),
        2
    );
    assert_eq!(calls.iter().filter(|c| **c == run("i")).count(), 2);
    assert!(n.has_event(
        "p",
        "SandboxChanged: Pod sandbox changed, it will be killed and re-created."
    ));
}

// spec §4.4: a pod whose regular containers completed (Never) stops its sidecars and its
// sandbox, and is Succeeded.
#[tokio::test(start_paused = true)]
async fn a_completed_pod_stops_its_sidecars() {
    let n = Node::new();
    n.fake.script("a", exits(2, 0));
    let pod = PodBuilder::new("p")
        .restart_policy("Never")
        .sidecar(ctr("s", IMG))
        .container(ctr("a", IMG))
        .build();
    n.apply(pod);
    n.until("p", "Succeeded", |p| phase(p) == "Succeeded").await;
    let calls = n.fake.calls();
    assert!(index_of(&calls, &kill("s", "TERM")) < index_of(&calls, &Call::Teardown));
    assert!(n.fake.running().is_empty());
}

// Issue 12: a pod's tasks (probe workers, the exit follower) are its own and end with it.
#[tokio::test(start_paused = true)]
async fn the_pods_tasks_end_with_it() {
    let n = Node::new();
    let c = ctr("a", IMG)
        .liveness(&["ok"], 1, 3)
        .readiness(&["ok"], 1, 3);
    running_pod(&n, PodBuilder::new("p").container(c).build(), &["a"]).await;
    let h = n.handle("p");
    assert_eq!(h.live_tasks(), 3, "two probe workers and the exit follower");
    n.d.delete("default", "p", None).expect("deleted");
    n.gone("p").await;
    tokio::task::yield_now().await;
    assert_eq!(h.live_tasks(), 0);
}
