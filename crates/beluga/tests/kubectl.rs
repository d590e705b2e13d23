//! The real kubectl as beluga's client (issue 17; kubectl-api spec §11, numbered as there): the
//! machine's kubectl 1.32 and 1.33 over TLS with the kubeconfig `beluga kubeconfig` prints,
//! a fresh discovery cache per test. Skipped, with a line saying so, where no kubectl is
//! installed.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The versioned kubectl binaries beside the dispatcher (`$KUBECTL` alone when set).
fn kubectls() -> Vec<PathBuf> {
    if let Some(k) = std::env::var_os("KUBECTL") {
        return vec![PathBuf::from(k)];
    }
    let Ok(out) = std::process::Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v kubectl)\""])
        .output()
    else {
        return vec![];
    };
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // Beside the dispatcher, else where scripts/install-kubectl.sh puts them.
    let beside = |dir: &Path| -> Vec<PathBuf> {
        ["kubectl.1.32", "kubectl.1.33"]
            .iter()
            .map(|b| dir.join(b))
            .filter(|p| p.exists())
            .collect()
    };
    let found = path.parent().map(beside).unwrap_or_default();
    if !found.is_empty() {
        return found;
    }
    beside(Path::new("/opt/beluga-kubectl"))
}

/// One kubectl with its own kubeconfig and discovery cache.
struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    /// Each of the machine's kubectls, for `d`; none (the test skips) without kubectl.
    fn all(d: &Daemon) -> Vec<Kubectl> {
        let bins = kubectls();
        // CI installs them (scripts/install-kubectl.sh): there, none is a failure, not a skip.
        assert!(
            !bins.is_empty() || std::env::var_os("CI").is_none(),
            "no kubectl 1.32/1.33 found (scripts/install-kubectl.sh installs them)"
        );
        if bins.is_empty() {
            eprintln!("skipped: no kubectl on this machine");
        }
        let config = d.ok(&["kubeconfig"]);
        bins.into_iter()
            .map(|bin| {
                let dir = tempfile::tempdir().expect("tempdir");
                std::fs::write(dir.path().join("config"), &config).expect("kubeconfig");
                Kubectl { bin, dir }
            })
            .collect()
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// This kubectl with `args`, its own cache and home, and the kubeconfig `config`.
    fn command(&self, config: &Path, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(&self.bin);
        c.args(args);
        self.environment(&mut c, config);
        c
    }

    fn environment(&self, c: &mut std::process::Command, config: &Path) {
        c.env("KUBECONFIG", config)
            .env("KUBECACHEDIR", self.dir.path().join("cache"))
            .env("HOME", self.dir.path());
    }

    fn run_with(&self, config: &Path, args: &[&str]) -> Output {
        self.command(config, args).output().expect("kubectl")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(&self.config(), args)
    }

    /// A command started on a terminal of `cols` × `rows` of its own (a pty: kubectl's `-t`
    /// needs its stdin to be one).
    fn on_terminal(&self, args: &[&str], cols: u16, rows: u16) -> Terminal {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        use std::os::unix::process::CommandExt;
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY;
        let slave =
            rustix::fs::open(name.as_c_str(), flags, rustix::fs::Mode::empty()).expect("pts");
        let terminal = Terminal::new(master);
        terminal.resize(cols, rows);
        let mut c = self.command(&self.config(), args);
        let stdio = || std::process::Stdio::from(slave.try_clone().expect("dup"));
        c.stdin(stdio()).stdout(stdio()).stderr(stdio());
        // SAFETY: between fork and exec only setsid and TIOCSCTTY on stdin (async-signal-safe).
        unsafe {
            c.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(std::os::fd::BorrowedFd::borrow_raw(0))?;
                Ok(())
            });
        }
        let child = c.spawn().expect("kubectl");
        drop(slave);
        drop(c);
        terminal.with(child)
    }

    /// A command given `input` on its stdin.
    fn run_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .command(&self.config(), args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input).expect("stdin");
        }
        child.wait_with_output().expect("kubectl")
    }

    /// A command left running (`get -w`), its stdout read line by line.
    fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_reading(args, false)
    }

    /// A command left running with `key=value` in its environment, stdout and stderr read.
    fn spawn_with_env(&self, args: &[&str], key: &str, value: &str) -> Running {
        self.spawn_reading_env(args, true, Some((key, value)))
    }

    /// A command left running, its stdout and (with `stderr`) its stderr read line by line.
    fn spawn_reading(&self, args: &[&str], stderr: bool) -> Running {
        self.spawn_reading_env(args, stderr, None)
    }

    fn spawn_reading_env(&self, args: &[&str], stderr: bool, env: Option<(&str, &str)>) -> Running {
        let mut c = self.command(&self.config(), args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(if stderr {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .spawn()
            .expect("kubectl");
        let (tx, lines) = std::sync::mpsc::channel();
        let read = |from: Box<dyn std::io::Read + Send>, tx: std::sync::mpsc::Sender<String>| {
            std::thread::spawn(move || {
                use std::io::BufRead;
                for l in std::io::BufReader::new(from).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        return;
                    }
                }
            });
        };
        read(Box::new(child.stdout.take().expect("stdout")), tx.clone());
        if let Some(err) = child.stderr.take() {
            read(Box::new(err), tx);
        }
        Running { child, lines }
    }

    /// Stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{} {args:?}: {}{}",
            self.bin.display(),
            stdout(&o),
            stderr(&o)
        );
        stdout(&o)
    }

    /// A kubeconfig like ours with its user replaced by `user` (a JSON object).
    fn config_with_user(&self, user: serde_json::Value) -> PathBuf {
        let text = std::fs::read_to_string(self.config()).expect("kubeconfig");
        let mut k: serde_json::Value = serde_saphyr::from_str(&text).expect("kubeconfig yaml");
        k["users"][0]["user"] = user;
        let path = self.dir.path().join(format!("config-{}", uuid_like()));
        std::fs::write(&path, serde_json::to_string(&k).expect("json")).expect("write");
        path
    }
}

