//! The per-pod shim (the `beluga-shim` binary): one single-threaded process per pod that
//! * holds the pod's network, IPC and UTS namespaces (bind-mounted to files, so no pause process),
//! * is the child subreaper of the pod's containers and waits each one with a pidfd,
//! * owns their stdout/stderr and writes CRI logs, and
//! * records every exit in `<container>/<attempt>.exit` before announcing it.
//!
//! It outlives the daemon: a daemon restart reconnects to `shim.sock`.
//! Protocol: one JSON [`Request`] per line, one JSON [`Response`] per line; `Subscribe` turns the
//! connection into a stream of [`ExitRecord`] lines.

use crate::crilog::{write_record, LineSplitter};
use crate::layout::PodDir;
use crate::oci_runtime::OciRuntime;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The containers this shim started that have not exited.
    List,
    /// Create and start a container from its bundle, in one runtime call (`run --detach`).
    Start {
        id: String,
        bundle: PathBuf,
        log: PathBuf,
        exit_file: PathBuf,
    },
    /// Create a container (the runtime's namespaces, mounts and cgroups; its process waits) so
    /// that several can be set up at once and then started one by one, in order.
    Create {
        id: String,
        bundle: PathBuf,
        log: PathBuf,
        exit_file: PathBuf,
    },
    /// Start a container made by `Create`.
    StartCreated {
        id: String,
    },
    Kill {
        id: String,
        signal: String,
    },
    Delete {
        id: String,
    },
    Subscribe,
    Shutdown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Ok,
    Created { pid: i32 },
    Started { pid: i32, started_at: String },
    Running { containers: Vec<RunningContainer> },
    Error { message: String },
}

/// A container the shim runs: its id, pid and start time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunningContainer {
    pub id: String,
    pub pid: i32,
    pub started_at: String,
}

/// How one container instance ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitRecord {
    pub id: String,
    pub exit_code: i32,
    pub signal: Option<i32>,
    /// The kernel's OOM killer ended it (`OOMKilled`).
    #[serde(default)]
    pub oom_killed: bool,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone)]
pub struct ShimOptions {
    pub pod_dir: PathBuf,
    pub hostname: String,
    pub runtime: OciRuntime,
    /// Container log rotation: size in bytes (0 = never) and files kept.
    pub log_max_size: u64,
    pub log_max_files: usize,
}

fn errno(what: &str) -> std::io::Error {
    let e = std::io::Error::last_os_error();
    std::io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A unix socket path usable whatever its length: `sun_path` holds 108 bytes, pod directories can
/// be longer, so long paths go through `/proc/self/fd/<dir>/<name>` (keep the guard alive).
pub fn short_socket_path(path: &Path) -> std::io::Result<(PathBuf, Option<std::fs::File>)> {
    if path.as_os_str().len() < 100 {
        return Ok((path.to_path_buf(), None));
    }
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("socket path has no directory"))?;
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("socket path has no file name"))?;
    let f = std::fs::File::open(dir)?;
    Ok((
        PathBuf::from(format!("/proc/self/fd/{}", f.as_raw_fd())).join(name),
        Some(f),
    ))
}

/// Brings `lo` up in the current network namespace.
fn loopback_up() -> std::io::Result<()> {
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        flags: libc::c_short,
        _pad: [u8; 22],
    }
    // SAFETY: plain socket + ioctl on a stack struct laid out as the kernel's `struct ifreq`.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(errno("socket"));
        }
        let fd = OwnedFd::from_raw_fd(fd);
        let mut req = IfReq {
            name: [0; 16],
            flags: 0,
            _pad: [0; 22],
        };
        req.name[..2].copy_from_slice(b"lo");
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(errno("SIOCGIFFLAGS lo"));
        }
        req.flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(errno("SIOCSIFFLAGS lo"));
        }
    }
    Ok(())
}

/// New network, IPC and UTS namespaces for the calling (single-threaded) process, pinned to files.
fn create_sandbox(dir: &PodDir, hostname: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir.sandbox())?;
    // SAFETY: called before any thread exists; affects only this process.
    if unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) } != 0 {
        return Err(errno("unshare"));
    }
    rustix::system::sethostname(hostname.as_bytes())
        .map_err(|e| std::io::Error::other(format!("sethostname: {e}")))?;
    loopback_up()?;
    let pid = std::process::id();
    for kind in ["net", "ipc", "uts"] {
        let target = dir.ns(kind);
        std::fs::File::create(&target)?;
        let src = format!("/proc/{pid}/ns/{kind}");
        rustix::mount::mount_bind(src.as_str(), &target)
            .map_err(|e| std::io::Error::other(format!("pinning {kind} namespace: {e}")))?;
    }
    Ok(())
}

