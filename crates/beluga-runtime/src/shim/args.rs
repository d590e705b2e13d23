//! The shim's command line: what the daemon passes ([`ShimOptions::to_args`]) and what the shim
//! reads back ([`ShimOptions::parse`]), kept together so that the two never drift apart.

use crate::oci_runtime::OciRuntime;
use std::path::PathBuf;

pub struct ShimOptions {
    pub pod_dir: PathBuf,
    pub hostname: String,
    pub runtime: OciRuntime,
    /// Container log rotation: size in bytes (0 = never) and files kept.
    pub log_max_size: u64,
    pub log_max_files: usize,
    /// A spare sandbox made ahead for the next pod (issue 13) by the daemon with this pid: it
    /// dies with that daemon until a pod claims it (`Request::Claim`).
    pub spare_of: Option<u32>,
    /// `hostNetwork: true`: the host's network and UTS namespaces, only IPC of its own.
    pub host_network: bool,
    /// The daemon's `--cgroup-root`, where its containers' cgroups are (their OOM kills).
    pub cgroup_root: crate::cgroups::Root,
}

impl ShimOptions {
    /// The arguments that [`ShimOptions::parse`] reads back.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut v: Vec<std::ffi::OsString> = Vec::new();
        let mut flag = |f: &str, value: std::ffi::OsString| {
            v.push(f.into());
            v.push(value);
        };
        flag("--pod-dir", self.pod_dir.clone().into());
        flag("--hostname", self.hostname.clone().into());
        flag("--runtime-path", self.runtime.path.clone().into());
        flag("--runtime-root", self.runtime.state_root.clone().into());
        flag("--log-max-size", self.log_max_size.to_string().into());
        flag("--log-max-files", self.log_max_files.to_string().into());
        if let Some(m) = &self.runtime.hide_mount {
            flag("--runtime-hide-mount", m.clone().into());
        }
        if let Some(pid) = self.spare_of {
            flag("--spare-of", pid.to_string().into());
        }
        if self.host_network {
            flag("--host-network", "true".into());
        }
        flag("--cgroup-root", self.cgroup_root.to_string().into());
        v
    }

    /// Reads the shim's arguments (without the program name).
    pub fn parse(args: impl Iterator<Item = String>) -> Result<ShimOptions, String> {
        let (mut pod_dir, mut hostname, mut runtime_path, mut runtime_root) =
            (None, None, None, None);
        let (mut log_max_size, mut log_max_files) = (10u64 << 20, 5usize);
        let (mut hide_mount, mut spare_of, mut host_network) = (None, None, false);
        let mut cgroup_root = crate::cgroups::Root::default();
        let mut args = args;
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--pod-dir" => pod_dir = Some(PathBuf::from(value)),
                "--hostname" => hostname = Some(value),
                "--runtime-path" => runtime_path = Some(PathBuf::from(value)),
                "--runtime-root" => runtime_root = Some(PathBuf::from(value)),
                "--runtime-hide-mount" => hide_mount = Some(PathBuf::from(value)),
                "--log-max-size" => log_max_size = number(&flag, &value)?,
                "--log-max-files" => log_max_files = number(&flag, &value)?,
                "--spare-of" => spare_of = Some(number(&flag, &value)?),
                "--host-network" => host_network = value == "true",
                "--cgroup-root" => cgroup_root = value.parse()?,
                other => return Err(format!("unknown argument {other}")),
            }
        }
        let runtime_path: PathBuf = required(runtime_path, "--runtime-path")?;
        let name = runtime_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("runc")
            .to_string();
        Ok(ShimOptions {
            pod_dir: required(pod_dir, "--pod-dir")?,
            hostname: required(hostname, "--hostname")?,
            runtime: OciRuntime {
                name,
                path: runtime_path,
                state_root: required(runtime_root, "--runtime-root")?,
                hide_mount,
            },
            log_max_size,
            log_max_files,
            spare_of,
            host_network,
            cgroup_root,
        })
    }
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value
        .parse()
        .map_err(|_| format!("{flag}: not a number: {value}"))
}

fn required<T>(v: Option<T>, flag: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{flag} is required"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split_whitespace().map(String::from)
    }

    #[test]
    fn parses_every_flag_and_defaults() {
        let o = ShimOptions::parse(args(
            "--pod-dir /p --hostname h --runtime-path /usr/sbin/runc --runtime-root /r",
        ))
        .unwrap();
        assert_eq!(o.pod_dir, PathBuf::from("/p"));
        assert_eq!(o.runtime.name, "runc");
        assert_eq!((o.log_max_size, o.log_max_files), (10 << 20, 5));
        assert_eq!(o.spare_of, None);
        assert_eq!(o.cgroup_root, crate::cgroups::Root::default());
        let o = ShimOptions::parse(args(
            "--pod-dir /p --hostname h --runtime-path /bin/crun --runtime-root /r \
             --log-max-size 100 --log-max-files 2",
        ))
        .unwrap();
        assert_eq!(o.runtime.name, "crun");
        assert_eq!((o.log_max_size, o.log_max_files), (100, 2));
    }

    // What the daemon passes is what the shim reads.
    #[test]
    fn to_args_round_trips() {
        let o = ShimOptions::parse(args(
            "--pod-dir /p/q --hostname web-0 --runtime-path /bin/crun --runtime-root /r \
             --log-max-size 7 --log-max-files 3 --runtime-hide-mount /sys/fs/cgroup/unified \
             --spare-of 42 --host-network true --cgroup-root beluga-t1",
        ))
        .unwrap();
        let back: Vec<String> = o
            .to_args()
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let again = ShimOptions::parse(back.into_iter()).unwrap();
        assert_eq!(again.pod_dir, o.pod_dir);
        assert_eq!(again.hostname, o.hostname);
        assert!(o.host_network && again.host_network);
        assert_eq!(again.runtime.path, o.runtime.path);
        assert_eq!(again.runtime.state_root, o.runtime.state_root);
        assert_eq!(
            again.runtime.hide_mount.as_deref(),
            Some(std::path::Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!((again.log_max_size, again.log_max_files), (7, 3));
        assert_eq!(again.spare_of, Some(42));
        assert_eq!(again.cgroup_root.to_string(), "beluga-t1");
    }

    #[test]
    fn refuses_missing_and_unknown() {
        let parse = ShimOptions::parse;
        assert_eq!(
            parse(args("--pod-dir /p --hostname h --runtime-root /r")).err(),
            Some("--runtime-path is required".to_string())
        );
        assert_eq!(
            parse(args("--bogus x")).err(),
            Some("unknown argument --bogus".to_string())
        );
        assert_eq!(
            parse(args("--pod-dir")).err(),
            Some("--pod-dir needs a value".to_string())
        );
        assert!(parse(args(
            "--pod-dir /p --hostname h --runtime-path /r --runtime-root /r --log-max-size ten"
        ))
        .is_err());
    }
}
