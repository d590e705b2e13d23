//! `beluga logs POD [-c C] [-f] [-p] [--timestamps] [--tail N] [--all-containers]`.

use crate::client::{encode, pods_path, Client};
use anyhow::Result;
use http_body_util::BodyExt;
use std::io::Write;

#[derive(clap::Args)]
pub struct Args {
    /// The pod (`NAME` or `pod/NAME`).
    pod: String,
    /// The container (required when the pod has several).
    #[arg(short = 'c', long)]
    container: Option<String>,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// Stream new lines until the container exits.
    #[arg(short = 'f', long)]
    follow: bool,
    /// The previous instance of the container.
    #[arg(short = 'p', long)]
    previous: bool,
    /// Prefix each line with its RFC3339Nano time.
    #[arg(long)]
    timestamps: bool,
    /// Lines from the end (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    tail: i64,
    /// Every container of the pod, init containers first.
    #[arg(long)]
    all_containers: bool,
    /// Prefix each line with `[pod/NAME/CONTAINER]`.
    #[arg(long)]
    prefix: bool,
    #[command(flatten)]
    socket: crate::SocketArg,
}

pub async fn run(a: Args) -> Result<i32> {
    let pod = a.pod.strip_prefix("pod/").unwrap_or(&a.pod).to_string();
    let client = Client::new(&a.socket.socket);
    let containers: Vec<Option<String>> = if a.all_containers {
        let p = client
            .json(
                hyper::Method::GET,
                &pods_path(Some(&a.namespace), Some(&pod)),
                None,
            )
            .await?;
        let names = |k: &str| -> Vec<String> {
            p["spec"][k]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        names("initContainers")
            .into_iter()
            .chain(names("containers"))
            .map(Some)
            .collect()
    } else {
        vec![a.container.clone()]
    };
    let mut tasks = Vec::new();
    for c in containers {
        let mut q = vec![
            format!("follow={}", a.follow),
            format!("previous={}", a.previous),
            format!("timestamps={}", a.timestamps),
        ];
        if a.tail >= 0 {
            q.push(format!("tailLines={}", a.tail));
        }
        if let Some(c) = &c {
            q.push(format!("container={}", encode(c)));
        }
        let path = format!(
            "{}/log?{}",
            pods_path(Some(&a.namespace), Some(&pod)),
            q.join("&")
        );
        let prefix = (a.prefix).then(|| format!("[pod/{pod}/{}] ", c.clone().unwrap_or_default()));
        let body = match client.stream(&path).await {
            Ok(b) => b,
            // With --all-containers, a container that has not started yet is skipped.
            Err(e) if a.all_containers && e.to_string().contains("waiting to start") => continue,
            Err(e) => return Err(e),
        };
        let task = async move {
            let mut body = body;
            let mut pending: Vec<u8> = Vec::new();
            while let Some(Ok(f)) = body.frame().await {
                let Ok(d) = f.into_data() else { continue };
                let mut out = std::io::stdout().lock();
                match &prefix {
                    None => {
                        let _ = out.write_all(&d);
                    }
                    Some(p) => {
                        pending.extend_from_slice(&d);
                        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=i).collect();
                            let _ = out.write_all(p.as_bytes());
                            let _ = out.write_all(&line);
                        }
                    }
                }
                let _ = out.flush();
            }
        };
        if a.follow {
            tasks.push(tokio::spawn(task));
        } else {
            task.await;
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    Ok(0)
}
