//! PATCH bodies applied to an object's JSON (kubectl-api §3.8): JSON patch (RFC 6902), JSON
//! merge patch (RFC 7386), both from the `json-patch` crate, and strategic merge patch
//! (`strategic`, our own engine). What the result must then pass (strict decoding, update
//! validation) is the caller's, as for a PUT.

pub mod apply;
pub mod strategic;

use serde_json::Value;

/// A PATCH's `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
}

/// The apiserver's list in its 415 answer.
pub const SUPPORTED: &str = "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json";

impl PatchType {
    /// From the request's `Content-Type` (parameters such as `charset` ignored).
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a patch of its type (the apiserver's 400).
    #[error("{0}")]
    Bad(String),
    /// A JSON patch operation failed (a `test`, a path that is not there: the apiserver's 422).
    #[error("{0}")]
    Failed(String),
}

impl PatchError {
    pub(crate) fn bad(m: impl Into<String>) -> PatchError {
        PatchError::Bad(m.into())
    }
}

/// `live` (an object's JSON) with `body` applied as a patch of type `ty` for an object of
/// `kind`. Server-side apply is not a patch of this kind (`PatchType::Apply` is refused).
pub fn apply(kind: &str, ty: PatchType, live: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|e| PatchError::bad(format!("error decoding patch: {e}")))?;
    match ty {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(parsed)
                .map_err(|e| PatchError::bad(format!("error decoding patch: {e}")))?;
            let mut out = live.clone();
            json_patch::patch(&mut out, &ops).map_err(|e| PatchError::Failed(e.to_string()))?;
            Ok(out)
        }
        PatchType::Merge => {
            if !parsed.is_object() {
                return Err(PatchError::bad("a merge patch must be a JSON object"));
            }
            let mut out = live.clone();
            json_patch::merge(&mut out, &parsed);
            Ok(out)
        }
        PatchType::Strategic => strategic::apply(kind, live, &parsed),
        PatchType::Apply => Err(PatchError::bad("server-side apply is not a patch")),
    }
}

#[cfg(test)]
mod tests;
