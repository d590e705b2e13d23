//! A projected service-account token kept fresh (issue 16 item 5): kubelet renews a token at
//! 80 % of its life or after 24 h, whichever is first (pkg/kubelet/token/token_manager.go
//! `requiresRefresh`), and the worker wakes for it with no other cause.

use super::*;
use base64::Engine;

fn token_pod(expiration: i64) -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "serviceAccountName": "default",
            "volumes": [{"name": "tok", "projected": {"sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": expiration}}
            ]}}],
            "containers": [{"name": "a", "image": IMG,
                "volumeMounts": [{"name": "tok", "mountPath": "/var/run/tok"}]}]
        }
    }))
    .expect("pod")
}

/// The token file's `exp` claim.
fn expiry(dir: &Path) -> i64 {
    let token = std::fs::read_to_string(dir.join("token")).expect("token file");
    let claims = token.split('.').nth(1).expect("a JWT");
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .expect("base64url");
    let claims: serde_json::Value = serde_json::from_slice(&claims).expect("claims");
    claims["exp"].as_i64().expect("exp")
}

// Projected volumes are a tmpfs of their own: this test mounts one, so it needs root.
#[tokio::test(start_paused = true)]
async fn a_token_is_renewed_at_eighty_percent_of_its_life() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let n = Node::new();
    n.apply(token_pod(3600));
    n.until("p", "running", |p| running(p, "a")).await;
    let dir = n.handle("p").dir.volume("tok");
    let _unmount = Unmount(dir.clone());
    let first = expiry(&dir);
    // Before 80 % of 3600 s (2880 s): the same token.
    tokio::time::sleep(Duration::from_secs(2700)).await;
    assert_eq!(expiry(&dir), first);
    // After it: a new one, valid for another hour from its renewal.
    tokio::time::sleep(Duration::from_secs(200)).await;
    let second = expiry(&dir);
    assert!(
        (first + 2880..=first + 2900).contains(&second),
        "renewed at 2880 s: exp {first} then {second}"
    );
    assert_eq!(restarts(&n.pod("p"), "a"), 0, "a renewal restarts nothing");
    n.d.delete("default", "p", Some(0)).expect("deleted");
    n.gone("p").await;
}

/// The fake sandbox unmounts nothing: the volume's tmpfs goes with the test, passed or not.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}
