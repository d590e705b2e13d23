//! `beluga describe pod NAME`: kubectl's describe layout.

use crate::client::{encode, pods_path, Client};
use anyhow::{bail, Result};
use beluga_api::k8s_openapi::api::core::v1::Event;
use beluga_api::k8s_openapi::jiff::Timestamp;
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    /// `pod NAME` or `pod/NAME`.
    args: Vec<String>,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    #[command(flatten)]
    socket: crate::SocketArg,
}

pub async fn run(a: Args) -> Result<i32> {
    let names: Vec<String> = match a.args.as_slice() {
        [r] if r.starts_with("pod/") || r.starts_with("pods/") => vec![r
            .split_once('/')
            .map(|x| x.1.to_string())
            .unwrap_or_default()],
        [kind, rest @ ..] if matches!(kind.as_str(), "pod" | "pods" | "po") => rest.to_vec(),
        _ => bail!("usage: beluga describe pod NAME"),
    };
    let client = Client::new(&a.socket.socket);
    let names = if names.is_empty() {
        let list = client
            .json(Method::GET, &pods_path(Some(&a.namespace), None), None)
            .await?;
        list["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p["metadata"]["name"].as_str().map(String::from))
            .collect()
    } else {
        names
    };
    for (i, name) in names.iter().enumerate() {
        let pod: beluga_api::Pod = serde_json::from_value(
            client
                .json(
                    Method::GET,
                    &pods_path(Some(&a.namespace), Some(name)),
                    None,
                )
                .await?,
        )?;
        let ev = client
            .json(
                Method::GET,
                &format!(
                    "/api/v1/namespaces/{}/events?fieldSelector={}",
                    a.namespace,
                    encode(&format!("involvedObject.name={name}"))
                ),
                None,
            )
            .await?;
        let events: Vec<Event> = serde_json::from_value(ev["items"].clone()).unwrap_or_default();
        if i > 0 {
            println!("\n");
        }
        print!(
            "{}",
            beluga_api::describe::pod(&pod, &events, Timestamp::now())
        );
    }
    Ok(0)
}
