//! The store on disk:
//! `blobs/sha256/<hex>` (content-addressed), `layers/<diffid-hex>/` (one unpacked directory per
//! layer, shared by every image that has it) beside `layers/<diffid-hex>.json` (the record that it
//! was unpacked here, and its size), `images.json` (reference → record, written atomically).
//! Every name below the store's root is a parsed [`Digest`]'s hex, never text from an image.

use crate::digest::Digest;
use crate::reference::normalize;
use crate::unpack::{apply_layer, decompress, tar_directory, HashingReader};
use crate::{ImageError, IoContext, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The parts of an image config that decide how a container runs (spec §10).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    pub stop_signal: Option<String>,
}

impl ImageConfig {
    /// From an OCI/Docker image config document (`{"config": {"Env": …}}`).
    pub fn from_config_json(v: &serde_json::Value) -> Self {
        let c = v.get("config").or_else(|| v.get("container_config"));
        let strings = |k: &str| -> Option<Vec<String>> {
            c?.get(k)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(String::from))
                    .collect()
            })
        };
        let string = |k: &str| {
            c.and_then(|c| c.get(k))
                .and_then(|s| s.as_str())
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        ImageConfig {
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            env: strings("Env").unwrap_or_default(),
            working_dir: string("WorkingDir"),
            user: string("User"),
            stop_signal: string("StopSignal"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Normalized reference (`localhost/busybox:1`).
    pub reference: String,
    /// `sha256:<config digest>`: the image ID, and the status `imageID`.
    pub id: Digest,
    /// Diff IDs, bottom layer first.
    pub layers: Vec<Digest>,
    pub config: ImageConfig,
    /// Unpacked size in bytes.
    pub size: u64,
    /// RFC 3339.
    pub created: String,
}

pub struct Store {
    root: PathBuf,
    lock: Mutex<()>,
    /// The most bytes one layer may inflate to (a gzip bomb is refused, not stored).
    max_layer_bytes: u64,
}

/// The default bound on a layer's uncompressed size: generous (the largest real layers are a
/// few GiB), yet far from a disk-filling bomb.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 64 << 30;

fn hex_of(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

/// What `layers/<hex>.json` records of a layer unpacked here.
#[derive(Serialize, Deserialize)]
struct LayerRecord {
    diff_id: Digest,
    size: u64,
}

/// The store's directories: root-only, so that nothing in an image (a setuid binary, a device
/// node) can be reached by another local user (attack report 3.8).
const PRIVATE: u32 = 0o700;

pub use beluga_fsutil::write_atomic;

impl Store {
    pub fn open(root: &Path) -> Result<Store> {
        use std::os::unix::fs::PermissionsExt;
        for d in ["blobs/sha256", "layers", "tmp"] {
            std::fs::create_dir_all(root.join(d))
                .ctx(|| format!("creating {}", root.join(d).display()))?;
        }
        // The store's own directory, whoever made its parents: an older store was 0755.
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(PRIVATE))
            .ctx(|| format!("securing {}", root.display()))?;
        // Leftovers of an interrupted import.
        if let Ok(rd) = std::fs::read_dir(root.join("tmp")) {
            for e in rd.flatten() {
                let _ =
                    std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
        Ok(Store {
            root: root.to_path_buf(),
            lock: Mutex::new(()),
            max_layer_bytes: DEFAULT_MAX_LAYER_BYTES,
        })
    }

    /// The bound on a layer's uncompressed size (attack report 3.10).
    /// A private scratch directory inside the store (removed when dropped): what is unpacked
    /// on the way in stays on the store's file system, never in `$TMPDIR`.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("scratch-")
            .tempdir_in(self.root.join("tmp"))
            .ctx(|| "creating a scratch directory".into())
    }

    /// The most bytes one layer (or one archive being loaded) may inflate to.
    pub fn max_layer_bytes(&self) -> u64 {
        self.max_layer_bytes
    }

    pub fn with_max_layer_bytes(mut self, n: u64) -> Store {
        self.max_layer_bytes = n;
        self
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn read_index(&self) -> Result<BTreeMap<String, ImageRecord>> {
        match std::fs::read(self.index_path()) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| ImageError::Corrupt(format!("images.json: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(e).ctx(|| "reading images.json".into()),
        }
    }

    fn write_index(&self, idx: &BTreeMap<String, ImageRecord>) -> Result<()> {
        let data =
            serde_json::to_vec_pretty(idx).map_err(|e| ImageError::Corrupt(e.to_string()))?;
        write_atomic(&self.index_path(), &data).ctx(|| "writing images.json".into())
    }

    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    fn layer_record_path(&self, diff_id: &Digest) -> PathBuf {
        self.root
            .join("layers")
            .join(format!("{}.json", diff_id.hex()))
    }

    /// The unpacked size of a layer this store unpacked and recorded; `None` for anything else,
    /// even a directory of that name.
    pub fn layer_present(&self, diff_id: &Digest) -> Option<u64> {
        let rec: LayerRecord =
            serde_json::from_slice(&std::fs::read(self.layer_record_path(diff_id)).ok()?).ok()?;
        let is_dir = std::fs::symlink_metadata(self.layer_dir(diff_id)).is_ok_and(|m| m.is_dir());
        (rec.diff_id == *diff_id && is_dir).then_some(rec.size)
    }

    /// Overlay `lowerdir` order: top layer first.
    pub fn lower_dirs(&self, rec: &ImageRecord) -> Vec<PathBuf> {
        rec.layers.iter().rev().map(|l| self.layer_dir(l)).collect()
    }

    pub fn list(&self) -> Result<Vec<ImageRecord>> {
        Ok(self.read_index()?.into_values().collect())
    }

    /// By reference (normalized), full ID or an ID prefix of 12+ hex digits.
    pub fn get(&self, reference: &str) -> Result<Option<ImageRecord>> {
        let idx = self.read_index()?;
        if let Ok(n) = normalize(reference) {
            if let Some(r) = idx.get(&n) {
                return Ok(Some(r.clone()));
            }
        }
        let want = hex_of(reference);
        if want.len() >= 12 && want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(idx.values().find(|r| r.id.hex().starts_with(want)).cloned());
        }
        Ok(None)
    }

    /// Stores a stream as a blob, checking its digest when one is expected.
    fn put_blob(&self, mut r: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        let mut w = self.blob_writer()?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = r.read(&mut buf).ctx(|| "reading blob".into())?;
            if n == 0 {
                break;
            }
            w.write(&buf[..n])?;
        }
        w.commit(expected)
    }

    /// A blob written piece by piece (a download) and hashed as it is written, so it is copied
    /// nowhere else before it is stored.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        Ok(BlobWriter {
            tmp: tempfile::NamedTempFile::new_in(self.root.join("tmp"))
                .ctx(|| "creating blob".into())?,
            hash: Sha256::new(),
            dir: self.root.join("blobs/sha256"),
        })
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Unpacks a (possibly compressed) layer blob once; returns its diff ID and unpacked size.
    pub fn unpack_layer(
        &self,
        blob_digest: &Digest,
        expected_diff_id: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        if let Some(d) = expected_diff_id {
            if let Some(size) = self.layer_present(d) {
                return Ok((d.clone(), size));
            }
        }
        let f = std::fs::File::open(self.blob_path(blob_digest))
            .ctx(|| format!("opening blob {blob_digest}"))?;
        let inflated =
            decompress(std::io::BufReader::new(f)).ctx(|| "decompressing layer".into())?;
        let mut hr = HashingReader::new(Bounded {
            inner: inflated,
            left: self.max_layer_bytes,
            what: "layer",
        });
        let tmp = tempfile::Builder::new()
            .prefix("layer-")
            .tempdir_in(self.root.join("tmp"))
            .ctx(|| "creating layer dir".into())?;
        let stats = apply_layer(&mut hr, tmp.path())?;
        let diff_id = hr.finish().ctx(|| "reading layer".into())?;
        if let Some(d) = expected_diff_id {
            if *d != diff_id {
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {blob_digest}"),
                    expected: d.to_string(),
                    actual: diff_id.to_string(),
                });
            }
        }
        self.store_layer(tmp, &diff_id, stats.bytes)?;
        Ok((diff_id, stats.bytes))
    }

    /// Moves an unpacked layer into place and records it, unless another import or pull stored
    /// the same layer meanwhile. A directory of that name without a record (an interrupted
    /// store, or an older store's layout) is replaced.
    fn store_layer(&self, tmp: tempfile::TempDir, diff_id: &Digest, size: u64) -> Result<()> {
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.layer_present(diff_id).is_some() {
            return Ok(());
        }
        let dest = self.layer_dir(diff_id);
        if std::fs::symlink_metadata(&dest).is_ok() {
            remove_tree(&dest).ctx(|| format!("replacing layer {diff_id}"))?;
        }
        let kept = tmp.keep();
        if let Err(e) = std::fs::rename(&kept, &dest) {
            let _ = std::fs::remove_dir_all(&kept);
            return Err(e).ctx(|| format!("storing layer {diff_id}"));
        }
        let rec = serde_json::to_vec(&LayerRecord {
            diff_id: diff_id.clone(),
            size,
        })
        .map_err(|e| ImageError::Corrupt(e.to_string()))?;
        write_atomic(&self.layer_record_path(diff_id), &rec)
            .ctx(|| format!("recording layer {diff_id}"))
    }

    /// Records an image under `reference`, replacing an older image with the same name.
    pub fn commit(
        &self,
        reference: &str,
        config_digest: &Digest,
        layers: Vec<Digest>,
        config: ImageConfig,
        size: u64,
    ) -> Result<ImageRecord> {
        let reference = normalize(reference)?;
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut idx = self.read_index()?;
        let rec = ImageRecord {
            reference: reference.clone(),
            id: config_digest.clone(),
            layers,
            config,
            size,
            created: beluga_api::k8s_openapi::jiff::Timestamp::now().to_string(),
        };
        idx.insert(reference, rec.clone());
        self.write_index(&idx)?;
        Ok(rec)
    }

    /// `image import PATH --tag REF`: a rootfs directory or a tarball of one (like `docker import`).
    pub fn import_rootfs(&self, path: &Path, reference: &str) -> Result<ImageRecord> {
        normalize(reference)?;
        let meta = std::fs::metadata(path).ctx(|| format!("reading {}", path.display()))?;
        let blob = if meta.is_dir() {
            let mut tmp = tempfile::NamedTempFile::new_in(self.root.join("tmp"))
                .ctx(|| "creating layer".into())?;
            tar_directory(path, tmp.as_file_mut())?;
            let f = std::fs::File::open(tmp.path()).ctx(|| "reading layer".into())?;
            self.put_blob(std::io::BufReader::new(f), None)?
        } else {
            let f = std::fs::File::open(path).ctx(|| format!("opening {}", path.display()))?;
            self.put_blob(std::io::BufReader::new(f), None)?
        };
        let (diff_id, size) = self.unpack_layer(&blob, None)?;
        let config = serde_json::json!({
            "architecture": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": format!("beluga image import {}", path.display()), "comment": "imported"}],
        });
        let config_bytes =
            serde_json::to_vec(&config).map_err(|e| ImageError::Corrupt(e.to_string()))?;
        let config_digest = self.put_blob(&config_bytes[..], None)?;
        self.commit(
            reference,
            &config_digest,
            vec![diff_id],
            ImageConfig::default(),
            size,
        )
    }

    /// Stores a config blob and returns its digest and the parsed config.
    pub fn put_config(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
    ) -> Result<(Digest, serde_json::Value)> {
        let digest = self.put_blob(bytes, expected)?;
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ImageError::InvalidArchive(format!("image config: {e}")))?;
        Ok((digest, v))
    }

    pub fn put_layer_blob(&self, r: impl Read, expected: Option<&Digest>) -> Result<Digest> {
        self.put_blob(r, expected)
    }

    /// `image rm`: drops the reference, then any layer and blob no remaining image uses.
    pub fn remove(
        &self,
        reference: &str,
        in_use: impl Fn(&ImageRecord) -> Option<String>,
    ) -> Result<ImageRecord> {
        let rec = self
            .get(reference)?
            .ok_or_else(|| ImageError::NotFound(reference.to_string()))?;
        if let Some(user) = in_use(&rec) {
            return Err(ImageError::InUse {
                reference: rec.reference.clone(),
                user,
            });
        }
        let _g = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut idx = self.read_index()?;
        idx.remove(&rec.reference);
        self.write_index(&idx)?;
        let still_used: std::collections::HashSet<&Digest> =
            idx.values().flat_map(|r| r.layers.iter()).collect();
        for l in &rec.layers {
            // Only what this store unpacked: the record goes first, so a half-removed layer
            // is never taken for present.
            if !still_used.contains(l) && self.layer_present(l).is_some() {
                let _ = std::fs::remove_file(self.layer_record_path(l));
                let _ = remove_tree(&self.layer_dir(l));
            }
        }
        if !idx.values().any(|r| r.id == rec.id) {
            let _ = std::fs::remove_file(self.blob_path(&rec.id));
        }
        Ok(rec)
    }
}

