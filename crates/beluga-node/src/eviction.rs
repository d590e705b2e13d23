//! The part of kubelet's eviction manager a pod can trip on one machine: an emptyDir on disk
//! that outgrows its `sizeLimit` evicts its pod (spec §11.1; attack report 5.11: 2 GiB written
//! to a 100Mi emptyDir went unnoticed). Usage is measured every 10 s, kubelet's monitoring
//! period: disk usage has no event to wait on. (A `medium: Memory` emptyDir is a tmpfs of that
//! size, which the kernel bounds itself.)

use crate::events::EventType;
use crate::podstate::PodHandle;
use crate::Daemon;
use beluga_api::Pod;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// kubelet's `evictionMonitoringPeriod`.
pub const PERIOD: Duration = Duration::from_secs(10);

/// The disk emptyDirs of a pod that have a size limit: (volume, bytes, the limit as written).
pub fn limits(pod: &Pod) -> Vec<(String, u64, String)> {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let ed = v.empty_dir.as_ref()?;
            if ed.medium.as_deref() == Some("Memory") {
                return None;
            }
            let q = ed.size_limit.as_ref()?;
            let bytes = beluga_api::quantity::parse_bytes(&q.0).filter(|b| *b > 0)?;
            Some((v.name.clone(), bytes, q.0.clone()))
        })
        .collect()
}

/// Bytes a directory tree takes on disk, as `du` counts them (allocated blocks; links not
/// followed; other filesystems mounted inside not counted).
pub fn usage(dir: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = top.blocks() * 512;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    total
}

/// kubelet's message when `used` exceeds a volume's limit.
pub fn over_limit(volume: &str, limit: u64, shown: &str, used: u64) -> Option<String> {
    (used > limit)
        .then(|| format!("Usage of EmptyDir volume {volume:?} exceeds the limit {shown:?}. "))
}

/// Checks every running pod each period, and evicts those over a limit.
pub async fn run(d: Arc<Daemon>) {
    loop {
        tokio::time::sleep(PERIOD).await;
        for h in d.list(None) {
            let (pod, skip) = {
                let st = h.lock();
                (
                    st.pod.clone(),
                    st.terminal || st.removing || st.ended.is_some(),
                )
            };
            let volumes = limits(&pod);
            if skip || volumes.is_empty() {
                continue;
            }
            let dir = h.dir.clone();
            let found = tokio::task::spawn_blocking(move || {
                volumes.iter().find_map(|(name, limit, shown)| {
                    over_limit(name, *limit, shown, usage(&dir.volume(name)))
                })
            })
            .await;
            if let Ok(Some(message)) = found {
                evict(&h, message);
            }
        }
    }
}

/// Marks the pod evicted (its worker then kills it and it ends `Failed`, reason `Evicted`).
fn evict(h: &PodHandle, message: String) {
    let mut st = h.lock();
    let pod = st.pod.clone();
    tracing::warn!(pod = %beluga_api::podutil::name(&pod), %message, "evicting the pod");
    st.events
        .record(&pod, None, EventType::Warning, "Evicted", message.clone());
    st.ended = Some(("Evicted".into(), message));
    drop(st);
    h.wake.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    // spec §11.1: which volumes are watched, and kubelet's message.
    #[test]
    fn limits_and_message() {
        let pod: Pod =
            serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p"}, "spec": {"containers": [], "volumes": [
                {"name": "disk", "emptyDir": {"sizeLimit": "100Mi"}},
                {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "50Mi"}},
                {"name": "free", "emptyDir": {}},
                {"name": "zero", "emptyDir": {"sizeLimit": "0"}},
                {"name": "host", "hostPath": {"path": "/tmp"}}]}}))
            .unwrap();
        assert_eq!(
            limits(&pod),
            vec![("disk".to_string(), 100 << 20, "100Mi".to_string())]
        );
        assert_eq!(over_limit("disk", 100 << 20, "100Mi", 100 << 20), None);
        assert_eq!(
            over_limit("disk", 100 << 20, "100Mi", (100 << 20) + 1).as_deref(),
            Some("Usage of EmptyDir volume \"disk\" exceeds the limit \"100Mi\". ")
        );
    }

    #[test]
    fn usage_counts_allocated_blocks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/data"), vec![1u8; 1 << 20]).unwrap();
        std::os::unix::fs::symlink("/usr", d.path().join("link")).unwrap();
        let used = usage(d.path());
        assert!((1 << 20..4 << 20).contains(&used), "{used}");
    }
}
