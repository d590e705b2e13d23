//! `beluga-shim`: the per-pod shim the daemon starts (see `beluga_runtime::shim`).
//!
//! A binary of its own, apart from `beluga`, because one runs per pod: linking only the shim's
//! code keeps its private memory (relocated data, heap) small. Arguments are parsed by hand for
//! the same reason; the daemon is the only caller.

use beluga_runtime::oci_runtime::OciRuntime;
use beluga_runtime::shim::{self, ShimOptions};
use std::path::PathBuf;

const USAGE: &str = "usage: beluga-shim --pod-dir DIR --hostname NAME --runtime-path PATH \
--runtime-root DIR [--log-max-size BYTES] [--log-max-files N]
Started by `beluga daemon`, one per pod; not meant to be run by hand.";

fn parse(args: impl Iterator<Item = String>) -> Result<ShimOptions, String> {
    let (mut pod_dir, mut hostname, mut runtime_path, mut runtime_root) = (None, None, None, None);
    let (mut log_max_size, mut log_max_files) = (10u64 << 20, 5usize);
    let mut args = args;
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--pod-dir" => pod_dir = Some(PathBuf::from(value)),
            "--hostname" => hostname = Some(value),
            "--runtime-path" => runtime_path = Some(PathBuf::from(value)),
            "--runtime-root" => runtime_root = Some(PathBuf::from(value)),
            "--log-max-size" => {
                log_max_size = value
                    .parse()
                    .map_err(|_| format!("--log-max-size: not a number: {value}"))?
            }
            "--log-max-files" => {
                log_max_files = value
                    .parse()
                    .map_err(|_| format!("--log-max-files: not a number: {value}"))?
            }
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
        },
        log_max_size,
        log_max_files,
    })
}

fn required<T>(v: Option<T>, flag: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("{flag} is required"))
}

fn main() {
    let opts = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("beluga-shim: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    // The shim must unshare namespaces before any thread exists: no runtime is built before this.
    if let Err(e) = shim::main(opts) {
        eprintln!("shim: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> + '_ {
        s.split_whitespace().map(String::from)
    }

    #[test]
    fn parses_every_flag_and_defaults() {
        let o = parse(args(
            "--pod-dir /p --hostname h --runtime-path /usr/sbin/runc --runtime-root /r",
        ))
        .unwrap();
        assert_eq!(o.pod_dir, PathBuf::from("/p"));
        assert_eq!(o.runtime.name, "runc");
        assert_eq!((o.log_max_size, o.log_max_files), (10 << 20, 5));
        let o = parse(args(
            "--pod-dir /p --hostname h --runtime-path /bin/crun --runtime-root /r \
             --log-max-size 100 --log-max-files 2",
        ))
        .unwrap();
        assert_eq!(o.runtime.name, "crun");
        assert_eq!((o.log_max_size, o.log_max_files), (100, 2));
    }

    #[test]
    fn refuses_missing_and_unknown() {
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
