//! The Kubernetes-shaped REST API on a unix socket, one concern a module (DESIGN.md "Interfaces"):
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

mod body;
mod events;
mod exec;
mod images;
mod listen;
mod logs;
mod query;
mod watch;

use body::*;
use events::*;
use images::*;
pub use listen::serve;
use query::*;
use watch::*;

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
            logs::serve(&h, &q).await
        }
        (&Method::POST | &Method::GET, ["api", "v1", "namespaces", ns, "pods", name, "exec"]) => {
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            exec::serve(d.clone(), h, req, &q).await
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
                    let uses = podutil::all_containers(&st.pod).any(|c| {
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
