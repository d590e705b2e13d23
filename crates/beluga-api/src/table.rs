//! Server-side printing: the `meta.k8s.io/v1` Table an apiserver answers when the client's
//! `Accept` asks for `as=Table` (kubectl-api spec §3.2, §3.3), built from the same cells as
//! `get pods` (`printer::pod_row`), and kubectl's rendering of such a Table.
//!
//! Rendering from a Table instead of from the pods spares the client the parse of every pod:
//! with 1,000 pods the list is 1.5 MB of JSON, the Table a fraction of it.

use crate::printer::{format_table, pod_row};
use crate::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Whether an `Accept` header asks for a `meta.k8s.io/v1` Table (a media range with
/// `as=Table`, and `v=v1` / `g=meta.k8s.io` when it names a version and group).
pub fn accepts_table(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let params: Vec<&str> = range.split(';').skip(1).map(str::trim).collect();
        let has = |k: &str, want: &str| {
            params
                .iter()
                .filter_map(|p| p.split_once('='))
                .all(|(pk, pv)| pk != k || pv == want)
        };
        params.contains(&"as=Table") && has("v", "v1") && has("g", "meta.k8s.io")
    })
}

/// What `Accept` kubectl sends for human-readable `get` output.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub kind: String,
    pub api_version: String,
    pub metadata: ListMeta,
    pub column_definitions: Vec<Column>,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub cells: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<RowCondition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// `includeObject` (apiserver `handlers/response.go asTable`): what each row carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    /// The default: a `PartialObjectMetadata` (kubectl's `-A` and `--show-labels` read it).
    Metadata,
    Object,
}

impl IncludeObject {
    /// From the query parameter; anything unknown is the default, as the apiserver treats it.
    pub fn from_query(v: Option<&str>) -> IncludeObject {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

pub(crate) fn column(name: &str, format: &str, priority: i32, description: &str) -> Column {
    Column {
        name: name.into(),
        type_: "string".into(),
        format: format.into(),
        description: description.into(),
        priority,
    }
}

/// `podColumnDefinitions` (pkg/printers/internalversion/printers.go); the descriptions are the
/// fields' API documentation, as upstream takes them from the swagger docs.
pub fn pod_columns() -> Vec<Column> {
    vec![
        column("Name", "name", 0, "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"),
        column("Ready", "", 0, "The aggregate readiness state of this pod for accepting traffic."),
        column("Status", "", 0, "The aggregate status of the containers in this pod."),
        column("Restarts", "", 0, "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        column("Age", "", 0, "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"),
        column("IP", "", 1, "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
        column("Node", "", 1, "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename"),
        column("Nominated Node", "", 1, "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled."),
        column("Readiness Gates", "", 1, "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"),
    ]
}

/// `podSuccessConditions` / `podFailedConditions`: a finished pod's row says so.
fn finished_conditions(pod: &Pod) -> Vec<RowCondition> {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    let (reason, message) = match phase {
        Some("Succeeded") => ("Succeeded", "The pod has completed successfully."),
        Some("Failed") => ("Failed", "The pod failed."),
        _ => return Vec::new(),
    };
    vec![RowCondition {
        type_: "Completed".into(),
        status: "True".into(),
        reason: reason.into(),
        message: message.into(),
    }]
}

/// What a row carries of its object (`includeObject`).
fn row_object<T: Serialize>(
    metadata: &crate::ObjectMeta,
    object: &T,
    include: IncludeObject,
) -> Option<serde_json::Value> {
    match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(serde_json::json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": metadata,
        })),
        IncludeObject::Object => serde_json::to_value(object).ok(),
    }
}

/// The Table of `pods`, every cell filled (wide ones too: the client hides them), as
/// `printPod` computes them at `now`.
pub fn pods(pods: &[Pod], now: Timestamp, include: IncludeObject, resource_version: &str) -> Table {
    let rows = pods
        .iter()
        .map(|p| {
            let r = pod_row(p, now);
            Row {
                cells: [
                    r.name,
                    r.ready,
                    r.status,
                    r.restarts,
                    r.age,
                    r.ip,
                    r.node,
                    r.nominated,
                    r.gates,
                ]
                .into_iter()
                .map(serde_json::Value::from)
                .collect(),
                conditions: finished_conditions(p),
                object: row_object(&p.metadata, p, include),
            }
        })
        .collect();
    table(pod_columns(), rows, resource_version)
}

fn table(columns: Vec<Column>, rows: Vec<Row>, resource_version: &str) -> Table {
    Table {
        kind: "Table".into(),
        api_version: "meta.k8s.io/v1".into(),
        metadata: ListMeta {
            resource_version: Some(resource_version.to_string()),
            ..Default::default()
        },
        column_definitions: columns,
        rows,
    }
}

/// The Table of objects of a kind whose rows have no conditions: its columns, and each
/// object's metadata and cells.
pub fn objects<T: Serialize>(
    columns: Vec<Column>,
    items: &[T],
    metadata: impl Fn(&T) -> &crate::ObjectMeta,
    cells: impl Fn(&T) -> Vec<String>,
    include: IncludeObject,
    resource_version: &str,
) -> Table {
    let rows = items
        .iter()
        .map(|o| Row {
            cells: cells(o).into_iter().map(serde_json::Value::from).collect(),
            conditions: Vec::new(),
            object: row_object(metadata(o), o, include),
        })
        .collect();
    table(columns, rows, resource_version)
}

/// The Table of `services` (`printService`), every cell filled.
pub fn services(
    services: &[crate::Service],
    now: Timestamp,
    include: IncludeObject,
    resource_version: &str,
) -> Table {
    use crate::service::print;
    let cells = |s: &crate::Service| print::row(s, now);
    objects(
        print::columns(),
        services,
        |s| &s.metadata,
        cells,
        include,
        resource_version,
    )
}

/// A cell as kubectl prints it: strings as they are, numbers and booleans in JSON's words,
/// nothing for null.
fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// kubectl's table printer over a server-side Table: column names upper-cased, `priority` 0
/// columns unless `wide`, NAMESPACE first (from each row's object) when `namespace`.
pub fn render(t: &Table, wide: bool, namespace: bool) -> String {
    let shown: Vec<usize> = t
        .column_definitions
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c.priority == 0)
        .map(|(i, _)| i)
        .collect();
    let mut header: Vec<String> = Vec::new();
    if namespace {
        header.push("NAMESPACE".into());
    }
    header.extend(
        shown
            .iter()
            .map(|&i| t.column_definitions[i].name.to_uppercase()),
    );
    let mut rows = vec![header];
    for r in &t.rows {
        let mut row = Vec::new();
        if namespace {
            let ns = r
                .object
                .as_ref()
                .and_then(|o| o["metadata"]["namespace"].as_str())
                .unwrap_or_default();
            row.push(ns.to_string());
        }
        row.extend(
            shown
                .iter()
                .map(|&i| r.cells.get(i).map(cell_text).unwrap_or_default()),
        );
        rows.push(row);
    }
    format_table(&rows)
}

#[cfg(test)]
mod tests;
