//! The floor: the same container sequence started directly with the OCI runtime, from bundles
//! prepared beforehand over one read-only copy of the image's files. As in a pod, the containers
//! of a sequence join one network, IPC and UTS namespace, created first (`unshare` pins them to
//! files; that is timed too); each gets its own PID and mount namespace. Nothing else happens:
//! no overlay, no volumes, no logs, no daemon.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Floor {
    /// The runtime as beluga runs it: crun on a hybrid host with cgroup2 hidden (issue 13).
    rt: beluga_runtime::oci_runtime::OciRuntime,
    pub name: String,
    dir: tempfile::TempDir,
    template: serde_json::Value,
    rootfs: PathBuf,
    next: usize,
}

/// One container of a sequence: run to completion (init) or start and leave running.
pub enum Step<'a> {
    RunToCompletion(&'a [&'a str]),
    Start(&'a [&'a str]),
}

impl Floor {
    /// None with the runtime's own words when it cannot run a container on this host.
    pub fn new(runtime: &Path, rootfs: &Path) -> Result<Floor, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let name = runtime
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let o = Command::new(runtime)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("{name}: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "{name} spec: {}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let text =
            std::fs::read_to_string(dir.path().join("config.json")).map_err(|e| e.to_string())?;
        let template = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let layout = beluga_runtime::oci_runtime::Layout::detect();
        let flag = runtime.to_string_lossy().into_owned();
        let (rt, _) = beluga_runtime::oci_runtime::OciRuntime::choose_on(
            &layout,
            Some(&flag),
            &dir.path().join("state"),
            |_| None,
        )
        .map_err(|e| e.to_string())?;
        let mut f = Floor {
            rt,
            name,
            dir,
            template,
            rootfs: rootfs.to_path_buf(),
            next: 0,
        };
        // A probe run tells whether the host allows this runtime at all.
        let probe = f.bundle(&["true"], None);
        let ok = f
            .command(&["run", "--bundle"])
            .arg(&probe.1)
            .arg(&probe.0)
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if !ok {
            let err = f.stderr();
            let _ = f.command(&["delete", "--force", &probe.0]).status();
            return Err(format!("{} refused on this host: {err}", f.name));
        }
        Ok(f)
    }

    /// A runtime command; its stderr goes to a file, since a created container inherits the
    /// runtime's stdio and would hold a pipe open for as long as it runs.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.rt.command();
        let err = std::fs::File::create(self.dir.path().join("stderr")).expect("stderr file");
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        c
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// A new bundle running `args`, joining the namespaces pinned in `ns` when given:
    /// (container id, bundle directory).
    fn bundle(&mut self, args: &[&str], ns: Option<&Path>) -> (String, PathBuf) {
        self.next += 1;
        let id = format!("floor-{}", self.next);
        let b = self.dir.path().join(&id);
        std::fs::create_dir_all(&b).expect("bundle dir");
        let mut c = self.template.clone();
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
        c["root"] = serde_json::json!({"path": self.rootfs, "readonly": true});
        if let Some(ns) = ns {
            c["linux"]["namespaces"] = serde_json::json!([
                {"type": "pid"},
                {"type": "mount"},
                {"type": "network", "path": ns.join("net")},
                {"type": "ipc", "path": ns.join("ipc")},
                {"type": "uts", "path": ns.join("uts")},
            ]);
        }
        std::fs::write(b.join("config.json"), c.to_string()).expect("config.json");
        (id, b)
    }

    /// Times the sequence from its first runtime call until its last container runs; then
    /// removes every container of it (untimed).
    pub fn run(&mut self, steps: &[Step]) -> Duration {
        let ns = self.dir.path().join(format!("ns-{}", self.next));
        ns_files(&ns);
        let bundles: Vec<(String, PathBuf, bool)> = steps
            .iter()
            .map(|s| match s {
                Step::RunToCompletion(a) => {
                    let (id, b) = self.bundle(a, Some(&ns));
                    (id, b, true)
                }
                Step::Start(a) => {
                    let (id, b) = self.bundle(a, Some(&ns));
                    (id, b, false)
                }
            })
            .collect();
        let t = Instant::now();
        pin_namespaces(&ns);
        for (id, b, to_completion) in &bundles {
            if *to_completion {
                self.ok(self.command(&["run", "--bundle"]).arg(b).arg(id));
            } else {
                // One runtime process per container, the quickest way runc has.
                self.ok(self
                    .command(&["run", "--detach", "--bundle"])
                    .arg(b)
                    .arg(id));
            }
        }
        let took = t.elapsed();
        for (id, b, _) in &bundles {
            let _ = self.command(&["delete", "--force", id]).status();
            let _ = std::fs::remove_dir_all(b);
        }
        unpin_namespaces(&ns);
        took
    }

