//! Why a container does not start (spec §2.3, §5.4): kubelet's waiting reasons and events, one
//! per step of startContainer; a sandbox that cannot be made (§2.2 step 4).

use super::*;
use crate::executor::fake::Script;
use crate::executor::SandboxError;
use beluga_api::builder::{ctr, PodBuilder};

fn one(image: &str, policy: Option<&str>) -> Pod {
    let mut c = ctr("a", image);
    if let Some(p) = policy {
        c = c.pull_policy(p);
    }
    PodBuilder::new("p").container(c).build()
}

// spec §5.4 ErrImageNeverPull: not present and policy Never; nothing is pulled.
#[tokio::test(start_paused = true)]
async fn an_absent_image_with_never_is_err_image_never_pull() {
    let n = Node::new();
    n.apply(one("localhost/absent:1", Some("Never")));
    n.until("p", "waiting", |p| waiting(p, "a") == "ErrImageNeverPull")
        .await;
    assert!(n.has_event(
        "p",
        "ErrImageNeverPull: Container image \"localhost/absent:1\" is not present with pull policy of Never"
    ));
    assert!(!n.fake.calls().iter().any(|c| matches!(c, Call::Pull(_))));
}

// spec §5.4 ErrImagePull then ImagePullBackOff, with kubelet's events.
#[tokio::test(start_paused = true)]
async fn a_failed_pull_is_err_image_pull_then_image_pull_back_off() {
    let n = Node::new();
    n.apply(one("registry.example/app:1", None));
    n.until("p", "ErrImagePull", |p| waiting(p, "a") == "ErrImagePull")
        .await;
    n.until("p", "back-off", |p| waiting(p, "a") == "ImagePullBackOff")
        .await;
    assert!(n.has_event("p", "Pulling: Pulling image \"registry.example/app:1\""));
    assert!(n.has_event(
        "p",
        "Failed: Failed to pull image \"registry.example/app:1\": pull access denied"
    ));
    assert!(n.has_event("p", "Failed: Error: ErrImagePull"));
    assert!(n.has_event(
        "p",
        "BackOff: Back-off pulling image \"registry.example/app:1\""
    ));
}

// spec §2.3 step 1, §5.5: a missing image is pulled (Pulling, Pulled with its size); a present
// one is "already present on machine".
#[tokio::test(start_paused = true)]
async fn images_are_pulled_when_missing_and_reused_when_present() {
    let n = Node::new();
    n.fake
        .pullable(fake::image("registry.example/app:1", Default::default()));
    n.apply(one("registry.example/app:1", None));
    n.until("p", "running", |p| running(p, "a")).await;
    assert!(n.has_event(
        "p",
        "Pulled: Successfully pulled image \"registry.example/app:1\" in"
    ));
    assert!(n.has_event("p", "Image size: 1234 bytes."));
    assert!(!n.has_event("p", "already present"));
    n.apply({
        let mut p = one(IMG, None);
        p.metadata.name = Some("q".into());
        p
    });
    n.until("q", "running", |p| running(p, "a")).await;
    assert!(n.has_event(
        "q",
        &format!("Pulled: Container image \"{IMG}\" already present on machine")
    ));
}

// spec §2.3 step 1: `Always` pulls at every start, except images made here (`localhost/…`).
#[tokio::test(start_paused = true)]
async fn always_pulls_at_every_start_except_local_images() {
    let n = Node::new();
    n.fake
        .pullable(fake::image("registry.example/app:1", Default::default()));
    n.fake.script("a", exits(1, 0));
    n.apply(one("registry.example/app:1", Some("Always")));
    n.until("p", "restarted", |p| restarts(p, "a") >= 2).await;
    let pulls = |n: &Node| {
        n.fake
            .calls()
            .iter()
            .filter(|c| matches!(c, Call::Pull(_)))
            .count()
    };
    assert!(pulls(&n) >= 3, "{:#?}", n.fake.calls());
    let local = Node::new();
    local.fake.script("a", exits(1, 0));
    local.apply(one(IMG, Some("Always")));
    local
        .until("p", "restarted", |p| restarts(p, "a") >= 2)
        .await;
    assert_eq!(pulls(&local), 0);
}

// spec §5.4 InvalidImageName, in kubelet's words.
#[tokio::test(start_paused = true)]
async fn an_unparsable_image_is_invalid_image_name() {
    let n = Node::new();
    n.apply(one("UPPER/Case:1", None));
    let p = n
        .until("p", "waiting", |p| waiting(p, "a") == "InvalidImageName")
        .await;
    let msg = status(&p, "a")
        .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone())
        .unwrap_or_default();
    assert!(
        msg.starts_with(
            "Failed to apply default image tag \"UPPER/Case:1\": couldn't parse image name"
        ),
        "{msg}"
    );
    assert!(n.has_event("p", "InspectFailed: "));
}

// spec §5.4: a bundle that cannot be made is CreateContainerConfigError or
// CreateContainerError, a `Failed` event `Error: …`, and nothing of it is left.
#[tokio::test(start_paused = true)]
async fn bundle_failures_keep_their_reason() {
    // Each node lives to the end: a dropped one's root would go while its worker still runs.
    let mut nodes = Vec::new();
    for reason in ["CreateContainerConfigError", "CreateContainerError"] {
        let n = Node::new();
        let script = Script {
            prepare_error: Some((
                reason,
                "couldn't find key user in ConfigMap default/cfg".into(),
            )),
            ..Default::default()
        };
        n.fake.script("a", script);
        n.apply(one(IMG, None));
        n.until("p", reason, |p| waiting(p, "a") == reason).await;
        assert!(n.has_event(
            "p",
            "Failed: Error: couldn't find key user in ConfigMap default/cfg"
        ));
        let calls = n.fake.calls();
        assert!(calls.contains(&Call::Discard("a".into())));
        assert!(!calls
            .iter()
            .any(|c| matches!(c, Call::Run(_) | Call::Create(_))));
        nodes.push(n);
    }
}

