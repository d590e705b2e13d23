//! One module per verb.

pub mod apply;
pub mod daemon;
pub mod delete;
pub mod describe;
pub mod exec;
pub mod get;
pub mod image;
pub mod kubeconfig;
pub mod logs;
pub mod wait;

/// Reads `-f FILE` (`-` for stdin).
pub fn read_source(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("the path {file:?} does not exist or cannot be read: {e}"))
    }
}
