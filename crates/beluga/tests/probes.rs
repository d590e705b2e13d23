//! Probes and lifecycle hooks on real containers (spec §6, §7, scenarios of §13.8 and §13.9 with
//! short periods; timing windows are generous, restart counts and event reasons exact).

mod common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

fn pod(name: &str, policy: &str, grace: u32, containers: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: {policy}\n  terminationGracePeriodSeconds: {grace}\n  volumes: [{{name: log, emptyDir: {{}}}}]\n{containers}")
}

fn restarts(p: &serde_json::Value, c: &str) -> i64 {
    status_of(p, "containerStatuses", c)["restartCount"]
        .as_i64()
        .unwrap_or(-1)
}

fn ready(p: &serde_json::Value, c: &str) -> bool {
    status_of(p, "containerStatuses", c)["ready"] == true
}

fn events_text(d: &Daemon, pod: &str) -> String {
    d.ok(&["describe", "pod", pod])
}

const HTTPD: &str = "mkdir -p /www; echo ok > /www/healthz; echo ok > /www/index.html; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait";

// C3/C4 (§6.4 liveness): an exec liveness probe that starts failing kills the container once
// (event Killing with kubelet's message); one that keeps succeeding never does.
#[test]
fn c3_c4_exec_liveness() {
    let Some(d) = Daemon::start() else { return };
    let c = |name: &str, script: &str| {
        pod(name, "Always", 2, &format!(
            "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{script}\"]\n    livenessProbe: {{exec: {{command: [cat, /tmp/health]}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}}\n"
        ))
    };
    d.apply(&c(
        "c3",
        "touch /tmp/health; sleep 2; rm -f /tmp/health; trap 'exit 0' TERM; sleep 600 & wait",
    ));
    d.apply(&c(
        "c4",
        "touch /tmp/health; trap 'exit 0' TERM; sleep 600 & wait",
    ));
    d.wait_pod("c3", Duration::from_secs(30), "restarted once", |p| {
        restarts(p, "c") >= 1
    });
    let text = events_text(&d, "c3");
    assert!(
        text.contains("Container c failed liveness probe, will be restarted"),
        "{text}"
    );
    assert!(text.contains("Liveness probe failed:"), "{text}");
    assert!(text.contains("Liveness:       exec [cat /tmp/health] delay=1s timeout=1s period=1s #success=1 #failure=1"), "{text}");
    assert_eq!(restarts(&d.pod("c4"), "c"), 0);
}

// C1/C2 (readiness): ready only after initialDelaySeconds; a probe that always fails keeps the
// container unready and never restarts it (READY 0/1, Ready condition False).
#[test]
fn c1_c2_readiness() {
    let Some(d) = Daemon::start() else { return };
    let c = |name: &str, port: u16, delay: u32| {
        pod(name, "Always", 2, &format!(
            "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{HTTPD}\"]\n    readinessProbe: {{httpGet: {{path: /, port: {port}}}, initialDelaySeconds: {delay}, periodSeconds: 1}}\n"
        ))
    };
    d.apply(&c("c1", 8080, 3));
    d.apply(&c("c2", 81, 0));
    let t0 = Instant::now();
    d.wait_pod("c1", Duration::from_secs(10), "running", |p| {
        status_of(p, "containerStatuses", "c")["state"]["running"].is_object()
    });
    assert!(
        !ready(&d.pod("c1"), "c"),
        "not ready before initialDelaySeconds"
    );
    d.wait_pod("c1", Duration::from_secs(20), "ready", |p| ready(p, "c"));
    assert!(t0.elapsed() >= Duration::from_secs(3));
    assert_eq!(&d.row("c1")[1..3], ["1/1", "Running"]);
    std::thread::sleep(Duration::from_secs(3));
    let p = d.pod("c2");
    assert!(!ready(&p, "c"));
    assert_eq!(restarts(&p, "c"), 0);
    assert_eq!(condition(&p, "Ready").0, "False");
    assert_eq!(&d.row("c2")[1..3], ["0/1", "Running"]);
    assert!(events_text(&d, "c2").contains("Readiness probe failed:"));
}

