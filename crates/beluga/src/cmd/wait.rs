//! `beluga wait pod/NAME --for=condition=Ready|--for=delete|--for=jsonpath='{.status.phase}'=Running`,
//! or `beluga wait pods --all --for=…`: every pod of the namespace as it was when the wait began.

use crate::client::{pods_path, watch_event, Client, Lines};
use anyhow::{bail, Result};
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    /// `pod/NAME`, or `pods` with --all.
    target: String,
    /// Wait for every pod of the namespace (those present when the wait starts).
    #[arg(long)]
    all: bool,
    /// condition=NAME[=VALUE], delete, or jsonpath='{.path}'=VALUE.
    #[arg(long = "for")]
    for_: String,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// How long to wait (30s, 5m).
    #[arg(long, default_value = "30s", value_parser = super::daemon::parse_duration)]
    timeout: std::time::Duration,
    #[command(flatten)]
    socket: crate::SocketArg,
}

enum Want {
    Condition(String, String),
    Delete,
    JsonPath(Vec<String>, String),
}

fn parse_for(s: &str) -> Result<Want> {
    if s == "delete" {
        return Ok(Want::Delete);
    }
    if let Some(c) = s.strip_prefix("condition=") {
        let (name, value) = c.split_once('=').unwrap_or((c, "true"));
        return Ok(Want::Condition(
            name.to_ascii_lowercase(),
            value.to_ascii_lowercase(),
        ));
    }
    if let Some(j) = s.strip_prefix("jsonpath=") {
        let (path, value) = j.rsplit_once('=').ok_or_else(|| {
            anyhow::anyhow!(
                "jsonpath wait format must be --for=jsonpath='{{.status.readyReplicas}}'=3"
            )
        })?;
        let path = path
            .trim_matches('\'')
            .trim_start_matches('{')
            .trim_end_matches('}')
            .trim_start_matches('.');
        return Ok(Want::JsonPath(
            path.split('.').map(String::from).collect(),
            value.to_string(),
        ));
    }
    bail!("unrecognized condition: {s:?}")
}

fn met(want: &Want, pod: &serde_json::Value) -> bool {
    match want {
        Want::Delete => false,
        Want::Condition(name, value) => pod["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"].as_str().map(str::to_ascii_lowercase).as_deref() == Some(name)
                    && c["status"].as_str().map(str::to_ascii_lowercase).as_deref() == Some(value)
            })
        }),
        Want::JsonPath(path, value) => {
            let mut v = pod;
            for p in path {
                v = &v[p.as_str()];
            }
            match v {
                serde_json::Value::String(s) => s == value,
                other => {
                    serde_json::from_str::<serde_json::Value>(value).is_ok_and(|v| &v == other)
                }
            }
        }
    }
}

pub async fn run(a: Args) -> Result<i32> {
    if a.all {
        return run_all(a).await;
    }
    let name = a
        .target
        .strip_prefix("pod/")
        .or_else(|| a.target.strip_prefix("pods/"))
        .unwrap_or(&a.target)
        .to_string();
    let want = parse_for(&a.for_)?;
    let client = Client::new(&a.socket.socket);
    let path = pods_path(Some(&a.namespace), Some(&name));
    let body = match client.stream(&format!("{path}?watch=1")).await {
        Ok(b) => b,
        Err(e) => {
            if matches!(want, Want::Delete) && e.to_string().contains("NotFound") {
                println!("pod/{name} condition met");
                return Ok(0);
            }
            return Err(e);
        }
    };
    let mut lines = Lines::new(body);
    let fut = async {
        while let Some(l) = lines.next().await {
            let Some((deleted, pod)) = watch_event::<serde_json::Value>(&l) else {
                continue;
            };
            if deleted {
                return matches!(want, Want::Delete);
            }
            if met(&want, &pod) {
                return true;
            }
        }
        matches!(want, Want::Delete)
    };
    match tokio::time::timeout(a.timeout, fut).await {
        Ok(true) => {
            println!("pod/{name} condition met");
            Ok(0)
        }
        Ok(false) => bail!("pods {name:?} was deleted while waiting"),
        Err(_) => bail!("timed out waiting for the condition on pods/{name}"),
    }
}

/// `--all`: one namespace watch; its initial ADDED events name the pods to wait for.
async fn run_all(a: Args) -> Result<i32> {
    if !matches!(a.target.as_str(), "pod" | "pods" | "po") {
        bail!(
            "--all applies to a resource type (pods), not to {:?}",
            a.target
        );
    }
    let want = parse_for(&a.for_)?;
    let client = Client::new(&a.socket.socket);
    let list = client
        .json(Method::GET, &pods_path(Some(&a.namespace), None), None)
        .await?;
    let mut pending: std::collections::BTreeSet<String> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
        .collect();
    if pending.is_empty() {
        bail!("no matching resources found");
    }
    let body = client
        .stream(&format!("{}?watch=1", pods_path(Some(&a.namespace), None)))
        .await?;
    let mut lines = Lines::new(body);
    let mut failed = false;
    let fut = async {
        while let Some(l) = lines.next().await {
            let Some((deleted, pod)) = watch_event::<serde_json::Value>(&l) else {
                continue;
            };
            let Some(name) = pod["metadata"]["name"].as_str() else {
                continue;
            };
            let done = if deleted {
                matches!(want, Want::Delete)
            } else {
                met(&want, &pod)
            };
            if (done || deleted) && pending.remove(name) {
                if done {
                    println!("pod/{name} condition met");
                } else {
                    eprintln!("error: pods {name:?} was deleted while waiting");
                    failed = true;
                }
            }
            if pending.is_empty() {
                break;
            }
        }
    };
    let timed_out = tokio::time::timeout(a.timeout, fut).await.is_err();
    if timed_out {
        for name in &pending {
            eprintln!("error: timed out waiting for the condition on pods/{name}");
        }
        return Ok(1);
    }
    Ok(i32::from(failed))
}
