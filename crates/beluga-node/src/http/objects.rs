//! The verbs of the kinds kept as plain objects (issue 16: ConfigMaps, Secrets, ServiceAccounts,
//! Namespaces): list and get
//! (as a server-side Table when asked), create, replace (`PUT`), delete.

use super::*;
use crate::objects::{Kind, Store};
use beluga_api::config::print;
use beluga_api::k8s_openapi::jiff::Timestamp;
use beluga_api::table::{IncludeObject, Table};
use beluga_api::{ConfigMap, Namespace, Secret, ServiceAccount};

/// A kept kind's Table (its `get` columns and rows).
pub(super) trait Printed: Kind {
    fn table(items: &[Self], now: Timestamp, include: IncludeObject, rv: &str) -> Table;
    fn store(d: &Daemon) -> &Store<Self>;
}

impl Printed for ConfigMap {
    fn table(items: &[Self], now: Timestamp, include: IncludeObject, rv: &str) -> Table {
        let cells = |c: &ConfigMap| print::config_map_row(c, now);
        let columns = print::config_map_columns();
        beluga_api::table::objects(columns, items, |c| &c.metadata, cells, include, rv)
    }
    fn store(d: &Daemon) -> &Store<Self> {
        d.config_maps()
    }
}

impl Printed for Secret {
    fn table(items: &[Self], now: Timestamp, include: IncludeObject, rv: &str) -> Table {
        let cells = |s: &Secret| print::secret_row(s, now);
        let columns = print::secret_columns();
        beluga_api::table::objects(columns, items, |s| &s.metadata, cells, include, rv)
    }
    fn store(d: &Daemon) -> &Store<Self> {
        d.secrets()
    }
}

impl Printed for Namespace {
    fn table(items: &[Self], now: Timestamp, include: IncludeObject, rv: &str) -> Table {
        let cells = |n: &Namespace| beluga_api::namespace::row(n, now);
        let columns = beluga_api::namespace::columns();
        beluga_api::table::objects(columns, items, |n| &n.metadata, cells, include, rv)
    }
    fn store(d: &Daemon) -> &Store<Self> {
        d.namespaces()
    }
}

impl Printed for ServiceAccount {
    fn table(items: &[Self], now: Timestamp, include: IncludeObject, rv: &str) -> Table {
        let cells = |a: &ServiceAccount| beluga_api::serviceaccount::row(a, now);
        let columns = beluga_api::serviceaccount::columns();
        beluga_api::table::objects(columns, items, |a| &a.metadata, cells, include, rv)
    }
    fn store(d: &Daemon) -> &Store<Self> {
        d.service_accounts()
    }
}