/// Entry point of `beluga-shim`. Sets up the sandbox *before* any thread exists (unshare applies
/// to the calling thread only), reports `ready` on stdout, then serves requests.
pub fn main(opts: ShimOptions) -> std::io::Result<()> {
    // Orphaned container processes are reparented to the shim, which waits them.
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let dir = PodDir(opts.pod_dir.clone());
    let mut stdout = std::io::stdout();
    if let Err(e) = create_sandbox(&dir, &opts.hostname) {
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
    // SAFETY: dup2 onto stdout with a valid fd.
    unsafe { libc::dup2(devnull.as_raw_fd(), 1) };

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, serve(opts, listener))
}

struct Shim {
    runtime: OciRuntime,
    log_max_size: u64,
    log_max_files: usize,
    running: HashMap<String, RunningContainer>,
    /// Created, not yet started.
    created: HashMap<String, Created>,
    subscribers: Vec<tokio::sync::mpsc::UnboundedSender<ExitRecord>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Shim {
    /// A created container's process runs from now: listed as running, unless it has exited
    /// already (its exit was then announced with the creation time). Returns the start time.
    fn started(&mut self, id: &str, pid: i32) -> String {
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

type Shared = Rc<RefCell<Shim>>;

/// A container the runtime created whose process has not been started.
#[derive(Clone)]
struct Created {
    /// The runtime's init, waiting to exec the container's process.
    pid: i32,
    created_at: String,
    /// A start is under way (a `Start` request, or `StartCreated` received): `List` reports it as
    /// running, so a daemon reconciling meanwhile neither loses nor duplicates it. One created
    /// for a `StartCreated` that never came (the daemon died) is not listed.
    starting: bool,
    /// `Delete` arrived while the runtime was still creating it: delete once created.
    cancelled: bool,
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
            // These two keep the connection to themselves until it ends.
            Request::Subscribe => return subscribe(&shim, w).await,
            Request::Shutdown => return shutdown(&shim, w).await,
        };
        if send(&mut w, &resp).await.is_err() {
            return;
        }
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

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(std::io::Error::from)?;
    Ok((r, w))
}

fn now() -> String {
    beluga_api::k8s_openapi::jiff::Timestamp::now().to_string()
}

/// `runc create`, or with `start` `runc run --detach` (one runtime process where create + start
/// would be two: a Go start-up less on every start and restart), run without blocking the shim
/// (containers of a pod may be created at once); from here on the container's output is logged
/// and its exit watched.
/// What a created container is followed with: its pid (from the runtime's pid file), a pidfd
/// to wait on (`pidfd_open`: the pid is our reparented child, so it cannot be recycled yet), and
/// its CRI log.
fn follow_created(
    shim: &Shared,
    runtime: &str,
    pid_file: &Path,
    log: &Path,
) -> Result<(i32, OwnedFd, Rc<RefCell<crate::crilog::RotatingLog>>), String> {
    let pid: Option<i32> = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.trim().parse().ok());
    let pid = pid.ok_or_else(|| format!("{runtime} create wrote no pid file"))?;
    let pidfd = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| format!("{runtime} wrote pid {pid}"))
        .and_then(|p| {
            rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty())
                .map_err(|e| format!("pidfd_open: {}", std::io::Error::from(e)))
        })?;
    let (max_size, max_files) = {
        let s = shim.borrow();
        (s.log_max_size, s.log_max_files)
    };
    let log_file = crate::crilog::RotatingLog::open(log, max_size, max_files)
        .map_err(|e| format!("opening log {}: {e}", log.display()))?;
    Ok((pid, pidfd, Rc::new(RefCell::new(log_file))))
}

