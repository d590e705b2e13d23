//! Image store: rootfs import, `docker save` and OCI archives, removal. Needs root (chown/mknod).

use beluga_image::{archive, Store};
use sha2::{Digest, Sha256};
use std::io::Write;

fn root() -> bool {
    beluga_fsutil::running_as_root_for_tests()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[test]
fn import_directory_and_remove() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::write(rootfs.join("bin/hello"), b"hi").unwrap();
    std::os::unix::fs::symlink("hello", rootfs.join("bin/link")).unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let rec = store.import_rootfs(&rootfs, "localhost/test:1").unwrap();
    assert_eq!(rec.reference, "localhost/test:1");
    assert!(rec.id.starts_with("sha256:"));
    let layer = store.lower_dirs(&rec).remove(0);
    assert_eq!(std::fs::read(layer.join("bin/hello")).unwrap(), b"hi");
    assert_eq!(
        std::fs::read_link(layer.join("bin/link")).unwrap().to_str(),
        Some("hello")
    );
    // Same content again: same layer directory, shared.
    let rec2 = store.import_rootfs(&rootfs, "localhost/test:2").unwrap();
    assert_eq!(rec.layers, rec2.layers);
    assert_eq!(store.list().unwrap().len(), 2);
    assert_eq!(store.get("localhost/test:1").unwrap().unwrap().id, rec.id);
    assert_eq!(
        store
            .get(&rec.id["sha256:".len()..][..12])
            .unwrap()
            .unwrap()
            .layers,
        rec.layers
    );
    // In use → refused; otherwise removed, and the layer survives while test:2 needs it.
    assert!(store
        .remove("localhost/test:1", |_| Some("pod default/web".into()))
        .is_err());
    store.remove("localhost/test:1", |_| None).unwrap();
    assert!(layer.is_dir());
    store.remove("localhost/test:2", |_| None).unwrap();
    assert!(!layer.exists());
    assert!(store.get("localhost/test:2").unwrap().is_none());
    assert!(store.import_rootfs(&rootfs, "Bad Ref").is_err());
}

#[test]
fn load_docker_save_and_oci_archives() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let layer = tar_of(&[("etc/motd", b"hello")]);
    let diff_id = sha(&layer);
    let config = serde_json::to_vec(&serde_json::json!({
        "os": "linux", "architecture": "amd64",
        "config": {"Entrypoint": ["/bin/sh"], "Cmd": ["-c", "echo"], "Env": ["PATH=/bin", "A=1"], "WorkingDir": "/w", "User": "1000", "StopSignal": "SIGQUIT"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }))
    .unwrap();
    // docker save layout, with a gzip-compressed layer.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&layer).unwrap();
    let layer_gz = gz.finish().unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!([{"Config": "cfg.json", "RepoTags": ["example.com/app:1"], "Layers": ["abc/layer.tar"]}])).unwrap();
    let archive_bytes = tar_of(&[
        ("manifest.json", &manifest),
        ("cfg.json", &config),
        ("abc/layer.tar", &layer_gz),
    ]);
    let path = dir.path().join("docker.tar");
    std::fs::write(&path, &archive_bytes).unwrap();
    let recs = archive::load(&store, &path, None).unwrap();
    assert_eq!(recs[0].reference, "example.com/app:1");
    assert_eq!(recs[0].layers, vec![diff_id.clone()]);
    let c = &recs[0].config;
    assert_eq!(c.entrypoint.as_deref(), Some(&["/bin/sh".to_string()][..]));
    assert_eq!(c.env, vec!["PATH=/bin", "A=1"]);
    assert_eq!(
        (
            c.working_dir.as_deref(),
            c.user.as_deref(),
            c.stop_signal.as_deref()
        ),
        (Some("/w"), Some("1000"), Some("SIGQUIT"))
    );
    assert_eq!(
        std::fs::read(store.lower_dirs(&recs[0])[0].join("etc/motd")).unwrap(),
        b"hello"
    );

    // OCI layout with a name annotation.
    let man = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "config": {"digest": sha(&config), "size": config.len()}, "layers": [{"digest": sha(&layer), "size": layer.len()}]})).unwrap();
    let index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": sha(&man), "size": man.len(), "annotations": {"org.opencontainers.image.ref.name": "localhost/oci:2"}}]})).unwrap();
    let blob = |d: &[u8]| format!("blobs/sha256/{}", &sha(d)[7..]);
    let (bm, bc, bl) = (blob(&man), blob(&config), blob(&layer));
    let oci = tar_of(&[
        ("oci-layout", b"{\"imageLayoutVersion\":\"1.0.0\"}"),
        ("index.json", &index),
        (&bm, &man),
        (&bc, &config),
        (&bl, &layer),
    ]);
    let path = dir.path().join("oci.tar");
    std::fs::write(&path, &oci).unwrap();
    let recs = archive::load(&store, &path, None).unwrap();
    assert_eq!(recs[0].reference, "localhost/oci:2");
    assert_eq!(recs[0].id, sha(&config));

    // A layer whose digest does not match its descriptor is refused.
    let bad_index = serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{"digest": sha(&man), "annotations": {"org.opencontainers.image.ref.name": "localhost/bad:1"}}]})).unwrap();
    let bad = tar_of(&[
        ("index.json", &bad_index),
        (&bm, &man),
        (&bc, &config),
        (&bl, b"tampered"),
    ]);
    std::fs::write(&path, &bad).unwrap();
    assert!(archive::load(&store, &path, None).is_err());
    assert!(store.get("localhost/bad:1").unwrap().is_none());
}

