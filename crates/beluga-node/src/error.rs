//! API failures: the daemon's errors as the apiserver's `v1.Status`.

use beluga_api::field::FieldError;
use beluga_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause};

/// An API failure, rendered as a `v1.Status`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub name: Option<String>,
    pub causes: Vec<FieldError>,
    /// What `details.kind` names: the resource (`pods`, `services`), or the Kind of an
    /// `Invalid` failure.
    pub resource: &'static str,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            name: None,
            causes: vec![],
            resource: "pods",
        }
    }
    pub fn not_found(name: &str) -> Self {
        Self::not_found_in("pods", name)
    }
    /// `<resource> "<name>" not found`.
    pub fn not_found_in(resource: &'static str, name: &str) -> Self {
        ApiError {
            name: Some(name.into()),
            resource,
            ..Self::new(404, "NotFound", format!("{resource} {name:?} not found"))
        }
    }
    /// A refusal of an admission's (`<resource> "<name>" is forbidden: …`, in `message`).
    pub fn forbidden(resource: &'static str, name: &str, message: String) -> Self {
        ApiError {
            name: Some(name.into()),
            resource,
            ..Self::new(403, "Forbidden", message)
        }
    }
    /// A write whose `resourceVersion` is not the stored one (optimistic concurrency).
    pub fn conflict(resource: &'static str, name: &str) -> Self {
        ApiError {
            name: Some(name.into()),
            resource,
            ..Self::new(
                409,
                "Conflict",
                format!("Operation cannot be fulfilled on {resource} {name:?}: the object has been modified; please apply your changes to the latest version and try again"),
            )
        }
    }

    /// 409 unless `sent` (a write's `resourceVersion`) is unset or `stored`.
    pub fn check_version(
        resource: &'static str,
        name: &str,
        sent: Option<&str>,
        stored: Option<&str>,
    ) -> Result<(), Self> {
        match sent.filter(|v| !v.is_empty()) {
            Some(v) if Some(v) != stored => Err(Self::conflict(resource, name)),
            _ => Ok(()),
        }
    }

    /// `<resource> "<name>" already exists`.
    pub fn already_exists(resource: &'static str, name: &str) -> Self {
        ApiError {
            name: Some(name.into()),
            resource,
            ..Self::new(
                409,
                "AlreadyExists",
                format!("{resource} {name:?} already exists"),
            )
        }
    }
    pub fn invalid(name: &str, causes: Vec<FieldError>) -> Self {
        Self::invalid_kind("Pod", name, causes)
    }
    /// `<Kind> "<name>" is invalid: …` with the field causes; `details.kind` is the Kind, as
    /// `errors.NewInvalid` sets it (kubectl's "The <Kind> … is invalid" reads it).
    pub fn invalid_kind(kind: &'static str, name: &str, causes: Vec<FieldError>) -> Self {
        ApiError {
            name: Some(name.into()),
            causes: causes.clone(),
            resource: kind,
            ..Self::new(
                422,
                "Invalid",
                beluga_api::field::status_message(kind, name, &causes),
            )
        }
    }
    /// The `v1.Status` the apiserver would answer (`beluga_api::wire::failure`).
    pub fn status(&self) -> Status {
        let causes = self
            .causes
            .iter()
            .map(|c| StatusCause {
                reason: Some(c.kind.cause_reason().into()),
                message: Some(c.body()),
                field: Some(c.path.clone()),
            })
            .collect();
        beluga_api::wire::failure(
            self.code,
            self.reason,
            &self.message,
            self.name.as_deref(),
            self.resource,
            causes,
        )
    }
}
