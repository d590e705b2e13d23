//! `beluga describe pod|service|configmap|secret|serviceaccount|namespace NAME`: kubectl's describe layout.

use crate::client::{encode, pods_path, resource_path, services_path, Client};
use anyhow::{bail, Result};
use beluga_api::k8s_openapi::api::core::v1::Event;
use beluga_api::k8s_openapi::jiff::Timestamp;
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    /// `pod NAME`, `service NAME`, `configmap NAME`, `secret NAME`, `namespace NAME`, or
    /// `pod/NAME`, `svc/NAME`, `cm/NAME`, `secret/NAME`, `ns/NAME`.
    args: Vec<String>,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    #[command(flatten)]
    socket: crate::SocketArg,
}

pub async fn run(a: Args) -> Result<i32> {
    let service = match a.args.as_slice() {
        [r] => r.split_once('/').map(|x| x.0),
        [kind, ..] => Some(kind.as_str()),
        [] => None,
    };
    match service {
        Some("service" | "services" | "svc") => return describe_services(&a).await,
        Some("configmap" | "configmaps" | "cm") => {
            return describe_kept::<beluga_api::ConfigMap>(&a, "configmaps", |c| {
                beluga_api::config::print::describe_config_map(c)
            })
            .await
        }
        Some("serviceaccount" | "serviceaccounts" | "sa") => {
            return describe_kept::<beluga_api::ServiceAccount>(&a, "serviceaccounts", |s| {
                beluga_api::serviceaccount::describe(s)
            })
            .await;
        }
        Some("namespace" | "namespaces" | "ns") => {
            return describe_kept::<beluga_api::Namespace>(&a, "namespaces", |n| {
                beluga_api::namespace::describe(n)
            })
            .await
        }
        Some("secret" | "secrets") => {
            return describe_kept::<beluga_api::Secret>(&a, "secrets", |s| {
                beluga_api::config::print::describe_secret(s)
            })
            .await
        }
        _ => {}
    }
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

/// The names a `describe KIND NAME…` or `describe KIND/NAME` gives.
fn named(args: &[String]) -> Vec<String> {
    match args {
        [r] if r.contains('/') => vec![r
            .split_once('/')
            .map(|x| x.1.to_string())
            .unwrap_or_default()],
        [_, rest @ ..] => rest.to_vec(),
        [] => vec![],
    }
}

/// `describe configmap|secret NAME…` (every one of the namespace with no name).
async fn describe_kept<T: serde::de::DeserializeOwned>(
    a: &Args,
    resource: &str,
    text: impl Fn(&T) -> String,
) -> Result<i32> {
    let client = Client::new(&a.socket.socket);
    let names = named(&a.args);
    let objects: Vec<T> = if names.is_empty() {
        let list = client
            .json(
                Method::GET,
                &resource_path(resource, Some(&a.namespace), None),
                None,
            )
            .await?;
        serde_json::from_value(list["items"].clone())?
    } else {
        let mut found = Vec::new();
        for n in &names {
            let at = resource_path(resource, Some(&a.namespace), Some(n));
            found.push(serde_json::from_value(
                client.json(Method::GET, &at, None).await?,
            )?);
        }
        found
    };
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            println!("\n");
        }
        print!("{}", text(o));
    }
    Ok(0)
}

/// `describe service NAME…` (every Service of the namespace with no name), its endpoints from
/// the pods its selector matches.
async fn describe_services(a: &Args) -> Result<i32> {
    let names = named(&a.args);
    let client = Client::new(&a.socket.socket);
    let services: Vec<beluga_api::Service> = if names.is_empty() {
        let list = client
            .json(Method::GET, &services_path(Some(&a.namespace), None), None)
            .await?;
        serde_json::from_value(list["items"].clone())?
    } else {
        let mut found = Vec::new();
        for n in &names {
            let v = client
                .json(
                    Method::GET,
                    &services_path(Some(&a.namespace), Some(n)),
                    None,
                )
                .await?;
            found.push(serde_json::from_value(v)?);
        }
        found
    };
    let pods = client
        .json(Method::GET, &pods_path(Some(&a.namespace), None), None)
        .await?;
    let pods: Vec<beluga_api::Pod> = serde_json::from_value(pods["items"].clone())?;
    for (i, svc) in services.iter().enumerate() {
        if i > 0 {
            println!("\n");
        }
        let endpoints =
            |p: &beluga_api::ServicePort| beluga_api::service::slices::describe_line(svc, p, &pods);
        print!(
            "{}",
            beluga_api::service::print::describe(svc, &[], Timestamp::now(), &endpoints)
        );
    }
    Ok(0)
}
