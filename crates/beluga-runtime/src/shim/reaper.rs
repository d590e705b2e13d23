//! Exits: each container waited with its pidfd, its output drained, its exit recorded in its
//! exit file and then announced to subscribers.

use super::protocol::ExitRecord;
use super::server::Shared;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

/// Now, as the records and the protocol write it (RFC 3339).
pub(super) fn now() -> String {
    beluga_api::k8s_openapi::jiff::Timestamp::now().to_string()
}

/// Waits for a container's process to end, then records and announces its exit.
pub(super) async fn watch_exit(
    shim: Shared,
    id: String,
    pidfd: OwnedFd,
    pumps: Vec<tokio::task::JoinHandle<()>>,
    exit_file: PathBuf,
) {
    // SAFETY: the AsyncFd owns the pidfd, which stays open until `into_inner` gives it back.
    let pidfd = match unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE)
    } {
        Ok(afd) => {
            let _ = afd.readable().await;
            afd.into_inner()
        }
        Err(e) => e.into_parts().0,
    };
    let (code, signal) = reap(pidfd.as_fd()).await;
    let finished_at = now();
    // Every byte the container wrote is in the log before its exit is announced.
    for p in pumps {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), p).await;
    }
    // Read before the runtime deletes the cgroup (the daemon deletes only after this record).
    let oom_killed = signal == Some(libc::SIGKILL) && {
        let root = shim.borrow().cgroup_root.clone();
        root.oom_kills(&id) > 0
    };
    let started_at = {
        let s = shim.borrow();
        let running = s.running.get(&id).map(|r| r.started_at.clone());
        let created = s.created.get(&id).map(|c| c.created_at.clone());
        running.or(created).unwrap_or_else(now)
    };
    let rec = ExitRecord {
        id: id.clone(),
        exit_code: code,
        signal,
        oom_killed,
        started_at,
        finished_at,
    };
    if let Ok(data) = serde_json::to_vec(&rec) {
        let _ = crate::write_atomic(&exit_file, &data);
    }
    // Only now is it gone from `List`: a daemon that reconciles sees it running or its exit file.
    let mut s = shim.borrow_mut();
    s.running.remove(&id);
    s.created.remove(&id);
    s.subscribers.retain(|tx| tx.send(rec.clone()).is_ok());
}

/// Reaps the process behind a pidfd: (exit code, terminating signal). The process may have
/// ended before it became our child: crun's `run --detach` returns while a helper of its own is
/// still the container's parent, so a quick container can be gone (the pidfd readable) yet not
/// ours to wait for (ECHILD) until that helper exits. The kernel then hands it to us, the
/// subreaper, with a SIGCHLD: each one is a reason to try again.
async fn reap(pidfd: std::os::fd::BorrowedFd<'_>) -> (i32, Option<i32>) {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    use tokio::signal::unix::{signal, SignalKind};
    // Made before the first try, so a SIGCHLD in between is not missed.
    let mut sigchld = signal(SignalKind::child()).ok();
    for _ in 0..50 {
        match waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED) {
            Ok(Some(st)) => return exit_of(&st),
            // A signal landed during the wait: wait again at once.
            Err(rustix::io::Errno::INTR) => continue,
            Err(rustix::io::Errno::CHILD) => {}
            _ => return (255, None),
        }
        let wait = std::time::Duration::from_millis(100);
        match sigchld.as_mut() {
            Some(s) => {
                let _ = tokio::time::timeout(wait, s.recv()).await;
            }
            None => tokio::time::sleep(wait).await,
        }
    }
    (255, None)
}

fn exit_of(status: &rustix::process::WaitIdStatus) -> (i32, Option<i32>) {
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(sig)),
        _ => (255, None),
    }
}
