//! The image store through the CLI: import, load a `docker save` archive, ls, rm (refused while a
//! pod uses the image).

mod common;
use common::*;
use std::process::Command;

#[test]
fn import_load_list_remove() {
    let Some(d) = Daemon::start() else { return };
    let ls = d.ok(&["image", "ls"]);
    assert!(
        ls.starts_with("IMAGE") && ls.contains("localhost/busybox   1"),
        "{ls}"
    );

    // A docker-save archive built by hand: manifest.json + config + layer tar.
    let dir = d.root.path().join("archive");
    std::fs::create_dir_all(&dir).unwrap();
    let layer = dir.join("layer.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(rootfs())
        .arg("-cf")
        .arg(&layer)
        .arg(".")
        .status()
        .unwrap()
        .success());
    let diff = format!("sha256:{}", sha256(&std::fs::read(&layer).unwrap()));
    let config = serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh", "-c", "echo from-image-cmd $GREETING; sleep 3600"], "Env": ["GREETING=hi"], "WorkingDir": "/tmp", "StopSignal": "SIGUSR1"}, "rootfs": {"type": "layers", "diff_ids": [diff]}});
    std::fs::write(dir.join("cfg.json"), serde_json::to_vec(&config).unwrap()).unwrap();
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&serde_json::json!([{"Config": "cfg.json", "RepoTags": ["example.com/saved:7"], "Layers": ["layer.tar"]}])).unwrap()).unwrap();
    let archive = d.root.path().join("saved.tar");
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&archive)
        .args(["manifest.json", "cfg.json", "layer.tar"])
        .status()
        .unwrap()
        .success());
    assert_eq!(
        d.ok(&["image", "load", "-i", archive.to_str().unwrap()]),
        "Loaded image: example.com/saved:7\n"
    );

    // The image's Cmd, Env and WorkingDir apply (spec §10.1–§10.3).
    d.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: saved}\nspec: {containers: [{name: c, image: 'example.com/saved:7'}]}\n");
    d.wait_running("saved");
    assert_eq!(d.logs("saved", "c"), "from-image-cmd hi\n");
    assert_eq!(stdout(&d.exec("saved", "c", &["pwd"])), "/tmp\n");

    // spec §7.4: the stop signal is the image's STOPSIGNAL.
    let out = d.root.path().join("sig-out");
    d.apply(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: stopsig}}\nspec:\n  volumes: [{{name: o, hostPath: {{path: {}, type: DirectoryOrCreate}}}}]\n  containers:\n  - name: c\n    image: example.com/saved:7\n    volumeMounts: [{{name: o, mountPath: /out}}]\n    command: [sh, -c, 'trap \"echo USR1 > /out/sig; exit 0\" USR1; trap \"echo TERM > /out/sig; exit 0\" TERM; sleep 3600 & wait']\n",
        out.display()
    ));
    d.wait_running("stopsig");
    d.ok(&["delete", "pod", "stopsig"]);
    assert_eq!(std::fs::read_to_string(out.join("sig")).unwrap(), "USR1\n");

    let o = d.run(&["image", "rm", "example.com/saved:7"]);
    assert!(
        !o.status.success() && stderr(&o).contains("in use by pod default/saved"),
        "{}",
        stderr(&o)
    );
    d.ok(&["delete", "pod", "saved", "--grace-period=1"]);
    assert_eq!(
        d.ok(&["image", "rm", "example.com/saved:7"]),
        "Deleted: example.com/saved:7\n"
    );
    assert!(!d.ok(&["image", "ls"]).contains("saved"));
    assert!(!d
        .run(&["image", "rm", "example.com/saved:7"])
        .status
        .success());
}

fn sha256(data: &[u8]) -> String {
    let out = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = out;
    std::io::Write::write_all(&mut out.stdin.take().unwrap(), data).unwrap();
    String::from_utf8(out.wait_with_output().unwrap().stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}
