//! `beluga get pods|services|configmaps|secrets|serviceaccounts|namespaces|events [NAME]`: kubectl's tables, or `-o json|yaml|name|wide`.

use crate::client::{pods_path, resource_path, Client};
use anyhow::{bail, Result};
use beluga_api::duration::human_duration;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::printer::{format_table, pods_table};
use beluga_api::table::Table;
use beluga_api::Pod;
use hyper::Method;

#[derive(clap::Args)]
pub struct Args {
    /// `pods` (pod, po), `services` (service, svc), `configmaps` (configmap, cm), `secrets`
    /// (secret), `serviceaccounts` (serviceaccount, sa), `namespaces` (namespace, ns), `endpointslices`, `endpoints` (ep) or `events`
    /// (event, ev); `pod/NAME` also works.
    resource: String,
    /// Pod names (all pods when none).
    names: Vec<String>,
    /// The namespace of the pods.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// All namespaces.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// json, yaml, wide or name.
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// After listing, watch for changes (pods only), as `kubectl get -w`.
    #[arg(short = 'w', long)]
    watch: bool,
    #[command(flatten)]
    socket: crate::SocketArg,
}

pub fn to_yaml(v: &serde_json::Value) -> Result<String> {
    Ok(serde_saphyr::to_string(v)?)
}

pub async fn run(a: Args) -> Result<i32> {
    let (resource, mut names) = match a.resource.split_once('/') {
        Some((r, n)) => (r.to_string(), vec![n.to_string()]),
        None => (a.resource.clone(), vec![]),
    };
    names.extend(a.names.clone());
    let client = Client::new(&a.socket.socket);
    let ns = (!a.all_namespaces).then_some(a.namespace.as_str());
    match resource.as_str() {
        "pods" | "pod" | "po" if a.watch => {
            watch_pods(&client, ns, &names, a.output.as_deref()).await
        }
        "pods" | "pod" | "po" => get_objects(&client, PODS, ns, &names, a.output.as_deref()).await,
        "services" | "service" | "svc" => {
            get_objects(&client, SERVICES, ns, &names, a.output.as_deref()).await
        }
        "configmaps" | "configmap" | "cm" => {
            get_objects(&client, CONFIG_MAPS, ns, &names, a.output.as_deref()).await
        }
        "secrets" | "secret" => {
            get_objects(&client, SECRETS, ns, &names, a.output.as_deref()).await
        }
        "serviceaccounts" | "serviceaccount" | "sa" => {
            get_objects(&client, SERVICE_ACCOUNTS, ns, &names, a.output.as_deref()).await
        }
        "namespaces" | "namespace" | "ns" => {
            get_objects(&client, NAMESPACES, None, &names, a.output.as_deref()).await
        }
        "endpoints" | "ep" => {
            get_objects(&client, ENDPOINTS, ns, &names, a.output.as_deref()).await
        }
        "endpointslices" | "endpointslice" | "endpointslices.discovery.k8s.io" => {
            get_objects(&client, ENDPOINT_SLICES, ns, &names, a.output.as_deref()).await
        }
        "events" | "event" | "ev" => get_events(&client, ns, a.output.as_deref()).await,
        other => bail!("the server doesn't have a resource type {other:?}"),
    }
}

/// A kind `get` lists: its API group's path, its URL's resource and the prefix of `-o name`.
#[derive(Clone, Copy)]
pub struct Resource {
    pub group: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
}

pub const PODS: Resource = Resource {
    group: "/api/v1",
    plural: "pods",
    singular: "pod",
};
pub const SERVICES: Resource = Resource {
    group: "/api/v1",
    plural: "services",
    singular: "service",
};
pub const CONFIG_MAPS: Resource = Resource {
    group: "/api/v1",
    plural: "configmaps",
    singular: "configmap",
};
pub const SECRETS: Resource = Resource {
    group: "/api/v1",
    plural: "secrets",
    singular: "secret",
};
pub const NAMESPACES: Resource = Resource {
    group: "/api/v1",
    plural: "namespaces",
    singular: "namespace",
};
pub const SERVICE_ACCOUNTS: Resource = Resource {
    group: "/api/v1",
    plural: "serviceaccounts",
    singular: "serviceaccount",
};
pub const ENDPOINTS: Resource = Resource {
    group: "/api/v1",
    plural: "endpoints",
    singular: "endpoints",
};
pub const ENDPOINT_SLICES: Resource = Resource {
    group: "/apis/discovery.k8s.io/v1",
    plural: "endpointslices",
    singular: "endpointslice.discovery.k8s.io",
};

impl Resource {
    /// `<group>/[namespaces/{ns}/]{resource}[/{name}]`.
    pub fn path(&self, ns: Option<&str>, name: Option<&str>) -> String {
        let tail = resource_path(self.plural, ns, name);
        format!("{}{}", self.group, tail.trim_start_matches("/api/v1"))
    }
}

async fn get_objects(
    client: &Client,
    res: Resource,
    ns: Option<&str>,
    names: &[String],
    output: Option<&str>,
) -> Result<i32> {
    match output {
        None | Some("wide") => print_table(client, res, ns, names, output == Some("wide")).await,
        Some("json" | "yaml" | "name") => print_objects(client, res, ns, names, output).await,
        Some(other) => bail!("unable to match a printer suitable for the output format {other:?}, allowed formats are: json,name,wide,yaml"),
    }
}

