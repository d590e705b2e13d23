//! The Kubernetes-shaped REST API on a unix socket (DESIGN.md "Interfaces"):
//! `/api/v1/[namespaces/{ns}/]pods[/{name}[/log|/exec]]` (watch with `?watch=1`),
//! `/api/v1/[namespaces/{ns}/]events`, and `/beluga/v1/images` for the image store.

use crate::{ApiError, Daemon};
use beluga_api::podutil;
use beluga_image::registry::PullEvent;
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::convert::Infallible;
use std::os::unix::fs::PermissionsExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub type ResBody = BoxBody<Bytes, Infallible>;

/// Largest request body accepted (a Pod manifest is far smaller).
const MAX_BODY: usize = 4 << 20;

/// A response body fed by a channel: watches, `logs -f`.
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

pub fn full(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<ResBody> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

pub fn json(status: StatusCode, v: &impl serde::Serialize) -> Response<ResBody> {
    full(
        status,
        "application/json",
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

pub fn error(e: &ApiError) -> Response<ResBody> {
    json(
        StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &e.status_json(),
    )
}

pub fn streaming(content_type: &str) -> (mpsc::Sender<Bytes>, Response<ResBody>) {
    let (tx, rx) = mpsc::channel(64);
    let resp = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", content_type)
        .header("transfer-encoding", "chunked")
        .body(ChannelBody(rx).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()));
    (tx, resp)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query parameters; repeated keys (`command=a&command=b`) keep every value in order.
pub fn query(uri: &hyper::Uri) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        m.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    m
}

pub fn q1<'a>(q: &'a HashMap<String, Vec<String>>, k: &str) -> Option<&'a str> {
    q.get(k).and_then(|v| v.first()).map(String::as_str)
}

pub fn q_bool(q: &HashMap<String, Vec<String>>, k: &str) -> bool {
    matches!(q1(q, k), Some("1" | "true" | ""))
}

/// How long a request body may take to arrive (attack report 4.4: bodies that never ended held
/// a task and a descriptor each, forever); the apiserver's request timeout is a minute too.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

async fn body_bytes(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let collect = Limited::new(req.into_body(), MAX_BODY).collect();
    tokio::time::timeout(BODY_TIMEOUT, collect)
        .await
        .map_err(|_| ApiError::new(408, "Timeout", "the request body did not arrive in time"))?
        .map(|c| c.to_bytes())
        .map_err(|e| {
            ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("reading request body: {e}"),
            )
        })
}

/// Binds the socket root-only (0600) without touching the mode of a directory beluga did not
/// make (`--socket /tmp/x.sock` once turned `/tmp` 0700, attack report 4.0): missing parents are
/// made 0700, and the socket is bound in a private directory beside it and renamed into place,
/// so it is never reachable before its mode is set.
fn bind_private(sock: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = sock.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(std::path::Path::new("."));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let private = tempfile::Builder::new()
        .prefix(".beluga-sock-")
        .tempdir_in(dir)?;
    let staged = private.path().join("s");
    let listener = tokio::net::UnixListener::bind(&staged)?;
    std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
    let _ = std::fs::remove_file(sock);
    std::fs::rename(&staged, sock)?;
    Ok(listener)
}

/// How many connections are served at once: half the open-files limit (the rest is for pods,
/// logs and the runtime), at least 16.
fn connection_bound() -> usize {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1 << 20);
    usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
}

/// Serves the API; an accept error never ends it. The socket is root-only (0600 in a 0700 directory).
pub async fn serve(d: Arc<Daemon>) -> std::io::Result<()> {
    let sock = d.cfg.socket.clone();
    if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("another daemon is serving {}", sock.display()),
        ));
    }
    let listener = bind_private(&sock)?;
    tracing::info!(socket = %sock.display(), "serving the API");
    let slots = Arc::new(tokio::sync::Semaphore::new(connection_bound()));
    loop {
        // Past the bound, clients wait in the listen backlog instead of taking the daemon's
        // last descriptors (attack report 4.6).
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and the like pass; they never end the daemon.
                tracing::warn!(error = %e, "accepting a connection");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let d = d.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| {
                let d = d.clone();
                async move { Ok::<_, Infallible>(route(d, req).await) }
            });
            // A half-sent request is dropped after 30 s instead of holding its task forever.
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(30))
                .serve_connection(io, svc)
                .with_upgrades()
                .await;
        });
    }
}

async fn route(d: Arc<Daemon>, req: Request<Incoming>) -> Response<ResBody> {
    match route_inner(d, req).await {
        Ok(r) => r,
        Err(e) => error(&e),
    }
}

fn pod_list(pods: Vec<beluga_api::Pod>) -> serde_json::Value {
    serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": ""}, "items": pods})
}

