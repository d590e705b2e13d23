//! In-memory sandbox, container runtime, images and clock, for the worker's tests without root
//! (as kubelet tests SyncPod over its fake runtime). Every call is logged with the (paused)
//! tokio time it was made at; containers follow a [`Script`] per container name.

use super::{Clock, ContainerRuntime, Done, Exits, Images, Launch, Sandbox, SandboxError};
use crate::bundle::BundleInputs;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::Pod;
use beluga_image::{ImageConfig, ImageRecord};
use beluga_runtime::layout::PodDir;
use beluga_runtime::shim::{ExitRecord, RunningContainer};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// What [`Sandbox::pod_ips`] gives for a fake sandbox.
pub const FAKE_POD_IP: &str = "10.88.0.2";

/// One call the worker made, by container name (not id) so tests read as the pod spec does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    CreateSandbox,
    /// The sandbox's first app containers are up (what is made ahead may be made).
    Settled,
    Teardown,
    Remove,
    Prepare(String),
    Discard(String),
    Create(String),
    Start(String),
    Run(String),
    Kill(String, String),
    Delete(String),
    Exec(String, String),
    Pull(String),
}

/// How a container behaves, per container name.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Exits by itself after this long with this code, per attempt (the last one repeats);
    /// `None` or empty: runs until killed.
    pub exits: Vec<Option<(Duration, i32)>>,
    /// Only `KILL` ends it.
    pub ignores_term: bool,
    /// `prepare` fails so: (kubelet's reason, message).
    pub prepare_error: Option<(&'static str, String)>,
    /// The runtime refuses to start it.
    pub start_error: Option<String>,
    /// Written to its termination log as it exits.
    pub message: Option<String>,
    /// Written to its log (as CRI lines) as it starts.
    pub logs: Option<String>,
    /// Its start never answers (a daemon dies meanwhile).
    pub start_hangs: bool,
    /// Its first `prepare` panics (a bug met by the worker).
    pub panic_once: bool,
}

/// A command's answer in a container: how long it takes and how it ends.
#[derive(Debug, Clone)]
pub struct ExecScript {
    pub takes: Duration,
    pub done: Done,
}

struct Running {
    name: String,
    bundle: PathBuf,
    started_at: Timestamp,
    sandbox: PathBuf,
}

#[derive(Default)]
struct World {
    calls: Vec<(Duration, Call)>,
    scripts: HashMap<String, Script>,
    /// By `<container> <command>`.
    execs: HashMap<String, ExecScript>,
    sandboxes: HashMap<PathBuf, UnboundedSender<ExitRecord>>,
    sandbox_failures: VecDeque<SandboxError>,
    /// Container id → name, from `prepare`.
    names: HashMap<String, String>,
    /// What `create` was given, for `start`.
    launches: HashMap<String, Launch>,
    running: HashMap<String, Running>,
    images: HashMap<String, ImageRecord>,
    /// Pulls that succeed (the image appears); others fail with this message.
    pullable: HashMap<String, ImageRecord>,
    last_now: Option<Timestamp>,
    unmanaged: Vec<String>,
}

/// The fakes, sharing one world: clone it into each seam.
#[derive(Clone)]
pub struct Fake {
    world: Arc<Mutex<World>>,
    epoch: Instant,
    base: Timestamp,
}

impl Default for Fake {
    fn default() -> Self {
        Fake {
            world: Default::default(),
            epoch: Instant::now(),
            base: Timestamp::now(),
        }
    }
}

/// An image record for a reference (config as given).
pub fn image(reference: &str, config: ImageConfig) -> ImageRecord {
    let hex = format!("{:0>64}", reference.len());
    ImageRecord {
        reference: reference.into(),
        id: beluga_image::digest::Digest::parse("id", &format!("sha256:{hex}"))
            .expect("a well-formed digest"),
        layers: vec![],
        config,
        size: 1234,
        created: "2026-01-01T00:00:00Z".into(),
    }
}

