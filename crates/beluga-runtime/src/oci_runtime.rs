//! The OCI runtime (crun or runc) as a CLI, and the per-host choice between them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("OCI runtime {runtime} {verb} failed: {message}")]
    Failed {
        runtime: String,
        verb: String,
        message: String,
    },
    #[error("running {runtime}: {source}")]
    Spawn {
        runtime: String,
        source: std::io::Error,
    },
    #[error("no OCI runtime found: install crun or runc")]
    NotFound,
}

/// How an exec'd process gets its terminal.
#[derive(Debug, Clone, Copy)]
pub enum Tty<'a> {
    /// Pipes or whatever stdio the caller gives: no terminal.
    None,
    /// A pty the runtime makes and relays to its own stdio, which must be a terminal.
    Relayed,
    /// A pty whose master the runtime sends to this unix socket (`--console-socket`).
    HandedOver(&'a Path),
}

#[derive(Debug, Clone)]
pub struct OciRuntime {
    /// Short name: `crun` or `runc` (or the file name of a custom path); used in `containerID`.
    pub name: String,
    pub path: PathBuf,
    /// `--root` for the runtime's state, private to beluga.
    pub state_root: PathBuf,
    /// The cgroup2 mount to hide from the runtime: each of its processes starts in a mount
    /// namespace of its own, a downstream copy of the host's with this mount detached (crun on a
    /// hybrid host whose cgroup2 holds only controllers beluga does not manage). The host's own
    /// mounts never change.
    pub hide_mount: Option<PathBuf>,
}

/// A delete of a container the runtime no longer knows has nothing left to do.
fn absent_is_deleted(r: Result<String, RuntimeError>) -> Result<(), RuntimeError> {
    match r {
        Err(RuntimeError::Failed { message, .. })
            if message.contains("does not exist") || message.contains("not exist") =>
        {
            Ok(())
        }
        other => other.map(|_| ()),
    }
}

/// The runtime's stderr as a message: runc logs in logfmt (`time=… level=error msg="…"`), whose
/// `msg` is the part a user wants (as containerd shows it); other lines (crun's) are kept as they are.
pub fn runtime_message(stderr: &str) -> String {
    let lines: Vec<String> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| logfmt_msg(l).unwrap_or_else(|| l.to_string()))
        .collect();
    lines.join("; ")
}