// C5/C6/C9 + C14/C15: http liveness that turns unhealthy restarts; tcp liveness on an open port
// does not; an exec probe that times out is a failure; a failing startup probe restarts the
// container while liveness is not run before startup succeeds.
#[test]
fn http_tcp_timeout_and_startup_probes() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("c5", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"mkdir -p /www; echo ok > /www/healthz; (sleep 2; rm /www/healthz) & trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait\"]\n    livenessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 1, failureThreshold: 1}}\n"
    )));
    d.apply(&pod("c6", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    ports: [{{name: web, containerPort: 8080}}]\n    command: [sh, -c, \"{HTTPD}\"]\n    livenessProbe: {{tcpSocket: {{port: web}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 3}}\n"
    )));
    d.apply(&pod("c9", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{exec: {{command: [sleep, '10']}}, timeoutSeconds: 1, periodSeconds: 1, failureThreshold: 1}}\n"
    )));
    d.apply(&pod("c14", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    startupProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 2}}\n    livenessProbe: {{exec: {{command: ['true']}}, periodSeconds: 1}}\n"
    )));
    d.apply(&pod("c15", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    startupProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 60}}\n    livenessProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 1}}\n"
    )));
    for name in ["c5", "c9", "c14"] {
        d.wait_pod(name, Duration::from_secs(30), "restarted", |p| {
            restarts(p, "c") >= 1
        });
    }
    assert!(events_text(&d, "c14").contains("Container c failed startup probe, will be restarted"));
    let p = d.pod("c15");
    assert_eq!(
        restarts(&p, "c"),
        0,
        "liveness must not run before startup succeeds"
    );
    assert_eq!(status_of(&p, "containerStatuses", "c")["started"], false);
    assert_eq!(restarts(&d.pod("c6"), "c"), 0);
}

// C17 + §6.4: once the startup probe succeeds the container is started and readiness runs at
// once (not a readiness period later).
#[test]
fn c17_readiness_right_after_startup() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("c17", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"(sleep 2; touch /tmp/startup) & trap 'exit 0' TERM; sleep 600 & wait\"]\n    startupProbe: {{exec: {{command: [cat, /tmp/startup]}}, periodSeconds: 1, failureThreshold: 60}}\n    readinessProbe: {{exec: {{command: ['true']}}, periodSeconds: 60}}\n"
    )));
    let p = d.wait_pod("c17", Duration::from_secs(20), "started", |p| {
        status_of(p, "containerStatuses", "c")["started"] == true
    });
    let t = Instant::now();
    let _ = p;
    d.wait_pod("c17", Duration::from_secs(20), "ready", |p| ready(p, "c"));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "readiness ran at once after startup, not 60 s later"
    );
}

// C20/C21: gRPC liveness against a grpc.health.v1 server the test runs inside the pod's network
// namespace, on every address (the probe dials the pod IP, as kubelet): SERVING → no restart;
// the wrong port → one restart.
#[test]
fn c20_c21_grpc_liveness() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("grpc", "Always", 2, &format!(
        "  containers:\n  - name: ok\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{grpc: {{port: 5000}}, initialDelaySeconds: 2, periodSeconds: 1, failureThreshold: 1}}\n  - name: wrong\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{grpc: {{port: 2333}}, initialDelaySeconds: 2, periodSeconds: 1, failureThreshold: 1}}\n"
    )));
    d.wait_pod("grpc", Duration::from_secs(20), "running", |p| {
        status_of(p, "containerStatuses", "ok")["state"]["running"].is_object()
    });
    let dir = d.pod_dir("grpc");
    let listener =
        beluga_runtime::netns::listen(&dir.join(".sandbox/net"), "0.0.0.0:5000".parse().unwrap())
            .expect("listen in the pod");
    std::thread::spawn(move || grpc_health_server(listener));
    d.wait_pod("grpc", Duration::from_secs(30), "wrong restarted", |p| {
        restarts(p, "wrong") >= 1
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(restarts(&d.pod("grpc"), "ok"), 0);
}

/// A minimal grpc.health.v1 server (HTTP/2, answers SERVING) for the gRPC probe tests.
fn grpc_health_server(listener: std::net::TcpListener) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    let mut trailers = hyper::HeaderMap::new();
                    trailers.insert("grpc-status", hyper::header::HeaderValue::from_static("0"));
                    let body = Frames(
                        vec![
                            Ok(hyper::body::Frame::data(bytes::Bytes::from_static(&[
                                0, 0, 0, 0, 2, 0x08, 0x01,
                            ]))),
                            Ok(hyper::body::Frame::trailers(trailers)),
                        ]
                        .into(),
                    );
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .unwrap(),
                    )
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(s), svc)
                        .await;
            });
        }
    });
}

/// A response body of fixed frames (data, then trailers).
struct Frames(
    std::collections::VecDeque<Result<hyper::body::Frame<bytes::Bytes>, std::convert::Infallible>>,
);

impl hyper::body::Body for Frames {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}