async fn create(
    shim: &Shared,
    id: &str,
    bundle: &Path,
    log: &Path,
    exit_file: &Path,
    starting: bool,
) -> Result<Response, String> {
    let rt = shim.borrow().runtime.clone();
    let (out_r, out_w) = pipe().map_err(|e| e.to_string())?;
    let (err_r, err_w) = pipe().map_err(|e| e.to_string())?;
    // Known (and listed when starting) from now on, before the runtime has finished with it.
    shim.borrow_mut().created.insert(
        id.to_string(),
        Created {
            pid: 0,
            created_at: now(),
            starting,
            cancelled: false,
        },
    );
    let forget = |e: String| {
        shim.borrow_mut().created.remove(id);
        e
    };
    let pid_file = bundle.join("pid");
    let _ = std::fs::remove_file(&pid_file);
    // The container inherits the runtime's stdio: our pipes become its stdout and stderr.
    let mut cmd = rt.command();
    if starting {
        cmd.args(["run", "--detach"]);
    } else {
        cmd.arg("create");
    }
    cmd.arg("--bundle")
        .arg(bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(id)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(out_w))
        .stderr(std::process::Stdio::from(err_w));
    let status = tokio::process::Command::from(cmd)
        .status()
        .await
        .map_err(|e| forget(format!("running {}: {e}", rt.name)))?;
    if !status.success() {
        // Whatever the runtime printed is the error (the container never ran).
        let mut msg = String::new();
        let mut f = std::fs::File::from(err_r);
        let _ = std::io::Read::read_to_string(&mut f, &mut msg);
        let _ = rt.delete_force_async(id).await;
        // containerd's words for a container the runtime could not make.
        return Err(forget(format!(
            "OCI runtime create failed: {}",
            crate::oci_runtime::runtime_message(&msg)
        )));
    }
    if shim.borrow().created.get(id).is_some_and(|c| c.cancelled) {
        if starting {
            let _ = rt.kill_async(id, "KILL").await;
        }
        let _ = rt.delete_force_async(id).await;
        return Err(forget(format!(
            "container {id} was deleted while being created"
        )));
    }
    let followed = follow_created(shim, &rt.name, &pid_file, log);
    let (pid, pidfd, log_file) = match followed {
        Ok(f) => f,
        Err(e) => {
            let _ = rt.delete_force_async(id).await;
            return Err(forget(e));
        }
    };
    let pumps = vec![
        tokio::task::spawn_local(pump(out_r, "stdout", log_file.clone())),
        tokio::task::spawn_local(pump(err_r, "stderr", log_file.clone())),
    ];
    let started_at = {
        let mut s = shim.borrow_mut();
        if let Some(c) = s.created.get_mut(id) {
            c.pid = pid;
        }
        // The exit watch below has not run yet, so it is still listed.
        starting.then(|| s.started(id, pid))
    };
    tokio::task::spawn_local(watch_exit(
        shim.clone(),
        id.to_string(),
        pidfd,
        pumps,
        exit_file.to_path_buf(),
    ));
    Ok(match started_at {
        Some(started_at) => Response::Started { pid, started_at },
        None => Response::Created { pid },
    })
}

/// `runc start` of a created container.
async fn start_created(shim: &Shared, id: &str) -> Response {
    let (rt, created) = {
        let mut s = shim.borrow_mut();
        if let Some(c) = s.created.get_mut(id) {
            c.starting = true;
        }
        (s.runtime.clone(), s.created.get(id).cloned())
    };
    let Some(Created { pid, .. }) = created else {
        return Response::Error {
            message: format!("container {id} is not created (or already exited)"),
        };
    };
    let failed = rt
        .run_async("start", &[id])
        .await
        .err()
        .map(|e| e.to_string());
    if let Some(message) = failed {
        let _ = rt.kill_async(id, "KILL").await;
        let _ = rt.delete_force_async(id).await;
        return Response::Error { message };
    }
    let started_at = shim.borrow_mut().started(id, pid);
    Response::Started { pid, started_at }
}

async fn pump(fd: OwnedFd, stream: &'static str, log: Rc<RefCell<crate::crilog::RotatingLog>>) {
    let Ok(mut rx) = tokio::net::unix::pipe::Receiver::from_owned_fd(fd) else {
        return;
    };
    let mut split = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match rx.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut f = log.borrow_mut();
        for (partial, line) in split.push(&buf[..n]) {
            let _ = write_record(&mut *f, stream, partial, &line);
        }
    }
    if let Some((partial, line)) = split.finish() {
        let _ = write_record(&mut *log.borrow_mut(), stream, partial, &line);
    }
}

async fn watch_exit(
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
    let (code, signal) = reap(pidfd.as_fd());
    let finished_at = now();
    // Every byte the container wrote is in the log before its exit is announced.
    for p in pumps {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), p).await;
    }
    // Read before the runtime deletes the cgroup (the daemon deletes only after this record).
    let oom_killed = signal == Some(libc::SIGKILL) && crate::cgroups::oom_kills(&id) > 0;
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

/// Reaps the process behind a pidfd: (exit code, terminating signal).
fn reap(pidfd: std::os::fd::BorrowedFd<'_>) -> (i32, Option<i32>) {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let status = match waitid(WaitId::PidFd(pidfd), WaitIdOptions::EXITED) {
        Ok(Some(st)) => st,
        _ => return (255, None),
    };
    match (status.exit_status(), status.terminating_signal()) {
        (Some(code), _) => (code, None),
        (None, Some(sig)) => (128 + sig, Some(sig)),
        _ => (255, None),
    }
}

/// A daemon-side connection to a pod's shim.
pub struct ShimClient {
    pub socket: PathBuf,
}

/// kubelet's default `--runtime-request-timeout`.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

async fn bounded<T>(
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    tokio::time::timeout(CALL_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the pod's shim did not answer within 2m0s",
            ))
        })
}

