//! Benchmark (not a test): beluga side by side with `podman kube play` and with the OCI runtime
//! alone (the floor), in one run, same machine, same busybox files, both on the runtime beluga
//! chooses (crun wherever it can be made to run: on a hybrid host each in a mount namespace
//! without the cgroup2 mount). Needs root;
//! installs podman from Debian's packages when it is missing.
//!
//!   cargo bench -p beluga --bench compare -- [--runs N] [--density 100,1000]
//!       [--podman-density-max 100] [--no-podman] [--write]
//!
//! (`--density 0` skips the density runs; podman's density runs stop at `--podman-density-max`
//! pods, since removing 500 podman pods alone takes half an hour here.)
//!
//! Measures (issue "Benchmarks side by side with podman kube play"):
//! 1. pod start: start of `apply` / `kube play` → every container running, for init + app +
//!    native sidecar (podman: the sidecar as a regular container) and for 1, 3, 10 containers;
//! 2. restart reaction: a container's exit → its replacement running (first restart);
//! 3. teardown: `delete` / `kube down` of a 3-container pod that exits on SIGTERM → nothing left;
//! 4. density: 100 and 500 one-container pods: total time, memory outside the containers'
//!    processes per pod, idle CPU;
//! 5. the floors: the start sequences with runc and with crun alone (`run --detach` each), and
//!    with the kernel alone (fork, setns, unshare, chroot, exec of the same busybox binary);
//!    for the restart, crun's own `run --detach` of the replacement into existing namespaces.
//!
//! `--write` replaces the results section of `docs/benchmarks.md` and `docs/benchmarks-start.svg`.

#[path = "support/mod.rs"]
mod support;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::floor::{Floor, KernelFloor, Step};
use support::podman::Podman;
use support::stats::{fmt_ms, Group, Series};
use support::{procs, BenchDaemon};

const IMAGE: &str = "localhost/busybox:1";
/// A long-running container that exits at once on SIGTERM.
const SERVE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

struct Opts {
    runs: usize,
    density: Vec<usize>,
    podman_density_max: usize,
    podman: bool,
    write: bool,
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let val = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Opts {
        runs: val("--runs").and_then(|v| v.parse().ok()).unwrap_or(10),
        density: val("--density")
            .map(|v| {
                v.split(',')
                    .filter_map(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .collect()
            })
            .unwrap_or_else(|| vec![100, 1000]),
        podman_density_max: val("--podman-density-max")
            .and_then(|v| v.parse().ok())
            .unwrap_or(100),
        podman: !args.iter().any(|a| a == "--no-podman"),
        write: args.iter().any(|a| a == "--write"),
    }
}

/// A start scenario: the pod for beluga, the pod for podman, the floor's sequence.
struct Scenario {
    title: String,
    containers: usize,
    native_sidecar: bool,
}

impl Scenario {
    fn yaml(&self, name: &str, podman: bool) -> String {
        let ctr = |n: &str, cmd: &str, extra: &str| {
            format!("  - {{name: {n}, image: {IMAGE}, command: [sh, -c, \"{cmd}\"]{extra}}}\n")
        };
        let mut y = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 2\n"
        );
        if self.native_sidecar {
            y.push_str("  initContainers:\n");
            y.push_str(&ctr("init", "true", ""));
            if !podman {
                y.push_str(&ctr("sidecar", SERVE, ", restartPolicy: Always"));
            }
            y.push_str("  containers:\n");
            if podman {
                y.push_str(&ctr("sidecar", SERVE, ""));
            }
            y.push_str(&ctr("app", SERVE, ""));
        } else {
            y.push_str("  containers:\n");
            for i in 0..self.containers {
                y.push_str(&ctr(&format!("c{i}"), SERVE, ""));
            }
        }
        y
    }

    fn floor_steps(&self) -> Vec<Step<'static>> {
        const INIT: &[&str] = &["true"];
        const LONG: &[&str] = &["sh", "-c", SERVE];
        if self.native_sidecar {
            vec![
                Step::RunToCompletion(INIT),
                Step::Start(LONG),
                Step::Start(LONG),
            ]
        } else {
            (0..self.containers).map(|_| Step::Start(LONG)).collect()
        }
    }
}

