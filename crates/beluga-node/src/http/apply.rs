//! Server-side apply (`PATCH` with `application/apply-patch+yaml`, kubectl-api §3.9) of any
//! kind: the configuration merged by `beluga_api::patch::apply` with the manager's recorded
//! fields; a missing object is created (201), an existing one replaced as a `PUT` would.

use super::*;

/// What an apply makes of the live object (`None`: there is none), as the JSON a `POST`
/// (when `live` is `None`) or a `PUT` of it would carry.
pub(super) fn applied(
    d: &Daemon,
    kind: &str,
    name: &str,
    live: Option<&impl serde::Serialize>,
    q: &HashMap<String, Vec<String>>,
    body: &[u8],
) -> Result<Bytes, ApiError> {
    let manager = q1(q, "fieldManager")
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                400,
                "BadRequest",
                "fieldManager: Required value: is required for apply requests",
            )
        })?;
    let cfg = beluga_api::patch::apply::config_of(body)
        .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?;
    if cfg["metadata"]["name"].as_str().is_some_and(|n| n != name) {
        return Err(ApiError::new(
            400,
            "BadRequest",
            "the name of the object does not match the name on the URL",
        ));
    }
    let live = live
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    let time = serde_json::to_value(
        beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(d.exec().clock.now()),
    )
    .ok()
    .and_then(|t| t.as_str().map(String::from))
    .unwrap_or_default();
    let out = beluga_api::patch::apply::apply(kind, live.as_ref(), &cfg, manager, &time)
        .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))?;
    Ok(Bytes::from(serde_json::to_vec(&out).unwrap_or_default()))
}

/// `PATCH …/pods/{name}` with an applied configuration.
pub(super) fn apply_pod(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    q: &HashMap<String, Vec<String>>,
    body: &[u8],
) -> Result<Response<ResBody>, ApiError> {
    let live = d.get(ns, name).map(|h| d.view(&h));
    let out = applied(d, "Pod", name, live.as_ref(), q, body)?;
    match live {
        None => super::pods::create_pod_from(d, ns, &out),
        Some(_) => super::patch::as_patch_error("Pod", name, body, update_pod(d, ns, name, &out)),
    }
}
