//! Strategic merge patch (apimachinery `strategicpatch.StrategicMergeMapPatch`, kubectl-api
//! §3.8): JSON merge patch, except that lists with a merge key merge item by item and the
//! directives `$patch`, `$retainKeys`, `$setElementOrder/…` and `$deleteFromPrimitiveList/…`
//! steer it. Which lists merge, and by what key, is the upstream struct tags' table
//! (`list_kind`), checked against k8s-openapi's `DeepMerge` in the tests.

use super::PatchError;
use serde_json::{Map, Value};

/// How a list field merges (`patchStrategy` / `patchMergeKey` upstream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced wholesale (no strategy: `args`, `tolerations`, `envFrom`, …).
    Atomic,
    /// A list of primitives merged as a set (`metadata.finalizers`).
    Set,
    /// Items merged by the value of `key`.
    Keyed(&'static str),
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// The merge strategy of the list at `path` (field names from the object's root) in `kind`.
pub fn list_kind(kind: &str, path: &[&str]) -> ListKind {
    use ListKind::*;
    match (kind, path) {
        (_, ["metadata", "ownerReferences"]) => Keyed("uid"),
        (_, ["metadata", "finalizers"]) => Set,
        ("Pod", ["spec", c]) if CONTAINER_LISTS.contains(c) => Keyed("name"),
        ("Pod", ["spec", c, field]) if CONTAINER_LISTS.contains(c) => match *field {
            "ports" => Keyed("containerPort"),
            "env" => Keyed("name"),
            "volumeMounts" => Keyed("mountPath"),
            "volumeDevices" => Keyed("devicePath"),
            _ => Atomic,
        },
        (
            "Pod",
            ["spec", "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates"],
        ) => Keyed("name"),
        ("Pod", ["spec", "hostAliases"]) => Keyed("ip"),
        ("Pod", ["spec", "topologySpreadConstraints"]) => Keyed("topologyKey"),
        ("Pod", ["status", "conditions"]) => Keyed("type"),
        ("Pod", ["status", "podIPs" | "hostIPs"]) => Keyed("ip"),
        ("Service", ["spec", "ports"]) => Keyed("port"),
        _ => Atomic,
    }
}

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// `live` with the strategic merge patch `patch` applied, for an object of `kind`.
pub fn apply(kind: &str, live: &Value, patch: &Value) -> Result<Value, PatchError> {
    let (Some(live), Some(patch)) = (live.as_object(), patch.as_object()) else {
        return Err(PatchError::bad(
            "a strategic merge patch must be a JSON object",
        ));
    };
    let mut path = Vec::new();
    let merged = merge_map(kind, &mut path, live.clone(), patch)?;
    Ok(Value::Object(merged.unwrap_or_default()))
}

/// One map merged; `None`: the patch deletes it.
fn merge_map(
    kind: &str,
    path: &mut Vec<String>,
    mut live: Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Option<Map<String, Value>>, PatchError> {
    match patch.get(PATCH).and_then(Value::as_str) {
        Some("delete") => return Ok(None),
        Some("replace") => live = Map::new(),
        Some("merge") | None => {}
        Some(other) => return Err(PatchError::bad(format!("unknown patch type: {other}"))),
    }
    if let Some(keep) = patch.get(RETAIN_KEYS) {
        let keep = strings(keep, RETAIN_KEYS)?;
        live.retain(|k, _| keep.iter().any(|w| w == k));
    }
    for (k, v) in patch {
        if let Some(field) = k.strip_prefix(DELETE_PRIMITIVE) {
            if let Some(Value::Array(items)) = live.get_mut(field) {
                let gone = v.as_array().cloned().unwrap_or_default();
                items.retain(|i| !gone.contains(i));
            }
        }
    }
    for (k, v) in patch {
        if k.starts_with('$') {
            continue;
        }
        path.push(k.clone());
        let merged = merge_value(kind, path, live.remove(k), v)?;
        path.pop();
        if let Some(m) = merged {
            live.insert(k.clone(), m);
        }
    }
    for (k, order) in patch {
        if let Some(field) = k.strip_prefix(SET_ORDER) {
            path.push(field.to_string());
            let list_kind = list_kind(kind, &path_strs(path));
            path.pop();
            if let (Some(Value::Array(items)), Some(order)) =
                (live.get_mut(field), order.as_array())
            {
                reorder(items, order, list_kind);
            }
        }
    }
    Ok(Some(live))
}

/// A field's new value (`None`: removed).
fn merge_value(
    kind: &str,
    path: &mut Vec<String>,
    live: Option<Value>,
    patch: &Value,
) -> Result<Option<Value>, PatchError> {
    Ok(match (live, patch) {
        (_, Value::Null) => None,
        (Some(Value::Object(l)), Value::Object(p)) => {
            merge_map(kind, path, l, p)?.map(Value::Object)
        }
        (_, Value::Object(p)) => merge_map(kind, path, Map::new(), p)?.map(Value::Object),
        (Some(Value::Array(l)), Value::Array(p)) => {
            Some(Value::Array(merge_list(kind, path, l, p)?))
        }
        (_, Value::Array(p)) => Some(Value::Array(merge_list(kind, path, Vec::new(), p)?)),
        (_, v) => Some(v.clone()),
    })
}

fn merge_list(
    kind: &str,
    path: &mut Vec<String>,
    live: Vec<Value>,
    patch: &[Value],
) -> Result<Vec<Value>, PatchError> {
    let replace = patch
        .iter()
        .any(|i| i.get(PATCH).and_then(Value::as_str) == Some("replace"));
    let strategy = list_kind(kind, &path_strs(path));
    let mut out = match strategy {
        _ if replace => Vec::new(),
        ListKind::Atomic => Vec::new(),
        _ => live,
    };
    for item in patch {
        let directive = item.get(PATCH).and_then(Value::as_str);
        if directive == Some("replace") && item.as_object().is_some_and(|m| m.len() == 1) {
            continue;
        }
        match (strategy, item) {
            (ListKind::Keyed(key), Value::Object(m)) if !replace => {
                merge_keyed(kind, path, &mut out, key, m)?;
            }
            (ListKind::Set, v) if !replace => {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            (_, Value::Object(m)) => {
                if let Some(m) = merge_map(kind, path, Map::new(), m)? {
                    out.push(Value::Object(m));
                }
            }
            (_, v) => out.push(v.clone()),
        }
    }
    Ok(out)
}

/// One patch item of a keyed list: merged into the live item of its key, appended when there
/// is none, or that item removed (`$patch: delete`).
fn merge_keyed(
    kind: &str,
    path: &mut Vec<String>,
    out: &mut Vec<Value>,
    key: &str,
    item: &Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(id) = item.get(key) else {
        return Err(PatchError::bad(format!(
            "map: {} does not contain declared merge key: {key}",
            Value::Object(item.clone())
        )));
    };
    let at = out.iter().position(|l| l.get(key) == Some(id));
    if item.get(PATCH).and_then(Value::as_str) == Some("delete") {
        out.retain(|l| l.get(key) != Some(id));
        return Ok(());
    }
    let live = match at {
        Some(i) => match out.remove(i) {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        None => Map::new(),
    };
    if let Some(m) = merge_map(kind, path, live, item)? {
        out.insert(at.unwrap_or(out.len()), Value::Object(m));
    }
    Ok(())
}

/// `$setElementOrder`: the items it names first, in its order; the others after them in the
/// order they had (kubectl-api §3.8).
fn reorder(items: &mut Vec<Value>, order: &[Value], kind: ListKind) {
    let id = |v: &Value| -> Value {
        match kind {
            ListKind::Keyed(key) => v.get(key).cloned().unwrap_or(Value::Null),
            _ => v.clone(),
        }
    };
    let mut rest = std::mem::take(items);
    for o in order {
        let want = id(o);
        if let Some(i) = rest.iter().position(|v| id(v) == want) {
            items.push(rest.remove(i));
        }
    }
    items.append(&mut rest);
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, PatchError> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .ok_or_else(|| PatchError::bad(format!("{what} must be a list of strings")))
}

fn path_strs(path: &[String]) -> Vec<&str> {
    path.iter().map(String::as_str).collect()
}
