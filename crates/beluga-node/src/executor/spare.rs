//! Sandboxes made ahead (issue 13): a shim started with its network, IPC and UTS namespaces
//! pinned and its network attached (ADD under the spare's own id, issue 14), waiting under
//! `<root>/spare/<daemon pid>-<n>-<random>`, that the next pod takes instead of starting one. The
//! pool is bounded (`--warm-sandboxes`, default 1) and refilled after each claim, off the pod's
//! path. What a pod observes is its own: the claim sets the hostname before any container runs,
//! and the namespaces were never used. A spare dies with the daemon that made it (the shim's
//! parent-death signal, cleared by the claim), and what it pinned and its address are cleared at
//! the next start.

use super::shim::ShimLaunch;
use crate::network::PodNetwork;
use beluga_runtime::layout::PodDir;
use beluga_runtime::shim::{self, Request, Response, ShimClient};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, warn};

/// How long after a claim the pool is refilled at the latest (sooner when the pod that claimed
/// it has started its first containers, [`Spares::go_ahead`]) and the spare's old pins removed:
/// past the start of the pod that claimed it.
const REFILL_DELAY: Duration = Duration::from_millis(500);

/// After that pod is up, a little longer: a container that exits at once (a crash loop's first
/// restart) restarts before the spare's shim and ADD compete with it (the restart measured 45 ms
/// against 24 ms for the runtime alone when they overlapped).
const SETTLE: Duration = Duration::from_millis(100);

/// The pool of spare sandboxes.
pub struct Spares {
    dir: PathBuf,
    want: usize,
    launch: ShimLaunch,
    network: Arc<PodNetwork>,
    ready: Mutex<Vec<PathBuf>>,
    /// Spares being made now (so a burst of pods does not start more than `want`).
    making: AtomicU64,
    next: AtomicU64,
    /// The daemon is stopping: no more spares.
    closed: AtomicBool,
    /// A new pod is up: a waiting refill goes ahead.
    kick: tokio::sync::Notify,
}

impl Spares {
    /// A pool of `want` spares under `dir` (none when 0). What an earlier daemon left there is
    /// cleared first (call [`Spares::clear_leftovers`] before the pool is used).
    pub fn new(
        dir: PathBuf,
        want: usize,
        launch: ShimLaunch,
        network: Arc<PodNetwork>,
    ) -> Arc<Spares> {
        Arc::new(Spares {
            dir,
            want,
            launch,
            network,
            ready: Mutex::new(Vec::new()),
            making: AtomicU64::new(0),
            next: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            kick: tokio::sync::Notify::new(),
        })
    }