/// A scenario with its beluga, podman and per-floor-runtime series.
type StartResult = (Scenario, Series, Series, Vec<(String, Series)>);

fn scenarios() -> Vec<Scenario> {
    let mut v = vec![Scenario {
        title: "init + app + native sidecar".into(),
        containers: 3,
        native_sidecar: true,
    }];
    for n in [1, 3, 10] {
        v.push(Scenario {
            title: format!("{n} container{}", if n == 1 { "" } else { "s" }),
            containers: n,
            native_sidecar: false,
        });
    }
    v
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write yaml");
    p
}

fn beluga_start(d: &BenchDaemon, yaml: &str, name: &str) -> Duration {
    let t = Instant::now();
    d.apply(yaml);
    let o = d.beluga(&[
        "wait",
        &format!("pod/{name}"),
        "--for=condition=Ready",
        "--timeout=120s",
    ]);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    took
}

fn beluga_delete(d: &BenchDaemon, name: &str) -> Duration {
    let t = Instant::now();
    let o = d.beluga(&["delete", "pod", name]);
    let took = t.elapsed();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    took
}

/// Nothing of a deleted beluga pod remains: no directory, no mount, no shim.
fn beluga_gone(d: &BenchDaemon, name: &str) {
    let pods = d.root.path().join("state/pods");
    let left: Vec<_> = std::fs::read_dir(&pods)
        .map(|r| {
            r.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("default_{name}_"))
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "pod directory left behind");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    assert!(
        !mounts.contains(&format!("/default_{name}_")),
        "mount left behind"
    );
}

/// A FIFO the bench reads lines from without ever seeing EOF (held open read-write).
struct Fifo(std::fs::File);

fn mkfifo(path: &Path) {
    assert!(std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo")
        .success());
}

impl Fifo {
    fn create(path: &Path) -> Fifo {
        mkfifo(path);
        Fifo(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .expect("fifo"),
        )
    }

    /// Waits for one line (true) or the timeout (false).
    fn line(&mut self, timeout: Duration) -> bool {
        use std::os::fd::AsRawFd;
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        if n <= 0 {
            return false;
        }
        // Lines are short ("up\n") and written whole: one read takes one or more of them.
        let mut buf = [0u8; 64];
        matches!(std::io::Read::read(&mut self.0, &mut buf), Ok(n) if n > 0)
    }
}

/// The restart pod: a container that says "up" through a FIFO, waits for `go`, exits 1.
fn restart_yaml(name: &str, dir: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Always\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, 'echo up > /x/ready; read v < /x/go; exit 1']\n    volumeMounts: [{{name: x, mountPath: /x}}]\n  volumes:\n  - {{name: x, hostPath: {{path: {}, type: Directory}}}}\n",
        dir.display()
    )
}

/// One restart measurement on a pod already created by `create`: (exit → replacement up).
fn restart_once(dir: &Path, create: impl FnOnce()) -> Option<Duration> {
    std::fs::create_dir_all(dir).expect("dir");
    let mut ready = Fifo::create(&dir.join("ready"));
    mkfifo(&dir.join("go"));
    create();
    assert!(
        ready.line(Duration::from_secs(60)),
        "first instance never came up"
    );
    // Blocks until the container opens `go` for reading; the line makes it exit at once.
    let mut go = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("go"))
        .expect("go");
    let t = Instant::now();
    go.write_all(b"x\n").expect("go");
    drop(go);
    ready.line(Duration::from_secs(60)).then(|| t.elapsed())
}

#[derive(Default)]
struct Density {
    n: usize,
    total: Duration,
    runtime_pss_kib: u64,
    baseline_pss_kib: u64,
    container_pss_kib: u64,
    mem_drop_kib: i64,
    idle_cpu: f64,
    runtime_procs: usize,
    /// `get pods` with every pod present (beluga only).
    list: Series,
}

impl Density {
    fn per_pod_kib(&self) -> f64 {
        self.runtime_pss_kib.saturating_sub(self.baseline_pss_kib) as f64 / self.n as f64
    }
    fn system_per_pod_kib(&self) -> f64 {
        (self.mem_drop_kib - self.container_pss_kib as i64) as f64 / self.n as f64
    }
}

