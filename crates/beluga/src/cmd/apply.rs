//! `beluga apply -f FILE`: creates or updates every Namespace, ConfigMap, Secret, Service and
//! Pod of the file, in that order (file order within a kind), so a file applies whatever order
//! its documents are in.
//! The whole file is parsed, defaulted and validated first, so a bad document creates nothing.

use crate::client::{pods_path, resource_path, services_path, Client};
use anyhow::Result;
use beluga_api::manifest::{parse, Object, ValidateMode};
use beluga_api::{defaults, field, podutil, service, validation};
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
    let parsed = parse(&text, &a.file, a.validate)?;
    for w in &parsed.warnings {
        eprintln!("Warning: {w}");
    }
    let mut objects = parsed.objects;
    for o in objects.iter_mut() {
        let meta = o.metadata_mut();
        if meta.namespace.is_none() {
            meta.namespace = a.namespace.clone();
        }
        check(o)?;
    }
    // What others live in or name first (Namespaces, then ConfigMaps and Secrets, Services),
    // Pods last; file order within a kind.
    objects.sort_by_key(|o| o.apply_rank());
    let client = Client::new(&a.socket.socket);
    for o in objects {
        match o {
            Object::Pod(p) => apply_pod(&client, *p).await?,
            Object::Service(s) => apply_service(&client, *s).await?,
            Object::ConfigMap(c) => {
                apply_kept(&client, "configmaps", "configmap", &c.metadata, &*c).await?
            }
            Object::Namespace(mut n) => {
                // Compared as the apiserver keeps it (its name label, finalizer and phase).
                beluga_api::namespace::apply_defaults(&mut n);
                apply_kept(&client, "namespaces", "namespace", &n.metadata, &*n).await?
            }
            Object::ServiceAccount(sa) => {
                apply_kept(
                    &client,
                    "serviceaccounts",
                    "serviceaccount",
                    &sa.metadata,
                    &*sa,
                )
                .await?
            }
            Object::Secret(mut s) => {
                // Compared as the apiserver keeps it (its `stringData` merged into `data`).
                beluga_api::config::apply_secret_defaults(&mut s);
                apply_kept(&client, "secrets", "secret", &s.metadata, &*s).await?
            }
        }
    }
    Ok(0)
}

/// A kept object (ConfigMap, Secret): created, or replaced when anything but what the server
/// sets differs from what the daemon holds.
async fn apply_kept<T: serde::Serialize>(
    client: &Client,
    resource: &str,
    singular: &str,
    meta: &beluga_api::ObjectMeta,
    o: &T,
) -> Result<()> {
    let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
    let name = meta.name.clone().unwrap_or_default();
    let body = serde_json::to_vec(o)?;
    let path = resource_path(resource, Some(&ns), Some(&name));
    let Some(existing) = client.get_opt(&path).await? else {
        let at = resource_path(resource, Some(&ns), None);
        client.call(Method::POST, &at, Some(body)).await?;
        println!("{singular}/{name} created");
        return Ok(());
    };
    if user_fields(serde_json::to_value(o)?, &ns) == user_fields(existing, &ns) {
        println!("{singular}/{name} unchanged");
        return Ok(());
    }
    client.call(Method::PUT, &path, Some(body)).await?;
    println!("{singular}/{name} configured");
    Ok(())
}

/// An object without what the server sets in its metadata (uid, times, resourceVersion).
fn user_fields(mut v: serde_json::Value, ns: &str) -> serde_json::Value {
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.retain(|k, _| matches!(k.as_str(), "name" | "labels" | "annotations"));
        m.insert("namespace".into(), ns.into());
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("apiVersion");
        o.remove("kind");
    }
    v
}

