//! `beluga delete pod|service|configmap|secret|serviceaccount|namespace NAME… | -f FILE`: graceful deletion of pods (spec §7.5–§7.6),
//! waiting by default until each pod is gone, as kubectl does; the other kinds go at once.

use super::get::{Resource, CONFIG_MAPS, NAMESPACES, PODS, SECRETS, SERVICES, SERVICE_ACCOUNTS};
use crate::client::{Client, Lines};
use anyhow::{bail, Result};
use beluga_api::manifest::{parse, Object, ValidateMode};
use hyper::Method;

/// What one deletion names.
struct Target {
    res: Resource,
    ns: String,
    name: String,
}

/// The kind a `delete` argument names.
fn resource_of(word: &str) -> Option<Resource> {
    match word {
        "pod" | "pods" | "po" => Some(PODS),
        "service" | "services" | "svc" => Some(SERVICES),
        "configmap" | "configmaps" | "cm" => Some(CONFIG_MAPS),
        "secret" | "secrets" => Some(SECRETS),
        "namespace" | "namespaces" | "ns" => Some(NAMESPACES),
        "serviceaccount" | "serviceaccounts" | "sa" => Some(SERVICE_ACCOUNTS),
        _ => None,
    }
}

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
    for Target { res, ns, name } in &targets {
        let mut path = res.path(Some(ns), Some(name));
        if res.plural != "pods" {
            match client.call(Method::DELETE, &path, None).await {
                Ok(_) => {
                    println!("{} {name:?} deleted", res.singular);
                    if a.wait && res.plural == "namespaces" {
                        // As kubectl: until the namespace controller has emptied and removed it.
                        until_gone(&client, &path).await?;
                    }
                }
                Err(e) => {
                    eprintln!("{e}");
                    code = 1;
                }
            }
            continue;
        }
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

/// Asks for an object until it is no more (namespaces have no watch here yet).
async fn until_gone(client: &Client, path: &str) -> Result<()> {
    while client.get_opt(path).await?.is_some() {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
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

/// What to delete: every object of a kind (`--all`), those of a file (`-f`, in its order), or
/// the arguments (`pod NAME…`, `svc/NAME…`), with kubectl's errors.
async fn targets(a: &Args, client: &Client) -> Result<Vec<Target>> {
    let target = |res: Resource, name: &str| Target {
        res,
        ns: a.namespace.clone(),
        name: name.to_string(),
    };
    if a.all {
        let Some(res) = (match a.args.as_slice() {
            [r] => resource_of(r),
            _ => None,
        }) else {
            bail!("--all applies to a resource type alone: `delete pods --all`");
        };
        let list = client
            .json(Method::GET, &res.path(Some(&a.namespace), None), None)
            .await?;
        let names = list["items"].as_array().cloned().unwrap_or_default();
        return Ok(names
            .iter()
            .filter_map(|o| o["metadata"]["name"].as_str())
            .map(|n| target(res, n))
            .collect());
    }
    if let Some(f) = &a.file {
        let text = super::read_source(f)?;
        return Ok(parse(&text, f, ValidateMode::Ignore)?
            .objects
            .iter()
            .map(|o| {
                let res = match o {
                    Object::Pod(_) => PODS,
                    Object::Service(_) => SERVICES,
                    Object::ConfigMap(_) => CONFIG_MAPS,
                    Object::Secret(_) => SECRETS,
                    Object::Namespace(_) => NAMESPACES,
                    Object::ServiceAccount(_) => SERVICE_ACCOUNTS,
                };
                let m = o.metadata();
                Target {
                    res,
                    ns: m.namespace.clone().unwrap_or_else(|| a.namespace.clone()),
                    name: m.name.clone().unwrap_or_default(),
                }
            })
            .collect());
    }
    let mut targets = Vec::new();
    let mut it = a.args.iter();
    match it.next().map(String::as_str) {
        Some(r) if r.contains('/') => {
            for r in std::iter::once(r).chain(it.map(String::as_str)) {
                let (kind, name) = r.split_once('/').unwrap_or(("", r));
                match resource_of(kind) {
                    Some(res) => targets.push(target(res, name)),
                    None => bail!("the server doesn't have a resource type {kind:?}"),
                }
            }
        }
        Some(r) => match resource_of(r) {
            Some(res) => targets.extend(it.map(|n| target(res, n))),
            None => bail!("the server doesn't have a resource type {r:?}"),
        },
        None => bail!("You must provide one or more resources by argument or filename."),
    }
    if targets.is_empty() {
        bail!("resource(s) were provided, but no name was specified");
    }
    Ok(targets)
}