/// A kubectl left running; killed when dropped.
struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Running {
    /// The lines printed until one satisfies `until` (that one included); panics after 60 s.
    fn lines_until(&self, until: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let done = until(&l);
                    seen.push(l);
                    if done {
                        return seen;
                    }
                }
                Err(_) => panic!("kubectl printed no such line; it printed {seen:?}"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command on a pty of the test's: what it shows is read all along by a thread.
struct Terminal {
    master: std::os::fd::OwnedFd,
    shown: std::sync::mpsc::Receiver<Vec<u8>>,
    seen: std::cell::RefCell<String>,
    child: Option<std::process::Child>,
}

impl Terminal {
    fn new(master: std::os::fd::OwnedFd) -> Terminal {
        use std::io::Read;
        let mut reader = std::fs::File::from(master.try_clone().expect("dup"));
        let (tx, shown) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // The master reads EIO once every holder of the slave is gone.
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Terminal {
            master,
            shown,
            seen: Default::default(),
            child: None,
        }
    }

    fn with(mut self, child: std::process::Child) -> Terminal {
        self.child = Some(child);
        self
    }

    /// A new size: the kernel signals SIGWINCH to the terminal's foreground process (kubectl).
    fn resize(&self, cols: u16, rows: u16) {
        let size = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, size).expect("winsize");
    }

    /// Typed keys.
    fn type_in(&self, keys: &[u8]) {
        rustix::io::write(&self.master, keys).expect("write to the terminal");
    }

    /// Whether the terminal shows `text` within `wait`.
    fn shows(&self, text: &str, wait: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + wait;
        loop {
            if self.seen.borrow().contains(text) {
                return true;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.shown.recv_timeout(left) {
                Ok(b) => self
                    .seen
                    .borrow_mut()
                    .push_str(&String::from_utf8_lossy(&b)),
                Err(_) => return false,
            }
        }
    }

    /// Everything the terminal showed once the command ended.
    fn finish(mut self) -> String {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
        while let Ok(b) = self.shown.recv_timeout(std::time::Duration::from_secs(10)) {
            self.seen
                .borrow_mut()
                .push_str(&String::from_utf8_lossy(&b));
        }
        self.seen.take()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The service-account token of a running pod `reader` (the `default` account of `default`).
fn reader_token(d: &Daemon) -> String {
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: reader}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    d.wait_running("reader");
    stdout(&d.exec(
        "reader",
        "c",
        &["cat", "/var/run/secrets/kubernetes.io/serviceaccount/token"],
    ))
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// AGE cells (`5s`, `2m3s`, `<unknown>` never) as `AGE`, so rows compare.
fn normalize_age(s: &str) -> String {
    s.lines()
        .map(|l| {
            l.split("   ")
                .map(|cell| {
                    let t = cell.trim();
                    let is_age = !t.is_empty()
                        && t.chars().next().is_some_and(|c| c.is_ascii_digit())
                        && t.ends_with(['s', 'm', 'h', 'd'])
                        && t.chars().all(|c| c.is_ascii_digit() || "smhd".contains(c));
                    if is_age {
                        cell.replace(t, "AGE")
                    } else {
                        cell.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join("   ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// §11 #1 and #2: the version the dispatcher decides by (1.33: beluga's types), no skew
// warning; api-resources lists what beluga serves.
#[test]
fn version_and_api_resources() {
    let Some(d) = Daemon::start() else { return };
    for k in Kubectl::all(&d) {
        let v = k.ok(&["version"]);
        assert!(v.contains("Server Version: v1.33.0+beluga."), "{v}");
        let o = k.run(&["version"]);
        assert!(!stderr(&o).contains("WARNING"), "{}", stderr(&o));
        let r = k.ok(&["api-resources"]);
        let pods = r
            .lines()
            .find(|l| l.starts_with("pods "))
            .expect("pods row");
        let cells: Vec<&str> = pods.split_whitespace().collect();
        assert_eq!(cells, ["pods", "po", "v1", "true", "Pod"], "{r}");
        assert!(r.contains("endpointslices"), "{r}");
    }
}

// §11 #3 (create, unchanged), #8, #9, #10, #11, #20, #22: a pod applied, listed, waited
// for, described, logged and deleted by the real kubectl.
#[test]
fn a_pod_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, labels: {{app: web}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: {IMAGE}, command: [sh, -c, 'echo hello; sleep 3600']}}]\n")).unwrap();
    let f = file.to_str().unwrap();
    for k in Kubectl::all(&d) {
        assert_eq!(k.ok(&["apply", "-f", f]), "pod/web created\n");
        assert_eq!(k.ok(&["apply", "-f", f]), "pod/web unchanged\n");
        assert_eq!(
            k.ok(&["wait", "pod/web", "--for=condition=Ready", "--timeout=60s"]),
            "pod/web condition met\n"
        );
        assert_eq!(
            normalize_age(&k.ok(&["get", "pods"])),
            "NAME   READY   STATUS    RESTARTS   AGE\nweb    1/1     Running   0          AGE"
        );
        let ip = d.pod("web")["status"]["podIP"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let wide = k.ok(&["get", "pod", "web", "-o", "wide"]);
        assert!(
            wide.contains(&ip) && wide.contains("NOMINATED NODE"),
            "{wide}"
        );
        let labels = k.ok(&["get", "pods", "-A", "--show-labels"]);
        assert!(labels.starts_with("NAMESPACE   NAME"), "{labels}");
        assert!(
            labels.contains("default     web") && labels.contains("app=web"),
            "{labels}"
        );
        assert_eq!(
            k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]),
            "pod/web\n"
        );
        let none = k.run(&["get", "pods", "-l", "app=none"]);
        assert_eq!(stderr(&none), "No resources found in default namespace.\n");
        assert_eq!(
            k.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]),
            "Running"
        );
        let missing = k.run(&["get", "pod", "nope"]);
        assert_eq!(missing.status.code(), Some(1));
        assert_eq!(
            stderr(&missing),
            "Error from server (NotFound): pods \"nope\" not found\n"
        );
        assert_eq!(k.ok(&["logs", "web"]), "hello\n");
        let describe = k.ok(&["describe", "pod", "web"]);
        assert!(describe.contains("Status:           Running"), "{describe}");
        assert_eq!(k.ok(&["delete", "pod", "web"]), "pod \"web\" deleted\n");
        let gone = k.run(&["get", "pod", "web"]);
        assert_eq!(gone.status.code(), Some(1));
    }
}

// §11 #27, issue 17 item 1: a wrong token is kubectl's "You must be logged in"; the token
// alone and the client certificate alone each are the admin.
#[test]
fn credentials_are_checked() {
    let Some(d) = Daemon::start() else { return };
    for k in Kubectl::all(&d) {
        let text = std::fs::read_to_string(k.config()).unwrap();
        let ours: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        let user = &ours["users"][0]["user"];
        let wrong = k.config_with_user(serde_json::json!({"token": "not-the-token"}));
        let o = k.run_with(&wrong, &["get", "pods"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).ends_with("error: You must be logged in to the server (the server has asked for the client to provide credentials)\n"),
            "{}",
            stderr(&o)
        );
        // (A user with no credentials at all makes kubectl prompt for a password: the
        // apiserver's 401 for it is a unit test of `http::auth`.)
        let token = k.config_with_user(serde_json::json!({"token": user["token"]}));
        assert!(k.run_with(&token, &["get", "ns"]).status.success());
        let cert = k.config_with_user(serde_json::json!({
            "client-certificate-data": user["client-certificate-data"],
            "client-key-data": user["client-key-data"],
        }));
        let o = k.run_with(&cert, &["get", "ns", "default"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}

// Issue 17 item 4 with issue 16 item 5: a pod's service-account token is that account to the
// API: it reads its own namespace's pods, and nothing else.
#[test]
fn a_pods_token_reads_its_own_namespace_only() {
    let Some(d) = Daemon::start() else { return };
    let token = reader_token(&d);
    for k in Kubectl::all(&d) {
        let sa = k.config_with_user(serde_json::json!({"token": token}));
        let own = k.run_with(&sa, &["get", "pods", "-o", "name"]);
        assert_eq!(stdout(&own), "pod/reader\n", "{}", stderr(&own));
        let other = k.run_with(&sa, &["get", "pods", "-n", "kube-system"]);
        assert_eq!(other.status.code(), Some(1));
        assert_eq!(
            stderr(&other),
            "Error from server (Forbidden): pods is forbidden: User \"system:serviceaccount:default:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\"\n"
        );
        let delete = k.run_with(&sa, &["delete", "pod", "reader", "--wait=false"]);
        assert_eq!(delete.status.code(), Some(1), "{}", stdout(&delete));
        assert!(
            stderr(&delete).contains("cannot delete resource"),
            "{}",
            stderr(&delete)
        );
    }
    // A token whose pod is gone is refused.
    d.ok(&["delete", "pod", "reader", "--grace-period=0", "--force"]);
    for k in Kubectl::all(&d) {
        let sa = k.config_with_user(serde_json::json!({"token": token}));
        let o = k.run_with(&sa, &["get", "pods"]);
        assert!(
            stderr(&o).contains("You must be logged in"),
            "{}",
            stderr(&o)
        );
    }
}

// Issue 16 item 5 (spec: kube-api-access and `KUBERNETES_SERVICE_HOST`): kubectl run inside a
// pod finds the API as in a cluster — in-cluster configuration from the variables and the
// mounted token and CA, through the `kubernetes` Service's cluster IP — and is that pod's
// ServiceAccount there.
#[test]
fn kubectl_inside_a_pod_reaches_the_api_through_the_kubernetes_service() {
    let Some(d) = Daemon::start() else { return };
    let Some(kubectl) = kubectls().pop() else {
        eprintln!("skipped: no kubectl on this machine");
        return;
    };
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: inside}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sleep, '3600']\n    env: [{{name: HOME, value: /tmp}}]\n    volumeMounts: [{{name: kubectl, mountPath: /kubectl, readOnly: true}}]\n  volumes: [{{name: kubectl, hostPath: {{path: '{}', type: File}}}}]\n",
        kubectl.display()
    ));
    d.wait_running("inside");
    let env = stdout(&d.exec("inside", "c", &["env"]));
    let svc: serde_json::Value =
        serde_json::from_str(&d.ok(&["get", "service", "kubernetes", "-o", "json"])).expect("json");
    let service_ip = svc["spec"]["clusterIP"].as_str().expect("clusterIP");
    assert!(
        env.contains(&format!("KUBERNETES_SERVICE_HOST={service_ip}\n"))
            && env.contains("KUBERNETES_SERVICE_PORT=443\n"),
        "{env}"
    );
    let own = d.exec("inside", "c", &["/kubectl", "get", "pods", "-o", "name"]);
    assert_eq!(stdout(&own), "pod/inside\n", "{}", stderr(&own));
    let other = d.exec(
        "inside",
        "c",
        &["/kubectl", "get", "pods", "-n", "kube-system"],
    );
    assert!(
        stderr(&other).contains("User \"system:serviceaccount:default:default\" cannot list resource \"pods\" in API group \"\" in the namespace \"kube-system\""),
        "{}",
        stderr(&other)
    );
}

// §11 #12 (spec §3.5): `get pods -w` lists, then watches from the list's resourceVersion:
// the current row once, then one row per change — nothing replayed, the deletion last; with
// `--output-watch-events` each row says its event. `get pod web -w` watches the one pod.
#[test]
fn get_pods_watch_prints_each_change_once() {
    let Some(d) = Daemon::start() else { return };
    let pod = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, labels: {{app: web}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: {IMAGE}, command: [sleep, '3600']}}]\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    std::fs::write(&file, &pod).unwrap();
    for k in Kubectl::all(&d) {
        k.ok(&["apply", "-f", file.to_str().unwrap()]);
        k.ok(&["wait", "pod/web", "--for=condition=Ready", "--timeout=60s"]);
        let events = k.spawn(&["get", "pods", "-w", "--output-watch-events"]);
        let one = k.spawn(&["get", "pod", "web", "-w"]);
        let first = events.lines_until(|l| l.starts_with("ADDED"));
        assert_eq!(
            normalize_age(&first.join("\n")),
            "EVENT      NAME   READY   STATUS    RESTARTS   AGE\nADDED      web    1/1     Running   0          AGE"
        );
        let head = one.lines_until(|l| l.starts_with("web"));
        assert_eq!(head.len(), 2, "{head:?}");
        k.ok(&["delete", "pod", "web"]);
        let rest = events.lines_until(|l| l.starts_with("DELETED"));
        assert!(
            rest.iter()
                .all(|l| l.starts_with("MODIFIED") || l.starts_with("DELETED")),
            "{rest:?}"
        );
        assert!(rest.iter().any(|l| l.contains("Terminating")), "{rest:?}");
        assert_eq!(rest.iter().filter(|l| l.starts_with("DELETED")).count(), 1);
        // The one pod's watch printed the same changes, each as a row.
        // (Its AGE may have ticked on in between.)
        let gone = rest
            .last()
            .map(|l| normalize_age(l.trim_start_matches("DELETED").trim_start()));
        let mine = one.lines_until(|l| Some(normalize_age(l)) == gone);
        let changes: Vec<String> = rest
            .iter()
            .map(|l| normalize_age(l[11..].trim_start()))
            .collect();
        let mine: Vec<String> = mine.iter().map(|l| normalize_age(l)).collect();
        assert_eq!(mine, changes);
    }
}

// kubectl-api §3.5 for the kept kinds: `get configmaps -w` prints the current rows once, then
// each change (a label, the deletion) once; a watch of one by name; `get namespaces -w` sees a
// namespace made and its deletion go from Terminating to gone, which `delete namespace` waits for.
#[test]
fn kept_kinds_watch_too() {
    let Some(d) = Daemon::start() else { return };
    for k in Kubectl::all(&d) {
        k.ok(&["create", "configmap", "w", "--from-literal=a=1"]);
        let events = k.spawn(&["get", "configmaps", "-w", "--output-watch-events"]);
        let one = k.spawn(&["get", "configmap", "w", "-w"]);
        let first = events.lines_until(|l| l.starts_with("ADDED") && l.contains(" w "));
        assert!(first[0].starts_with("EVENT "), "{first:?}");
        let head = one.lines_until(|l| l.starts_with("w "));
        assert_eq!(head.len(), 2, "{head:?}");
        k.ok(&["label", "configmap", "w", "x=y"]);
        let changed = events.lines_until(|l| l.starts_with("MODIFIED"));
        assert!(changed.last().unwrap().contains(" w "), "{changed:?}");
        k.ok(&["delete", "configmap", "w"]);
        let gone = events.lines_until(|l| l.starts_with("DELETED"));
        assert_eq!(gone.len(), 1, "one change, one line: {gone:?}");
        assert_eq!(one.lines_until(|l| l.starts_with("w ")).len(), 1);
        let ns = k.spawn(&["get", "namespaces", "-w", "--output-watch-events"]);
        k.ok(&["create", "namespace", "watched"]);
        let made = ns.lines_until(|l| l.starts_with("ADDED") && l.contains("watched"));
        assert!(made.last().unwrap().contains("Active"), "{made:?}");
        k.ok(&[
            "create",
            "configmap",
            "inside",
            "-n",
            "watched",
            "--from-literal=a=1",
        ]);
        k.ok(&["delete", "namespace", "watched"]);
        assert!(!k.run(&["get", "namespace", "watched"]).status.success());
        let rest = ns.lines_until(|l| l.starts_with("DELETED") && l.contains("watched"));
        assert!(rest.iter().any(|l| l.contains("Terminating")), "{rest:?}");
    }
}

// §11 #3, #6 (spec §3.8): `apply` of a change is a strategic merge patch (`configured`);
// `label` and `annotate` send merge patches, `patch --type=json` a JSON patch, `set image` a
// strategic one; a change the pod's update rules forbid is refused in the apiserver's words;
#[test]
fn patches_from_apply_label_annotate_and_patch() {
    let Some(d) = Daemon::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    let pod = |image: &str, extra: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, labels: {{app: web}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: '{image}', command: [sleep, '3600']{extra}}}]\n")
    };
    let f = file.to_str().unwrap();
    let jsonpath = |k: &Kubectl, path: &str| {
        k.ok(&["get", "pod", "web", "-o", &format!("jsonpath={{{path}}}")])
    };
    for k in Kubectl::all(&d) {
        std::fs::write(&file, pod(IMAGE, "")).unwrap();
        assert_eq!(k.ok(&["apply", "-f", f]), "pod/web created\n");
        d.wait_running("web");
        // The same files as another image: a change the worker restarts the container for.
        let other = "localhost/busybox:2";
        d.ok(&[
            "image",
            "import",
            rootfs().to_str().unwrap(),
            "--tag",
            other,
        ]);
        std::fs::write(&file, pod(other, "")).unwrap();
        assert_eq!(k.ok(&["apply", "-f", f]), "pod/web configured\n");
        assert_eq!(jsonpath(&k, ".spec.containers[0].image"), other);
        let last = jsonpath(
            &k,
            ".metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration",
        );
        assert!(last.contains(other), "{last}");
        assert_eq!(k.ok(&["apply", "-f", f]), "pod/web unchanged\n");
        assert_eq!(
            k.ok(&["label", "pod", "web", "tier=front"]),
            "pod/web labeled\n"
        );
        assert_eq!(jsonpath(&k, ".metadata.labels.tier"), "front");
        assert_eq!(
            k.ok(&["label", "pod", "web", "tier-"]),
            "pod/web unlabeled\n"
        );
        assert_eq!(jsonpath(&k, ".metadata.labels"), "{\"app\":\"web\"}");
        assert_eq!(
            k.ok(&["annotate", "pod", "web", "note=hi"]),
            "pod/web annotated\n"
        );
        assert_eq!(jsonpath(&k, ".metadata.annotations.note"), "hi");
        let json_patch = format!(
            "[{{\"op\":\"replace\",\"path\":\"/spec/containers/0/image\",\"value\":\"{IMAGE}\"}}]"
        );
        assert_eq!(
            k.ok(&["patch", "pod", "web", "--type=json", "-p", &json_patch]),
            "pod/web patched\n"
        );
        assert_eq!(jsonpath(&k, ".spec.containers[0].image"), IMAGE);
        assert_eq!(
            k.ok(&["set", "image", "pod/web", &format!("web={other}")]),
            "pod/web image updated\n"
        );
        assert_eq!(jsonpath(&k, ".spec.containers[0].image"), other);
        // §11 #6: a port added is not an update a pod takes.
        std::fs::write(&file, pod(other, ", ports: [{containerPort: 80}]")).unwrap();
        let o = k.run(&["apply", "-f", f]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains("The Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than"),
            "{}",
            stderr(&o)
        );
        // An unknown field in a patch: kubectl patch sends no fieldValidation, so the
        // apiserver's default (Warn) drops it with a warning.
        let o = k.run(&["patch", "pod", "web", "-p", "{\"spec\":{\"bogus\":1}}"]);
        assert_eq!(
            (stdout(&o).as_str(), stderr(&o).as_str()),
            (
                "pod/web patched (no change)\n",
                "Warning: unknown field \"spec.bogus\"\n"
            )
        );
        k.ok(&["delete", "pod", "web"]);
    }
}

