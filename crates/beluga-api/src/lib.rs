//! Pod types, strict parsing, defaulting, validation and kubectl printing. Pure: no I/O.

pub mod builder;
pub mod config;
pub mod defaults;
pub mod describe;
pub mod downward;
pub mod duration;
pub mod event;
pub mod expand;
pub mod field;
pub mod kubeconfig;
pub mod manifest;
pub mod namespace;
pub mod patch;
pub mod podutil;
pub mod printer;
pub mod protobuf;
pub mod quantity;
pub mod selector;
pub mod service;
pub mod serviceaccount;
pub mod table;
pub mod validation;
pub mod wire;

pub use k8s_openapi;
pub use k8s_openapi::api::core::v1::{
    ConfigMap, Container, ContainerStatus, Namespace, Pod, PodSpec, PodStatus, Secret, Service,
    ServiceAccount, ServicePort, ServiceSpec,
};
pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
