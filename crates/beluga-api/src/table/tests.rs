//! kubectl-api spec §3.2 (content negotiation) and §3.3 (the Table's shape and kubectl's
//! rendering of it).

use super::*;
use serde_json::json;

fn now() -> Timestamp {
    "2026-01-01T00:10:00Z".parse().unwrap()
}

fn pod(name: &str, ns: &str, phase: &str) -> Pod {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z",
                     "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {"phase": phase, "containerStatuses": [
            {"name": "c", "image": "i", "imageID": "", "ready": phase == "Running", "restartCount": 0,
             "state": if phase == "Running" { json!({"running": {}}) } else { json!({"terminated": {"exitCode": 0, "reason": "Completed"}}) }}]},
    }))
    .unwrap()
}

// §3.2: kubectl's human-output Accept asks for a Table; `-o json`'s plain JSON does not; a
// Table of another group or version is not ours to give.
#[test]
fn which_accept_headers_ask_for_a_table() {
    for (accept, want) in [
        (TABLE_ACCEPT, true),
        ("application/json;as=Table;v=v1;g=meta.k8s.io", true),
        ("application/json; as=Table; v=v1; g=meta.k8s.io", true),
        ("application/json;as=Table", true),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", false),
        ("application/json;as=Table;v=v1;g=example.com", false),
        ("application/json", false),
        (
            "application/vnd.kubernetes.protobuf,application/json",
            false,
        ),
        ("", false),
        (
            "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
            false,
        ),
    ] {
        assert_eq!(accepts_table(accept), want, "{accept}");
    }
}

// §3.3: the shape upstream sends: nine pod columns, the four wide ones at priority 1, every
// cell filled, a PartialObjectMetadata per row, the list's resourceVersion.
#[test]
fn a_pod_table_has_upstreams_shape() {
    let t = pods(
        &[pod("web", "default", "Running")],
        now(),
        IncludeObject::Metadata,
        "42",
    );
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["kind"], "Table");
    assert_eq!(v["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(v["metadata"]["resourceVersion"], "42");
    let cols = v["columnDefinitions"].as_array().unwrap();
    let names: Vec<_> = cols.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let prio: Vec<_> = cols
        .iter()
        .map(|c| c["priority"].as_i64().unwrap())
        .collect();
    assert_eq!(prio, [0, 0, 0, 0, 0, 1, 1, 1, 1]);
    assert_eq!(cols[0]["format"], "name");
    assert!(cols
        .iter()
        .all(|c| c["type"] == "string" && c["description"].is_string()));
    assert_eq!(
        v["rows"][0]["cells"],
        json!(["web", "1/1", "Running", "0", "10m", "<none>", "<none>", "<none>", "<none>"])
    );
    assert_eq!(v["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(v["rows"][0]["object"]["metadata"]["labels"]["app"], "web");
    assert!(v["rows"][0].get("conditions").is_none());
    // A Table read back is the same Table (the CLI parses what the daemon writes).
    assert_eq!(serde_json::from_value::<Table>(v).unwrap(), t);
}

// §3.3: finished pods carry the Completed row condition; includeObject None and Object.
#[test]
fn finished_rows_and_include_object() {
    let t = pods(
        &[pod("done", "default", "Succeeded")],
        now(),
        IncludeObject::None,
        "1",
    );
    assert_eq!(t.rows[0].conditions[0].reason, "Succeeded");
    assert_eq!(
        t.rows[0].conditions[0].message,
        "The pod has completed successfully."
    );
    assert!(t.rows[0].object.is_none());
    let t = pods(
        &[pod("bad", "default", "Failed")],
        now(),
        IncludeObject::Object,
        "1",
    );
    assert_eq!(t.rows[0].conditions[0].reason, "Failed");
    assert_eq!(t.rows[0].object.as_ref().unwrap()["kind"], "Pod");
    for (q, want) in [
        (None, IncludeObject::Metadata),
        (Some("Metadata"), IncludeObject::Metadata),
        (Some("None"), IncludeObject::None),
        (Some("Object"), IncludeObject::Object),
        (Some("bogus"), IncludeObject::Metadata),
    ] {
        assert_eq!(IncludeObject::from_query(q), want);
    }
}

// spec §9: kubectl's layout of the server's Table: plain, wide, and with the NAMESPACE column
// (read from each row's object).
#[test]
fn rendering_a_table_as_kubectl_does() {
    let list = [
        pod("web", "default", "Running"),
        pod("a-much-longer-name", "kube-system", "Succeeded"),
    ];
    let t = pods(&list, now(), IncludeObject::Metadata, "7");
    assert_eq!(
        render(&t, false, false),
        "NAME                 READY   STATUS      RESTARTS   AGE\n\
         web                  1/1     Running     0          10m\n\
         a-much-longer-name   0/1     Completed   0          10m\n"
    );
    assert_eq!(
        render(&t, true, true),
        "NAMESPACE     NAME                 READY   STATUS      RESTARTS   AGE   IP       NODE     NOMINATED NODE   READINESS GATES\n\
         default       web                  1/1     Running     0          10m   <none>   <none>   <none>           <none>\n\
         kube-system   a-much-longer-name   0/1     Completed   0          10m   <none>   <none>   <none>           <none>\n"
    );
    // Without row objects the NAMESPACE cells are empty, as kubectl leaves them.
    let bare = pods(&list[..1], now(), IncludeObject::None, "7");
    assert!(render(&bare, false, true)
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("            web"));
}

// A cell that is a number or missing prints as kubectl prints it.
#[test]
fn cells_of_other_types() {
    let t = Table {
        kind: "Table".into(),
        api_version: "meta.k8s.io/v1".into(),
        metadata: ListMeta::default(),
        column_definitions: vec![column("Name", "name", 0, ""), column("Count", "", 0, "")],
        rows: vec![
            Row {
                cells: vec![json!("a"), json!(3)],
                conditions: vec![],
                object: None,
            },
            Row {
                cells: vec![json!("b")],
                conditions: vec![],
                object: None,
            },
        ],
    };
    assert_eq!(
        render(&t, false, false),
        "NAME   COUNT\na      3\nb      \n"
    );
}
