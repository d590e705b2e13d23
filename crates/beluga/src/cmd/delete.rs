//! `beluga delete pod NAME… | -f FILE`: graceful deletion (spec §7.5–§7.6), waiting by default
//! until the pod is gone, as kubectl does.

use crate::client::{pods_path, Client, Lines};
use anyhow::{bail, Result};
use beluga_api::manifest::{parse_pods, ValidateMode};
use beluga_api::podutil;
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    /// `pod NAME…` or `pod/NAME`.
    args: Vec<String>,
    /// Delete the pods of a manifest.
    #[arg(short = 'f', long = "filename")]
    file: Option<String>,
    /// Delete every pod of the namespace.
    #[arg(long)]
    all: bool,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Seconds given to the pod to stop; -1 uses the pod's terminationGracePeriodSeconds.
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    grace_period: i64,
    /// Same as --grace-period=1.
    #[arg(long)]
    now: bool,
    /// With --grace-period=0: skip the stop signal.
    #[arg(long)]
    force: bool,
    /// Wait until the pods are gone.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    wait: bool,
    #[command(flatten)]
    socket: crate::SocketArg,
}

pub async fn run(a: Args) -> Result<i32> {
    let client = Client::new(&a.socket.socket);
    let targets = targets(&a, &client).await?;
    if a.all && targets.is_empty() {
        println!("No resources found");
        return Ok(0);
    }
    let mut grace = if a.now { 1 } else { a.grace_period };
    if grace == 0 && !a.force {
        // kubectl: --grace-period=0 without --force means 1 second.
        grace = 1;
    }
    if a.force && grace == 0 {
        eprintln!("Warning: Immediate deletion does not wait for confirmation that the running resource has been terminated. The resource may continue to run on the cluster indefinitely.");
    }
    let mut code = 0;
    // As kubectl: every delete is sent first, then the waits, so pods stop in parallel.
    let mut waits = Vec::new();
    for (ns, name) in &targets {
        let mut path = pods_path(Some(ns), Some(name));
        // Subscribe before deleting so the DELETED event cannot be missed.
        let watch = if a.wait {
            Some(client.stream(&format!("{path}?watch=1")).await)
        } else {
            None
        };
        if grace >= 0 {
            path.push_str(&format!("?gracePeriodSeconds={grace}"));
        }
        match client.call(Method::DELETE, &path, None).await {
            Ok(_) => println!("pod {name:?} deleted"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
                continue;
            }
        }
        if let Some(Ok(body)) = watch {
            waits.push(tokio::spawn(until_deleted(body)));
        }
    }
    for w in waits {
        let _ = w.await;
    }
    Ok(code)
}

/// Reads a pod's watch until its DELETED event.
async fn until_deleted(body: hyper::body::Incoming) {
    let mut lines = Lines::new(body);
    while let Some(l) = lines.next().await {
        let v: serde_json::Value = serde_json::from_slice(&l).unwrap_or_default();
        if v["type"] == "DELETED" {
            break;
        }
    }
}

/// The (namespace, name) pairs to delete: every pod (`--all`), those of a file (`-f`), or the
/// arguments (`pod NAME…`, `pod/NAME…`), with kubectl's errors.
async fn targets(a: &Args, client: &Client) -> Result<Vec<(String, String)>> {
    let mut targets: Vec<(String, String)> = Vec::new();
    if a.all {
        if !matches!(a.args.as_slice(), [r] if matches!(r.as_str(), "pod" | "pods" | "po")) {
            bail!("--all applies to a resource type alone: `delete pods --all`");
        }
        let list = client
            .json(Method::GET, &pods_path(Some(&a.namespace), None), None)
            .await?;
        for p in list["items"].as_array().into_iter().flatten() {
            if let Some(name) = p["metadata"]["name"].as_str() {
                targets.push((a.namespace.clone(), name.to_string()));
            }
        }
        return Ok(targets);
    }
    if let Some(f) = &a.file {
        let text = super::read_source(f)?;
        for p in parse_pods(&text, f, ValidateMode::Ignore)?.pods {
            let ns = p.metadata.namespace.clone();
            targets.push((
                ns.unwrap_or_else(|| a.namespace.clone()),
                podutil::name(&p).to_string(),
            ));
        }
        return Ok(targets);
    }
    let mut it = a.args.iter();
    match it.next().map(String::as_str) {
        Some(r) if r.starts_with("pod/") || r.starts_with("pods/") => {
            let first = r.split_once('/').map(|x| x.1).unwrap_or_default();
            targets.push((a.namespace.clone(), first.to_string()));
            for r in it {
                let name = r.rsplit('/').next().unwrap_or(r);
                targets.push((a.namespace.clone(), name.to_string()));
            }
        }
        Some("pod" | "pods" | "po") => targets.extend(it.map(|n| (a.namespace.clone(), n.clone()))),
        Some(other) => bail!("the server doesn't have a resource type {other:?}"),
        None => bail!("You must provide one or more resources by argument or filename."),
    }
    if targets.is_empty() {
        bail!("resource(s) were provided, but no name was specified");
    }
    Ok(targets)
}
