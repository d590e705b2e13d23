//! SyncPod's order (spec §2.2): the sandbox, init containers one by one, sidecars, regular
//! containers, postStart; restart policy and crash-loop back-off (§5.2, §5.3).

use super::*;
use crate::executor::fake::{ExecScript, Script};
use crate::executor::Done;
use beluga_api::builder::{ctr, PodBuilder};

fn times_of(node: &Node, c: &Call) -> Vec<Duration> {
    node.fake
        .timed_calls()
        .into_iter()
        .filter(|(_, x)| x == c)
        .map(|(t, _)| t)
        .collect()
}

// spec §2.2 steps 4–8, §3.1 "Sequential": the sandbox first; each init container after the
// previous one exited 0; regular containers created together, started in order.
#[tokio::test(start_paused = true)]
async fn sandbox_then_inits_in_order_then_regular_containers() {
    let n = Node::new();
    n.fake.script("i1", exits(1, 0));
    n.fake.script("i2", exits(1, 0));
    n.apply(
        PodBuilder::new("p")
            .init(ctr("i1", IMG))
            .init(ctr("i2", IMG))
            .container(ctr("a", IMG))
            .container(ctr("b", IMG))
            .build(),
    );
    let p = n
        .until("p", "both running", |p| running(p, "a") && running(p, "b"))
        .await;
    assert_eq!(phase(&p), "Running");
    assert_eq!(
        terminated(&p, "i1").map(|t| (t.0, t.1)),
        Some((0, "Completed".into()))
    );
    let calls = n.fake.calls();
    let at = |c: Call| index_of(&calls, &c);
    assert_eq!(at(Call::CreateSandbox), 0);
    assert!(at(Call::Prepare("i1".into())) < at(run("i1")));
    assert!(at(run("i1")) < at(Call::Delete("i1".into())), "{calls:#?}");
    // Issue 13: an exited container is released after the sync its exit woke (here: i2's
    // start), not beside it.
    assert!(at(run("i2")) < at(Call::Delete("i1".into())), "{calls:#?}");
    assert!(at(run("i2")) < at(Call::Prepare("a".into())));
    // a is created and started at once; b created beside it, started after.
    assert!(at(run("a")) < at(Call::Start("b".into())));
    assert!(at(Call::Create("b".into())) < at(Call::Start("b".into())));
    assert!(times_of(&n, &run("i2"))[0] >= Duration::from_secs(1));
    // Issue 13/14: the next spare is made once the app containers are up, not during the init
    // containers; once.
    assert!(
        at(Call::Settled) > at(Call::Start("b".into())),
        "{calls:#?}"
    );
    assert_eq!(calls.iter().filter(|c| **c == Call::Settled).count(), 1);
}

// spec §3.1 "Failure", §5.2: with restartPolicy Never a failed init container fails the pod;
// no regular container is ever prepared.
#[tokio::test(start_paused = true)]
async fn a_failed_init_container_fails_a_never_pod() {
    let n = Node::new();
    n.fake.script("i1", exits(1, 1));
    n.apply(
        PodBuilder::new("p")
            .restart_policy("Never")
            .init(ctr("i1", IMG))
            .container(ctr("a", IMG))
            .build(),
    );
    let p = n.until("p", "Failed", |p| phase(p) == "Failed").await;
    assert_eq!(
        terminated(&p, "i1").map(|t| (t.0, t.1)),
        Some((1, "Error".into()))
    );
    assert!(!n.fake.calls().contains(&Call::Prepare("a".into())));
}

// spec §3.1, §5.3: with Always, a failing init container is run again (the first restart at
// once, then after kubelet's 10 s back-off), and the regular containers wait until it succeeds.
#[tokio::test(start_paused = true)]
async fn a_failing_init_container_is_retried_with_back_off() {
    let n = Node::new();
    let once = |code| Some((Duration::from_secs(1), code));
    n.fake.script(
        "i1",
        Script {
            exits: vec![once(1), once(1), once(0)],
            ..Default::default()
        },
    );
    n.apply(
        PodBuilder::new("p")
            .init(ctr("i1", IMG))
            .container(ctr("a", IMG))
            .build(),
    );
    let p = n.until("p", "a running", |p| running(p, "a")).await;
    assert_eq!(restarts(&p, "i1"), 2);
    let runs = times_of(&n, &run("i1"));
    assert_eq!(runs.len(), 3, "{runs:?}");
    // Each back-off counts from the previous exit (1 s after its start).
    let gap = |i: usize| runs[i + 1] - runs[i] - Duration::from_secs(1);
    assert!(gap(0) < Duration::from_secs(1), "{runs:?}");
    assert!(
        gap(1) >= Duration::from_secs(10) && gap(1) < Duration::from_secs(11),
        "{runs:?}"
    );
    assert!(n.has_event(
        "p",
        "Back-off restarting failed container i1 in pod p_default"
    ));
    assert!(times_of(&n, &run("a"))[0] > runs[2]);
}

// spec §4.1: a sidecar starts, and the next init container follows it without waiting for it
// to exit; the regular containers start while it runs.
#[tokio::test(start_paused = true)]
async fn sidecars_start_before_the_next_init_container_and_keep_running() {
    let n = Node::new();
    n.fake.script("i", exits(1, 0));
    n.apply(
        PodBuilder::new("p")
            .sidecar(ctr("s", IMG))
            .init(ctr("i", IMG))
            .container(ctr("a", IMG))
            .build(),
    );
    let p = n.until("p", "a running", |p| running(p, "a")).await;
    assert!(running(&p, "s"));
    let calls = n.fake.calls();
    assert!(index_of(&calls, &run("s")) < index_of(&calls, &run("i")));
    assert!(index_of(&calls, &run("i")) < index_of(&calls, &run("a")));
}