/// The value of `msg="…"` in a logfmt line, Go's escapes undone.
fn logfmt_msg(line: &str) -> Option<String> {
    let start = line.find("msg=\"")? + 5;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

fn which(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

/// The controllers a pod's limits and accounting need: a cgroup2 hierarchy holding any of them
/// cannot be hidden from the runtime.
pub const MANAGED_CONTROLLERS: [&str; 5] = ["cpu", "cpuset", "io", "memory", "pids"];

/// The host's cgroup layout, as an OCI runtime sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v2 only.
    Unified,
    /// cgroup v1 only.
    Legacy,
    /// v1 controllers, and a cgroup2 mount at `mount` holding `controllers` (maybe none).
    Hybrid {
        mount: PathBuf,
        controllers: Vec<String>,
    },
    NoCgroups,
}

impl Layout {
    /// The layout from `/proc/self/mountinfo`'s text; `controllers` reads a cgroup2 mount's
    /// `cgroup.controllers`. Pure, for tests.
    pub fn parse(mountinfo: &str, controllers: impl Fn(&Path) -> String) -> Layout {
        let mut v1 = false;
        let mut v2_mount: Option<PathBuf> = None;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fstype = right.split_whitespace().next().unwrap_or("");
            let mount_point = left.split_whitespace().nth(4).unwrap_or("");
            match fstype {
                "cgroup" => v1 = true,
                "cgroup2" => v2_mount = Some(PathBuf::from(mount_point)),
                _ => {}
            }
        }
        match (v1, v2_mount) {
            (false, Some(_)) => Layout::Unified,
            (true, Some(mount)) => {
                let controllers = controllers(&mount)
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                Layout::Hybrid { mount, controllers }
            }
            (true, None) => Layout::Legacy,
            (false, None) => Layout::NoCgroups,
        }
    }

    /// This host's.
    pub fn detect() -> Layout {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Layout::parse(&mountinfo, |m| {
            std::fs::read_to_string(m.join("cgroup.controllers")).unwrap_or_default()
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Layout::Unified => "unified (cgroup v2)".into(),
            Layout::Legacy => "legacy (cgroup v1)".into(),
            Layout::Hybrid { controllers, .. } if controllers.is_empty() => {
                "hybrid, cgroup2 without controllers".into()
            }
            Layout::Hybrid { controllers, .. } => {
                format!("hybrid with {} on cgroup2", controllers.join(", "))
            }
            Layout::NoCgroups => "no cgroups".into(),
        }
    }

    /// crun runs on it as it is (it refuses a hybrid layout whose cgroup2 holds controllers).
    pub fn crun_as_is(&self) -> bool {
        !matches!(self, Layout::Hybrid { controllers, .. } if !controllers.is_empty())
    }

    /// The cgroup2 mount crun can be run without, when that is what it takes: a hybrid layout
    /// whose cgroup2 holds only controllers beluga does not manage for pods (hugetlb here).
    pub fn hideable(&self) -> Option<(&Path, &[String])> {
        match self {
            Layout::Hybrid { mount, controllers }
                if !controllers.is_empty()
                    && !controllers
                        .iter()
                        .any(|c| MANAGED_CONTROLLERS.contains(&c.as_str())) =>
            {
                Some((mount, controllers))
            }
            _ => None,
        }
    }
}

impl OciRuntime {
    /// `--runtime crun|runc|PATH`, or crun where it can run (if need be with the cgroup2 mount
    /// hidden, see [`OciRuntime::hide_mount`]) and runc where it cannot. Returns the runtime and a
    /// one-line reason for the log, naming what is not managed for pods.
    pub fn choose(
        flag: Option<&str>,
        state_root: &Path,
    ) -> Result<(OciRuntime, String), RuntimeError> {
        let layout = Layout::detect();
        Self::choose_on(&layout, flag, state_root, which)
    }

    /// [`OciRuntime::choose`] on a given layout, with `find` looking binaries up. Pure but for
    /// `find`, for tests.
    pub fn choose_on(
        layout: &Layout,
        flag: Option<&str>,
        state_root: &Path,
        find: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<(OciRuntime, String), RuntimeError> {
        let hidden = layout.hideable();
        let make = |path: PathBuf| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("runc")
                .to_string();
            // Only crun needs it: runc handles hybrid layouts itself.
            let hide_mount = (name == "crun")
                .then(|| hidden.map(|(m, _)| m.to_path_buf()))
                .flatten();
            OciRuntime {
                name,
                path,
                state_root: state_root.to_path_buf(),
                hide_mount,
            }
        };
        let private_ns = |rt: &OciRuntime| match (&rt.hide_mount, hidden) {
            (Some(m), Some((_, controllers))) => format!(
                "; it runs in a private mount namespace without {} ({} not managed for pods)",
                m.display(),
                controllers.join(", ")
            ),
            _ => String::new(),
        };
        let layout_text = layout.describe();
        if let Some(f) = flag {
            let path = if f.contains('/') {
                PathBuf::from(f)
            } else {
                find(f).ok_or(RuntimeError::NotFound)?
            };
            let rt = make(path);
            let why = format!("--runtime {f}{}", private_ns(&rt));
            return Ok((rt, why));
        }
        let crun_runs = layout.crun_as_is() || hidden.is_some();
        match (crun_runs, find("crun"), find("runc")) {
            (true, Some(c), _) => {
                let rt = make(c);
                let why = format!("crun: cgroups are {layout_text}{}", private_ns(&rt));
                Ok((rt, why))
            }
            (false, _, Some(r)) => Ok((
                make(r),
                format!("runc: cgroups are {layout_text}, which crun refuses"),
            )),
            (true, None, Some(r)) => Ok((make(r), "runc: crun is not installed".into())),
            (false, Some(c), None) => Ok((
                make(c),
                format!(
                    "crun (runc not installed; cgroups are {layout_text}, crun may refuse them)"
                ),
            )),
            (_, None, None) => Err(RuntimeError::NotFound),
        }
    }

    /// The controllers this runtime's containers are not limited by (hidden from it).
    pub fn unmanaged(&self) -> Vec<String> {
        if self.hide_mount.is_none() {
            return vec![];
        }
        match Layout::detect() {
            Layout::Hybrid { controllers, .. } => controllers,
            _ => vec![],
        }
    }

    pub fn command(&self) -> Command {
        self.command_hiding(self.hide_mount.as_deref())
    }

    /// The command for `verb`: one that never looks at cgroups runs without the private mount
    /// namespace, which costs ≈ 1.3 ms a call to make.
    fn command_for(&self, verb: &str) -> Command {
        self.command_hiding(self.hide_mount.as_deref().filter(|_| sees_cgroups(verb)))
    }

    /// The runtime with its state root, in a private mount namespace without `hide` if given.
    fn command_hiding(&self, hide: Option<&Path>) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&self.state_root);
        if let Some(m) = hide {
            hide_in_child(&mut c, m);
        }
        c
    }

    /// Whether a foreground `exec --tty --console-socket` hands the pty's master over and still
    /// waits for the process (crun does; runc's foreground exec ignores the socket and relays the
    /// pty itself, and propagates the size of its own terminal on SIGWINCH).
    pub fn hands_over_exec_console(&self) -> bool {
        self.name == "crun"
    }

    /// `exec` in container `id` (on a terminal with `tty`), in the working directory of its
    /// process (read from its bundle's `config.json`): runc starts exec'd processes there, crun
    /// in `/` unless told. The command to run follows.
    pub fn exec_command(&self, bundle: &Path, id: &str, tty: Tty) -> Command {
        let mut c = self.command();
        c.arg("exec");
        match tty {
            Tty::None => {}
            Tty::Relayed => {
                c.arg("--tty");
            }
            Tty::HandedOver(socket) => {
                c.arg("--tty").arg("--console-socket").arg(socket);
            }
        }
        if let Some(cwd) = bundle_cwd(bundle) {
            c.arg("--cwd").arg(cwd);
        }
        c.arg(id);
        c
    }

    fn run(&self, verb: &str, args: &[&str]) -> Result<String, RuntimeError> {
        let out = self
            .command_for(verb)
            .arg(verb)
            .args(args)
            .stdin(Stdio::null())
            .output();
        self.result(verb, out)
    }

    /// As `run`, without blocking the calling thread (the shim serves its pod from one thread).
    pub async fn run_async(&self, verb: &str, args: &[&str]) -> Result<String, RuntimeError> {
        let mut c = self.command_for(verb);
        c.arg(verb).args(args).stdin(Stdio::null());
        let out = tokio::process::Command::from(c).output().await;
        self.result(verb, out)
    }

    fn result(
        &self,
        verb: &str,
        out: std::io::Result<std::process::Output>,
    ) -> Result<String, RuntimeError> {
        let out = out.map_err(|source| RuntimeError::Spawn {
            runtime: self.name.clone(),
            source,
        })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(RuntimeError::Failed {
                runtime: self.name.clone(),
                verb: verb.into(),
                message: runtime_message(&String::from_utf8_lossy(&out.stderr)),
            })
        }
    }

    pub fn delete_force(&self, id: &str) -> Result<(), RuntimeError> {
        absent_is_deleted(self.run("delete", &["--force", id]))
    }

    pub async fn delete_force_async(&self, id: &str) -> Result<(), RuntimeError> {
        absent_is_deleted(self.run_async("delete", &["--force", id]).await)
    }

    pub async fn kill_async(&self, id: &str, signal: &str) -> Result<(), RuntimeError> {
        self.run_async("kill", &[id, signal]).await.map(|_| ())
    }

    /// Ids of every container the runtime knows in our state root.
    pub fn list(&self) -> Vec<String> {
        self.run("list", &["--format", "json"])
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| {
                v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|c| c["id"].as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_default()
    }
}

