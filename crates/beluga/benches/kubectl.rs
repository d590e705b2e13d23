//! Benchmark (not a test): the real kubectl against beluga's API (issue 17 "Speed"): the wall
//! time of `kubectl get pods` with 100 pods and of `kubectl apply` of one pod, beside
//! kubectl's own floor (`kubectl version --client`: its start, no request), and the server's
//! share per request as kubectl itself times it (`-v=6`: `GET … 200 OK in N milliseconds`).
//! Needs root and the machine's kubectl.
//!
//!   cargo bench -p beluga --bench kubectl [-- RUNS]

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use support::stats::Series;

/// The newest versioned kubectl beside the dispatcher.
fn kubectl() -> Option<PathBuf> {
    let out = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v kubectl)\""])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        .parent()?
        .to_path_buf();
    ["kubectl.1.33", "kubectl.1.32"]
        .iter()
        .map(|b| dir.join(b))
        .find(|p| p.exists())
}

struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn run(&self, args: &[&str]) -> Output {
        let o = Command::new(&self.bin)
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("config"))
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path())
            .output()
            .expect("kubectl");
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    }

    /// The wall time of `args`, `runs` times (after one run that warms kubectl's caches).
    fn timed(&self, runs: usize, args: impl Fn(usize) -> Vec<String>) -> Series {
        let _ = self.run(
            &args(usize::MAX)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        );
        let mut s = Series::default();
        for i in 0..runs {
            let a = args(i);
            let t = Instant::now();
            self.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
            s.push(t.elapsed());
        }
        s
    }

    /// The server's share of each request of `args`, as kubectl's `-v=6` log times them.
    fn server_share(&self, runs: usize, args: &[&str]) -> Series {
        let mut s = Series::default();
        for _ in 0..runs {
            let o = self.run(&[args, &["-v=6"]].concat());
            for line in String::from_utf8_lossy(&o.stderr).lines() {
                if let (Some(ms), true) = (response_ms(line), line.contains("200 OK")) {
                    s.push(Duration::from_millis(ms));
                }
            }
        }
        s
    }
}

/// The milliseconds of a response line of kubectl's `-v=6` log: `… 200 OK in 3 milliseconds`
/// (older klog) or `"Response" … status="200 OK" milliseconds=3` (structured).
fn response_ms(line: &str) -> Option<u64> {
    if let Some(rest) = line.split("milliseconds=").nth(1) {
        return rest.split_whitespace().next()?.parse().ok();
    }
    line.split(" in ")
        .nth(1)?
        .strip_suffix(" milliseconds")?
        .trim()
        .parse()
        .ok()
}

fn pod(name: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{{name: c, image: localhost/busybox:1, command: [sleep, '3600']}}]\n")
}

fn main() {
    let Some(bin) = kubectl() else {
        eprintln!("kubectl: no kubectl on this machine; skipped");
        return;
    };
    let Some(d) = support::start("kubectl", &["--api-listen", "127.0.0.1:0"]) else {
        return;
    };
    let runs = support::count_arg(20);
    let k = Kubectl {
        bin,
        dir: tempfile::tempdir().expect("tempdir"),
    };
    let config = d.beluga(&["kubeconfig"]);
    std::fs::write(k.dir.path().join("config"), &config.stdout).expect("kubeconfig");
    let many: Vec<String> = (0..100).map(|i| pod(&format!("p{i:03}"))).collect();
    d.apply(&many.join("---\n"));
    let ready = d.beluga(&[
        "wait",
        "pods",
        "--all",
        "--for=condition=Ready",
        "--timeout=300s",
    ]);
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let floor = k.timed(runs, |_| vec!["version".into(), "--client".into()]);
    let get = k.timed(runs, |_| vec!["get".into(), "pods".into()]);
    let share = k.server_share(runs, &["get", "pods"]);
    let files = tempfile::tempdir().expect("tempdir");
    let file = |i: usize| -> String {
        let path: &Path = files.path();
        let f = path.join(format!("a{i}.yaml"));
        std::fs::write(&f, pod(&format!("a{i}"))).expect("pod file");
        f.to_string_lossy().into_owned()
    };
    let apply = k.timed(runs, |i| vec!["apply".into(), "-f".into(), file(i)]);
    println!(
        "machine: {} cores; kubectl {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        k.bin.display()
    );
    println!(
        "kubectl version --client (kubectl's own start): {}",
        floor.cell()
    );
    println!("kubectl get pods, 100 pods: {}", get.cell());
    println!(
        "  the server's share per request (kubectl -v=6): {}",
        share.cell()
    );
    println!("kubectl apply -f (one new pod): {}", apply.cell());
    // Pods outlive their daemon (as containers outlive kubelet): they go before it does.
    let gone = d.beluga(&["delete", "pods", "--all", "--grace-period=0", "--force"]);
    assert!(
        gone.status.success(),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
}