impl ShimClient {
    async fn connect(&self) -> std::io::Result<tokio::net::UnixStream> {
        let (path, _guard) = short_socket_path(&self.socket)?;
        tokio::net::UnixStream::connect(&path).await
    }

    /// One request and its answer, within kubelet's `runtimeRequestTimeout` (2 minutes): a
    /// stuck shim fails the call instead of holding the pod's worker forever.
    pub async fn call(&self, req: &Request) -> std::io::Result<Response> {
        bounded(self.call_unbounded(req)).await
    }

    async fn call_unbounded(&self, req: &Request) -> std::io::Result<Response> {
        let stream = self.connect().await?;
        let (r, mut w) = stream.into_split();
        let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
        line.push(b'\n');
        w.write_all(&line).await?;
        let mut lines = BufReader::new(r).lines();
        let resp = lines.next_line().await?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "shim closed the connection",
            )
        })?;
        serde_json::from_str(&resp).map_err(std::io::Error::other)
    }

    /// A stream of exits; ends (None) when the shim goes away.
    pub async fn subscribe(
        &self,
    ) -> std::io::Result<tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>> {
        // The handshake is bounded; the stream itself lasts as long as the shim.
        bounded(self.subscribe_unbounded()).await
    }

    async fn subscribe_unbounded(
        &self,
    ) -> std::io::Result<tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>> {
        let stream = self.connect().await?;
        let (r, mut w) = stream.into_split();
        w.write_all(b"{\"op\":\"subscribe\"}\n").await?;
        let mut lines = BufReader::new(r).lines();
        let first = lines.next_line().await?;
        if first
            .as_deref()
            .map(|l| serde_json::from_str::<Response>(l).ok())
            != Some(Some(Response::Ok))
        {
            return Err(std::io::Error::other("shim refused subscription"));
        }
        // The write half stays open as long as the read half (dropping it would shut the
        // socket's write side); `forget` ties it to the read half instead of leaking the socket.
        w.forget();
        Ok(lines)
    }
}

/// Starts the shim binary `exe` for a pod and waits for its `ready` line. The shim is its own session so
/// it survives the daemon.
pub async fn spawn(exe: &Path, opts: &ShimOptions) -> std::io::Result<tokio::process::Child> {
    let dir = PodDir(opts.pod_dir.clone());
    std::fs::create_dir_all(dir.sandbox())?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.sandbox().join("shim.log"))?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("--pod-dir")
        .arg(&opts.pod_dir)
        .arg("--hostname")
        .arg(&opts.hostname)
        .arg("--runtime-path")
        .arg(&opts.runtime.path)
        .arg("--runtime-root")
        .arg(&opts.runtime.state_root)
        .arg("--log-max-size")
        .arg(opts.log_max_size.to_string())
        .arg("--log-max-files")
        .arg(opts.log_max_files.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::from(log))
        .kill_on_drop(false);
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no shim stdout"))?;
    let mut line = String::new();
    // A shim that never says `ready` is killed rather than waited on forever.
    let read = bounded(BufReader::new(stdout).read_line(&mut line)).await;
    if read.is_err() || line.trim() != "ready" {
        let _ = child.start_kill();
        let _ = child.wait().await;
        let log = std::fs::read_to_string(dir.sandbox().join("shim.log")).unwrap_or_default();
        return Err(std::io::Error::other(format!(
            "shim failed to start: {} {}",
            line.trim(),
            log.trim()
        )));
    }
    Ok(child)
}

/// Waits, up to `timeout`, until the pod's shim process is gone (after `Shutdown`), so that a
/// finished teardown leaves no process of the pod. Only a process whose command line names this
/// pod directory is waited for: a stale `shim.pid` (after a reboot) may name someone else.
pub async fn wait_exit(dir: &PodDir, timeout: std::time::Duration) {
    let Some(pid) = std::fs::read_to_string(dir.sandbox().join("shim.pid"))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    // A pidfd pins the process, whatever happens to the pid; none: already gone (and reaped).
    let Some(fd) = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok())
    else {
        return;
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = dir.path().as_os_str().as_encoded_bytes();
    if !cmdline.windows(needle.len().max(1)).any(|w| w == needle) {
        return;
    }
    // SAFETY: the AsyncFd owns the pidfd and drops it with itself.
    if let Ok(afd) = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
    } {
        let _ = tokio::time::timeout(timeout, afd.readable()).await;
    }
}

/// Removes everything the sandbox pinned: namespace bind mounts and the socket.
pub fn teardown_sandbox(dir: &PodDir) {
    for kind in ["net", "ipc", "uts"] {
        let p = dir.ns(kind);
        let _ = rustix::mount::unmount(&p, rustix::mount::UnmountFlags::DETACH);
        let _ = std::fs::remove_file(&p);
    }
    let _ = std::fs::remove_file(dir.shim_socket());
}
