//! `image load -i`: `docker save` / `podman save` archives (`manifest.json`) and OCI image layouts
//! (`oci-layout` + `index.json`), plain or compressed.

use crate::digest::{diff_ids, Digest};
use crate::store::{ImageConfig, ImageRecord, Store};
use crate::unpack::{clean_components, decompress};
use crate::{ImageError, IoContext, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Extracts the archive's regular files into a private directory (names cleaned; nothing else),
/// refusing an archive that inflates past `bound` bytes (attack report 3.10).
fn extract(path: &Path, into: &Path, bound: u64) -> Result<HashMap<String, PathBuf>> {
    let f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
    let inflated = decompress(std::io::BufReader::new(f)).ctx(|| "reading archive".into())?;
    let mut ar = tar::Archive::new(crate::store::Bounded {
        inner: inflated,
        left: bound,
        what: "archive",
    });
    let mut files = HashMap::new();
    for (n, e) in ar.entries().ctx(|| "reading archive".into())?.enumerate() {
        let mut e = e.ctx(|| "reading archive".into())?;
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = clean_components(&e.path_bytes()).join("/");
        let dest = into.join(format!("f{n}"));
        let mut out = std::fs::File::create(&dest).ctx(|| "extracting archive".into())?;
        std::io::copy(&mut e, &mut out).ctx(|| "extracting archive".into())?;
        files.insert(name, dest);
    }
    Ok(files)
}

fn read_json(files: &HashMap<String, PathBuf>, name: &str) -> Result<serde_json::Value> {
    let p = files
        .get(name)
        .ok_or_else(|| ImageError::InvalidArchive(format!("missing {name}")))?;
    let b = std::fs::read(p).ctx(|| format!("reading {name}"))?;
    serde_json::from_slice(&b).map_err(|e| ImageError::InvalidArchive(format!("{name}: {e}")))
}

/// Loads every image of the archive; `tag` names an image whose archive carries no name.
pub fn load(store: &Store, path: &Path, tag: Option<&str>) -> Result<Vec<ImageRecord>> {
    let tmp = store.scratch_dir()?;
    let files = extract(path, tmp.path(), store.max_layer_bytes())?;
    if files.contains_key("manifest.json") {
        load_docker(store, &files, tag)
    } else if files.contains_key("index.json") {
        load_oci(store, &files, tag)
    } else {
        Err(ImageError::InvalidArchive(
            "neither manifest.json (docker save) nor index.json (OCI layout) found".into(),
        ))
    }
}

fn import_layers(
    store: &Store,
    files: &HashMap<String, PathBuf>,
    layers: &[(String, Option<Digest>)],
    diff_ids: &[Digest],
) -> Result<(Vec<Digest>, u64)> {
    let mut out = Vec::new();
    let mut size = 0;
    for (i, (name, digest)) in layers.iter().enumerate() {
        let p = files
            .get(name)
            .ok_or_else(|| ImageError::InvalidArchive(format!("missing layer {name}")))?;
        let f = std::fs::File::open(p).ctx(|| format!("reading layer {name}"))?;
        let blob = store.put_layer_blob(std::io::BufReader::new(f), digest.as_ref())?;
        let (diff_id, s) = store.unpack_layer(&blob, diff_ids.get(i))?;
        out.push(diff_id);
        size += s;
    }
    Ok((out, size))
}

fn load_docker(
    store: &Store,
    files: &HashMap<String, PathBuf>,
    tag: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let manifest = read_json(files, "manifest.json")?;
    let entries = manifest
        .as_array()
        .ok_or_else(|| ImageError::InvalidArchive("manifest.json is not a list".into()))?;
    let mut out = Vec::new();
    for m in entries {
        let config_name = m
            .get("Config")
            .and_then(|c| c.as_str())
            .ok_or_else(|| ImageError::InvalidArchive("manifest without Config".into()))?;
        let config_path = files
            .get(&clean_components(config_name.as_bytes()).join("/"))
            .ok_or_else(|| ImageError::InvalidArchive(format!("missing {config_name}")))?;
        let config_bytes = std::fs::read(config_path).ctx(|| "reading config".into())?;
        let (config_digest, config) = store.put_config(&config_bytes, None)?;
        let diff_ids = diff_ids(&config)?;
        let layers: Vec<(String, Option<Digest>)> = m["Layers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str())
                    .map(|l| (clean_components(l.as_bytes()).join("/"), None))
                    .collect()
            })
            .unwrap_or_default();
        let (diff, size) = import_layers(store, files, &layers, &diff_ids)?;
        let mut names: Vec<String> = m["RepoTags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if names.is_empty() {
            names.extend(tag.map(String::from));
        }
        if names.is_empty() {
            return Err(ImageError::InvalidArchive(
                "image has no name: pass --tag".into(),
            ));
        }
        for n in names {
            out.push(store.commit(
                &n,
                &config_digest,
                diff.clone(),
                ImageConfig::from_config_json(&config),
                size,
            )?);
        }
    }
    Ok(out)
}