fn list<T: Printed>(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    table: Option<IncludeObject>,
    uri: &hyper::Uri,
) -> Result<Response<ResBody>, ApiError> {
    let q = query(uri);
    if q_bool(&q, "watch") {
        let filter = super::watch::Filter {
            ns: ns.map(String::from),
            name: None,
            sel: selectors(&q, beluga_api::selector::OBJECT_FIELDS)?,
        };
        return super::watch::watch(source::<T>(d), filter, &q, table);
    }
    let (all, at) = T::store(d).snapshot(ns);
    let items = selected(all, uri, beluga_api::selector::OBJECT_FIELDS)?;
    let rv = at.to_string();
    Ok(match table {
        Some(include) => json(
            StatusCode::OK,
            &T::table(&items, d.exec().clock.now(), include, &rv),
        ),
        None => json(
            StatusCode::OK,
            &serde_json::json!({"kind": format!("{}List", T::KIND), "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
        ),
    })
}

/// A kept kind for a watch: its store's snapshot and history, its Table.
fn source<T: Printed>(d: &Arc<Daemon>) -> super::watch::Source<T> {
    let (d1, d2, d3) = (d.clone(), d.clone(), d.clone());
    super::watch::Source {
        kind: T::KIND,
        snapshot: Box::new(move |ns| T::store(&d1).snapshot(ns)),
        since: Box::new(move |rv| T::store(&d2).history().since(rv)),
        changes: T::store(d).history().changes(),
        meta: <T as Kind>::meta,
        meta_mut: <T as Kind>::meta_mut,
        table: Box::new(move |o, include, rv| {
            T::table(std::slice::from_ref(o), d3.exec().clock.now(), include, rv)
        }),
    }
}

fn get<T: Printed>(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    table: Option<IncludeObject>,
    uri: &hyper::Uri,
) -> Result<Response<ResBody>, ApiError> {
    let o = T::store(d)
        .get(ns, name)
        .ok_or_else(|| ApiError::not_found_in(T::RESOURCE, name))?;
    let q = query(uri);
    if q_bool(&q, "watch") {
        // The legacy watch of one object (`GET …/configmaps/c?watch=1`).
        let filter = super::watch::Filter {
            ns: Some(ns.to_string()),
            name: Some(name.to_string()),
            sel: Default::default(),
        };
        return super::watch::watch(source::<T>(d), filter, &q, table);
    }
    Ok(match table {
        Some(include) => {
            let rv = o.meta().resource_version.clone().unwrap_or_default();
            let t = T::table(&[o], d.exec().clock.now(), include, &rv);
            json(StatusCode::OK, &t)
        }
        None => json(StatusCode::OK, &o),
    })
}

async fn body_of<T: Printed>(req: Request<Incoming>) -> Result<T, ApiError> {
    decode::<T>(&body_bytes(req).await?)
}

fn decode<T: Printed>(body: &[u8]) -> Result<T, ApiError> {
    super::validation::decode(body, T::KIND)
}

async fn create<T: Printed>(
    d: &Daemon,
    ns: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    create_from::<T>(d, ns, body_of::<T>(req).await?)
}

fn create_from<T: Printed>(d: &Daemon, ns: &str, o: T) -> Result<Response<ResBody>, ApiError> {
    if T::NAMESPACED {
        d.admit_create(ns, T::RESOURCE, o.meta().name.as_deref().unwrap_or(""))?;
    }
    let made = T::store(d).create(o, ns, d.exec().clock.now())?;
    d.config_changed(ns);
    Ok(json(StatusCode::CREATED, &made))
}

/// `PUT` with its body (and a PATCH with the patched object).
fn update<T: Printed>(
    d: &Daemon,
    ns: &str,
    name: &str,
    body: &[u8],
) -> Result<Response<ResBody>, ApiError> {
    let o = decode::<T>(body)?;
    if o.meta().name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        ));
    }
    let replaced = T::store(d).update(o, ns, name)?;
    d.config_changed(ns);
    d.restore_controlled(ns);
    Ok(json(StatusCode::OK, &replaced))
}

/// `PATCH` of a kept object: the patched object replaces it as a `PUT` would; an applied
/// configuration of a missing one creates it (a namespace through the namespace code: its
/// default account, its CA).
async fn patch<T: Printed>(
    d: &Daemon,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let kind = super::patch::Kind {
        kind: T::KIND,
        name,
        live: &|| T::store(d).get(ns, name),
        not_found: &|| ApiError::not_found_in(T::RESOURCE, name),
        create: &|out| match T::NAMESPACED {
            true => create_from::<T>(d, ns, decode::<T>(out)?),
            false => Ok(json(
                StatusCode::CREATED,
                &d.create_namespace(decode(out)?)?,
            )),
        },
        update: &|out| update::<T>(d, ns, name, out),
    };
    super::patch::patch(kind, d, req).await
}

