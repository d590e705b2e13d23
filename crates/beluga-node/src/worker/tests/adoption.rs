//! A restarted daemon (issue 12, spec §2.1): it re-adopts the sandboxes that outlived it, finds
//! lost ones lost, removes what was created but never started, and sets aside a pod whose
//! record cannot be read. Each daemon runs in a runtime of its own, dropped to "kill" it.

use super::*;
use crate::executor::fake::Script;
use beluga_api::builder::{ctr, PodBuilder};

fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime")
}

/// A first daemon that runs pod `p` (containers `names`) until they run, then dies. Returns its
/// root, the fake, and the pod's directory.
fn first_life(fake: &Fake, pod: Pod, names: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let root = tempfile::tempdir().expect("tempdir");
    let rt = paused_runtime();
    let dir = rt.block_on(async {
        let n = Node::over(root.path(), fake);
        n.apply(pod);
        n.until("p", "running", |p| names.iter().all(|c| running(p, c)))
            .await;
        n.handle("p").dir.path().to_path_buf()
    });
    drop(rt);
    (root, dir)
}

fn count(fake: &Fake, c: &Call) -> usize {
    fake.calls().iter().filter(|x| *x == c).count()
}

fn fake_with_image() -> Fake {
    let fake = Fake::default();
    fake.add_image(fake::image(IMG, Default::default()));
    fake
}

// A sandbox that outlived the daemon is reconnected: its containers stay as they are, nothing
// is started again, and the new daemon manages them (a delete stops them).
#[test]
fn a_restarted_daemon_adopts_a_live_sandbox() {
    let fake = fake_with_image();
    let pod = PodBuilder::new("p").container(ctr("a", IMG)).build();
    let (root, _) = first_life(&fake, pod, &["a"]);
    paused_runtime().block_on(async {
        let n = Node::over(root.path(), &fake);
        n.d.adopt().await;
        let p = n.until("p", "running", |p| running(p, "a")).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(restarts(&p, "a"), 0);
        assert_eq!(count(&fake, &run("a")), 1);
        assert_eq!(count(&fake, &Call::CreateSandbox), 1);
        n.d.delete("default", "p", None).expect("deleted");
        n.gone("p").await;
        assert!(fake.calls().contains(&kill("a", "TERM")));
        assert!(fake.running().is_empty());
    });
}

// A sandbox gone while the daemon was down (a reboot): its containers were lost with it; a new
// sandbox is made and they are started again.
#[test]
fn a_sandbox_lost_meanwhile_is_made_again() {
    let fake = fake_with_image();
    let pod = PodBuilder::new("p").container(ctr("a", IMG)).build();
    let (root, dir) = first_life(&fake, pod, &["a"]);
    fake.lose_sandbox(&dir);
    paused_runtime().block_on(async {
        let n = Node::over(root.path(), &fake);
        n.d.adopt().await;
        let p = n
            .until("p", "restarted", |p| {
                restarts(p, "a") == 1 && running(p, "a")
            })
            .await;
        assert_eq!(phase(&p), "Running");
        assert_eq!(count(&fake, &Call::CreateSandbox), 2);
    });
}

// A container created but never started when the daemon died: the sandbox does not run it, so
// it is deleted and counted as lost; the planner starts it again.
#[test]
fn a_container_created_but_never_started_is_removed_and_started_again() {
    let fake = fake_with_image();
    let hangs = Script {
        start_hangs: true,
        ..Default::default()
    };
    fake.script("b", hangs);
    let pod = PodBuilder::new("p")
        .container(ctr("a", IMG))
        .container(ctr("b", IMG))
        .build();
    let (root, _) = first_life(&fake, pod, &["a"]);
    assert_eq!(count(&fake, &Call::Start("b".into())), 1);
    fake.script("b", Script::default());
    paused_runtime().block_on(async {
        let n = Node::over(root.path(), &fake);
        n.d.adopt().await;
        let p = n.until("p", "b running", |p| running(p, "b")).await;
        assert!(fake.calls().contains(&Call::Delete("b".into())));
        assert_eq!(restarts(&p, "a"), 0);
        assert_eq!(restarts(&p, "b"), 1);
    });
}

// Attack report 6.3: a pod whose records cannot be read is stopped and set aside, never left
// running unmanaged; its name is free again.
#[test]
fn an_unreadable_record_sets_the_pod_aside() {
    let fake = fake_with_image();
    let pod = PodBuilder::new("p").container(ctr("a", IMG)).build();
    let (root, dir) = first_life(&fake, pod, &["a"]);
    for f in ["pod.json", "pod.prev.json"] {
        std::fs::write(dir.join(f), b"{ not json").expect("damaged");
    }
    paused_runtime().block_on(async {
        let n = Node::over(root.path(), &fake);
        n.d.adopt().await;
        assert!(n.d.get("default", "p").is_none());
        let aside = root.path().join("pods-orphaned");
        assert!(aside.join(dir.file_name().expect("a name")).exists());
        assert!(!dir.exists());
        assert!(fake.running().is_empty());
    });
}
