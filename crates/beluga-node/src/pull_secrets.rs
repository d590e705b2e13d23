//! A pod's `imagePullSecrets` (issue 16 item 6), as kubelet reads them for a pull: each named
//! Secret of the pod's namespace, a `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`) or
//! legacy `kubernetes.io/dockercfg` (`.dockercfg`) one, as a docker-style config whose
//! credentials come before the node's; the ones missing are named in kubelet's
//! `FailedToRetrieveImagePullSecret` warning, and the pull goes ahead.

use crate::Daemon;
use beluga_api::{podutil, Pod, Secret};

/// A pull secret's docker config (`{"auths": {...}}`), if it is one of the two docker types.
pub fn docker_config(secret: &Secret) -> Option<serde_json::Value> {
    let data = secret.data.as_ref()?;
    match secret.type_.as_deref() {
        Some("kubernetes.io/dockerconfigjson") => {
            serde_json::from_slice(&data.get(".dockerconfigjson")?.0).ok()
        }
        Some("kubernetes.io/dockercfg") => {
            let auths: serde_json::Value =
                serde_json::from_slice(&data.get(".dockercfg")?.0).ok()?;
            Some(serde_json::json!({ "auths": auths }))
        }
        _ => None,
    }
}

/// kubelet's message for pull secrets it could not read.
pub fn missing_message(missing: &[String]) -> String {
    format!(
        "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
        missing.join(", ")
    )
}

impl Daemon {
    /// The pod's pull secrets as docker configs, and the names of those not found.
    pub fn pull_secrets(&self, pod: &Pod) -> (Vec<serde_json::Value>, Vec<String>) {
        let ns = podutil::namespace(pod);
        let refs = pod
            .spec
            .as_ref()
            .and_then(|s| s.image_pull_secrets.as_ref());
        let (mut configs, mut missing) = (Vec::new(), Vec::new());
        for r in refs.into_iter().flatten().filter(|r| !r.name.is_empty()) {
            match self.secrets.get(ns, &r.name) {
                Some(s) => configs.extend(docker_config(&s)),
                None => missing.push(r.name.clone()),
            }
        }
        (configs, missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beluga_api::k8s_openapi::ByteString;

    fn secret(kind: &str, key: &str, value: &str) -> Secret {
        Secret {
            type_: Some(kind.into()),
            data: Some([(key.to_string(), ByteString(value.as_bytes().to_vec()))].into()),
            ..Default::default()
        }
    }

    #[test]
    fn docker_secrets_as_configs() {
        let auths = r#"{"auths":{"127.0.0.1:5000":{"auth":"dTpw"}}}"#;
        assert_eq!(
            docker_config(&secret(
                "kubernetes.io/dockerconfigjson",
                ".dockerconfigjson",
                auths
            )),
            Some(serde_json::from_str(auths).unwrap())
        );
        assert_eq!(
            docker_config(&secret(
                "kubernetes.io/dockercfg",
                ".dockercfg",
                r#"{"r":{"auth":"dTpw"}}"#
            )),
            Some(serde_json::json!({"auths": {"r": {"auth": "dTpw"}}}))
        );
        // Another type, or the key of the other type: not a pull secret.
        assert_eq!(
            docker_config(&secret("Opaque", ".dockerconfigjson", auths)),
            None
        );
        assert_eq!(
            docker_config(&secret(
                "kubernetes.io/dockerconfigjson",
                ".dockercfg",
                auths
            )),
            None
        );
        assert_eq!(
            missing_message(&["a".into(), "b".into()]),
            "Unable to retrieve some image pull secrets (a, b); attempting to pull the image may not succeed."
        );
    }
}