// Spec §3.8 for the other kinds: ConfigMaps and Services patch the same way (a Service's ports
// merge by port).
#[test]
fn config_maps_and_services_patch_too() {
    let Some(d) = Daemon::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    for k in Kubectl::all(&d) {
        let cfg = dir.path().join("cfg.yaml");
        std::fs::write(&cfg, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: '1'}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {ports: [{port: 80, targetPort: 8080}]}\n").unwrap();
        k.ok(&["apply", "-f", cfg.to_str().unwrap()]);
        k.ok(&[
            "patch",
            "configmap",
            "cfg",
            "-p",
            "{\"data\":{\"b\":\"2\"}}",
        ]);
        assert_eq!(
            k.ok(&["get", "configmap", "cfg", "-o", "jsonpath={.data}"]),
            "{\"a\":\"1\",\"b\":\"2\"}"
        );
        k.ok(&[
            "patch",
            "service",
            "svc",
            "-p",
            "{\"spec\":{\"ports\":[{\"port\":80,\"targetPort\":9090}]}}",
        ]);
        assert_eq!(
            k.ok(&[
                "get",
                "service",
                "svc",
                "-o",
                "jsonpath={.spec.ports[0].targetPort}"
            ]),
            "9090"
        );
        assert_eq!(
            k.ok(&["label", "service", "svc", "x=y"]),
            "service/svc labeled\n"
        );
        k.ok(&["delete", "configmap", "cfg"]);
        k.ok(&["delete", "service", "svc"]);
    }
}