fn signal_number(sig: &str) -> i32 {
    match sig {
        "KILL" => 9,
        "QUIT" => 3,
        "INT" => 2,
        "HUP" => 1,
        "USR1" => 10,
        _ => 15,
    }
}

impl Fake {
    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self, call: Call) {
        let at = self.epoch.elapsed();
        self.world().calls.push((at, call));
    }

    pub fn script(&self, container: &str, s: Script) {
        self.world().scripts.insert(container.into(), s);
    }

    /// How `command` ends in `container` from now on (by default: at once, successfully).
    pub fn exec_answers(&self, container: &str, command: &str, s: ExecScript) {
        self.world()
            .execs
            .insert(format!("{container} {command}"), s);
    }

    /// Controllers the runtime does not manage (as crun with cgroup2 hidden).
    pub fn unmanage(&self, controllers: &[&str]) {
        self.world().unmanaged = controllers.iter().map(|c| c.to_string()).collect();
    }

    pub fn fail_next_sandbox(&self, e: SandboxError) {
        self.world().sandbox_failures.push_back(e);
    }

    pub fn add_image(&self, rec: ImageRecord) {
        self.world().images.insert(rec.reference.clone(), rec);
    }

    pub fn pullable(&self, rec: ImageRecord) {
        self.world().pullable.insert(rec.reference.clone(), rec);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.world().calls.iter().map(|(_, c)| c.clone()).collect()
    }

    /// The calls with when they were made (since the fake was made).
    pub fn timed_calls(&self) -> Vec<(Duration, Call)> {
        self.world().calls.clone()
    }

    /// Names of the containers running now.
    pub fn running(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .world()
            .running
            .values()
            .map(|r| r.name.clone())
            .collect();
        v.sort();
        v
    }

    /// The sandbox is lost (its shim killed): its exit stream ends, its containers are gone.
    pub fn lose_sandbox(&self, dir: &Path) {
        let mut w = self.world();
        w.sandboxes.remove(dir);
        w.running.retain(|_, r| r.sandbox != dir);
    }

    /// Ends a running container with `code` and announces it.
    pub fn exit(&self, id: &str, code: i32) {
        let now = self.now();
        let mut w = self.world();
        let Some(r) = w.running.remove(id) else {
            return;
        };
        if let Some(msg) = w.scripts.get(&r.name).and_then(|s| s.message.clone()) {
            let _ = std::fs::write(r.bundle.join("termination-log"), msg);
        }
        let rec = ExitRecord {
            id: id.into(),
            exit_code: code,
            signal: (code > 128).then_some(code - 128),
            oom_killed: false,
            started_at: r.started_at.to_string(),
            finished_at: now.to_string(),
        };
        if let Some(tx) = w.sandboxes.get(&r.sandbox) {
            let _ = tx.send(rec);
        }
    }

    fn name_of(&self, id: &str) -> String {
        self.world()
            .names
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.into())
    }

    async fn hang_if_scripted(&self, id: &str) {
        let name = self.name_of(id);
        if self
            .world()
            .scripts
            .get(&name)
            .is_some_and(|s| s.start_hangs)
        {
            std::future::pending::<()>().await;
        }
    }

    /// The container runs: its own exit is scheduled per its script.
    fn begin(&self, dir: &PodDir, l: &Launch) -> Result<String, String> {
        let name = self.name_of(&l.id);
        let script = self.world().scripts.get(&name).cloned().unwrap_or_default();
        if let Some(e) = script.start_error {
            return Err(e);
        }
        let attempt =
            l.id.rsplit('-')
                .next()
                .and_then(|a| a.parse::<usize>().ok())
                .unwrap_or(0);
        let started_at = self.now();
        self.world().running.insert(
            l.id.clone(),
            Running {
                name,
                bundle: l.bundle.clone(),
                started_at,
                sandbox: dir.path().to_path_buf(),
            },
        );
        if let Some(text) = &script.logs {
            let mut data = Vec::new();
            for line in text.lines() {
                data.extend_from_slice(format!("{started_at} stdout F {line}\n").as_bytes());
            }
            let _ = std::fs::create_dir_all(l.log.parent().unwrap_or(Path::new("/")));
            let _ = std::fs::write(&l.log, data);
        }
        let exit = script
            .exits
            .get(attempt)
            .or(script.exits.last())
            .copied()
            .flatten();
        if let Some((after, code)) = exit {
            let (fake, id) = (self.clone(), l.id.clone());
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                fake.exit(&id, code);
            });
        }
        Ok(started_at.to_string())
    }
}

