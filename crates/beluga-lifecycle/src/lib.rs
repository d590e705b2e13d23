//! kubelet's pod lifecycle as pure functions: what the runtime shows ([`observed`]), what to do
//! next ([`planner`]), when a restart may happen ([`backoff`]) and what the API shows ([`status`]).
//! No I/O: every rule is a table test.

pub mod backoff;
pub mod grace;
pub mod observed;
pub mod planner;
pub mod probe;
pub mod qos;
pub mod scheduling;
pub mod status;
pub mod termination;

pub use k8s_openapi_jiff::Timestamp;

/// Re-exported so callers need not depend on jiff themselves.
pub mod k8s_openapi_jiff {
    pub use beluga_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
}