/// A `docker save` archive of one image whose config lists `diff_ids` as given.
fn docker_archive(layer: &[u8], diff_ids: serde_json::Value, tag: &str) -> Vec<u8> {
    let config = serde_json::to_vec(&serde_json::json!({
        "os": "linux", "architecture": "amd64", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let manifest = serde_json::to_vec(
        &serde_json::json!([{"Config": "cfg.json", "RepoTags": [tag], "Layers": ["l/layer.tar"]}]),
    )
    .unwrap();
    tar_of(&[
        ("manifest.json", &manifest),
        ("cfg.json", &config),
        ("l/layer.tar", layer),
    ])
}

/// A directory standing for the host's, with a file the attacks must leave alone.
fn host_victim(dir: &std::path::Path) -> std::path::PathBuf {
    let victim = dir.join("victim");
    std::fs::create_dir(&victim).unwrap();
    std::fs::write(victim.join("keep"), b"host data").unwrap();
    victim
}

// Attack report 3.4/3.5: a diff ID is a digest, never a path; the whole image is refused and
// `image rm` has nothing to delete outside the store.
#[test]
fn diff_ids_that_are_not_digests_refuse_the_image() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let victim = host_victim(dir.path());
    let store = Store::open(&dir.path().join("store")).unwrap();
    let layer = tar_of(&[("etc/motd", b"hello")]);
    let escape = format!(
        "sha256:{}",
        "../".repeat(12) + victim.to_str().unwrap().trim_start_matches('/')
    );
    for ids in [
        serde_json::json!([escape]),
        serde_json::json!([sha(&layer), "sha256:../../../../../../../../etc"]),
        serde_json::json!(["sha256:.."]),
        serde_json::json!([42]),
        serde_json::json!("sha256:abc"),
    ] {
        let path = dir.path().join("evil.tar");
        std::fs::write(
            &path,
            docker_archive(&layer, ids.clone(), "localhost/evil:1"),
        )
        .unwrap();
        let err = archive::load(&store, &path, None).unwrap_err();
        assert!(err.to_string().contains("invalid "), "{ids}: {err}");
        assert!(store.get("localhost/evil:1").unwrap().is_none(), "{ids}");
    }
    assert!(store.remove("localhost/evil:1", |_| None).is_err());
    assert_eq!(std::fs::read(victim.join("keep")).unwrap(), b"host data");
}

// Attack report 3.4/3.13: "already present" means unpacked and recorded by this store, never a
// directory (or a symlink) that merely has the layer's name.
#[test]
fn only_recorded_layers_count_as_present() {
    if !root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let victim = host_victim(dir.path());
    let store_root = dir.path().join("store");
    let store = Store::open(&store_root).unwrap();
    let layer = tar_of(&[("etc/motd", b"real")]);
    let diff_id = beluga_image::Digest::parse("diff ID", &sha(&layer)).unwrap();
    assert_eq!(store.layer_present(&diff_id), None);
    // A symlink where the layer would go, pointing at a host directory.
    let planted = store.layer_dir(&diff_id);
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let path = dir.path().join("good.tar");
    std::fs::write(
        &path,
        docker_archive(&layer, serde_json::json!([sha(&layer)]), "localhost/good:1"),
    )
    .unwrap();
    let recs = archive::load(&store, &path, None).unwrap();
    let lower = store.lower_dirs(&recs[0]).remove(0);
    assert!(!std::fs::symlink_metadata(&lower)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read(lower.join("etc/motd")).unwrap(), b"real");
    assert_eq!(store.layer_present(&diff_id), Some(4));
    store.remove("localhost/good:1", |_| None).unwrap();
    assert!(!lower.exists());
    assert_eq!(store.layer_present(&diff_id), None);
    assert_eq!(std::fs::read(victim.join("keep")).unwrap(), b"host data");
    // The store is root's alone (attack report 3.8).
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&store_root).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
}

/// A store whose layers (and loaded archives) may inflate to 1 MiB: (its parent, its root, it).
fn bounded_store() -> (tempfile::TempDir, std::path::PathBuf, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store_root = dir.path().join("store");
    let store = Store::open(&store_root)
        .unwrap()
        .with_max_layer_bytes(1 << 20);
    (dir, store_root, store)
}

fn gzipped(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

// Attack report 3.10: a small gzip layer that inflates past the store's bound is refused, and
// nothing of it is kept.
#[test]
fn layers_inflating_past_the_bound_are_refused() {
    if !root() {
        return;
    }
    let (dir, store_root, store) = bounded_store();
    let layer = tar_of(&[("big", &vec![0u8; 2 << 20])]);
    let bomb = gzipped(&layer);
    assert!(bomb.len() < 64 << 10);
    let path = dir.path().join("bomb.tar");
    std::fs::write(
        &path,
        docker_archive(&bomb, serde_json::json!([sha(&layer)]), "localhost/bomb:1"),
    )
    .unwrap();
    let err = archive::load(&store, &path, None).unwrap_err();
    assert!(err.to_string().contains("inflates past"), "{err}");
    assert!(store.get("localhost/bomb:1").unwrap().is_none());
    assert_eq!(
        std::fs::read_dir(store_root.join("tmp")).unwrap().count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(store_root.join("layers"))
            .unwrap()
            .count(),
        0
    );
}

// Attack report 3.10 (the half issue 11 left): `image load` unpacked the outer archive into
// `$TMPDIR` without a bound. It now unpacks inside the store, within the layer bound, and a
// compressed archive that inflates past it is refused with nothing left behind.
#[test]
fn archives_inflating_past_the_bound_are_refused() {
    if !root() {
        return;
    }
    let (dir, store_root, store) = bounded_store();
    let layer = tar_of(&[("big", &vec![0u8; 2 << 20])]);
    let archive = docker_archive(
        &layer,
        serde_json::json!([sha(&layer)]),
        "localhost/outer:1",
    );
    let bomb = gzipped(&archive);
    assert!(bomb.len() < 64 << 10);
    let path = dir.path().join("bomb.tar.gz");
    std::fs::write(&path, bomb).unwrap();
    let err = archive::load(&store, &path, None).unwrap_err();
    assert!(err.to_string().contains("archive inflates past"), "{err}");
    assert!(store.get("localhost/outer:1").unwrap().is_none());
    assert_eq!(
        std::fs::read_dir(store_root.join("tmp")).unwrap().count(),
        0
    );
}
