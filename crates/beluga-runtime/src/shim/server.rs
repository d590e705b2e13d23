//! The shim's process: the sandbox made before any thread exists, then one single-threaded loop
//! serving the daemon's requests on `shim.sock`.

use super::args::ShimOptions;
use super::client::short_socket_path;
use super::containers::{create, start_created};
use super::protocol::{ExitRecord, Request, Response, RunningContainer};
use super::reaper::now;
use super::sandbox::create_sandbox;
use crate::layout::PodDir;
use crate::oci_runtime::OciRuntime;
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// Entry point of `beluga-shim`. Sets up the sandbox *before* any thread exists (unshare applies
/// to the calling thread only), reports `ready` on stdout, then serves requests.
pub fn main(opts: ShimOptions) -> std::io::Result<()> {
    // Orphaned container processes are reparented to the shim, which waits them.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    if let Some(daemon) = opts.spare_of {
        die_with(daemon)?;
    }
    let dir = PodDir(opts.pod_dir.clone());
    let mut stdout = std::io::stdout();
    if let Err(e) = create_sandbox(&dir, &opts.hostname, opts.host_network) {
        let _ = writeln!(stdout, "error: {e}");
        return Err(e);
    }
    std::fs::write(
        dir.sandbox().join("shim.pid"),
        std::process::id().to_string(),
    )?;
    let sock = dir.shim_socket();
    let _ = std::fs::remove_file(&sock);
    let (bind_path, _guard) = short_socket_path(&sock)?;
    let listener = std::os::unix::net::UnixListener::bind(&bind_path)?;
    listener.set_nonblocking(true)?;
    writeln!(stdout, "ready")?;
    stdout.flush()?;
    // The daemon stops reading after `ready`; nothing more goes to that pipe.
    let devnull = std::fs::OpenOptions::new().write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdout(&devnull)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(opts, listener))
}

pub(super) struct Shim {
    pub(super) runtime: OciRuntime,
    pub(super) log_max_size: u64,
    pub(super) log_max_files: usize,
    pub(super) cgroup_root: crate::cgroups::Root,
    pub(super) running: HashMap<String, RunningContainer>,
    /// Created, not yet started.
    pub(super) created: HashMap<String, Created>,
    pub(super) subscribers: Vec<tokio::sync::mpsc::UnboundedSender<ExitRecord>>,
    pub(super) shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Shim {
    /// A created container's process runs from now: listed as running, unless it has exited
    /// already (its exit was then announced with the creation time). Returns the start time.
    pub(super) fn started(&mut self, id: &str, pid: i32) -> String {
        let started_at = now();
        if self.created.remove(id).is_some() {
            self.running.insert(
                id.to_string(),
                RunningContainer {
                    id: id.to_string(),
                    pid,
                    started_at: started_at.clone(),
                },
            );
        }
        started_at
    }
}

pub(super) type Shared = Rc<RefCell<Shim>>;

/// A container the runtime created whose process has not been started.
#[derive(Clone)]
pub(super) struct Created {
    /// The runtime's init, waiting to exec the container's process.
    pub(super) pid: i32,
    pub(super) created_at: String,
    /// A start is under way (a `Start` request, or `StartCreated` received): `List` reports it as
    /// running, so a daemon reconciling meanwhile neither loses nor duplicates it. One created
    /// for a `StartCreated` that never came (the daemon died) is not listed.
    pub(super) starting: bool,
    /// `Delete` arrived while the runtime was still creating it: delete once created.
    pub(super) cancelled: bool,
}

async fn serve(
    opts: ShimOptions,
    listener: std::os::unix::net::UnixListener,
) -> std::io::Result<()> {
    let listener = tokio::net::UnixListener::from_std(listener)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let shim = Rc::new(RefCell::new(Shim {
        runtime: opts.runtime.clone(),
        log_max_size: opts.log_max_size,
        log_max_files: opts.log_max_files,
        cgroup_root: opts.cgroup_root.clone(),
        running: HashMap::new(),
        created: HashMap::new(),
        subscribers: Vec::new(),
        shutdown: Some(tx),
    }));
    let accept = async {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::task::spawn_local(handle_conn(shim.clone(), stream));
        }
    };
    tokio::select! {
        _ = accept => {}
        _ = rx => {}
    }
    Ok(())
}

