//! Pulls from an OCI distribution registry (`image pull`, and kubelet's pull when a pod starts):
//! the manifest for this machine's platform (an index is resolved), the config, and each layer
//! streamed into a temporary file and stored as a blob with its digest checked, then unpacked
//! once. Layers already unpacked are not fetched again. Registries on a loopback address are
//! spoken to over plain HTTP, as docker and containerd do by default; every other one over HTTPS.

use crate::store::{ImageConfig, ImageRecord, Store};
use crate::{ImageError, IoContext, Result};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use std::io::Write;
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

fn pull_error(reference: &str, e: impl std::fmt::Display) -> ImageError {
    ImageError::Pull {
        reference: reference.to_string(),
        message: e.to_string(),
    }
}

/// Pulls `reference` into the store and records it under its normalized name.
pub async fn pull(
    store: Arc<Store>,
    reference: &str,
    progress: impl Fn(PullEvent),
) -> Result<ImageRecord> {
    let normalized = crate::reference::normalize(reference)?;
    let registry = registry_of(&normalized).to_string();
    let image: oci_client::Reference = normalized
        .parse()
        .map_err(|_| ImageError::InvalidReference(reference.to_string()))?;
    let protocol = if is_loopback(&registry) {
        ClientProtocol::HttpsExcept(vec![registry.clone()])
    } else {
        ClientProtocol::Https
    };
    // The TLS stack beluga already carries (ring); an error only says one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = oci_client::Client::new(ClientConfig {
        protocol,
        ..Default::default()
    });
    let auth = RegistryAuth::Anonymous;
    let (manifest, digest, config) = client
        .pull_manifest_and_config(&image, &auth)
        .await
        .map_err(|e| pull_error(reference, e))?;
    progress(PullEvent::Resolved {
        digest,
        layers: manifest.layers.len(),
    });
    let (config_digest, config_json) =
        store.put_config(config.as_bytes(), Some(&manifest.config.digest))?;
    let diff_ids: Vec<String> = config_json["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
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
    for (layer, diff_id) in manifest.layers.iter().zip(&diff_ids) {
        if store.layer_dir(diff_id).is_dir() {
            progress(PullEvent::Present {
                digest: layer.digest.clone(),
            });
            layers.push(diff_id.clone());
            continue;
        }
        let total = u64::try_from(layer.size).unwrap_or(0);
        let mut tmp = tempfile::NamedTempFile::new_in(store.tmp_dir())
            .ctx(|| "creating layer download".into())?;
        let mut stream = client
            .pull_blob_stream(&image, layer)
            .await
            .map_err(|e| pull_error(reference, e))?
            .stream;
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| pull_error(reference, e))?;
            tmp.write_all(&chunk)
                .ctx(|| "writing layer download".into())?;
            done += chunk.len() as u64;
            progress(PullEvent::Layer {
                digest: layer.digest.clone(),
                done,
                total,
            });
        }
        // The store hashes what it copies: the blob is kept only if its digest is the manifest's.
        let (store2, digest, expected, path) = (
            store.clone(),
            layer.digest.clone(),
            diff_id.clone(),
            tmp.path().to_path_buf(),
        );
        let (diff, s) = tokio::task::spawn_blocking(move || -> Result<(String, u64)> {
            let f = std::fs::File::open(&path).ctx(|| "reading layer download".into())?;
            let blob = store2.put_layer_blob(std::io::BufReader::new(f), Some(&digest))?;
            store2.unpack_layer(&blob, Some(&expected))
        })
        .await
        .map_err(|e| pull_error(reference, e))??;
        drop(tmp);
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
    }
}