/// A descriptor's `digest`, parsed; `what` names the descriptor in the error.
fn descriptor_digest(desc: &serde_json::Value, what: &str) -> Result<Digest> {
    Digest::parse(what, desc["digest"].as_str().unwrap_or_default())
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn load_oci(
    store: &Store,
    files: &HashMap<String, PathBuf>,
    tag: Option<&str>,
) -> Result<Vec<ImageRecord>> {
    let index = read_json(files, "index.json")?;
    let mut out = Vec::new();
    for desc in index["manifests"].as_array().cloned().unwrap_or_default() {
        let name = desc["annotations"]["io.containerd.image.name"]
            .as_str()
            .or_else(|| desc["annotations"]["org.opencontainers.image.ref.name"].as_str())
            .map(String::from)
            .or_else(|| tag.map(String::from))
            .ok_or_else(|| ImageError::InvalidArchive("image has no name: pass --tag".into()))?;
        let mut manifest_digest = descriptor_digest(&desc, "manifest digest")?;
        let mut manifest = read_json(files, &blob_name(&manifest_digest))?;
        // A multi-arch index: take this machine's platform.
        if manifest.get("manifests").is_some() {
            let pick = manifest["manifests"]
                .as_array()
                .and_then(|ms| {
                    ms.iter().find(|m| {
                        m["platform"]["architecture"].as_str() == Some(host_arch())
                            && m["platform"]["os"].as_str() == Some("linux")
                    })
                })
                .ok_or_else(|| {
                    ImageError::InvalidArchive(format!("no linux/{} image in {name}", host_arch()))
                })?;
            manifest_digest = descriptor_digest(pick, "manifest digest")?;
            manifest = read_json(files, &blob_name(&manifest_digest))?;
        }
        let config_digest = descriptor_digest(&manifest["config"], "config digest")?;
        let config_path = files
            .get(&blob_name(&config_digest))
            .ok_or_else(|| ImageError::InvalidArchive(format!("missing config {config_digest}")))?;
        let (config_digest, config) = store.put_config(
            &std::fs::read(config_path).ctx(|| "reading config".into())?,
            Some(&config_digest),
        )?;
        let diff_ids = diff_ids(&config)?;
        let layers = manifest["layers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                let d = descriptor_digest(l, "layer digest")?;
                Ok((blob_name(&d), Some(d)))
            })
            .collect::<Result<Vec<_>>>()?;
        let (diff, size) = import_layers(store, files, &layers, &diff_ids)?;
        // `ref.name` may be only a tag ("1.0"); then the reference comes from --tag.
        let reference = if name.contains('/') || name.contains(':') || tag.is_none() {
            name
        } else {
            tag.map(String::from).unwrap_or(name)
        };
        out.push(store.commit(
            &reference,
            &config_digest,
            diff,
            ImageConfig::from_config_json(&config),
            size,
        )?);
    }
    Ok(out)
}