/// The working directory of a bundle's process.
fn bundle_cwd(bundle: &Path) -> Option<String> {
    let data = std::fs::read(bundle.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&data).ok()?;
    v["process"]["cwd"].as_str().map(String::from)
}

/// Whether the runtime's `verb` detects the host's cgroup layout (and so must not see a hybrid
/// one): all but `start`, which only reads the container's state and opens its exec FIFO
/// (crun's `libcrun_container_start`, runc's `start`).
fn sees_cgroups(verb: &str) -> bool {
    verb != "start"
}

/// Starts the command in a mount namespace of its own: a copy of ours taken as it starts (so it
/// sees every bundle mounted before it; downstream, should ours be shared), with `mount` detached
/// and an empty tmpfs of its own in its place.
fn hide_in_child(c: &mut Command, mount: &Path) {
    use rustix::mount::{mount_change, unmount, MountFlags, MountPropagationFlags, UnmountFlags};
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    let Ok(target) = std::ffi::CString::new(mount.as_os_str().as_bytes()) else {
        return;
    };
    let flags = MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC;
    // SAFETY: between fork and exec only system calls run, on strings made before the fork
    // (no allocation, no lock): unshare, mount, umount2.
    unsafe {
        c.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            mount_change(c"/", flags)?;
            unmount(target.as_c_str(), UnmountFlags::DETACH)?;
            // The runtime still sees the hierarchy in /proc/self/cgroup (`0::/`) and makes the
            // container's directories under the mount point: on a tmpfs of this namespace's own
            // they go with it, never into the host's `/sys/fs/cgroup` beneath the hidden mount.
            rustix::mount::mount(
                c"tmpfs",
                target.as_c_str(),
                c"tmpfs",
                MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
                Some(c"mode=755,size=1m"),
            )?;
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 1 8:1 / / rw,relatime - ext4 /dev/vda1 rw
30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";

    // Issue 13 item 3: only the verbs that detect the cgroup layout pay for the private mount
    // namespace.
    #[test]
    fn verbs_that_see_cgroups() {
        let cases = [
            ("create", true),
            ("run", true),
            ("start", false),
            ("exec", true),
            ("kill", true),
            ("delete", true),
            ("state", true),
        ];
        for (verb, sees) in cases {
            assert_eq!(sees_cgroups(verb), sees, "{verb}");
        }
    }

    // Issue 13: which layouts crun runs on as they are, and which only with cgroup2 hidden.
    #[test]
    fn layouts_and_what_crun_needs() {
        let on = |controllers: &'static str| Layout::parse(HYBRID, move |_| controllers.into());
        let unified = Layout::parse(
            "31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            |_| "cpu memory pids".into(),
        );
        let legacy = Layout::parse(
            "32 30 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n",
            |_| String::new(),
        );
        let cases: [(Layout, bool, bool, &str); 6] = [
            (unified, true, false, "unified (cgroup v2)"),
            (legacy, true, false, "legacy (cgroup v1)"),
            (on(""), true, false, "hybrid, cgroup2 without controllers"),
            (
                on("hugetlb\n"),
                false,
                true,
                "hybrid with hugetlb on cgroup2",
            ),
            (
                on("hugetlb rdma"),
                false,
                true,
                "hybrid with hugetlb, rdma on cgroup2",
            ),
            (
                on("hugetlb memory"),
                false,
                false,
                "hybrid with hugetlb, memory on cgroup2",
            ),
        ];
        for (layout, as_is, hideable, text) in cases {
            assert_eq!(layout.crun_as_is(), as_is, "{layout:?}");
            assert_eq!(layout.hideable().is_some(), hideable, "{layout:?}");
            assert_eq!(layout.describe(), text);
        }
        assert_eq!(
            on("hugetlb").hideable().map(|(m, _)| m.to_path_buf()),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
    }

    // Issue 13: crun wherever it can be made to run; runc only where it cannot; `--runtime` wins,
    // and crun forced on a hideable host still hides cgroup2.
    #[test]
    fn the_runtime_choice() {
        let hugetlb = Layout::parse(HYBRID, |_| "hugetlb".into());
        let memory = Layout::parse(HYBRID, |_| "memory".into());
        let both = |b: &str| Some(PathBuf::from(format!("/usr/bin/{b}")));
        let root = Path::new("/state");
        let (rt, why) = OciRuntime::choose_on(&hugetlb, None, root, both).unwrap();
        assert_eq!(rt.name, "crun");
        assert_eq!(rt.hide_mount, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(why, "crun: cgroups are hybrid with hugetlb on cgroup2; it runs in a private mount namespace without /sys/fs/cgroup/unified (hugetlb not managed for pods)");
        let (rt, why) = OciRuntime::choose_on(&memory, None, root, both).unwrap();
        assert_eq!((rt.name.as_str(), rt.hide_mount), ("runc", None));
        assert!(why.ends_with("which crun refuses"), "{why}");
        let (rt, why) = OciRuntime::choose_on(&hugetlb, Some("runc"), root, both).unwrap();
        assert_eq!(
            (rt.name.as_str(), rt.hide_mount, why.as_str()),
            ("runc", None, "--runtime runc")
        );
        let (rt, _) = OciRuntime::choose_on(&hugetlb, Some("crun"), root, both).unwrap();
        assert!(rt.hide_mount.is_some());
        let (rt, _) = OciRuntime::choose_on(&Layout::Unified, None, root, both).unwrap();
        assert_eq!((rt.name.as_str(), rt.hide_mount), ("crun", None));
        let none = |_: &str| None;
        assert!(OciRuntime::choose_on(&hugetlb, None, root, none).is_err());
    }

    #[test]
    fn runtime_messages() {
        let cases = [
            // runc 1.1's logfmt: the msg, unescaped.
            (
                "time=\"2026-11-22T04:45:46Z\" level=error msg=\"runc run failed: unable to start container process: exec: \\\"/no/such/binary\\\": stat /no/such/binary: no such file or directory\"\n",
                "runc run failed: unable to start container process: exec: \"/no/such/binary\": stat /no/such/binary: no such file or directory",
            ),
            (
                "time=\"x\" level=error msg=\"container \\\"a\\\" does not exist\"",
                "container \"a\" does not exist",
            ),
            // crun's plain lines, and anything else, as they are.
            (
                "crun: executable file `/x` not found: No such file or directory\n",
                "crun: executable file `/x` not found: No such file or directory",
            ),
            ("line one\n\n  line two  \n", "line one; line two"),
            // An unterminated msg is not cut short.
            ("msg=\"half", "msg=\"half"),
            ("", ""),
        ];
        for (stderr, want) in cases {
            assert_eq!(runtime_message(stderr), want, "{stderr:?}");
        }
    }
}