fn density_yaml(n: usize, prefix: &str) -> String {
    let mut y = String::new();
    for i in 0..n {
        let _ = write!(
            y,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {prefix}{i}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: c, image: {IMAGE}, command: [sleep, '3600']}}\n"
        );
    }
    y
}

fn measure_density(n: usize, exes: &[&str], start: impl FnOnce() -> Duration) -> Density {
    let (rt0, _) = procs::split(exes);
    let baseline_pss_kib = procs::pss_kib(&rt0);
    let avail0 = procs::mem_available_kib();
    let total = start();
    std::thread::sleep(Duration::from_secs(3));
    let (rt, ctr) = procs::split(exes);
    let d = Density {
        n,
        total,
        runtime_pss_kib: procs::pss_kib(&rt),
        baseline_pss_kib,
        container_pss_kib: procs::pss_kib(&ctr),
        mem_drop_kib: avail0 as i64 - procs::mem_available_kib() as i64,
        idle_cpu: procs::idle_cpu_percent(&rt, 30),
        runtime_procs: rt.len(),
        list: Series::default(),
    };
    println!(
        "  {n} pods: {} total; runtime processes {} ({:.0} KiB PSS per pod), system {:.0} KiB per pod; idle CPU {:.2} %",
        fmt_ms(total.as_secs_f64() * 1000.0),
        d.runtime_procs,
        d.per_pod_kib(),
        d.system_per_pod_kib(),
        d.idle_cpu
    );
    d
}

/// `runs` timed `get pods` (the table, as a user asks for it), each printing every pod.
fn time_get_pods(d: &BenchDaemon, runs: usize) -> Series {
    let mut s = Series::default();
    for _ in 0..runs {
        let t = Instant::now();
        let o = d.beluga(&["get", "pods"]);
        s.push(t.elapsed());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    s
}

fn version(cmd: &str, arg: &str) -> String {
    std::process::Command::new(cmd)
        .arg(arg)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(String::from)
        })
        .unwrap_or_else(|| format!("{cmd}: not found"))
}