async fn route_inner(
    d: Arc<Daemon>,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let path = req.uri().path().to_string();
    let segs: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let q = query(req.uri());
    let method = req.method().clone();
    let rt = d.runtime.name.clone();
    match (&method, segs.as_slice()) {
        (&Method::GET, ["healthz"]) => Ok(full(StatusCode::OK, "text/plain", "ok")),
        (&Method::GET, ["version"]) => Ok(json(
            StatusCode::OK,
            &serde_json::json!({"gitVersion": concat!("v", env!("CARGO_PKG_VERSION")), "platform": "linux", "runtime": rt}),
        )),
        (&Method::GET, ["api", "v1", "pods"]) => list_or_watch(&d, None, &q).await,
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods"]) => {
            list_or_watch(&d, Some(ns), &q).await
        }
        (&Method::POST, ["api", "v1", "namespaces", ns, "pods"]) => {
            let ns = ns.to_string();
            let body = body_bytes(req).await?;
            let pod = beluga_api::manifest::pod_from_json(&body)
                .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?;
            let created = d.create(pod, &ns)?;
            Ok(json(StatusCode::CREATED, &created))
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name]) => {
            if q_bool(&q, "watch") {
                // Subscribed before the pod is read: nothing published in between is lost.
                let rx = d.watch.subscribe();
                let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
                let (ns, name) = (Some(ns.to_string()), Some(name.to_string()));
                return Ok(watch(rx, ns, name, vec![h.current(&rt)]));
            }
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            Ok(json(StatusCode::OK, &h.current(&rt)))
        }
        (&Method::PUT, ["api", "v1", "namespaces", ns, "pods", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            let body = body_bytes(req).await?;
            let pod = beluga_api::manifest::pod_from_json(&body)
                .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?;
            if pod.metadata.name.as_deref().is_some_and(|n| n != name) {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    "the name of the object does not match the name on the URL",
                ));
            }
            Ok(json(StatusCode::OK, &d.update(pod, &ns, &name)?))
        }
        (&Method::DELETE, ["api", "v1", "namespaces", ns, "pods", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            let mut grace = q1(&q, "gracePeriodSeconds").and_then(|g| g.parse::<i64>().ok());
            let body = body_bytes(req).await?;
            if !body.is_empty() {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    grace = grace.or(v.get("gracePeriodSeconds").and_then(|g| g.as_i64()));
                }
            }
            Ok(json(StatusCode::OK, &d.delete(&ns, &name, grace)?))
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name, "log"]) => {
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            crate::logs::serve(&h, &q).await
        }
        (&Method::POST | &Method::GET, ["api", "v1", "namespaces", ns, "pods", name, "exec"]) => {
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            crate::exec::serve(d.clone(), h, req, &q).await
        }
        (&Method::GET, ["api", "v1", "events"]) => Ok(events(&d, None, &q)),
        (&Method::GET, ["api", "v1", "namespaces", ns, "events"]) => Ok(events(&d, Some(ns), &q)),
        (&Method::GET, ["beluga", "v1", "images"]) => {
            let list = d
                .images
                .list()
                .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
            Ok(json(StatusCode::OK, &list))
        }
        (&Method::POST, ["beluga", "v1", "images", verb @ ("import" | "load")]) => {
            let verb = verb.to_string();
            let body = body_bytes(req).await?;
            let v: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?;
            let path = std::path::PathBuf::from(v["path"].as_str().unwrap_or_default());
            let tag = v["tag"].as_str().map(String::from);
            let d2 = d.clone();
            let res = tokio::task::spawn_blocking(move || match verb.as_str() {
                "import" => d2
                    .images
                    .import_rootfs(&path, tag.as_deref().unwrap_or_default())
                    .map(|r| vec![r]),
                _ => beluga_image::archive::load(&d2.images, &path, tag.as_deref()),
            })
            .await
            .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
            match res {
                Ok(recs) => Ok(json(StatusCode::CREATED, &recs)),
                Err(e) => Err(ApiError::new(400, "BadRequest", e.to_string())),
            }
        }
        (&Method::POST, ["beluga", "v1", "images", "pull"]) => {
            let reference = q1(&q, "ref").unwrap_or_default().to_string();
            Ok(pull_image(d.clone(), reference))
        }
        (&Method::DELETE, ["beluga", "v1", "images"]) => {
            let reference = q1(&q, "ref").unwrap_or_default().to_string();
            let users = |rec: &beluga_image::ImageRecord| -> Option<String> {
                d.list(None).iter().find_map(|h| {
                    let st = h.lock();
                    let uses = podutil::init_containers(&st.pod)
                        .iter()
                        .chain(podutil::containers(&st.pod))
                        .any(|c| {
                            c.image
                                .as_deref()
                                .and_then(|i| beluga_image::reference::normalize(i).ok())
                                .as_deref()
                                == Some(rec.reference.as_str())
                        });
                    uses.then(|| {
                        format!(
                            "pod {}/{}",
                            podutil::namespace(&st.pod),
                            podutil::name(&st.pod)
                        )
                    })
                })
            };
            match d.images.remove(&reference, users) {
                Ok(rec) => Ok(json(StatusCode::OK, &rec)),
                Err(beluga_image::ImageError::NotFound(r)) => Err(ApiError::new(
                    404,
                    "NotFound",
                    format!("image {r:?} not found"),
                )),
                Err(e) => Err(ApiError::new(409, "Conflict", e.to_string())),
            }
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({method} {path})"),
        )),
    }
}

