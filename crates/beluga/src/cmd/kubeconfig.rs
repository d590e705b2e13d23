//! `beluga kubeconfig [--merge]`: the kubeconfig that points the real kubectl at the daemon's
//! Kubernetes API (cluster, user and context `beluga`), printed, or merged into the user's
//! kubeconfig as kubectl merges (other clusters, users and contexts untouched; `beluga` made
//! current).

use crate::client::Client;
use anyhow::{Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Merge into the kubeconfig kubectl uses (the first file of $KUBECONFIG, else
    /// ~/.kube/config) instead of printing it.
    #[arg(long)]
    merge: bool,
    #[command(flatten)]
    socket: crate::SocketArg,
}

/// The file kubectl would write to: the first of `$KUBECONFIG`, else `~/.kube/config`.
fn target() -> Result<PathBuf> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").context("$HOME is not set")?;
    Ok(PathBuf::from(home).join(".kube").join("config"))
}

fn merge_into(path: &std::path::Path, ours: &serde_json::Value) -> Result<()> {
    let existing: serde_json::Value = match std::fs::read_to_string(path) {
        Ok(text) if !text.trim().is_empty() => {
            serde_saphyr::from_str(&text).with_context(|| format!("reading {}", path.display()))?
        }
        Ok(_) => serde_json::Value::Null,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let merged = beluga_api::kubeconfig::merge(&existing, ours)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // Credentials inside: the owner's alone, written whole.
    let tmp = path.with_extension("beluga-tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(super::get::to_yaml(&merged)?.as_bytes())?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub async fn run(a: Args) -> Result<i32> {
    let client = Client::new(&a.socket.socket);
    let config: serde_json::Value = client
        .json(hyper::Method::GET, "/beluga/v1/kubeconfig", None)
        .await?;
    if a.merge {
        let path = target()?;
        merge_into(&path, &config)?;
        println!(
            "Merged context \"beluga\" into {}; it is now current.",
            path.display()
        );
    } else {
        print!("{}", super::get::to_yaml(&config)?);
    }
    Ok(0)
}
