//! `podman kube play` with a private configuration (storage, run directory, runtime, ulimits), so
//! the benchmark never touches the machine's own podman set-up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Podman {
    pub dir: PathBuf,
    pub version: String,
    /// The OCI runtime podman runs, the one beluga runs on this host.
    pub runtime: String,
    /// On a hybrid host whose cgroup2 crun must not see: a process holding one private mount
    /// namespace without that mount, which every podman command joins (its storage mounts must
    /// outlive one command, so one namespace serves them all), and that namespace.
    holder: Option<(std::process::Child, std::fs::File)>,
}

/// The runtime beluga would choose here, and the cgroup2 mount to hide from it.
fn runtime_like_beluga() -> (String, Option<PathBuf>) {
    let dir = std::env::temp_dir();
    match beluga_runtime::oci_runtime::OciRuntime::choose(None, &dir) {
        Ok((rt, _)) => (rt.name, rt.hide_mount),
        Err(_) => ("runc".into(), None),
    }
}

/// A `sleep` in a mount namespace of its own (a copy of ours with `mount` detached and a tmpfs
/// in its place), and that namespace opened.
fn hold_namespace(mount: &Path) -> Result<(std::process::Child, std::fs::File), String> {
    // An empty tmpfs in its place, as beluga's runtime processes have: the runtime's cgroup
    // directories for it stay out of the host's /sys/fs/cgroup.
    let script = format!(
        "umount -l {m} && mount -t tmpfs -o mode=755 tmpfs {m} && exec sleep infinity",
        m = mount.display()
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "slave", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    let ours = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| e.to_string())?;
    let theirs = format!("/proc/{}/ns/mnt", child.id());
    for _ in 0..200 {
        let unmounted = std::fs::read_to_string(format!("/proc/{}/mountinfo", child.id()))
            .is_ok_and(|m| {
                m.lines().any(|l| {
                    l.contains(&format!(" {} ", mount.display())) && l.contains(" - tmpfs ")
                })
            });
        if std::fs::read_link(&theirs).is_ok_and(|l| l != ours) && unmounted {
            let ns = std::fs::File::open(&theirs).map_err(|e| e.to_string())?;
            return Ok((child, ns));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Err("the private mount namespace for podman never came up".into())
}

impl Podman {
    /// Installs podman from Debian's packages when missing, writes the private configuration
    /// and imports the busybox fixture as `localhost/busybox:1`. Err names what failed.
    pub fn setup(rootfs: &Path) -> Result<Podman, String> {
        if Command::new("podman").arg("--version").output().is_err() {
            eprintln!("podman is missing: apt-get install -y podman …");
            let ok = Command::new("apt-get")
                .args(["install", "-y", "-q", "podman"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .map_err(|e| format!("apt-get: {e}"))?
                .success();
            if !ok {
                return Err("apt-get install podman failed".into());
            }
        }
        let (runtime, hide) = runtime_like_beluga();
        let holder = match &hide {
            Some(m) => Some(hold_namespace(m)?),
            None => None,
        };
        let dir = PathBuf::from(format!("/tmp/beluga-bench-podman-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let d = dir.display();
        // Podman 4.3 needs ulimits within the hard limits on these machines (no
        // CAP_SYS_RESOURCE); its runtime is beluga's (crun, like for like). Events go to a file:
        // there is no journald.
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 [engine]\nruntime = \"{runtime}\"\ncgroup_manager = \"cgroupfs\"\n\
                 events_logger = \"file\"\nevents_logfile_path = \"{d}/events.log\"\n\
                 tmp_dir = \"{d}/libpod\"\n[network]\nnetwork_config_dir = \"{d}/networks\"\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{d}/graph\"\nrunroot = \"{d}/run\"\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut p = Podman {
            dir,
            version: String::new(),
            runtime,
            holder,
        };
        let version = p.output(&["--version"])?;
        // The same files as beluga's image; `import` keeps no config, so PATH is given as the
        // fixture's image config has it.
        let mut tar = Command::new("tar")
            .arg("-C")
            .arg(rootfs)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("tar: {e}"))?;
        let ok = p
            .cmd(&[
                "import",
                "--change",
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "-",
                "localhost/busybox:1",
            ])
            .stdin(tar.stdout.take().ok_or("tar stdout")?)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?
            .success();
        let _ = tar.wait();
        if !ok {
            return Err("podman import failed".into());
        }
        p.version = version.trim().to_string();
        Ok(p)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.args(args)
            .env("CONTAINERS_CONF", self.dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", self.dir.join("storage.conf"));
        if let Some((_, ns)) = &self.holder {
            use std::os::fd::AsRawFd;
            use std::os::unix::process::CommandExt;
            let fd = ns.as_raw_fd();
            // SAFETY: between fork and exec only setns runs, on a descriptor this struct keeps
            // open for as long as it lives.
            unsafe {
                c.pre_exec(move || {
                    let ns = std::os::fd::BorrowedFd::borrow_raw(fd);
                    rustix::thread::move_into_link_name_space(
                        ns,
                        Some(rustix::thread::LinkNameSpaceType::Mount),
                    )?;
                    Ok(())
                });
            }
        }
        c
    }

    pub fn output(&self, args: &[&str]) -> Result<String, String> {
        let o = self.cmd(args).output().map_err(|e| e.to_string())?;
        if !o.status.success() {
            return Err(format!(
                "podman {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// `kube play` of a file; returns how long the command took (it returns once every
    /// container has been started), or its error. The pod network is `none`: beluga's pods have
    /// loopback only.
    pub fn play(&self, file: &Path) -> Result<Duration, String> {
        let t = Instant::now();
        let o = self
            .cmd(&["kube", "play", "--network", "none"])
            .arg(file)
            .output()
            .map_err(|e| e.to_string())?;
        let took = t.elapsed();
        if !o.status.success() {
            let err = String::from_utf8_lossy(&o.stderr);
            return Err(err.lines().last().unwrap_or_default().to_string());
        }
        Ok(took)
    }

    /// `kube down` of a file: stops and removes its pods.
    pub fn down(&self, file: &Path) -> Duration {
        let t = Instant::now();
        let o = self
            .cmd(&["kube", "down"])
            .arg(file)
            .output()
            .expect("podman");
        let took = t.elapsed();
        assert!(
            o.status.success(),
            "podman kube down: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        took
    }

    /// How many containers podman still knows (0 once a pod is fully removed).
    pub fn containers(&self) -> usize {
        self.output(&["ps", "-aq"])
            .map(|s| s.lines().count())
            .unwrap_or(usize::MAX)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self
            .cmd(&["pod", "rm", "-a", "-f", "-t", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self
            .cmd(&["system", "reset", "-f"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some((mut child, _)) = self.holder.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