// spec §4.3: a sidecar is restarted whatever the pod's restartPolicy (here Never).
#[tokio::test(start_paused = true)]
async fn a_sidecar_restarts_even_in_a_never_pod() {
    let n = Node::new();
    n.fake.script(
        "s",
        Script {
            exits: vec![Some((Duration::from_secs(2), 1)), None],
            ..Default::default()
        },
    );
    n.apply(
        PodBuilder::new("p")
            .restart_policy("Never")
            .sidecar(ctr("s", IMG))
            .container(ctr("a", IMG))
            .build(),
    );
    let p = n
        .until("p", "s restarted", |p| {
            restarts(p, "s") == 1 && running(p, "s")
        })
        .await;
    assert_eq!(phase(&p), "Running");
    assert!(running(&p, "a"));
    assert_eq!(restarts(&p, "a"), 0);
}

// spec §7.2: postStart runs right after the start and blocks the next container's start.
#[tokio::test(start_paused = true)]
async fn post_start_blocks_the_next_container() {
    let n = Node::new();
    let slow = ExecScript {
        takes: Duration::from_secs(5),
        done: Done::Success(String::new()),
    };
    n.fake.exec_answers("a", "warm up", slow);
    n.apply(
        PodBuilder::new("p")
            .container(ctr("a", IMG).post_start(&["warm", "up"]))
            .container(ctr("b", IMG))
            .build(),
    );
    n.until("p", "b running", |p| running(p, "b")).await;
    let hook = times_of(&n, &Call::Exec("a".into(), "warm up".into()))[0];
    let start_b = times_of(&n, &Call::Start("b".into()))[0];
    assert!(
        start_b >= hook + Duration::from_secs(5),
        "{hook:?} {start_b:?}"
    );
}

// spec §7.2: a failed postStart is a FailedPostStartHook event; the container is killed and,
// under Always, started again.
#[tokio::test(start_paused = true)]
async fn a_failed_post_start_kills_the_container() {
    let n = Node::new();
    let fails = ExecScript {
        takes: Duration::ZERO,
        done: Done::Failure("command [\"boom\"] exited with 1: ".into()),
    };
    n.fake.exec_answers("a", "boom", fails);
    n.apply(
        PodBuilder::new("p")
            .container(ctr("a", IMG).post_start(&["boom"]))
            .build(),
    );
    n.until("p", "restarted", |p| restarts(p, "a") >= 1).await;
    assert!(n.has_event("p", "FailedPostStartHook: Exec lifecycle hook ([\"boom\"]) for Container \"a\" in Pod \"p\" failed"));
    assert!(n.fake.calls().contains(&kill("a", "TERM")));
}

// spec §5.2 (ShouldContainerBeRestarted) and §8.1: each policy and exit code, the restarts and
// the phase that follow.
#[tokio::test(start_paused = true)]
async fn restart_policy_decides_restarts_and_phase() {
    let cases = [
        ("Always", 0, true, "Running"),
        ("Always", 1, true, "Running"),
        ("OnFailure", 0, false, "Succeeded"),
        ("OnFailure", 1, true, "Running"),
        ("Never", 0, false, "Succeeded"),
        ("Never", 1, false, "Failed"),
    ];
    // Each node lives to the end: a dropped one's root would go while its worker still runs.
    let mut nodes = Vec::new();
    for (policy, code, restarted, want) in cases {
        let n = Node::new();
        n.fake.script("a", exits(1, code));
        n.apply(
            PodBuilder::new("p")
                .restart_policy(policy)
                .container(ctr("a", IMG))
                .build(),
        );
        let p = if restarted {
            n.until("p", "restarted", |p| restarts(p, "a") >= 1).await
        } else {
            n.until("p", "ended", |p| phase(p) == want).await
        };
        assert_eq!(phase(&p), want, "{policy} exit {code}");
        if !restarted {
            tokio::time::sleep(Duration::from_secs(60)).await;
            assert_eq!(restarts(&n.pod("p"), "a"), 0, "{policy} exit {code}");
        }
        nodes.push(n);
    }
}

// spec §5.3: the first restart is immediate, then the back-off doubles from 10 s; while it
// lasts the container waits in CrashLoopBackOff with kubelet's message.
#[tokio::test(start_paused = true)]
async fn crash_loop_back_off_doubles() {
    let n = Node::new();
    n.fake.script("a", exits(1, 1));
    n.apply(PodBuilder::new("p").container(ctr("a", IMG)).build());
    let p = n
        .until("p", "in back-off", |p| {
            restarts(p, "a") == 1 && waiting(p, "a") == "CrashLoopBackOff"
        })
        .await;
    let msg = status(&p, "a")
        .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone())
        .unwrap_or_default();
    assert!(
        msg.starts_with("back-off 10s restarting failed container=a pod=p_default("),
        "{msg}"
    );
    n.until("p", "restarted 4 times", |p| restarts(p, "a") >= 4)
        .await;
    let runs = times_of(&n, &run("a"));
    let gaps: Vec<u64> = runs
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs() - 1)
        .collect();
    assert_eq!(gaps[..4], [0, 10, 20, 40], "{runs:?}");
}

// Attack report 1.15: a worker that panics is started again, and the pod gets going.
#[tokio::test(start_paused = true)]
async fn a_panicking_worker_is_started_again() {
    let n = Node::new();
    n.fake.script(
        "a",
        Script {
            panic_once: true,
            ..Default::default()
        },
    );
    n.apply(PodBuilder::new("p").container(ctr("a", IMG)).build());
    n.until("p", "running", |p| running(p, "a")).await;
    let prepares = n
        .fake
        .calls()
        .iter()
        .filter(|c| **c == Call::Prepare("a".into()))
        .count();
    assert_eq!(prepares, 2);
}
