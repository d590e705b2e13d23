//! Where a pod's files live under the daemon's root. Container names are DNS labels (no dots),
//! so the dot-prefixed internal directories never clash with a container's log directory.
//!
//! ```text
//! <root>/pods/<ns>_<name>_<uid>/
//!   <container>/<restartCount>.log    CRI log (kubelet's layout)
//!   <container>/<restartCount>.json   instance record (daemon) · <restartCount>.exit (shim)
//!   .sandbox/{net,ipc,uts}            namespaces, bind-mounted so they outlive any process
//!   .sandbox/{shim.sock,shim.pid,shim.log,hosts,hostname,resolv.conf}
//!   .volumes/<volume>/                emptyDir volumes
//!   .containers/<id>/                 OCI bundle: config.json, rootfs/, upper/, work/, termination-log
//! ```

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct PodDir(pub PathBuf);

impl PodDir {
    pub fn new(root: &Path, ns: &str, name: &str, uid: &str) -> PodDir {
        PodDir(root.join("pods").join(format!("{ns}_{name}_{uid}")))
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn sandbox(&self) -> PathBuf {
        self.0.join(".sandbox")
    }
    pub fn ns(&self, kind: &str) -> PathBuf {
        self.sandbox().join(kind)
    }
    pub fn shim_socket(&self) -> PathBuf {
        self.sandbox().join("shim.sock")
    }
    pub fn volumes(&self) -> PathBuf {
        self.0.join(".volumes")
    }
    pub fn volume(&self, name: &str) -> PathBuf {
        self.volumes().join(name)
    }
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.0.join(".containers").join(id)
    }
    pub fn container_dir(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    pub fn log(&self, name: &str, attempt: i32) -> PathBuf {
        self.container_dir(name).join(format!("{attempt}.log"))
    }
    pub fn record(&self, name: &str, attempt: i32) -> PathBuf {
        self.container_dir(name).join(format!("{attempt}.json"))
    }
    pub fn exit_file(&self, name: &str, attempt: i32) -> PathBuf {
        self.container_dir(name).join(format!("{attempt}.exit"))
    }
}

/// The runtime's container id: unique per pod instance and attempt, and a valid runc id.
pub fn container_id(uid: &str, name: &str, attempt: i32) -> String {
    format!("{}-{name}-{attempt}", uid.replace('-', ""))
}

/// The attempt a container id names (its last part); None for an id not made by
/// `container_id`.
pub fn attempt_of(id: &str) -> Option<i32> {
    id.rsplit_once('-')?.1.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn attempts_read_back() {
        let uid = "5feae3f4-b2cd-4c93-b2cc-ec9df2bc1336";
        for (name, attempt) in [("app", 0), ("log-agent", 3), ("a-b-c", 12)] {
            let id = super::container_id(uid, name, attempt);
            assert_eq!(super::attempt_of(&id), Some(attempt), "{id}");
        }
        assert_eq!(super::attempt_of("no-attempt"), None);
        assert_eq!(super::attempt_of("plain"), None);
    }
}
