//! Pulls from an OCI distribution registry (`image pull`, and kubelet's pull when a pod starts):
//! the manifest for this machine's platform (an index is resolved), the config, and each layer
//! streamed into the blob store, hashed as it arrives and kept only if its digest checks, then
//! unpacked once. Layers already unpacked are not fetched again. Registries on a loopback address are
//! spoken to over plain HTTP, as docker and containerd do by default; every other one over HTTPS.

use crate::digest::{diff_ids, Digest};
use crate::store::{ImageConfig, ImageRecord, Store};
use crate::{ImageError, Result};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use std::sync::Arc;

/// What a pull reports as it goes, for progress output.
#[derive(Debug, Clone, PartialEq)]
pub enum PullEvent {
    /// The manifest for this platform: its digest and how many layers it has.
    Resolved { digest: String, layers: usize },
    /// Bytes of a layer received so far (`total` from its descriptor).
    Layer {
        digest: String,
        done: u64,
        total: u64,
    },
    /// A layer already in the store.
    Present { digest: String },
}

/// The registry part of a normalized reference (`127.0.0.1:5000/app:1` → `127.0.0.1:5000`).
pub fn registry_of(normalized: &str) -> &str {
    normalized.split('/').next().unwrap_or("")
}

/// `localhost/…` names images made on this machine by import or load (podman's convention):
/// they are never pulled.
pub fn made_here(normalized: &str) -> bool {
    registry_of(normalized) == "localhost"
}

/// Whether a registry address is this machine's loopback (plain HTTP is then allowed).
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        registry.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|a| a.is_loopback())
}

/// Credentials for `registry` from docker-style config files (`{"auths": {"host[:port]":
/// {"auth": base64("user:pass")}}}`, or `username`/`password`), as kubelet reads node credentials
/// from `config.json` files; the first file naming the registry wins. Keys may carry a scheme or a
/// path (`https://index.docker.io/v1/` stands for docker.io). Anonymous when none matches.
pub fn credentials(registry: &str, files: &[std::path::PathBuf]) -> RegistryAuth {
    let configs: Vec<serde_json::Value> = files
        .iter()
        .filter_map(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            match serde_json::from_str(&text) {
                Ok(v) => Some(v),
                Err(_) => {
                    tracing::warn!(file = %f.display(), "registry credentials: not JSON, ignored");
                    None
                }
            }
        })
        .collect();
    credentials_in(registry, &configs).unwrap_or(RegistryAuth::Anonymous)
}

/// The first credentials for `registry` in docker-style configs (`config.json` files, or a
/// pod's `kubernetes.io/dockerconfigjson` pull secrets), if any names it.
pub fn credentials_in(registry: &str, configs: &[serde_json::Value]) -> Option<RegistryAuth> {
    let want = if registry == "docker.io" {
        "index.docker.io"
    } else {
        registry
    };
    for v in configs {
        let Some(auths) = v["auths"].as_object() else {
            continue;
        };
        for (key, entry) in auths {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("");
            if host != want {
                continue;
            }
            if let Some(auth) = basic_auth(entry) {
                return Some(auth);
            }
        }
    }
    None
}

/// `username`/`password`, or `auth` as base64 of `user:pass`.
fn basic_auth(entry: &serde_json::Value) -> Option<RegistryAuth> {
    if let (Some(u), Some(p)) = (entry["username"].as_str(), entry["password"].as_str()) {
        return Some(RegistryAuth::Basic(u.to_string(), p.to_string()));
    }
    let decoded = entry["auth"].as_str().and_then(|a| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(a).ok()
    })?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some(RegistryAuth::Basic(u.to_string(), p.to_string()))
}

fn pull_error(reference: &str, e: impl std::fmt::Display) -> ImageError {
    ImageError::Pull {
        reference: reference.to_string(),
        message: e.to_string(),
    }
}

/// Pulls `reference` into the store and records it under its normalized name; `auth_files` are
/// docker-style config files searched for the registry's credentials.
pub async fn pull(
    store: Arc<Store>,
    reference: &str,
    auth_files: &[std::path::PathBuf],
    progress: impl Fn(PullEvent),
) -> Result<ImageRecord> {
    pull_with_secrets(store, reference, &[], auth_files, progress).await
}

