//! The Service verbs (issue 15): list and get (as a server-side Table when asked), create,
//! update (`PUT`), delete; and what is derived from Services and pods on every read: the
//! `discovery.k8s.io/v1` EndpointSlices and the `v1` Endpoints (list and get).

use super::*;

fn service_list(services: Vec<beluga_api::Service>, rv: &str) -> serde_json::Value {
    serde_json::json!({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": services})
}

pub(super) fn list_services(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    table: Option<beluga_api::table::IncludeObject>,
    uri: &hyper::Uri,
) -> Result<Response<ResBody>, ApiError> {
    let services = selected(
        d.services().list(ns),
        uri,
        beluga_api::selector::OBJECT_FIELDS,
    )?;
    let rv = d.current_rv();
    Ok(match table {
        Some(include) => {
            let t = beluga_api::table::services(&services, d.exec().clock.now(), include, &rv);
            json(StatusCode::OK, &t)
        }
        None => json(StatusCode::OK, &service_list(services, &rv)),
    })
}

pub(super) fn get_service(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    table: Option<beluga_api::table::IncludeObject>,
) -> Result<Response<ResBody>, ApiError> {
    let svc = d
        .services()
        .get(ns, name)
        .ok_or_else(|| ApiError::not_found_in("services", name))?;
    Ok(match table {
        Some(include) => {
            let rv = svc.metadata.resource_version.clone().unwrap_or_default();
            let t = beluga_api::table::services(&[svc], d.exec().clock.now(), include, &rv);
            json(StatusCode::OK, &t)
        }
        None => json(StatusCode::OK, &svc),
    })
}

async fn service_body(req: Request<Incoming>) -> Result<beluga_api::Service, ApiError> {
    let body = body_bytes(req).await?;
    super::validation::decode(&body, "Service")
}

pub(super) async fn create_service(
    d: &Arc<Daemon>,
    ns: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let svc = service_body(req).await?;
    d.admit_create(ns, "services", svc.metadata.name.as_deref().unwrap_or(""))?;
    Ok(json(StatusCode::CREATED, &d.create_service(svc, ns)?))
}

/// `PUT` with its body (and a PATCH with the patched Service).
pub(super) fn update_service(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    body: &[u8],
) -> Result<Response<ResBody>, ApiError> {
    let svc = super::validation::decode::<beluga_api::Service>(body, "Service")?;
    if svc.metadata.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(json(StatusCode::OK, &d.update_service(svc, ns, name)?))
}

async fn patch_service(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let kind = super::patch::Kind {
        kind: "Service",
        name,
        live: &|| d.services().get(ns, name),
        not_found: &|| ApiError::not_found_in("services", name),
        create: &|out| {
            let svc = super::validation::decode::<beluga_api::Service>(out, "Service")?;
            d.admit_create(ns, "services", name)?;
            Ok(json(StatusCode::CREATED, &d.create_service(svc, ns)?))
        },
        update: &|out| update_service(d, ns, name, out),
    };
    super::patch::patch(kind, d, req).await
}

pub(super) fn delete_service(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
) -> Result<Response<ResBody>, ApiError> {
    Ok(json(StatusCode::OK, &d.delete_service(ns, name)?))
}

/// Which of the two derived kinds.
#[derive(Clone, Copy)]
pub(super) enum Derived {
    Slices,
    Endpoints,
}

/// `get endpointslices|endpoints`, listed or one by name.
pub(super) fn get_derived(
    d: &Arc<Daemon>,
    kind: Derived,
    ns: Option<&str>,
    name: Option<&str>,
    table: Option<beluga_api::table::IncludeObject>,
) -> Result<Response<ResBody>, ApiError> {
    use beluga_api::service::{print, slices};
    let pods = d.views(ns);
    let services = d.services().list(ns);
    let (rv, now) = (d.current_rv(), d.exec().clock.now());
    let named = |n: Option<&String>| name.is_none_or(|want| n.map(String::as_str) == Some(want));
    let value = match kind {
        Derived::Slices => {
            let all: Vec<_> = services
                .iter()
                .flat_map(|s| slices::slices(s, &pods))
                .filter(|s| named(s.metadata.name.as_ref()))
                .collect();
            derived_answer(
                all,
                table,
                name,
                &rv,
                "EndpointSliceList",
                "discovery.k8s.io/v1",
                "endpointslices",
                |t, inc| {
                    beluga_api::table::objects(
                        print::slice_columns(),
                        t,
                        |s| &s.metadata,
                        |s| print::slice_row(s, now),
                        inc,
                        &rv,
                    )
                },
            )?
        }
        Derived::Endpoints => {
            let all: Vec<_> = services
                .iter()
                .filter_map(|s| slices::endpoints_object(s, &pods))
                .filter(|e| named(e.metadata.name.as_ref()))
                .collect();
            derived_answer(
                all,
                table,
                name,
                &rv,
                "EndpointsList",
                "v1",
                "endpoints",
                |t, inc| {
                    beluga_api::table::objects(
                        print::endpoints_columns(),
                        t,
                        |e| &e.metadata,
                        |e| print::endpoints_row(e, now),
                        inc,
                        &rv,
                    )
                },
            )?
        }
    };
    Ok(json(StatusCode::OK, &value))
}

/// A list, one object by name (NotFound when absent), or their Table.
#[allow(clippy::too_many_arguments)]
fn derived_answer<T: serde::Serialize>(
    all: Vec<T>,
    table: Option<beluga_api::table::IncludeObject>,
    name: Option<&str>,
    rv: &str,
    list_kind: &str,
    api_version: &str,
    resource: &'static str,
    to_table: impl Fn(&[T], beluga_api::table::IncludeObject) -> beluga_api::table::Table,
) -> Result<serde_json::Value, ApiError> {
    if let Some(n) = name.filter(|_| all.is_empty()) {
        return Err(ApiError::not_found_in(resource, n));
    }
    let internal = |e: serde_json::Error| ApiError::new(500, "InternalError", e.to_string());
    match (table, name) {
        (Some(include), _) => serde_json::to_value(to_table(&all, include)).map_err(internal),
        (None, Some(_)) => serde_json::to_value(all.into_iter().next()).map_err(internal),
        (None, None) => Ok(
            serde_json::json!({"kind": list_kind, "apiVersion": api_version, "metadata": {"resourceVersion": rv}, "items": all}),
        ),
    }
}

pub(super) type Answer = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Response<ResBody>, ApiError>> + Send>,
>;

/// What `route_services` did with a request: answered it, or gave it back.
pub(super) enum Routed {
    Answer(Answer),
    NotMine(Box<Request<Incoming>>),
}

/// The routes of Services and what derives from them; the request back when none matches.
pub(super) fn route_services(
    d: &Arc<Daemon>,
    method: &Method,
    segs: &[&str],
    table: Option<beluga_api::table::IncludeObject>,
    req: Request<Incoming>,
) -> Routed {
    let d2 = d.clone();
    let owned: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    let segs: Vec<&str> = owned.iter().map(String::as_str).collect();
    let done = |r: Result<Response<ResBody>, ApiError>| -> Answer { Box::pin(async move { r }) };
    Routed::Answer(match (method, segs.as_slice()) {
        (&Method::GET, ["api", "v1", "services"]) => done(list_services(d, None, table, req.uri())),
        (&Method::GET, ["api", "v1", "namespaces", ns, "services"]) => {
            done(list_services(d, Some(ns), table, req.uri()))
        }
        (&Method::POST, ["api", "v1", "namespaces", ns, "services"]) => {
            let ns = ns.to_string();
            Box::pin(async move { create_service(&d2, &ns, req).await })
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "services", name]) => {
            done(get_service(d, ns, name, table))
        }
        (&Method::PUT, ["api", "v1", "namespaces", ns, "services", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            Box::pin(async move { update_service(&d2, &ns, &name, &body_bytes(req).await?) })
        }
        (&Method::PATCH, ["api", "v1", "namespaces", ns, "services", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            Box::pin(async move { patch_service(&d2, &ns, &name, req).await })
        }
        (&Method::DELETE, ["api", "v1", "namespaces", ns, "services", name]) => {
            let (ns, name) = (ns.to_string(), name.to_string());
            Box::pin(async move {
                super::delete::deleting(req, |_| delete_service(&d2, &ns, &name)).await
            })
        }
        (&Method::GET, ["apis", "discovery.k8s.io", "v1", "endpointslices"]) => {
            done(get_derived(d, Derived::Slices, None, None, table))
        }
        (
            &Method::GET,
            ["apis", "discovery.k8s.io", "v1", "namespaces", ns, "endpointslices", rest @ ..],
        ) => done(get_derived(
            d,
            Derived::Slices,
            Some(ns),
            rest.first().copied(),
            table,
        )),
        (&Method::GET, ["api", "v1", "endpoints"]) => {
            done(get_derived(d, Derived::Endpoints, None, None, table))
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "endpoints", rest @ ..]) => {
            done(get_derived(
                d,
                Derived::Endpoints,
                Some(ns),
                rest.first().copied(),
                table,
            ))
        }
        _ => return Routed::NotMine(Box::new(req)),
    })
}