/// One GET per named object (in `ns`, `default` for `-A`); a missing one is kubectl's NotFound
/// line and exit code 1.
async fn each_named<T>(
    res: Resource,
    ns: Option<&str>,
    names: &[String],
    get: impl AsyncFn(String) -> Result<Option<T>>,
) -> Result<(Vec<T>, i32)> {
    let (mut found, mut code) = (Vec::new(), 0);
    for n in names {
        let path = res.path(Some(ns.unwrap_or("default")), Some(n));
        match get(path).await? {
            Some(t) => found.push(t),
            None => {
                eprintln!(
                    "Error from server (NotFound): {} {n:?} not found",
                    res.plural
                );
                code = 1;
            }
        }
    }
    Ok((found, code))
}

/// The table from the daemon's server-side Table, as kubectl prints one (no object is parsed
/// here).
async fn print_table(
    client: &Client,
    res: Resource,
    ns: Option<&str>,
    names: &[String],
    wide: bool,
) -> Result<i32> {
    let (tables, code) = if names.is_empty() {
        let list = client.get_table(&res.path(ns, None)).await?;
        (list.into_iter().collect(), 0)
    } else {
        each_named(res, ns, names, async |path| client.get_table(&path).await).await?
    };
    // One table: the first one's columns, every one's rows.
    let table = tables.into_iter().reduce(|mut all: Table, t| {
        all.rows.extend(t.rows);
        all
    });
    match table.filter(|t| !t.rows.is_empty()) {
        Some(t) => {
            // Namespaces live in none: no NAMESPACE column for them.
            let all = ns.is_none() && res.plural != "namespaces";
            print!("{}", beluga_api::table::render(&t, wide, all))
        }
        None if names.is_empty() => match ns {
            Some(ns) => eprintln!("No resources found in {ns} namespace."),
            None => eprintln!("No resources found"),
        },
        None => {}
    }
    Ok(code)
}

/// `-o json|yaml|name`: the objects themselves.
async fn print_objects(
    client: &Client,
    res: Resource,
    ns: Option<&str>,
    names: &[String],
    output: Option<&str>,
) -> Result<i32> {
    let (values, code) = if names.is_empty() {
        let list = client.json(Method::GET, &res.path(ns, None), None).await?;
        (list["items"].as_array().cloned().unwrap_or_default(), 0)
    } else {
        each_named(res, ns, names, async |path| client.get_opt(&path).await).await?
    };
    if output == Some("name") {
        for v in &values {
            println!(
                "{}/{}",
                res.singular,
                v["metadata"]["name"].as_str().unwrap_or("")
            );
        }
        return Ok(code);
    }
    let single = names.len() == 1;
    if values.is_empty() && single {
        return Ok(code);
    }
    let v = if single && values.len() == 1 {
        values[0].clone()
    } else {
        serde_json::json!({"apiVersion": "v1", "kind": "List", "items": values, "metadata": {"resourceVersion": ""}})
    };
    if output == Some("json") {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", to_yaml(&v)?);
    }
    Ok(code)
}

/// `get pods -w`: one line (or object) per change; the table header once, as kubectl prints it.
async fn watch_pods(
    client: &Client,
    ns: Option<&str>,
    names: &[String],
    output: Option<&str>,
) -> Result<i32> {
    let path = match names {
        [one] => format!(
            "{}?watch=1",
            pods_path(Some(ns.unwrap_or("default")), Some(one))
        ),
        _ => format!("{}?watch=1", pods_path(ns, None)),
    };
    let mut lines = crate::client::Lines::new(client.stream(&path).await?);
    let mut header = true;
    while let Some(l) = lines.next().await {
        let Some((_, pod)) = crate::client::watch_event::<Pod>(&l) else {
            continue;
        };
        if !names.is_empty()
            && !names
                .iter()
                .any(|n| Some(n.as_str()) == pod.metadata.name.as_deref())
        {
            continue;
        }
        match output {
            Some("json") => println!("{}", serde_json::to_string_pretty(&pod)?),
            Some("yaml") => print!("---\n{}", to_yaml(&serde_json::to_value(&pod)?)?),
            Some("name") => println!("pod/{}", pod.metadata.name.as_deref().unwrap_or("")),
            _ => {
                let table = pods_table(
                    std::slice::from_ref(&pod),
                    Timestamp::now(),
                    output == Some("wide"),
                    ns.is_none(),
                );
                let mut rows = table.lines();
                let head = rows.next().unwrap_or("");
                if header {
                    println!("{head}");
                    header = false;
                }
                for r in rows {
                    println!("{r}");
                }
            }
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }
    Ok(0)
}

async fn get_events(client: &Client, ns: Option<&str>, output: Option<&str>) -> Result<i32> {
    let path = match ns {
        Some(ns) => format!("/api/v1/namespaces/{ns}/events"),
        None => "/api/v1/events".into(),
    };
    let list = client.json(Method::GET, &path, None).await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    match output {
        Some("json") => {
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(0);
        }
        Some("yaml") => {
            print!("{}", to_yaml(&list)?);
            return Ok(0);
        }
        _ => {}
    }
    if items.is_empty() {
        eprintln!("No resources found in {} namespace.", ns.unwrap_or("any"));
        return Ok(0);
    }
    let now = Timestamp::now();
    let mut rows = vec![["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        .map(String::from)
        .to_vec()];
    if ns.is_none() {
        rows[0].insert(0, "NAMESPACE".into());
    }
    for e in items {
        let last = e["lastTimestamp"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map(|t| human_duration(now.duration_since(t)))
            .unwrap_or_else(|| "<unknown>".into());
        let mut row = vec![
            last,
            e["type"].as_str().unwrap_or("").to_string(),
            e["reason"].as_str().unwrap_or("").to_string(),
            format!("pod/{}", e["involvedObject"]["name"].as_str().unwrap_or("")),
            e["message"].as_str().unwrap_or("").to_string(),
        ];
        if ns.is_none() {
            row.insert(
                0,
                e["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            );
        }
        rows.push(row);
    }
    print!("{}", format_table(&rows));
    Ok(0)
}
