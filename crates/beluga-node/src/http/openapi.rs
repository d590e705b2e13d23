//! `/openapi/v3` (kubectl-api §2.4). Each group version's document holds, for each writable
//! kind, its PATCH operation with the `fieldValidation` parameter (what makes kubectl send
//! `fieldValidation=Strict` instead of fetching the v2 document), and `components.schemas`
//! generated from beluga's own types for `kubectl explain`: k8s-openapi's `schemars` impls carry
//! upstream's names and descriptions; refs are OpenAPI 3's, a `$ref` with siblings is wrapped in
//! `allOf` as upstream writes it (so a field shows its own description), and each top-level kind
//! carries `x-kubernetes-group-version-kind`. Built once per group version, served with its hash.

use super::body::{full, ResBody};
use super::discovery::{in_group, version_of, Resource, GROUPS, MINOR};
use hyper::{Response, StatusCode};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

/// One group version's document, serialized, and its content hash.
struct Doc {
    group: &'static str,
    bytes: bytes::Bytes,
    hash: String,
}

fn docs() -> &'static [Doc] {
    static DOCS: OnceLock<Vec<Doc>> = OnceLock::new();
    DOCS.get_or_init(|| {
        std::iter::once("")
            .chain(GROUPS.iter().copied())
            .map(|group| {
                let bytes = serde_json::to_vec(&document(group)).unwrap_or_default();
                let hash = content_hash(&bytes);
                Doc {
                    group,
                    bytes: bytes.into(),
                    hash,
                }
            })
            .collect()
    })
}

/// The document of a group version ("" for the core group).
fn document(group: &str) -> Value {
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/{}", version_of(group))
    };
    let mut paths = Map::new();
    for r in in_group(group).filter(|r| r.verbs.contains(&"create")) {
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        // No requestBody: kubectl would then compute patches from these schemas, which carry
        // no patch merge keys.
        paths.insert(path, json!({"patch": {
            "x-kubernetes-group-version-kind": gvk(r),
            "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}}],
            "responses": {},
        }}));
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v1.{MINOR}.0")},
        "paths": paths,
        "components": {"schemas": schemas(group)},
    })
}

fn gvk(r: &Resource) -> Value {
    json!({"group": r.group, "version": version_of(r.group), "kind": r.kind})
}

/// The kind's schema added to `gen`: the name it is defined under.
fn add_kind(gen: &mut SchemaGenerator, group: &str, kind: &str) -> Option<String> {
    use beluga_api::k8s_openapi::api::core::v1 as core;
    use beluga_api::k8s_openapi::api::discovery::v1 as discovery;
    let schema = match (group, kind) {
        ("", "Pod") => gen.subschema_for::<core::Pod>(),
        ("", "ConfigMap") => gen.subschema_for::<core::ConfigMap>(),
        ("", "Secret") => gen.subschema_for::<core::Secret>(),
        ("", "ServiceAccount") => gen.subschema_for::<core::ServiceAccount>(),
        ("", "Namespace") => gen.subschema_for::<core::Namespace>(),
        ("", "Service") => gen.subschema_for::<core::Service>(),
        ("", "Endpoints") => gen.subschema_for::<core::Endpoints>(),
        ("", "Event") => gen.subschema_for::<core::Event>(),
        ("discovery.k8s.io", "EndpointSlice") => gen.subschema_for::<discovery::EndpointSlice>(),
        _ => return None,
    };
    let reference = schema.get("$ref")?.as_str()?;
    reference.rsplit('/').next().map(String::from)
}

/// The schemas of the group's kinds and of every type they hold.
fn schemas(group: &str) -> Map<String, Value> {
    let mut gen = SchemaSettings::openapi3().into_generator();
    let kinds: Vec<(String, &Resource)> = in_group(group)
        .filter_map(|r| add_kind(&mut gen, r.group, r.kind).map(|name| (name, r)))
        .collect();
    let mut defs = gen.take_definitions(true);
    for (name, r) in kinds {
        if let Some(Value::Object(o)) = defs.get_mut(&name) {
            o.insert("x-kubernetes-group-version-kind".into(), json!([gvk(r)]));
        }
    }
    for schema in defs.values_mut() {
        wrap_refs(schema);
    }
    defs
}