async fn handle_conn(shim: Shared, stream: tokio::net::UnixStream) {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let req: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("bad request: {e}");
                let _ = send(&mut w, &Response::Error { message }).await;
                continue;
            }
        };
        let start = matches!(req, Request::Start { .. });
        let resp = match req {
            Request::List => list(&shim),
            Request::Start {
                id,
                bundle,
                log,
                exit_file,
            }
            | Request::Create {
                id,
                bundle,
                log,
                exit_file,
            } => create(&shim, &id, &bundle, &log, &exit_file, start)
                .await
                .unwrap_or_else(|message| Response::Error { message }),
            Request::StartCreated { id } => start_created(&shim, &id).await,
            Request::Kill { id, signal } => kill(&shim, &id, &signal).await,
            Request::Delete { id } => delete(&shim, &id).await,
            Request::Claim { hostname } => claim(&hostname),
            // These two keep the connection to themselves until it ends.
            Request::Subscribe => return subscribe(&shim, w).await,
            Request::Shutdown => return shutdown(&shim, w).await,
        };
        if send(&mut w, &resp).await.is_err() {
            return;
        }
    }
}

/// A spare holds nothing of a pod: it ends with the daemon that made it (SIGKILL when the thread
/// that started it goes), and at once if that daemon is already gone.
fn die_with(daemon: u32) -> std::io::Result<()> {
    use rustix::process::{getppid, set_parent_process_death_signal, Pid, Signal};
    set_parent_process_death_signal(Some(Signal::KILL))?;
    if getppid() != Pid::from_raw(daemon as i32) {
        return Err(std::io::Error::other(
            "the daemon that made this spare is gone",
        ));
    }
    Ok(())
}

/// The spare is a pod's from now: its hostname, and a life of its own.
fn claim(hostname: &str) -> Response {
    let done = rustix::system::sethostname(hostname.as_bytes())
        .and_then(|()| rustix::process::set_parent_process_death_signal(None));
    match done {
        Ok(()) => Response::Ok,
        Err(e) => Response::Error {
            message: format!("claiming the sandbox: {e}"),
        },
    }
}

/// What runs, and what is being started (for re-adoption).
fn list(shim: &Shared) -> Response {
    let s = shim.borrow();
    let starting = s
        .created
        .iter()
        .filter(|(_, c)| c.starting)
        .map(|(id, c)| RunningContainer {
            id: id.clone(),
            pid: c.pid,
            started_at: c.created_at.clone(),
        });
    Response::Running {
        containers: s.running.values().cloned().chain(starting).collect(),
    }
}

async fn kill(shim: &Shared, id: &str, signal: &str) -> Response {
    let rt = shim.borrow().runtime.clone();
    match rt.kill_async(id, signal).await {
        Ok(()) => Response::Ok,
        // Already gone: the exit is (or will be) reported through the pidfd.
        Err(_) if !shim.borrow().running.contains_key(id) => Response::Ok,
        Err(e) => Response::Error {
            message: e.to_string(),
        },
    }
}

async fn delete(shim: &Shared, id: &str) -> Response {
    let rt = {
        let mut s = shim.borrow_mut();
        if let Some(c) = s.created.get_mut(id) {
            c.cancelled = true;
        }
        s.runtime.clone()
    };
    match rt.delete_force_async(id).await {
        Ok(()) => Response::Ok,
        Err(e) => Response::Error {
            message: e.to_string(),
        },
    }
}

/// The exit stream: every exit record, one line each, until the connection or the shim ends.
async fn subscribe(shim: &Shared, mut w: tokio::net::unix::OwnedWriteHalf) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    shim.borrow_mut().subscribers.push(tx);
    if send(&mut w, &Response::Ok).await.is_err() {
        return;
    }
    while let Some(ev) = rx.recv().await {
        let mut line = serde_json::to_vec(&ev).unwrap_or_default();
        line.push(b'\n');
        if w.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// SIGKILL to everything, the answer, then the shim's end.
async fn shutdown(shim: &Shared, mut w: tokio::net::unix::OwnedWriteHalf) {
    let ids: Vec<String> = {
        let s = shim.borrow();
        s.running.keys().chain(s.created.keys()).cloned().collect()
    };
    let rt = shim.borrow().runtime.clone();
    for id in ids {
        let _ = rt.kill_async(&id, "KILL").await;
    }
    let _ = send(&mut w, &Response::Ok).await;
    if let Some(tx) = shim.borrow_mut().shutdown.take() {
        let _ = tx.send(());
    }
}

async fn send(w: &mut tokio::net::unix::OwnedWriteHalf, resp: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(resp).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await
}
