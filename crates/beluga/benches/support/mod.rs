//! What the benchmarks share: a private daemon with the busybox image imported, and the CLI.
#![allow(dead_code)] // each benchmark uses part of this module

pub mod floor;
pub mod podman;
pub mod procs;
pub mod stats;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct BenchDaemon {
    pub root: tempfile::TempDir,
    pub sock: String,
    pub log: PathBuf,
    child: Child,
}

/// Benchmarks need root; None (with a note) otherwise.
pub fn start(name: &str, extra: &[&str]) -> Option<BenchDaemon> {
    if !rustix::process::geteuid().is_root() {
        eprintln!("{name}: needs root; skipped");
        return None;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let sock = root.path().join("api.sock").to_string_lossy().into_owned();
    let log = root.path().join("daemon.log");
    let child = Command::new(env!("CARGO_BIN_EXE_beluga"))
        .args([
            "daemon",
            "--root",
            &root.path().join("state").to_string_lossy(),
            "--socket",
            &sock,
        ])
        .args(extra)
        .env("BELUGA_LOG", "info")
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("daemon");
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let d = BenchDaemon {
        root,
        sock,
        log,
        child,
    };
    let rootfs = d.root.path().join("rootfs");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/busybox-rootfs.sh"
    );
    assert!(Command::new("sh")
        .arg(script)
        .arg(&rootfs)
        .status()
        .expect("rootfs")
        .success());
    assert!(d
        .beluga(&[
            "image",
            "import",
            &rootfs.to_string_lossy(),
            "--tag",
            "localhost/busybox:1"
        ])
        .status
        .success());
    Some(d)
}

/// The first number on the command line (after `--`), or `default`.
pub fn count_arg(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(default)
}

impl BenchDaemon {
    /// The OCI runtime the daemon chose (its first log line names it: `OCI runtime: crun: …`).
    pub fn runtime_name(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .find_map(|l| l.split_once("OCI runtime: "))
            .and_then(|(_, rest)| rest.split(':').next())
            .unwrap_or_default()
            .to_string()
    }

    pub fn beluga(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_beluga"))
            .args(args)
            .env("BELUGA_SOCKET", &self.sock)
            .output()
            .expect("beluga")
    }

    pub fn apply(&self, yaml: &str) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_beluga"))
            .args(["apply", "-f", "-"])
            .env("BELUGA_SOCKET", &self.sock)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("apply");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(yaml.as_bytes())
            .expect("write");
        assert!(c.wait().expect("apply").success());
    }
}

impl Drop for BenchDaemon {
    fn drop(&mut self) {
        // SIGTERM, as a user stops it: what it made ahead (the spare sandbox and its address on
        // the pod network) is given back; SIGKILL after 10 s.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its Services' rules outlive it (as kube-proxy's do).
        let _ = Command::new(env!("CARGO_BIN_EXE_beluga"))
            .args(["daemon", "--cleanup"])
            .status();
        // What the daemon held (its spare sandbox's pinned namespaces, any pod left by a failed
        // run) is unmounted, so that its directory can go.
        beluga_runtime::volumes::unmount_below(self.root.path());
    }
}
