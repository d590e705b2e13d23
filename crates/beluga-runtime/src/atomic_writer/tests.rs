//! Spec §11.1: the atomic-writer layout kubelet gives configMap, secret, downwardAPI and
//! projected volumes (`..data` → a timestamped directory, visible names through `..data`).

use super::*;
use crate::projection::FileProjection;
use std::os::unix::fs::MetadataExt;

fn payload(files: &[(&str, &str, u32)]) -> Payload {
    files
        .iter()
        .map(|(p, d, m)| {
            let f = FileProjection {
                data: d.as_bytes().to_vec(),
                mode: *m,
            };
            (p.to_string(), f)
        })
        .collect()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_layout_and_an_update() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path();
    let first = payload(&[("a", "1", 0o644), ("conf/b", "2", 0o600)]);
    assert!(write(t, &first, None).unwrap());
    let names = listing(t);
    assert_eq!(names.len(), 4, "{names:?}");
    assert_eq!(&names[2..], ["a", "conf"]);
    assert!(names[1].starts_with(".."), "{names:?}");
    assert_eq!(
        std::fs::read_link(t.join("a")).unwrap(),
        Path::new("..data/a")
    );
    assert_eq!(
        std::fs::read_link(t.join("conf")).unwrap(),
        Path::new("..data/conf")
    );
    let ts = std::fs::read_link(t.join("..data")).unwrap();
    let ts_name = ts.to_string_lossy().into_owned();
    // `..2026_12_02_18_41_16.123456789`
    assert_eq!(
        ts_name.len(),
        "..2026_12_02_18_41_16.".len() + 9,
        "{ts_name}"
    );
    assert_eq!(std::fs::read_to_string(t.join("conf/b")).unwrap(), "2");
    let mode = |p: &str| std::fs::metadata(t.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(
        (mode("a"), mode("conf/b"), mode("conf")),
        (0o644, 0o600, 0o755)
    );

    // The same content: nothing written, the same version.
    assert!(!write(t, &first, None).unwrap());
    assert_eq!(std::fs::read_link(t.join("..data")).unwrap(), ts);

    // A change: a new version, the old one gone, a name no longer projected removed.
    let second = payload(&[("a", "one", 0o644), ("c", "3", 0o644)]);
    assert!(write(t, &second, None).unwrap());
    let names = listing(t);
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        !names.contains(&ts_name) && !names.contains(&"conf".to_string()),
        "{names:?}"
    );
    assert_eq!(std::fs::read_to_string(t.join("a")).unwrap(), "one");
    assert_eq!(std::fs::read_to_string(t.join("c")).unwrap(), "3");

    // An empty payload leaves only the writer's names.
    assert!(write(t, &Payload::new(), None).unwrap());
    assert_eq!(listing(t).len(), 2);
}

#[test]
fn a_reader_holding_the_old_version_keeps_it() {
    let d = tempfile::tempdir().unwrap();
    let t = d.path();
    write(t, &payload(&[("k", "old", 0o644)]), None).unwrap();
    let held = std::fs::File::open(t.join("k")).unwrap();
    write(t, &payload(&[("k", "new", 0o644)]), None).unwrap();
    let mut s = String::new();
    io::Read::read_to_string(&mut &held, &mut s).unwrap();
    assert_eq!(s, "old");
    assert_eq!(std::fs::read_to_string(t.join("k")).unwrap(), "new");
}

#[test]
fn fs_group_owns_and_reads() {
    if !rustix::process::geteuid().is_root() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let t = d.path();
    write(
        t,
        &payload(&[("a", "1", 0o400), ("d/b", "2", 0o600)]),
        Some(2345),
    )
    .unwrap();
    for (p, mode) in [("a", 0o440), ("d/b", 0o640), ("d", 0o2755)] {
        let m = std::fs::metadata(t.join(p)).unwrap();
        assert_eq!((m.gid(), m.mode() & 0o7777), (2345, mode), "{p}");
    }
}
