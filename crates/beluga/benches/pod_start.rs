//! Benchmark (not a test): time from the start of `beluga apply` until every container of a pod
//! runs and is ready, and from `beluga delete` until the pod is gone. Needs root.
//!
//!   cargo bench -p beluga --bench pod_start [-- RUNS]
//!
//! Prints median, min, max and p90 over the runs, for 1- and 3-container pods.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn beluga(sock: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_beluga"))
        .args(args)
        .env("BELUGA_SOCKET", sock)
        .output()
        .expect("beluga")
}

fn apply(sock: &str, yaml: &str) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_beluga"))
        .args(["apply", "-f", "-"])
        .env("BELUGA_SOCKET", sock)
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

fn pod(name: &str, n: usize) -> String {
    let mut y = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n");
    for i in 0..n {
        y.push_str(&format!("  - {{name: c{i}, image: localhost/busybox:1, command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]}}\n"));
    }
    y
}

fn stats(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{label:<40} median {:7.1} ms   min {:7.1}   p90 {:7.1}   max {:7.1}   (n={})",
        ms(p(0.5)),
        ms(v[0]),
        ms(p(0.9)),
        ms(v[v.len() - 1]),
        v.len()
    );
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("pod_start: needs root; skipped");
        return;
    }
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let root = tempfile::tempdir().expect("tempdir");
    let sock = root.path().join("api.sock").to_string_lossy().into_owned();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_beluga"))
        .args([
            "daemon",
            "--root",
            &root.path().join("state").to_string_lossy(),
            "--socket",
            &sock,
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let rootfs = root.path().join("rootfs");
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
    assert!(beluga(
        &sock,
        &[
            "image",
            "import",
            &rootfs.to_string_lossy(),
            "--tag",
            "localhost/busybox:1"
        ]
    )
    .status
    .success());
    println!(
        "beluga pod start/teardown, {} runs each, runtime chosen by the daemon",
        runs
    );
    for n in [1usize, 3] {
        let (mut start, mut stop) = (Vec::new(), Vec::new());
        for i in 0..runs {
            let name = format!("bench-{n}-{i}");
            let t = Instant::now();
            apply(&sock, &pod(&name, n));
            let o = beluga(
                &sock,
                &[
                    "wait",
                    &format!("pod/{name}"),
                    "--for=condition=Ready",
                    "--timeout=60s",
                ],
            );
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            start.push(t.elapsed());
            let t = Instant::now();
            assert!(beluga(&sock, &["delete", "pod", &name]).status.success());
            stop.push(t.elapsed());
        }
        stats(&format!("apply → all {n} container(s) ready"), start);
        stats(&format!("delete → gone ({n} container(s), SIGTERM)"), stop);
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
}