/// A tiny HTTP server container that appends each request line to /log/requests (the handler
/// pod of §13.9, inside the same pod: hooks reach it at localhost:8080).
const HANDLER: &str = "  - name: handler\n    image: localhost/busybox:1\n    volumeMounts: [{name: log, mountPath: /log}]\n    command: [sh, -c, \"trap 'exit 0' TERM; nc -ll -p 8080 -e sh -c 'read line; echo $line >> /log/requests; printf \\\"HTTP/1.0 200 OK\\\\r\\\\n\\\\r\\\\nok\\\"' & wait\"]\n";

fn log_file(d: &Daemon, pod: &str, file: &str) -> String {
    // Lossy: a handler may log binary bytes (a TLS hello sent to a plain HTTP server).
    String::from_utf8_lossy(
        &std::fs::read(d.pod_dir(pod).join(".volumes/log").join(file)).unwrap_or_default(),
    )
    .into_owned()
}

// H1/H3 + L18: postStart exec and httpGet hooks run; regular containers start one at a time and
// postStart blocks the next one.
#[test]
fn h1_h3_l18_post_start_hooks() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("hooks", "Always", 2, &format!(
        "  containers:\n{HANDLER}  - name: regular-1\n    image: {IMAGE}\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"read up _ < /proc/uptime; echo $up regular-1 Started >> /log/order; trap 'exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      postStart: {{exec: {{command: [sh, -c, 'read up _ < /proc/uptime; echo $up PostStart-regular-1 Started >> /log/order; sleep 1; read up _ < /proc/uptime; echo $up PostStart-regular-1 Exiting >> /log/order']}}}}\n  - name: regular-2\n    image: {IMAGE}\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"read up _ < /proc/uptime; echo $up regular-2 Started >> /log/order; trap 'exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      postStart: {{httpGet: {{path: '/echo?msg=poststart', port: 8080}}}}\n"
    )));
    d.wait_running("hooks");
    let order = order_log(&log_file(&d, "hooks", "order"));
    let at = |n: &str, e: &str| index_of(&order, n, e);
    assert!(
        at("PostStart-regular-1", "Exiting") < at("regular-2", "Started"),
        "{order:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_file(&d, "hooks", "requests").contains("GET /echo?msg=poststart") {
        assert!(
            Instant::now() < deadline,
            "postStart httpGet never reached the handler"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// H2/H5: preStop exec and httpGet hooks run on deletion, before the stop signal.
#[test]
fn h2_h5_pre_stop_hooks() {
    let Some(d) = Daemon::start() else { return };
    let host_log = d.root.path().join("h2-log");
    let y = pod("prestop", "Always", 5, &format!(
        "  containers:\n{HANDLER}  - name: c\n    image: {IMAGE}\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"trap 'echo TERM >> /log/c; exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      preStop: {{exec: {{command: [sh, -c, 'echo prestop-exec >> /log/c']}}}}\n  - name: h\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      preStop: {{httpGet: {{path: '/echo?msg=prestop', port: 8080}}}}\n"
    ))
    .replace("{name: log, emptyDir: {}}", &format!("{{name: log, hostPath: {{path: {}, type: DirectoryOrCreate}}}}", host_log.display()))
    // Every container is stopped at once on deletion: the in-pod handler keeps serving for 3 s
    // after its SIGTERM so the other container's preStop request still reaches it.
    .replacen("trap 'exit 0' TERM; nc -ll", "trap 'sleep 3; exit 0' TERM; nc -ll", 1);
    d.apply(&y);
    d.wait_running("prestop");
    d.ok(&["delete", "pod", "prestop"]);
    assert_eq!(
        std::fs::read_to_string(host_log.join("c")).unwrap(),
        "prestop-exec\nTERM\n"
    );
    assert!(std::fs::read_to_string(host_log.join("requests"))
        .unwrap_or_default()
        .contains("GET /echo?msg=prestop"));
}

// §7.2: a failing postStart kills the container (FailedPostStartHook) and the policy restarts it.
#[test]
fn failed_post_start_hook_restarts() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("badhook", "Always", 2, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      postStart: {{exec: {{command: [sh, -c, 'exit 3']}}}}\n"
    )));
    d.wait_pod("badhook", Duration::from_secs(30), "restarted", |p| {
        restarts(p, "c") >= 1
    });
    let text = events_text(&d, "badhook");
    assert!(text.contains("FailedPostStartHook") && text.contains("Exec lifecycle hook ([\"sh\", \"-c\", \"exit 3\"]) for Container \"c\" in Pod \"badhook\" failed"), "{text}");
}