/// Defaulting and validation before anything is sent, so that a bad file creates nothing.
fn check(o: &Object) -> Result<()> {
    let (kind, name, errs) = match o {
        Object::Pod(p) => {
            let mut checked = (**p).clone();
            defaults::apply(&mut checked);
            let errs = validation::validate_pod(&checked);
            ("Pod", podutil::name(&checked).to_string(), errs)
        }
        Object::Service(s) => {
            let mut checked = (**s).clone();
            service::apply_defaults(&mut checked);
            let errs = service::validation::validate(&checked);
            (
                "Service",
                checked.metadata.name.clone().unwrap_or_default(),
                errs,
            )
        }
        Object::ConfigMap(c) => {
            let errs = beluga_api::config::validation::validate_config_map(c);
            (
                "ConfigMap",
                c.metadata.name.clone().unwrap_or_default(),
                errs,
            )
        }
        Object::ServiceAccount(sa) => (
            "ServiceAccount",
            sa.metadata.name.clone().unwrap_or_default(),
            beluga_api::serviceaccount::validate(sa),
        ),
        Object::Namespace(n) => (
            "Namespace",
            n.metadata.name.clone().unwrap_or_default(),
            beluga_api::namespace::validate(n),
        ),
        Object::Secret(s) => {
            let mut checked = (**s).clone();
            beluga_api::config::apply_secret_defaults(&mut checked);
            let errs = beluga_api::config::validation::validate_secret(&checked);
            (
                "Secret",
                checked.metadata.name.clone().unwrap_or_default(),
                errs,
            )
        }
    };
    if errs.is_empty() {
        return Ok(());
    }
    let msg = field::kubectl_message(kind, &name, &errs);
    Err(crate::client::Verbatim(msg).into())
}

async fn apply_pod(client: &Client, p: beluga_api::Pod) -> Result<()> {
    let ns = p
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = podutil::name(&p).to_string();
    let body = serde_json::to_vec(&p)?;
    let Some(existing) = client.get_opt(&pods_path(Some(&ns), Some(&name))).await? else {
        client
            .call(Method::POST, &pods_path(Some(&ns), None), Some(body))
            .await?;
        println!("pod/{name} created");
        return Ok(());
    };
    let mut want = p.clone();
    want.metadata.namespace = Some(ns.clone());
    defaults::apply(&mut want);
    let old: beluga_api::Pod = serde_json::from_value(existing)?;
    // What the ServiceAccount admission added at create is the server's (kept by a PUT too).
    beluga_api::serviceaccount::carry_admitted(&old, &mut want);
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
        return Ok(());
    }
    client
        .call(Method::PUT, &pods_path(Some(&ns), Some(&name)), Some(body))
        .await?;
    println!("pod/{name} configured");
    Ok(())
}

/// A Service: created, or replaced when its spec, labels or annotations differ from what the
/// daemon holds (what the daemon allocated counts as unchanged).
async fn apply_service(client: &Client, s: beluga_api::Service) -> Result<()> {
    let ns = s
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let name = s.metadata.name.clone().unwrap_or_default();
    let body = serde_json::to_vec(&s)?;
    let path = services_path(Some(&ns), Some(&name));
    let Some(existing) = client.get_opt(&path).await? else {
        client
            .call(Method::POST, &services_path(Some(&ns), None), Some(body))
            .await?;
        println!("service/{name} created");
        return Ok(());
    };
    let old: beluga_api::Service = serde_json::from_value(existing)?;
    let mut want = s.clone();
    want.metadata.namespace = Some(ns.clone());
    service::apply_defaults(&mut want);
    service::patch_allocated_values(&mut want, &old);
    let same = {
        let (mut a, b) = (
            want.spec.clone().unwrap_or_default(),
            old.spec.clone().unwrap_or_default(),
        );
        a.ip_families = b.ip_families.clone();
        a.ip_family_policy = b.ip_family_policy.clone();
        a == b
    };
    if same
        && want.metadata.labels == old.metadata.labels
        && want.metadata.annotations == old.metadata.annotations
    {
        println!("service/{name} unchanged");
        return Ok(());
    }
    client.call(Method::PUT, &path, Some(body)).await?;
    println!("service/{name} configured");
    Ok(())
}