/// `{"$ref": r, …}` with anything beside the ref becomes `{"allOf": [{"$ref": r}], …}`
/// (OpenAPI 3.0 ignores a ref's siblings; upstream's documents wrap them so).
fn wrap_refs(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.len() > 1 {
                if let Some(r) = o.remove("$ref") {
                    o.insert("allOf".into(), json!([{"$ref": r}]));
                }
            }
            o.values_mut().for_each(wrap_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(wrap_refs),
        _ => {}
    }
}

fn content_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, bytes);
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

fn key_of(group: &str) -> String {
    match group {
        "" => "api/v1".to_string(),
        g => format!("apis/{g}/{}", version_of(g)),
    }
}

/// `GET /openapi/v3`: the index of group versions, each with its content hash.
pub(super) fn index() -> Response<ResBody> {
    let paths: Map<String, Value> = docs()
        .iter()
        .map(|d| {
            let key = key_of(d.group);
            let url = format!("/openapi/v3/{key}?hash={}", d.hash);
            (key, json!({"serverRelativeURL": url}))
        })
        .collect();
    super::body::json(StatusCode::OK, &json!({"paths": paths}))
}

/// `GET /openapi/v3/<api/v1 | apis/g/v>`: immutable under its hash (kubectl caches it on disk).
pub(super) fn group(segs: &[&str]) -> Option<Response<ResBody>> {
    let key = segs.join("/");
    let doc = docs().iter().find(|d| key_of(d.group) == key)?;
    let mut resp = full(StatusCode::OK, "application/json", doc.bytes.clone());
    let h = resp.headers_mut();
    if let Ok(etag) = hyper::header::HeaderValue::from_str(&format!("\"{}\"", doc.hash)) {
        h.insert(hyper::header::ETAG, etag);
    }
    h.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("public, immutable"),
    );
    Some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §2.4: the PATCH operation of each writable kind carries fieldValidation.
    #[test]
    fn openapi_declares_field_validation_for_writable_kinds() {
        let doc = document("");
        let pods = &doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"];
        assert_eq!(pods["x-kubernetes-group-version-kind"]["kind"], "Pod");
        assert_eq!(pods["parameters"][0]["name"], "fieldValidation");
        assert!(pods.get("requestBody").is_none());
        assert!(doc["paths"]["/api/v1/namespaces/{name}"].is_object());
        assert!(doc["paths"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| !k.contains("events")));
        let a = content_hash(&serde_json::to_vec(&doc).unwrap());
        assert_eq!(a, content_hash(&serde_json::to_vec(&document("")).unwrap()));
        assert_eq!(a.len(), 32);
    }

    // spec §2.4: what `kubectl explain` reads — each kind under its upstream name with its GVK,
    // OpenAPI 3 refs, a field's own description beside an `allOf` ref.
    #[test]
    fn schemas_are_upstreams_names_with_gvks_and_wrapped_refs() {
        let doc = document("");
        let s = &doc["components"]["schemas"];
        let pod = &s["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "version": "v1", "kind": "Pod"}])
        );
        assert!(pod["description"]
            .as_str()
            .unwrap()
            .starts_with("Pod is a collection of containers"));
        let spec = &pod["properties"]["spec"];
        assert_eq!(
            spec["allOf"],
            json!([{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}])
        );
        assert!(spec["description"]
            .as_str()
            .unwrap()
            .starts_with("Specification of the desired behavior of the pod."));
        assert!(s["io.k8s.api.core.v1.Container"]["properties"]["image"].is_object());
        for kind in [
            "ConfigMap",
            "Secret",
            "Service",
            "Namespace",
            "ServiceAccount",
            "Event",
        ] {
            let k = &s[format!("io.k8s.api.core.v1.{kind}")];
            assert_eq!(k["x-kubernetes-group-version-kind"][0]["kind"], kind);
        }
        let text = serde_json::to_string(&doc).unwrap();
        assert!(!text.contains("#/$defs/") && !text.contains("#/definitions/"));
        let slices = document("discovery.k8s.io");
        assert_eq!(
            slices["components"]["schemas"]["io.k8s.api.discovery.v1.EndpointSlice"]
                ["x-kubernetes-group-version-kind"][0]["version"],
            "v1"
        );
    }
}
