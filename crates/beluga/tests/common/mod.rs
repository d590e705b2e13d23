//! Test harness: a private daemon (own root, socket and runtime state) per test, the busybox
//! image built once per test binary from Debian's busybox-static, and helpers to drive the CLI.
#![allow(dead_code)]

pub mod net;

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const IMAGE: &str = "localhost/busybox:1";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_beluga")
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn is_root() -> bool {
    beluga_fsutil::running_as_root_for_tests()
}

/// The busybox rootfs, shared by every test process: keyed by the build script and the busybox
/// binary, built once into a private directory and renamed into place (so parallel tests never
/// see a half-built one), and reused afterwards instead of piling up a copy per process.
pub fn rootfs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = workspace().join("scripts/busybox-rootfs.sh");
        let mut key: u64 = 0xcbf29ce484222325;
        let bb = std::fs::metadata("/bin/busybox")
            .map(|m| format!("{}:{:?}", m.len(), m.modified().ok()))
            .unwrap_or_default();
        for b in std::fs::read(&script)
            .unwrap_or_default()
            .iter()
            .chain(bb.as_bytes())
        {
            key = (key ^ u64::from(*b)).wrapping_mul(0x100000001b3);
        }
        let dir = std::env::temp_dir().join(format!("beluga-test-rootfs-{key:016x}"));
        if dir.join("bin/busybox").exists() {
            return dir;
        }
        let tmp =
            std::env::temp_dir().join(format!("beluga-test-rootfs-build-{}", std::process::id()));
        let st = Command::new("sh")
            .arg(&script)
            .arg(&tmp)
            .status()
            .expect("running busybox-rootfs.sh");
        assert!(st.success(), "building the busybox rootfs failed");
        if std::fs::rename(&tmp, &dir).is_err() {
            // Another test process got there first.
            let _ = std::fs::remove_dir_all(&tmp);
        }
        dir
    })
}

pub struct Daemon {
    pub root: tempfile::TempDir,
    pub socket: PathBuf,
    child: Option<Child>,
    pub log: PathBuf,
    /// The daemon's own pod network (dropped after the daemon).
    pub net: Option<net::TestNet>,
}

impl Daemon {
    /// Starts a daemon with a short crash-loop back-off, with the busybox image imported.
    /// Returns None (and the test passes vacuously with a note) when not root.
    pub fn start() -> Option<Daemon> {
        Self::start_with(&[
            "--crash-loop-backoff-initial",
            "1s",
            "--crash-loop-backoff-max",
            "4s",
        ])
    }

    pub fn start_with(extra: &[&str]) -> Option<Daemon> {
        Self::start_custom(&[], None, extra)
    }

    /// A daemon run through `wrapper` (e.g. `prlimit --nofile=…`, which then execs it) serving
    /// `socket` (default: `api.sock` in its private root).
    pub fn start_custom(
        wrapper: &[&str],
        socket: Option<PathBuf>,
        extra: &[&str],
    ) -> Option<Daemon> {
        Self::launch(wrapper, socket, extra, false)
    }

    /// A daemon on beluga's default network (bridge `beluga0`, no list in its conf dir) with a
    /// pod CIDR of its own, `10.250.<index>.0/24`. One test at a time may use it: the bridge's
    /// name is fixed.
    pub fn start_on_default_network(extra: &[&str]) -> Option<Daemon> {
        Self::launch(&[], None, extra, true)
    }