/// The routes of one kept kind under `/api/v1/[namespaces/{ns}/]<resource>[/{name}]`; the
/// request back when none matches.
fn route<T: Printed>(
    d: &Arc<Daemon>,
    method: &Method,
    segs: &[&str],
    table: Option<IncludeObject>,
    req: Request<Incoming>,
) -> Routed {
    let done = |r: Result<Response<ResBody>, ApiError>| -> Answer { Box::pin(async move { r }) };
    let d2 = d.clone();
    let owned: Vec<String> = segs.iter().map(|s| s.to_string()).collect();
    let at = |i: usize| owned.get(i).cloned().unwrap_or_default();
    Routed::Answer(match (method, segs) {
        (&Method::GET, ["api", "v1", r]) if *r == T::RESOURCE => {
            done(list::<T>(d, None, table, req.uri()))
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, r]) if *r == T::RESOURCE => {
            done(list::<T>(d, Some(ns), table, req.uri()))
        }
        (&Method::POST, ["api", "v1", "namespaces", _, r]) if *r == T::RESOURCE => {
            let ns = at(3);
            Box::pin(async move { create::<T>(&d2, &ns, req).await })
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, r, name]) if *r == T::RESOURCE => {
            done(get::<T>(d, ns, name, table, req.uri()))
        }
        (&Method::PUT, ["api", "v1", "namespaces", _, r, _]) if *r == T::RESOURCE => {
            let (ns, name) = (at(3), at(5));
            Box::pin(async move { update::<T>(&d2, &ns, &name, &body_bytes(req).await?) })
        }
        (&Method::PATCH, ["api", "v1", "namespaces", _, r, _]) if *r == T::RESOURCE => {
            let (ns, name) = (at(3), at(5));
            Box::pin(async move { patch::<T>(&d2, &ns, &name, req).await })
        }
        (&Method::DELETE, ["api", "v1", "namespaces", _, r, _]) if *r == T::RESOURCE => {
            let (ns, name) = (at(3), at(5));
            Box::pin(async move {
                super::delete::deleting(req, |_| {
                    let o = T::store(&d2).delete(&ns, &name)?;
                    d2.restore_controlled(&ns);
                    Ok(json(StatusCode::OK, &o))
                })
                .await
            })
        }
        _ => return Routed::NotMine(Box::new(req)),
    })
}

/// The routes of Namespaces, `/api/v1/namespaces[/{name}]` (a deletion is the namespace
/// controller's, `Daemon::delete_namespace`); the request back when none matches.
fn route_namespaces(
    d: &Arc<Daemon>,
    method: &Method,
    segs: &[&str],
    table: Option<IncludeObject>,
    req: Request<Incoming>,
) -> Routed {
    let done = |r: Result<Response<ResBody>, ApiError>| -> Answer { Box::pin(async move { r }) };
    let d2 = d.clone();
    let name = segs.get(3).map(|s| s.to_string()).unwrap_or_default();
    Routed::Answer(match (method, segs) {
        (&Method::GET, ["api", "v1", "namespaces"]) => {
            done(list::<Namespace>(d, None, table, req.uri()))
        }
        (&Method::POST, ["api", "v1", "namespaces"]) => Box::pin(async move {
            let ns = body_of::<Namespace>(req).await?;
            let made = d2.create_namespace(ns)?;
            Ok(json(StatusCode::CREATED, &made))
        }),
        (&Method::GET, ["api", "v1", "namespaces", name]) => {
            done(get::<Namespace>(d, "", name, table, req.uri()))
        }
        (&Method::PUT, ["api", "v1", "namespaces", _]) => {
            Box::pin(async move { update::<Namespace>(&d2, "", &name, &body_bytes(req).await?) })
        }
        (&Method::PATCH, ["api", "v1", "namespaces", _]) => {
            Box::pin(async move { patch::<Namespace>(&d2, "", &name, req).await })
        }
        (&Method::DELETE, ["api", "v1", "namespaces", _]) => Box::pin(async move {
            super::delete::deleting(req, |_| {
                Ok(json(StatusCode::OK, &d2.delete_namespace(&name)?))
            })
            .await
        }),
        _ => return Routed::NotMine(Box::new(req)),
    })
}

/// The routes of ConfigMaps, Secrets, ServiceAccounts and Namespaces; the request back when
/// none matches.
pub(super) fn route_objects(
    d: &Arc<Daemon>,
    method: &Method,
    segs: &[&str],
    table: Option<IncludeObject>,
    req: Request<Incoming>,
) -> Routed {
    let req = match route::<ConfigMap>(d, method, segs, table, req) {
        Routed::NotMine(req) => *req,
        answered => return answered,
    };
    let req = match route::<Secret>(d, method, segs, table, req) {
        Routed::NotMine(req) => *req,
        answered => return answered,
    };
    match route::<ServiceAccount>(d, method, segs, table, req) {
        Routed::NotMine(req) => route_namespaces(d, method, segs, table, *req),
        answered => answered,
    }
}