// §11 #7 (spec §3.9): `apply --server-side` creates, changes and prunes what its manager
// dropped; a client-side applied pod moves to server-side apply with nothing lost.
#[test]
fn server_side_apply() {
    let Some(d) = Daemon::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    let f = file.to_str().unwrap();
    let pod = |name: &str, labels: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{{labels}}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: {IMAGE}, command: [sleep, '3600']}}]\n")
    };
    for k in Kubectl::all(&d) {
        let labels = |name: &str| k.ok(&["get", "pod", name, "-o", "jsonpath={.metadata.labels}"]);
        std::fs::write(&file, pod("ssa", "app: web, tier: x")).unwrap();
        assert_eq!(
            k.ok(&["apply", "--server-side", "-f", f]),
            "pod/ssa serverside-applied\n"
        );
        assert_eq!(labels("ssa"), "{\"app\":\"web\",\"tier\":\"x\"}");
        let managers = k.ok(&[
            "get",
            "pod",
            "ssa",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ]);
        assert_eq!(managers, "kubectl");
        std::fs::write(&file, pod("ssa", "app: web")).unwrap();
        assert_eq!(
            k.ok(&["apply", "--server-side", "-f", f]),
            "pod/ssa serverside-applied\n"
        );
        assert_eq!(labels("ssa"), "{\"app\":\"web\"}");
        // A label someone else set stays when the manager never applied it.
        k.ok(&["label", "pod", "ssa", "extra=1"]);
        assert_eq!(
            k.ok(&["apply", "--server-side", "-f", f]),
            "pod/ssa serverside-applied\n"
        );
        assert_eq!(labels("ssa"), "{\"app\":\"web\",\"extra\":\"1\"}");
        // Client-side apply first, then server-side.
        std::fs::write(&file, pod("csa", "app: web")).unwrap();
        assert_eq!(k.ok(&["apply", "-f", f]), "pod/csa created\n");
        assert_eq!(
            k.ok(&["apply", "--server-side", "-f", f]),
            "pod/csa serverside-applied\n"
        );
        assert_eq!(labels("csa"), "{\"app\":\"web\"}");
        let image = k.ok(&[
            "get",
            "pod",
            "csa",
            "-o",
            "jsonpath={.spec.containers[0].image}",
        ]);
        assert_eq!(image, IMAGE);
        // A Service and a ConfigMap the same way.
        let svc = dir.path().join("svc.yaml");
        std::fs::write(&svc, "apiVersion: v1\nkind: Service\nmetadata: {name: ssa}\nspec: {ports: [{port: 80}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: '1', b: '2'}\n").unwrap();
        let s = svc.to_str().unwrap();
        assert_eq!(
            k.ok(&["apply", "--server-side", "-f", s]),
            "service/ssa serverside-applied\nconfigmap/ssa serverside-applied\n"
        );
        std::fs::write(&svc, "apiVersion: v1\nkind: Service\nmetadata: {name: ssa}\nspec: {ports: [{port: 80, targetPort: 8080}]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {a: '1'}\n").unwrap();
        k.ok(&["apply", "--server-side", "-f", s]);
        assert_eq!(
            k.ok(&[
                "get",
                "service",
                "ssa",
                "-o",
                "jsonpath={.spec.ports[0].targetPort}"
            ]),
            "8080"
        );
        assert_eq!(
            k.ok(&["get", "configmap", "ssa", "-o", "jsonpath={.data}"]),
            "{\"a\":\"1\"}"
        );
        k.ok(&["delete", "-f", s]);
        k.ok(&["delete", "pod", "ssa", "csa"]);
    }
}

