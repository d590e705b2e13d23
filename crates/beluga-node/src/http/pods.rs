//! The pod verbs: create (`POST`), get and watch one, update (`PUT`, only the image may
//! change), delete (with kubectl's `gracePeriodSeconds` in the query or the body).

use super::*;

pub(super) async fn create_pod(
    d: &Arc<Daemon>,
    ns: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    create_pod_from(d, ns, &body_bytes(req).await?)
}

/// `POST …/pods` with its body (and a server-side apply that creates).
pub(super) fn create_pod_from(
    d: &Arc<Daemon>,
    ns: &str,
    body: &[u8],
) -> Result<Response<ResBody>, ApiError> {
    let mut pod = super::validation::decode::<beluga_api::Pod>(body, "Pod")?;
    d.admit_create(ns, "pods", beluga_api::podutil::name(&pod))?;
    d.admit_service_account(&mut pod, ns)?;
    let created = d.create(pod, ns)?;
    Ok(json(StatusCode::CREATED, &created))
}

pub(super) fn get_pod(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    q: &HashMap<String, Vec<String>>,
    table: Option<beluga_api::table::IncludeObject>,
) -> Result<Response<ResBody>, ApiError> {
    if q_bool(q, "watch") {
        // The legacy watch of one object (`GET …/pods/web?watch=1`): a 404 when there is none.
        d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
        let filter = Filter {
            ns: Some(ns.to_string()),
            name: Some(name.to_string()),
            sel: Default::default(),
        };
        return watch(super::watch::pods(d), filter, q, table);
    }
    let h = d.get(ns, name).ok_or_else(|| ApiError::not_found(name))?;
    let pod = d.view(&h);
    match table {
        // A GET of one object with the Table Accept is a one-row Table (kubectl-api §3.3).
        Some(include) => {
            let rv = pod.metadata.resource_version.clone().unwrap_or_default();
            let t = beluga_api::table::pods(&[pod], d.exec().clock.now(), include, &rv);
            Ok(json(StatusCode::OK, &t))
        }
        None => Ok(json(StatusCode::OK, &pod)),
    }
}

/// `PUT …/pods/{name}` with its body (and a PATCH with the patched object).
pub(super) fn update_pod(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    body: &[u8],
) -> Result<Response<ResBody>, ApiError> {
    let pod = super::validation::decode::<beluga_api::Pod>(body, "Pod")?;
    if pod.metadata.name.as_deref().is_some_and(|n| n != name) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        ));
    }
    Ok(json(StatusCode::OK, &d.update(pod, ns, name)?))
}

pub(super) async fn delete_pod(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    super::delete::deleting(req, |grace| {
        Ok(json(StatusCode::OK, &d.delete(ns, name, grace)?))
    })
    .await
}