impl Clock for Fake {
    /// The paused tokio clock as wall time, never going back (two runtimes in one test).
    fn now(&self) -> Timestamp {
        let t = self
            .base
            .checked_add(self.epoch.elapsed())
            .unwrap_or(self.base);
        let mut w = self.world();
        let t = w.last_now.map_or(t, |l| l.max(t));
        w.last_now = Some(t);
        t
    }
}

#[async_trait::async_trait]
impl Sandbox for Fake {
    async fn create(&self, _pod: &Pod, dir: &PodDir) -> Result<Exits, SandboxError> {
        self.log(Call::CreateSandbox);
        if let Some(e) = self.world().sandbox_failures.pop_front() {
            return Err(e);
        }
        std::fs::create_dir_all(dir.sandbox()).map_err(|e| SandboxError::Other(e.to_string()))?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.world().sandboxes.insert(dir.path().to_path_buf(), tx);
        Ok(rx)
    }

    fn settled(&self) {
        self.log(Call::Settled);
    }

    /// The address a network would have given a sandbox that exists.
    fn pod_ips(&self, dir: &PodDir) -> Vec<String> {
        match self.world().sandboxes.contains_key(dir.path()) {
            true => vec![FAKE_POD_IP.to_string()],
            false => Vec::new(),
        }
    }

    async fn reconnect(&self, dir: &PodDir) -> Option<Exits> {
        let mut w = self.world();
        let tx = w.sandboxes.get_mut(dir.path())?;
        let (new_tx, rx) = tokio::sync::mpsc::unbounded_channel();
        *tx = new_tx;
        Some(rx)
    }

    async fn teardown(&self, _pod: &Pod, dir: &PodDir, _ids: Vec<String>) {
        self.log(Call::Teardown);
        self.lose_sandbox(dir.path());
    }

    async fn remove(&self, dir: &PodDir) {
        self.log(Call::Remove);
        let _ = std::fs::remove_dir_all(dir.path());
    }

    async fn abandon(&self, dir: &Path, aside: &Path) -> std::io::Result<PathBuf> {
        self.lose_sandbox(dir);
        std::fs::create_dir_all(aside)?;
        let to = aside.join(dir.file_name().unwrap_or_default());
        std::fs::rename(dir, &to)?;
        Ok(to)
    }
}

#[async_trait::async_trait]
impl ContainerRuntime for Fake {
    fn name(&self) -> &str {
        "fake"
    }

    async fn prepare(&self, i: BundleInputs) -> Result<(), (&'static str, String)> {
        self.log(Call::Prepare(i.c.name.clone()));
        let script = {
            let mut w = self.world();
            w.names.insert(i.id.clone(), i.c.name.clone());
            w.scripts.get(&i.c.name).cloned().unwrap_or_default()
        };
        if script.panic_once {
            if let Some(s) = self.world().scripts.get_mut(&i.c.name) {
                s.panic_once = false;
            }
            panic!("a bug met while preparing {}", i.c.name);
        }
        if let Some(e) = script.prepare_error {
            return Err(e);
        }
        std::fs::create_dir_all(&i.bundle).map_err(|e| ("CreateContainerError", e.to_string()))
    }