// SL1–SL3: preStop sleep holds termination (bounded by the grace period, cut by a shorter
// --grace-period), and is not run for a container that exited by itself.
#[test]
fn sl1_sl3_pre_stop_sleep() {
    let Some(d) = Daemon::start() else { return };
    let sleeper = |name: &str, grace: u32, secs: u32, script: &str| {
        pod(name, "Never", grace, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{script}\"]\n    lifecycle:\n      preStop: {{sleep: {{seconds: {secs}}}}}\n"
    ))
    };
    d.apply(&sleeper(
        "sl1",
        10,
        3,
        "trap 'exit 0' TERM; sleep 600 & wait",
    ));
    d.apply(&sleeper(
        "sl2",
        30,
        20,
        "trap 'exit 0' TERM; sleep 600 & wait",
    ));
    d.apply(&sleeper("sl3", 30, 10, "sleep 1"));
    d.wait_running("sl1");
    d.wait_running("sl2");
    let t = Instant::now();
    d.ok(&["delete", "pod", "sl1"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(9),
        "SL1 took {took:?}"
    );
    let t = Instant::now();
    d.ok(&["delete", "pod", "sl2", "--grace-period=2"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "SL2 took {took:?}"
    );
    let p = d.wait_phase("sl3", "Succeeded", Duration::from_secs(20));
    let term = &status_of(&p, "containerStatuses", "c")["state"]["terminated"];
    let started: beluga_api::k8s_openapi::jiff::Timestamp =
        term["startedAt"].as_str().unwrap().parse().unwrap();
    let finished: beluga_api::k8s_openapi::jiff::Timestamp =
        term["finishedAt"].as_str().unwrap().parse().unwrap();
    assert!(
        finished.duration_since(started).as_secs() < 10,
        "no preStop for a container that exited by itself"
    );
}

// C22/C23: during termination readiness keeps running (the pod goes NotReady) while liveness
// stops (no liveness kill during termination).
#[test]
fn c22_c23_probes_during_termination() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("c22", "Always", 8, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"touch /tmp/ready /tmp/alive; trap 'rm -f /tmp/ready /tmp/alive; sleep 4; exit 0' TERM; sleep 600 & wait\"]\n    readinessProbe: {{exec: {{command: [cat, /tmp/ready]}}, periodSeconds: 1, failureThreshold: 1}}\n    livenessProbe: {{exec: {{command: [cat, /tmp/alive]}}, periodSeconds: 1, failureThreshold: 1}}\n"
    )));
    d.wait_running("c22");
    let del = d.cmd(&["delete", "pod", "c22"]).spawn().unwrap();
    let p = d.wait_pod(
        "c22",
        Duration::from_secs(10),
        "NotReady while terminating",
        |p| condition(p, "Ready").0 == "False",
    );
    assert!(p["metadata"]["deletionTimestamp"].is_string());
    let text = events_text(&d, "c22");
    assert!(!text.contains("failed liveness probe"), "{text}");
    assert!(del.wait_with_output().unwrap().status.success());
}