/// [`pull`] with a pod's pull secrets (docker-style configs), whose credentials for the
/// registry come before the node's files (kubelet's keyring of the pod's secrets and the node's).
pub async fn pull_with_secrets(
    store: Arc<Store>,
    reference: &str,
    secrets: &[serde_json::Value],
    auth_files: &[std::path::PathBuf],
    progress: impl Fn(PullEvent),
) -> Result<ImageRecord> {
    let normalized = crate::reference::normalize(reference)?;
    let registry = registry_of(&normalized).to_string();
    if made_here(&normalized) {
        return Err(pull_error(
            reference,
            "not present on this machine: localhost/ images are added with `beluga image import` or `beluga image load`, not pulled",
        ));
    }
    let image: oci_client::Reference = normalized
        .parse()
        .map_err(|_| ImageError::InvalidReference(reference.to_string()))?;
    let client = client_for(&registry);
    let auth =
        credentials_in(&registry, secrets).unwrap_or_else(|| credentials(&registry, auth_files));
    let (manifest, digest, config) = client
        .pull_manifest_and_config(&image, &auth)
        .await
        .map_err(|e| pull_error(reference, e))?;
    progress(PullEvent::Resolved {
        digest,
        layers: manifest.layers.len(),
    });
    let config_digest = Digest::parse("config digest", &manifest.config.digest)?;
    let (config_digest, config_json) = store.put_config(config.as_bytes(), Some(&config_digest))?;
    let diff_ids = diff_ids(&config_json)?;
    // Every digest is checked before anything is fetched: a bad one refuses the whole image.
    let layer_digests = manifest
        .layers
        .iter()
        .map(|l| Digest::parse("layer digest", &l.digest))
        .collect::<Result<Vec<_>>>()?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(pull_error(
            reference,
            format!(
                "manifest has {} layers but the config {} diff IDs",
                manifest.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::new();
    let mut size = 0;
    let ids = layer_digests.into_iter().zip(diff_ids);
    for (layer, (digest, diff_id)) in manifest.layers.iter().zip(ids) {
        let fetch = LayerFetch {
            client: &client,
            image: &image,
            reference,
        };
        let (diff, s) = fetch
            .layer(&store, layer, digest, diff_id, &progress)
            .await?;
        layers.push(diff);
        size += s;
    }
    store.commit(
        &normalized,
        &config_digest,
        layers,
        ImageConfig::from_config_json(&config_json),
        size,
    )
}

/// A client for `registry`: plain HTTP only for loopback registries, and timeouts, so that a
/// registry that stops sending fails the pull instead of holding it (and every pull queued behind
/// it) forever — like dockershim's one-minute image-pull progress deadline.
fn client_for(registry: &str) -> oci_client::Client {
    let protocol = if is_loopback(registry) {
        ClientProtocol::HttpsExcept(vec![registry.to_string()])
    } else {
        ClientProtocol::Https
    };
    // The TLS stack beluga already carries (ring); an error only says one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    oci_client::Client::new(ClientConfig {
        protocol,
        connect_timeout: Some(std::time::Duration::from_secs(30)),
        read_timeout: Some(std::time::Duration::from_secs(60)),
        user_agent: concat!("beluga/", env!("CARGO_PKG_VERSION")),
        ..Default::default()
    })
}

/// Fetching one image's layers.
struct LayerFetch<'a> {
    client: &'a oci_client::Client,
    image: &'a oci_client::Reference,
    reference: &'a str,
}

impl LayerFetch<'_> {
    /// One layer: skipped when this store already unpacked it, else streamed into a blob (kept
    /// only if its digest is the manifest's) and unpacked once. Returns its diff ID and size.
    async fn layer(
        &self,
        store: &Arc<Store>,
        layer: &oci_client::manifest::OciDescriptor,
        digest: Digest,
        diff_id: Digest,
        progress: &impl Fn(PullEvent),
    ) -> Result<(Digest, u64)> {
        if let Some(s) = store.layer_present(&diff_id) {
            progress(PullEvent::Present {
                digest: layer.digest.clone(),
            });
            return Ok((diff_id, s));
        }
        let total = u64::try_from(layer.size).unwrap_or(0);
        let mut blob = store.blob_writer()?;
        let mut stream = self
            .client
            .pull_blob_stream(self.image, layer)
            .await
            .map_err(|e| pull_error(self.reference, e))?
            .stream;
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| pull_error(self.reference, e))?;
            blob.write(&chunk)?;
            done += chunk.len() as u64;
            progress(PullEvent::Layer {
                digest: layer.digest.clone(),
                done,
                total,
            });
        }
        let store = store.clone();
        tokio::task::spawn_blocking(move || -> Result<(Digest, u64)> {
            let stored = blob.commit(Some(&digest))?;
            store.unpack_layer(&stored, Some(&diff_id))
        })
        .await
        .map_err(|e| pull_error(self.reference, e))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries() {
        for (registry, want) in [
            ("127.0.0.1:5000", true),
            ("127.1.2.3", true),
            ("localhost:5000", true),
            ("localhost", true),
            ("[::1]:5000", true),
            ("docker.io", false),
            ("10.0.0.1:5000", false),
            ("registry.example.com:443", false),
            ("localhost.example.com", false),
        ] {
            assert_eq!(is_loopback(registry), want, "{registry}");
        }
        assert_eq!(registry_of("127.0.0.1:5000/app/x:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("docker.io/library/busybox:latest"), "docker.io");
        assert!(made_here("localhost/busybox:1"));
        assert!(!made_here("localhost:5000/busybox:1"));
        assert!(!made_here("docker.io/localhost/busybox:1"));
    }

    #[test]
    fn credentials_from_config_files() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.json");
        let second = dir.path().join("second.json");
        std::fs::write(
            &first,
            r#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcjN0OndpdGg6Y29sb25z"}, "https://index.docker.io/v1/": {"username": "bob", "password": "pw"}}}"#,
        )
        .unwrap();
        std::fs::write(
            &second,
            r#"{"auths": {"http://reg.example:5000/": {"auth": "Y2Fyb2w6eA=="}, "127.0.0.1:5000": {"username": "later", "password": "x"}}}"#,
        )
        .unwrap();
        let broken = dir.path().join("broken.json");
        std::fs::write(&broken, "not json").unwrap();
        let files = vec![dir.path().join("missing.json"), broken, first, second];
        let basic = |u: &str, p: &str| RegistryAuth::Basic(u.into(), p.into());
        for (registry, want) in [
            // base64 "alice:s3cr3t:with:colons": the password keeps its colons.
            ("127.0.0.1:5000", basic("alice", "s3cr3t:with:colons")),
            ("docker.io", basic("bob", "pw")),
            // A scheme and a path in the key are ignored; a later file is searched too.
            ("reg.example:5000", basic("carol", "x")),
            ("127.0.0.1:5001", RegistryAuth::Anonymous),
            ("reg.example", RegistryAuth::Anonymous),
        ] {
            assert_eq!(credentials(registry, &files), want, "{registry}");
        }
        assert_eq!(credentials("127.0.0.1:5000", &[]), RegistryAuth::Anonymous);
    }
}