// §11 #19 (spec §4.4): `kubectl port-forward` over the SPDY session in its WebSocket (and, with
// the WebSocket switched off, over SPDY itself): bytes both ways to a server that listens on the
// pod's own loopback only, two connections in turn, and a refused dial in kubelet's words.
#[test]
fn port_forward_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: {IMAGE}, command: [sh, -c, 'mkdir -p /www && echo hello-from-the-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www']}}]\n"));
    d.wait_running("web");
    for k in Kubectl::all(&d) {
        for websockets in ["true", "false"] {
            let pf = k.spawn_with_env(
                &["port-forward", "pod/web", ":8080", ":8081"],
                "KUBECTL_PORT_FORWARD_WEBSOCKETS",
                websockets,
            );
            let lines = pf.lines_until(|l| l.contains("-> 8081"));
            let local = |remote: u16| -> u16 {
                lines
                    .iter()
                    .find_map(|l| {
                        let rest = l.strip_prefix("Forwarding from 127.0.0.1:")?;
                        let (local, to) = rest.split_once(" -> ")?;
                        (to == remote.to_string()).then(|| local.parse().ok())?
                    })
                    .unwrap_or_else(|| panic!("{lines:?}"))
            };
            for _ in 0..2 {
                let page = http_get(local(8080));
                assert!(
                    page.starts_with("HTTP/1.") && page.contains("hello-from-the-pod"),
                    "{page}"
                );
            }
            // Nothing listens on 8081: kubectl says why, from the error stream.
            let _ = std::net::TcpStream::connect(("127.0.0.1", local(8081)))
                .map(|mut c| std::io::Read::read(&mut c, &mut [0u8; 16]));
            let said = pf.lines_until(|l| l.contains("an error occurred forwarding"));
            let said = said.last().unwrap();
            assert!(
                said.contains(&format!(
                    "an error occurred forwarding {} -> 8081: error forwarding port 8081 to pod ",
                    local(8081)
                )),
                "{said}"
            );
            assert!(said.contains("connect: connection refused"), "{said}");
        }
    }
    // Both ways in were taken (the daemon says which, at debug level).
    let log = d.daemon_log();
    assert!(
        log.contains("port-forward: SPDY in a WebSocket pod="),
        "{log}"
    );
    assert!(log.contains("port-forward: SPDY pod="), "{log}");
}

/// `GET /` on the loopback's `port`: the whole answer.
fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    c.write_all(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer
}