    /// Stops and removes the spares of an earlier daemon (they died with it, but their pinned
    /// namespaces stay mounted).
    pub async fn clear_leftovers(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            self.discard(&PodDir(e.path())).await;
        }
    }

    /// The daemon stops: no spare is made any more, and those made are stopped and removed
    /// (one being made is waited for, up to 2 s).
    pub async fn release(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let t = std::time::Instant::now();
        while self.making.load(Ordering::SeqCst) > 0 && t.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        while let Some(spare) = self.take() {
            self.discard(&spare).await;
        }
    }

    /// A spare that will not be used: its shim stopped, its address released (DEL), its pins
    /// and directory removed.
    pub async fn discard(&self, spare: &PodDir) {
        if spare.shim_socket().exists() {
            let client = ShimClient {
                socket: spare.shim_socket(),
            };
            let _ = client.call(&Request::Shutdown).await;
            shim::wait_exit(spare, Duration::from_secs(2)).await;
        }
        if let Err(e) = self.network.detach(spare, None).await {
            warn!(error = %e, spare = %spare.path().display(), "a spare sandbox's network could not be released");
        }
        remove(spare.clone()).await;
    }

    /// The pod that took the last spare has started: a refill waiting for it goes ahead.
    pub fn go_ahead(&self) {
        // Only a refill already waiting (made at the claim, long before): no permit is kept
        // for a later one, which must wait for its own pod.
        self.kick.notify_waiters();
    }

    /// A ready spare, if there is one.
    pub fn take(&self) -> Option<PodDir> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready.pop().map(PodDir)
    }

    /// Starts making spares until `want` are ready or being made, in the background.
    pub fn refill(self: &Arc<Self>) {
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner()).len() as u64;
            let making = self.making.load(Ordering::SeqCst);
            if ready + making >= self.want as u64 {
                return;
            }
            if self
                .making
                .compare_exchange(making, making + 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                continue;
            }
            let me = self.clone();
            tokio::spawn(async move {
                // Not while the pod that took the last spare starts: made at once, the new
                // spare's shim competed with that start for the CPUs and made it slower than
                // no spare at all (1-container start 33–35 ms against 31–32 ms, medians of 15).
                // Once that pod is up, at once: with the network's ADD a spare takes ≈ 50 ms,
                // and a pod applied after a quick delete found none after a fixed wait.
                tokio::select! {
                    _ = me.kick.notified() => tokio::time::sleep(SETTLE).await,
                    _ = tokio::time::sleep(REFILL_DELAY) => {}
                }
                if !me.closed.load(Ordering::SeqCst) {
                    match me.make().await {
                        Ok(dir) => {
                            let shown = dir.display().to_string();
                            me.ready.lock().unwrap_or_else(|e| e.into_inner()).push(dir);
                            // Once it can be taken (tests wait for this line).
                            debug!(spare = %shown, "spare sandbox ready");
                        }
                        Err(e) => warn!(error = %e, "a spare sandbox could not be made"),
                    }
                }
                me.making.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }

    /// One spare: a shim started for `<dir>/<n>`. Must run on a runtime worker thread (not a
    /// blocking one): the shim's parent-death signal follows the thread that started it.
    async fn make(&self) -> std::io::Result<PathBuf> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        // Named for this daemon and at random too: the name is the network attachment's id,
        // which must not meet one another daemon (with another root) left reserved.
        let dir = self
            .dir
            .join(format!("{}-{n}-{:016x}", std::process::id(), random()));
        std::fs::create_dir_all(&dir)?;
        self.launch
            .start(&dir, format!("spare-{n}"), Some(std::process::id()), false)
            .await?;
        if let Err(e) = self.network.attach_spare(&PodDir(dir.clone())).await {
            self.discard(&PodDir(dir.clone())).await;
            return Err(std::io::Error::other(format!("its network: {e}")));
        }
        Ok(dir)
    }
}

/// Makes `spare` the sandbox of the pod in `dir`: its hostname set, its pinned namespaces and
/// its socket, pid and log moved into the pod's `.sandbox`.
pub async fn claim(spare: &PodDir, dir: &PodDir, hostname: &str) -> std::io::Result<()> {
    let client = ShimClient {
        socket: spare.shim_socket(),
    };
    let req = Request::Claim {
        hostname: hostname.to_string(),
    };
    match client.call(&req).await? {
        Response::Ok => {}
        other => return Err(std::io::Error::other(format!("claim: {other:?}"))),
    }
    let (from, to) = (spare.clone(), dir.clone());
    tokio::task::spawn_blocking(move || move_sandbox(&from, &to))
        .await
        .map_err(std::io::Error::other)??;
    // The spare's own pins go later, off the pod's path: an unmount waits for an RCU grace
    // period, which costs more than the whole claim.
    let spare = spare.clone();
    tokio::spawn(async move {
        tokio::time::sleep(REFILL_DELAY).await;
        remove(spare).await;
    });
    Ok(())
}

/// The spare's pins become the pod's (a bind mount of each namespace file; a mount point cannot
/// be renamed), and its socket, pid and log are renamed in.
fn move_sandbox(spare: &PodDir, dir: &PodDir) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.sandbox())?;
    // Marked while it moves: a daemon killed half-way makes the pod's sandbox again, and the
    // attachment is released from wherever it is (the pod's directory, or the spare's).
    crate::network::mark_attaching(dir, true)?;
    crate::network::move_attachment(spare, dir)?;
    for kind in ["net", "ipc", "uts"] {
        let target = dir.ns(kind);
        std::fs::File::create(&target)?;
        rustix::mount::mount_bind(spare.ns(kind), &target)?;
    }
    for name in ["shim.sock", "shim.pid", "shim.log"] {
        std::fs::rename(spare.sandbox().join(name), dir.sandbox().join(name))?;
    }
    crate::network::mark_attaching(dir, false)
}

/// 64 random bits (std's per-process hash keys, drawn from the kernel's entropy).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id().into());
    h.finish()
}

/// A spare's pins and directory removed (its shim gone, or a pod's now).
async fn remove(spare: PodDir) {
    let _ = tokio::task::spawn_blocking(move || {
        shim::teardown_sandbox(&spare);
        let _ = std::fs::remove_dir_all(spare.path());
    })
    .await;
}

/// Where the spares of a daemon with state under `root` wait.
pub fn spare_dir(root: &Path) -> PathBuf {
    root.join("spare")
}