// §4.1/§4.2: a sidecar with a startup probe counts as started only when the probe succeeds; the
// next init container waits for that.
#[test]
fn sidecar_startup_probe_gates_the_next_init_container() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("gate", "Always", 2, &format!(
        "  initContainers:\n  - name: ri-1\n    image: {IMAGE}\n    restartPolicy: Always\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"(sleep 2; touch /tmp/started; read up _ < /proc/uptime; echo $up ri-1 Ready >> /log/order) & trap 'exit 0' TERM; sleep 600 & wait\"]\n    startupProbe: {{exec: {{command: [cat, /tmp/started]}}, periodSeconds: 1, failureThreshold: 30}}\n  - name: init-1\n    image: {IMAGE}\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, 'read up _ < /proc/uptime; echo $up init-1 Started >> /log/order']\n  containers:\n  - name: regular-1\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )));
    d.wait_pod(
        "gate",
        Duration::from_secs(5),
        "Init:0/2 while the sidecar is not started",
        |p| status_of(p, "initContainerStatuses", "ri-1")["state"]["running"].is_object(),
    );
    assert_eq!(d.row("gate")[2], "Init:0/2");
    d.wait_running("gate");
    let order = order_log(&log_file(&d, "gate", "order"));
    assert!(
        index_of(&order, "ri-1", "Ready") < index_of(&order, "init-1", "Started"),
        "{order:?}"
    );
    assert_eq!(&d.row("gate")[1..3], ["2/2", "Running"]);
}

// C8, C10–C13, C16, C18: a healthy http probe never restarts; an exec readiness timeout keeps the
// container unready; `sleep & exit 1` with a 1 s timeout fails; a same-host redirect is followed
// (to a failing endpoint → restart); a redirect to another host is a success with a
// ProbeWarning; liveness starts only after startup succeeds; a probe's own
// terminationGracePeriodSeconds bounds the kill (not the pod's 500 s).
#[test]
fn more_probe_rules() {
    let Some(d) = Daemon::start() else { return };
    let web = "mkdir -p /www/cgi-bin; echo ok > /www/healthz; printf '#!/bin/sh\\\\necho Status: 302 Found\\\\necho Location: /healthz\\\\necho\\\\n' > /www/cgi-bin/local; printf '#!/bin/sh\\\\necho Status: 302 Found\\\\necho Location: http://0.0.0.0/\\\\necho\\\\n' > /www/cgi-bin/away; chmod +x /www/cgi-bin/*; (sleep 2; rm /www/healthz) & trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait";
    let sleeper = "trap 'exit 0' TERM; sleep 600 & wait";
    d.apply(&pod("c8", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{HTTPD}\"]\n    livenessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1, failureThreshold: 5}}\n")));
    d.apply(&pod("c10", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{sleeper}\"]\n    readinessProbe: {{exec: {{command: [sleep, '10']}}, timeoutSeconds: 1, periodSeconds: 1}}\n")));
    d.apply(&pod("c11", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{sleeper}\"]\n    livenessProbe: {{exec: {{command: [sh, -c, 'sleep 10 & exit 1']}}, timeoutSeconds: 1, periodSeconds: 1, failureThreshold: 1}}\n")));
    d.apply(&pod("c12", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{web}\"]\n    livenessProbe: {{httpGet: {{path: /cgi-bin/local, port: 8080}}, periodSeconds: 1, failureThreshold: 1}}\n")));
    d.apply(&pod("c13", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"{web}\"]\n    livenessProbe: {{httpGet: {{path: /cgi-bin/away, port: 8080}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 3}}\n")));
    d.apply(&pod("c16", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"(sleep 2; touch /tmp/startup) & {sleeper}\"]\n    startupProbe: {{exec: {{command: [cat, /tmp/startup]}}, periodSeconds: 1, failureThreshold: 60}}\n    livenessProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 1}}\n")));
    d.apply(&pod("c18", "Always", 500, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sleep, '600']\n    livenessProbe: {{exec: {{command: ['false']}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 1}}\n")));
    for name in ["c11", "c12", "c16", "c18"] {
        d.wait_pod(name, Duration::from_secs(40), "restarted", |p| {
            restarts(p, "c") >= 1
        });
    }
    let c16 = d.pod("c16");
    let first = &status_of(&c16, "containerStatuses", "c")["lastState"]["terminated"];
    let ran = first["finishedAt"]
        .as_str()
        .unwrap()
        .parse::<beluga_api::k8s_openapi::jiff::Timestamp>()
        .unwrap()
        .duration_since(first["startedAt"].as_str().unwrap().parse().unwrap());
    assert!(
        ran.as_secs() >= 2,
        "liveness must wait for the startup probe: killed after {ran:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    for name in ["c8", "c13"] {
        assert_eq!(restarts(&d.pod(name), "c"), 0, "{name}");
    }
    assert!(
        events_text(&d, "c13").contains("Probe terminated redirects"),
        "{}",
        events_text(&d, "c13")
    );
    let c10 = d.pod("c10");
    assert!(!ready(&c10, "c") && restarts(&c10, "c") == 0);
}

fn host_log_pod(
    d: &Daemon,
    name: &str,
    grace: u32,
    policy: &str,
    containers: &str,
) -> (String, std::path::PathBuf) {
    let host_log = d.root.path().join(format!("{name}-log"));
    let y = pod(name, policy, grace, containers).replace(
        "{name: log, emptyDir: {}}",
        &format!(
            "{{name: log, hostPath: {{path: {}, type: DirectoryOrCreate}}}}",
            host_log.display()
        ),
    );
    (y, host_log)
}

const MARK: &str = "read up _ < /proc/uptime; echo $up";

// L25/L26: under Never, a liveness failure kills the container: its preStop runs while it still
// runs, then it exits and is not restarted (`Killing` without ", will be restarted"). A second
// container keeps the pod from completing, so the kill is the probe's own (not KillPod's).
#[test]
fn l26_liveness_kill_runs_pre_stop_and_never_restarts() {
    let Some(d) = Daemon::start() else { return };
    let (y, log) = host_log_pod(&d, "l26", 10, "Never", &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"trap '{MARK} c Exiting >> /log/order; exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{exec: {{command: ['false']}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}}\n    lifecycle:\n      preStop: {{exec: {{command: [sh, -c, '{MARK} PreStop Started >> /log/order']}}}}\n  - name: other\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    ));
    d.apply(&y);
    let p = d.wait_pod("l26", Duration::from_secs(30), "c terminated", |p| {
        status_of(p, "containerStatuses", "c")["state"]["terminated"].is_object()
    });
    std::thread::sleep(Duration::from_secs(2));
    let p2 = d.pod("l26");
    assert_eq!((restarts(&p, "c"), restarts(&p2, "c")), (0, 0));
    assert_eq!(p2["status"]["phase"], "Running");
    let order = order_log(&std::fs::read_to_string(log.join("order")).unwrap());
    assert!(
        index_of(&order, "PreStop", "Started") < index_of(&order, "c", "Exiting"),
        "{order:?}"
    );
    assert_eq!(
        d.event_fields("Killing", "/message"),
        ["Container c failed liveness probe"]
    );
}

// T5/T6 + L28: on deletion every preStop starts at once (sidecars' too); the sidecar's stop
// signal waits for the main container; the sidecar's liveness stops and it is not restarted.
#[test]
fn t5_pre_stops_start_together_and_sidecar_waits() {
    let Some(d) = Daemon::start() else { return };
    let (y, log) = host_log_pod(&d, "t5", 20, "Always", &format!(
        "  initContainers:\n  - name: side\n    image: {IMAGE}\n    restartPolicy: Always\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"touch /tmp/alive; trap '{MARK} side Exiting >> /log/order; exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{exec: {{command: [cat, /tmp/alive]}}, periodSeconds: 1, failureThreshold: 1}}\n    lifecycle:\n      preStop: {{exec: {{command: [sh, -c, '{MARK} side-prestop Started >> /log/order; rm /tmp/alive']}}}}\n  containers:\n  - name: main\n    image: {IMAGE}\n    volumeMounts: [{{name: log, mountPath: /log}}]\n    command: [sh, -c, \"trap '{MARK} main Exiting >> /log/order; exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      preStop: {{exec: {{command: [sh, -c, '{MARK} main-prestop Started >> /log/order; sleep 3']}}}}\n"
    ));
    d.apply(&y);
    d.wait_running("t5");
    d.ok(&["delete", "pod", "t5"]);
    let order = order_log(&std::fs::read_to_string(log.join("order")).unwrap());
    let t = |n: &str, e: &str| order[index_of(&order, n, e)].0;
    assert!(
        (t("side-prestop", "Started") - t("main-prestop", "Started")).abs() < 1.5,
        "preStops start together: {order:?}"
    );
    assert!(t("main", "Exiting") <= t("side", "Exiting"), "{order:?}");
    assert!(
        t("main", "Exiting") - t("main-prestop", "Started") >= 2.5,
        "main's signal waits for its preStop: {order:?}"
    );
    assert_eq!(
        order
            .iter()
            .filter(|(_, n, e)| n == "side" && e == "Exiting")
            .count(),
        1,
        "the sidecar is not restarted while terminating: {order:?}"
    );
}

// §4.2 / P6: a sidecar's failing liveness restarts only the sidecar.
#[test]
fn sidecar_liveness_restarts_only_the_sidecar() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("sl", "Always", 2, &format!(
        "  initContainers:\n  - name: side\n    image: {IMAGE}\n    restartPolicy: Always\n    command: [sh, -c, \"touch /tmp/alive; (sleep 2; rm /tmp/alive) & trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{exec: {{command: [cat, /tmp/alive]}}, periodSeconds: 1, failureThreshold: 1}}\n  containers:\n  - name: main\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )));
    let p = d.wait_pod("sl", Duration::from_secs(30), "sidecar restarted", |p| {
        status_of(p, "initContainerStatuses", "side")["restartCount"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    assert_eq!(restarts(&p, "main"), 0);
    assert!(events_text(&d, "sl").contains("Init container side failed liveness probe"));
}

// L24 / §7.3: a preStop longer than the grace period is cut off; the container is killed at
// the grace period (+ the 2 s floor at most).
#[test]
fn l24_pre_stop_cut_off_by_grace() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("l24", "Always", 3, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sleep, '600']\n    lifecycle:\n      preStop: {{exec: {{command: [sleep, '600']}}}}\n"
    )));
    d.wait_running("l24");
    let t = Instant::now();
    d.ok(&["delete", "pod", "l24"]);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(12),
        "took {took:?}"
    );
}

// §6.2 / H4 / H6: HTTPS probes (certificates not verified) against a TLS server in the pod's
// network namespace; an HTTPS hook whose TLS fails falls back to HTTP (LifecycleHTTPFallback).
#[test]
fn https_probe_and_hook_fallback() {
    let Some(d) = Daemon::start() else { return };
    if Command::new("openssl").arg("version").output().is_err()
        || Command::new("nsenter").arg("--version").output().is_err()
    {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "needs openssl and nsenter"
        );
        eprintln!("skipped: needs openssl and nsenter");
        return;
    }
    let www = d.root.path().join("www");
    std::fs::create_dir_all(&www).unwrap();
    std::fs::write(www.join("healthz"), "ok\n").unwrap();
    self_signed_cert(&www);
    d.apply(&pod("tls", "Always", 2, &format!(
        "  containers:\n{HANDLER}  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    readinessProbe: {{httpGet: {{scheme: HTTPS, path: /healthz, port: 9443}}, periodSeconds: 1}}\n    lifecycle:\n      postStart: {{httpGet: {{scheme: HTTPS, path: '/echo?msg=fallback', port: 8080}}}}\n"
    )));
    d.wait_pod("tls", Duration::from_secs(20), "c running", |p| {
        status_of(p, "containerStatuses", "c")["state"]["running"].is_object()
    });
    assert!(!ready(&d.pod("tls"), "c"));
    let netns = d.pod_dir("tls").join(".sandbox/net");
    let mut server = tls_server_in_pod(&netns, &www, "9443", "-WWW");
    let ok = std::panic::catch_unwind(|| {
        d.wait_pod("tls", Duration::from_secs(20), "ready over HTTPS", |p| {
            ready(p, "c")
        })
    });
    let _ = server.kill();
    let _ = server.wait();
    assert!(ok.is_ok(), "the HTTPS readiness probe never succeeded");
    // The hook may first run before the handler listens (then it fails and is retried).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log_file(&d, "tls", "requests").contains("GET /echo?msg=fallback") {
        assert!(
            Instant::now() < deadline,
            "the HTTPS hook never fell back to HTTP: {}\n{}",
            log_file(&d, "tls", "requests"),
            events_text(&d, "tls")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(events_text(&d, "tls").contains("LifecycleHTTPFallback"));
}

// C7: restart counts only ever go up (≥ 4 restarts seen, strictly increasing); C19: a startup
// probe's own terminationGracePeriodSeconds bounds its kill (pod TGPS 500 s).
#[test]
fn c7_c19_restart_counts_and_startup_grace() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("c7", "Always", 2, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 1}}\n")));
    d.apply(&pod("c19", "Always", 500, &format!("  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sleep, '600']\n    startupProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 1, terminationGracePeriodSeconds: 1}}\n")));
    let mut seen: Vec<i64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.last().copied().unwrap_or(0) < 4 {
        assert!(Instant::now() < deadline, "restarts seen: {seen:?}");
        let r = restarts(&d.pod("c7"), "c");
        if seen.last() != Some(&r) {
            seen.push(r);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "restart count went down: {seen:?}"
    );
    d.wait_pod(
        "c19",
        Duration::from_secs(30),
        "restarted despite TGPS 500",
        |p| restarts(p, "c") >= 1,
    );
}