/// `image pull`: one JSON line per progress event (`{"progress": …}`), then `{"image": record}`
/// or `{"error": message}`; the pull goes on to its end even if the client leaves.
fn pull_image(d: Arc<Daemon>, reference: String) -> Response<ResBody> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        let line = |v: serde_json::Value| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Bytes::from(b)
        };
        let progress_tx = tx.clone();
        let turn = d.pulls.lock().await;
        let res = d.pull(&turn, &reference, |ev| {
            let v = match ev {
                PullEvent::Resolved { digest, layers } => {
                    serde_json::json!({"progress": {"manifest": digest, "layers": layers}})
                }
                PullEvent::Layer {
                    digest,
                    done,
                    total,
                } => {
                    serde_json::json!({"progress": {"layer": digest, "done": done, "total": total}})
                }
                PullEvent::Present { digest } => {
                    serde_json::json!({"progress": {"layer": digest, "present": true}})
                }
            };
            // Progress is best effort: a slow reader misses some, never the result.
            let _ = progress_tx.try_send(line(v));
        })
        .await;
        let last = match res {
            Ok(rec) => serde_json::json!({ "image": rec }),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        let _ = tx.send(line(last)).await;
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json-seq")
        .body(ChannelBody(rx).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
}

async fn list_or_watch(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    q: &HashMap<String, Vec<String>>,
) -> Result<Response<ResBody>, ApiError> {
    // A watch subscribes before it lists (review P5): a change published in between is seen.
    let rx = q_bool(q, "watch").then(|| d.watch.subscribe());
    let pods: Vec<beluga_api::Pod> = d
        .list(ns)
        .iter()
        .map(|h| h.current(&d.runtime.name))
        .collect();
    if let Some(rx) = rx {
        return Ok(watch(rx, ns.map(String::from), None, pods));
    }
    Ok(json(StatusCode::OK, &pod_list(pods)))
}

/// A pod's resourceVersion as a number (0 when unset).
fn rv_of(p: &beluga_api::Pod) -> u64 {
    p.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A watch: the current objects as ADDED, then every change, one JSON event per line. `rx` was
/// subscribed before `initial` was read; an event no newer than what `initial` showed of that
/// pod is skipped, so nothing is lost and nothing is sent twice.
fn watch(
    mut rx: tokio::sync::broadcast::Receiver<crate::WatchEvent>,
    ns: Option<String>,
    name: Option<String>,
    initial: Vec<beluga_api::Pod>,
) -> Response<ResBody> {
    let seen: HashMap<(String, String), u64> = initial
        .iter()
        .map(|p| {
            let key = (
                podutil::namespace(p).to_string(),
                podutil::name(p).to_string(),
            );
            (key, rv_of(p))
        })
        .collect();
    let (tx, resp) = streaming("application/json");
    tokio::spawn(async move {
        let line = |kind: &str, pod: &beluga_api::Pod| {
            let mut v = serde_json::to_vec(&serde_json::json!({"type": kind, "object": pod}))
                .unwrap_or_default();
            v.push(b'\n');
            Bytes::from(v)
        };
        for p in &initial {
            if tx.send(line("ADDED", p)).await.is_err() {
                return;
            }
        }
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let key = (
                        podutil::namespace(&ev.pod).to_string(),
                        podutil::name(&ev.pod).to_string(),
                    );
                    if ns.as_deref().is_some_and(|n| n != key.0)
                        || name.as_deref().is_some_and(|n| n != key.1)
                        || (ev.kind != "DELETED"
                            && seen.get(&key).is_some_and(|&r| rv_of(&ev.pod) <= r))
                    {
                        continue;
                    }
                    if tx.send(line(ev.kind, &ev.pod)).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    resp
}

fn events(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    q: &HashMap<String, Vec<String>>,
) -> Response<ResBody> {
    // fieldSelector=involvedObject.name=web[,involvedObject.namespace=…]
    let mut want_name = None;
    for sel in q1(q, "fieldSelector").unwrap_or("").split(',') {
        if let Some(v) = sel.strip_prefix("involvedObject.name=") {
            want_name = Some(v.to_string());
        }
    }
    let mut items = Vec::new();
    for h in d.list(ns) {
        let st = h.lock();
        if want_name
            .as_deref()
            .is_some_and(|n| n != podutil::name(&st.pod))
        {
            continue;
        }
        items.extend(st.events.list.iter().cloned());
    }
    items.sort_by(|a, b| {
        a.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .cmp(&b.last_timestamp.as_ref().map(|t| t.0))
    });
    json(
        StatusCode::OK,
        &serde_json::json!({"kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": items}),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_decoding_never_panics() {
        assert_eq!(super::percent_decode("a%20b+c"), "a b c");
        assert_eq!(super::percent_decode("%é%"), "%é%");
        assert_eq!(super::percent_decode("%2"), "%2");
        assert_eq!(super::percent_decode("%zz"), "%zz");
    }
}
