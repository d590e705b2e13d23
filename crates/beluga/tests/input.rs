//! Bad input changes nothing and is reported in kube-apiserver's / kubectl's words (spec §12).

mod common;
use common::*;

fn pods(d: &Daemon) -> String {
    d.ok(&["get", "pods", "-o", "name"])
}

#[test]
fn invalid_pod_creates_nothing() {
    let Some(d) = Daemon::start() else { return };
    let o = d.apply_output("apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: app}\n  - {name: app, image: x}\n");
    assert!(!o.status.success());
    assert_eq!(stderr(&o), "The Pod \"bad\" is invalid: \n* spec.containers[0].image: Required value\n* spec.containers[1].name: Duplicate value: \"app\"\n");
    assert_eq!(pods(&d), "");
}

#[test]
fn one_bad_document_creates_none() {
    let Some(d) = Daemon::start() else { return };
    let o = d.apply_output(&format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: good}}\nspec: {{containers: [{{name: a, image: {IMAGE}, command: [sleep, '9']}}]}}\n---\napiVersion: v1\nkind: Pod\nmetadata: {{name: Bad_Name}}\nspec: {{containers: [{{name: a, image: x}}]}}\n"));
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("The Pod \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain"), "{}", stderr(&o));
    assert_eq!(pods(&d), "");
}

#[test]
fn unknown_fields_and_validate_modes() {
    let Some(d) = Daemon::start() else { return };
    let y = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: typo}}\nspec:\n  containers:\n  - name: a\n    image: {IMAGE}\n    comand: [sleep, '60']\n");
    let o = d.apply_output(&y);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("strict decoding error: unknown field \"spec.containers[0].comand\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(pods(&d), "");
    let o = d
        .cmd(&["apply", "-f", "-", "--validate=warn"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut o = o;
    std::io::Write::write_all(&mut o.stdin.take().unwrap(), y.as_bytes()).unwrap();
    let o = o.wait_with_output().unwrap();
    assert!(o.status.success());
    assert!(stderr(&o).contains("Warning: unknown field \"spec.containers[0].comand\""));
    assert_eq!(pods(&d), "pod/typo\n");
}

#[test]
fn syntax_errors_and_other_kinds() {
    let Some(d) = Daemon::start() else { return };
    assert!(!d
        .apply_output("apiVersion: v1\nkind: Pod\nmetadata: [\n")
        .status
        .success());
    let o = d.apply_output("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: dep}\n");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no matches for kind \"Deployment\" in version \"apps/v1\""),
        "{}",
        stderr(&o)
    );
    assert_eq!(pods(&d), "");
}

// spec V40 / §2.1: only image changes are accepted on update; anything else is Forbidden and
// changes nothing; an image change restarts just that container.
#[test]
fn updates() {
    let Some(d) = Daemon::start() else { return };
    let rootfs = rootfs().to_str().unwrap().to_string();
    d.ok(&["image", "import", &rootfs, "--tag", "localhost/busybox:2"]);
    let pod = |image: &str, arg: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: up}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - {{name: a, image: '{image}', command: [sleep, '{arg}']}}\n  - {{name: b, image: {IMAGE}, command: [sleep, '3600']}}\n")
    };
    d.apply(&pod(IMAGE, "3600"));
    d.wait_running("up");
    assert_eq!(d.apply(&pod(IMAGE, "3600")), "pod/up unchanged\n");
    let o = d.apply_output(&pod(IMAGE, "60"));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"), "{}", stderr(&o));
    assert_eq!(d.pod("up")["spec"]["containers"][0]["command"][1], "3600");
    assert_eq!(
        d.apply(&pod("localhost/busybox:2", "3600")),
        "pod/up configured\n"
    );
    let p = d.wait_pod(
        "up",
        std::time::Duration::from_secs(30),
        "a restarted with the new image",
        |p| {
            let a = status_of(p, "containerStatuses", "a");
            a["restartCount"] == 1
                && a["image"] == "localhost/busybox:2"
                && a["state"]["running"].is_object()
        },
    );
    assert_eq!(status_of(&p, "containerStatuses", "b")["restartCount"], 0);
    let describe = d.ok(&["describe", "pod", "up"]);
    assert!(
        describe.contains("Container a definition changed, will be restarted"),
        "{describe}"
    );
}

#[test]
fn no_daemon_is_one_clear_line() {
    let o = std::process::Command::new(bin())
        .args(["get", "pods", "--socket", "/nonexistent/beluga.sock"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot reach the beluga daemon at /nonexistent/beluga.sock")
            && err.contains("beluga daemon"),
        "{err}"
    );
}

#[test]
fn missing_pod_and_image() {
    let Some(d) = Daemon::start() else { return };
    let o = d.run(&["get", "pod", "ghost"]);
    assert_eq!(
        stderr(&o).trim(),
        "Error from server (NotFound): pods \"ghost\" not found"
    );
    let o = d.run(&["delete", "pod", "ghost"]);
    assert_eq!(
        stderr(&o).trim(),
        "Error from server (NotFound): pods \"ghost\" not found"
    );
    d.apply("apiVersion: v1\nkind: Pod\nmetadata: {name: noimg}\nspec: {containers: [{name: a, image: 'localhost/absent:1', imagePullPolicy: Never}]}\n");
    let p = d.wait_pod(
        "noimg",
        std::time::Duration::from_secs(10),
        "ErrImageNeverPull",
        |p| {
            status_of(p, "containerStatuses", "a")["state"]["waiting"]["reason"]
                == "ErrImageNeverPull"
        },
    );
    assert_eq!(
        status_of(&p, "containerStatuses", "a")["state"]["waiting"]["message"],
        "Container image \"localhost/absent:1\" is not present with pull policy of Never"
    );
    assert_eq!(d.row("noimg")[2], "ErrImageNeverPull");
}
