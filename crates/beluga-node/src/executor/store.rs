//! The real images (beluga's store, pulls from registries) and the system clock.

use super::{Clock, Images};
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_image::ImageRecord;
use std::path::PathBuf;
use std::sync::Arc;

/// Where registry credentials are looked for, as kubelet looks for node credentials: the
/// daemon's root, then the docker client's (`$DOCKER_CONFIG` or `~/.docker`).
pub fn registry_auth_files(root: &std::path::Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("config.json")];
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG") {
        files.push(PathBuf::from(dir).join("config.json"));
    } else if let Some(home) = std::env::var_os("HOME") {
        files.push(PathBuf::from(home).join(".docker/config.json"));
    }
    files
}

/// The daemon's image store; pulls with a pod's pull secrets, then the node's registry
/// credentials.
pub struct StoreImages {
    pub store: Arc<beluga_image::Store>,
    pub auth_files: Vec<PathBuf>,
}

#[async_trait::async_trait]
impl Images for StoreImages {
    fn get(&self, reference: &str) -> Option<ImageRecord> {
        self.store.get(reference).ok().flatten()
    }

    fn lower_dirs(&self, rec: &ImageRecord) -> Vec<PathBuf> {
        self.store.lower_dirs(rec)
    }

    async fn pull(
        &self,
        reference: &str,
        secrets: &[serde_json::Value],
    ) -> Result<ImageRecord, String> {
        let store = self.store.clone();
        beluga_image::registry::pull_with_secrets(
            store,
            reference,
            secrets,
            &self.auth_files,
            |_| {},
        )
        .await
        .map_err(|e| e.to_string())
    }
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
