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

#[derive(Debug, Clone)]
pub struct OciRuntime {
    /// Short name: `crun` or `runc` (or the file name of a custom path); used in `containerID`.
    pub name: String,
    pub path: PathBuf,
    /// `--root` for the runtime's state, private to beluga.
    pub state_root: PathBuf,
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

/// Whether crun can run here: crun refuses a hybrid layout whose cgroup2 mount has controllers.
pub fn cgroup_layout() -> (&'static str, bool) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v1 = false;
    let mut v2_mount: Option<String> = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = right.split_whitespace().next().unwrap_or("");
        let mount_point = left.split_whitespace().nth(4).unwrap_or("");
        match fstype {
            "cgroup" => v1 = true,
            "cgroup2" => v2_mount = Some(mount_point.to_string()),
            _ => {}
        }
    }
    match (v1, v2_mount) {
        (false, Some(_)) => ("unified (cgroup v2)", true),
        (true, Some(m)) => {
            let controllers = std::fs::read_to_string(Path::new(&m).join("cgroup.controllers"))
                .unwrap_or_default();
            if controllers.trim().is_empty() {
                ("hybrid, cgroup2 without controllers", true)
            } else {
                ("hybrid with controllers on cgroup2", false)
            }
        }
        (true, None) => ("legacy (cgroup v1)", true),
        (false, None) => ("no cgroups", true),
    }
}

impl OciRuntime {
    /// `--runtime crun|runc|PATH`, or crun where it can run and runc where it cannot. Returns the
    /// runtime and a one-line reason for the log.
    pub fn choose(
        flag: Option<&str>,
        state_root: &Path,
    ) -> Result<(OciRuntime, String), RuntimeError> {
        let make = |path: PathBuf| {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("runc")
                .to_string();
            OciRuntime {
                name,
                path,
                state_root: state_root.to_path_buf(),
            }
        };
        if let Some(f) = flag {
            let path = if f.contains('/') {
                PathBuf::from(f)
            } else {
                which(f).ok_or(RuntimeError::NotFound)?
            };
            return Ok((make(path), format!("--runtime {f}")));
        }
        let (layout, crun_ok) = cgroup_layout();
        match (crun_ok, which("crun"), which("runc")) {
            (true, Some(c), _) => Ok((make(c), format!("crun: cgroups are {layout}"))),
            (false, _, Some(r)) => Ok((
                make(r),
                format!("runc: cgroups are {layout}, which crun refuses"),
            )),
            (true, None, Some(r)) => Ok((make(r), "runc: crun is not installed".into())),
            (false, Some(c), None) => Ok((
                make(c),
                format!("crun (runc not installed; cgroups are {layout}, crun may refuse them)"),
            )),
            (_, None, None) => Err(RuntimeError::NotFound),
        }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root").arg(&self.state_root);
        c
    }

    fn run(&self, verb: &str, args: &[&str]) -> Result<String, RuntimeError> {
        let out = self
            .command()
            .arg(verb)
            .args(args)
            .stdin(Stdio::null())
            .output();
        self.result(verb, out)
    }

    /// As `run`, without blocking the calling thread (the shim serves its pod from one thread).
    pub async fn run_async(&self, verb: &str, args: &[&str]) -> Result<String, RuntimeError> {
        let mut c = self.command();
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

#[cfg(test)]
mod tests {
    use super::runtime_message;

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
