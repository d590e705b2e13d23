//! `beluga apply -f FILE`: creates or updates every Pod of the file. The whole file is parsed,
//! defaulted and validated first, so a bad document creates nothing.

use crate::client::{pods_path, Client};
use anyhow::Result;
use beluga_api::manifest::{parse_pods, ValidateMode};
use beluga_api::{defaults, field, podutil, validation};
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    /// The manifest (YAML or JSON; `-` reads stdin).
    #[arg(short = 'f', long = "filename", required = true)]
    file: String,
    /// Namespace for objects that name none.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// strict (or true): unknown fields are errors; warn: printed; ignore (or false).
    #[arg(long, default_value = "strict")]
    validate: ValidateMode,
    #[command(flatten)]
    socket: crate::SocketArg,
}

pub async fn run(a: Args) -> Result<i32> {
    let text = super::read_source(&a.file)?;
    let parsed = parse_pods(&text, &a.file, a.validate)?;
    for w in &parsed.warnings {
        eprintln!("Warning: {w}");
    }
    let mut pods = parsed.pods;
    for p in pods.iter_mut() {
        if p.metadata.namespace.is_none() {
            p.metadata.namespace = a.namespace.clone();
        }
        let mut checked = p.clone();
        defaults::apply(&mut checked);
        let errs = validation::validate_pod(&checked);
        if !errs.is_empty() {
            let msg = field::kubectl_message("Pod", podutil::name(&checked), &errs);
            return Err(crate::client::Verbatim(msg).into());
        }
    }
    let client = Client::new(&a.socket.socket);
    for p in pods {
        let ns = p
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let name = podutil::name(&p).to_string();
        let body = serde_json::to_vec(&p)?;
        match client.get_opt(&pods_path(Some(&ns), Some(&name))).await? {
            None => {
                client
                    .call(Method::POST, &pods_path(Some(&ns), None), Some(body))
                    .await?;
                println!("pod/{name} created");
            }
            Some(existing) => {
                let mut want = p.clone();
                want.metadata.namespace = Some(ns.clone());
                defaults::apply(&mut want);
                let old: beluga_api::Pod = serde_json::from_value(existing)?;
                let same_spec = {
                    let mut a = want.spec.clone().unwrap_or_default();
                    let b = old.spec.clone().unwrap_or_default();
                    a.node_name = b.node_name.clone();
                    a == b
                };
                if same_spec
                    && want.metadata.labels == old.metadata.labels
                    && want.metadata.annotations == old.metadata.annotations
                {
                    println!("pod/{name} unchanged");
                    continue;
                }
                client
                    .call(Method::PUT, &pods_path(Some(&ns), Some(&name)), Some(body))
                    .await?;
                println!("pod/{name} configured");
            }
        }
    }
    Ok(0)
}
