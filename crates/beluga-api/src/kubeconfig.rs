//! The kubeconfig that points the real kubectl at beluga's API (issue 17 item 1), and its
//! merge into a user's existing one: cluster, user and context all named `beluga`, as
//! `kubectl config` merges — entries of another name are never touched, ours replaced.

use base64::Engine;
use serde_json::{json, Value};

/// The name of the cluster, the user and the context.
pub const NAME: &str = "beluga";

/// What the kubeconfig carries.
pub struct Credentials<'a> {
    /// `https://host:port`.
    pub server: &'a str,
    pub ca_pem: &'a str,
    pub cert_pem: &'a str,
    pub key_pem: &'a str,
    pub token: &'a str,
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A whole kubeconfig (`kind: Config`) for `c`, its context current.
pub fn render(c: &Credentials) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": NAME, "cluster": {
            "server": c.server,
            "certificate-authority-data": b64(c.ca_pem),
        }}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": "default"}}],
        "current-context": NAME,
        "preferences": {},
        "users": [{"name": NAME, "user": {
            "client-certificate-data": b64(c.cert_pem),
            "client-key-data": b64(c.key_pem),
            "token": c.token,
        }}],
    })
}

/// `ours` merged into `existing` (a kubeconfig or `null`): each of our clusters, users and
/// contexts replaces the entry of its name or is added; the rest stays; ours is current.
pub fn merge(existing: &Value, ours: &Value) -> Result<Value, String> {
    if existing.is_null() {
        return Ok(ours.clone());
    }
    let mut out = existing.clone();
    let Some(map) = out.as_object_mut() else {
        return Err("the existing kubeconfig is not a mapping".into());
    };
    for list in ["clusters", "users", "contexts"] {
        let entries = map.entry(list).or_insert_with(|| json!([]));
        if entries.is_null() {
            *entries = json!([]);
        }
        let Some(entries) = entries.as_array_mut() else {
            return Err(format!("the existing kubeconfig's {list:?} is not a list"));
        };
        for new in ours[list].as_array().into_iter().flatten() {
            match entries.iter_mut().find(|e| e["name"] == new["name"]) {
                Some(old) => *old = new.clone(),
                None => entries.push(new.clone()),
            }
        }
    }
    map.insert("current-context".into(), ours["current-context"].clone());
    map.entry("apiVersion").or_insert_with(|| json!("v1"));
    map.entry("kind").or_insert_with(|| json!("Config"));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Value {
        render(&Credentials {
            server: "https://127.0.0.1:6443",
            ca_pem: "CA",
            cert_pem: "CERT",
            key_pem: "KEY",
            token: "t0k",
        })
    }

    #[test]
    fn renders_a_kubeconfig_with_one_context() {
        let k = ours();
        assert_eq!(k["current-context"], "beluga");
        assert_eq!(
            k["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            k["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(k["users"][0]["user"]["token"], "t0k");
        assert_eq!(k["users"][0]["user"]["client-key-data"], "S0VZ");
        assert_eq!(k["contexts"][0]["context"]["namespace"], "default");
    }

    // Table: what a merge keeps, replaces and adds.
    #[test]
    fn merges_without_touching_other_contexts() {
        let existing = json!({
            "apiVersion": "v1", "kind": "Config", "current-context": "prod",
            "clusters": [{"name": "prod", "cluster": {"server": "https://prod"}},
                         {"name": "beluga", "cluster": {"server": "https://old"}}],
            "users": [{"name": "prod", "user": {"token": "p"}}],
            "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "prod"}}],
        });
        let m = merge(&existing, &ours()).unwrap();
        assert_eq!(m["current-context"], "beluga");
        let names = |l: &str| -> Vec<String> {
            m[l].as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("clusters"), ["prod", "beluga"]);
        assert_eq!(names("users"), ["prod", "beluga"]);
        assert_eq!(names("contexts"), ["prod", "beluga"]);
        assert_eq!(m["clusters"][0]["cluster"]["server"], "https://prod");
        assert_eq!(
            m["clusters"][1]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert_eq!(merge(&Value::Null, &ours()).unwrap(), ours());
        let empty = json!({"clusters": null});
        assert_eq!(
            merge(&empty, &ours()).unwrap()["clusters"][0]["name"],
            "beluga"
        );
        assert!(merge(&json!([1]), &ours()).is_err());
        assert!(merge(&json!({"users": 3}), &ours()).is_err());
    }
}
