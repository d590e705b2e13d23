//! `beluga`: run Kubernetes Pods on one Linux machine with kubelet's semantics.
//! One file per verb under `cmd/`; the API client in `client.rs`.

mod client;
mod cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

pub const DEFAULT_SOCKET: &str = "/run/beluga/beluga.sock";

#[derive(Parser)]
#[command(
    name = "beluga",
    version,
    about = "Run Kubernetes Pods on one Linux machine, exactly as kubelet runs them.",
    long_about = "Run Kubernetes Pods on one Linux machine, exactly as kubelet runs them.\n\n\
Start the node agent with `beluga daemon`, add an image with `beluga image import` or `beluga image load`,\n\
then use the verbs you know from kubectl: apply, get, describe, logs, exec, delete, wait."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node agent that owns pods, images and containers.
    Daemon(Box<cmd::daemon::Args>),
    /// Create or update the Pods of a YAML or JSON file (several documents allowed).
    Apply(cmd::apply::Args),
    /// Display pods or events in kubectl's table, or as json, yaml or names.
    Get(cmd::get::Args),
    /// Show details of a pod: containers, state, conditions, volumes and events.
    Describe(cmd::describe::Args),
    /// Print the logs of a container in a pod.
    Logs(cmd::logs::Args),
    /// Execute a command in a container.
    Exec(cmd::exec::Args),
    /// Delete pods gracefully (SIGTERM, the grace period, then SIGKILL).
    Delete(cmd::delete::Args),
    /// Wait for a condition on a pod.
    Wait(cmd::wait::Args),
    /// Manage the image store.
    Image(cmd::image::Args),
    /// Print a kubeconfig for the real kubectl (or merge it into yours with --merge).
    Kubeconfig(cmd::kubeconfig::Args),
}

/// Every client command's `--socket`.
#[derive(clap::Args, Clone, Debug)]
pub struct SocketArg {
    /// The daemon's API socket.
    #[arg(long, env = "BELUGA_SOCKET", default_value = DEFAULT_SOCKET, global = true)]
    pub socket: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        Command::Daemon(a) => cmd::daemon::run(*a),
        other => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            };
            let code = rt.block_on(async move {
                let r = match other {
                    Command::Apply(a) => cmd::apply::run(a).await,
                    Command::Get(a) => cmd::get::run(a).await,
                    Command::Describe(a) => cmd::describe::run(a).await,
                    Command::Logs(a) => cmd::logs::run(a).await,
                    Command::Exec(a) => cmd::exec::run(a).await,
                    Command::Delete(a) => cmd::delete::run(a).await,
                    Command::Wait(a) => cmd::wait::run(a).await,
                    Command::Image(a) => cmd::image::run(a).await,
                    Command::Kubeconfig(a) => cmd::kubeconfig::run(a).await,
                    Command::Daemon(_) => Ok(0),
                };
                match r {
                    Ok(code) => code,
                    Err(e) => {
                        if e.downcast_ref::<client::Verbatim>().is_some() {
                            eprintln!("{e:#}");
                        } else {
                            eprintln!("error: {e:#}");
                        }
                        1
                    }
                }
            });
            // Exit before the runtime is dropped: a blocking stdin read (exec -i) would hold it.
            std::process::exit(code);
        }
    };
    std::process::exit(code);
}
