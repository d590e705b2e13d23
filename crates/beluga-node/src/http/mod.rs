//! The Kubernetes-shaped REST API on a unix socket, one concern a module (DESIGN.md "Interfaces"):
//! `/api/v1/[namespaces/{ns}/]pods[/{name}[/log|/exec]]` (watch with `?watch=1`),
//! `/api/v1/[namespaces/{ns}/]services[/{name}]`, `…/endpoints[/{name}]`,
//! `/apis/discovery.k8s.io/v1/[namespaces/{ns}/]endpointslices[/{name}]`,
//! `/api/v1/[namespaces/{ns}/]configmaps|secrets[/{name}]`, `/api/v1/[namespaces/{ns}/]events`, and `/beluga/v1/images` for the image store.

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

mod apply;
mod auth;
mod body;
mod delete;
mod discovery;
mod events;
mod exec;
mod exec_process;
mod images;
mod listen;
mod logs;
mod metrics;
mod objects;
mod openapi;
mod patch;
mod pods;
mod portforward;
mod pty;
mod query;
mod services;
mod spdy;
mod tls;
mod validation;
mod watch;
mod websocket;

use body::*;
use events::*;
use images::*;
use listen::route_as;
pub use listen::serve;
use objects::*;
use pods::*;
use query::*;
use services::*;
use watch::*;

fn pod_list(pods: Vec<beluga_api::Pod>, rv: &str) -> serde_json::Value {
    serde_json::json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": pods})
}

/// Whether the client asked for a server-side Table (its `Accept`), and what each row carries
/// (`includeObject`).
fn wants_table(
    req: &Request<Incoming>,
    q: &HashMap<String, Vec<String>>,
) -> Option<beluga_api::table::IncludeObject> {
    let accept = req.headers().get(hyper::header::ACCEPT)?.to_str().ok()?;
    beluga_api::table::accepts_table(accept)
        .then(|| beluga_api::table::IncludeObject::from_query(q1(q, "includeObject")))
}

/// A request under its `fieldValidation` directive (`validation`).
async fn route_inner(
    d: Arc<Daemon>,
    caller: &auth::Caller,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let q = query(req.uri());
    let mode = validation::mode_of(&q)?;
    let dry = crate::dry_run::parse(q.get("dryRun").map(Vec::as_slice).unwrap_or_default())
        .map_err(|m| ApiError::new(400, "BadRequest", m))?;
    let handler = validation::scoped(mode, route_request(d, caller, req));
    crate::dry_run::scoped(dry, handler).await
}

/// The reviews of `authorization.k8s.io` and `authentication.k8s.io`, and `metrics.k8s.io`;
/// the request back when none matches.
fn route_groups(
    d: &Arc<Daemon>,
    caller: &auth::Caller,
    method: &Method,
    segs: &[&str],
    req: Request<Incoming>,
) -> Routed {
    let d = d.clone();
    let caller = caller.clone();
    let owned: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    Routed::Answer(match (method, segs) {
        (&Method::POST, ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"]) => {
            Box::pin(async move { Ok(discovery::access_review(&caller, &body_bytes(req).await?)) })
        }
        (&Method::POST, ["apis", "authentication.k8s.io", "v1", "selfsubjectreviews"]) => {
            Box::pin(async move { Ok(discovery::self_review(&caller)) })
        }
        (&Method::GET, ["apis", "metrics.k8s.io", "v1beta1", "pods"]) => {
            Box::pin(async move { metrics::pod_metrics(&d, None, None).await })
        }
        (&Method::GET, ["apis", "metrics.k8s.io", "v1beta1", "namespaces", _, "pods", ..]) => {
            Box::pin(async move {
                let name = owned.get(6).map(String::as_str);
                metrics::pod_metrics(&d, Some(&owned[4]), name).await
            })
        }
        _ => return Routed::NotMine(Box::new(req)),
    })
}

async fn route_request(
    d: Arc<Daemon>,
    caller: &auth::Caller,
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
    let table = wants_table(&req, &q);
    auth::authorize(caller, &method, &segs, q_bool(&q, "watch"))?;
    if let Some(answer) = discovery::route(&d, &method, &segs, &req) {
        return answer;
    }
    let req = match route_services(&d, &method, &segs, table, req) {
        Routed::Answer(answer) => return answer.await,
        Routed::NotMine(req) => *req,
    };
    let req = match route_objects(&d, &method, &segs, table, req) {
        Routed::Answer(answer) => return answer.await,
        Routed::NotMine(req) => *req,
    };
    let req = match route_groups(&d, caller, &method, &segs, req) {
        Routed::Answer(answer) => return answer.await,
        Routed::NotMine(req) => *req,
    };
    match (&method, segs.as_slice()) {
        (&Method::GET, ["api", "v1", "pods"]) => list_or_watch(&d, None, &q, table).await,
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods"]) => {
            list_or_watch(&d, Some(ns), &q, table).await
        }
        (&Method::POST, ["api", "v1", "namespaces", ns, "pods"]) => {
            let ns = ns.to_string();
            create_pod(&d, &ns, req).await
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name]) => {
            get_pod(&d, ns, name, &q, table)
        }
        (&Method::PUT, ["api", "v1", "namespaces", ns, "pods", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            let body = body_bytes(req).await?;
            update_pod(&d, &ns, &name, &body)
        }
        (&Method::PATCH, ["api", "v1", "namespaces", ns, "pods", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            patch::patch_pod(&d, &ns, &name, req).await
        }
        (&Method::DELETE, ["api", "v1", "namespaces", ns, "pods", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            delete_pod(&d, &ns, &name, req).await
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name, "log"]) => {
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            logs::serve(&h, &q, d.exec().clock.now()).await
        }
        (&Method::POST | &Method::GET, ["api", "v1", "namespaces", ns, "pods", name, "exec"]) => {
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            exec::serve(d.clone(), h, req, &q).await
        }
        (
            &Method::POST | &Method::GET,
            ["api", "v1", "namespaces", ns, "pods", name, "portforward"],
        ) => {
            let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
            portforward::serve(h, req).await
        }
        (&Method::GET, ["api", "v1", "events"]) => events(&d, None, req.uri(), table),
        (&Method::GET, ["api", "v1", "namespaces", ns, "events"]) => {
            events(&d, Some(ns), req.uri(), table)
        }
        (&Method::GET, ["beluga", "v1", "images"]) => {
            let list = d
                .images
                .list()
                .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
            Ok(json(StatusCode::OK, &list))
        }
        (&Method::POST, ["beluga", "v1", "images", verb @ ("import" | "load")]) => {
            let verb = verb.to_string();
            import_image(&d, &verb, req).await
        }
        (&Method::POST, ["beluga", "v1", "images", "pull"]) => {
            let reference = q1(&q, "ref").unwrap_or_default().to_string();
            Ok(pull_image(d.clone(), reference))
        }
        (&Method::DELETE, ["beluga", "v1", "images"]) => {
            remove_image(&d, q1(&q, "ref").unwrap_or_default())
        }
        _ => Err(ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({method} {path})"),
        )),
    }
}