    async fn discard(&self, dir: &PodDir, id: &str) {
        self.log(Call::Discard(self.name_of(id)));
        let _ = std::fs::remove_dir_all(dir.bundle(id));
    }

    async fn create(&self, _dir: &PodDir, l: &Launch) -> Result<(), String> {
        self.log(Call::Create(self.name_of(&l.id)));
        self.world().launches.insert(l.id.clone(), l.clone());
        Ok(())
    }

    async fn start(&self, dir: &PodDir, id: &str) -> Result<String, String> {
        self.log(Call::Start(self.name_of(id)));
        self.hang_if_scripted(id).await;
        let l = self.world().launches.get(id).cloned();
        let l = l.ok_or_else(|| format!("container {id} was never created"))?;
        self.begin(dir, &l)
    }

    async fn run(&self, dir: &PodDir, l: &Launch) -> Result<String, String> {
        self.log(Call::Run(self.name_of(&l.id)));
        self.hang_if_scripted(&l.id).await;
        self.begin(dir, l)
    }

    async fn kill(&self, _dir: &PodDir, id: &str, signal: &str) {
        let name = self.name_of(id);
        self.log(Call::Kill(name.clone(), signal.into()));
        let ignores = self
            .world()
            .scripts
            .get(&name)
            .is_some_and(|s| s.ignores_term);
        if signal == "KILL" || !ignores {
            self.exit(id, 128 + signal_number(signal));
        }
    }

    async fn delete(&self, _dir: &PodDir, id: &str) {
        self.log(Call::Delete(self.name_of(id)));
    }

    async fn exec(
        &self,
        _dir: &PodDir,
        id: &str,
        command: &[String],
        timeout: Option<Duration>,
    ) -> Done {
        let name = self.name_of(id);
        let cmd = command.join(" ");
        self.log(Call::Exec(name.clone(), cmd.clone()));
        let script = self.world().execs.get(&format!("{name} {cmd}")).cloned();
        let script = script.unwrap_or(ExecScript {
            takes: Duration::ZERO,
            done: Done::Success(String::new()),
        });
        match timeout {
            Some(t) if t < script.takes => {
                tokio::time::sleep(t).await;
                Done::Failure(format!("command {command:?} timed out"))
            }
            _ => {
                tokio::time::sleep(script.takes).await;
                script.done
            }
        }
    }

    fn unmanaged(&self) -> Vec<String> {
        self.world().unmanaged.clone()
    }

    async fn list(&self, dir: &PodDir) -> Option<Vec<RunningContainer>> {
        let w = self.world();
        w.sandboxes.get(dir.path())?;
        Some(
            w.running
                .iter()
                .filter(|(_, r)| r.sandbox == dir.path())
                .map(|(id, r)| RunningContainer {
                    id: id.clone(),
                    pid: 1,
                    started_at: r.started_at.to_string(),
                })
                .collect(),
        )
    }
}

#[async_trait::async_trait]
impl Images for Fake {
    fn get(&self, reference: &str) -> Option<ImageRecord> {
        self.world().images.get(reference).cloned()
    }

    fn lower_dirs(&self, _rec: &ImageRecord) -> Vec<PathBuf> {
        vec![]
    }

    async fn pull(
        &self,
        reference: &str,
        _secrets: &[serde_json::Value],
    ) -> Result<ImageRecord, String> {
        self.log(Call::Pull(reference.into()));
        let mut w = self.world();
        match w.pullable.get(reference).cloned() {
            Some(rec) => {
                w.images.insert(reference.into(), rec.clone());
                Ok(rec)
            }
            None => Err(format!(
                "pull access denied, repository does not exist or may require authorization: {reference}"
            )),
        }
    }
}

impl Fake {
    /// The four seams, all this fake.
    pub fn executor(&self) -> super::Executor {
        super::Executor {
            sandbox: Arc::new(self.clone()),
            runtime: Arc::new(self.clone()),
            images: Arc::new(self.clone()),
            clock: Arc::new(self.clone()),
        }
    }
}