    /// A restart's share of the runtime: one `run --detach` of a long-running container into
    /// namespaces pinned beforehand (untimed), as a replacement joins its pod's.
    pub fn run_replacement(&mut self, args: &[&str]) -> Duration {
        let ns = self.dir.path().join(format!("ns-{}", self.next));
        ns_files(&ns);
        pin_namespaces(&ns);
        let (id, b) = self.bundle(args, Some(&ns));
        let t = Instant::now();
        self.ok(self
            .command(&["run", "--detach", "--bundle"])
            .arg(&b)
            .arg(&id));
        let took = t.elapsed();
        let _ = self.command(&["delete", "--force", &id]).status();
        let _ = std::fs::remove_dir_all(&b);
        unpin_namespaces(&ns);
        took
    }

    fn ok(&self, c: &mut Command) {
        let ok = c.status().expect("runtime").success();
        assert!(ok, "{}: {}", self.name, self.stderr());
    }
}

const NS_KINDS: [&str; 3] = ["net", "ipc", "uts"];

/// The files a pod's network, IPC and UTS namespaces are pinned to.
fn ns_files(ns: &Path) {
    std::fs::create_dir_all(ns).expect("ns dir");
    for k in NS_KINDS {
        std::fs::File::create(ns.join(k)).expect("ns file");
    }
}

/// New namespaces pinned to those files, with `unshare`, as a pod's sandbox is made.
fn pin_namespaces(ns: &Path) {
    let mut unshare = Command::new("unshare");
    for k in NS_KINDS {
        unshare.arg(format!("--{k}={}", ns.join(k).display()));
    }
    assert!(unshare.arg("true").status().expect("unshare").success());
}

fn unpin_namespaces(ns: &Path) {
    for k in NS_KINDS {
        let _ = rustix::mount::unmount(ns.join(k), rustix::mount::UnmountFlags::DETACH);
    }
    let _ = std::fs::remove_dir_all(ns);
}

/// The kernel's own share of the same sequence: for each container a fork that joins the
/// pod's namespaces, unshares a PID and a mount namespace, chroots into the image's files and
/// execs the same busybox binary. No runtime, no cgroup, no configuration file.
pub struct KernelFloor {
    rootfs: PathBuf,
    dir: tempfile::TempDir,
}

impl KernelFloor {
    pub fn new(rootfs: &Path) -> KernelFloor {
        KernelFloor {
            rootfs: rootfs.to_path_buf(),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// One process for a step, started (exec done) when this returns.
    fn spawn(&self, ns: &[std::fs::File], args: &[&str]) -> std::process::Child {
        use std::os::fd::AsRawFd;
        use std::os::unix::process::CommandExt;
        let fds: Vec<i32> = ns.iter().map(|f| f.as_raw_fd()).collect();
        let root = std::ffi::CString::new(self.rootfs.to_string_lossy().as_bytes()).expect("path");
        let mut c = Command::new(args[0]);
        c.args(&args[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A group of its own, so its children (in the new PID namespace) go with it.
            .process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            c.pre_exec(move || {
                for fd in &fds {
                    if libc::setns(*fd, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                if libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWPID) != 0
                    || libc::chroot(root.as_ptr()) != 0
                    || libc::chdir(c"/".as_ptr()) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // `spawn` returns once the exec happened (std reports exec failures through a pipe).
        c.spawn().expect("kernel floor: spawn")
    }

    /// Times the sequence from pinning the namespaces until its last process runs.
    pub fn run(&mut self, steps: &[Step]) -> Duration {
        let ns = self.dir.path().join("ns");
        ns_files(&ns);
        let t = Instant::now();
        pin_namespaces(&ns);
        let files: Vec<std::fs::File> = NS_KINDS
            .iter()
            .map(|k| std::fs::File::open(ns.join(k)).expect("ns"))
            .collect();
        let mut running = Vec::new();
        for s in steps {
            match s {
                Step::RunToCompletion(a) => {
                    let st = self.spawn(&files, a).wait().expect("wait");
                    assert!(st.success(), "kernel floor: {a:?} failed");
                }
                Step::Start(a) => running.push(self.spawn(&files, a)),
            }
        }
        let took = t.elapsed();
        for mut c in running {
            // SAFETY: signals the process group made for this child alone.
            unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
            let _ = c.wait();
        }
        drop(files);
        unpin_namespaces(&ns);
        took
    }
}
