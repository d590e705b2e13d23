//! Containers through the OCI runtime: create (or create and start at once), start a created
//! one; from creation on, their output is logged and their exit watched.

use super::io::{pipe, pump};
use super::protocol::Response;
use super::reaper::{now, watch_exit};
use super::server::{Created, Shared};
use std::cell::RefCell;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;

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

/// `runc create`, or with `start` `runc run --detach` (one runtime process where create + start
/// would be two: a Go start-up less on every start and restart), run without blocking the shim
/// (containers of a pod may be created at once); from here on the container's output is logged
/// and its exit watched.
pub(super) async fn create(
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
pub(super) async fn start_created(shim: &Shared, id: &str) -> Response {
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
