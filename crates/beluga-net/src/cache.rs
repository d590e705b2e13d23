//! Attachments on disk (libcni's result cache): the list an ADD used and its result, kept until
//! the DEL, so that a DEL after a restart — or after the configuration changed — releases
//! exactly what the ADD took.

use crate::conf::ConfList;
use crate::result::CniResult;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cached {
    pub container_id: String,
    pub ifname: String,
    pub list: ConfList,
    pub result: CniResult,
    /// The ADD's `CNI_ARGS` and capability arguments (libcni caches its `RuntimeConf` too):
    /// `portmap` removes its rules only when its DEL is given the same `portMappings`.
    #[serde(default)]
    pub args: Vec<(String, String)>,
    #[serde(default)]
    pub capability_args: serde_json::Map<String, serde_json::Value>,
}

/// The cache entry of one attachment under `dir` (libcni's `<net>-<id>-<ifname>`).
pub fn path(dir: &Path, network: &str, container_id: &str, ifname: &str) -> PathBuf {
    dir.join(format!("{network}-{container_id}-{ifname}"))
}

/// Writes an entry atomically (a torn entry would lose the DEL).
pub fn write(dir: &Path, c: &Cached) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let p = path(dir, &c.list.name, &c.container_id, &c.ifname);
    let tmp = p.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(c).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, &p)
}

/// The entries of `container_id` under `dir`, whatever network they were for.
pub fn read_all(dir: &Path, container_id: &str) -> Vec<(PathBuf, Cached)> {
    entries(dir)
        .into_iter()
        .filter(|(_, c)| c.container_id == container_id)
        .collect()
}

/// Every entry under `dir` (a sandbox's own directory, whose attachment may have been made
/// under another id: a spare's, before a pod took it).
pub fn entries(dir: &Path) -> Vec<(PathBuf, Cached)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut all: Vec<(PathBuf, Cached)> = rd
        .flatten()
        .filter_map(|e| {
            let text = std::fs::read(e.path()).ok()?;
            let c: Cached = serde_json::from_slice(&text).ok()?;
            Some((e.path(), c))
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_are_found_by_sandbox() {
        let dir = tempfile::tempdir().unwrap();
        let list =
            ConfList::parse(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}"#)
                .unwrap();
        let c = Cached {
            container_id: "abc".into(),
            ifname: "eth0".into(),
            list,
            result: CniResult::default(),
            args: vec![("K8S_POD_NAME".into(), "p".into())],
            capability_args: serde_json::json!({"portMappings": [{"hostPort": 1}]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        write(dir.path(), &c).unwrap();
        let found = read_all(dir.path(), "abc");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, path(dir.path(), "n", "abc", "eth0"));
        assert_eq!(found[0].1, c);
        assert!(read_all(dir.path(), "other").is_empty());
        assert!(read_all(&dir.path().join("missing"), "abc").is_empty());
        assert_eq!(entries(dir.path()), found);
        std::fs::write(dir.path().join("adding"), "abc").unwrap();
        assert_eq!(entries(dir.path()).len(), 1, "a non-entry file is skipped");
    }
}
