//! The downward API, pure (issue 16 items 2-3): a pod's metadata fields as kubelet's
//! `fieldpath.ExtractFieldPathAsString` renders them, and container resources as
//! `resource.ExtractResourceValueByContainerNameAndNodeAllocatable` does (limits default to the
//! node's allocatable; values are the ceiling of value / divisor).

use crate::field::go_quote;
use crate::quantity::{parse_bytes, parse_millicores};
use crate::{podutil, Pod};
use std::collections::BTreeMap;

/// What the node can give pods, for limits a container does not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Allocatable {
    pub millicores: u64,
    pub memory: u64,
    pub ephemeral_storage: u64,
}

/// kubelet's `fieldpath.FormatMap`: `key="value"` lines in key order, the last without its
/// newline.
pub fn format_map(m: &BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `metadata.*` field path (`name`, `namespace`, `uid`, `labels`, `annotations`, and
/// `labels['k']` / `annotations['k']`); None for any other path.
pub fn metadata_field(pod: &Pod, path: &str) -> Option<String> {
    let m = &pod.metadata;
    let subscript = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(String::from)
    };
    let lookup = |map: &Option<BTreeMap<String, String>>, k: String| {
        map.as_ref()
            .and_then(|l| l.get(&k))
            .cloned()
            .unwrap_or_default()
    };
    Some(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(m.labels.as_ref().unwrap_or(&BTreeMap::new())),
        "metadata.annotations" => format_map(m.annotations.as_ref().unwrap_or(&BTreeMap::new())),
        p if p.starts_with("metadata.labels['") => {
            lookup(&m.labels, subscript("metadata.labels['")?)
        }
        p if p.starts_with("metadata.annotations['") => {
            lookup(&m.annotations, subscript("metadata.annotations['")?)
        }
        _ => return None,
    })
}

/// The value a `resourceFieldRef` names for `container` of `pod`: `limits.cpu` /
/// `requests.cpu` in units of the divisor (default 1) rounded up, memory and ephemeral storage
/// likewise in bytes; an unset limit is the node's allocatable, an unset request 0. Errors
/// are kubelet's.
pub fn resource_value(
    pod: &Pod,
    container: &str,
    resource: &str,
    divisor: Option<&str>,
    node: &Allocatable,
) -> Result<String, String> {
    let c = podutil::all_containers(pod)
        .into_iter()
        .find(|c| c.name == container)
        .ok_or_else(|| format!("container {container} not found"))?;
    let res = c.resources.clone().unwrap_or_default();
    let (bag, name) = match resource.split_once('.') {
        Some(("limits", n)) => (res.limits.unwrap_or_default(), n),
        Some(("requests", n)) => (res.requests.unwrap_or_default(), n),
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    let limits = resource.starts_with("limits.");
    let divisor = divisor.filter(|d| !d.is_empty() && !is_zero(d));
    let set = bag.get(name).map(|q| q.0.as_str());
    let value = match name {
        "cpu" => {
            let v =
                set.and_then(parse_millicores)
                    .unwrap_or(if limits { node.millicores } else { 0 });
            let d = divisor.and_then(parse_millicores).unwrap_or(1000).max(1);
            v.div_ceil(d)
        }
        "memory" | "ephemeral-storage" => {
            let fallback = match (limits, name) {
                (false, _) => 0,
                (true, "memory") => node.memory,
                (true, _) => node.ephemeral_storage,
            };
            let v = set.and_then(parse_bytes).unwrap_or(fallback);
            let d = divisor.and_then(parse_bytes).unwrap_or(1).max(1);
            v.div_ceil(d)
        }
        n if n.starts_with("hugepages-") => {
            let v = set.and_then(parse_bytes).unwrap_or(0);
            v.div_ceil(divisor.and_then(parse_bytes).unwrap_or(1).max(1))
        }
        _ => return Err(format!("unsupported container resource : {resource}")),
    };
    Ok(value.to_string())
}

/// A divisor of zero is the unset divisor (the apiserver's `divisor.Cmp(Quantity{}) == 0`).
fn is_zero(q: &str) -> bool {
    parse_bytes(q) == Some(0) && parse_millicores(q) == Some(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    // Spec §10.2 / §11.1: fieldpath.FormatMap and Go's %q.
    #[test]
    fn quoting_and_maps() {
        for (input, want) in [
            ("plain", r#""plain""#),
            ("a\"b", r#""a\"b""#),
            ("back\\slash", r#""back\\slash""#),
            ("two\nlines\ttab", r#""two\nlines\ttab""#),
            ("\u{1}\u{7f}", r#""\x01\x7f""#),
            ("héllo ☃", "\"héllo ☃\""),
            ("\u{85}", r#""\u0085""#),
            ("", r#""""#),
        ] {
            assert_eq!(go_quote(input), want, "{input:?}");
        }
        let m: BTreeMap<String, String> = [("b", "2"), ("a", "x\"y")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(format_map(&m), "a=\"x\\\"y\"\nb=\"2\"");
        assert_eq!(format_map(&BTreeMap::new()), "");
    }

    #[test]
    fn metadata_fields() {
        let p = pod(
            json!({"metadata": {"name": "web", "namespace": "ns", "uid": "u-1",
            "labels": {"app": "web", "tier": "front"}, "annotations": {"a/b": "c"}}}),
        );
        for (path, want) in [
            ("metadata.name", Some("web")),
            ("metadata.namespace", Some("ns")),
            ("metadata.uid", Some("u-1")),
            ("metadata.labels", Some("app=\"web\"\ntier=\"front\"")),
            ("metadata.annotations", Some("a/b=\"c\"")),
            ("metadata.labels['tier']", Some("front")),
            ("metadata.labels['none']", Some("")),
            ("metadata.annotations['a/b']", Some("c")),
            ("spec.nodeName", None),
            ("metadata.labels['unclosed", None),
        ] {
            assert_eq!(metadata_field(&p, path).as_deref(), want, "{path}");
        }
    }

    // Spec §10.2: resourceFieldRef, ceil(value / divisor), limits from node allocatable.
    #[test]
    fn resources() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
            {"name": "a", "image": "i", "resources": {
                "limits": {"cpu": "1500m", "memory": "128Mi"},
                "requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"name": "b", "image": "i"}]}}));
        let node = Allocatable {
            millicores: 2000,
            memory: 1 << 30,
            ephemeral_storage: 10 << 30,
        };
        for (c, res, div, want) in [
            ("a", "limits.cpu", None, Ok("2")),
            ("a", "limits.cpu", Some("1m"), Ok("1500")),
            ("a", "limits.cpu", Some("0"), Ok("2")),
            ("a", "requests.cpu", Some("1m"), Ok("250")),
            ("a", "requests.cpu", None, Ok("1")),
            ("a", "limits.memory", None, Ok("134217728")),
            ("a", "limits.memory", Some("1Mi"), Ok("128")),
            ("a", "requests.memory", Some("1M"), Ok("68")),
            ("b", "limits.cpu", None, Ok("2")),
            ("b", "limits.memory", Some("1Mi"), Ok("1024")),
            ("b", "limits.ephemeral-storage", Some("1Gi"), Ok("10")),
            ("b", "requests.memory", None, Ok("0")),
            (
                "b",
                "limits.nvidia.com/gpu",
                None,
                Err("unsupported container resource : limits.nvidia.com/gpu"),
            ),
            ("z", "limits.cpu", None, Err("container z not found")),
        ] {
            let got = resource_value(&p, c, res, div, &node);
            assert_eq!(
                got,
                want.map(String::from).map_err(String::from),
                "{c} {res} {div:?}"
            );
        }
    }
}
