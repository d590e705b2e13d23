//! Every manifest in examples/ runs as its comments describe (issue: "each is exercised by a test").

mod common;
use common::*;
use std::time::Duration;

fn example(name: &str) -> String {
    std::fs::read_to_string(workspace().join("examples").join(name)).expect("example")
}

fn wait_for_log(d: &Daemon, pod: &str, c: &str, needle: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = d.logs(pod, c);
        if out.contains(needle) {
            return out;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{needle:?} never appeared in {pod}/{c} logs:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// Sidecar pattern (seeds): web server + log-forwarding native sidecar over a shared emptyDir.
#[test]
fn sidecar_logging() {
    let Some(d) = Daemon::start() else { return };
    assert_eq!(
        d.apply(&example("sidecar-logging.yaml")),
        "configmap/log-agent-config created\npod/log-collector created\npod/web created\n"
    );
    d.wait_running("log-collector");
    d.wait_running("web");
    assert_eq!(&d.row("web")[1..3], ["2/2", "Running"]);
    let o = d.exec("web", "app", &["wget", "-qO-", "http://localhost:8080/"]);
    assert_eq!(stdout(&o), "hello from the web app\n");
    // The agent reaches the app's access log through the volume, and forwards each new line.
    assert_eq!(
        stdout(&d.exec(
            "web",
            "app",
            &["wget", "-qO-", "http://localhost:8080/cgi-bin/hit"]
        )),
        "hit\n"
    );
    let logs = wait_for_log(&d, "web", "log-agent", "GET /cgi-bin/hit");
    assert!(
        logs.contains("forwarded: ") && logs.contains("app started"),
        "{logs}"
    );
    // Issue 14 item 7: the central log server, another pod, received the line.
    let got = wait_for_log(&d, "log-collector", "collector", "GET /cgi-bin/hit");
    assert!(got.contains("collected: "), "{got}");
    // Issue 16 item 7: the agent's configuration is the ConfigMap, seen through its volume.
    let conf = d.exec("web", "log-agent", &["cat", "/etc/log-agent/agent.conf"]);
    assert!(
        stdout(&conf).contains("TAG=forwarded\n"),
        "{}",
        stdout(&conf)
    );
}

// Issue 16 item 7, the downward API: the pod reads its labels from a downwardAPI volume and
// sees a label change while it runs, without a restart (spec: kubelet's volume manager
// rewrites the files; the environment stays as it was at the start).
#[test]
fn downward_labels() {
    let Some(d) = Daemon::start() else { return };
    let manifest = example("downward-labels.yaml");
    assert_eq!(d.apply(&manifest), "pod/podinfo created\n");
    d.wait_running("podinfo");
    let first = wait_for_log(&d, "podinfo", "app", "tier=\"frontend\"");
    let ip = d.pod("podinfo")["status"]["podIP"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        first.contains(&format!("I am podinfo in default at {ip}\n")),
        "{first}"
    );
    assert!(first.contains("app=\"podinfo\"\n"), "{first}");
    let changed = manifest.replace("tier: frontend", "tier: backend");
    assert_eq!(d.apply(&changed), "pod/podinfo configured\n");
    wait_for_log(&d, "podinfo", "app", "tier=\"backend\"");
    assert_eq!(
        status_of(&d.pod("podinfo"), "containerStatuses", "app")["restartCount"],
        0
    );
}

// Adapter pattern: the adapter rewrites the app's `ts | LEVEL | msg` lines into JSON.
#[test]
fn adapter() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&example("adapter.yaml"));
    d.wait_running("legacy-app");
    let logs = wait_for_log(&d, "legacy-app", "adapter", "\"level\":\"WARN\"");
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
        assert!(v["time"].as_str().is_some_and(|t| t.len() == 19), "{line}");
        assert!(
            ["INFO", "WARN"].contains(&v["level"].as_str().unwrap_or("")),
            "{line}"
        );
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains("order")),
            "{line}"
        );
    }
}

// Ambassador pattern: the app talks to localhost:6379; the ambassador forwards to the database,
// which runs in a pod of its own reached by its Service's name (issue 14 item 7, issue 15 item 7:
// the far end receives what the app sent).
#[test]
fn ambassador() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&example("ambassador.yaml"));
    d.wait_running("staging-db");
    d.wait_running("shop");
    assert_eq!(&d.row("shop")[1..3], ["2/2", "Running"]);
    wait_for_log(&d, "shop", "app", "app: staging-db answered GET");
    let o = d.exec(
        "shop",
        "app",
        &["sh", "-c", "echo PING | nc -w 2 localhost 6379"],
    );
    assert_eq!(stdout(&o), "staging-db answered PING\n");
    wait_for_log(&d, "staging-db", "db", "staging-db got PING");
    // Not through the app's own pod: the database is another pod, at another address.
    let ip = |p: &str| {
        d.pod(p)["status"]["podIP"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_ne!(ip("shop"), ip("staging-db"));
    let env = stdout(&d.exec("shop", "ambassador", &["sh", "-c", "echo $DB_HOST"]));
    assert_eq!(
        env.trim(),
        "staging-db",
        "a Service name, resolved by the cluster DNS"
    );
}

// Init-container pattern: both init containers finish, in order, before the app starts.
#[test]
fn init_containers() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&example("init-shared-volume.yaml"));
    let p = d.wait_running("myapp");
    let log = order_log(&wait_for_log(&d, "myapp", "app", "app started"));
    let fetch_done = index_of(&log, "fetch-content", "done");
    let wait_done = index_of(&log, "wait-for-ready", "done");
    let app = index_of(&log, "app", "started");
    assert!(
        index_of(&log, "fetch-content", "started") < fetch_done
            && fetch_done < wait_done
            && wait_done < app,
        "{log:?}"
    );
    for name in ["fetch-content", "wait-for-ready"] {
        let s = status_of(&p, "initContainerStatuses", name);
        assert_eq!(s["state"]["terminated"]["reason"], "Completed");
        assert_eq!(s["ready"], true);
    }
    assert_eq!(condition(&p, "Initialized").0, "True");
    let page = d.exec(
        "myapp",
        "app",
        &["wget", "-qO-", "http://localhost:8080/index.html"],
    );
    assert!(stdout(&page).contains("prepared by an init container"));
}
