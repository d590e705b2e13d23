//! `beluga shim` (internal): the per-pod shim; see `beluga_runtime::shim`.

use beluga_runtime::oci_runtime::OciRuntime;
use beluga_runtime::shim::{self, ShimOptions};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pod_dir: PathBuf,
    #[arg(long)]
    hostname: String,
    #[arg(long)]
    runtime_path: PathBuf,
    #[arg(long)]
    runtime_root: PathBuf,
    #[arg(long, default_value_t = 10 << 20)]
    log_max_size: u64,
    #[arg(long, default_value_t = 5)]
    log_max_files: usize,
}

pub fn run(a: Args) -> i32 {
    let name = a
        .runtime_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("runc")
        .to_string();
    let opts = ShimOptions {
        pod_dir: a.pod_dir,
        hostname: a.hostname,
        runtime: OciRuntime {
            name,
            path: a.runtime_path,
            state_root: a.runtime_root,
        },
        log_max_size: a.log_max_size,
        log_max_files: a.log_max_files,
    };
    match shim::main(opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("shim: {e}");
            1
        }
    }
}