// Sidecar variants (§4.1, §4.2, [e2e] P2–P5): a sidecar's readiness counts in READY; a sidecar
// whose startup probe fails is restarted even in a Never pod, which stays Pending.
#[test]
fn sidecar_probe_variants() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("sready", "Always", 2, &format!(
        "  initContainers:\n  - name: side\n    image: {IMAGE}\n    restartPolicy: Always\n    command: [sh, -c, \"(sleep 2; touch /tmp/ready) & trap 'exit 0' TERM; sleep 600 & wait\"]\n    readinessProbe: {{exec: {{command: [cat, /tmp/ready]}}, periodSeconds: 1}}\n  containers:\n  - name: main\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )));
    d.apply(&pod("sstart", "Never", 2, &format!(
        "  initContainers:\n  - name: side\n    image: {IMAGE}\n    restartPolicy: Always\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    startupProbe: {{exec: {{command: ['false']}}, periodSeconds: 1, failureThreshold: 2}}\n  containers:\n  - name: main\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n"
    )));
    d.wait_pod("sready", Duration::from_secs(20), "main running", |p| {
        status_of(p, "containerStatuses", "main")["state"]["running"].is_object()
    });
    assert_eq!(d.row("sready")[1], "1/2", "the sidecar is not ready yet");
    d.wait_running("sready");
    assert_eq!(&d.row("sready")[1..3], ["2/2", "Running"]);
    let p = d.wait_pod(
        "sstart",
        Duration::from_secs(30),
        "sidecar restarted",
        |p| {
            status_of(p, "initContainerStatuses", "side")["restartCount"]
                .as_i64()
                .unwrap_or(0)
                >= 1
        },
    );
    assert_eq!(p["status"]["phase"], "Pending");
    assert_eq!(
        status_of(&p, "containerStatuses", "main")["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    assert!(events_text(&d, "sstart").contains("Init container side failed startup probe"));
}

// H4: a postStart httpGet hook over HTTPS (certificate not verified) to a TLS server in the pod:
// it succeeds without falling back to HTTP.
#[test]
fn h4_https_post_start_hook() {
    let Some(d) = Daemon::start() else { return };
    if Command::new("openssl").arg("version").output().is_err() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "needs openssl");
        eprintln!("skipped: needs openssl");
        return;
    }
    let dir = d.root.path().join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    self_signed_cert(&dir);
    // The init container holds the pod back while the test starts the TLS server in its sandbox.
    d.apply(&pod("h4", "Always", 2, &format!(
        "  initContainers:\n  - name: wait\n    image: {IMAGE}\n    command: [sleep, '3']\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      postStart: {{httpGet: {{scheme: HTTPS, path: '/echo?msg=poststart', port: 9090}}}}\n"
    )));
    d.wait_pod("h4", Duration::from_secs(10), "init running", |p| {
        status_of(p, "initContainerStatuses", "wait")["state"]["running"].is_object()
    });
    let netns = d.pod_dir("h4").join(".sandbox/net");
    let mut server = tls_server_in_pod(&netns, &dir, "9090", "-www");
    let r = std::panic::catch_unwind(|| d.wait_running("h4"));
    let text = events_text(&d, "h4");
    let _ = server.kill();
    let _ = server.wait();
    assert!(r.is_ok());
    assert_eq!(restarts(&d.pod("h4"), "c"), 0, "{text}");
    assert!(
        !text.contains("LifecycleHTTPFallback") && !text.contains("FailedPostStartHook"),
        "{text}"
    );
}

/// A throw-away self-signed certificate (`c.pem`, `k.pem`) in `dir`, for TLS servers in tests.
fn self_signed_cert(dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
        ])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// H6: a preStop httpGet hook over HTTPS to a TLS server in the pod succeeds (no fallback, no
