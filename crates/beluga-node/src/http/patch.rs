//! PATCH of any kind (kubectl-api §3.8): the body applied to the live object's JSON by its
//! `Content-Type` (`beluga_api::patch`), then the result goes the way of a PUT (strict
//! decoding, the kind's update validation). 415 for a type the apiserver does not know.

use super::*;
use beluga_api::field::FieldError;
use beluga_api::patch::{PatchError, PatchType};

/// The request's patch type; 415 in the apiserver's words for anything else.
pub(super) fn patch_type(req: &Request<Incoming>) -> Result<PatchType, ApiError> {
    let ct = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    PatchType::from_content_type(ct).ok_or_else(unsupported)
}

fn unsupported() -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            beluga_api::patch::SUPPORTED
        ),
    )
}

/// `live` patched by the request's body: the JSON a PUT of the result would carry.
pub(super) fn patched(
    kind: &str,
    ty: PatchType,
    live: &serde_json::Value,
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    beluga_api::patch::apply(kind, ty, live, body).map_err(|e| match e {
        PatchError::Bad(m) => ApiError::new(400, "BadRequest", m),
        PatchError::Failed(m) => ApiError::new(422, "Invalid", m),
    })
}

/// The patched object (`out`) without the live `resourceVersion` it carried over: a patch is applied to
/// the latest object (the apiserver retries on conflicts), so only a version the patch itself
/// set is a precondition.
fn unpin(out: &mut serde_json::Value, live: Option<&serde_json::Value>) {
    let version = |v: &serde_json::Value| v.pointer("/metadata/resourceVersion").cloned();
    let Some(live) = live else {
        return;
    };
    if version(out) != version(live) {
        return;
    }
    if let Some(m) = out.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.remove("resourceVersion");
    }
}

/// A PUT's answer for a patched object, with a decoding failure told as the apiserver tells
/// it for a patch: 422, `patch: Invalid value: "<patch>": strict decoding error: …`.
pub(super) fn as_patch_error(
    kind: &'static str,
    name: &str,
    body: &[u8],
    r: Result<Response<ResBody>, ApiError>,
) -> Result<Response<ResBody>, ApiError> {
    r.map_err(|e| {
        if e.code != 400 {
            return e;
        }
        let detail = match e.message.find("strict decoding error") {
            Some(i) => e.message[i..].to_string(),
            None => e.message.clone(),
        };
        let patch = String::from_utf8_lossy(body).into_owned();
        ApiError::invalid_kind(
            kind,
            name,
            vec![FieldError::invalid("patch", &patch, detail)],
        )
    })
}

/// A create or replace from the JSON a `POST` or `PUT` would carry.
pub(super) type Write<'a> = dyn Fn(&[u8]) -> Result<Response<ResBody>, ApiError> + Sync + 'a;

/// How one kind's PATCH reaches its store: the live object (read once the body is in), a
/// create (server-side apply of a missing object) and a replace, each with the JSON a `POST` or
/// `PUT` would carry.
pub(super) struct Kind<'a, T> {
    pub kind: &'static str,
    pub name: &'a str,
    pub live: &'a (dyn Fn() -> Option<T> + Sync),
    pub not_found: &'a (dyn Fn() -> ApiError + Sync),
    pub create: &'a Write<'a>,
    pub update: &'a Write<'a>,
}

/// `PATCH` of any kind: the request's patch (or applied configuration) on the live object, the
/// result created or replaced through the kind's own paths.
pub(super) async fn patch<T: serde::Serialize>(
    k: Kind<'_, T>,
    d: &Daemon,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let ty = patch_type(&req)?;
    let q = query(req.uri());
    let body = body_bytes(req).await?;
    // The live object as JSON once: patched, applied and compared as that.
    let live = (k.live)()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    let mut out = match (ty, &live) {
        (PatchType::Apply, _) => {
            super::apply::applied(d, k.kind, k.name, live.as_ref(), &q, &body)?
        }
        (_, Some(live)) => patched(k.kind, ty, live, &body)?,
        (_, None) => return Err((k.not_found)()),
    };
    unpin(&mut out, live.as_ref());
    let out = serde_json::to_vec(&out).unwrap_or_default();
    match live {
        None => (k.create)(&out),
        Some(_) => as_patch_error(k.kind, k.name, &body, (k.update)(&out)),
    }
}

/// `PATCH …/pods/{name}`.
pub(super) async fn patch_pod(
    d: &Arc<Daemon>,
    ns: &str,
    name: &str,
    req: Request<Incoming>,
) -> Result<Response<ResBody>, ApiError> {
    let kind = Kind {
        kind: "Pod",
        name,
        live: &|| d.get(ns, name).map(|h| d.view(&h)),
        not_found: &|| ApiError::not_found(name),
        create: &|out| super::pods::create_pod_from(d, ns, out),
        update: &|out| update_pod(d, ns, name, out),
    };
    patch(kind, d, req).await
}
