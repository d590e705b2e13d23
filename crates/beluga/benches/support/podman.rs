//! `podman kube play` with a private configuration (storage, run directory, runtime, ulimits), so
//! the benchmark never touches the machine's own podman set-up.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Podman {
    pub dir: PathBuf,
    pub version: String,
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
        let dir = PathBuf::from(format!("/tmp/beluga-bench-podman-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let d = dir.display();
        // Podman 4.3 needs both settings on these machines: ulimits within the hard limits (no
        // CAP_SYS_RESOURCE) and runc (crun refuses hybrid cgroups). Events go to a file: there is
        // no journald.
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\n\
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
    }
}