// §11 #15, #17, #18 (spec §4.2, §4.3): `kubectl exec` over WebSocket v5 — output, exit codes,
// stdin to its end; errors before the upgrade in the apiserver's words; `kubectl cp` both ways.
#[test]
fn exec_and_cp_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    d.wait_running("web");
    let dir = tempfile::tempdir().unwrap();
    for k in Kubectl::all(&d) {
        assert_eq!(k.ok(&["exec", "web", "--", "echo", "hi"]), "hi\n");
        let o = k.run(&[
            "exec",
            "web",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ]);
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(stdout(&o), "out\n");
        assert_eq!(stderr(&o), "err\ncommand terminated with exit code 3\n");
        let cat = k.run_stdin(&["exec", "-i", "web", "--", "cat"], b"a\nb\n");
        assert_eq!(stdout(&cat), "a\nb\n", "{}", stderr(&cat));
        let eof = k.run_stdin(
            &[
                "exec",
                "-i",
                "web",
                "--",
                "sh",
                "-c",
                "cat >/dev/null; echo eof",
            ],
            b"x",
        );
        assert_eq!(stdout(&eof), "eof\n", "{}", stderr(&eof));
        let missing = k.run(&["exec", "web", "-c", "nope", "--", "true"]);
        assert_eq!(missing.status.code(), Some(1));
        assert!(
            stderr(&missing).contains("Error from server (BadRequest)"),
            "{}",
            stderr(&missing)
        );
        // §11 #16: `-it` under a terminal of 100 × 30: the size reaches the pty (resize
        // messages), and nothing is said of unknown streams.
        // The size is read after the first keypress: crun's exec child starts the command as
        // soon as it made the pty, while crun's parent is still sizing it, so a command's very
        // first look at its terminal may find 0 × 0 (kubelet on crun or runc has the same race).
        let t = k.on_terminal(
            &[
                "exec",
                "-it",
                "web",
                "--",
                "sh",
                "-c",
                "while read x; do stty size; done",
            ],
            100,
            30,
        );
        let shows_after_enter = |size: &str| {
            (0..50).any(|_| {
                t.type_in(b"\r");
                t.shows(size, std::time::Duration::from_millis(200))
            })
        };
        let sized = shows_after_enter("30 100");
        // A resize while it runs reaches the container's terminal (kubectl sends it at SIGWINCH).
        t.resize(120, 40);
        let resized = sized && shows_after_enter("40 120");
        t.type_in(b"\x04");
        let shown = t.finish();
        assert!(sized && resized, "{shown}");
        assert!(!shown.contains("Unknown stream"), "{shown}");
        // cp: a file in, and back out.
        let file = dir.path().join("f.txt");
        std::fs::write(&file, "some bytes\n").unwrap();
        k.ok(&["cp", file.to_str().unwrap(), "web:/tmp/f.txt"]);
        assert_eq!(
            k.ok(&["exec", "web", "--", "cat", "/tmp/f.txt"]),
            "some bytes\n"
        );
        let back = dir.path().join("back.txt");
        k.ok(&["cp", "web:/tmp/f.txt", back.to_str().unwrap()]);
        assert_eq!(std::fs::read_to_string(&back).unwrap(), "some bytes\n");
    }
}

// §11 #8, #9 (kubectl-api §3.6, §3.8): `--dry-run=server` and `kubectl diff` send
// `dryRun=All`: the answer is the object as it would be, and nothing changes — no pod made,
// labelled or deleted, no ConfigMap or Service (nor its cluster IP) kept.
#[test]
fn server_dry_runs_and_diff_change_nothing() {
    let Some(d) = Daemon::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let pod = |name: &str, label: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, labels: {{app: {label}}}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n")
    };
    let file = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let web = file("web.yaml", &pod("web", "one"));
    let web2 = file("web2.yaml", &pod("web", "two"));
    let dry = file("dry.yaml", &pod("dry", "one"));
    for k in Kubectl::all(&d) {
        k.ok(&["apply", "-f", &web]);
        assert_eq!(
            k.ok(&["apply", "--dry-run=server", "-f", &dry]),
            "pod/dry created (server dry run)\n"
        );
        let missing = k.run(&["get", "pod", "dry"]);
        assert_eq!(
            stderr(&missing),
            "Error from server (NotFound): pods \"dry\" not found\n"
        );
        assert_eq!(
            k.ok(&["label", "pod", "web", "extra=yes", "--dry-run=server"]),
            "pod/web labeled (server dry run)\n"
        );
        assert_eq!(
            k.ok(&[
                "apply",
                "--dry-run=server",
                "-f",
                &web2,
                "-o",
                "jsonpath={.metadata.labels.app}"
            ]),
            "two"
        );
        assert_eq!(
            k.ok(&["get", "pod", "web", "-o", "jsonpath={.metadata.labels}"]),
            "{\"app\":\"one\"}"
        );
        // diff: nothing to show (exit 0), then the label's change (exit 1).
        let same = k.run(&["diff", "-f", &web]);
        assert_eq!(
            same.status.code(),
            Some(0),
            "{}{}",
            stdout(&same),
            stderr(&same)
        );
        let changed = k.run(&["diff", "-f", &web2]);
        assert_eq!(changed.status.code(), Some(1), "{}", stderr(&changed));
        let text = stdout(&changed);
        assert!(
            text.contains("-    app: one") && text.contains("+    app: two"),
            "{text}"
        );
        assert_eq!(
            k.ok(&["delete", "pod", "web", "--dry-run=server"]),
            "pod \"web\" deleted (server dry run)\n"
        );
        assert_eq!(
            k.ok(&[
                "get",
                "pod",
                "web",
                "-o",
                "jsonpath={.metadata.deletionTimestamp}"
            ]),
            ""
        );
        kept_objects_dry_run(&k);
        k.ok(&["delete", "pod", "web"]);
    }
}

