//! The Service verbs (issue 15): list and get (as a server-side Table when asked), create,
//! update (`PUT`), delete.

use super::*;

fn service_list(services: Vec<beluga_api::Service>, rv: &str) -> serde_json::Value {
    serde_json::json!({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": services})
}

pub(super) fn list_services(
    d: &Arc<Daemon>,
    ns: Option<&str>,
    table: Option<beluga_api::table::IncludeObject>,
) -> Response<ResBody> {
    let services = d.services().list(ns);
    let rv = d.current_rv();
    match table {
        Some(include) => {
            let t = beluga_api::table::services(&services, d.exec().clock.now(), include, &rv);
            json(StatusCode::OK, &t)
        }
        None => json(StatusCode::OK, &service_list(services, &rv)),
    }
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
    beluga_api::manifest::service_from_json(&body)
        .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))
}

pub(super) async fn create_service(
    d: &Arc<Daemon>,
    ns: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let svc = service_body(req).await?;
    Ok(json(StatusCode::CREATED, &d.create_service(svc, ns)?))
}

pub(super) async fn update_service(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let svc = service_body(req).await?;
    if svc.metadata.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(json(StatusCode::OK, &d.update_service(svc, ns, name)?))
}

pub(super) fn delete_service(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
) -> Result<Response<ResBody>, ApiError> {
    Ok(json(StatusCode::OK, &d.services().delete(ns, name)?))
}
