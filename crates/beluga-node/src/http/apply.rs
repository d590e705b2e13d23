//! Server-side apply (`PATCH` with `application/apply-patch+yaml`, kubectl-api §3.9) of any
//! kind: the configuration merged by `beluga_api::patch::apply` with the manager's recorded
//! fields; `patch::patch` creates a missing object (201) or replaces an existing one with it.

use super::*;

/// What an apply makes of the live object (`None`: there is none), as the JSON a `POST`
/// (when `live` is `None`) or a `PUT` of it would carry.
pub(super) fn applied(
    d: &Daemon,
    kind: &str,
    name: &str,
    live: Option<&serde_json::Value>,
    q: &HashMap<String, Vec<String>>,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
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
    let time = serde_json::to_value(
        beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(d.exec().clock.now()),
    )
    .ok()
    .and_then(|t| t.as_str().map(String::from))
    .unwrap_or_default();
    beluga_api::patch::apply::apply(kind, live, &cfg, manager, &time)
        .map_err(|e| ApiError::new(400, "BadRequest", e.to_string()))
}