/// ConfigMaps and Services under `--dry-run=server`: answered, not kept (nor a cluster IP).
fn kept_objects_dry_run(k: &Kubectl) {
    assert_eq!(
        k.ok(&[
            "create",
            "configmap",
            "c",
            "--from-literal=a=1",
            "--dry-run=server"
        ]),
        "configmap/c created (server dry run)\n"
    );
    assert!(!k.run(&["get", "configmap", "c"]).status.success());
    k.ok(&["create", "configmap", "kept", "--from-literal=a=1"]);
    assert_eq!(
        k.ok(&["delete", "configmap", "kept", "--dry-run=server"]),
        "configmap \"kept\" deleted (server dry run)\n"
    );
    k.ok(&["delete", "configmap", "kept"]);
    let ip = k.ok(&[
        "create",
        "service",
        "clusterip",
        "s",
        "--tcp=80:80",
        "--dry-run=server",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    assert!(ip.parse::<std::net::Ipv4Addr>().is_ok(), "{ip}");
    assert!(!k.run(&["get", "service", "s"]).status.success());
}

// kubectl-api §3.10: a PUT carrying a resourceVersion other than the stored one is a 409
// Conflict (kubectl replace of a stale copy), one without it replaces; a patch applies to the
// latest object unless it names a version itself (`--resource-version`).
#[test]
fn stale_writes_conflict() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    d.wait_running("web");
    let dir = tempfile::tempdir().unwrap();
    for k in Kubectl::all(&d) {
        for (kind, name) in [("pod", "web"), ("configmap", "cm")] {
            if kind == "configmap" {
                k.ok(&["create", "configmap", "cm", "--from-literal=a=1"]);
            }
            let copy = dir.path().join(format!("{kind}.json"));
            std::fs::write(&copy, k.ok(&["get", kind, name, "-o", "json"])).unwrap();
            let copy = copy.to_str().unwrap();
            let version = k.ok(&[
                "get",
                kind,
                name,
                "-o",
                "jsonpath={.metadata.resourceVersion}",
            ]);
            k.ok(&["label", kind, name, "changed=yes"]);
            let stale = k.run(&["replace", "-f", copy]);
            assert_eq!(stale.status.code(), Some(1));
            assert_eq!(
                stderr(&stale),
                format!("Error from server (Conflict): error when replacing \"{copy}\": Operation cannot be fulfilled on {kind}s \"{name}\": the object has been modified; please apply your changes to the latest version and try again\n")
            );
            let pinned = k.run(&[
                "annotate",
                kind,
                name,
                "a=b",
                "--resource-version",
                &version,
            ]);
            assert!(
                stderr(&pinned).contains("(Conflict)"),
                "{}",
                stderr(&pinned)
            );
            k.ok(&["label", kind, name, "changed-"]);
        }
        k.ok(&["delete", "configmap", "cm"]);
    }
}

// §11 #22 (spec §2.4): `kubectl explain` reads the OpenAPI v3 schemas generated from beluga's
// types: a kind, a field with its own description, a nested list, another kind.
#[test]
fn explain_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    for k in Kubectl::all(&d) {
        let pod = k.ok(&["explain", "pod"]);
        assert!(
            pod.starts_with("KIND:       Pod\nVERSION:    v1\n"),
            "{pod}"
        );
        assert!(
            pod.contains("Pod is a collection of containers that can run on a host."),
            "{pod}"
        );
        assert!(pod.contains("  spec\t<PodSpec>"), "{pod}");
        let spec = k.ok(&["explain", "pod.spec"]);
        assert!(spec.contains("FIELD: spec <PodSpec>"), "{spec}");
        assert!(
            spec.contains("Specification of the desired behavior of the pod."),
            "{spec}"
        );
        let containers = k.ok(&["explain", "pod.spec.containers"]);
        assert!(
            containers.contains("FIELD: containers <[]Container>"),
            "{containers}"
        );
        assert!(containers.contains("  image\t<string>"), "{containers}");
        let data = k.ok(&["explain", "configmap.data"]);
        assert!(data.contains("FIELD: data <map[string]string>"), "{data}");
        let nope = k.run(&["explain", "pod.nope"]);
        assert!(!nope.status.success());
        assert!(
            stderr(&nope).contains("field \"nope\" does not exist"),
            "{}",
            stderr(&nope)
        );
    }
}

// §11 #4, #5 (spec §3.7): an unknown field is refused under kubectl's default Strict, a
// warning with `--validate=warn` (the pod made without it), nothing with `--validate=false`;
// a missing image is the validation's error.
#[test]
fn field_validation_strict_warn_and_ignore() {
    let Some(d) = Daemon::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pod.yaml");
    let f = file.to_str().unwrap();
    let pod = |name: &str, container: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, {container}, command: [sleep, '3600']}}]\n")
    };
    for k in Kubectl::all(&d) {
        std::fs::write(
            &file,
            pod("strict", &format!("imagee: {IMAGE}, image: {IMAGE}")),
        )
        .unwrap();
        let o = k.run(&["apply", "-f", f]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(
            stderr(&o),
            format!("Error from server (BadRequest): error when creating \"{f}\": Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.containers[0].imagee\"\n")
        );
        std::fs::write(
            &file,
            pod("warned", &format!("imagee: {IMAGE}, image: {IMAGE}")),
        )
        .unwrap();
        let o = k.run(&["apply", "--validate=warn", "-f", f]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            stderr(&o),
            "Warning: unknown field \"spec.containers[0].imagee\"\n"
        );
        assert_eq!(stdout(&o), "pod/warned created\n");
        std::fs::write(
            &file,
            pod("ignored", &format!("imagee: {IMAGE}, image: {IMAGE}")),
        )
        .unwrap();
        let o = k.run(&["apply", "--validate=false", "-f", f]);
        assert_eq!(
            (stdout(&o).as_str(), stderr(&o).as_str()),
            ("pod/ignored created\n", "")
        );
        std::fs::write(&file, pod("noimage", "stdin: false")).unwrap();
        let o = k.run(&["apply", "-f", f]);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            stderr(&o).contains(
                "The Pod \"noimage\" is invalid: spec.containers[0].image: Required value"
            ),
            "{}",
            stderr(&o)
        );
        k.ok(&["delete", "pod", "warned", "ignored"]);
    }
}

// §11 #23 (spec §5): `get events` is the server's Table (`pod/web`, kubelet's reasons),
// `-A` adds the namespace, `kubectl events --for pod/web` selects by the involved object, and
// `describe` shows them.
#[test]
fn events_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: web, image: {IMAGE}, command: [sleep, '3600']}}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: other}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [{{name: c, image: {IMAGE}, command: [sleep, '3600']}}]\n"));
    d.wait_running("web");
    d.wait_running("other");
    for k in Kubectl::all(&d) {
        let get = k.ok(&["get", "events"]);
        let head: Vec<&str> = get
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        assert_eq!(
            head,
            ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            "{get}"
        );
        let started = get
            .lines()
            .find(|l| l.contains("Started") && l.contains("pod/web"))
            .unwrap_or_else(|| panic!("no Started row for pod/web: {get}"));
        assert!(started.contains("Normal"), "{started}");
        let wide = k.ok(&["get", "events", "-o", "wide"]);
        assert!(
            wide.contains("SUBOBJECT") && wide.contains("spec.containers{web}"),
            "{wide}"
        );
        let all = k.ok(&["get", "events", "-A"]);
        assert!(all.starts_with("NAMESPACE   LAST SEEN"), "{all}");
        let mine = k.ok(&["events", "--for", "pod/web"]);
        assert!(
            mine.contains("Pod/web") && !mine.contains("Pod/other"),
            "{mine}"
        );
        let describe = k.ok(&["describe", "pod", "web"]);
        assert!(describe.contains("Started container web"), "{describe}");
    }
}