/// A reader that fails once more than `left` bytes come out of it.
/// A reader that fails once more than `left` bytes came through it.
pub(crate) struct Bounded<R> {
    pub inner: R,
    pub left: u64,
    /// What inflates, for the error: "layer", "archive".
    pub what: &'static str,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "the {} inflates past the store's bound (--max-layer-size)",
                self.what
            ))
        })?;
        Ok(n)
    }
}

/// Removes a directory tree of the store's (never following a symlink, not even at the top).
fn remove_tree(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    }
}

/// See [`Store::blob_writer`].
pub struct BlobWriter {
    tmp: tempfile::NamedTempFile,
    hash: Sha256,
    dir: PathBuf,
}

impl BlobWriter {
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.hash.update(data);
        self.tmp.write_all(data).ctx(|| "writing blob".into())
    }

    /// Keeps the blob (synced) if its digest is `expected` (when given); returns its digest.
    pub fn commit(self, expected: Option<&Digest>) -> Result<Digest> {
        let digest = Digest::from_sha256(&self.hash.finalize());
        if let Some(e) = expected {
            if *e != digest {
                return Err(ImageError::DigestMismatch {
                    what: "blob".into(),
                    expected: e.to_string(),
                    actual: digest.to_string(),
                });
            }
        }
        self.tmp
            .as_file()
            .sync_all()
            .ctx(|| "syncing blob".into())?;
        self.tmp
            .persist(self.dir.join(digest.hex()))
            .map_err(|e| ImageError::Io {
                context: "storing blob".into(),
                source: e.error,
            })?;
        Ok(digest)
    }
}