    fn launch(
        wrapper: &[&str],
        socket: Option<PathBuf>,
        extra: &[&str],
        default_network: bool,
    ) -> Option<Daemon> {
        if !is_root() {
            eprintln!("skipped: needs root (namespaces, mounts, an OCI runtime)");
            return None;
        }
        let root = tempfile::Builder::new()
            .prefix("beluga-test-")
            .tempdir()
            .expect("tempdir");
        let socket = socket.unwrap_or_else(|| root.path().join("api.sock"));
        let log = root.path().join("daemon.log");
        let logf = std::fs::File::create(&log).expect("daemon log");
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let conf_dir = root.path().join("net.d");
        let mut net = net::TestNet::allocate(&conf_dir);
        if default_network {
            net.use_default_network(&conf_dir);
        }
        cmd.arg("daemon")
            .arg("--root")
            .arg(root.path().join("state"))
            .arg("--socket")
            .arg(&socket)
            .arg("--cni-conf-dir")
            .arg(&conf_dir)
            .args(net.daemon_args())
            .args(extra);
        if !extra.contains(&"--runtime") {
            matrix_runtime(&mut cmd);
        }
        let child = cmd
            .env("BELUGA_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("starting the daemon");
        let d = Daemon {
            root,
            socket,
            child: Some(child),
            log,
            net: Some(net),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&d.socket).is_err() {
            assert!(
                Instant::now() < deadline,
                "daemon did not come up:\n{}",
                d.daemon_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d.ok(&[
            "image",
            "import",
            rootfs().to_str().unwrap(),
            "--tag",
            IMAGE,
        ]);
        Some(d)
    }

    /// How many pod directories the daemon still has.
    fn pods_on_disk(&self) -> usize {
        std::fs::read_dir(self.state_dir().join("pods")).map_or(0, |r| r.count())
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    /// The pod's directory under the daemon's state (`<ns>_<name>_<uid>`).
    pub fn pod_dir(&self, pod: &str) -> PathBuf {
        let prefix = format!("default_{pod}_");
        std::fs::read_dir(self.state_dir().join("pods"))
            .expect("pods dir")
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .unwrap_or_else(|| panic!("no directory for pod {pod}"))
    }

    /// The pid of a pod's shim, from its `shim.pid`.
    pub fn shim_pid(&self, pod: &str) -> u32 {
        pid_in(&self.pod_dir(pod).join(".sandbox/shim.pid"))
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args).env("BELUGA_SOCKET", &self.socket);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running beluga")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "beluga {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn apply_output(&self, yaml: &str) -> Output {
        let mut child = self
            .cmd(&["apply", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apply");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write manifest");
        child.wait_with_output().expect("apply output")
    }

    pub fn apply(&self, yaml: &str) -> String {
        let o = self.apply_output(yaml);
        assert!(
            o.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn pod(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["get", "pod", name, "-o", "json"])).expect("pod json")
    }

    /// Polls the pod until `pred` holds (tests only; the product uses watches).
    pub fn wait_pod(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let o = self.run(&["get", "pod", name, "-o", "json"]);
            if o.status.success() {
                let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
                if pred(&v) {
                    return v;
                }
                if Instant::now() > deadline {
                    panic!("timed out waiting for {what} on pod {name}; last status:\n{}\n--- daemon log tail ---\n{}", serde_json::to_string_pretty(&v["status"]).unwrap_or_default(), tail(&self.daemon_log(), 40));
                }
            } else if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_phase(&self, name: &str, phase: &str, timeout: Duration) -> Value {
        self.wait_pod(name, timeout, &format!("phase {phase}"), |p| {
            p["status"]["phase"] == phase
        })
    }

    /// Waits until every regular container (and sidecar) is running and ready.
    pub fn wait_running(&self, name: &str) -> Value {
        self.wait_pod(name, Duration::from_secs(30), "all containers ready", |p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
    }

    /// The `get pods` row of a pod: [NAME, READY, STATUS, RESTARTS, AGE].
    pub fn row(&self, name: &str) -> Vec<String> {
        let out = self.ok(&["get", "pods", name]);
        out.lines()
            .nth(1)
            .unwrap_or("")
            .split_whitespace()
            .map(String::from)
            .collect()
    }

    pub fn exec(&self, pod: &str, container: &str, cmd: &[&str]) -> Output {
        let mut args = vec!["exec", pod, "-c", container, "--"];
        args.extend_from_slice(cmd);
        self.run(&args)
    }

    /// One field (a JSON pointer, e.g. `/message`) of every event with `reason`, oldest first.
    pub fn event_fields(&self, reason: &str, pointer: &str) -> Vec<String> {
        let ev: Value = serde_json::from_str(&self.ok(&["get", "events", "-o", "json"]))
            .expect("events as JSON");
        ev["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["reason"] == reason)
            .filter_map(|e| e.pointer(pointer).and_then(Value::as_str).map(String::from))
            .collect()
    }

    pub fn logs(&self, pod: &str, container: &str) -> String {
        self.ok(&["logs", pod, "-c", container])
    }

    /// Polls a container's log until `done` holds or `timeout` passes; returns the last read
    /// (tests only; empty while the log cannot be read yet).
    pub fn wait_logs(
        &self,
        pod: &str,
        container: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let t = Instant::now();
        loop {
            let o = self.run(&["logs", pod, "-c", container]);
            let log = if o.status.success() {
                stdout(&o)
            } else {
                String::new()
            };
            if done(&log) || t.elapsed() > timeout {
                return log;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Ids of the runtime's running containers in this daemon's state.
    pub fn running_runtime_containers(&self) -> Vec<String> {
        let out = test_runtime(&self.state_dir().join("runtime"))
            .command()
            .args(["list", "--format", "json"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v.as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["status"] == "running")
            .filter_map(|c| c["id"].as_str().map(String::from))
            .collect()
    }

    /// The daemon's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the daemon process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the daemon as a user does (SIGTERM: what it made ahead is released), killing it
    /// after 10 s.
    pub fn stop_gracefully(&mut self) {
        if let Some(c) = &self.child {
            let pid = c.id();
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if let Some(c) = self.child.as_mut() {
                    if !matches!(c.try_wait(), Ok(None)) {
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.stop();
    }

    pub fn restart(&mut self) {
        self.restart_with(&[
            "--crash-loop-backoff-initial",
            "1s",
            "--crash-loop-backoff-max",
            "4s",
        ]);
    }

    /// The cgroup, under each hierarchy's root, of this daemon's pods (`--cgroup-root`).
    pub fn cgroup_root(&self) -> String {
        self.net
            .as_ref()
            .map(|n| n.cgroup_root())
            .unwrap_or_else(|| "beluga".into())
    }

    /// Kills the daemon (SIGKILL) and starts it again on the same state with `extra` flags.
    pub fn restart_with(&mut self, extra: &[&str]) {
        self.stop();
        let logf = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("daemon log");
        let mut cmd = Command::new(bin());
        cmd.arg("daemon")
            .arg("--root")
            .arg(self.state_dir())
            .arg("--socket")
            .arg(&self.socket)
            .arg("--cni-conf-dir")
            .arg(self.root.path().join("net.d"))
            .args(
                self.net
                    .as_ref()
                    .map(|n| n.daemon_args())
                    .unwrap_or_default(),
            )
            .args(extra);
        matrix_runtime(&mut cmd);
        let child = cmd
            .env("BELUGA_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("restarting the daemon");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(Instant::now() < deadline, "daemon did not come back");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            // Every namespace's: a pod left running would keep its cgroups under the test's
            // cgroup root, which the next test on this network index finds.
            let list = self.run(&["get", "pods", "-A", "-o", "json"]);
            let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap_or_default();
            for p in list["items"].as_array().into_iter().flatten() {
                let (Some(ns), Some(name)) = (
                    p["metadata"]["namespace"].as_str(),
                    p["metadata"]["name"].as_str(),
                ) else {
                    continue;
                };
                let _ = self.run(&[
                    "delete",
                    "pod",
                    name,
                    "-n",
                    ns,
                    "--grace-period=0",
                    "--force",
                ]);
            }
            // A forced delete answers at once: let the teardowns (the network's DEL) finish.
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(20) && self.pods_on_disk() > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.stop_gracefully();
        // The network's leftovers fail the test (TestNet's drop): show the daemon's account.
        if self.net.as_ref().is_some_and(|n| !n.leftovers().is_empty()) {
            eprintln!("--- daemon log tail ---\n{}", tail(&self.daemon_log(), 60));
        }
        // Never leave a mount of ours on the machine, whatever the test did.
        let prefix = self.root.path().to_string_lossy().into_owned();
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<&str> = mi
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
        }
        // A shim or runtime call of ours may still be finishing a forced delete after the daemon
        // was killed, writing under the root while it is removed (CI once kept an empty
        // `state/runtime`): wait for them, then remove the root, again if it changed meanwhile.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) && processes_naming(&prefix) > 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..10 {
            match std::fs::remove_dir_all(self.root.path()) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => break,
            }
        }
    }
}

/// How many processes have `s` in their command line.
fn processes_naming(s: &str) -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()) && n != me)
        })
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(s))
        })
        .count()
}

/// The pid a pid file holds.
pub fn pid_in(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether process `pid` runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

/// Waits up to `limit` for process `pid` to end; whether it did.
pub fn gone_within(pid: u32, limit: Duration) -> bool {
    let t = Instant::now();
    while alive(pid) {
        if t.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `bytes` to the daemon's socket as they are and reads the whole answer.
pub fn raw_http(sock: &Path, bytes: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A condition's (status, reason, message).
pub fn condition(p: &Value, kind: &str) -> (String, String, String) {
    let c = p["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind).cloned())
        .unwrap_or_default();
    let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
    (s("status"), s("reason"), s("message"))
}

pub fn status_of<'a>(p: &'a Value, list: &str, name: &str) -> &'a Value {
    p["status"][list]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Lines `<uptime> <name> <event>` appended to a shared file, as spec §13.0's harness records order.
pub fn order_log(text: &str) -> Vec<(f64, String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((
                f.next()?.parse().ok()?,
                f.next()?.to_string(),
                f.next()?.to_string(),
            ))
        })
        .collect()
}

pub fn index_of(log: &[(f64, String, String)], name: &str, event: &str) -> usize {
    log.iter()
        .position(|(_, n, e)| n == name && e == event)
        .unwrap_or_else(|| panic!("{name} {event} not in {log:?}"))
}

/// The container has been restarted once, runs, and shows the new image.
pub fn restarted_with_image(p: &Value, list: &str, name: &str, image: &str) -> bool {
    let c = status_of(p, list, name);
    c["restartCount"] == 1 && c["image"] == image && c["state"]["running"].is_object()
}

/// Runs a one-container `sleep` pod `name` and returns its container's `containerID`.
pub fn sleeper_container_id(d: &Daemon, name: &str) -> String {
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    let p = d.wait_running(name);
    status_of(&p, "containerStatuses", "c")["containerID"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// The runtime matrix (issue 13): `scripts/test.sh` runs the lifecycle tests again with
/// `BELUGA_TEST_RUNTIME=runc`; a test that names its runtime keeps it.
fn matrix_runtime(cmd: &mut Command) {
    if let Ok(rt) = std::env::var("BELUGA_TEST_RUNTIME") {
        cmd.args(["--runtime", &rt]);
    }
}

/// The runtime the tests' daemons use, with its state in `state_root`.
pub fn test_runtime(state_root: &Path) -> beluga_runtime::oci_runtime::OciRuntime {
    let flag = std::env::var("BELUGA_TEST_RUNTIME").ok();
    beluga_runtime::oci_runtime::OciRuntime::choose(flag.as_deref(), state_root)
        .expect("an OCI runtime")
        .0
}

/// Simulates a machine going down (a reboot, without the restart): the daemon stops, every shim
/// and container of its runtime is killed, the pinned namespaces are unmounted, and what a reboot
/// loses of the pod network (the bridge, the masquerade rules; not host-local's reservations,
/// which are files on disk) is gone.
pub fn machine_crash(d: &mut Daemon) {
    d.stop();
    let state = d.state_dir();
    let runtime_root = state.join("runtime");
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains("beluga-shim ") && cmd.contains(&*state.to_string_lossy()) {
                let pid: i32 = e.file_name().to_string_lossy().parse().unwrap();
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    for e in std::fs::read_dir(&runtime_root)
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = e.file_name().to_string_lossy().into_owned();
        let _ = test_runtime(&runtime_root)
            .command()
            .args(["kill", &id, "KILL"])
            .status();
    }
    std::thread::sleep(Duration::from_millis(300));
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for m in mi
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.contains("/.sandbox/"))
    {
        if m.starts_with(&*state.to_string_lossy()) {
            let _ = rustix::mount::unmount(m, rustix::mount::UnmountFlags::DETACH);
        }
    }
    if let Some(net) = &d.net {
        net.lose_at_reboot();
    }
}

/// A `docker save` archive of the busybox rootfs built by hand (manifest.json, config, one layer
/// tar) whose image config is `config` and whose name is `tag`, in `dir`; returns its path.
pub fn docker_archive(dir: &Path, config: Value, tag: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let layer = dir.join("layer.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(rootfs())
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let diff = format!("sha256:{}", sha256(&std::fs::read(&layer).unwrap()));
    let cfg = serde_json::json!({"architecture": "amd64", "os": "linux", "config": config, "rootfs": {"type": "layers", "diff_ids": [diff]}});
    std::fs::write(dir.join("cfg.json"), serde_json::to_vec(&cfg).unwrap()).unwrap();
    let manifest =
        serde_json::json!([{"Config": "cfg.json", "RepoTags": [tag], "Layers": ["layer.tar"]}]);
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let archive = dir.join("saved.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(dir)
        .arg("-cf")
        .arg(&archive)
        .args(["manifest.json", "cfg.json", "layer.tar"])
        .status()
        .unwrap()
        .success());
    archive
}

pub fn sha256(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// A spare sandbox of the daemon that a pod can take now (issue 13; attached to the network,
/// issue 14), other than those in `not`: its directory, waiting up to 20 s for one.
pub fn ready_spare(d: &Daemon, not: &[PathBuf]) -> PathBuf {
    let spares = d.state_dir().join("spare");
    let t = Instant::now();
    loop {
        let log = d.daemon_log();
        let found = std::fs::read_dir(&spares)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                !not.contains(p)
                    && p.join(".sandbox/shim.sock").exists()
                    && log.contains(&format!("spare sandbox ready spare={}", p.display()))
            });
        if let Some(p) = found {
            return p;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no spare sandbox came up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
