//! `beluga-shim`: the per-pod shim the daemon starts (see `beluga_runtime::shim`).
//!
//! A binary of its own, apart from `beluga`, because one runs per pod: linking only the shim's
//! code keeps its private memory (relocated data, heap) small. Arguments are parsed by hand for
//! the same reason (`beluga_runtime::shim::ShimOptions::parse`); the daemon is the only caller.

use beluga_runtime::shim::{self, ShimOptions};

const USAGE: &str = "usage: beluga-shim --pod-dir DIR --hostname NAME --runtime-path PATH \
--runtime-root DIR [--log-max-size BYTES] [--log-max-files N] [--runtime-hide-mount DIR]
Started by `beluga daemon`, one per pod; not meant to be run by hand.";

fn main() {
    let opts = match ShimOptions::parse(std::env::args().skip(1)) {
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