// spec §5.4 RunContainerError: the runtime refused; the instance is kept as containerd keeps it
// (exited 128, StartError, the runtime's message), so the restart policy applies to it.
#[tokio::test(start_paused = true)]
async fn a_refused_start_is_start_error_128() {
    let n = Node::new();
    let script = Script {
        start_error: Some("exec: \"nope\": executable file not found in $PATH".into()),
        ..Default::default()
    };
    n.fake.script("a", script);
    n.apply(
        PodBuilder::new("p")
            .restart_policy("Never")
            .container(ctr("a", IMG))
            .build(),
    );
    let p = n.until("p", "Failed", |p| phase(p) == "Failed").await;
    let (code, reason, msg) = terminated(&p, "a").expect("terminated");
    assert_eq!((code, reason.as_str()), (128, "StartError"));
    assert!(msg
        .unwrap_or_default()
        .contains("executable file not found"));
    assert!(n.has_event("p", "Failed: Error: exec: \"nope\""));
}

// spec §2.2 step 4: a sandbox that cannot be made is FailedCreatePodSandBox, retried after
// kubelet's 10 s; a volume that cannot be set up is also FailedMount.
#[tokio::test(start_paused = true)]
async fn a_sandbox_failure_is_an_event_and_retried() {
    let n = Node::new();
    n.fake
        .fail_next_sandbox(SandboxError::Other("no space left on device".into()));
    n.fake
        .fail_next_sandbox(SandboxError::Mount("hostPath type check failed".into()));
    n.apply(one(IMG, None));
    n.until("p", "running", |p| running(p, "a")).await;
    assert!(n.has_event(
        "p",
        "FailedCreatePodSandBox: Failed to create pod sandbox: no space left on device"
    ));
    assert!(n.has_event("p", "FailedMount: hostPath type check failed"));
    let at: Vec<Duration> = n
        .fake
        .timed_calls()
        .into_iter()
        .filter(|(_, c)| *c == Call::CreateSandbox)
        .map(|(t, _)| t)
        .collect();
    assert_eq!(at.len(), 3);
    assert!(at[1] - at[0] >= Duration::from_secs(10) && at[2] - at[1] >= Duration::from_secs(10));
}

// spec §8.3: the termination message is the file's; with FallbackToLogsOnError and no file, a
// failed container's log tail.
#[tokio::test(start_paused = true)]
async fn termination_messages_from_the_file_or_the_log() {
    let n = Node::new();
    let file = Script {
        exits: vec![Some((Duration::from_secs(1), 3))],
        message: Some("disk full".into()),
        ..Default::default()
    };
    let logs = Script {
        exits: vec![Some((Duration::from_secs(1), 4))],
        logs: Some("starting\nlast words".into()),
        ..Default::default()
    };
    n.fake.script("a", file);
    n.fake.script("b", logs);
    n.apply(
        PodBuilder::new("p")
            .restart_policy("Never")
            .container(ctr("a", IMG))
            .container(ctr("b", IMG).termination_message_policy("FallbackToLogsOnError"))
            .build(),
    );
    let p = n.until("p", "Failed", |p| phase(p) == "Failed").await;
    assert_eq!(
        terminated(&p, "a"),
        Some((3, "Error".into(), Some("disk full".into())))
    );
    assert_eq!(
        terminated(&p, "b"),
        Some((4, "Error".into(), Some("starting\nlast words\n".into())))
    );
}

// Issue 13: hugepages asked for on a node whose runtime does not manage hugetlb is a Warning
// event, not a silent success; a node that manages it says nothing.
#[tokio::test(start_paused = true)]
async fn unmanaged_hugepages_are_an_event() {
    use beluga_api::k8s_openapi::api::core::v1::ResourceRequirements;
    use beluga_api::k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    let pod = || {
        let c = ctr("a", IMG).with(|c| {
            let q = |v: &str| Quantity(v.into());
            c.resources = Some(ResourceRequirements {
                limits: Some(
                    [
                        ("hugepages-2Mi".to_string(), q("4Mi")),
                        ("memory".to_string(), q("64Mi")),
                    ]
                    .into(),
                ),
                requests: Some(
                    [
                        ("hugepages-2Mi".to_string(), q("4Mi")),
                        ("memory".to_string(), q("64Mi")),
                    ]
                    .into(),
                ),
                ..Default::default()
            });
        });
        PodBuilder::new("p").container(c).build()
    };
    let n = Node::new();
    n.fake.unmanage(&["hugetlb"]);
    n.apply(pod());
    n.until("p", "running", |p| running(p, "a")).await;
    assert!(n.has_event(
        "p",
        "HugePagesNotEnforced: hugepages-2Mi of container a not enforced"
    ));
    let managed = Node::new();
    managed.apply(pod());
    managed.until("p", "running", |p| running(p, "a")).await;
    assert!(!managed.has_event("p", "HugePagesNotEnforced"));
}
