//! Probes and lifecycle hooks on real containers (spec §6, §7, scenarios of §13.8 and §13.9 with
//! short periods; timing windows are generous, restart counts and event reasons exact).

mod common;
use common::*;
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
        "  containers:\n  - name: c\n    image: {IMAGE}\n    ports: [{{name: web, containerPort: 8080}}]\n    command: [sh, -c, \"{HTTPD}\"]\n    livenessProbe: {{tcpSocket: {{port: web}}, periodSeconds: 1, failureThreshold: 1}}\n"
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
// namespace: SERVING → no restart; the wrong port → one restart.
#[test]
fn c20_c21_grpc_liveness() {
    let Some(d) = Daemon::start() else { return };
    d.apply(&pod("grpc", "Always", 2, &format!(
        "  containers:\n  - name: ok\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{grpc: {{port: 5000}}, initialDelaySeconds: 2, periodSeconds: 1, failureThreshold: 1}}\n  - name: wrong\n    image: {IMAGE}\n    command: [sh, -c, \"trap 'exit 0' TERM; sleep 600 & wait\"]\n    livenessProbe: {{grpc: {{port: 2333}}, initialDelaySeconds: 2, periodSeconds: 1, failureThreshold: 1}}\n"
    )));
    d.wait_pod("grpc", Duration::from_secs(20), "running", |p| {
        status_of(p, "containerStatuses", "ok")["state"]["running"].is_object()
    });
    let pods = d.state_dir().join("pods");
    let dir = std::fs::read_dir(&pods)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let listener =
        beluga_runtime::netns::listen(&dir.join(".sandbox/net"), "127.0.0.1:5000".parse().unwrap())
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