// Spec §0 fact 9: client-go's typed clients send protobuf — `kubectl create configmap |
// secret | namespace | serviceaccount | service` make their objects.
#[test]
fn protobuf_creates() {
    let Some(d) = Daemon::start() else { return };
    for k in Kubectl::all(&d) {
        assert_eq!(
            k.ok(&["create", "namespace", "made"]),
            "namespace/made created\n"
        );
        assert_eq!(
            k.ok(&[
                "create",
                "configmap",
                "cfg",
                "-n",
                "made",
                "--from-literal=a=1",
                "--from-literal=b=2"
            ]),
            "configmap/cfg created\n"
        );
        assert_eq!(
            k.ok(&[
                "get",
                "configmap",
                "cfg",
                "-n",
                "made",
                "-o",
                "jsonpath={.data}"
            ]),
            "{\"a\":\"1\",\"b\":\"2\"}"
        );
        assert_eq!(
            k.ok(&[
                "create",
                "secret",
                "generic",
                "s",
                "-n",
                "made",
                "--from-literal=p=secret"
            ]),
            "secret/s created\n"
        );
        assert_eq!(
            k.ok(&[
                "get",
                "secret",
                "s",
                "-n",
                "made",
                "-o",
                "jsonpath={.data.p}"
            ]),
            "c2VjcmV0"
        );
        assert_eq!(
            k.ok(&["create", "serviceaccount", "bot", "-n", "made"]),
            "serviceaccount/bot created\n"
        );
        assert_eq!(
            k.ok(&[
                "create",
                "service",
                "clusterip",
                "svc",
                "-n",
                "made",
                "--tcp=80:8080"
            ]),
            "service/svc created\n"
        );
        assert_eq!(
            k.ok(&[
                "get",
                "service",
                "svc",
                "-n",
                "made",
                "-o",
                "jsonpath={.spec.ports[0].targetPort}"
            ]),
            "8080"
        );
        k.ok(&["delete", "namespace", "made"]);
    }
}

// Spec §6: `auth can-i` (a protobuf SelfSubjectAccessReview) answers for the caller — the admin
// may, a pod's account reads its own pods only — and `auth whoami` says who the caller is.
#[test]
fn auth_can_i_and_whoami() {
    let Some(d) = Daemon::start() else { return };
    let token = reader_token(&d);
    for k in Kubectl::all(&d) {
        assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]), "yes\n");
        let sa = k.config_with_user(serde_json::json!({"token": token}));
        let can = |args: &[&str]| {
            let o = k.run_with(&sa, &[&["auth", "can-i"], args].concat());
            format!("{}{}", stdout(&o), stderr(&o))
        };
        assert_eq!(can(&["list", "pods"]), "yes\n");
        assert_eq!(can(&["delete", "pods"]), "no\n");
        assert_eq!(can(&["list", "pods", "-n", "kube-system"]), "no\n");
        // `auth whoami` (SelfSubjectReview).
        let me = k.ok(&["auth", "whoami"]);
        assert!(
            me.contains("Username") && me.contains("beluga-admin"),
            "{me}"
        );
        let o = k.run_with(&sa, &["auth", "whoami"]);
        assert!(
            stdout(&o).contains("system:serviceaccount:default:default"),
            "{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
}

// §11 #14 (spec §4.1): `logs` with kubectl's options — `--tail`, `--timestamps`, `--since`,
// `--limit-bytes`, `--all-containers --prefix`, `-f` ending with the container, `-p` after a
// restart.
#[test]
fn logs_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: talk}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - {{name: web, image: {IMAGE}, command: [sh, -c, 'echo one; echo two; echo three; sleep 3600']}}\n  - {{name: once, image: {IMAGE}, command: [sh, -c, 'echo run; sleep 1; exit 1']}}\n"));
    d.wait_pod(
        "talk",
        std::time::Duration::from_secs(60),
        "once restarted",
        |p| {
            p["status"]["containerStatuses"]
                .as_array()
                .is_some_and(|s| {
                    s.iter()
                        .any(|c| c["name"] == "once" && c["restartCount"].as_i64() >= Some(1))
                })
        },
    );
    for k in Kubectl::all(&d) {
        assert_eq!(k.ok(&["logs", "talk", "-c", "web"]), "one\ntwo\nthree\n");
        assert_eq!(k.ok(&["logs", "talk", "-c", "web", "--tail=1"]), "three\n");
        let stamped = k.ok(&["logs", "talk", "-c", "web", "--timestamps", "--tail=1"]);
        assert!(
            stamped.ends_with("Z three\n") && stamped.starts_with("20"),
            "{stamped}"
        );
        assert_eq!(
            k.ok(&["logs", "talk", "-c", "web", "--since=1h"]),
            "one\ntwo\nthree\n"
        );
        assert_eq!(
            k.ok(&["logs", "talk", "-c", "web", "--limit-bytes=5"]),
            "one\nt"
        );
        assert_eq!(k.ok(&["logs", "talk", "-c", "once", "-p"]), "run\n");
        let all = k.ok(&["logs", "talk", "--all-containers", "--prefix", "--tail=1"]);
        assert!(all.contains("[pod/talk/web] three\n"), "{all}");
        // -f on the instance that exits within a second ends with it.
        let f = k.ok(&["logs", "talk", "-c", "once", "-f"]);
        assert!(f.starts_with("run\n"), "{f}");
    }
}

// §11 #26 (spec §6): `top pod` from the containers' cgroups — a busy container shows its CPU,
// every container its memory; `--containers` a row each.
#[test]
fn top_pod_through_kubectl() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: busy}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n  - {{name: spin, image: {IMAGE}, command: [sh, -c, 'while :; do :; done']}}\n  - {{name: idle, image: {IMAGE}, command: [sleep, '3600']}}\n"));
    d.wait_running("busy");
    for k in Kubectl::all(&d) {
        let top = k.ok(&["top", "pod"]);
        let lines: Vec<&str> = top.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["NAME", "CPU(cores)", "MEMORY(bytes)"],
            "{top}"
        );
        let cells: Vec<&str> = lines[1].split_whitespace().collect();
        assert_eq!(cells[0], "busy", "{top}");
        let cpu: u64 = cells[1].trim_end_matches('m').parse().expect("millicores");
        assert!(
            cpu >= 100,
            "a spinning shell uses a good part of a core: {top}"
        );
        assert!(cells[2].ends_with("Mi"), "{top}");
        let per = k.ok(&["top", "pod", "busy", "--containers"]);
        assert!(per.contains("spin") && per.contains("idle"), "{per}");
    }
    d.ok(&["delete", "pod", "busy", "--grace-period=0", "--force"]);
}