#[allow(clippy::too_many_lines)] // the benchmark script, step by step
fn main() {
    let o = opts();
    // beluga on the runtime it chooses here (crun, issue 13); podman on the same one.
    let Some(d) = support::start("compare", &[]) else {
        return;
    };
    let work = tempfile::tempdir().expect("tempdir");
    let rootfs = d.root.path().join("rootfs");
    let podman = if o.podman {
        match Podman::setup(&rootfs) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("podman unavailable: {e}");
                None
            }
        }
    } else {
        None
    };
    let mut floors: Vec<Floor> = Vec::new();
    let mut floor_notes = Vec::new();
    for rt in ["runc", "crun"] {
        let path = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|p| Path::new(p).join(rt))
            .find(|p| p.exists());
        match path.map(|p| Floor::new(&p, &rootfs)) {
            Some(Ok(f)) => floors.push(f),
            Some(Err(e)) => floor_notes.push(e),
            None => floor_notes.push(format!("{rt}: not installed")),
        }
    }
    for n in &floor_notes {
        println!("floor: {n}");
    }
    let mut kernel = KernelFloor::new(&rootfs);
    let runs = o.runs;
    println!("runs per figure: {runs}");

    // 1 + 5. Pod start, and the floor for the same sequence.
    let mut starts: Vec<StartResult> = Vec::new();
    let mut podman_failures: Vec<String> = Vec::new();
    for (k, sc) in scenarios().into_iter().enumerate() {
        let (mut b, mut p) = (Series::default(), Series::default());
        let mut failed: Vec<String> = Vec::new();
        let mut fl: Vec<(String, Series)> = floors
            .iter()
            .map(|f| f.name.clone())
            .chain(["kernel".to_string()])
            .map(|n| (n, Series::default()))
            .collect();
        for i in 0..runs {
            let name = format!("s{k}-{i}");
            b.push(beluga_start(&d, &sc.yaml(&name, false), &name));
            beluga_delete(&d, &name);
            if let Some(pm) = &podman {
                let f = write_file(work.path(), &format!("{name}.yaml"), &sc.yaml(&name, true));
                match pm.play(&f) {
                    Ok(t) => p.push(t),
                    Err(e) => {
                        eprintln!("podman kube play failed ({}): {e}", sc.title);
                        failed.push(e);
                    }
                }
                pm.down(&f);
                let _ = pm.output(&["pod", "rm", "-a", "-f", "-t", "0"]);
            }
            for (f, s) in floors.iter_mut().zip(fl.iter_mut()) {
                s.1.push(f.run(&sc.floor_steps()));
            }
            if let Some((_, s)) = fl.last_mut() {
                s.push(kernel.run(&sc.floor_steps()));
            }
        }
        println!(
            "start, {:<30} beluga {:<28} podman {:<28} {}",
            sc.title,
            b.cell(),
            p.cell(),
            fl.iter()
                .map(|(n, s)| format!("{n} {}", s.cell()))
                .collect::<Vec<_>>()
                .join("  ")
        );
        if let Some(first) = failed.first() {
            podman_failures.push(format!(
                "{}: {} of {runs} runs failed (left out of the figures); the first said: {first}",
                sc.title,
                failed.len()
            ));
        }
        starts.push((sc, b, p, fl));
    }

    // 2. Restart reaction, beside the runtime's own run of a replacement (the runtime beluga
    // chose, which is the last floor when both are there).
    let (mut rb, mut rp, mut rf) = (Series::default(), Series::default(), Series::default());
    let own = floors
        .iter()
        .position(|f| f.name == d.runtime_name())
        .or_else(|| floors.len().checked_sub(1));
    for i in 0..runs {
        let name = format!("r{i}");
        let dir = work.path().join(format!("beluga-{name}"));
        let yaml = restart_yaml(&name, &dir);
        match restart_once(&dir, || d.apply(&yaml)) {
            Some(t) => rb.push(t),
            None => eprintln!("beluga: no restart within 60 s"),
        }
        beluga_delete(&d, &name);
        if let Some(f) = own.map(|i| &mut floors[i]) {
            rf.push(f.run_replacement(&["sh", "-c", SERVE]));
        }
        if let Some(pm) = &podman {
            let dir = work.path().join(format!("podman-{name}"));
            let f = write_file(
                work.path(),
                &format!("{name}.yaml"),
                &restart_yaml(&name, &dir),
            );
            match restart_once(&dir, || {
                pm.play(&f).expect("podman kube play");
            }) {
                Some(t) => rp.push(t),
                None => eprintln!("podman: no restart within 60 s"),
            }
            // The restarted container waits on `go` again: release it so `down` is quick.
            pm.down(&f);
        }
    }
    println!(
        "restart reaction                       beluga {:<28} podman {:<28} runtime's own run {}",
        rb.cell(),
        rp.cell(),
        rf.cell()
    );

    // 3. Teardown of a 3-container pod whose processes exit on SIGTERM.
    let (mut tb, mut tp) = (Series::default(), Series::default());
    let three = Scenario {
        title: String::new(),
        containers: 3,
        native_sidecar: false,
    };
    for i in 0..runs {
        let name = format!("t{i}");
        beluga_start(&d, &three.yaml(&name, false), &name);
        tb.push(beluga_delete(&d, &name));
        beluga_gone(&d, &name);
        if let Some(pm) = &podman {
            let f = write_file(
                work.path(),
                &format!("{name}.yaml"),
                &three.yaml(&name, true),
            );
            pm.play(&f).expect("podman kube play");
            tp.push(pm.down(&f));
            assert_eq!(pm.containers(), 0, "podman left containers behind");
        }
    }
    println!(
        "teardown, 3 containers (SIGTERM)       beluga {:<28} podman {}",
        tb.cell(),
        tp.cell()
    );

    // 4. Density.
    let mut dens: Vec<(Density, Option<Density>)> = Vec::new();
    for &n in &o.density {
        println!("density {n}: beluga");
        let f = write_file(
            work.path(),
            &format!("density-{n}.yaml"),
            &density_yaml(n, "d"),
        );
        let mut b = measure_density(n, &["beluga", "beluga-shim"], || {
            let t = Instant::now();
            let out = d.beluga(&["apply", "-f", &f.to_string_lossy()]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = d.beluga(&[
                "wait",
                "pods",
                "--all",
                "--for=condition=Ready",
                "--timeout=1200s",
            ]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            t.elapsed()
        });
        b.list = time_get_pods(&d, 15);
        println!("  get pods with {n} pods: {}", b.list.cell());
        let out = d.beluga(&["delete", "pods", "--all", "--now"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = podman
            .as_ref()
            .filter(|_| n <= o.podman_density_max)
            .map(|pm| {
                println!("density {n}: podman");
                let r = measure_density(n, &["conmon", "catatonit"], || {
                    pm.play(&f).expect("podman kube play")
                });
                let _ = pm.output(&["pod", "rm", "-a", "-f", "-t", "0"]);
                r
            });
        dens.push((b, p));
    }

    let report = report(
        &o,
        podman.as_ref(),
        &floor_notes,
        &podman_failures,
        &starts,
        &rb,
        &rp,
        &rf,
        &tb,
        &tp,
        &dens,
    );
    println!("\n{report}");
    if o.write {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
        let groups: Vec<Group> = starts
            .iter()
            .map(|(sc, b, p, fl)| {
                let mut series: Vec<(&str, &str, &Series)> = fl
                    .iter()
                    .map(|(n, s)| {
                        (
                            match n.as_str() {
                                "runc" => "floor: runc",
                                "crun" => "floor: crun",
                                _ => "floor: kernel",
                            },
                            if n == "kernel" { "#bbb" } else { "#888" },
                            s,
                        )
                    })
                    .collect();
                series.push(("beluga", "#1f6feb", b));
                if !p.ms.is_empty() {
                    series.push(("podman kube play", "#d1242f", p));
                }
                Group {
                    title: &sc.title,
                    series,
                }
            })
            .collect();
        std::fs::write(
            docs.join("benchmarks-start.svg"),
            support::stats::svg(
                "Pod start: apply / kube play → every container running",
                &groups,
            ),
        )
        .expect("svg");
        let md_path = docs.join("benchmarks.md");
        let md = std::fs::read_to_string(&md_path).unwrap_or_default();
        let (begin, end) = (
            "<!-- results: written by `cargo bench --bench compare -- --write` -->",
            "<!-- end of results -->",
        );
        let new = match (md.find(begin), md.find(end)) {
            (Some(a), Some(b)) if a < b => format!("{}{begin}\n{report}\n{}", &md[..a], &md[b..]),
            _ => format!("{md}\n{begin}\n{report}\n{end}\n"),
        };
        std::fs::write(&md_path, new).expect("benchmarks.md");
        println!("wrote {} and benchmarks-start.svg", md_path.display());
    }
}

fn ratio(a: f64, b: f64) -> String {
    if a.is_nan() || b.is_nan() || b == 0.0 {
        "—".into()
    } else {
        format!("{:.1}×", a / b)
    }
}

#[allow(clippy::too_many_arguments)]
#[allow(clippy::too_many_lines)] // the report, section by section
fn report(
    o: &Opts,
    podman: Option<&Podman>,
    floor_notes: &[String],
    podman_failures: &[String],
    starts: &[StartResult],
    rb: &Series,
    rp: &Series,
    rf: &Series,
    tb: &Series,
    tp: &Series,
    dens: &[(Density, Option<Density>)],
) -> String {
    let mut r = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
        / 1024.0;
    let beluga_version = String::from_utf8_lossy(
        &std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let _ = writeln!(r, "## Results\n");
    let _ = writeln!(
        r,
        "Machine: {} cores ({cpu}), {mem_gib:.0} GiB, kernel {}, cgroups {}. Versions: beluga {beluga_version} (release build), {}, {}, {}, {}. {} runs per figure; cells are median (p10–p90).\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        version("uname", "-r"),
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() && !Path::new("/sys/fs/cgroup/memory").exists() { "v2" } else { "v1 (hybrid)" },
        version("runc", "--version"),
        version("crun", "--version"),
        podman.map(|p| p.version.clone()).unwrap_or_else(|| "podman: not run".into()),
        version("conmon", "--version"),
        o.runs
    );
    for n in floor_notes {
        let _ = writeln!(r, "Floor: {n}\n");
    }
    let floor_names: Vec<&str> = starts
        .first()
        .map(|s| s.3.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    let _ = writeln!(
        r,
        "### Pod start (apply / kube play → every container running)\n"
    );
    let mut head = "| pod | beluga | podman kube play | podman ÷ beluga |".to_string();
    let mut rule = "|---|---|---|---|".to_string();
    for n in &floor_names {
        let _ = write!(head, " floor: {n} | beluga ÷ {n} |");
        rule.push_str("---|---|");
    }
    let _ = writeln!(r, "{head}\n{rule}");
    for (sc, b, p, fl) in starts {
        let _ = write!(
            r,
            "| {} | {} | {} | {} |",
            sc.title,
            b.cell(),
            p.cell(),
            ratio(p.median(), b.median())
        );
        for (_, s) in fl {
            let _ = write!(r, " {} | {} |", s.cell(), ratio(b.median(), s.median()));
        }
        r.push('\n');
    }
    if let Some(p) = podman {
        let _ = writeln!(
            r,
            "\nThe podman column is {}'s. For the init-container pod it waits ≈ 20 s for an init \
             container that exits at once (containers/podman#16343), fixed in podman 4.6: read that \
             row as podman 4.3's, not as podman's today.",
            p.version
        );
    }
    for f in podman_failures {
        let _ = writeln!(r, "\npodman kube play, {f}");
    }
    let _ = writeln!(r, "\n![start-time distributions](benchmarks-start.svg)\n");
    let _ = writeln!(r, "### Restart reaction and teardown\n");
    let _ = writeln!(
        r,
        "| figure | beluga | podman | podman ÷ beluga |\n|---|---|---|---|"
    );
    let _ = writeln!(
        r,
        "| restart: exit → replacement running (first restart) | {} | {} | {} |",
        rb.cell(),
        rp.cell(),
        ratio(rp.median(), rb.median())
    );
    let _ = writeln!(
        r,
        "\nThe runtime's own share of a restart, in the same run: `run --detach` of the replacement \
         container into namespaces made beforehand, {}; beluga's reaction minus it: {}.\n",
        rf.cell(),
        fmt_ms(rb.median() - rf.median())
    );
    let _ = writeln!(
        r,
        "| figure | beluga | podman | podman ÷ beluga |\n|---|---|---|---|"
    );
    let _ = writeln!(
        r,
        "| teardown: delete / kube down, 3 containers exiting on SIGTERM | {} | {} | {} |",
        tb.cell(),
        tp.cell(),
        ratio(tp.median(), tb.median())
    );
    let _ = writeln!(r, "\n### Density (one `sleep` container per pod)\n");
    let _ = writeln!(
        r,
        "| pods | runtime | start all | runtime processes | their PSS per pod | system memory per pod, containers excluded | idle CPU of the runtime (30 s) | `get pods` |\n|---|---|---|---|---|---|---|---|"
    );
    for (b, p) in dens {
        for (name, x) in [("beluga", Some(b)), ("podman", p.as_ref())] {
            let Some(x) = x else { continue };
            let _ = writeln!(
                r,
                "| {} | {name} | {} | {} | {:.0} KiB | {:.0} KiB | {:.2} % | {} |",
                x.n,
                fmt_ms(x.total.as_secs_f64() * 1000.0),
                x.runtime_procs,
                x.per_pod_kib(),
                x.system_per_pod_kib(),
                x.idle_cpu,
                x.list.cell()
            );
        }
    }
    let _ = writeln!(
        r,
        "\nRuntime processes: beluga's daemon and shims; podman's conmon and catatonit (the infra container). \
         PSS splits shared pages between their users and excludes the daemon's memory before the pods existed. \
         System memory: the drop of MemAvailable minus the containers' own PSS, over the pods — it adds what the kernel keeps \
         per pod (namespaces, mounts, cgroups, page tables) and is noisier."
    );
    r
}
