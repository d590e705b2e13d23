//! The image store through the CLI: import, load a `docker save` archive, ls, rm (refused while a
//! pod uses the image).

mod common;
use common::*;

#[test]
fn import_load_list_remove() {
    let Some(d) = Daemon::start() else { return };
    let ls = d.ok(&["image", "ls"]);
    assert!(
        ls.starts_with("IMAGE") && ls.contains("localhost/busybox   1"),
        "{ls}"
    );

    // A docker-save archive built by hand: manifest.json + config + layer tar.
    let archive = docker_archive(
        &d.root.path().join("archive"),
        serde_json::json!({"Cmd": ["sh", "-c", "echo from-image-cmd $GREETING; sleep 3600"], "Env": ["GREETING=hi"], "WorkingDir": "/tmp", "StopSignal": "SIGUSR1"}),
        "example.com/saved:7",
    );
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
