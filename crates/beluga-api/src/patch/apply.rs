//! Server-side apply, a single-owner approximation of structured-merge-diff (kubectl-api
//! §3.9): the applied configuration merges into the live object as a strategic patch without
//! directives would (list keys from `strategic::list_kind`); what this manager applied last
//! time and omits now is removed unless another manager's fields hold it; the manager's fields
//! are kept in `metadata.managedFields` (`FieldsV1`, as the apiserver writes them), so they
//! persist with the object. Conflicts are not raised (as with `--force-conflicts`).

use super::strategic::{self, list_kind, ListKind};
use super::PatchError;
use serde_json::{json, Map, Value};

/// Fields no manager owns (the apiserver's `fieldpath` leaves them out too).
const UNOWNED: [&str; 2] = ["apiVersion", "kind"];
const UNOWNED_META: [&str; 6] = [
    "name",
    "namespace",
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
];

/// An applied configuration's body: JSON (what kubectl sends), or YAML.
pub fn config_of(body: &[u8]) -> Result<Value, PatchError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text =
        std::str::from_utf8(body).map_err(|_| PatchError::bad("error decoding YAML: not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| PatchError::bad(format!("error decoding YAML: {e}")))
}

/// `live` (None: the object does not exist yet) with `applied` applied by `manager` at `time`
/// (RFC 3339).
pub fn apply(
    kind: &str,
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    time: &str,
) -> Result<Value, PatchError> {
    let Some(cfg) = applied.as_object() else {
        return Err(PatchError::bad(
            "an applied configuration must be an object",
        ));
    };
    if applied["metadata"].get("managedFields").is_some() {
        return Err(PatchError::bad("metadata.managedFields must be nil"));
    }
    let new_fields = fields_of(kind, &mut Vec::new(), cfg);
    let empty = Value::Object(Map::new());
    let live = live.unwrap_or(&empty);
    let entries = managed(live);
    let (mine, others): (Vec<&Value>, Vec<&Value>) = entries
        .iter()
        .partition(|e| e["manager"] == manager && e["operation"] == "Apply");
    let old_fields = mine
        .first()
        .map(|e| e["fieldsV1"].clone())
        .unwrap_or_else(|| json!({}));
    let others: Vec<&Value> = others.iter().map(|e| &e["fieldsV1"]).collect();
    let mut merged = strategic::apply(kind, live, applied)?;
    let mut prune = Map::new();
    removals(
        &old_fields,
        &Value::Object(new_fields.clone()),
        &others,
        &mut Vec::new(),
        &mut prune,
    );
    if !prune.is_empty() {
        merged = strategic::apply(kind, &merged, &Value::Object(prune))?;
    }
    let mut kept: Vec<Value> = entries
        .iter()
        .filter(|e| !(e["manager"] == manager && e["operation"] == "Apply"))
        .cloned()
        .collect();
    kept.push(
        json!({"manager": manager, "operation": "Apply", "apiVersion": "v1", "time": time,
        "fieldsType": "FieldsV1", "fieldsV1": new_fields}),
    );
    merged["metadata"]["managedFields"] = Value::Array(kept);
    Ok(merged)
}

fn managed(live: &Value) -> Vec<Value> {
    live["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The `FieldsV1` set of a configuration: `f:<field>` for fields, `k:{<key>}` for the items of
/// keyed lists (with `.` for the item itself), `v:<value>` for set members; `{}` at a leaf.
pub fn fields_of(
    kind: &str,
    path: &mut Vec<String>,
    cfg: &Map<String, Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in cfg {
        let top = path.is_empty();
        let meta = path.len() == 1 && path[0] == "metadata";
        if (top && UNOWNED.contains(&k.as_str())) || (meta && UNOWNED_META.contains(&k.as_str())) {
            continue;
        }
        path.push(k.clone());
        let sub = match v {
            Value::Object(m) if !m.is_empty() => Value::Object(fields_of(kind, path, m)),
            Value::Array(items) => Value::Object(list_fields(kind, path, items)),
            _ => json!({}),
        };
        path.pop();
        // An atomic list is one leaf.
        let sub = match (v, &sub) {
            (Value::Array(_), Value::Object(m)) if m.is_empty() => json!({}),
            _ => sub,
        };
        out.insert(format!("f:{k}"), sub);
    }
    out
}

fn list_fields(kind: &str, path: &mut Vec<String>, items: &[Value]) -> Map<String, Value> {
    let strs: Vec<&str> = path.iter().map(String::as_str).collect();
    let mut out = Map::new();
    match list_kind(kind, &strs) {
        ListKind::Atomic => {}
        ListKind::Set => {
            for i in items {
                out.insert(format!("v:{i}"), json!({}));
            }
        }
        ListKind::Keyed(key) => {
            for i in items {
                let Some(m) = i.as_object() else { continue };
                let id = json!({ key: m.get(key).cloned().unwrap_or(Value::Null) });
                let mut sub = fields_of(kind, path, m);
                sub.insert(".".into(), json!({}));
                out.insert(format!("k:{id}"), Value::Object(sub));
            }
        }
    }
    out
}

/// Adds to `prune` (a strategic patch) what `old` owned, `new` does not, and no one else owns
/// (where another manager owns part of it, only this manager's leaves in it go).
fn removals(
    old: &Value,
    new: &Value,
    others: &[&Value],
    at: &mut Vec<String>,
    prune: &mut Map<String, Value>,
) {
    let Some(old) = old.as_object() else { return };
    for (seg, sub) in old {
        if seg == "." {
            continue;
        }
        at.push(seg.clone());
        let owned_elsewhere = others.iter().any(|o| lookup(o, at).is_some());
        let leaf = sub.as_object().is_none_or(|m| m.keys().all(|k| k == "."));
        match (new.get(seg), owned_elsewhere) {
            (Some(n), _) if !leaf => removals(sub, n, others, at, prune),
            (Some(_), _) => {}
            (None, false) => remove(prune, at),
            (None, true) if !leaf => removals(sub, &json!({}), others, at, prune),
            (None, true) => {}
        }
        at.pop();
    }
}

fn lookup<'a>(set: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(set, |v, seg| v.get(seg))
}

/// Writes into `prune` the patch that removes the field, item or set member at `path`.
fn remove(prune: &mut Map<String, Value>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = descend(prune, parents) {
            map.insert(field.to_string(), Value::Null);
        }
        return;
    }
    // An item or a member: of the list in the field before it.
    let Some((field, grand)) = parents.split_last() else {
        return;
    };
    let Some(field) = field.strip_prefix("f:") else {
        return;
    };
    let Some(owner) = descend(prune, grand) else {
        return;
    };
    if let Some(item) = last.strip_prefix("k:") {
        let Ok(Value::Object(mut key)) = serde_json::from_str::<Value>(item) else {
            return;
        };
        key.insert("$patch".into(), json!("delete"));
        if let Some(list) = list_of(owner, field) {
            list.push(Value::Object(key));
        }
    } else if let Some(value) = last.strip_prefix("v:") {
        let Ok(v) = serde_json::from_str::<Value>(value) else {
            return;
        };
        if let Some(list) = list_of(owner, &format!("$deleteFromPrimitiveList/{field}")) {
            list.push(v);
        }
    }
}

/// The patch map at `path` (made as needed): `f:` segments are fields, a `k:` segment the list
/// item of that key in the field before it.
fn descend<'a>(
    mut map: &'a mut Map<String, Value>,
    path: &[String],
) -> Option<&'a mut Map<String, Value>> {
    let mut i = 0;
    while i < path.len() {
        let field = path[i].strip_prefix("f:")?;
        if let Some(item) = path.get(i + 1).and_then(|s| s.strip_prefix("k:")) {
            let key: Map<String, Value> = serde_json::from_str::<Value>(item)
                .ok()?
                .as_object()?
                .clone();
            let list = list_of(map, field)?;
            let at = match list
                .iter()
                .position(|v| key.iter().all(|(k, kv)| v.get(k) == Some(kv)))
            {
                Some(at) => at,
                None => {
                    list.push(Value::Object(key));
                    list.len() - 1
                }
            };
            map = list[at].as_object_mut()?;
            i += 2;
        } else {
            let next = map.entry(field.to_string()).or_insert_with(|| json!({}));
            map = next.as_object_mut()?;
            i += 1;
        }
    }
    Some(map)
}

fn list_of<'a>(map: &'a mut Map<String, Value>, field: &str) -> Option<&'a mut Vec<Value>> {
    let v = map.entry(field.to_string()).or_insert_with(|| json!([]));
    if !v.is_array() {
        *v = json!([]);
    }
    v.as_array_mut()
}
