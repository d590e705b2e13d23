//! Label and field selectors of list and watch requests (kubectl-api spec §3.4), pure: the
//! grammar of apimachinery's `labels.Parse` (`k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//! `k notin (a,b)`, `k`, `!k`, requirements joined by commas) and `fields.ParseSelector`
//! (`f=v`, `f==v`, `f!=v`), with the fields each kind's strategy offers (a pod's
//! `GetAttrs`: metadata.name/namespace, spec.nodeName, spec.restartPolicy,
//! spec.schedulerName, spec.serviceAccountName, spec.hostNetwork, status.phase,
//! status.podIP, status.nominatedNodeName).

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Eq(String),
    Ne(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    NotExists,
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    reqs: Vec<(String, Op)>,
}

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn set_of(rest: &str, whole: &str) -> Result<Vec<String>, String> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("unable to parse requirement: found '{whole}', expected: '('"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn requirement(r: &str) -> Result<(String, Op), String> {
    let r = r.trim();
    if let Some(k) = r.strip_prefix('!') {
        return Ok((k.trim().to_string(), Op::NotExists));
    }
    for (sep, ctor) in [
        ("!=", Op::Ne as fn(String) -> Op),
        ("==", Op::Eq),
        ("=", Op::Eq),
    ] {
        if let Some((k, v)) = r.split_once(sep) {
            return Ok((k.trim().to_string(), ctor(v.trim().to_string())));
        }
    }
    let words: Vec<&str> = r.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [k] => Ok((k.to_string(), Op::Exists)),
        [k, rest] => {
            let rest = rest.trim();
            if let Some(set) = rest.strip_prefix("notin") {
                Ok((k.to_string(), Op::NotIn(set_of(set, r)?)))
            } else if let Some(set) = rest.strip_prefix("in") {
                Ok((k.to_string(), Op::In(set_of(set, r)?)))
            } else {
                Err(format!("unable to parse requirement: found '{rest}', expected: in, notin, =, ==, !=, gt, lt"))
            }
        }
        _ => Err("unable to parse requirement: empty".into()),
    }
}

impl Selector {
    /// A label selector (`labelSelector=`); empty selects everything.
    pub fn labels(s: &str) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for r in split_top(s).into_iter().filter(|r| !r.trim().is_empty()) {
            let (k, op) = requirement(r)?;
            if k.is_empty() {
                return Err(format!("unable to parse requirement: {r:?}: key is empty"));
            }
            reqs.push((k, op));
        }
        Ok(Selector { reqs })
    }

    /// A field selector (`fieldSelector=`): only `=`, `==` and `!=`, on `fields` (the kind's).
    pub fn fields(s: &str, fields: &[&str]) -> Result<Selector, String> {
        let mut reqs = Vec::new();
        for r in s.split(',').filter(|r| !r.trim().is_empty()) {
            let (k, op) = requirement(r)?;
            if !matches!(op, Op::Eq(_) | Op::Ne(_)) {
                return Err(format!("invalid selector: '{s}'; can't understand '{r}'"));
            }
            if !fields.contains(&k.as_str()) {
                return Err(format!("field label not supported: {k}"));
            }
            reqs.push((k, op));
        }
        Ok(Selector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// Whether `get` (a key's value, if it has one) satisfies every requirement.
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.reqs.iter().all(|(k, op)| {
            let v = get(k);
            match op {
                Op::Eq(want) => v.as_deref() == Some(want),
                Op::Ne(want) => v.as_deref() != Some(want),
                Op::In(set) => v.is_some_and(|v| set.contains(&v)),
                Op::NotIn(set) => v.is_none_or(|v| !set.contains(&v)),
                Op::Exists => v.is_some(),
                Op::NotExists => v.is_none(),
            }
        })
    }

    /// Against an object's labels.
    pub fn matches_labels(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.matches(|k| labels.and_then(|l| l.get(k)).cloned())
    }
}

/// The fields a pod can be selected by.
pub const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
];

/// The fields every other kind can be selected by (`DefaultClusterScopedAttr` and its
/// namespaced sibling), and a Secret's `type`.
pub const OBJECT_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];

/// A field's value in an object (as JSON), as the strategies' `GetAttrs` give it: strings as
/// they are, `spec.hostNetwork` as `true`/`false`, a missing one empty.
pub fn field_of(object: &Value, field: &str) -> Option<String> {
    let v = field.split('.').try_fold(object, |v, part| v.get(part));
    Some(match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        None | Some(Value::Null) if field == "spec.hostNetwork" => "false".into(),
        _ => String::new(),
    })
}

/// A list or watch request's selectors, one of each.
#[derive(Debug, Clone, Default)]
pub struct Selectors {
    pub labels: Selector,
    pub fields: Selector,
}

impl Selectors {
    /// From the request's `labelSelector` and `fieldSelector`, for a kind with `fields`.
    pub fn parse(
        labels: Option<&str>,
        fields: Option<&str>,
        kind_fields: &[&str],
    ) -> Result<Selectors, String> {
        Ok(Selectors {
            labels: Selector::labels(labels.unwrap_or(""))?,
            fields: Selector::fields(fields.unwrap_or(""), kind_fields)?,
        })
    }

    /// Whether the object (as JSON) is selected.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        self.labels
            .matches(|k| labels.get(k).and_then(Value::as_str).map(String::from))
            && self.fields.matches(|f| field_of(object, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web", "tier": "front"}},
               "spec": {"nodeName": "vm", "restartPolicy": "Always"},
               "status": {"phase": "Running", "podIP": "10.88.0.5"}})
    }

    // Table: selector text → selected or not (apimachinery labels.Parse / fields semantics).
    #[test]
    fn label_selectors() {
        let p = pod();
        for (sel, want) in [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app=db", false),
            ("app!=db", true),
            ("app!=web", false),
            ("missing!=x", true),
            ("app in (web,db)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("app notin (web, db)", false),
            ("missing notin (x)", true),
            ("app", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier=front", true),
            ("app=web,tier in (back)", false),
            ("tier in (back,front),app", true),
        ] {
            let s = Selectors::parse(Some(sel), None, POD_FIELDS).unwrap();
            assert_eq!(s.matches(&p), want, "{sel:?}");
        }
        assert!(Selector::labels("app in web").is_err());
        assert!(Selector::labels("app foo (x)").is_err());
        assert!(Selector::labels("=x").is_err());
    }

    #[test]
    fn field_selectors() {
        let p = pod();
        for (sel, want) in [
            ("metadata.name=web", true),
            ("metadata.name==web", true),
            ("metadata.name=other", false),
            ("metadata.name!=other", true),
            ("metadata.namespace=default,status.phase=Running", true),
            ("status.phase!=Running", false),
            ("spec.nodeName=vm", true),
            ("spec.hostNetwork=false", true),
            ("status.nominatedNodeName=", true),
        ] {
            let s = Selectors::parse(None, Some(sel), POD_FIELDS).unwrap();
            assert_eq!(s.matches(&p), want, "{sel:?}");
        }
        assert_eq!(
            Selector::fields("spec.foo=x", POD_FIELDS).unwrap_err(),
            "field label not supported: spec.foo"
        );
        assert!(Selector::fields("metadata.name in (a)", POD_FIELDS).is_err());
        assert!(Selector::fields("type=Opaque", OBJECT_FIELDS).is_ok());
    }
}
