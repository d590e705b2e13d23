//! Issue 5 pieces: bounded logs under a flood, a root-only socket, and requests that are
//! malformed, too large or half-sent, none of which affects the daemon.

mod common;
use common::*;
use std::io::{Read, Write};
use std::time::Duration;

// Issue 5 "bounded logs": a container flooding stdout cannot grow its logs past
// max-size × max-files, and its neighbour's log is intact.
#[test]
fn flooding_container_logs_are_bounded() {
    let Some(d) = Daemon::start_with(&[
        "--container-log-max-size",
        "256Ki",
        "--container-log-max-files",
        "3",
    ]) else {
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: flood}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: loud, image: {IMAGE}, command: ['yes', 'all work and no play']}}\n  - {{name: quiet, image: {IMAGE}, command: [sh, -c, 'for i in 1 2 3 4 5; do echo quiet $i; sleep 0.2; done; sleep 600']}}\n"
    ));
    d.wait_running("flood");
    std::thread::sleep(Duration::from_secs(3));
    let dir = d.pod_dir("flood").join("loud");
    let files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("0.log"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    let total: u64 = files.iter().map(|f| f.1).sum();
    assert!(files.len() <= 3 && files.len() >= 2, "{files:?}");
    assert!(total <= 3 * 256 * 1024, "{files:?}");
    assert_eq!(
        d.ok(&["logs", "flood", "-c", "loud", "--tail", "1"]),
        "all work and no play\n"
    );
    assert_eq!(
        d.ok(&["logs", "flood", "-c", "quiet"]),
        "quiet 1\nquiet 2\nquiet 3\nquiet 4\nquiet 5\n"
    );
}

// Issue 5 "access": a non-root user gets a clear "permission denied" and learns nothing.
#[test]
fn non_root_users_are_refused() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: secret-pod}}\nspec: {{containers: [{{name: c, image: {IMAGE}, command: [sleep, '600']}}]}}\n"));
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&d.socket).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    // A copy of the binary that any user can run.
    let exe = std::env::temp_dir().join(format!("beluga-nonroot-{}", std::process::id()));
    std::fs::copy(bin(), &exe).unwrap();
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let o = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["get", "pods", "--socket"])
        .arg(&d.socket)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&exe);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.to_lowercase().contains("permission denied"), "{err}");
    assert!(!err.contains("secret-pod") && stdout(&o).is_empty());
}

fn raw(sock: &std::path::Path, bytes: &[u8]) -> String {
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

// Issue 5 "access": malformed, too large and half-sent requests are refused without affecting
// the daemon.
#[test]
fn bad_requests_do_not_hurt_the_daemon() {
    let Some(d) = Daemon::start() else { return };
    let garbage = raw(&d.socket, b"\x00\x01GARBAGE\r\n\r\n");
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
    let big = vec![b'x'; 5 << 20];
    let mut req = format!(
        "POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    req.extend_from_slice(&big);
    let too_large = raw(&d.socket, &req);
    assert!(
        too_large.starts_with("HTTP/1.1 413"),
        "{}",
        &too_large[..too_large.len().min(200)]
    );
    let bad_json = raw(&d.socket, b"POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{nope");
    assert!(bad_json.starts_with("HTTP/1.1 400"), "{bad_json}");
    // Half-sent: headers never finished; the daemon keeps serving everyone else.
    let mut half = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    half.write_all(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    assert_eq!(d.ok(&["get", "pods", "-o", "name"]), "");
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: still}}\nspec: {{containers: [{{name: c, image: {IMAGE}, command: [sleep, '600']}}]}}\n"));
    d.wait_running("still");
    drop(half);
}