// FailedPreStopHook); the container's slow SIGTERM handler lets the events be read mid-termination.
#[test]
fn h6_https_pre_stop_hook() {
    let Some(d) = Daemon::start() else { return };
    if Command::new("openssl").arg("version").output().is_err() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "needs openssl");
        eprintln!("skipped: needs openssl");
        return;
    }
    let dir = d.root.path().join("tls6");
    std::fs::create_dir_all(&dir).unwrap();
    self_signed_cert(&dir);
    d.apply(&pod("h6", "Always", 10, &format!(
        "  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'sleep 3; exit 0' TERM; sleep 600 & wait\"]\n    lifecycle:\n      preStop: {{httpGet: {{scheme: HTTPS, path: '/echo?msg=prestop', port: 9090}}}}\n"
    )));
    d.wait_running("h6");
    let netns = d.pod_dir("h6").join(".sandbox/net");
    let mut server = tls_server_in_pod(&netns, &dir, "9090", "-www");
    std::thread::sleep(Duration::from_millis(500));
    let del = d.cmd(&["delete", "pod", "h6"]).spawn().unwrap();
    // preStop ran and the stop signal was sent once the container is marked Killing; read the
    // events while its SIGTERM handler still runs.
    std::thread::sleep(Duration::from_millis(1500));
    let ev = d.ok(&["get", "events"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(del.wait_with_output().unwrap().status.success());
    assert!(
        ev.contains("Killing")
            && !ev.contains("LifecycleHTTPFallback")
            && !ev.contains("FailedPreStopHook"),
        "{ev}"
    );
}

/// `openssl s_server` on `port` inside the pod's network namespace (`mode`: `-www` answers any
/// GET with a status page, `-WWW` serves files from `dir`), with the certificate of `dir`.
fn tls_server_in_pod(
    netns: &std::path::Path,
    dir: &std::path::Path,
    port: &str,
    mode: &str,
) -> std::process::Child {
    Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args([
            "openssl", "s_server", "-quiet", "-accept", port, "-cert", "c.pem", "-key", "k.pem",
            mode,
        ])
        .current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}
