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
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            name: None,
            causes: vec![],
        }
    }
    pub fn not_found(name: &str) -> Self {
        ApiError {
            name: Some(name.into()),
            ..Self::new(404, "NotFound", format!("pods {name:?} not found"))
        }
    }
    pub fn invalid(name: &str, causes: Vec<FieldError>) -> Self {
        ApiError {
            name: Some(name.into()),
            causes: causes.clone(),
            ..Self::new(
                422,
                "Invalid",
                beluga_api::field::status_message("Pod", name, &causes),
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
            "pods",
            causes,
        )
    }
}
